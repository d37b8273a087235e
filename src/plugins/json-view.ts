/**
 * A typed view of a JSON object from the wire, as Docker's plugin protocol carries it: every field
 * type-checked, addresses, CIDRs and MACs parsed, before anything of it is used. A field that
 * breaks a rule is an error naming its path (`InterfaceName.SrcName`). As Go's JSON decoding does
 * for dockerd, an absent field, `null` and `""` all mean "not set".
 *
 * One base for both directions: the replies of remote plugins dnet calls (plugins/reply.ts) and
 * the requests dockerd sends to dnet's own plugin server (daemon/plugin/wire.ts); each subclass
 * says which error a bad field is.
 */
import { type IpFamily, parseCidr, parseIp } from '../ip/index.ts';
import { parseMac } from '../ip/mac.ts';

export const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 120)}...` : s;
};

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export abstract class JsonView<V extends JsonView<V>> {
  constructor(
    readonly body: Record<string, unknown>,
    readonly path = '',
  ) {}

  /** The error for a value that breaks a rule, with `reason` (which names the field). */
  abstract fail(reason: string): Error;

  /** A view of a nested object at `path`. */
  protected abstract nested(body: Record<string, unknown>, path: string): V;

  protected name(key: string): string {
    return `${this.path}${key}`;
  }

  bad(key: string, why: string): Error {
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

  /** A nested object, or undefined when absent or null. */
  object(key: string): V | undefined {
    const v = this.body[key];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) throw this.bad(key, 'is not an object');
    return this.nested(v, `${this.name(key)}.`);
  }

  /** An array; absent or null is []. */
  array(key: string): unknown[] {
    const v = this.body[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.bad(key, 'is not an array');
    return v;
  }

  /** An element of an array field, as an object. */
  element(key: string, index: number, v: unknown): V {
    if (!isObj(v)) throw this.fail(`"${this.name(key)}[${index}]" is not an object (got ${show(v)})`);
    return this.nested(v, `${this.name(key)}[${index}].`);
  }

  /** An optional plain IP of the family, normalised. */
  optIp(key: string, family?: IpFamily): string | undefined {
    const s = this.optString(key);
    if (s === undefined) return undefined;
    const ip = parseIp(s, family === undefined ? {} : { family });
    if (typeof ip === 'string') throw this.bad(key, `is not an IPv${family ?? '4/IPv6'} address`);
    return ip.text;
  }

  /** An optional CIDR (`address/prefix`) of the family, normalised; host bits may be set. */
  optCidr(key: string, family?: IpFamily): string | undefined {
    const s = this.optString(key);
    if (s === undefined) return undefined;
    const c = parseCidr(s, family === undefined ? {} : { family });
    if (typeof c === 'string')
      throw this.bad(key, `is not an IPv${family ?? '4/IPv6'} CIDR (address/prefix)`);
    return c.text;
  }

  /** An optional unicast MAC, normalised. */
  optMac(key: string): string | undefined {
    const s = this.optString(key);
    if (s === undefined) return undefined;
    const m = parseMac(s);
    if (m === undefined) throw this.bad(key, 'is not a unicast MAC address (aa:bb:cc:dd:ee:ff)');
    return m;
  }
}
