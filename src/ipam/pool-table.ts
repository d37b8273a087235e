/**
 * The built-in IPAM's bookkeeping: the allocated pools of each address space and family, sorted by
 * address (they never overlap), their ip-ranges, and the pool IDs that designate them. No policy
 * here (what may be allocated is default.ts's); every method is synchronous, so a caller's check
 * and change happen in one step.
 *
 * Pool IDs are moby's: `<space>/<subnet>` or `<space>/<subnet>/<ip-range>`
 * (`LocalDefault/172.18.0.0/16/172.18.5.0/24`), so they can be stored and parsed back.
 */
import { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE } from '../driver-api/ipam.ts';
import { createAllocator, type OffsetAllocator } from './allocator.ts';
import { InvalidAddressSpaceError, InvalidPoolIdError, UnknownPoolError } from './errors.ts';
import {
  containsPrefix,
  familyBits,
  formatPrefix,
  type IpFamily,
  type PoolBase,
  type Prefix,
  parseCidr,
  prefixEnd,
  prefixSize,
} from './pools.ts';

export const SPACES = [LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE] as const;

export interface RangeState {
  readonly prefix: Prefix;
  readonly key: string;
  /** Offsets in the subnet of the range's first and last address that may be handed out. */
  readonly first: bigint;
  readonly last: bigint;
  /** Where the next round-robin search of the range starts. */
  cursor: bigint;
}

export interface PoolState {
  readonly space: string;
  readonly subnet: Prefix;
  readonly key: string;
  readonly addrs: OffsetAllocator;
  /** The lowest and highest offsets that may be handed out (the others are reserved). */
  readonly lo: bigint;
  readonly hi: bigint;
  /** Requested without an ip-range by some network (as opposed to held only through ip-ranges). */
  explicit: boolean;
  readonly ranges: Map<string, RangeState>;
}

export interface SpaceState {
  readonly name: string;
  readonly family: IpFamily;
  readonly byKey: Map<string, PoolState>;
  /** The pools by address; they never overlap each other. */
  readonly sorted: PoolState[];
  /** The default pools a subnet is picked from. */
  readonly bases: PoolBase[];
}

/** What a pool ID designates: a subnet held explicitly (no range), or one ip-range of it. */
export interface Holder {
  readonly pool: PoolState;
  readonly range: RangeState | undefined;
}

export function poolIdOf(space: string, subnetKey: string, rangeKey?: string): string {
  return rangeKey === undefined ? `${space}/${subnetKey}` : `${space}/${subnetKey}/${rangeKey}`;
}

function parsePoolId(id: string): { space: string; subnet: Prefix; range?: Prefix } | undefined {
  if (typeof id !== 'string') return undefined;
  const parts = id.split('/');
  if ((parts.length !== 3 && parts.length !== 5) || parts[0] === '') return undefined;
  const subnet = parseCidr(`${parts[1]}/${parts[2]}`);
  if (subnet === undefined || !subnet.canonical) return undefined;
  if (parts.length === 3) return { space: parts[0]!, subnet: subnet.prefix };
  const range = parseCidr(`${parts[3]}/${parts[4]}`);
  if (range === undefined || !range.canonical || !containsPrefix(subnet.prefix, range.prefix))
    return undefined;
  return { space: parts[0]!, subnet: subnet.prefix, range: range.prefix };
}

export class PoolTable {
  readonly #spaces = new Map<string, SpaceState>();
  /** Every valid pool ID → what it designates. */
  readonly #ids = new Map<string, Holder>();

