/**
 * The built-in IPAM driver, `default`: Docker's default IPAM semantics (moby
 * daemon/libnetwork/ipams/defaultipam) over the offset allocators of allocator.ts: a dense bit array
 * with a summary hierarchy for subnets of up to 2^24 addresses (an IPv4 /8: 2 MiB, fixed, whatever
 * the fill), the sparse run tree of bitmap.ts above that (an IPv6 /64).
 *
 * Pools. Two address spaces, `LocalDefault` and `GlobalDefault`, each with its IPv4 and IPv6 pools
 * apart. A request without a subnet gets the lowest free subnet of the space's default pools
 * (pools.ts) that overlaps no allocated pool and no host route (`hostRoutes`); `0.0.0.0/24` or
 * `::/64` (an unspecified address) asks for a default subnet of that size, as dockerd. A request
 * with a subnet fails if the subnet overlaps an allocated one. As in moby, several networks may
 * share one subnet when each gives a different ip-range (sub-pool): they share its addresses.
 * Unlike moby (moby/moby#46756), a subnet that is new is checked for overlap whether or not an
 * ip-range comes with it.
 *
 * Pool IDs are moby's: `<space>/<subnet>` or `<space>/<subnet>/<ip-range>`
 * (`LocalDefault/172.18.0.0/16/172.18.5.0/24`), so they can be stored and parsed back.
 *
 * Addresses. The IPv4 network and broadcast addresses are never handed out, except in /31 and /32
 * where every address is a host (RFC 3021). In IPv6 the first address (the Subnet-Router anycast
 * address, RFC 4291 §2.6.1) is never handed out, except in /127 and /128 (RFC 6164; moby reserves it
 * there too, which leaves a /128 empty). Without a specific address, the next free address of the
 * ip-range (or of the subnet) is handed out round-robin: the search continues after the last one
 * handed out in that range and wraps around, so a just-released address is not reused at once.
 * Option `com.docker.network.ipam.serial: "false"` asks for the lowest free one instead (moby's
 * default for requests without options; ours is serial, see `serial`). A specific address may be
 * anywhere in the subnet, inside the ip-range or not (gateways, Docker's auxiliary addresses).
 * `RequestAddressType: com.docker.network.gateway` marks the address as the gateway (recorded in
 * snapshots).
 *
 * Persistence. The controller does not persist this driver: it replays the pool and address
 * requests from its network and endpoint records at start (core/addresses.ts), so after a restart
 * the same addresses are taken and the round-robin cursor starts again at the beginning of each
 * range. (The snapshot API below is used by the tests only; removing it is open work, issue 12.)
 * `snapshot()` is the whole state as a JSON-safe object; `DefaultIpam.restore()` rebuilds it
 * exactly (allocated addresses, cursors, gateways). For incremental persistence, `onChange` receives each
 * change (a small delta, O(1) to write) after it is made in memory and is awaited before the
 * call returns; if it throws, the change is undone and the call fails with that error, so memory
 * and store never disagree. While `onChange` is set, calls run one at a time (a queue), so no call
 * sees another's half-persisted change. `applyChange()` replays stored deltas on a restored
 * driver: `restore(snapshot)` + `applyChange(each delta since)` equals the live state.
 */
import {
  type AddressAllocation,
  type AddressRequest,
  type AddressSpaces,
  DEFAULT_IPAM,
  GLOBAL_ADDRESS_SPACE,
  IPAM_GATEWAY_ADDRESS_TYPE,
  IPAM_REQUEST_ADDRESS_TYPE,
  type IpamCapabilities,
  type IpamDriver,
  LOCAL_ADDRESS_SPACE,
  type PoolAllocation,
  type PoolRequest,
} from '../driver-api/ipam.ts';
import { InvalidOptionError } from '../errors/cnm.ts';
import { createAllocator, type OffsetAllocator } from './allocator.ts';
import {
  AddressInUseError,
  AddressNotAllocatedError,
  InvalidAddressError,
  InvalidAddressSpaceError,
  InvalidGatewayError,
  InvalidIpRangeError,
  InvalidPoolIdError,
  InvalidSubnetError,
  IpamSnapshotError,
  NoDefaultPoolError,
  NoMoreSubnetsError,
  PoolExhaustedError,
  PoolOverlapError,
  UnknownPoolError,
} from './errors.ts';
import {
  containsAddress,
  containsPrefix,
  DEFAULT_GLOBAL_POOLS,
  DEFAULT_LOCAL_POOLS,
  deriveUlaPool,
  familyBits,
  familyName,
  formatIp,
  formatPrefix,
  type IpFamily,
  normalizePoolSpecs,
  type PoolBase,
  type PoolSpec,
  type Prefix,
  parseCidr,
  parseIp,
  pickSubnet,
  prefixEnd,
  prefixSize,
  sizeFits,
  specialPurposeOverlap,
} from './pools.ts';

