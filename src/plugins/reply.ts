/**
 * Reading a plugin's reply safely: every field is type-checked, addresses and CIDRs parsed,
 * interface names and MACs checked, before anything of it is used. A field that breaks a rule is a
 * PluginReplyError naming the plugin, the method and the field (`InterfaceName.SrcName`).
 *
 * As Go's JSON decoding does for dockerd, an absent field, `null` and `""` all mean "not set".
 */
import { type IpFamily, parseCidr as parseCidrText, parseIp as parseIpText } from '../ip/index.ts';
import { parseMac } from '../ip/mac.ts';
import { PluginReplyError } from './errors.ts';

export type Family = IpFamily;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 120)}...` : s;
};

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
export class Reply {
  constructor(
    readonly plugin: string,
    readonly method: string,
    readonly body: Record<string, unknown>,
    readonly path = '',
  ) {}

  private name(key: string): string {
    return `${this.path}${key}`;
  }

  fail(reason: string): PluginReplyError {
    return new PluginReplyError(this.plugin, this.method, reason);
  }

  bad(key: string, why: string): PluginReplyError {
    return this.fail(`"${this.name(key)}" ${why} (got ${show(this.body[key])})`);
  }

  has(key: string): boolean {
    const v = this.body[key];
    return v !== undefined && v !== null;
  }

  /** A string, or undefined when absent, null or empty. */
  optString(key: string): string | undefined {
    const v = this.body[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw this.bad(key, 'is not a string');
    return v;
  }

  /** A non-empty string. */
  string(key: string): string {
    const v = this.optString(key);
    if (v === undefined) throw this.bad(key, 'is missing');
    return v;
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

  /** A nested object, or undefined when absent or null. */
  object(key: string): Reply | undefined {
    const v = this.body[key];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) throw this.bad(key, 'is not an object');
    return new Reply(this.plugin, this.method, v, `${this.name(key)}.`);
  }

  /** An array; absent or null is []. */
  array(key: string): unknown[] {
    const v = this.body[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.bad(key, 'is not an array');
    return v;
  }

  /** An element of an array field, as an object. */
  element(key: string, index: number, v: unknown): Reply {
    if (!isObj(v)) throw this.fail(`"${this.name(key)}[${index}]" is not an object (got ${show(v)})`);
    return new Reply(this.plugin, this.method, v, `${this.name(key)}[${index}].`);
  }

  /** An optional plain IP of the family. */
  optIp(key: string, family?: Family): string | undefined {
    const s = this.optString(key);
    if (s === undefined) return undefined;
    const ip = parseIp(s, family);
    if (ip === undefined) throw this.bad(key, `is not an IPv${family ?? '4/IPv6'} address`);
    return ip;
  }

  /** An optional CIDR (`address/prefix`) of the family. */
  optCidr(key: string, family?: Family): string | undefined {
    const s = this.optString(key);
    if (s === undefined) return undefined;
    const c = parseCidr(s, family);
    if (c === undefined) throw this.bad(key, `is not an IPv${family ?? '4/IPv6'} CIDR (address/prefix)`);
    return c;
  }

  optMac(key: string): string | undefined {
    const s = this.optString(key);
    if (s === undefined) return undefined;
    const m = parseMac(s);
    if (m === undefined) throw this.bad(key, 'is not a unicast MAC address (aa:bb:cc:dd:ee:ff)');
    return m;
  }
}
