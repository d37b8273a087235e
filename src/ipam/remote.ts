/**
 * The remote IPAM driver: an IpamDriver that forwards every call to a Docker IPAM plugin
 * (`IpamDriver.*`, libnetwork docs/ipam.md; error field `Error`). The core calls it in Docker's
 * order (pool, gateway, auxiliary addresses on network create; the reverse on delete).
 *
 * Replies are checked before use: a pool is a CIDR of the family asked for (and the subnet asked
 * for, when one was); an address is a CIDR inside its pool (and the address asked for, when one
 * was). A reply that breaks a rule is a PluginReplyError, and what the plugin allocated for it is
 * released again (ReleasePool, ReleaseAddress) where the reply says what that is.
 *
 * `GetCapabilities` is optional (a 404 means no capabilities), as in dockerd.
 */
import type {
  AddressAllocation,
  AddressRequest,
  AddressSpaces,
  IpamCapabilities,
  IpamDriver,
  PoolAllocation,
  PoolRequest,
} from '../driver-api/ipam.ts';
import { cidrContains, familyOf, networkOf } from '../ip/index.ts';
import type { PluginClient } from '../plugins/client.ts';
import { PluginCallError, PluginReplyError } from '../plugins/errors.ts';
import type { PluginRegistry } from '../plugins/registry.ts';
import { type Family, parseIp, Reply } from '../plugins/reply.ts';

export const IPAM_DRIVER_SUBSYSTEM = 'IpamDriver';

export class RemoteIpam implements IpamDriver {
  readonly name: string;
  private caps: IpamCapabilities | undefined;
  /** The pools handed out, by ID: to check addresses against. */
  private readonly pools = new Map<string, string>();

  constructor(readonly client: PluginClient) {
    this.name = client.name;
  }

  /** The resolver the controller installs: the IPAM driver of the plugin `name`, if there is one. */
  static async resolve(registry: PluginRegistry, name: string): Promise<RemoteIpam | undefined> {
    const client = await registry.clientFor(name, IPAM_DRIVER_SUBSYSTEM);
    return client ? new RemoteIpam(client) : undefined;
  }

  private async call(method: string, args: unknown): Promise<Reply> {
    const m = `${IPAM_DRIVER_SUBSYSTEM}.${method}`;
    return new Reply(this.client.name, m, await this.client.call(m, args, 'Error'));
  }

  /** Undoes an allocation whose reply was refused; the error says how that went. */
  private async undo(err: PluginReplyError, method: string, args: unknown): Promise<never> {
    try {
      await this.call(method, args);
      err.rolledBack(`released again with ${IPAM_DRIVER_SUBSYSTEM}.${method}`);
    } catch (e) {
      err.rolledBack(
        `releasing it with ${IPAM_DRIVER_SUBSYSTEM}.${method} failed too: ${(e as Error).message}`,
      );
    }
    throw err;
  }

  async capabilities(): Promise<IpamCapabilities> {
    if (this.caps) return { ...this.caps };
    let caps: IpamCapabilities;
    try {
      const r = await this.call('GetCapabilities', undefined);
      caps = {
        requiresMacAddress: r.bool('RequiresMACAddress'),
        requiresRequestReplay: r.bool('RequiresRequestReplay'),
      };
    } catch (err) {
      if (!(err instanceof PluginCallError && err.notImplemented)) throw err;
      caps = { requiresMacAddress: false, requiresRequestReplay: false };
    }
    this.caps = caps;
    return { ...caps };
  }

  async defaultAddressSpaces(): Promise<AddressSpaces> {
    const r = await this.call('GetDefaultAddressSpaces', undefined);
    return {
      local: r.optString('LocalDefaultAddressSpace') ?? '',
      global: r.optString('GlobalDefaultAddressSpace') ?? '',
    };
  }

  async requestPool(req: PoolRequest): Promise<PoolAllocation> {
    const r = await this.call('RequestPool', {
      AddressSpace: req.addressSpace,
      Pool: req.pool ?? '',
      SubPool: req.subPool ?? '',
      Options: { ...(req.options ?? {}) },
      V6: req.v6,
    });
    const poolIdRaw = r.body.PoolID;
    try {
      const poolId = r.string('PoolID');
      const family: Family = req.pool ? familyOf(req.pool) : req.v6 ? 6 : 4;
      const cidr = r.optCidr('Pool', family);
      if (cidr === undefined) throw r.bad('Pool', 'is missing');
      const pool = networkOf(cidr);
      if (req.pool && pool !== networkOf(req.pool)) {
        throw r.fail(`"Pool" is ${pool}, but ${req.pool} was asked for`);
      }
      const data = r.stringMap('Data');
      this.pools.set(poolId, pool);
      return { poolId, pool, data };
    } catch (err) {
      if (err instanceof PluginReplyError && typeof poolIdRaw === 'string' && poolIdRaw !== '') {
        return this.undo(err, 'ReleasePool', { PoolID: poolIdRaw });
      }
      throw err;
    }
  }

  async releasePool(poolId: string): Promise<void> {
    await this.call('ReleasePool', { PoolID: poolId });
    this.pools.delete(poolId);
  }

  async requestAddress(poolId: string, req: AddressRequest = {}): Promise<AddressAllocation> {
    const r = await this.call('RequestAddress', {
      PoolID: poolId,
      Address: req.address ?? '',
      Options: { ...(req.options ?? {}) },
    });
    const pool = this.pools.get(poolId);
    const raw = r.body.Address;
    try {
      const address = r.optCidr('Address', pool ? familyOf(pool) : undefined);
      if (address === undefined) throw r.bad('Address', 'is missing (no address was returned)');
      const ip = address.split('/')[0] ?? '';
      if (pool && !cidrContains(pool, ip))
        throw r.fail(`"Address" ${address} is not inside the pool ${pool}`);
      if (req.address !== undefined && parseIp(req.address) !== ip) {
        throw r.fail(`"Address" is ${address}, but ${req.address} was asked for`);
      }
      return { address, data: r.stringMap('Data') };
    } catch (err) {
      const ip = typeof raw === 'string' ? parseIp(raw.split('/')[0] ?? '') : undefined;
      if (err instanceof PluginReplyError && ip !== undefined) {
        return this.undo(err, 'ReleaseAddress', { PoolID: poolId, Address: ip });
      }
      throw err;
    }
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    await this.call('ReleaseAddress', { PoolID: poolId, Address: address });
  }
}
