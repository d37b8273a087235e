/**
 * Start-up reconciliation: the store says what should exist; the kernel says what does.
 *
 * 1. Networks and endpoints in state `ready` are restored: IPAM allocations replayed (same
 *    subnets, gateways, auxiliary and endpoint addresses, so nothing is handed out twice), and each
 *    driver rebuilds its state, adopting its kernel objects or making them again. Records in state
 *    `creating` or `deleting` are operations a crash interrupted: they are rolled back/finished.
 * 2. Sandboxes are adopted (their namespace still exists: a daemon restart) or made again at the
 *    same path (after a reboot).
 * 3. Joined endpoints keep their published ports (same host ports); when their interface is
 *    intact they are adopted, otherwise they join again. Joins a crash left half done
 *    (`joining`, `leaving`) are undone. Implicit sandboxes left empty are removed.
 * 4. Namespaces under `<runDir>/netns` that no sandbox owns are deleted; drivers finish
 *    (firewall rebuilt in one transaction, orphaned links removed).
 */

import {
  DEFAULT_IPAM,
  IPAM_GATEWAY_ADDRESS_TYPE,
  IPAM_MAC_ADDRESS_OPTION,
  IPAM_REQUEST_ADDRESS_TYPE,
  type IpamDriver,
} from '../driver-api/ipam.ts';
import { deleteNetns, listNetns } from '../os/netns/index.ts';
import { Endpoint, type JoinState, Network, type NetworkController } from './controller.ts';
import { type EndpointRecord, keys, type NetworkRecord } from './persist.ts';
import type { Sandbox } from './sandbox.ts';

const plain = (cidr: string) => cidr.split('/')[0] ?? cidr;

/** Problems met while restoring: reported, never fatal for the rest of the state. */
export interface RestoreReport {
  restoredNetworks: number;
  restoredEndpoints: number;
  rolledBack: string[];
  problems: string[];
}

