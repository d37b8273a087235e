/**
 * Global IPAM: the address space `GlobalDefault`, shared by every host of a cluster, kept in the
 * cluster store (etcd) and changed only by its compare-and-swap transactions, so two hosts can
 * never hand out one subnet or one address twice, however they race.
 *
 * Keys (under the store's prefix):
 * - `ipam/pools/<subnet>`: `{ subnet, ipRange?, v6 }`, one per allocated pool. Pool creation also
 *   bumps `ipam/pools-rev` in the same transaction, with a check on its version: two hosts
 *   creating overlapping pools at once cannot both pass the overlap check.
 * - `ipam/addr/<subnet>/<ip>`: one per allocated address, made with `create` (the key must not
 *   exist): the store's CAS is the allocator. The value is `{}` for a gateway, else
 *   `{ host: <host ID> }` when the IPAM has an owner (the cluster's host): the cluster attaches
 *   the addresses of that host's published endpoints to its lease (they go with the host).
 *
 * The state lives in the store, not in memory: nothing is replayed at start
 * (`requiresRequestReplay: false`), and every host sees the same allocations.
 */
import {
  type AddressAllocation,
  type AddressRequest,
  type AddressSpaces,
  GLOBAL_ADDRESS_SPACE,
  IPAM_GATEWAY_ADDRESS_TYPE,
  IPAM_REQUEST_ADDRESS_TYPE,
  type IpamCapabilities,
  type IpamDriver,
  type PoolAllocation,
  type PoolRequest,
} from '../driver-api/ipam.ts';
import { type Cidr, cidrContains, familyBits, formatIp, parseCidr, parseIp } from '../ip/index.ts';
import { KeyExistsError, VersionMismatchError } from '../store/errors.ts';
import type { KvStore } from '../store/types.ts';
import {
  AddressInUseError,
  InvalidAddressError,
  InvalidAddressSpaceError,
  InvalidPoolIdError,
  InvalidSubnetError,
  NoMoreSubnetsError,
  PoolExhaustedError,
  PoolOverlapError,
  UnknownPoolError,
} from './errors.ts';

/** Name of the global IPAM driver (networks of global-scope drivers use it unless told otherwise). */
export const GLOBAL_IPAM = 'global-default';
const POOLS = 'ipam/pools/';
const POOLS_REV = 'ipam/pools-rev';
/** The key of an allocated address. */
export function addressKey(subnet: string, ip: string): string {
  return `ipam/addr/${subnet}/${ip}`;
}

/** The value of an address key: the host that allocated it (none for gateways). */
export interface AddressValue {
  host?: string;
}

/** How often a request re-reads and retries after losing a race to another host. */
const MAX_RACES = 64;

interface PoolValue {
  subnet: string;
  ipRange?: string;
  v6: boolean;
}

function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.ip.family !== b.ip.family) return false;
  const len = Math.min(a.len, b.len);
  const host = (1n << BigInt(familyBits(a.ip.family) - len)) - 1n;
  return (a.start & ~host) === (b.start & ~host);
}

function cidr(text: string, what: 'subnet' | 'ipRange'): Cidr {
  const c = parseCidr(text);
  if (typeof c === 'string' || !c.canonical) {
    throw new InvalidSubnetError(text, typeof c === 'string' ? c : `host bits are set (${what})`);
  }
  return c;
}

export class GlobalIpam implements IpamDriver {
  readonly name = GLOBAL_IPAM;

  constructor(
    private readonly store: KvStore,
    /** The host whose allocations these are (the cluster's host ID), recorded in address keys. */
    private readonly owner?: string,
  ) {}

  async capabilities(): Promise<IpamCapabilities> {
    return { requiresMacAddress: false, requiresRequestReplay: false };
  }

  async defaultAddressSpaces(): Promise<AddressSpaces> {
    return { local: GLOBAL_ADDRESS_SPACE, global: GLOBAL_ADDRESS_SPACE };
  }

  /** A pool in GlobalDefault: the subnet asked for, or the first free /24 of 10.0.0.0/8. */
  async requestPool(req: PoolRequest): Promise<PoolAllocation> {
    if (req.addressSpace !== GLOBAL_ADDRESS_SPACE) {
      throw new InvalidAddressSpaceError(req.addressSpace, [GLOBAL_ADDRESS_SPACE]);
    }
    const wanted = req.pool === undefined ? undefined : cidr(req.pool, 'subnet');
    if (req.subPool !== undefined) cidr(req.subPool, 'ipRange');
    for (let race = 0; race < MAX_RACES; race++) {
      const [rev, entries] = await Promise.all([this.store.get(POOLS_REV), this.store.list(POOLS)]);
      const taken = entries.map((e) => cidr((e.value as PoolValue).subnet, 'subnet'));
      const subnet = wanted ?? this.firstFree(taken, req.v6);
      const clash = taken.find((t) => overlaps(t, subnet));
      if (clash) throw new PoolOverlapError(GLOBAL_ADDRESS_SPACE, subnet.text, clash.text);
      const value: PoolValue = { subnet: subnet.text, v6: subnet.ip.family === 6 };
      if (req.subPool !== undefined) value.ipRange = req.subPool;
      try {
        await this.store.transaction([
          rev === undefined
            ? { type: 'create', key: POOLS_REV, value: 1 }
            : { type: 'put', key: POOLS_REV, value: Number(rev.value) + 1, ifVersion: rev.version },
          { type: 'create', key: POOLS + subnet.text, value },
        ]);
      } catch (err) {
        if (err instanceof KeyExistsError || err instanceof VersionMismatchError) continue; // raced: re-read
        throw err;
      }
      const poolId = `${GLOBAL_ADDRESS_SPACE}/${subnet.text}`;
      return { poolId, pool: subnet.text, data: {} };
    }
    throw new NoMoreSubnetsError(GLOBAL_ADDRESS_SPACE, req.v6 ? 'IPv6' : 'IPv4', 24);
  }

