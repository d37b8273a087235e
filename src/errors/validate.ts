/**
 * Name validation for the objects the core names: networks, endpoints and sandboxes (container
 * IDs), plus the ID helpers. One rule for all three, Docker's container-name rule
 * (`[a-zA-Z0-9][a-zA-Z0-9_.-]`, daemon/names in moby): it keeps every name usable as a file name,
 * a store key, a DNS label part and a shell word without quoting.
 *
 * Docker itself refuses only blank network names (libnetwork's IsValidName) and sets no length
 * limit; the stricter rule here never refuses a name compose or the docker CLI generates
 * (`project_default`, `project-service-1`, 64-hex IDs). The limits are generous bounds, not
 * Docker's: 255 characters (a file name's limit) for network and endpoint names, 128 for container
 * IDs.
 *
 * Each refusal says which rule was broken, e.g.
 * `invalid network name "a b": it contains a space at character 2 (names start with ...)`.
 */
import { randomBytes } from 'node:crypto';
import { InvalidNetworkNameError } from './cnm.ts';
import { InvalidContainerIDError, InvalidEndpointNameError } from './endpoint.ts';

/** The longest network name accepted. */
export const MAX_NETWORK_NAME_LENGTH = 255;
/** The longest endpoint name accepted. */
export const MAX_ENDPOINT_NAME_LENGTH = 255;
/** The longest container ID (sandbox name) accepted. */
export const MAX_CONTAINER_ID_LENGTH = 128;

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const FULL_ID_RE = /^[0-9a-f]{64}$/;
const ALNUM_RE = /^[a-zA-Z0-9]$/;
const ALLOWED_RE = /^[a-zA-Z0-9_.-]$/;
/** Characters a POSIX shell gives a meaning to (outside of quotes). */
const SHELL_META = new Set([...'`$&|;<>()*?[]{}!~\'"#%^=+,:@']);

function hex4(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `name` breaks the rule, or undefined when it does not. The reason reads after the name:
 * `invalid network name "x": <reason>`.
 */
export function nameRuleViolation(name: unknown, maxLength: number): string | undefined {
  if (typeof name !== 'string') return `it is not a string (got ${name === null ? 'null' : typeof name})`;
  if (name.length === 0) return 'it is empty';
  if (name.length > maxLength) return `it is ${name.length} characters long; the limit is ${maxLength}`;
  if (NAME_RE.test(name)) return undefined;
  const chars = [...name];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    const at = `at character ${i + 1}`;
    const code = c.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) return `it contains a control character (${hex4(code)}) ${at}`;
    if (c === ' ') return `it contains a space ${at}`;
    if (/^\s$/u.test(c)) return `it contains whitespace (${hex4(code)}) ${at}`;
    if (code > 0x7e) return `it contains the non-ASCII character ${JSON.stringify(c)} (${hex4(code)}) ${at}`;
    if (c === '/' || c === '\\') return `it contains "${c}" ${at}: path separators are not allowed`;
    if (i === 0 && !ALNUM_RE.test(c)) {
      return `it starts with ${JSON.stringify(c)}: the first character must be a letter or digit`;
    }
    if (SHELL_META.has(c))
      return `it contains ${JSON.stringify(c)} ${at}: shell metacharacters are not allowed`;
    if (!ALLOWED_RE.test(c)) return `it contains ${JSON.stringify(c)} ${at}, which is not allowed`;
  }
  // Unreachable while NAME_RE and the checks above agree; kept so a future rule change fails loudly.
  return 'it does not match [a-zA-Z0-9][a-zA-Z0-9_.-]*';
}

function shown(name: unknown): string {
  return typeof name === 'string' ? name : String(name);
}

/** Throws InvalidNetworkNameError unless `name` is a usable network name. */
export function validateNetworkName(name: unknown): asserts name is string {
  const reason = nameRuleViolation(name, MAX_NETWORK_NAME_LENGTH);
  if (reason !== undefined) throw new InvalidNetworkNameError(shown(name), reason);
}

/** Throws InvalidEndpointNameError unless `name` is a usable endpoint name. */
export function validateEndpointName(name: unknown): asserts name is string {
  const reason = nameRuleViolation(name, MAX_ENDPOINT_NAME_LENGTH);
  if (reason !== undefined) throw new InvalidEndpointNameError(shown(name), reason);
}

/** Throws InvalidContainerIDError unless `id` is a usable container ID (it names a sandbox). */
export function validateContainerId(id: unknown): asserts id is string {
  const reason = nameRuleViolation(id, MAX_CONTAINER_ID_LENGTH);
  if (reason !== undefined) throw new InvalidContainerIDError(shown(id), reason);
}

/** True for a full object ID: exactly 64 lowercase hexadecimal characters. */
export function isFullId(s: unknown): s is string {
  return typeof s === 'string' && FULL_ID_RE.test(s);
}

/**
 * A new random object ID: 64 lowercase hex characters from 32 random bytes. As Docker's
 * stringid.GenerateRandomID, an ID whose 12-character short form is all digits is drawn again, so
 * a short ID is never mistaken for a number (by YAML, JSON tooling or a shell script).
 */
export function newId(): string {
  for (;;) {
    const id = randomBytes(32).toString('hex');
    if (!/^[0-9]{12}/.test(id)) return id;
  }
}

/** The 12-character short form of an ID, as Docker prints it (`docker network ls`). */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
