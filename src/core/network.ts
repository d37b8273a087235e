/**
 * A network: a group of endpoints that can talk directly, made by a driver (a bridge, a VXLAN...)
 * with pools from an IPAM driver. Endpoints are made under the network's lock (their name and
 * addresses), then without it: creations on one network run concurrently.
 *
 * Longer than 400 lines on purpose: Network's operations (create, connect, endpoints, delete) share
 * its lock and its record; the address requests already live in addresses.ts.
 */
import type { CreateNetworkRequest, NetworkDriver } from '../driver-api/driver.ts';
import { IPAM_MAC_ADDRESS_OPTION, type IpamDriver } from '../driver-api/ipam.ts';
import { ActiveEndpointsError, InvalidOptionError, UnknownNetworkError } from '../errors/cnm.ts';
import { ConfigNetworkInUseError, ConfigOnlyNetworkError } from '../errors/config-only.ts';
import { EndpointExistsError } from '../errors/endpoint.ts';
import { newId, validateContainerId } from '../errors/validate.ts';
import { plain } from '../ip/index.ts';
import { randomMac } from '../ip/mac.ts';
import { nowRfc3339Nano, parseRfc3339Nano } from '../timestamp.ts';
import { allocateAddress } from './addresses.ts';
import type { NetworkController } from './controller.ts';
import { Endpoint, joiningRecord } from './endpoint.ts';
import { containerEvent, lifecycleEvent } from './observer.ts';
import { checkEndpointOptions, checkStringMap } from './options.ts';
import { del, keys, type NetworkRecord, put } from './persist.ts';
import { Rollback, Teardown } from './rollback.ts';
import type { ConnectOptions, EndpointCreateOptions, NormalisedNetworkOptions, PoolInfo } from './types.ts';

/** The driver option that marks Docker's default `bridge` network (no embedded DNS there). */
export const DEFAULT_BRIDGE_OPTION = 'com.docker.network.bridge.default_bridge';

export class Network {
  private readonly eps = new Map<string, Endpoint>();
  /** The same endpoints by name (names are unique in a network): a lookup is not a walk. */
  private readonly epsByName = new Map<string, Endpoint>();
  /** Names of endpoints being made (reserveEndpoint): taken, and the network is in use. */
  private readonly reserved = new Set<string>();
  private deleted = false;
  /** When it was made: RFC 3339 with nanoseconds, UTC (Docker's `Created`), kept in its record. */
  createdAt: string = nowRfc3339Nano();

  /** When it was made (to the millisecond). */
  get created(): Date {
    return new Date(Number((parseRfc3339Nano(this.createdAt) ?? 0n) / 1_000_000n));
  }
  /** @internal What the driver asked to keep (returned by createNetwork, given back on restore). */
  driverData: Record<string, string> = {};

  /** @internal */
  constructor(
    readonly controller: NetworkController,
    /** @internal */ readonly driver: NetworkDriver,
    /** @internal */ readonly ipam: IpamDriver | undefined,
    readonly id: string,
    readonly name: string,
    readonly type: string,
    /** @internal */ readonly opts: NormalisedNetworkOptions,
    readonly pools: readonly PoolInfo[],
  ) {}

  /** False for an IPv6-only network. */
  get enableIPv4(): boolean {
    return this.opts.enableIPv4 !== false;
  }

  get enableIPv6(): boolean {
    return this.opts.enableIPv6;
  }

  get internal(): boolean {
    return this.opts.internal;
  }

  /**
   * Whether the embedded resolver serves this network's containers: every network but Docker's
   * default bridge (`com.docker.network.bridge.default_bridge`), `none` (null) and host ones.
   */
  get embeddedDns(): boolean {
    if (this.driver.usesHostNamespace === true || this.type === 'null') return false;
    return this.opts.driverOptions[DEFAULT_BRIDGE_OPTION] !== 'true';
  }

  get attachable(): boolean {
    return this.opts.attachable === true;
  }

  /** A configuration-only network: settings for other networks, never endpoints (Docker's `--config-only`). */
  get configOnly(): boolean {
    return this.opts.configOnly === true;
  }

  /** The configuration-only network this one was created from, by name; '' when none. */
  get configFrom(): string {
    return this.opts.configFrom ?? '';
  }

