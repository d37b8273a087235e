/**
 * Input checks shared by the hosts and resolv.conf builders: IP addresses (parsed with ipaddr.js,
 * printed in canonical form) and host/domain names. Every value that reaches a generated file
 * passes through here, so no caller-supplied text can add a line, a field or a comment to it.
 *
 * Refusals are InvalidOptionError, naming the option (`extra-hosts`, `dns`, `dns-search`...).
 */
import ipaddr from 'ipaddr.js';
import { InvalidOptionError } from '../errors/cnm.ts';

export interface ParsedIp {
  family: 4 | 6;
  /** Canonical text: dotted quad, RFC 5952 for IPv6, `::ffff:a.b.c.d` for IPv4-mapped. */
  text: string;
  /** 127.0.0.0/8, ::1, or an IPv4-mapped loopback address. */
  loopback: boolean;
  /** The IPv6 zone (scope) as written after `%`, when allowed and given. */
  zone?: string;
}

/** Interface names (or numeric scope IDs) as IPv6 zones: IFNAMSIZ-1 characters, no separators. */
const ZONE_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4_MAPPED_RE = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * Parses an IP address strictly: four-part decimal IPv4 (no `127.1`, no `0x7f.0.0.1`, no leading
 * zeros), IPv6 with dotted IPv4 only in the `::ffff:a.b.c.d` form. Returns the reason as a string
 * when `s` is not one.
 */
export function parseIp(s: unknown, opts: { allowZone?: boolean } = {}): ParsedIp | string {
  if (typeof s !== 'string') return 'it is not a string';
  if (s.length === 0) return 'it is empty';
  if (s.length > 64) return 'it is too long to be an IP address';
  if (!s.includes(':')) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return 'it is not an IPv4 address in dotted-decimal form';
    const v4 = ipaddr.IPv4.parse(s);
    return { family: 4, text: v4.toString(), loopback: v4.octets[0] === 127 };
  }
  let addr = s;
  let zone: string | undefined;
  const pct = s.indexOf('%');
  if (pct >= 0) {
    if (!opts.allowZone) return 'an IPv6 zone ("%...") is not allowed here';
    zone = s.slice(pct + 1);
    addr = s.slice(0, pct);
    if (!ZONE_RE.test(zone)) return `the zone ${JSON.stringify(zone)} is not an interface name`;
  }
  if (addr.includes('.')) {
    const m = IPV4_MAPPED_RE.exec(addr);
    if (!m || !ipaddr.IPv4.isValidFourPartDecimal(m[1]!)) {
      return 'an IPv6 address may embed an IPv4 address only as ::ffff:a.b.c.d';
    }
  }
  if (!ipaddr.IPv6.isValid(addr)) return 'it is not an IPv4 or IPv6 address';
  const v6 = ipaddr.IPv6.parse(addr);
  let text: string;
  let loopback: boolean;
  if (v6.isIPv4MappedAddress()) {
    // Printed as Go's netip prints it, so files match Docker's byte for byte.
    const v4 = v6.toIPv4Address();
    text = `::ffff:${v4.toString()}`;
    loopback = v4.octets[0] === 127;
  } else {
    text = v6.toRFC5952String();
    loopback = v6.range() === 'loopback';
  }
  return { family: 6, text: zone === undefined ? text : `${text}%${zone}`, loopback, ...zoneOf(zone) };
}

function zoneOf(zone: string | undefined): { zone?: string } {
  return zone === undefined ? {} : { zone };
}

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