async function replayPools(ipam: IpamDriver, rec: NetworkRecord): Promise<void> {
  for (const p of rec.pools) {
    const alloc = await ipam.requestPool({
      addressSpace: p.addressSpace ?? p.poolId.split('/')[0] ?? 'LocalDefault',
      pool: p.subnet,
      ...(p.ipRange ? { subPool: p.ipRange } : {}),
      options: { ...rec.opts.ipamOptions },
      v6: p.v6,
    });
    if (alloc.poolId !== p.poolId) {
      throw new Error(`IPAM gave pool ${alloc.poolId} for ${p.subnet}, the store says ${p.poolId}`);
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
function needsReplay(ipam: IpamDriver): Promise<boolean> {
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

export async function restoreController(ctl: NetworkController): Promise<RestoreReport> {
  const report: RestoreReport = { restoredNetworks: 0, restoredEndpoints: 0, rolledBack: [], problems: [] };
  const persist = ctl.persist;
  const { networks, endpoints, sandboxes } = await persist.load();
  const problem = (what: string, err: unknown) => report.problems.push(`${what}: ${String(err)}`);

  // 1. networks
  for (const rec of networks) {
    let driver: Awaited<ReturnType<typeof ctl.drivers.networkDriver>>;
    try {
      driver = await ctl.drivers.networkDriver(rec.type);
    } catch (err) {
      problem(`network ${rec.name}: driver ${rec.type} not available, kept in the store`, err);
      continue;
    }
    const ipam = driver.skipsIpam ? undefined : await ctl.drivers.ipamDriver(rec.opts.ipamDriver);
    const n = new Network(ctl, driver, ipam, rec.id, rec.name, rec.type, rec.opts, rec.pools);
    n.created = new Date(rec.created);
    n.driverData = { ...(rec.driverData ?? {}) };
    if (rec.state !== 'ready') {
      // Interrupted create or delete: make sure nothing of it stays.
      await driver.restoreNetwork?.(n.createRequest(), n.driverData).catch(() => undefined);
      await driver.deleteNetwork(rec.id).catch(() => undefined);
      for (const e of endpoints.filter((x) => x.networkId === rec.id))
        await persist.delete(keys.endpoint(rec.id, e.id));
      await persist.delete(keys.network(rec.id));
      report.rolledBack.push(`network ${rec.name} (${rec.state})`);
      continue;
    }
    try {
      // The built-in IPAM keeps no state of its own: replay. A remote IPAM keeps its own, and
      // gets the requests again only when it asks for it (RequiresRequestReplay), as dockerd does.
      if (ipam && (await needsReplay(ipam))) await replayPools(ipam, rec);
      await driver.restoreNetwork?.(n.createRequest(), n.driverData);
      ctl.adopt(n);
      report.restoredNetworks++;
    } catch (err) {
      problem(`network ${rec.name}`, err);
    }
  }

  // 2. endpoints
  const joins: { ep: Endpoint; rec: EndpointRecord }[] = [];
  for (const rec of endpoints) {
    const n = ctl.networkByID(rec.networkId);
    if (!n) {
      if (!networks.some((x) => x.id === rec.networkId))
        await persist.delete(keys.endpoint(rec.networkId, rec.id));
      continue;
    }
    const ep = new Endpoint(n, rec.id, rec.name, rec.iface, rec.poolV4, rec.poolV6, rec.options);
    if (rec.state !== 'ready') {
      await n.driver.restoreEndpoint?.(ep.createRequest()).catch(() => undefined);
      await n.driver.deleteEndpoint(n.id, rec.id).catch(() => undefined);
      await persist.delete(keys.endpoint(n.id, rec.id));
      report.rolledBack.push(`endpoint ${rec.name} (${rec.state})`);
      continue;
    }
    try {
      if (n.ipam && (await needsReplay(n.ipam))) {
        // The same request as at create: with the endpoint's MAC when the driver wants it.
        const mac = rec.iface.macAddress;
        const withMac = mac !== undefined && (await n.ipam.capabilities()).requiresMacAddress;
        const options = withMac ? { options: { [IPAM_MAC_ADDRESS_OPTION]: mac } } : {};
        if (rec.poolV4 && rec.iface.address)
          await n.ipam.requestAddress(rec.poolV4, { address: plain(rec.iface.address), ...options });
        if (rec.poolV6 && rec.iface.addressIPv6)
          await n.ipam.requestAddress(rec.poolV6, { address: plain(rec.iface.addressIPv6), ...options });
      }
      await n.driver.restoreEndpoint?.(ep.createRequest());
      n.adopt(ep);
      report.restoredEndpoints++;
      if (rec.join) joins.push({ ep, rec });
    } catch (err) {
      problem(`endpoint ${rec.name}`, err);
    }
  }

  // 3. sandboxes
  for (const rec of sandboxes) {
    try {
      if (!ctl.sandboxes.restore(rec)) {
        // An external namespace that is gone: the sandbox is dropped; its joins are undone below.
        await persist.delete(keys.sandbox(rec.containerId));
        report.rolledBack.push(`sandbox of ${rec.containerId} (its namespace ${rec.key} is gone)`);
      }
    } catch (err) {
      problem(`sandbox of ${rec.containerId}`, err);
    }
  }

  // 4. joins, in a stable order so interfaces keep their names
  for (const { ep, rec } of joins) {
    const j = rec.join;
    if (!j) continue;
    const sb = ctl.sandboxes.get(j.containerId);
    const driver = ep.network.driver;
    if (!sb || j.state !== 'joined') {
      // Interrupted join or leave: undo what may be there.
      if (sb && j.ifName && j.srcName)
        await Promise.resolve(sb.os.removeInterface(j.ifName, j.srcName)).catch(() => undefined);
      await driver.revokeExternalConnectivity?.(ep.network.id, ep.id).catch(() => undefined);
      await driver.leave(ep.network.id, ep.id).catch(() => undefined);
      await persist.put(keys.endpoint(ep.network.id, ep.id), ep.record('ready'));
      report.rolledBack.push(`join of ${rec.name} by ${j.containerId} (${j.state})`);
      continue;
    }
    try {
      const intact =
        (await driver.restoreJoin?.(ep.network.id, ep.id, { portMappings: j.portMappings })) ?? true;
      const ifThere = j.ifName === undefined || sb.os.interfaces().some((i) => i.name === j.ifName);
      if (intact && ifThere) {
        const state: JoinState = {
          containerId: j.containerId,
          sandbox: sb,
          routes: j.routes,
          portMappings: j.portMappings,
          ...(j.ifName ? { ifName: j.ifName } : {}),
          ...(j.srcName ? { srcName: j.srcName } : {}),
          ...(j.inSandbox ? { inSandbox: true } : {}),
          ...(j.gateway ? { gateway: j.gateway } : {}),
          ...(j.gatewayIPv6 ? { gatewayIPv6: j.gatewayIPv6 } : {}),
        };
        sb.attach(ep, state);
        ep.setJoined(state);
      } else {
        // The kernel side is gone (a reboot, or someone deleted it): join again, same addresses.
        if (j.ifName && j.srcName)
          await Promise.resolve(sb.os.removeInterface(j.ifName, j.srcName)).catch(() => undefined);
        await ep.connect(sb, { ...(sb.options.driverOptions ?? {}) }, []);
      }
    } catch (err) {
      problem(`join of ${rec.name} by ${j.containerId}`, err);
      await persist.put(keys.endpoint(ep.network.id, ep.id), ep.record('ready')).catch(() => undefined);
    }
  }

  // 5. empty implicit sandboxes go; the others get their files rewritten
  for (const sb of ctl.sandboxes.all()) {
    if (sb.isEmpty() && !sb.explicit) {
      await ctl.sandboxes.destroy(sb).catch((err: unknown) => problem(`sandbox of ${sb.containerId}`, err));
      await persist.delete(keys.sandbox(sb.containerId));
    } else {
      await sb.writeFiles().catch((err: unknown) => problem(`files of ${sb.containerId}`, err));
    }
  }

  // 6. namespaces nobody owns (a crash between creating one and recording it)
  const owned = new Set(ctl.sandboxes.all().map((s: Sandbox) => s.key));
  for (const name of listNetns({ runDir: ctl.runDir })) {
    const path = `${ctl.runDir}/netns/${name}`;
    if (name !== 'default' && !owned.has(path)) {
      try {
        deleteNetns(path);
        report.rolledBack.push(`namespace ${name} (no sandbox)`);
      } catch (err) {
        problem(`namespace ${name}`, err);
      }
    }
  }

  for (const d of ctl.drivers.loadedNetworkDrivers()) {
    await d.restoreDone?.().catch((err: unknown) => problem(`driver ${d.type}`, err));
  }
  ctl.lastRestore = report;
  return report;
}
