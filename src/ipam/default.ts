/**
 * The built-in IPAM driver, `default`: Docker's default IPAM semantics (moby
 * daemon/libnetwork/ipams/defaultipam) over the offset allocators of allocator.ts: a dense bit array
 * with a summary hierarchy for subnets of up to 2^24 addresses (an IPv4 /8: 2 MiB, fixed, whatever
 * the fill), the sparse run tree of bitmap.ts above that (an IPv6 /64).
 *
 * Pools. Two address spaces, `LocalDefault` and `GlobalDefault`, each with its IPv4 and IPv6 pools
 * apart (pool-table.ts). A request without a subnet gets the lowest free subnet of the space's
 * default pools (pools.ts) that overlaps no allocated pool and no host route (`hostRoutes`);
 * `0.0.0.0/24` or `::/64` (an unspecified address) asks for a default subnet of that size, as
 * dockerd (pool-request.ts). A request with a subnet fails if the subnet overlaps an allocated
 * one. As in moby, several networks may share one subnet when each gives a different ip-range
 * (sub-pool): they share its addresses. Unlike moby (moby/moby#46756), a subnet that is new is
 * checked for overlap whether or not an ip-range comes with it.
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
 *
 * State. The driver keeps its state in memory only: the controller replays the pool and address
 * requests from its network and endpoint records at start (core/addresses.ts), so after a restart
 * the same addresses are taken, and the round-robin cursor of each range starts again at its
 * beginning. Every call decides in one synchronous step (the only await, for the host's routes,
 * comes before it), so concurrent calls never hand out an address or a subnet twice.
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
import {
  AddressInUseError,
  AddressNotAllocatedError,
  InvalidAddressError,
  InvalidGatewayError,
  NoDefaultPoolError,
  NoMoreSubnetsError,
  PoolExhaustedError,
  PoolOverlapError,
} from './errors.ts';
import { parsePoolRequest } from './pool-request.ts';
import { type PoolState, PoolTable, poolIdOf } from './pool-table.ts';
import {
  containsAddress,
  DEFAULT_GLOBAL_POOLS,
  DEFAULT_LOCAL_POOLS,
  deriveUlaPool,
  familyBits,
  familyName,
  formatIp,
  formatPrefix,
  type IpFamily,
  normalizePoolSpecs,
  type PoolSpec,
  type Prefix,
  parseCidr,
  parseIp,
  pickSubnet,
  sizeFits,
} from './pools.ts';

/** Address request option: "true" (round-robin, our default) or "false" (lowest free first). */
export const IPAM_SERIAL_OPTION = 'com.docker.network.ipam.serial';