  /** `bases[space][family]`: each space's default pools. */
  constructor(bases: Record<string, { 4: PoolBase[]; 6: PoolBase[] }>) {
    for (const name of SPACES) {
      for (const family of [4, 6] as const) {
        this.#spaces.set(`${name}|${family}`, {
          name,
          family,
          byKey: new Map(),
          sorted: [],
          bases: bases[name]?.[family] ?? [],
        });
      }
    }
  }

  checkSpaceName(name: string): void {
    if (!(SPACES as readonly string[]).includes(name))
      throw new InvalidAddressSpaceError(String(name), SPACES);
  }

  space(name: string, family: IpFamily): SpaceState {
    const s = this.#spaces.get(`${name}|${family}`);
    if (s === undefined) throw new InvalidAddressSpaceError(String(name), SPACES);
    return s;
  }

  /** What the pool ID designates (its canonical spelling or another). */
  holder(poolId: string): Holder {
    const h = this.#ids.get(poolId);
    if (h !== undefined) return h;
    const id = parsePoolId(poolId);
    if (id === undefined) throw new InvalidPoolIdError(String(poolId));
    const canonical = poolIdOf(id.space, formatPrefix(id.subnet), id.range && formatPrefix(id.range));
    const c = this.#ids.get(canonical);
    if (c === undefined) throw new UnknownPoolError(poolId);
    return c;
  }

  /** The allocated pool of the space that overlaps `p`, if any. O(log pools). */
  overlapping(space: SpaceState, p: Prefix): PoolState | undefined {
    const end = prefixEnd(p);
    // the last pool starting at or before p's end: it has the largest end among those that could overlap
    let lo = 0;
    let hi = space.sorted.length - 1;
    let found: PoolState | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = space.sorted[mid]!;
      if (m.subnet.start <= end) {
        found = m;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found !== undefined && prefixEnd(found.subnet) >= p.start ? found : undefined;
  }

  addPool(space: SpaceState, subnet: Prefix, explicit: boolean): PoolState {
    const size = prefixSize(subnet);
    const hostBits = familyBits(subnet.family) - subnet.len;
    // IPv4: network and broadcast, except /31 /32 (RFC 3021). IPv6: subnet-router anycast, except /127 /128 (RFC 6164).
    const lo = hostBits >= 2 ? 1n : 0n;
    const hi = hostBits >= 2 && subnet.family === 4 ? size - 2n : size - 1n;
    const addrs = createAllocator(size);
    if (lo === 1n) addrs.allocate(0n);
    if (hi !== size - 1n) addrs.allocate(size - 1n);
    addrs.cursor = lo;
    const pool: PoolState = {
      space: space.name,
      subnet,
      key: formatPrefix(subnet),
      addrs,
      lo,
      hi,
      explicit: false,
      ranges: new Map(),
    };
    let i = 0;
    let j = space.sorted.length;
    while (i < j) {
      const mid = (i + j) >> 1;
      if (space.sorted[mid]!.subnet.start < pool.subnet.start) i = mid + 1;
      else j = mid;
    }
    space.sorted.splice(i, 0, pool);
    space.byKey.set(pool.key, pool);
    this.setExplicit(pool, explicit);
    return pool;
  }

  dropPool(space: SpaceState, pool: PoolState): void {
    const i = space.sorted.indexOf(pool);
    if (i >= 0) space.sorted.splice(i, 1);
    space.byKey.delete(pool.key);
    this.#ids.delete(poolIdOf(pool.space, pool.key));
    for (const r of pool.ranges.values()) this.#ids.delete(poolIdOf(pool.space, pool.key, r.key));
  }

  setExplicit(pool: PoolState, explicit: boolean): void {
    pool.explicit = explicit;
    const id = poolIdOf(pool.space, pool.key);
    if (explicit) this.#ids.set(id, { pool, range: undefined });
    else this.#ids.delete(id);
  }

  /** Adds an ip-range to the pool; a range covering the subnet's reserved first/last address starts/ends inside it. */
  addRange(pool: PoolState, prefix: Prefix): RangeState {
    const first = prefix.start - pool.subnet.start;
    const last = first + prefixSize(prefix) - 1n;
    const r: RangeState = {
      prefix,
      key: formatPrefix(prefix),
      first: first < pool.lo ? pool.lo : first,
      last: last > pool.hi ? pool.hi : last,
      cursor: first < pool.lo ? pool.lo : first,
    };
    pool.ranges.set(r.key, r);
    this.#ids.set(poolIdOf(pool.space, pool.key, r.key), { pool, range: r });
    return r;
  }

  dropRange(pool: PoolState, r: RangeState): void {
    pool.ranges.delete(r.key);
    this.#ids.delete(poolIdOf(pool.space, pool.key, r.key));
  }
}