/** Address request option: "true" (round-robin, our default) or "false" (lowest free first). */
export const IPAM_SERIAL_OPTION = 'com.docker.network.ipam.serial';

export interface DefaultIpamOptions {
  /**
   * Local-scope default pools (Docker's `default-address-pools`). Default (also when empty, as
   * dockerd): DEFAULT_LOCAL_POOLS. A list with IPv6 entries only leaves IPv4 without default pools.
   */
  localPools?: readonly PoolSpec[];
  /** Global-scope default pools. Default (also when empty, as moby): DEFAULT_GLOBAL_POOLS. */
  globalPools?: readonly PoolSpec[];
  /**
   * The daemon's host ID. When given and `localPools` has no IPv6 pool, the local space gets the
   * ULA /48 derived from it, cut in /64s (pools.ts deriveUlaPool), as dockerd does. Without it, an
   * IPv6 network needs an explicit subnet (NoDefaultPoolError).
   */
  hostId?: string;
  /**
   * The host's routes (CIDRs; plain addresses count as /32 or /128), for picking default subnets
   * that do not collide with networks the host already reaches directly. dockerd uses the on-link
   * (scope link) IPv4 routes and the resolv.conf nameservers. Default routes (/0) are ignored, as
   * are entries that do not parse. Called on every request for a default subnet.
   */
  hostRoutes?: () => Promise<readonly string[]> | readonly string[];
  /** Round-robin address allocation by default (true, the default) or lowest free first (false). */
  serial?: boolean;
  /** Called with each change, awaited; throwing undoes the change and fails the call. See the module comment. */
  onChange?: (change: IpamChange) => void | Promise<void>;
}

/** One change to the allocator's state, as `onChange` receives it and `applyChange` replays it. */
export type IpamChange =
  | {
      kind: 'pool-requested';
      poolId: string;
      addressSpace: string;
      subnet: string;
      ipRange?: string;
      /** The subnet was not allocated before (false: an ip-range was added to an allocated subnet). */
      created: boolean;
    }
  | {
      kind: 'pool-released';
      poolId: string;
      addressSpace: string;
      subnet: string;
      ipRange?: string;
      /** The subnet is no longer allocated (its last holder released it), nor its addresses. */
      removed: boolean;
    }
  | {
      kind: 'address-requested';
      poolId: string;
      addressSpace: string;
      subnet: string;
      ipRange?: string;
      /** Plain address, no prefix length. */
      address: string;
      gateway: boolean;
      /** Where the next round-robin search of this range starts (only for an address not asked for by value). */
      cursor?: string;
    }
  | {
      kind: 'address-released';
      poolId: string;
      addressSpace: string;
      subnet: string;
      ipRange?: string;
      address: string;
    };

export interface IpamPoolSnapshot {
  addressSpace: string;
  /** Canonical CIDR. */
  subnet: string;
  /** Requested without an ip-range by some network (as opposed to held only through ip-ranges). */
  explicit: boolean;
  /** Where the next round-robin search of the whole subnet starts (an address of the subnet). */
  cursor: string;
  ipRanges: { ipRange: string; cursor: string }[];
  /** Allocated addresses as inclusive runs [first, last]; never the reserved (network, broadcast) ones. */
  allocated: [string, string][];
  gateways: string[];
}

export interface IpamSnapshot {
  version: 1;
  pools: IpamPoolSnapshot[];
}

interface RangeState {
  readonly prefix: Prefix;
  readonly key: string;
  /** Offsets in the subnet of the range's first and last address. */
  readonly first: bigint;
  readonly last: bigint;
  cursor: bigint;
}

interface PoolState {
  readonly space: string;
  readonly subnet: Prefix;
  readonly key: string;
  readonly addrs: OffsetAllocator;
  /** The lowest and highest offsets that may be handed out (the others are reserved). */
  readonly lo: bigint;
  readonly hi: bigint;
  explicit: boolean;
  readonly ranges: Map<string, RangeState>;
  readonly gateways: Set<bigint>;
}

