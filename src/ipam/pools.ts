/**
 * Prefix arithmetic (bigint, both families) and the default address pools the built-in IPAM
 * picks a subnet from when a network is created without one: Docker's defaults, its
 * `default-address-pools` configuration, and the host-derived IPv6 ULA pool.
 *
 * Docker's defaults (moby daemon/libnetwork/ipamutils): local scope 172.17.0.0/16,
 * 172.18.0.0/16, 172.19.0.0/16, 172.20.0.0/14, 172.24.0.0/14, 172.28.0.0/14 each cut in /16s
 * (so 172.17 ... 172.31), then 192.168.0.0/16 cut in /20s: 31 pools. Global scope 10.0.0.0/8
 * cut in /24s.
 *
 * IPv6: moby's allocator has no built-in IPv6 default pool; since Docker 27 the daemon appends
 * one when the configured pools have no IPv6 entry: a ULA /48 derived from the daemon's host ID
 * (sha256, 40 bits of Global ID under fd00::/8, RFC 4193 §3.2.2 loosely), cut in /64s
 * (`deriveUlaPool`). DefaultIpam does the same when given a `hostId`; without one, an IPv6 network
 * without a subnet fails with NoDefaultPoolError.
 *
 * Picking a subnet (moby's allocatePredefinedPool): the bases are sorted by address (then length)
 * and a base that overlaps an earlier one is dropped; the lowest subnet of the wanted size, in
 * the first base that has one free, that overlaps no allocated pool and no host route, wins.
 */
import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../errors/cnm.ts';
import {
  familyBits,
  familyName,
  formatIp,
  type IpFamily,
  parseCidr as parseCidrText,
  parseIp as parseIpText,
} from '../ip/index.ts';

export { familyBits, familyName, formatIp, type IpFamily };

/** A CIDR prefix: `start` is the network address as a number (host bits zero), `len` its length. */
export interface Prefix {
  readonly family: IpFamily;
  readonly start: bigint;
  readonly len: number;
}

/** One entry of `default-address-pools`: a base CIDR cut into subnets of prefix length `size`. */
export interface PoolSpec {
  base: string;
  size: number;
}

/** Docker's local-scope default pools (`default-address-pools` when not configured). */
export const DEFAULT_LOCAL_POOLS: readonly PoolSpec[] = Object.freeze([
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
]);

/** Docker's global-scope default pools (swarm's default address pool). */
export const DEFAULT_GLOBAL_POOLS: readonly PoolSpec[] = Object.freeze([{ base: '10.0.0.0/8', size: 24 }]);

// --- addresses and prefixes (parsed by src/ip; here as numbers, for prefix arithmetic) --------

/** An address as the IPAM counts: its family and its value. Undefined if `s` is not one (strict). */
export function parseIp(s: string): { family: IpFamily; value: bigint } | undefined {
  const ip = parseIpText(s);
  return typeof ip === 'string' ? undefined : { family: ip.family, value: ip.value };
}

/**
 * Parses "address/length". `canonical` is false when host bits are set (172.18.0.5/16);
 * `prefix` has them cleared. Undefined if it is not a CIDR.
 */
export function parseCidr(s: string): { prefix: Prefix; address: bigint; canonical: boolean } | undefined {
  const c = parseCidrText(s);
  if (typeof c === 'string') return undefined;
  return {
    prefix: { family: c.ip.family, start: c.start, len: c.len },
    address: c.ip.value,
    canonical: c.canonical,
  };
}

function fullMask(f: IpFamily): bigint {
  return (1n << BigInt(familyBits(f))) - 1n;
}

function hostMask(f: IpFamily, len: number): bigint {
  return (1n << BigInt(familyBits(f) - len)) - 1n;
}

export function prefixFrom(family: IpFamily, address: bigint, len: number): Prefix {
  return { family, start: address & ~hostMask(family, len) & fullMask(family), len };
}

/** The number of addresses in the prefix. */
export function prefixSize(p: Prefix): bigint {
  return 1n << BigInt(familyBits(p.family) - p.len);
}

/** The prefix's last address. */
export function prefixEnd(p: Prefix): bigint {
  return p.start + prefixSize(p) - 1n;
}

