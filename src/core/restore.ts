/**
 * Start-up reconciliation: the store says what should exist; the kernel says what does.
 * (Longer than 400 lines on purpose: the steps below run in this order, each depending on the
 * previous; one file keeps the order and its reasons readable top to bottom.)
 *
 * 0. Removals a previous run left to the background (reclaim.ts) are finished.
 * 1. Networks in state `ready` are restored: IPAM allocations replayed (same subnets, gateways,
 *    auxiliary addresses, so nothing is handed out twice) and each driver rebuilds its state,
 *    adopting its kernel objects or making them again. A network `creating` or `deleting` is an
 *    operation a crash interrupted: it is rolled back (or finished).
 * 2. Sandboxes are adopted (their namespace still exists: a daemon restart) or made again at the
 *    same path (after a reboot).
 * 3. Endpoints: each record says what its last operation was. `ready` endpoints are restored
 *    (addresses replayed). An endpoint `creating` (a create, or a connect: endpoint + join) is
 *    rolled back whole; one `deleting` (a delete, or a disconnect: leave + delete) is finished;
 *    a join `joining` is undone and one `leaving` finished, the endpoint kept. Joins of a sandbox
 *    being removed are finished the same way.
 * 4. Joined endpoints are re-attached in join order (JoinRecord.seq), so interface names and the
 *    default route come back as they were; they keep their published ports (same host ports).
 *    Intact kernel objects are adopted; otherwise the endpoint joins again, same addresses.
 * 5. Sandboxes being removed, and implicit sandboxes left empty, are removed.
 * 6. Namespaces under `<runDir>/netns` and directories under `<runDir>/sandboxes` that no sandbox
 *    owns are deleted; drivers finish (firewall rebuilt in one transaction, orphans removed).
 * 7. Each sandbox's gateway endpoint (gateway.ts) is made to match what its endpoints ask for
 *    (a crash between a join and its gateway's).
 *
 * Recovery never lies: when undoing or finishing something fails, its record is kept (the next
 * start tries again), its addresses stay allocated, and the failure is in `problems`. Only what
 * was really done is in `rolledBack`.
 */

import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { deleteNetns, listNetns } from '../os/netns/index.ts';
import { restoredTime } from '../timestamp.ts';
import { needsReplay, replayAddresses, replayPools } from './addresses.ts';
import type { NetworkController } from './controller.ts';
import { Endpoint, type JoinState } from './endpoint.ts';
import { Network } from './network.ts';
import { del, type EndpointRecord, type JoinRecord, keys, put } from './persist.ts';
import { Rollback, Teardown } from './rollback.ts';
import type { Sandbox } from './sandbox.ts';

const _plain = (cidr: string) => cidr.split('/')[0] ?? cidr;

/** What a restore found and did: reported, never fatal for the rest of the state. */
export interface RestoreReport {
  restoredNetworks: number;
  restoredEndpoints: number;
  /** Interrupted operations undone or finished (really done: a failure is a problem instead). */
  rolledBack: string[];
  /** What could not be restored, undone or finished; its record is kept for the next start. */
  problems: string[];
}

/** What a record says to do with its endpoint (and its join) now. */
type Disposition =
  | { do: 'restore'; join?: JoinRecord } // keep the endpoint; re-attach `join` if given
  | { do: 'unjoin' } // keep the endpoint; undo (or finish taking down) its join
  | { do: 'remove' }; // undo the join, if any, and delete the endpoint

function dispositionOf(
  rec: EndpointRecord,
  sandboxGoing: (containerId: string) => boolean | undefined,
): Disposition {
  if (rec.state !== 'ready') return { do: 'remove' };
  const j = rec.join;
  if (!j) return { do: 'restore' };
  if (j.state !== 'joined') return { do: 'unjoin' };
  const going = sandboxGoing(j.containerId);
  if (going === undefined) return { do: 'restore', join: j };
  return going ? { do: 'remove' } : { do: 'unjoin' };
}

export async function restoreController(ctl: NetworkController): Promise<RestoreReport> {
  const r = new Restorer(ctl, await ctl.persist.load());
  await r.reclaims();
  await r.networks();
  await r.sandboxes();
  await r.endpoints();
  await r.joins();
  await r.emptySandboxes();
  r.orphans();
  await r.driversDone();
  for (const f of await ctl.gateways.restore())
    r.problem(`the gateway endpoint of ${f.containerId}`, f.error);
  ctl.lastRestore = r.report;
  return r.report;
}

