/**
 * Input checks shared by the hosts and resolv.conf builders: IP addresses (parsed by src/ip,
 * printed in canonical form) and host/domain names. Every value that reaches a generated file
 * passes through here, so no caller-supplied text can add a line, a field or a comment to it.
 *
 * Refusals are InvalidOptionError, naming the option (`extra-hosts`, `dns`, `dns-search`...).
 */
import { InvalidOptionError } from '../errors/cnm.ts';
import { type Ip, parseIp } from '../ip/index.ts';

/** An address as the files' builders take it (src/ip's, with its canonical text and loopback flag). */
export type ParsedIp = Ip;
export { parseIp };

/** parseIp, throwing InvalidOptionError(option) on refusal. */
export function requireIp(option: string, s: unknown, opts: { allowZone?: boolean } = {}): ParsedIp {
  const r = parseIp(s, opts);
  if (typeof r === 'string') throw new InvalidOptionError(option, s, `${r}; give an IPv4 or IPv6 address`);
  return r;
}

/** Longest DNS name (RFC 1035: 255 octets on the wire, 253 characters as text). */
export const MAX_DNS_NAME_LENGTH = 253;
/** Longest hostname the kernel keeps (HOST_NAME_MAX, `sethostname(2)`); the same for domainname. */
export const MAX_UTS_NAME_LENGTH = 64;

const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const LABEL_UNDERSCORE_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * Why `name` is not a host name, or undefined when it is one: dot-separated RFC 1123 labels
 * (letters, digits, `-` inside, 1-63 characters each), at most `maxLength` characters, no empty
 * label. `allowUnderscore` also accepts `_` in labels, as /etc/hosts readers do and as container
 * names (`project_web_1`) need.
 */
export function hostnameViolation(
  name: unknown,
  opts: { allowUnderscore?: boolean; allowTrailingDot?: boolean; maxLength?: number } = {},
): string | undefined {
  const max = opts.maxLength ?? MAX_DNS_NAME_LENGTH;
  if (typeof name !== 'string') return 'it is not a string';
  if (name.length === 0) return 'it is empty';
  if (name.length > max) return `it is ${name.length} characters long; the limit is ${max}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for exactly those
  const ctl = /[\u0000-\u001f\u007f]/.exec(name);
  if (ctl) return `it contains a control character (U+${ctl[0].charCodeAt(0).toString(16).padStart(4, '0')})`;
  if (/\s/.test(name)) return 'it contains whitespace';
  const body = opts.allowTrailingDot && name.endsWith('.') && name.length > 1 ? name.slice(0, -1) : name;
  const re = opts.allowUnderscore ? LABEL_UNDERSCORE_RE : LABEL_RE;
  for (const label of body.split('.')) {
    if (label.length === 0) return 'it has an empty label (two dots in a row, or a leading or trailing dot)';
    if (label.length > 63)
      return `its label ${JSON.stringify(label.slice(0, 16))}... is longer than 63 characters`;
    if (!re.test(label)) {
      const extra = opts.allowUnderscore ? ', "_"' : '';
      return (
        `its label ${JSON.stringify(label)} is not valid: labels are letters, digits${extra} and "-", ` +
        `and do not start or end with "-"`
      );
    }
  }
  return undefined;
}

/** hostnameViolation, throwing InvalidOptionError(option) on refusal. */
export function requireHostname(
  option: string,
  name: unknown,
  opts: { allowUnderscore?: boolean; allowTrailingDot?: boolean; maxLength?: number } = {},
): string {
  const reason = hostnameViolation(name, opts);
  if (reason !== undefined) throw new InvalidOptionError(option, name, reason);
  return name as string;
}