  get labels(): Record<string, string> {
    return { ...this.opts.labels };
  }

  get options(): Record<string, string> {
    return { ...this.opts.driverOptions };
  }

  get ipamDriverName(): string {
    return this.opts.ipamDriver;
  }

  get ipamOptions(): Record<string, string> {
    return { ...this.opts.ipamOptions };
  }

  /** @internal */
  record(state: NetworkRecord['state']): NetworkRecord {
    return {
      id: this.id,
      name: this.name,
      type: this.type,
      created: this.createdAt,
      state,
      opts: this.opts,
      pools: [...this.pools],
      driverData: this.driverData,
    };
  }

  /** @internal The request the driver got (or gets again on restore). */
  createRequest(): CreateNetworkRequest {
    const toData = (p: PoolInfo) => ({
      addressSpace: p.addressSpace ?? p.poolId.split('/')[0] ?? '',
      pool: p.subnet,
      ...(p.gateway ? { gateway: p.gateway } : {}),
      auxAddresses: { ...p.auxAddresses },
    });
    return {
      networkId: this.id,
      options: {
        generic: { ...this.opts.driverOptions },
        enableIPv6: this.opts.enableIPv6,
        internal: this.opts.internal,
        labels: { ...this.opts.labels },
        name: this.name,
      },
      ipv4Data: this.pools.filter((p) => !p.v6).map(toData),
      ipv6Data: this.pools.filter((p) => p.v6).map(toData),
    };
  }

  /** @internal */
  adopt(ep: Endpoint): void {
    this.eps.set(ep.id, ep);
    this.epsByName.set(ep.name, ep);
  }

  async createEndpoint(name: string, options: EndpointCreateOptions = {}): Promise<Endpoint> {
    const driverOptions = checkEndpointOptions(name, options);
    const persist = this.controller.persist;
    const rb = new Rollback();
    try {
      const draft = await this.reserveEndpoint(name, options, driverOptions, rb);
      const key = keys.endpoint(this.id, draft.id);
      await persist.intent([put(key, draft.record('creating'))]);
      rb.undoRecord(() => persist.commit([del(key)]));
      const ep = await this.createInDriver(draft, rb);
      await persist.commit([put(key, ep.record('ready'))]);
      this.admit(ep);
      return ep;
    } catch (err) {
      return rb.fail(err);
    }
  }

  /**
   * Makes an endpoint for a container and joins it, as one operation (the Docker API's connect):
   * after a crash at any point, the next start finds either all of it or none of it. The
   * container's sandbox is made on its first join, as with Endpoint.join.
   */
  connect(containerId: string, options: ConnectOptions = {}): Promise<Endpoint> {
    const connect = async () => {
      const ep = await this.connectNow(containerId, options);
      await ep.syncGateway(containerId, 'leaveAndDelete');
      return ep;
    };
    return this.controller.observers.run('connect', connect, (ep) =>
      containerEvent('connect', this, containerId, ep.id),
    );
  }

  private async connectNow(containerId: string, options: ConnectOptions): Promise<Endpoint> {
    validateContainerId(containerId);
    const name = options.endpointName ?? containerId;
    const epOptions = options.endpoint ?? {};
    const driverOptions = checkEndpointOptions(name, epOptions);
    const joinOptions = options.join ?? {};
    const joinDriverOptions = checkStringMap('driverOptions', joinOptions.driverOptions);
    const host = this.driver.usesHostNamespace === true;
    const external = options.externalNetns;
    if (external !== undefined && (host || !external.startsWith('/'))) {
      const why = host ? `network ${this.name} joins the host's namespace` : 'expected an absolute path';
      throw new InvalidOptionError('externalNetns', external, why);
    }
    const ctl = this.controller;
    const rb = new Rollback();
    let draft: Endpoint;
    try {
      draft = await this.reserveEndpoint(name, epOptions, driverOptions, rb);
    } catch (err) {
      return rb.fail(err);
    }
    return ctl.locks.run(`ep:${draft.id}`, () =>
      ctl.locks.run(`sb:${containerId}`, async () => {
        try {
          const made = await ctl.sandboxes.getOrCreate(containerId, host, joinOptions, false, external);
          const { sandbox, created } = made;
          if (created) rb.undoKernel(() => ctl.sandboxes.destroy(sandbox));
          const seq = ctl.nextJoinSeq();
          const epKey = keys.endpoint(this.id, draft.id);
          const sbKey = keys.sandbox(containerId);
          // The intent: the endpoint being made and joined, and the sandbox if this join makes it.
          await ctl.persist.intent([
            put(epKey, draft.record('creating', joiningRecord(containerId, seq))),
            ...(created ? [put(sbKey, sandbox.record())] : []),
          ]);
          rb.undoRecord(() => ctl.persist.commit([del(epKey), ...(created ? [del(sbKey)] : [])]));
          const ep = await this.createInDriver(draft, rb);
          await ep.joinSandbox(sandbox, joinDriverOptions, rb, seq);
          // The result.
          await ctl.persist.commit([put(epKey, ep.record('ready'))]);
          this.admit(ep);
          return ep;
        } catch (err) {
          return rb.fail(err);
        }
      }),
    );
  }