/** One restore, step by step (the steps of this file's header, in that order). */
class Restorer {
  readonly report: RestoreReport = {
    restoredNetworks: 0,
    restoredEndpoints: 0,
    rolledBack: [],
    problems: [],
  };
  /** Sandboxes whose removal a crash interrupted: container ID → deleteEndpoints. */
  private readonly going = new Map<string, boolean>();
  /** Joins to re-attach, with their records. */
  private readonly pending: { ep: Endpoint; rec: EndpointRecord; join: JoinRecord }[] = [];

  constructor(
    readonly ctl: NetworkController,
    readonly records: Awaited<ReturnType<NetworkController['persist']['load']>>,
  ) {}

  problem(what: string, err: unknown): void {
    this.report.problems.push(`${what}: ${String(err)}`);
  }

  /**
   * 0. Kernel objects a previous run was removing in the background (reclaim.ts): removed now,
   * before anything else is adopted or made.
   */
  async reclaims(): Promise<void> {
    const recs = this.records.reclaims;
    if (recs.length === 0) return;
    try {
      this.report.rolledBack.push(...(await this.ctl.reclaimer.restore(recs)));
    } catch (err) {
      this.problem('pending removals (kept for the next start)', err);
    }
  }

  /** 1. Networks: restored, or their interrupted create/delete rolled back. */
  async networks(): Promise<void> {
    const { ctl, report, records } = this;
    const persist = ctl.persist;
    const problem = (what: string, err: unknown) => this.problem(what, err);
    for (const rec of records.networks) {
      let driver: Awaited<ReturnType<typeof ctl.drivers.networkDriver>>;
      try {
        driver = await ctl.drivers.networkDriver(rec.type);
      } catch (err) {
        problem(`network ${rec.name}: driver ${rec.type} not available, kept in the store`, err);
        continue;
      }
      try {
        const ipam = driver.skipsIpam ? undefined : await ctl.drivers.ipamDriver(rec.opts.ipamDriver);
        const n = new Network(ctl, driver, ipam, rec.id, rec.name, rec.type, rec.opts, rec.pools);
        n.createdAt = restoredTime(rec.created);
        n.driverData = { ...(rec.driverData ?? {}) };
        if (rec.state !== 'ready') {
          // Interrupted create or delete: nothing of it may stay. restoreNetwork rebuilds the
          // driver's memory of what may be half made (it may fail on a half-made network: the
          // deleteNetwork that follows is what tells whether anything is left).
          try {
            await driver.restoreNetwork?.(n.createRequest(), n.driverData);
          } catch {}
          await driver.deleteNetwork(rec.id);
          await persist.commit([
            ...records.endpoints
              .filter((x) => x.networkId === rec.id)
              .map((e) => del(keys.endpoint(rec.id, e.id))),
            del(keys.network(rec.id)),
          ]);
          report.rolledBack.push(`network ${rec.name} (${rec.state})`);
          continue;
        }
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
  }

  /** 2. Sandboxes: namespaces adopted or made again; removals under way noted. */
  async sandboxes(): Promise<void> {
    const { ctl, report, records } = this;
    const persist = ctl.persist;
    const problem = (what: string, err: unknown) => this.problem(what, err);
    for (const rec of records.sandboxes) {
      try {
        if (!ctl.sandboxes.restore(rec)) {
          // An external namespace that is gone: the sandbox is dropped; its joins are undone below.
          await persist.commit([del(keys.sandbox(rec.containerId))]);
          report.rolledBack.push(`sandbox of ${rec.containerId} (its namespace ${rec.key} is gone)`);
          continue;
        }
        if (rec.state === 'deleting') this.going.set(rec.containerId, rec.deleteEndpoints === true);
      } catch (err) {
        problem(`sandbox of ${rec.containerId}`, err);
      }
    }
  }

  /** 3. Endpoints: restored, or their interrupted operation undone or finished. */
  async endpoints(): Promise<void> {
    const { ctl, report, records } = this;
    const persist = ctl.persist;
    const problem = (what: string, err: unknown) => this.problem(what, err);
    let maxSeq = 0;
    for (const rec of records.endpoints) {
      const n = ctl.networkByID(rec.networkId);
      if (!n) {
        // Its network was rolled back above, or its record is gone: nothing of it can exist.
        if (!records.networks.some((x) => x.id === rec.networkId)) {
          await persist
            .commit([del(keys.endpoint(rec.networkId, rec.id))])
            .catch((err: unknown) => problem(`endpoint ${rec.name}`, err));
        }
        continue;
      }
      maxSeq = Math.max(maxSeq, rec.join?.seq ?? 0);
      const ep = new Endpoint(n, rec.id, rec.name, rec.iface, rec.poolV4, rec.poolV6, rec.options);
      const d = dispositionOf(rec, (c) => this.going.get(c));
      if (d.do === 'remove') {
        const done = await takeDown(ctl, ep, rec, true, report);
        if (!done) {
          // Still partly there: its addresses stay taken until a later start removes it.
          await replayAddresses(n, rec).catch((err: unknown) => problem(`endpoint ${rec.name}`, err));
        }
        continue;
      }
      try {
        await replayAddresses(n, rec);
        await n.driver.restoreEndpoint?.(ep.createRequest());
        n.adopt(ep);
        report.restoredEndpoints++;
      } catch (err) {
        problem(`endpoint ${rec.name}`, err);
        continue;
      }
      if (d.do === 'unjoin') await takeDown(ctl, ep, rec, false, report);
      else if (d.join) this.pending.push({ ep, rec, join: d.join });
    }
    ctl.nextJoinSeq(maxSeq);
  }

  /** 4. Joins, in join order: interface names and the default route come back as they were. */
  async joins(): Promise<void> {
    const { ctl, report } = this;
    const persist = ctl.persist;
    const problem = (what: string, err: unknown) => this.problem(what, err);
    this.pending.sort(
      (a, b) => (a.join.seq ?? Number.MAX_SAFE_INTEGER) - (b.join.seq ?? Number.MAX_SAFE_INTEGER),
    );
    for (const { ep, rec, join: j } of this.pending) {
      const sb = ctl.sandboxes.get(j.containerId);
      const driver = ep.network.driver;
      if (!sb) {
        // Its sandbox could not be restored (a problem above): undo the join.
        await takeDown(ctl, ep, rec, false, report);
        continue;
      }
      const seq = j.seq ?? ctl.nextJoinSeq();
      try {
        const intact =
          (await driver.restoreJoin?.(ep.network.id, ep.id, {
            portMappings: j.portMappings,
            sandboxKey: sb.key,
          })) ?? true;
        const ifThere = j.ifName === undefined || sb.os.interfaces().some((i) => i.name === j.ifName);
        if (intact && ifThere) {
          const state: JoinState = {
            containerId: j.containerId,
            sandbox: sb,
            routes: j.routes,
            portMappings: j.portMappings,
            seq,
            ...(j.ifName ? { ifName: j.ifName } : {}),
            ...(j.srcName ? { srcName: j.srcName } : {}),
            ...(j.inSandbox ? { inSandbox: true } : {}),
            ...(j.gateway ? { gateway: j.gateway } : {}),
            ...(j.gatewayIPv6 ? { gatewayIPv6: j.gatewayIPv6 } : {}),
            ...(j.gatewayService ? { gatewayService: true } : {}),
          };
          await sb.attach(ep, state);
          ep.setJoined(state);
          await ctl.clusterDns?.joined(sb, ep, { background: true });
        } else {
          // The kernel side is gone (a reboot, or someone deleted it): join again, same addresses.
          if (j.ifName && j.srcName && !j.inSandbox) sb.os.removeInterface(j.ifName, j.srcName);
          await ep.joinSandbox(sb, { ...(sb.options.driverOptions ?? {}) }, new Rollback(), seq);
          await persist.commit([put(keys.endpoint(ep.network.id, ep.id), ep.record('ready'))]);
        }
      } catch (err) {
        problem(`join of ${rec.name} by ${j.containerId}`, err);
      }
    }
  }

  /** 5. Sandboxes being removed, and implicit sandboxes left empty, go; the others get their files. */
  async emptySandboxes(): Promise<void> {
    const { ctl, report } = this;
    const persist = ctl.persist;
    const problem = (what: string, err: unknown) => this.problem(what, err);
    for (const sb of ctl.sandboxes.all()) {
      const removing = this.going.has(sb.containerId);
      if (sb.isEmpty() && (removing || !sb.explicit)) {
        try {
          await ctl.sandboxes.destroy(sb);
          await persist.commit([del(keys.sandbox(sb.containerId))]);
          if (removing) report.rolledBack.push(`removal of the sandbox of ${sb.containerId} (finished)`);
        } catch (err) {
          problem(`sandbox of ${sb.containerId}`, err);
        }
      } else {
        await sb.writeFiles().catch((err: unknown) => problem(`files of ${sb.containerId}`, err));
      }
    }
  }

  /** 6. Namespaces and sandbox directories nobody owns (a crash between making one and recording it). */
  orphans(): void {
    const { ctl, report } = this;
    const problem = (what: string, err: unknown) => this.problem(what, err);
    const live = ctl.sandboxes.all();
    const owned = new Set(live.map((s: Sandbox) => s.key));
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
    const dirs = new Set(live.map((s: Sandbox) => s.dir));
    const sandboxesDir = join(ctl.runDir, 'sandboxes');
    for (const id of readdirIfExists(sandboxesDir)) {
      if (dirs.has(join(sandboxesDir, id))) continue;
      try {
        rmSync(join(sandboxesDir, id), { recursive: true, force: true });
        report.rolledBack.push(`sandbox directory ${id} (no sandbox)`);
      } catch (err) {
        problem(`sandbox directory ${id}`, err);
      }
    }
  }

  /** Drivers finish: firewalls rebuilt, their own orphans removed. */
  async driversDone(): Promise<void> {
    const { ctl } = this;
    const problem = (what: string, err: unknown) => this.problem(what, err);
    for (const d of ctl.drivers.loadedNetworkDrivers()) {
      await d.restoreDone?.().catch((err: unknown) => problem(`driver ${d.type}`, err));
    }
  }
}

function readdirIfExists(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Undoes (or finishes taking down) an endpoint's join and, with `deleteEndpoint`, deletes the
 * endpoint, from its record alone. Every step is attempted; when one fails the record is kept
 * as it is (the next start tries again) and the failures are a problem. True when all was done.
 */
async function takeDown(
  ctl: NetworkController,
  ep: Endpoint,
  rec: EndpointRecord,
  deleteEndpoint: boolean,
  report: RestoreReport,
): Promise<boolean> {
  const n = ep.network;
  const driver = n.driver;
  const j = rec.join;
  const what = deleteEndpoint
    ? `endpoint ${rec.name} (${rec.state}${j ? `, join ${j.state}` : ''})`
    : `join of ${rec.name} by ${j?.containerId} (${j?.state})`;
  const t = new Teardown(what);
  if (deleteEndpoint) {
    // Rebuilds the driver's memory of an endpoint that may be half made; it may fail on exactly
    // that, and the deleteEndpoint below is what tells whether anything is left.
    try {
      await driver.restoreEndpoint?.(ep.createRequest());
    } catch {}
  }
  const sb = j ? ctl.sandboxes.get(j.containerId) : undefined;
  if (j) {
    if (sb && j.ifName) {
      const ifName = j.ifName;
      if (j.inSandbox) sb.os.forgetInterface(ifName);
      else await t.attempt(() => sb.os.removeInterface(ifName, j.srcName ?? ifName));
    }
    await t.attempt(() => driver.revokeExternalConnectivity?.(n.id, ep.id));
    await t.attempt(() => driver.leave(n.id, ep.id));
  }
  if (deleteEndpoint) await t.attempt(() => driver.deleteEndpoint(n.id, ep.id));
  if (t.failed) {
    report.problems.push(`${what}: ${t.errors.map(String).join('; ')}; kept on record for the next start`);
    return false;
  }
  const key = keys.endpoint(n.id, ep.id);
  const committed = await t.attempt(() =>
    ctl.persist.commit([deleteEndpoint ? del(key) : put(key, ep.record('ready'))]),
  );
  if (!committed) {
    report.problems.push(`${what}: ${t.errors.map(String).join('; ')}`);
    return false;
  }
  if (deleteEndpoint) n.forget(ep);
  report.rolledBack.push(what);
  return true;
}
