/**
 * An endpoint: what joins a sandbox to a network (a veth pair, a macvlan...), and its join. Every
 * change is one operation with its intent and its result recorded (persist.ts); a teardown tries
 * every step and reports every failure.
 *
 * Longer than 400 lines on purpose: join, leave, delete and their teardown are one protocol over
 * one record (intent committed, kernel steps, result committed); kept in one class, a reader sees
 * every state the record can be left in by a crash in one place (docs/persistence.md).
 */
import type { CreateEndpointRequest, PortMapping } from '../driver-api/driver.ts';
import { InvalidOptionError } from '../errors/cnm.ts';
import {
  ActiveContainerError,
  InvalidJoinError,
  NoContainerError,
  UnknownEndpointError,
} from '../errors/endpoint.ts';
import { validateContainerId } from '../errors/validate.ts';
import { plain } from '../ip/index.ts';
import { GatewayService } from './gateway.ts';
import type { KeyedLock } from './lock.ts';
import type { Network } from './network.ts';
import { containerEvent } from './observer.ts';
import { checkStringMap, ENDPOINT_IFNAME_OPTION } from './options.ts';
import { type Change, del, type EndpointRecord, type JoinRecord, keys, put } from './persist.ts';
import type { ReclaimRecord } from './reclaim.ts';
import { Rollback, Teardown } from './rollback.ts';
import type { Sandbox } from './sandbox.ts';
import { endpointDnsNames } from './sandbox-dns.ts';
import type { EndpointCreateOptions, EndpointInfo, JoinOptions } from './types.ts';

/** The intent of a join: recorded before the join's first step. */
export function joiningRecord(containerId: string, seq: number): JoinRecord {
  return { containerId, state: 'joining', seq, routes: [], portMappings: [] };
}

/** The state of an endpoint's join: where it is, and what it put there. */
export interface JoinState {
  containerId: string;
  sandbox: Sandbox;
  /** The interface's name inside the sandbox, when the driver gave one. */
  ifName?: string;
  srcName?: string;
  gateway?: string;
  gatewayIPv6?: string;
  routes: { destination: string; nextHop?: string }[];
  /** Published ports as the driver made them (host ports filled in). */
  portMappings: PortMapping[];
  /** The driver made the interface inside the sandbox and removes it itself. */
  inSandbox?: boolean;
  /** The join's place in join order (JoinRecord.seq). */
  seq: number;
  /** The driver asked for the gateway service (gateway.ts): no way out of its own. */
  gatewayService?: boolean;
}

/** The join record of a join in `state`. */
function joinRecordOf(j: JoinState, state: JoinRecord['state']): JoinRecord {
  return {
    containerId: j.containerId,
    state,
    seq: j.seq,
    ...(j.ifName ? { ifName: j.ifName } : {}),
    ...(j.srcName ? { srcName: j.srcName } : {}),
    ...(j.inSandbox ? { inSandbox: true } : {}),
    ...(j.gateway ? { gateway: j.gateway } : {}),
    ...(j.gatewayIPv6 ? { gatewayIPv6: j.gatewayIPv6 } : {}),
    ...(j.gatewayService ? { gatewayService: true } : {}),
    routes: j.routes,
    portMappings: j.portMappings,
  };
}

export class Endpoint {
  private joined: JoinState | undefined;
  private deleted = false;

  /** @internal */
  constructor(
    readonly network: Network,
    readonly id: string,
    readonly name: string,
    /** @internal */ readonly iface: { address?: string; addressIPv6?: string; macAddress?: string },
    /** @internal */ readonly poolV4: string | undefined,
    /** @internal */ readonly poolV6: string | undefined,
    /** @internal */ readonly options: EndpointCreateOptions = {},
  ) {}

  private get locks(): KeyedLock {
    return this.network.controller.locks;
  }

  /** The container joined to this endpoint, if any. */
  get containerId(): string | undefined {
    return this.joined?.containerId;
  }

  /** @internal */
  get joinState(): JoinState | undefined {
    return this.joined;
  }

  /** @internal Restore: the endpoint is joined (its kernel objects are in place). */
  setJoined(state: JoinState | undefined): void {
    this.joined = state;
  }

