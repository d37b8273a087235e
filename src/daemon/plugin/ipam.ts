/**
 * IpamDriver `dnet`: Docker's IPAM calls on dnet's built-in IPAM, so one allocator holds every
 * address on the host, whoever asked.
 *
 * Docker asks for the pool, the gateway and the auxiliary addresses before CreateNetwork, and for
 * each endpoint's address before CreateEndpoint. Those allocations are real (made in dnet's IPAM,
 * so nothing else gets them) and held here until the network or endpoint that carries them is
 * created: then they are handed over (released here, requested again by the dnet network or
 * endpoint, with the same pool ID), and from then on the network's and endpoint's records own them
 * (replayed after a restart like any other). What is held here is in memory only: after a dnet
 * restart, Docker's next call for it is CreateNetwork/CreateEndpoint, which allocates it again.
 * Releases of what is no longer held (the network or endpoint is gone, and released it) succeed.
 */
import {
  IPAM_GATEWAY_ADDRESS_TYPE,
  IPAM_REQUEST_ADDRESS_TYPE,
  type IpamDriver,
} from '../../driver-api/ipam.ts';
import { plain } from '../../ip/index.ts';

interface Held {
  /** The pool itself is held (RequestPool, no network yet). */
  pool?: { subnet: string; subPool?: string };
  /** Plain addresses held in the pool. */
  addresses: Set<string>;
}

export class DockerIpam {
  private readonly held = new Map<string, Held>();

  constructor(private readonly ipam: () => Promise<IpamDriver>) {}

  async defaultAddressSpaces(): Promise<{ local: string; global: string }> {
    return (await this.ipam()).defaultAddressSpaces();
  }

  async requestPool(req: {
    addressSpace: string;
    pool?: string;
    subPool?: string;
    options: Record<string, string>;
    v6: boolean;
  }): Promise<{ poolId: string; pool: string }> {
    const ipam = await this.ipam();
    const spaces = await ipam.defaultAddressSpaces();
    const a = await ipam.requestPool({
      addressSpace: req.addressSpace || spaces.local,
      ...(req.pool ? { pool: req.pool } : {}),
      ...(req.subPool ? { subPool: req.subPool } : {}),
      options: req.options,
      v6: req.v6,
    });
    this.held.set(a.poolId, {
      pool: { subnet: a.pool, ...(req.subPool ? { subPool: req.subPool } : {}) },
      addresses: new Set(),
    });
    return { poolId: a.poolId, pool: a.pool };
  }

  async releasePool(poolId: string): Promise<void> {
    const h = this.held.get(poolId);
    if (!h) return; // the network had it, and released it when it went
    const ipam = await this.ipam();
    for (const a of h.addresses) await ipam.releaseAddress(poolId, a);
    h.addresses.clear();
    if (h.pool) await ipam.releasePool(poolId);
    this.held.delete(poolId);
  }

  async requestAddress(
    poolId: string,
    address: string | undefined,
    options: Record<string, string>,
  ): Promise<string> {
    const ipam = await this.ipam();
    const gateway = options[IPAM_REQUEST_ADDRESS_TYPE] === IPAM_GATEWAY_ADDRESS_TYPE;
    const a = await ipam.requestAddress(poolId, {
      ...(address ? { address } : {}),
      ...(gateway ? { options: { [IPAM_REQUEST_ADDRESS_TYPE]: IPAM_GATEWAY_ADDRESS_TYPE } } : {}),
    });
    let h = this.held.get(poolId);
    if (!h) {
      h = { addresses: new Set() };
      this.held.set(poolId, h);
    }
    h.addresses.add(plain(a.address));
    return a.address;
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    const h = this.held.get(poolId);
    if (!h?.addresses.has(address)) return; // an endpoint or network had it, and released it
    await (await this.ipam()).releaseAddress(poolId, address);
    h.addresses.delete(address);
    if (!h.pool && h.addresses.size === 0) this.held.delete(poolId);
  }

  /**
   * CreateNetwork: the pool of `subnet` and the addresses in it held for Docker are released, for
   * the network to allocate them again. Returns the pool's sub-pool (Docker's IPRange), if any.
   */
  async handOverPool(subnet: string): Promise<{ subPool?: string } | undefined> {
    for (const [poolId, h] of this.held) {
      if (h.pool?.subnet !== subnet) continue;
      const subPool = h.pool.subPool;
      await this.releasePool(poolId);
      return subPool ? { subPool } : {};
    }
    return undefined;
  }

  /** CreateEndpoint: an address held for Docker is released, for the endpoint to allocate it again. */
  async handOverAddress(address: string): Promise<void> {
    for (const [poolId, h] of this.held) {
      if (h.addresses.has(address)) {
        await this.releaseAddress(poolId, address);
        return;
      }
    }
  }

  /** What is held, for tests and logs. */
  heldCount(): number {
    let n = 0;
    for (const h of this.held.values()) n += (h.pool ? 1 : 0) + h.addresses.size;
    return n;
  }
}