  /**
   * An endpoint's first step, under the network's lock: its name is reserved (no other endpoint
   * can take it until it is made or given up) and its addresses are allocated. Nothing is
   * recorded yet: allocations are replayed from records at start, so a crash loses them.
   */
  private async reserveEndpoint(
    name: string,
    options: EndpointCreateOptions,
    driverOptions: Record<string, string>,
    rb: Rollback,
  ): Promise<Endpoint> {
    return this.controller.locks.run(`net:${this.id}`, async () => {
      this.controller.checkOpen();
      if (this.deleted) throw new UnknownNetworkError(this.name);
      if (this.configOnly) throw new ConfigOnlyNetworkError(this.name);
      if (this.endpointByName(name) || this.reserved.has(name))
        throw new EndpointExistsError(name, this.name);
      this.reserved.add(name);
      rb.undoKernel(() => {
        this.reserved.delete(name);
      });
      // An IPAM driver that asks for it (RequiresMACAddress) gets the endpoint's MAC in its
      // address requests; when the user gave none, one is made up first and the endpoint keeps
      // it (as Docker does). Otherwise no MAC is chosen here (the network driver may pick one).
      let macAddress = options.macAddress?.toLowerCase();
      const ipamOptions: Record<string, string> = {};
      if (this.ipam && (await this.ipam.capabilities()).requiresMacAddress) {
        macAddress ??= randomMac();
        ipamOptions[IPAM_MAC_ADDRESS_OPTION] = macAddress;
      }
      const v4 = await allocateAddress(this, false, options.ipv4Address, ipamOptions, rb);
      const v6 = this.enableIPv6
        ? await allocateAddress(this, true, options.ipv6Address, ipamOptions, rb)
        : undefined;
      if (options.ipv6Address !== undefined && !this.enableIPv6) {
        throw new InvalidOptionError('ipv6Address', options.ipv6Address, `network ${this.name} has no IPv6`);
      }
      const iface = {
        ...(v4 ? { address: v4.address } : {}),
        ...(v6 ? { addressIPv6: v6.address } : {}),
        ...(macAddress ? { macAddress } : {}),
      };
      const epOptions: EndpointCreateOptions = {
        exposedPorts: [...(options.exposedPorts ?? [])],
        portBindings: [...(options.portBindings ?? [])],
        driverOptions,
        ...(options.macAddress ? { macAddress: options.macAddress } : {}),
        ...(options.aliases && options.aliases.length > 0 ? { aliases: [...options.aliases] } : {}),
      };
      return new Endpoint(this, newId(), name, iface, v4?.poolId, v6?.poolId, epOptions);
    });
  }

  /** The driver makes the endpoint; the endpoint as made, with what the driver added (a MAC...). */
  private async createInDriver(draft: Endpoint, rb: Rollback): Promise<Endpoint> {
    const res = await this.driver.createEndpoint(draft.createRequest());
    rb.undoKernel(() => this.driver.deleteEndpoint(this.id, draft.id));
    const got = res.iface ?? {};
    for (const k of ['address', 'addressIPv6', 'macAddress'] as const) {
      if (got[k] !== undefined && draft.iface[k] !== undefined && got[k] !== draft.iface[k]) {
        throw new InvalidOptionError(
          `driver ${this.type}`,
          got,
          `the driver returned an interface ${k} for endpoint ${draft.name}, but one was already set`,
        );
      }
    }
    return new Endpoint(
      this,
      draft.id,
      draft.name,
      { ...draft.iface, ...got },
      draft.poolV4,
      draft.poolV6,
      draft.options,
    );
  }