  /** @internal The endpoint's record; its join as it is now, unless `join` says otherwise. */
  record(state: EndpointRecord['state'], join?: JoinRecord): EndpointRecord {
    const jr = join ?? (this.joined ? joinRecordOf(this.joined, 'joined') : undefined);
    return {
      id: this.id,
      name: this.name,
      networkId: this.network.id,
      state,
      iface: { ...this.iface },
      ...(this.poolV4 ? { poolV4: this.poolV4 } : {}),
      ...(this.poolV6 ? { poolV6: this.poolV6 } : {}),
      options: this.options,
      ...(jr ? { join: jr } : {}),
    };
  }

  /** @internal The request the driver got (or gets again on restore). */
  createRequest(): CreateEndpointRequest {
    return {
      networkId: this.network.id,
      endpointId: this.id,
      iface: { ...this.iface },
      options: {
        exposedPorts: [...(this.options.exposedPorts ?? [])],
        portBindings: [...(this.options.portBindings ?? [])],
        generic: { ...(this.options.driverOptions ?? {}) },
      },
    };
  }

  private get key(): string {
    return keys.endpoint(this.network.id, this.id);
  }

  /**
   * Joins a container: its sandbox is created on its first join; the driver's interface is
   * moved into it, addressed and routed; hosts and resolv.conf are (re)written.
   */
  join(containerId: string, options: JoinOptions = {}): Promise<{ sandboxKey: string }> {
    const n = this.network;
    const join = async () => {
      const r = await this.joinNow(containerId, options);
      await this.syncGateway(containerId, 'leave');
      return r;
    };
    return n.controller.observers.run('connect', join, () =>
      containerEvent('connect', n, containerId, this.id),
    );
  }

  private async joinNow(containerId: string, options: JoinOptions): Promise<{ sandboxKey: string }> {
    validateContainerId(containerId);
    const driverOptions = checkStringMap('driverOptions', options.driverOptions);
    const ctl = this.network.controller;
    ctl.checkOpen();
    return this.locks.run(`ep:${this.id}`, () =>
      this.locks.run(`sb:${containerId}`, async () => {
        if (this.deleted) throw new UnknownEndpointError(this.name, this.network.name);
        if (this.joined) throw new InvalidJoinError(this.name, this.joined.containerId);
        const host = this.network.driver.usesHostNamespace === true;
        const rb = new Rollback();
        try {
          const { sandbox, created } = await ctl.sandboxes.getOrCreate(containerId, host, options);
          if (created) rb.undoKernel(() => ctl.sandboxes.destroy(sandbox));
          const seq = ctl.nextJoinSeq();
          const sbKey = keys.sandbox(containerId);
          // The intent: the join, and the sandbox if this join makes it.
          await ctl.persist.intent([
            put(this.key, this.record('ready', joiningRecord(containerId, seq))),
            ...(created ? [put(sbKey, sandbox.record())] : []),
          ]);
          rb.undoRecord(() =>
            ctl.persist.commit([put(this.key, this.record('ready')), ...(created ? [del(sbKey)] : [])]),
          );
          await this.joinSandbox(sandbox, driverOptions, rb, seq);
          await ctl.persist.commit([put(this.key, this.record('ready'))]);
          return { sandboxKey: sandbox.key };
        } catch (err) {
          return rb.fail(err);
        }
      }),
    );
  }