  private firstFree(taken: Cidr[], v6: boolean): Cidr {
    if (v6) throw new InvalidSubnetError('(none)', 'global IPv6 networks need an explicit subnet');
    for (let i = 0; i < 65536; i++) {
      const c = cidr(`10.${i >> 8}.${i & 255}.0/24`, 'subnet');
      if (!taken.some((t) => overlaps(t, c))) return c;
    }
    throw new NoMoreSubnetsError(GLOBAL_ADDRESS_SPACE, 'IPv4', 24);
  }

  async releasePool(poolId: string): Promise<void> {
    const subnet = this.subnetOf(poolId);
    for (const e of await this.store.list(`ipam/addr/${subnet}/`)) await this.store.delete(e.key);
    await this.store.delete(POOLS + subnet);
  }

  /**
   * The address asked for, the gateway (first host address), or a free one: one `create` of its
   * key; on losing a race to another host, the next free one.
   */
  async requestAddress(poolId: string, req: AddressRequest = {}): Promise<AddressAllocation> {
    const subnet = this.subnetOf(poolId);
    const pool = await this.store.get(POOLS + subnet);
    if (!pool) throw new UnknownPoolError(poolId);
    const p = pool.value as PoolValue;
    const net = cidr(p.subnet, 'subnet');
    const range = p.ipRange === undefined ? net : cidr(p.ipRange, 'ipRange');
    const gateway = req.options?.[IPAM_REQUEST_ADDRESS_TYPE] === IPAM_GATEWAY_ADDRESS_TYPE;
    const prefix = `ipam/addr/${subnet}/`;
    const value: AddressValue = gateway || this.owner === undefined ? {} : { host: this.owner };
    if (req.address !== undefined || gateway) {
      const ip = req.address ?? formatIp(net.ip.family, net.start + 1n);
      const a = parseIp(ip, { family: net.ip.family });
      if (typeof a === 'string') throw new InvalidAddressError(ip, p.subnet, a);
      if (!cidrContains(p.subnet, a.text))
        throw new InvalidAddressError(ip, p.subnet, 'it is not in the subnet');
      try {
        await this.store.create(prefix + a.text, value);
      } catch (err) {
        if (err instanceof KeyExistsError) throw new AddressInUseError(a.text, p.subnet);
        throw err;
      }
      return { address: `${a.text}/${net.len}`, data: {} };
    }
    for (let race = 0; race < MAX_RACES; race++) {
      const used = new Set((await this.store.list(prefix)).map((e) => e.key.slice(prefix.length)));
      const free = this.freeAddresses(net, range, used, 32);
      if (free.length === 0) throw new PoolExhaustedError(poolId, range.text);
      // Racing hosts pick among the first free addresses at random: fewer collisions than all
      // taking the very first one.
      const ip = free[Math.floor(Math.random() * free.length)]!;
      try {
        await this.store.create(prefix + ip, value);
        return { address: `${ip}/${net.len}`, data: {} };
      } catch (err) {
        if (!(err instanceof KeyExistsError)) throw err;
      }
    }
    throw new PoolExhaustedError(poolId, range.text);
  }

  /** Up to `n` free host addresses of `range` (inside `net`: not its network or broadcast address). */
  private freeAddresses(net: Cidr, range: Cidr, used: Set<string>, n: number): string[] {
    const bits = familyBits(net.ip.family);
    const netLast = net.start + (1n << BigInt(bits - net.len)) - 1n;
    const last = range.start + (1n << BigInt(bits - range.len)) - 1n;
    const out: string[] = [];
    for (let v = range.start; v <= last && out.length < n; v++) {
      if (v === net.start || (net.ip.family === 4 && v === netLast)) continue;
      const t = formatIp(net.ip.family, v);
      if (!used.has(t)) out.push(t);
    }
    return out;
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    const subnet = this.subnetOf(poolId);
    const a = parseIp(address);
    if (typeof a === 'string') throw new InvalidAddressError(address, subnet, a);
    const key = addressKey(subnet, a.text);
    if (this.owner === undefined) {
      await this.store.delete(key);
      return;
    }
    // Only this host's: after a cut-off longer than its lease, another host may hold it now.
    const have = await this.store.get(key);
    const host = (have?.value as AddressValue | undefined)?.host;
    if (!have || (host !== undefined && host !== this.owner)) return;
    await this.store.compareAndDelete(key, have.version);
  }

  private subnetOf(poolId: string): string {
    const head = `${GLOBAL_ADDRESS_SPACE}/`;
    if (!poolId.startsWith(head)) throw new InvalidPoolIdError(poolId);
    const subnet = poolId.slice(head.length);
    const c = parseCidr(subnet);
    if (typeof c === 'string' || !c.canonical) throw new InvalidPoolIdError(poolId);
    return c.text;
  }
}
