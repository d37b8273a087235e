/**
 * Reading a plugin's reply safely: every field is type-checked, addresses and CIDRs parsed,
 * interface names and MACs checked, before anything of it is used. A field that breaks a rule is a
 * PluginReplyError naming the plugin, the method and the field (`InterfaceName.SrcName`).
 *
 * As Go's JSON decoding does for dockerd, an absent field, `null` and `""` all mean "not set".
 */
import { type IpFamily, parseCidr as parseCidrText, parseIp as parseIpText } from '../ip/index.ts';
import { PluginReplyError } from './errors.ts';
import { isObj, JsonView, show } from './json-view.ts';

export type Family = IpFamily;

/** A plain IP address of the family (no prefix, no zone; strict, src/ip), normalised. */
export function parseIp(s: string, family?: Family): string | undefined {
  const ip = parseIpText(s, family === undefined ? {} : { family });
  return typeof ip === 'string' ? undefined : ip.text;
}

/** `address/prefix` of the family, normalised (`10.0.0.5/24`); the host bits may be set. */
export function parseCidr(s: string, family?: Family): string | undefined {
  const c = parseCidrText(s, family === undefined ? {} : { family });
  return typeof c === 'string' ? undefined : c.text;
}

/** The kernel's rule for interface names (dev_valid_name): 1-15 bytes, no `/`, `:`, space; not `.`/`..`. */
export function isValidIfName(s: string): boolean {
  return (
    s.length > 0 &&
    Buffer.byteLength(s) <= 15 &&
    s !== '.' &&
    s !== '..' &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    !/[/:\s\u0000-\u001f\u007f]/.test(s)
  );
}

/** A typed view of one reply object (or a nested object of it, with its path). */
export class Reply extends JsonView<Reply> {
  constructor(
    readonly plugin: string,
    readonly method: string,
    body: Record<string, unknown>,
    path = '',
  ) {
    super(body, path);
  }

  fail(reason: string): PluginReplyError {
    return new PluginReplyError(this.plugin, this.method, reason);
  }

  protected nested(body: Record<string, unknown>, path: string): Reply {
    return new Reply(this.plugin, this.method, body, path);
  }

  /** A boolean; absent or null is false. */
  bool(key: string): boolean {
    const v = this.body[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw this.bad(key, 'is not a boolean');
    return v;
  }

  /** An object of strings; absent or null is {}. */
  stringMap(key: string): Record<string, string> {
    const v = this.body[key];
    if (v === undefined || v === null) return {};
    if (!isObj(v)) throw this.bad(key, 'is not an object');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string') throw this.fail(`"${this.name(key)}.${k}" is not a string (got ${show(x)})`);
      out[k] = x;
    }
    return out;
  }
}