  /**
   * @internal The kernel work of a join once the sandbox exists (join, connect, and restore
   * re-joining an endpoint whose kernel objects are gone). Records nothing: the caller commits.
   */
  async joinSandbox(
    sandbox: Sandbox,
    driverOptions: Record<string, string>,
    rb: Rollback,
    seq: number,
  ): Promise<void> {
    const containerId = sandbox.containerId;
    const driver = this.network.driver;
    const info = await driver.join({
      networkId: this.network.id,
      endpointId: this.id,
      sandboxKey: sandbox.key,
      options: driverOptions,
    });
    rb.undoKernel(() => driver.leave(this.network.id, this.id));
    const state: JoinState = { containerId, sandbox, routes: [], portMappings: [], seq };
    if (info.gateway) state.gateway = info.gateway;
    if (info.gatewayIPv6) state.gatewayIPv6 = info.gatewayIPv6;
    if (!info.disableGatewayService && !this.network.internal) state.gatewayService = true;
    if (info.interfaceName) {
      if (sandbox.isHost) {
        throw new InvalidOptionError(
          `driver ${this.network.type}`,
          info.interfaceName,
          'the driver gave an interface for a container in the host namespace',
        );
      }
      const ifName =
        this.options.driverOptions?.[ENDPOINT_IFNAME_OPTION] ??
        sandbox.nextInterfaceName(info.interfaceName.dstPrefix);
      const inSandbox = info.interfaceName.inSandbox === true;
      const srcName = info.interfaceName.srcName;
      await sandbox.os.addInterface({
        inSandbox,
        srcName,
        dstName: ifName,
        ...(this.iface.macAddress ? { mac: this.iface.macAddress } : {}),
        addresses: [this.iface.address, this.iface.addressIPv6].filter((a): a is string => !!a),
      });
      state.ifName = ifName;
      state.srcName = srcName;
      if (inSandbox) {
        state.inSandbox = true;
        rb.undoKernel(() => sandbox.os.forgetInterface(ifName));
      } else rb.undoKernel(() => sandbox.os.removeInterface(ifName, srcName));
      for (const r of info.staticRoutes) {
        sandbox.os.addRoute(r.destination, ifName, r.routeType === 0 ? r.nextHop : undefined);
        state.routes.push({ destination: r.destination, ...(r.nextHop ? { nextHop: r.nextHop } : {}) });
      }
    } else if (info.staticRoutes.length > 0) {
      throw new InvalidOptionError(
        `driver ${this.network.type}`,
        info.staticRoutes,
        'static routes need an interface',
      );
    }
    await sandbox.attach(this, state);
    rb.undoKernel(() => sandbox.detach(this));
    const clusterDns = this.network.controller.clusterDns;
    if (clusterDns) {
      rb.undoKernel(() => clusterDns.left(this));
      await clusterDns.joined(sandbox, this);
    }
    if (driver.programExternalConnectivity) {
      await driver.programExternalConnectivity(this.network.id, this.id, {});
      rb.undoKernel(() => driver.revokeExternalConnectivity?.(this.network.id, this.id));
      const oper = await driver.endpointOperInfo(this.network.id, this.id);
      if (Array.isArray(oper.portMappings)) state.portMappings = oper.portMappings;
    }
    await sandbox.writeFiles();
    this.joined = state;
  }

  /** The container leaves: its interface goes, and its sandbox too when this was its last endpoint. */
  leave(containerId: string): Promise<void> {
    return this.network.controller.observers.run('disconnect', async () => {
      await this.leaveNow(containerId);
      await this.syncGateway(containerId);
    });
  }

  /**
   * @internal After a join or a leave of a container: its gateway endpoint made to match
   * (gateway.ts). When that fails after a join, `undo` takes the join back (and with
   * `leaveAndDelete` the endpoint a connect made) and the error is thrown.
   */
  async syncGateway(containerId: string, undo?: 'leave' | 'leaveAndDelete'): Promise<void> {
    if (GatewayService.isGatewayNetwork(this.network)) return;
    try {
      await this.network.controller.gateways.sync(containerId);
    } catch (err) {
      const back = undo === 'leave' ? () => this.leaveNow(containerId) : () => this.leaveAndDeleteNow();
      // The error that matters is err.
      if (undo) await back().catch(() => undefined);
      throw err;
    }
  }

  private async leaveNow(containerId: string): Promise<void> {
    validateContainerId(containerId);
    await this.locks.run(`ep:${this.id}`, () =>
      this.locks.run(`sb:${containerId}`, async () => {
        const j = this.joined;
        if (!j || j.containerId !== containerId)
          throw new NoContainerError(this.name, containerId, j?.containerId);
        await this.teardown(j, false);
      }),
    );
  }

  /**
   * The container joined to this endpoint (if any) leaves and the endpoint is deleted, as one
   * operation (the Docker API's disconnect): after a crash the next start finishes it.
   */
  leaveAndDelete(): Promise<void> {
    return this.network.controller.observers.run('disconnect', async () => {
      const containerId = this.joined?.containerId;
      await this.leaveAndDeleteNow();
      if (containerId !== undefined) await this.syncGateway(containerId);
    });
  }