export interface DefaultIpamOptions {
  /**
   * Local-scope default pools (Docker's `default-address-pools`), IPv4 and IPv6 entries. Default
   * (also when empty, as dockerd): DEFAULT_LOCAL_POOLS. A list with IPv6 entries only leaves IPv4
   * without default pools.
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
}

export class DefaultIpam implements IpamDriver {
  readonly name = DEFAULT_IPAM;
  readonly #table: PoolTable;
  readonly #hostRoutes: DefaultIpamOptions['hostRoutes'];
  readonly #serial: boolean;

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
    this.#table = new PoolTable({
      [LOCAL_ADDRESS_SPACE]: localBases,
      [GLOBAL_ADDRESS_SPACE]: normalizePoolSpecs(global),
    });
    this.#hostRoutes = opts.hostRoutes;
    this.#serial = opts.serial ?? true;
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
    return this.#table
      .space(addressSpace, family)
      .bases.map((b) => ({ base: formatPrefix(b.base), size: b.size }));
  }

  // --- pools --------------------------------------------------------------------------------

  async requestPool(req: PoolRequest): Promise<PoolAllocation> {
    const spaceName = req.addressSpace;
    this.#table.checkSpaceName(spaceName);
    const want = parsePoolRequest(req);
    if (want.kind === 'default') return this.#requestDefaultPool(spaceName, want.family, want.size);
    return this.#requestSubnet(spaceName, want.subnet, want.range);
  }

  async #requestDefaultPool(spaceName: string, family: IpFamily, size?: number): Promise<PoolAllocation> {
    const space = this.#table.space(spaceName, family);
    if (!sizeFits(space.bases, size)) throw new NoDefaultPoolError(spaceName, familyName(family), size);
    const routes = await this.#routes(family);
    // Decide after the await, in one synchronous step: concurrent requests see each other's pools.
    const picked = pickSubnet(space.bases, [...space.sorted.map((p) => p.subnet), ...routes], size);
    if (picked === undefined) throw new NoMoreSubnetsError(spaceName, familyName(family), size);
    const pool = this.#table.addPool(space, picked, true);
    return { poolId: poolIdOf(spaceName, pool.key), pool: pool.key, data: {} };
  }

  async #requestSubnet(
    spaceName: string,
    subnet: Prefix,
    range: Prefix | undefined,
  ): Promise<PoolAllocation> {
    const space = this.#table.space(spaceName, subnet.family);
    const subnetKey = formatPrefix(subnet);
    const rangeKey = range === undefined ? undefined : formatPrefix(range);
    const existing = space.byKey.get(subnetKey);
    if (existing !== undefined) {
      // the same subnet again: only with an ip-range it does not have yet (moby's sub-pools)
      if (range === undefined) throw new PoolOverlapError(spaceName, subnetKey, subnetKey);
      if (existing.ranges.has(rangeKey!)) {
        const what = `${subnetKey} with ip-range ${rangeKey}`;
        throw new PoolOverlapError(spaceName, what, what);
      }
      this.#table.addRange(existing, range);
      return { poolId: poolIdOf(spaceName, subnetKey, rangeKey), pool: subnetKey, data: {} };
    }
    const other = this.#table.overlapping(space, subnet);
    if (other !== undefined) throw new PoolOverlapError(spaceName, subnetKey, other.key);
    const pool = this.#table.addPool(space, subnet, range === undefined);
    if (range !== undefined) this.#table.addRange(pool, range);
    return { poolId: poolIdOf(spaceName, subnetKey, rangeKey), pool: subnetKey, data: {} };
  }

  async releasePool(poolId: string): Promise<void> {
    const { pool, range } = this.#table.holder(poolId);
    if (range !== undefined) this.#table.dropRange(pool, range);
    else this.#table.setExplicit(pool, false);
    // the subnet and its addresses go with its last holder
    if (!pool.explicit && pool.ranges.size === 0) {
      this.#table.dropPool(this.#table.space(pool.space, pool.subnet.family), pool);
    }
  }

  // --- addresses ----------------------------------------------------------------------------

  async requestAddress(poolId: string, req: AddressRequest = {}): Promise<AddressAllocation> {
    const { pool, range } = this.#table.holder(poolId);
    const options = req.options ?? {};
    const serial = this.#serialOption(options);
    let offset: bigint;
    if (req.address !== undefined && req.address !== '') {
      const role = options[IPAM_REQUEST_ADDRESS_TYPE] === IPAM_GATEWAY_ADDRESS_TYPE ? 'gateway' : 'address';
      offset = this.#offsetOf(pool, req.address, role);
      if (!pool.addrs.allocate(offset))
        throw new AddressInUseError(formatIp(pool.subnet.family, pool.subnet.start + offset), pool.key);
    } else {
      const first = range === undefined ? pool.lo : range.first;
      const last = range === undefined ? pool.hi : range.last;
      const from = range === undefined ? pool.addrs.cursor : range.cursor;
      const found =
        first > last ? undefined : pool.addrs.allocateNext({ start: first, end: last, serial, from });
      if (found === undefined)
        throw new PoolExhaustedError(poolId, range === undefined ? pool.key : range.key);
      offset = found;
      if (serial) {
        const cursor = pool.addrs.after(found);
        if (range === undefined) pool.addrs.cursor = cursor;
        else range.cursor = cursor;
      }
    }
    return {
      address: `${formatIp(pool.subnet.family, pool.subnet.start + offset)}/${pool.subnet.len}`,
      data: {},
    };
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    const { pool } = this.#table.holder(poolId);
    const offset = this.#offsetOf(pool, address, 'address');
    if (!pool.addrs.release(offset)) {
      throw new AddressNotAllocatedError(formatIp(pool.subnet.family, pool.subnet.start + offset), poolId);
    }
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
}