interface SpaceState {
  readonly name: string;
  readonly family: IpFamily;
  readonly byKey: Map<string, PoolState>;
  /** The pools by address; they never overlap each other. */
  readonly sorted: PoolState[];
  readonly bases: PoolBase[];
}

interface Holder {
  readonly pool: PoolState;
  readonly range: RangeState | undefined;
}

const SPACES = [LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE] as const;

function poolIdOf(space: string, subnetKey: string, rangeKey?: string): string {
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

export class DefaultIpam implements IpamDriver {
  readonly name = DEFAULT_IPAM;
  readonly #spaces = new Map<string, SpaceState>();
  /** Every valid pool ID → what it designates. */
  readonly #ids = new Map<string, Holder>();
  readonly #hostRoutes: DefaultIpamOptions['hostRoutes'];
  readonly #serial: boolean;
  readonly #onChange: DefaultIpamOptions['onChange'];
  #tail: Promise<unknown> = Promise.resolve();

  constructor(opts: DefaultIpamOptions = {}) {
    // Empty lists mean the defaults, as dockerd's (an unset default-address-pools)
    const local =
      opts.localPools !== undefined && opts.localPools.length > 0 ? opts.localPools : DEFAULT_LOCAL_POOLS;
    const global =
      opts.globalPools !== undefined && opts.globalPools.length > 0 ? opts.globalPools : DEFAULT_GLOBAL_POOLS;
    const localBases = normalizePoolSpecs(local);
    if (localBases[6].length === 0 && opts.hostId !== undefined) {
      localBases[6] = normalizePoolSpecs([deriveUlaPool(opts.hostId)])[6];
    }
    const globalBases = normalizePoolSpecs(global);
    for (const [name, bases] of [
      [LOCAL_ADDRESS_SPACE, localBases],
      [GLOBAL_ADDRESS_SPACE, globalBases],
    ] as const) {
      for (const family of [4, 6] as const) {
        this.#spaces.set(`${name}|${family}`, {
          name,
          family,
          byKey: new Map(),
          sorted: [],
          bases: bases[family],
        });
      }
    }
    this.#hostRoutes = opts.hostRoutes;
    this.#serial = opts.serial ?? true;
    this.#onChange = opts.onChange;
  }

  async capabilities(): Promise<IpamCapabilities> {
    // What a remote IPAM would answer; the controller replays requests to this built-in driver at
    // start whatever it says (core/addresses.ts needsReplay: it keeps no state across restarts).
    return { requiresMacAddress: false, requiresRequestReplay: false };
  }

  async defaultAddressSpaces(): Promise<AddressSpaces> {
    return { local: LOCAL_ADDRESS_SPACE, global: GLOBAL_ADDRESS_SPACE };
  }

  /** The default pools of a space and family, after normalisation (sorted, overlaps dropped). */
  defaultPools(addressSpace: string, family: IpFamily): PoolSpec[] {
    return this.#space(addressSpace, family).bases.map((b) => ({ base: formatPrefix(b.base), size: b.size }));
  }

  requestPool(req: PoolRequest): Promise<PoolAllocation> {
    return this.#exclusive(() => this.#requestPool(req));
  }

  releasePool(poolId: string): Promise<void> {
    return this.#exclusive(() => this.#releasePool(poolId));
  }

  requestAddress(poolId: string, req: AddressRequest = {}): Promise<AddressAllocation> {
    return this.#exclusive(() => this.#requestAddress(poolId, req));
  }

  releaseAddress(poolId: string, address: string): Promise<void> {
    return this.#exclusive(() => this.#releaseAddress(poolId, address));
  }

  // --- pools --------------------------------------------------------------------------------

  async #requestPool(req: PoolRequest): Promise<PoolAllocation> {
    const spaceName = req.addressSpace;
    this.#checkSpaceName(spaceName);
    const poolText = req.pool ?? '';
    const rangeText = req.subPool ?? '';
    let family: IpFamily = req.v6 ? 6 : 4;
    let subnet: Prefix | undefined;
    let size: number | undefined;
    if (poolText !== '') {
      const c = parseCidr(poolText);
      if (c === undefined) {
        throw new InvalidSubnetError(
          poolText,
          'it is not a CIDR (an address and a prefix length, as 172.18.0.0/16 or fd00:1::/64)',
        );
      }
      family = c.prefix.family;
      if (c.address === 0n) {
        // 0.0.0.0/24, ::/64: a default subnet of that size (moby, Docker 27)
        size = c.prefix.len > 0 ? c.prefix.len : undefined;
      } else if (!c.canonical) {
        throw new InvalidSubnetError(poolText, `host bits are set: did you mean ${formatPrefix(c.prefix)}?`);
      } else {
        const special = specialPurposeOverlap(c.prefix);
        if (special !== undefined) throw new InvalidSubnetError(poolText, special);
        subnet = c.prefix;
      }
    }

    if (subnet === undefined) {
      if (rangeText !== '') {
        throw new InvalidIpRangeError(
          rangeText,
          undefined,
          'an ip-range needs a subnet: give the subnet it lies in',
        );
      }
      const space = this.#space(spaceName, family);
      if (!sizeFits(space.bases, size)) throw new NoDefaultPoolError(spaceName, familyName(family), size);
      const routes = await this.#routes(family);
      // Decide after the await, in one synchronous step: concurrent requests see each other's pools.
      const picked = pickSubnet(space.bases, [...space.sorted.map((p) => p.subnet), ...routes], size);
      if (picked === undefined) throw new NoMoreSubnetsError(spaceName, familyName(family), size);
      const pool = this.#addPool(space, picked, true);
      const poolId = poolIdOf(spaceName, pool.key);
      await this.#commit(
        { kind: 'pool-requested', poolId, addressSpace: spaceName, subnet: pool.key, created: true },
        () => this.#dropPool(space, pool),
      );
      return { poolId, pool: pool.key, data: {} };
    }

    const subnetKey = formatPrefix(subnet);
    let range: Prefix | undefined;
    if (rangeText !== '') {
      const c = parseCidr(rangeText);
      if (c === undefined) {
        throw new InvalidIpRangeError(
          rangeText,
          subnetKey,
          'it is not a CIDR (an address and a prefix length)',
        );
      }
      if (c.prefix.family !== subnet.family) {
        throw new InvalidIpRangeError(
          rangeText,
          subnetKey,
          `it is ${familyName(c.prefix.family)} and the subnet ${familyName(subnet.family)}: give one of the subnet's family`,
        );
      }
      if (!c.canonical) {
        throw new InvalidIpRangeError(
          rangeText,
          subnetKey,
          `host bits are set: did you mean ${formatPrefix(c.prefix)}?`,
        );
      }
      if (!containsPrefix(subnet, c.prefix)) {
        throw new InvalidIpRangeError(
          rangeText,
          subnetKey,
          'it is not inside the subnet: give a range within it',
        );
      }
      range = c.prefix;
    }

    const space = this.#space(spaceName, subnet.family);
    const existing = space.byKey.get(subnetKey);
    if (existing !== undefined) {
      if (range === undefined) throw new PoolOverlapError(spaceName, subnetKey, subnetKey);
      const rangeKey = formatPrefix(range);
      if (existing.ranges.has(rangeKey)) {
        const what = `${subnetKey} with ip-range ${rangeKey}`;
        throw new PoolOverlapError(spaceName, what, what);
      }
      const r = this.#addRange(existing, range);
      const poolId = poolIdOf(spaceName, subnetKey, rangeKey);
      await this.#commit(
        {
          kind: 'pool-requested',
          poolId,
          addressSpace: spaceName,
          subnet: subnetKey,
          ipRange: rangeKey,
          created: false,
        },
        () => this.#dropRange(existing, r),
      );
      return { poolId, pool: subnetKey, data: {} };
    }

    const other = this.#overlapping(space, subnet);
    if (other !== undefined) throw new PoolOverlapError(spaceName, subnetKey, other.key);
    const pool = this.#addPool(space, subnet, range === undefined);
    const r = range === undefined ? undefined : this.#addRange(pool, range);
    const poolId = poolIdOf(spaceName, subnetKey, r?.key);
    await this.#commit(
      {
        kind: 'pool-requested',
        poolId,
        addressSpace: spaceName,
        subnet: subnetKey,
        ...(r === undefined ? {} : { ipRange: r.key }),
        created: true,
      },
      () => this.#dropPool(space, pool),
    );
    return { poolId, pool: subnetKey, data: {} };
  }

  async #releasePool(poolId: string): Promise<void> {
    const { pool, range } = this.#holder(poolId);
    const space = this.#space(pool.space, pool.subnet.family);
    if (range !== undefined) this.#dropRange(pool, range);
    else this.#setExplicit(pool, false);
    const removed = !pool.explicit && pool.ranges.size === 0;
    if (removed) this.#dropPool(space, pool);
    await this.#commit(
      {
        kind: 'pool-released',
        poolId,
        addressSpace: pool.space,
        subnet: pool.key,
        ...(range === undefined ? {} : { ipRange: range.key }),
        removed,
      },
      () => {
        if (removed) this.#insertPool(space, pool);
        if (range !== undefined) this.#registerRange(pool, range);
        else this.#setExplicit(pool, true);
      },
    );
  }

  // --- addresses ----------------------------------------------------------------------------

  async #requestAddress(poolId: string, req: AddressRequest): Promise<AddressAllocation> {
    const { pool, range } = this.#holder(poolId);
    const options = req.options ?? {};
    const gateway = options[IPAM_REQUEST_ADDRESS_TYPE] === IPAM_GATEWAY_ADDRESS_TYPE;
    const serial = this.#serialOption(options);
    let offset: bigint;
    let cursor: bigint | undefined;
    const prevCursor = range === undefined ? pool.addrs.cursor : range.cursor;
    if (req.address !== undefined && req.address !== '') {
      offset = this.#offsetOf(pool, req.address, gateway ? 'gateway' : 'address');
      if (!pool.addrs.allocate(offset))
        throw new AddressInUseError(formatIp(pool.subnet.family, pool.subnet.start + offset), pool.key);
    } else {
      const first = range === undefined ? pool.lo : range.first;
      const last = range === undefined ? pool.hi : range.last;
      const found =
        first > last
          ? undefined
          : pool.addrs.allocateNext({ start: first, end: last, serial, from: prevCursor });
      if (found === undefined) {
        throw new PoolExhaustedError(poolId, range === undefined ? pool.key : range.key);
      }
      offset = found;
      if (serial) {
        cursor = pool.addrs.after(found);
        if (range === undefined) pool.addrs.cursor = cursor;
        else range.cursor = cursor;
      }
    }
    const wasGateway = pool.gateways.has(offset);
    if (gateway) pool.gateways.add(offset);
    const address = formatIp(pool.subnet.family, pool.subnet.start + offset);
    await this.#commit(
      {
        kind: 'address-requested',
        poolId,
        addressSpace: pool.space,
        subnet: pool.key,
        ...(range === undefined ? {} : { ipRange: range.key }),
        address,
        gateway,
        ...(cursor === undefined ? {} : { cursor: formatIp(pool.subnet.family, pool.subnet.start + cursor) }),
      },
      () => {
        pool.addrs.release(offset);
        if (gateway && !wasGateway) pool.gateways.delete(offset);
        if (range === undefined) pool.addrs.cursor = prevCursor;
        else range.cursor = prevCursor;
      },
    );
    return { address: `${address}/${pool.subnet.len}`, data: {} };
  }

  async #releaseAddress(poolId: string, address: string): Promise<void> {
    const { pool, range } = this.#holder(poolId);
    const offset = this.#offsetOf(pool, address, 'address');
    const text = () => formatIp(pool.subnet.family, pool.subnet.start + offset);
    if (!pool.addrs.release(offset)) throw new AddressNotAllocatedError(text(), poolId);
    const wasGateway = pool.gateways.delete(offset);
    if (this.#onChange === undefined) return;
    await this.#commit(
      {
        kind: 'address-released',
        poolId,
        addressSpace: pool.space,
        subnet: pool.key,
        ...(range === undefined ? {} : { ipRange: range.key }),
        address: text(),
      },
      () => {
        pool.addrs.allocate(offset);
        if (wasGateway) pool.gateways.add(offset);
      },
    );
  }

  /** The offset in the pool of a plain address given by the caller; throws the typed invalid error. */
  #offsetOf(pool: PoolState, text: string, role: 'address' | 'gateway'): bigint {
    const fail = (reason: string) =>
      role === 'gateway'
        ? new InvalidGatewayError(text, pool.key, reason)
        : new InvalidAddressError(text, pool.key, reason);
    let ip = parseIp(text);
    if (ip === undefined) {
      throw fail(
        typeof text === 'string' && text.includes('/')
          ? 'give a plain address, without a prefix length'
          : 'it is not an IP address',
      );
    }
    // ::ffff:a.b.c.d for an IPv4 subnet: the IPv4 address (moby unmaps too)
    if (ip.family === 6 && pool.subnet.family === 4 && ip.value >> 32n === 0xffffn)
      ip = { family: 4, value: ip.value & 0xffffffffn };
    if (!containsAddress(pool.subnet, ip.family, ip.value)) {
      throw fail(`it is outside the subnet: give an address within ${pool.key}`);
    }
    const offset = ip.value - pool.subnet.start;
    if (offset < pool.lo || offset > pool.hi) {
      const what =
        pool.subnet.family === 6
          ? 'the subnet-router anycast address (the first one)'
          : offset === 0n
            ? 'the network address'
            : 'the broadcast address';
      throw fail(`it is ${what}, which is never handed out: choose another address of ${pool.key}`);
    }
    return offset;
  }

  #serialOption(options: Record<string, string>): boolean {
    const v = options[IPAM_SERIAL_OPTION];
    if (v === undefined) return this.#serial;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw new InvalidOptionError(
      IPAM_SERIAL_OPTION,
      v,
      'expected "true" (round-robin) or "false" (lowest free address)',
    );
  }

  // --- persistence --------------------------------------------------------------------------

  /** The whole state, JSON-safe. O(pools + allocated runs), plus O(size / 32) per dense pool (about 1 ms for a /8). */
  snapshot(): IpamSnapshot {
    const pools: IpamPoolSnapshot[] = [];
    for (const spaceName of SPACES) {
      for (const family of [4, 6] as const) {
        const space = this.#space(spaceName, family);
        for (const p of space.sorted) {
          const ip = (o: bigint) => formatIp(family, p.subnet.start + o);
          const allocated: [string, string][] = [];
          for (const [s, e] of p.addrs.runs()) {
            const a = s < p.lo ? p.lo : s;
            const b = e > p.hi ? p.hi : e;
            if (a <= b) allocated.push([ip(a), ip(b)]);
          }
          pools.push({
            addressSpace: spaceName,
            subnet: p.key,
            explicit: p.explicit,
            cursor: ip(p.addrs.cursor),
            ipRanges: [...p.ranges.values()]
              .sort((x, y) =>
                x.prefix.start < y.prefix.start
                  ? -1
                  : x.prefix.start > y.prefix.start
                    ? 1
                    : x.prefix.len - y.prefix.len,
              )
              .map((r) => ({ ipRange: r.key, cursor: ip(r.cursor) })),
            allocated,
            gateways: [...p.gateways].sort((x, y) => (x < y ? -1 : 1)).map(ip),
          });
        }
      }
    }
    return { version: 1, pools };
  }

  /** A driver with exactly the state `snapshot()` returned. Throws IpamSnapshotError if it is inconsistent. */
  static restore(snapshot: IpamSnapshot, opts: DefaultIpamOptions = {}): DefaultIpam {
    const ipam = new DefaultIpam(opts);
    const s: unknown = snapshot;
    if (typeof s !== 'object' || s === null || (s as { version?: unknown }).version !== 1) {
      throw new IpamSnapshotError('expected an object with version 1');
    }
    const pools = (s as { pools?: unknown }).pools;
    if (!Array.isArray(pools)) throw new IpamSnapshotError('"pools" is not an array');
    for (const [i, p] of pools.entries()) ipam.#restorePool(p, `pools[${i}]`);
    return ipam;
  }

  #restorePool(raw: unknown, where: string): void {
    const bad = (why: string) => new IpamSnapshotError(`${where}: ${why}`);
    if (typeof raw !== 'object' || raw === null) throw bad('not an object');
    const p = raw as Partial<Record<keyof IpamPoolSnapshot, unknown>>;
    if (typeof p.addressSpace !== 'string' || !(SPACES as readonly string[]).includes(p.addressSpace)) {
      throw bad(`unknown address space ${JSON.stringify(p.addressSpace)}`);
    }
    const c = typeof p.subnet === 'string' ? parseCidr(p.subnet) : undefined;
    if (c === undefined || !c.canonical) throw bad(`bad subnet ${JSON.stringify(p.subnet)}`);
    const subnet = c.prefix;
    const space = this.#space(p.addressSpace, subnet.family);
    const other = this.#overlapping(space, subnet);
    if (other !== undefined) throw bad(`subnet ${formatPrefix(subnet)} overlaps ${other.key}`);
    if (typeof p.explicit !== 'boolean') throw bad('"explicit" is not a boolean');
    if (!Array.isArray(p.ipRanges) || !Array.isArray(p.allocated) || !Array.isArray(p.gateways)) {
      throw bad('"ipRanges", "allocated" and "gateways" must be arrays');
    }
    if (!p.explicit && p.ipRanges.length === 0) throw bad('a pool neither explicit nor with ip-ranges');
    const offset = (v: unknown, what: string): bigint => {
      const ip = typeof v === 'string' ? parseIp(v) : undefined;
      if (ip === undefined || !containsAddress(subnet, ip.family, ip.value)) {
        throw bad(`${what} ${JSON.stringify(v)} is not an address of ${formatPrefix(subnet)}`);
      }
      return ip.value - subnet.start;
    };
    const pool = this.#addPool(space, subnet, p.explicit);
    for (const [i, r] of p.ipRanges.entries()) {
      const rc = typeof r?.ipRange === 'string' ? parseCidr(r.ipRange) : undefined;
      if (rc === undefined || !rc.canonical || !containsPrefix(subnet, rc.prefix)) {
        throw bad(`ipRanges[${i}]: bad ip-range ${JSON.stringify(r?.ipRange)}`);
      }
      if (pool.ranges.has(formatPrefix(rc.prefix))) throw bad(`ipRanges[${i}]: duplicate ip-range`);
      this.#addRange(pool, rc.prefix).cursor = offset(r.cursor, `ipRanges[${i}].cursor`);
    }
    const runs: [bigint, bigint][] = p.allocated.map((r: unknown, i): [bigint, bigint] => {
      if (!Array.isArray(r) || r.length !== 2) throw bad(`allocated[${i}] is not a [first, last] pair`);
      const a = offset(r[0], `allocated[${i}][0]`);
      const b = offset(r[1], `allocated[${i}][1]`);
      if (a < pool.lo || b > pool.hi) throw bad(`allocated[${i}] includes a reserved address`);
      return [a, b];
    });
    try {
      pool.addrs.addRuns(runs);
    } catch (e) {
      throw bad(`allocated: ${(e as Error).message}`);
    }
    pool.addrs.cursor = offset(p.cursor, 'cursor');
    for (const g of p.gateways) {
      const o = offset(g, 'gateway');
      if (!pool.addrs.isAllocated(o)) throw bad(`gateway ${String(g)} is not allocated`);
      pool.gateways.add(o);
    }
  }

  /**
   * Replays one change (from `onChange`) on this driver, synchronously, without calling `onChange`.
   * Throws IpamSnapshotError if it does not fit the current state.
   */
  applyChange(change: IpamChange): void {
    const bad = (why: string) => new IpamSnapshotError(`change ${JSON.stringify(change)}: ${why}`);
    const id = parsePoolId(change.poolId);
    if (id === undefined || !(SPACES as readonly string[]).includes(id.space)) throw bad('bad pool id');
    const space = this.#space(id.space, id.subnet.family);
    const key = formatPrefix(id.subnet);
    const rangeKey = id.range === undefined ? undefined : formatPrefix(id.range);
    switch (change.kind) {
      case 'pool-requested': {
        if (this.#ids.has(poolIdOf(id.space, key, rangeKey))) throw bad('pool already allocated');
        let pool = space.byKey.get(key);
        if (change.created !== (pool === undefined))
          throw bad(`the subnet is ${pool ? '' : 'not '}allocated`);
        if (pool === undefined) {
          const other = this.#overlapping(space, id.subnet);
          if (other !== undefined) throw bad(`overlaps ${other.key}`);
          pool = this.#addPool(space, id.subnet, id.range === undefined);
        } else if (id.range === undefined) {
          throw bad('subnet already allocated');
        }
        if (id.range !== undefined) this.#addRange(pool, id.range);
        return;
      }
      case 'pool-released': {
        const h = this.#ids.get(poolIdOf(id.space, key, rangeKey));
        if (h === undefined) throw bad('pool not allocated');
        if (h.range !== undefined) this.#dropRange(h.pool, h.range);
        else this.#setExplicit(h.pool, false);
        if (!h.pool.explicit && h.pool.ranges.size === 0) this.#dropPool(space, h.pool);
        return;
      }
      case 'address-requested':
      case 'address-released': {
        const h = this.#ids.get(poolIdOf(id.space, key, rangeKey));
        if (h === undefined) throw bad('pool not allocated');
        const ip = parseIp(change.address);
        if (ip === undefined || !containsAddress(id.subnet, ip.family, ip.value)) throw bad('bad address');
        const o = ip.value - id.subnet.start;
        if (o < h.pool.lo || o > h.pool.hi) throw bad('reserved address');
        if (change.kind === 'address-released') {
          if (!h.pool.addrs.release(o)) throw bad('address not allocated');
          h.pool.gateways.delete(o);
          return;
        }
        if (!h.pool.addrs.allocate(o)) throw bad('address already allocated');
        if (change.gateway) h.pool.gateways.add(o);
        if (change.cursor !== undefined) {
          const cur = parseIp(change.cursor);
          if (cur === undefined || !containsAddress(id.subnet, cur.family, cur.value))
            throw bad('bad cursor');
          if (h.range === undefined) h.pool.addrs.cursor = cur.value - id.subnet.start;
          else h.range.cursor = cur.value - id.subnet.start;
        }
        return;
      }
      default:
        throw bad('unknown kind');
    }
  }

  // --- internals ----------------------------------------------------------------------------

  /** Runs `fn` alone when changes are persisted (onChange): one call at a time, in order. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#onChange === undefined) return fn(); // no await between a check and its change: atomic
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #commit(change: IpamChange, undo: () => void): Promise<void> {
    if (this.#onChange === undefined) return;
    try {
      await this.#onChange(change);
    } catch (e) {
      undo();
      throw e;
    }
  }

  async #routes(family: IpFamily): Promise<Prefix[]> {
    if (this.#hostRoutes === undefined) return [];
    const out: Prefix[] = [];
    for (const r of await this.#hostRoutes()) {
      const c = parseCidr(r);
      if (c !== undefined) {
        if (c.prefix.family === family && c.prefix.len > 0) out.push(c.prefix);
        continue;
      }
      const ip = parseIp(r);
      if (ip !== undefined && ip.family === family)
        out.push({ family, start: ip.value, len: familyBits(family) });
    }
    return out;
  }

  #checkSpaceName(name: string): void {
    if (!(SPACES as readonly string[]).includes(name))
      throw new InvalidAddressSpaceError(String(name), SPACES);
  }

  #space(name: string, family: IpFamily): SpaceState {
    const s = this.#spaces.get(`${name}|${family}`);
    if (s === undefined) throw new InvalidAddressSpaceError(String(name), SPACES);
    return s;
  }

  #holder(poolId: string): Holder {
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
  #overlapping(space: SpaceState, p: Prefix): PoolState | undefined {
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

  #addPool(space: SpaceState, subnet: Prefix, explicit: boolean): PoolState {
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
      gateways: new Set(),
    };
    this.#insertPool(space, pool);
    this.#setExplicit(pool, explicit);
    return pool;
  }

  #insertPool(space: SpaceState, pool: PoolState): void {
    let lo = 0;
    let hi = space.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (space.sorted[mid]!.subnet.start < pool.subnet.start) lo = mid + 1;
      else hi = mid;
    }
    space.sorted.splice(lo, 0, pool);
    space.byKey.set(pool.key, pool);
    if (pool.explicit) this.#ids.set(poolIdOf(pool.space, pool.key), { pool, range: undefined });
    for (const r of pool.ranges.values())
      this.#ids.set(poolIdOf(pool.space, pool.key, r.key), { pool, range: r });
  }

  #dropPool(space: SpaceState, pool: PoolState): void {
    const i = space.sorted.indexOf(pool);
    if (i >= 0) space.sorted.splice(i, 1);
    space.byKey.delete(pool.key);
    this.#ids.delete(poolIdOf(pool.space, pool.key));
    for (const r of pool.ranges.values()) this.#ids.delete(poolIdOf(pool.space, pool.key, r.key));
  }

  #setExplicit(pool: PoolState, explicit: boolean): void {
    pool.explicit = explicit;
    const id = poolIdOf(pool.space, pool.key);
    if (explicit) this.#ids.set(id, { pool, range: undefined });
    else this.#ids.delete(id);
  }

  #addRange(pool: PoolState, prefix: Prefix): RangeState {
    const first = prefix.start - pool.subnet.start;
    const r: RangeState = {
      prefix,
      key: formatPrefix(prefix),
      first,
      last: first + prefixSize(prefix) - 1n,
      cursor: first,
    };
    // a range that covers the reserved first/last address of the subnet starts/ends inside it
    const clipped: RangeState = {
      ...r,
      first: r.first < pool.lo ? pool.lo : r.first,
      last: r.last > pool.hi ? pool.hi : r.last,
      cursor: r.first < pool.lo ? pool.lo : r.first,
    };
    this.#registerRange(pool, clipped);
    return clipped;
  }

  #registerRange(pool: PoolState, r: RangeState): void {
    pool.ranges.set(r.key, r);
    this.#ids.set(poolIdOf(pool.space, pool.key, r.key), { pool, range: r });
  }

  #dropRange(pool: PoolState, r: RangeState): void {
    pool.ranges.delete(r.key);
    this.#ids.delete(poolIdOf(pool.space, pool.key, r.key));
  }
}