  private async leaveAndDeleteNow(): Promise<void> {
    await this.locks.run(`ep:${this.id}`, async () => {
      if (this.deleted) throw new UnknownEndpointError(this.name, this.network.name);
      const j = this.joined;
      if (!j) return this.teardown(undefined, true);
      await this.locks.run(`sb:${j.containerId}`, () => this.teardown(j, true));
    });
  }

  /** Deletes the endpoint. Refused while a container is joined (ActiveContainerError). */
  async delete(): Promise<void> {
    await this.locks.run(`net:${this.network.id}`, () =>
      this.locks.run(`ep:${this.id}`, async () => {
        if (this.deleted) throw new UnknownEndpointError(this.name, this.network.name);
        if (this.joined) throw new ActiveContainerError(this.name, this.joined.containerId);
        await this.teardown(undefined, true);
      }),
    );
  }

  /**
   * The join's part of a teardown: every step attempted (failures in `t`), the records to change
   * added to `changes`. A sandbox that goes with this leave is released to a reclaim entry (its
   * namespace and the veth removed in the background, the interface set down first); in someone
   * else's namespace the veth alone is (set down and renamed first). The entry is returned for
   * the caller to schedule once its commit is done.
   */
  private async undoJoin(j: JoinState, t: Teardown, changes: Change[]): Promise<ReclaimRecord | undefined> {
    const ctl = this.network.controller;
    const driver = this.network.driver;
    const networkId = this.network.id;
    let reclaim: ReclaimRecord | undefined;
    const sandbox = j.sandbox;
    await t.attempt(() => driver.revokeExternalConnectivity?.(networkId, this.id));
    await t.attempt(() => sandbox.detach(this));
    await t.attempt(() => ctl.clusterDns?.left(this));
    // The sandbox goes with this leave: its namespace, and the interface in it, are removed in
    // the background (reclaim.ts), the interface made harmless first. In a namespace that stays
    // (someone else's) the interface is made harmless and renamed out of the way instead, and
    // removed in the background too.
    const going = sandbox.isEmpty() && !sandbox.explicit;
    let deferRemoval = false;
    const ifName = j.ifName;
    if (ifName) {
      for (const r of j.routes) await t.attempt(() => void sandbox.os.removeRoute(r.destination));
      if (!j.inSandbox) await t.attempt(() => sandbox.os.removeInterface(ifName, j.srcName ?? ifName));
      else if (sandbox.os.external) deferRemoval = await t.attempt(() => sandbox.os.retire(ifName));
      else {
        if (going && sandbox.reclaimable) deferRemoval = await t.attempt(() => sandbox.os.quiesce(ifName));
        sandbox.os.forgetInterface(ifName);
      }
    }
    let links: string[] = [];
    await t.attempt(async () => {
      const left = await driver.leave(networkId, this.id, deferRemoval ? { deferRemoval } : {});
      links = (left || undefined)?.reclaimLinks ?? [];
    });
    this.joined = undefined;
    if (going) {
      if (sandbox.reclaimable && !t.failed) {
        const netns = await t.attempt(async () => {
          const path = await ctl.sandboxes.release(sandbox);
          const e = ctl.reclaimer.entry(path, links);
          reclaim = e.rec;
          changes.push(e.change);
        });
        if (netns) changes.push(del(keys.sandbox(j.containerId)));
      } else if (await t.attempt(() => ctl.sandboxes.destroy(sandbox)))
        changes.push(del(keys.sandbox(j.containerId)));
    } else await t.attempt(() => sandbox.writeFiles());
    // Links the driver left in a namespace that is not released (someone else's, or a failed
    // step): a links-only entry, deleted in the background.
    if (links.length > 0 && !reclaim) {
      const e = ctl.reclaimer.entry(undefined, links);
      reclaim = e.rec;
      changes.push(e.change);
    }
    // The leave returns once the resolver's worker no longer answers this endpoint's names.
    await ctl.resolver?.settled();
    return reclaim;
  }

