/**
 * What the core asks of an IPAM driver for its networks: pools, gateways and auxiliary addresses
 * at create (allocatePools), and the same requests again at start (replayPools, replayAddresses)
 * for IPAM drivers that keep no state of their own: allocations are not stored apart from the
 * network and endpoint records, so nothing can be handed out twice.
 */
import {
  DEFAULT_IPAM,
  IPAM_GATEWAY_ADDRESS_TYPE,
  IPAM_MAC_ADDRESS_OPTION,
  IPAM_REQUEST_ADDRESS_TYPE,
  type IpamDriver,
} from '../driver-api/ipam.ts';
import { InvalidOptionError } from '../errors/cnm.ts';
import { RestoreConflictError } from '../errors/lifecycle.ts';
import { cidrContains, familyOf, plain } from '../ip/index.ts';
import type { Network } from './network.ts';
import type { EndpointRecord, NetworkRecord } from './persist.ts';
import type { Rollback } from './rollback.ts';
import type { IpamConfigEntry, NormalisedNetworkOptions, PoolInfo } from './types.ts';

/** Pool, then gateway, then each auxiliary address, per config entry; `undo` gets the reverse. */
export async function allocatePools(
  ipam: IpamDriver,
  o: NormalisedNetworkOptions,
  rb: Rollback,
  opts: { skipGateway?: boolean } = {},
): Promise<PoolInfo[]> {
  const spaces = await ipam.defaultAddressSpaces();
  const entries: { entry: IpamConfigEntry; v6: boolean }[] = o.config.map((entry) => ({
    entry,
    v6: entry.subnet !== undefined && familyOf(entry.subnet) === 6,
  }));
  if (o.enableIPv4 !== false && !entries.some((e) => !e.v6)) entries.unshift({ entry: {}, v6: false });
  if (o.enableIPv6 && !entries.some((e) => e.v6)) entries.push({ entry: {}, v6: true });
  const pools: PoolInfo[] = [];
  for (const { entry, v6 } of entries) {
    const alloc = await ipam.requestPool({
      addressSpace: spaces.local,
      ...(entry.subnet ? { pool: entry.subnet } : {}),
      ...(entry.ipRange ? { subPool: entry.ipRange } : {}),
      options: { ...o.ipamOptions },
      v6,
    });
    rb.undoRecord(() => ipam.releasePool(alloc.poolId));
    // A driver whose gateway is outside the network gets one only when the user gave it.
    const gw =
      opts.skipGateway && !entry.gateway
        ? undefined
        : await ipam.requestAddress(alloc.poolId, {
            ...(entry.gateway ? { address: entry.gateway } : {}),
            options: { [IPAM_REQUEST_ADDRESS_TYPE]: IPAM_GATEWAY_ADDRESS_TYPE },
          });
    if (gw) rb.undoRecord(() => ipam.releaseAddress(alloc.poolId, plain(gw.address)));
    const aux: Record<string, string> = {};
    for (const [k, ip] of Object.entries(entry.auxAddresses ?? {})) {
      const a = await ipam.requestAddress(alloc.poolId, { address: ip });
      rb.undoRecord(() => ipam.releaseAddress(alloc.poolId, plain(a.address)));
      aux[k] = a.address;
    }
    pools.push({
      poolId: alloc.poolId,
      addressSpace: spaces.local,
      subnet: alloc.pool,
      ...(entry.ipRange ? { ipRange: entry.ipRange } : {}),
      ...(gw ? { gateway: gw.address } : {}),
      auxAddresses: aux,
      v6,
    });
  }
  return pools;
}

export async function replayPools(ipam: IpamDriver, rec: NetworkRecord): Promise<void> {
  for (const p of rec.pools) {
    const alloc = await ipam.requestPool({
      addressSpace: p.addressSpace ?? p.poolId.split('/')[0] ?? 'LocalDefault',
      pool: p.subnet,
      ...(p.ipRange ? { subPool: p.ipRange } : {}),
      options: { ...rec.opts.ipamOptions },
      v6: p.v6,
    });
    if (alloc.poolId !== p.poolId) {
      throw new RestoreConflictError(p.subnet, p.poolId, alloc.poolId);
    }
    if (p.gateway) {
      await ipam.requestAddress(p.poolId, {
        address: plain(p.gateway),
        options: { [IPAM_REQUEST_ADDRESS_TYPE]: IPAM_GATEWAY_ADDRESS_TYPE },
      });
    }
    for (const a of Object.values(p.auxAddresses)) await ipam.requestAddress(p.poolId, { address: plain(a) });
  }
}

const replayCache = new WeakMap<IpamDriver, Promise<boolean>>();
export function needsReplay(ipam: IpamDriver): Promise<boolean> {
  let r = replayCache.get(ipam);
  if (!r) {
    r =
      ipam.name === DEFAULT_IPAM
        ? Promise.resolve(true)
        : ipam.capabilities().then((c) => c.requiresRequestReplay);
    replayCache.set(ipam, r);
  }
  return r;
}

/** The endpoint's addresses, requested again as at create (with its MAC when the IPAM wants it). */
export async function replayAddresses(n: Network, rec: EndpointRecord): Promise<void> {
  if (!n.ipam || !(await needsReplay(n.ipam))) return;
  const mac = rec.iface.macAddress;
  const withMac = mac !== undefined && (await n.ipam.capabilities()).requiresMacAddress;
  const options = withMac ? { options: { [IPAM_MAC_ADDRESS_OPTION]: mac } } : {};
  if (rec.poolV4 && rec.iface.address)
    await n.ipam.requestAddress(rec.poolV4, { address: plain(rec.iface.address), ...options });
  if (rec.poolV6 && rec.iface.addressIPv6)
    await n.ipam.requestAddress(rec.poolV6, { address: plain(rec.iface.addressIPv6), ...options });
}

/**
 * An endpoint's address of one family from the network's pools: `wanted` (in one of them) or the
 * next free one; its release is registered on `rb`. Undefined when the network has no pool of that family.
 */
export async function allocateAddress(
  n: Network,
  v6: boolean,
  wanted: string | undefined,
  options: Record<string, string>,
  rb: Rollback,
): Promise<{ poolId: string; address: string } | undefined> {
  const ipam = n.ipam;
  const pools = n.pools.filter((p) => p.v6 === v6);
  if (!ipam || pools.length === 0) {
    if (wanted !== undefined) {
      throw new InvalidOptionError(
        v6 ? 'ipv6Address' : 'ipv4Address',
        wanted,
        `network ${n.name} has no subnet`,
      );
    }
    return undefined;
  }
  const candidates = wanted === undefined ? pools : pools.filter((p) => cidrContains(p.subnet, wanted));
  if (candidates.length === 0) {
    throw new InvalidOptionError(
      v6 ? 'ipv6Address' : 'ipv4Address',
      wanted,
      `not inside any subnet of network ${n.name} (${pools.map((p) => p.subnet).join(', ')})`,
    );
  }
  let last: unknown;
  for (const p of candidates) {
    try {
      const a = await ipam.requestAddress(p.poolId, {
        ...(wanted === undefined ? {} : { address: wanted }),
        ...(Object.keys(options).length > 0 ? { options: { ...options } } : {}),
      });
      rb.undoRecord(() => ipam.releaseAddress(p.poolId, plain(a.address)));
      return { poolId: p.poolId, address: a.address };
    } catch (err) {
      last = err;
      if (wanted !== undefined) throw err;
    }
  }
  throw last;
}
