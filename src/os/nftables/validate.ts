/**
 * Input checks for nftables plans. Everything a plan carries ends up in the kernel, so names,
 * numbers and values are checked where they enter a builder, and a bad one throws
 * NftablesPlanError naming what was wrong, before anything is sent.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { DnetError } from '../../errors/index.ts';
import { parseIp } from '../../ip/index.ts';
import type { NftDataType, NftExpr } from './types.ts';

/** A plan was given a bad name, number or value. Nothing was applied. */
export class NftablesPlanError extends DnetError {
  readonly code = 'ERR_NFT_PLAN';
  readonly kind = 'invalid';
  constructor(
    readonly what: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`invalid nftables ${what} ${safeJson(value)}: ${rule}`);
  }
}

function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 200 ? `${s.slice(0, 200)}...` : s;
  } catch {
    return String(v);
  }
}

/**
 * Table, chain and set names. libnftables' JSON input takes any string and the kernel up to 255
 * bytes, but nft's text grammar (what `nft list ruleset` prints, and people paste back) only
 * reads identifiers that start with a letter or `_`; we also cap the length at 64.
 */
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new NftablesPlanError(
      what,
      name,
      'use 1-64 characters [A-Za-z0-9_.-], starting with a letter or underscore',
    );
  }
  return name;
}

export function checkInt(what: string, n: unknown, min: number, max: number): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new NftablesPlanError(what, n, `expected an integer in [${min}, ${max}]`);
  }
  return n;
}

/** nft refuses comments over 128 characters; control characters make listings unreadable. */
export function checkComment(c: unknown): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (typeof c !== 'string' || c.length === 0 || c.length > 128 || /[\u0000-\u001f\u007f]/.test(c)) {
    throw new NftablesPlanError('comment', c, 'expected 1-128 printable characters');
  }
  return c;
}

export function checkIPv4(what: string, a: unknown): string {
  if (typeof a !== 'string' || !isIPv4(a)) throw new NftablesPlanError(what, a, 'expected an IPv4 address');
  return a;
}

export function checkIPv6(what: string, a: unknown): string {
  if (typeof a !== 'string' || !isIPv6(a)) throw new NftablesPlanError(what, a, 'expected an IPv6 address');
  return a;
}

export function checkPort(what: string, p: unknown): number {
  return checkInt(what, p, 0, 65535);
}

/**
 * Interface names as the kernel allows them (1-15 bytes, no '/', ':' or whitespace), minus the
 * characters libnftables gives a meaning in a JSON string: a leading '@' makes a set reference
 * and '*' a wildcard. Quotes and backslashes are refused too.
 */
const IFNAME_RE = /^[^\s/:@*"\\]{1,15}$/;

export function checkIfname(what: string, n: unknown): string {
  if (typeof n !== 'string' || !IFNAME_RE.test(n) || n === '.' || n === '..' || Buffer.byteLength(n) > 15) {
    throw new NftablesPlanError(what, n, "expected an interface name (1-15 bytes, no '/', ':', '@', '*')");
  }
  return n;
}

/** Layer 4 protocol names nft knows as `inet_proto` values (others: give the number). */
export const L4_PROTOS = [
  'tcp',
  'udp',
  'sctp',
  'udplite',
  'dccp',
  'icmp',
  'icmpv6',
  'gre',
  'esp',
  'ah',
] as const;
export type NftL4Proto = (typeof L4_PROTOS)[number];

export function checkProto(what: string, p: unknown): NftL4Proto | number {
  if (typeof p === 'number') return checkInt(what, p, 0, 255);
  if (typeof p === 'string' && (L4_PROTOS as readonly string[]).includes(p)) return p as NftL4Proto;
  throw new NftablesPlanError(what, p, `expected one of ${L4_PROTOS.join(', ')} or a number 0-255`);
}

const ETHER_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Orders two addresses of the same family (byte-wise, as the kernel compares them). */
function ipOrder(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  if (typeof x === 'string' || typeof y === 'string') return 0; // checked as addresses before
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}

/**
 * Checks one value of a set key / map value of data type `t`. `interval`: the set has the
 * interval flag, so ranges (and, for addresses, prefixes) are allowed.
 */
export function checkValue(what: string, t: NftDataType, v: NftExpr, interval: boolean): void {
  if (isObj(v) && 'range' in v) {
    if (!interval) throw new NftablesPlanError(what, v, "a range needs a set with flags ['interval']");
    const r = v.range as unknown;
    if (!Array.isArray(r) || r.length !== 2) throw new NftablesPlanError(what, v, 'a range has two ends');
    const [lo, hi] = r as [NftExpr, NftExpr];
    checkValue(what, t, lo, false);
    checkValue(what, t, hi, false);
    const order =
      typeof lo === 'number' && typeof hi === 'number'
        ? Math.sign(lo - hi)
        : (t === 'ipv4_addr' || t === 'ipv6_addr') && typeof lo === 'string' && typeof hi === 'string'
          ? ipOrder(lo, hi)
          : -1;
    if (order > 0) throw new NftablesPlanError(what, v, 'the low end of a range is above its high end');
    return;
  }
  if (isObj(v) && 'prefix' in v) {
    if (t !== 'ipv4_addr' && t !== 'ipv6_addr') throw new NftablesPlanError(what, v, `no prefix for ${t}`);
    if (!interval) throw new NftablesPlanError(what, v, "a prefix needs a set with flags ['interval']");
    const p = v.prefix as { addr?: unknown; len?: unknown };
    checkValue(what, t, p.addr as NftExpr, false);
    checkInt(`${what} prefix length`, p.len, 0, t === 'ipv4_addr' ? 32 : 128);
    return;
  }
  switch (t) {
    case 'ipv4_addr':
      checkIPv4(what, v);
      return;
    case 'ipv6_addr':
      checkIPv6(what, v);
      return;
    case 'ether_addr':
      if (typeof v !== 'string' || !ETHER_RE.test(v))
        throw new NftablesPlanError(what, v, 'expected a MAC address');
      return;
    case 'inet_proto':
      checkProto(what, v);
      return;
    case 'inet_service':
      checkPort(what, v);
      return;
    case 'ifname':
      checkIfname(what, v);
      return;
    case 'mark':
      checkInt(what, v, 0, 0xffffffff);
      return;
  }
}

/** Checks a value against one type or a concatenation of types (`{ concat: [...] }`). */
export function checkTyped(
  what: string,
  t: NftDataType | readonly NftDataType[],
  v: NftExpr,
  interval: boolean,
): void {
  if (typeof t === 'string') {
    checkValue(what, t, v, interval);
    return;
  }
  const o: unknown = v;
  const parts = isObj(o) && Array.isArray(o.concat) ? (o.concat as NftExpr[]) : undefined;
  if (!parts || parts.length !== t.length) {
    throw new NftablesPlanError(
      what,
      v,
      `expected { concat: [...] } of ${t.length} values (${t.join(' . ')})`,
    );
  }
  parts.forEach((p, i) => {
    checkValue(`${what} (part ${i + 1})`, t[i] as NftDataType, p, interval);
  });
}