  /** The endpoint is made: it takes its reserved name's place in the network. */
  private admit(ep: Endpoint): void {
    this.reserved.delete(ep.name);
    this.eps.set(ep.id, ep);
    this.epsByName.set(ep.name, ep);
  }

  endpoints(): Endpoint[] {
    return [...this.eps.values()];
  }

  endpointByName(name: string): Endpoint | undefined {
    return this.epsByName.get(name);
  }

  endpointByID(id: string): Endpoint | undefined {
    return this.eps.get(id);
  }

  walkEndpoints(fn: (e: Endpoint) => unknown): void {
    for (const e of [...this.eps.values()]) if (fn(e) === true) return;
  }

  /**
   * Deletes the network. Refused while it has endpoints (ActiveEndpointsError); a global network
   * also while any host of the cluster has one, and its record leaves the cluster first.
   * `localOnly` (for core/global.ts, not for users): the cluster removed it; only this host's copy goes.
   */
  delete(options: { localOnly?: boolean } = {}): Promise<void> {
    // No destroy event for a configuration-only network (dockerd logs none: it was never plumbed).
    const destroy = () => (this.configOnly ? undefined : lifecycleEvent('destroy', this));
    return this.controller.observers.run('delete', () => this.deleteNow(options.localOnly === true), destroy);
  }

  private async deleteNow(localOnly: boolean): Promise<void> {
    const cluster = this.driver.clusterScoped && !localOnly ? this.controller.cluster : undefined;
    await this.controller.locks.run(`netname:${this.name}`, () =>
      this.controller.locks.run(`net:${this.id}`, async () => {
        if (this.deleted) throw new UnknownNetworkError(this.name);
        if (this.configOnly) {
          const users = this.controller.networks().filter((n) => n.configFrom === this.name);
          if (users.length > 0)
            throw new ConfigNetworkInUseError(
              this.name,
              users.map((n) => n.name),
            );
        }
        if (this.eps.size > 0 || this.reserved.size > 0) {
          throw new ActiveEndpointsError(this.name, [
            ...this.endpoints().map((e) => e.name),
            ...this.reserved,
          ]);
        }
        if (cluster) {
          const remote = await cluster.endpoints(this.id);
          if (remote.length > 0) {
            throw new ActiveEndpointsError(
              this.name,
              remote.map((e) => `${e.ip ?? e.mac} on host ${e.hostId}`),
            );
          }
          await cluster.unpublishNetwork(this.id, this.name);
        }
        const persist = this.controller.persist;
        await persist.intent([put(keys.network(this.id), this.record('deleting'))]);
        await this.driver.deleteNetwork(this.id);
        this.deleted = true;
        this.controller.forget(this);
        await persist.commit([del(keys.network(this.id))]);
        // Reverse of creation: aux addresses, gateway, pool. A failure here leaks an
        // allocation, never a kernel object; every one is reported after the network is gone.
        const t = new Teardown(`releasing the addresses of network ${this.name}`);
        if (this.ipam && !localOnly) {
          const ipam = this.ipam;
          for (const p of [...this.pools].reverse()) {
            for (const a of Object.values(p.auxAddresses)) {
              await t.attempt(() => ipam.releaseAddress(p.poolId, plain(a)));
            }
            const gw = p.gateway;
            if (gw) await t.attempt(() => ipam.releaseAddress(p.poolId, plain(gw)));
            await t.attempt(() => ipam.releasePool(p.poolId));
          }
        }
        t.check();
      }),
    );
  }

  /** @internal */
  forget(ep: Endpoint): void {
    this.eps.delete(ep.id);
    if (this.epsByName.get(ep.name) === ep) this.epsByName.delete(ep.name);
  }

  /** @internal */
  isDeleted(): boolean {
    return this.deleted;
  }
}