  /**
   * @internal Undoes a join (`j`) and/or deletes the endpoint, as one operation: the intent is
   * committed first, then every kernel step is attempted even when an earlier one failed, then
   * the result is committed. When a step failed, what may still exist keeps its record (in state
   * `leaving`/`deleting`: the next start finishes it) and its addresses, and every failure is
   * reported together (TeardownError).
   */
  async teardown(j: JoinState | undefined, deleteEndpoint: boolean): Promise<void> {
    const ctl = this.network.controller;
    const driver = this.network.driver;
    const networkId = this.network.id;
    const intent = this.record(
      deleteEndpoint ? 'deleting' : 'ready',
      j ? joinRecordOf(j, 'leaving') : undefined,
    );
    await ctl.persist.intent([put(this.key, intent)]);
    const what = deleteEndpoint
      ? `deleting endpoint ${this.name}`
      : `container ${j?.containerId ?? ''} leaving endpoint ${this.name}`;
    const t = new Teardown(what);
    const changes: Change[] = [];
    const reclaim = j ? await this.undoJoin(j, t, changes) : undefined;
    // When the driver cannot delete it, the endpoint stays (a delete can be retried; the network
    // cannot go meanwhile); its record keeps the intent, which the next start finishes.
    if (deleteEndpoint && (await t.attempt(() => driver.deleteEndpoint(networkId, this.id)))) {
      this.deleted = true;
      this.network.forget(this);
    }
    if (t.failed) {
      // Keep the intent; commit only the sandbox that is gone for sure (and what reclaims it).
      if ((await t.attempt(() => ctl.persist.commit(changes))) && reclaim) ctl.reclaimer.schedule(reclaim);
      t.check();
    }
    await ctl.persist.commit([
      deleteEndpoint ? del(this.key) : put(this.key, this.record('ready')),
      ...changes,
    ]);
    if (reclaim) ctl.reclaimer.schedule(reclaim);
    if (j && ctl.observers.active)
      ctl.observers.emit(containerEvent('disconnect', this.network, j.containerId, this.id));
    if (deleteEndpoint) {
      const ipam = this.network.ipam;
      const release = new Teardown(`releasing the addresses of endpoint ${this.name}`);
      if (ipam && this.poolV4 && this.iface.address) {
        const [pool, a] = [this.poolV4, plain(this.iface.address)];
        await release.attempt(() => ipam.releaseAddress(pool, a));
      }
      if (ipam && this.poolV6 && this.iface.addressIPv6) {
        const [pool, a] = [this.poolV6, plain(this.iface.addressIPv6)];
        await release.attempt(() => ipam.releaseAddress(pool, a));
      }
      release.check();
    }
  }

  async info(): Promise<EndpointInfo> {
    const oper = await this.network.driver.endpointOperInfo(this.network.id, this.id);
    const j = this.joined;
    const portMappings: PortMapping[] = Array.isArray(oper.portMappings) ? oper.portMappings : [];
    const mac = this.iface.macAddress ?? (typeof oper.macAddress === 'string' ? oper.macAddress : undefined);
    return {
      id: this.id,
      name: this.name,
      networkId: this.network.id,
      networkName: this.network.name,
      ...(this.iface.address ? { ipv4Address: this.iface.address } : {}),
      ...(this.iface.addressIPv6 ? { ipv6Address: this.iface.addressIPv6 } : {}),
      ...(mac ? { macAddress: mac } : {}),
      ...(j?.gateway ? { gateway: j.gateway } : {}),
      ...(j?.gatewayIPv6 ? { gatewayIPv6: j.gatewayIPv6 } : {}),
      portMappings,
      aliases: [...(this.options.aliases ?? [])],
      ...(j && this.network.embeddedDns ? { dnsNames: endpointDnsNames(j.sandbox, this) } : {}),
      ...(j
        ? {
            containerId: j.containerId,
            sandboxKey: j.sandbox.key,
            ...(j.ifName ? { interfaceName: j.ifName } : {}),
            hostsPath: j.sandbox.hostsPath,
            resolvConfPath: j.sandbox.resolvConfPath,
          }
        : {}),
    };
  }
}