export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.family, p.start)}/${p.len}`;
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  return a.family === b.family && a.start <= prefixEnd(b) && b.start <= prefixEnd(a);
}

/** Whether `inner` lies entirely inside `outer`. */
export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family &&
    inner.len >= outer.len &&
    inner.start >= outer.start &&
    prefixEnd(inner) <= prefixEnd(outer)
  );
}

export function containsAddress(p: Prefix, family: IpFamily, address: bigint): boolean {
  return p.family === family && address >= p.start && address <= prefixEnd(p);
}

/** Orders by family, then address, then length (shorter first), as moby's PrefixCompare. */
export function comparePrefix(a: Prefix, b: Prefix): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.start !== b.start) return a.start < b.start ? -1 : 1;
  return a.len - b.len;
}

// --- default pools --------------------------------------------------------------------------

/** A validated `PoolSpec`. */
export interface PoolBase {
  readonly base: Prefix;
  readonly size: number;
}

/**
 * Validates pool specs (as Docker's default-address-pools: `base` a canonical CIDR, `size` a
 * prefix length from the base's length to the family's width) and splits them by family, sorted,
 * with bases overlapping an earlier one dropped (as moby's newAddrSpace). Throws InvalidOptionError
 * (option `default-address-pools`, the entry as given, and what is wrong with it).
 */
export function normalizePoolSpecs(specs: readonly PoolSpec[]): { 4: PoolBase[]; 6: PoolBase[] } {
  const out: { 4: PoolBase[]; 6: PoolBase[] } = { 4: [], 6: [] };
  specs.forEach((spec, i) => {
    const bad = (why: string) => new InvalidOptionError('default-address-pools', spec, `entry ${i}: ${why}`);
    const c = parseCidr(spec?.base);
    if (c === undefined) throw bad(`base ${JSON.stringify(spec?.base)} is not a CIDR`);
    if (!c.canonical) {
      throw bad(`base ${spec.base} has host bits set (did you mean ${formatPrefix(c.prefix)}?)`);
    }
    const bits = familyBits(c.prefix.family);
    if (!Number.isInteger(spec.size) || spec.size < c.prefix.len || spec.size > bits) {
      throw bad(
        `size ${String(spec.size)} must be a prefix length from ${c.prefix.len} to ${bits} ` +
          `(the subnets cut from ${spec.base})`,
      );
    }
    out[c.prefix.family].push({ base: c.prefix, size: spec.size });
  });
  for (const f of [4, 6] as const) {
    const sorted = out[f].sort((a, b) => comparePrefix(a.base, b.base));
    const kept: PoolBase[] = [];
    for (const b of sorted) {
      const last = kept[kept.length - 1];
      if (last === undefined || !overlaps(last.base, b.base)) kept.push(b);
    }
    out[f] = kept;
  }
  return out;
}

/** The subnets a pool spec stands for, in order (lazily: 10.0.0.0/8 in /24s is 65,536 of them). */
export function* splitPool(spec: PoolSpec): Generator<string> {
  const n = normalizePoolSpecs([spec]);
  const b = n[4][0] ?? n[6][0];
  if (b === undefined) return;
  const step = 1n << BigInt(familyBits(b.base.family) - b.size);
  for (let s = b.base.start; s <= prefixEnd(b.base); s += step) {
    yield formatPrefix({ family: b.base.family, start: s, len: b.size });
  }
}

/**
 * The lowest free subnet: for each base in order, the first subnet of `size` (default: the base's
 * own size; bases the size does not fit are skipped) overlapping none of `blockers` (allocated
 * pools and host routes, of the same family, in any order, overlapping each other or not).
 * Undefined when none is free. O(bases x blockers).
 */
export function pickSubnet(
  bases: readonly PoolBase[],
  blockers: readonly Prefix[],
  size?: number,
): Prefix | undefined {
  const sorted = [...blockers].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (const { base, size: baseSize } of bases) {
    const len = size ?? baseSize;
    if (len < base.len || len > familyBits(base.family)) continue;
    const step = 1n << BigInt(familyBits(base.family) - len);
    const baseEnd = prefixEnd(base);
    let cand = base.start;
    for (const b of sorted) {
      if (b.family !== base.family) continue;
      const bEnd = prefixEnd(b);
      if (bEnd < cand) continue; // before the candidate
      if (b.start > cand + step - 1n) break; // after it: every later blocker starts later still
      // overlaps the candidate: the next candidate is the first aligned subnet after the blocker
      cand = ((bEnd + 1n + step - 1n) / step) * step;
      if (cand > baseEnd) break;
    }
    if (cand + step - 1n <= baseEnd) return { family: base.family, start: cand, len };
  }
  return undefined;
}

/** Whether any base can be cut into subnets of `size` (default: each base's own size). */
export function sizeFits(bases: readonly PoolBase[], size?: number): boolean {
  return bases.some((b) => size === undefined || (size >= b.base.len && size <= familyBits(b.base.family)));
}

/**
 * The host's own ULA pool, as dockerd derives it from its host ID (daemon/daemon.go
 * deriveULABaseNetwork): the first 64 bits of sha256(hostId), big endian, keep the low 40 bits as
 * the Global ID, under fd00::/8 → fdXX:XXXX:XXXX::/48, cut in /64s.
 */
export function deriveUlaPool(hostId: string): PoolSpec {
  const sha = createHash('sha256').update(hostId, 'utf8').digest();
  const gid = sha.readBigUInt64BE(0) & ((1n << 40n) - 1n);
  const start = (0xfdn << 120n) + (gid << 80n);
  return { base: formatPrefix({ family: 6, start, len: 48 }), size: 64 };
}

/**
 * Ranges no network can be made of: the kernel refuses their addresses on an interface, or routes
 * through them (a gateway there is no gateway), or they would shadow the host's own addresses.
 */
const NOT_FOR_NETWORKS: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: '"this network" addresses (0.0.0.0/8)' },
  { cidr: '127.0.0.0/8', what: 'loopback addresses (127.0.0.0/8)' },
  { cidr: '224.0.0.0/4', what: 'multicast addresses (224.0.0.0/4)' },
  { cidr: '240.0.0.0/4', what: 'reserved and broadcast addresses (240.0.0.0/4)' },
  { cidr: '::/127', what: 'the unspecified and loopback addresses (::/127)' },
  { cidr: '::ffff:0:0/96', what: 'IPv4-mapped addresses (::ffff:0:0/96)' },
  { cidr: 'fe80::/10', what: 'link-local addresses (fe80::/10: every link has its own)' },
  { cidr: 'ff00::/8', what: 'multicast addresses (ff00::/8)' },
];
let notForNetworks: { prefix: Prefix; what: string }[] | undefined;

/** Why `p` cannot be a network's subnet (it overlaps a special-purpose range), or undefined. */
export function specialPurposeOverlap(p: Prefix): string | undefined {
  notForNetworks ??= NOT_FOR_NETWORKS.map((r) => ({ prefix: parseCidr(r.cidr)!.prefix, what: r.what }));
  const hit = notForNetworks.find((r) => overlaps(r.prefix, p));
  return hit && `it overlaps ${hit.what}, which cannot be a network's addresses; choose a unicast subnet`;
}
