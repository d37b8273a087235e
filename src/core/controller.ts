/**
 * The Container Network Model's entry point: the controller owns the drivers, the networks
 * (network.ts), their endpoints (endpoint.ts) and the sandboxes endpoints join (sandbox.ts).
 * Orchestration and state only: drivers do the network work, src/os/sandbox.ts the sandbox's
 * kernel work, src/dns the container files.
 *
 * Concurrency: every mutating call runs under per-object locks taken in one order (network
 * name → network → endpoint → sandbox), so parallel calls on the same objects serialise and
 * calls on different objects run concurrently. Every multi-step operation undoes its finished
 * steps, in reverse, when a later step fails (rollback.ts), and records its intent before and
 * its result after (persist.ts), so a crash is rolled back or finished at the next start.
 */

import type { Cluster } from '../cluster/index.ts';
import { ClusterStoreRequiredError } from '../cluster/index.ts';
import { Resolver } from '../dns/resolver/resolver.ts';
import type { NetworkDriver } from '../driver-api/driver.ts';
import { DEFAULT_IPAM, type IpamDriver } from '../driver-api/ipam.ts';
import { InvalidOptionError, NetworkNameError } from '../errors/cnm.ts';
import {
  NoContainerError,
  SandboxExistsError,
  UnknownEndpointError,
  UnknownSandboxError,
} from '../errors/endpoint.ts';
import { ControllerClosedError } from '../errors/lifecycle.ts';
import { newId, validateContainerId, validateNetworkName } from '../errors/validate.ts';
import { GLOBAL_IPAM } from '../ipam/global.ts';
import { closeKernelWorker } from '../os/kernel-worker/index.ts';
import { allocatePools } from './addresses.ts';
import { ClusterDns } from './cluster-dns.ts';
import { applyConfigFrom, CONFIG_ONLY_TYPE, checkConfigNetworkOptions } from './config-only.ts';
import { DriverRegistry } from './drivers.ts';
import { GatewayService } from './gateway.ts';
import { GlobalNetworks } from './global.ts';
import { KeyedLock } from './lock.ts';
import { Network } from './network.ts';
import { type ControllerListener, lifecycleEvent, Observers } from './observer.ts';
import { normaliseNetworkOptions } from './options.ts';
import { del, keys, Persister, put } from './persist.ts';
import { Reclaimer } from './reclaim.ts';
import { type RestoreReport, restoreController } from './restore.ts';
import { Rollback, Teardown } from './rollback.ts';
import type { Sandbox } from './sandbox.ts';
import { SandboxSet } from './sandbox-set.ts';
import type { ControllerConfig, JoinOptions, NetworkCreateOptions, PoolInfo } from './types.ts';

export class NetworkController {
  readonly runDir: string;
  readonly dataDir: string;
  readonly hostResolvConf: string;
  readonly drivers: DriverRegistry;
  /** @internal */ readonly locks = new KeyedLock();
  /** @internal */ readonly sandboxes: SandboxSet;
  private readonly byId = new Map<string, Network>();
  private closed = false;
  /** The last join's place in join order (see JoinRecord.seq); restore sets it past the records'. */
  private joinSeq = 0;
  /** @internal */ readonly persist: Persister;
  /** @internal Kernel objects being removed in the background (reclaim.ts). */
  readonly reclaimer: Reclaimer;
  /** The embedded DNS resolver (docs/dns.md); undefined with `embeddedDns: false`. */
  readonly resolver: Resolver | undefined;
  /** What the last restore found and did (with a store). */
  lastRestore: RestoreReport | undefined;
  /** This host's membership of a cluster (global networks), if configured. */
  readonly cluster: Cluster | undefined;
  /** @internal Names across hosts on global networks (with a cluster and the resolver). */
  readonly clusterDns: ClusterDns | undefined;
  /** @internal Following the cluster's global networks. */
  global: GlobalNetworks | undefined;
  /** @internal Who listens to network events and operation outcomes (observe). */
  readonly observers = new Observers();
  /** @internal Gateway endpoints for containers with no way out of their own (gateway.ts). */
  readonly gateways = new GatewayService(this);

  private constructor(config: ControllerConfig) {
    this.persist = new Persister(config.store);
    this.reclaimer = new Reclaimer(this.persist);
    this.cluster = config.cluster;
    this.runDir = config.runDir ?? '/run/dnet';
    this.dataDir = config.dataDir ?? '/var/lib/dnet';
    this.hostResolvConf = config.hostResolvConf ?? '/etc/resolv.conf';
    const dnsConfig = config.embeddedDns ?? true;
    this.resolver =
      dnsConfig === false
        ? undefined
        : new Resolver({
            ...(typeof dnsConfig === 'object' && dnsConfig.forwardTimeoutMs !== undefined
              ? { timeoutMs: dnsConfig.forwardTimeoutMs }
              : {}),
            ...(typeof dnsConfig === 'object' && dnsConfig.maxInFlight !== undefined
              ? { maxInFlight: dnsConfig.maxInFlight }
              : {}),
          });
    this.clusterDns =
      config.cluster && this.resolver
        ? new ClusterDns(config.cluster, this.resolver, config.onClusterError)
        : undefined;
    this.sandboxes = new SandboxSet(this.runDir, this.hostResolvConf, {
      resolver: this.resolver,
      ...(config.dns ? { dns: [...config.dns] } : {}),
      ...(config.dnsSearch ? { dnsSearch: [...config.dnsSearch] } : {}),
      ...(config.dnsOptions ? { dnsOptions: [...config.dnsOptions] } : {}),
    });
    this.drivers = new DriverRegistry(config);
    for (const d of config.drivers ?? []) this.drivers.registerNetworkDriver(d);
    for (const d of config.ipamDrivers ?? []) this.drivers.registerIpamDriver(d);
  }

  /**
   * Creates the controller. With a `store`, the state it holds is restored first: networks,
   * endpoints and sandboxes with their IDs, addresses and ports; kernel objects adopted or
   * re-created; what a crash left half done rolled back (see restore.ts).
   */
  static async create(config: ControllerConfig = {}): Promise<NetworkController> {
    const c = new NetworkController(config);
    for (const [type, options] of Object.entries(config.driverOptions ?? {})) {
      await c.configureNetworkDriver(type, options);
    }
    if (c.persist.enabled) await restoreController(c);
    if (config.cluster) c.global = await GlobalNetworks.start(c, config.cluster, config.onClusterError);
    return c;
  }

  /** @internal */
  adopt(n: Network): void {
    this.byId.set(n.id, n);
  }

  /** @internal The next place in join order; `atLeast` (restore) moves the counter past a record's. */
  nextJoinSeq(atLeast = 0): number {
    this.joinSeq = Math.max(this.joinSeq, atLeast);
    return ++this.joinSeq;
  }

  /** Registers a network driver (built-in drivers beyond null and host, or a test driver). */
  registerDriver(driver: NetworkDriver): void {
    this.drivers.registerNetworkDriver(driver);
  }

  registerIpamDriver(driver: IpamDriver): void {
    this.drivers.registerIpamDriver(driver);
  }

  /** Driver-wide options (e.g. the bridge driver's IP forwarding, firewall, userland proxy). */
  async configureNetworkDriver(type: string, options: Record<string, unknown>): Promise<void> {
    const d = await this.drivers.networkDriver(type);
    if (!d.configure) {
      if (Object.keys(options).length === 0) return;
      throw new InvalidOptionError(type, options, `the ${type} driver takes no driver-wide options`);
    }
    await d.configure(options);
  }

  /**
   * Adds a listener of network events (create, destroy, connect, disconnect) and of each
   * operation's outcome and duration (see observer.ts); the function returned removes it.
   */
  observe(listener: ControllerListener): () => void {
    return this.observers.add(listener);
  }

  newNetwork(type: string, name: string, options: NetworkCreateOptions = {}): Promise<Network> {
    const create = () => this.makeNetwork(type, name, options);
    return this.observers.run('create', create, (n) => lifecycleEvent('create', n));
  }

  private async makeNetwork(type: string, name: string, options: NetworkCreateOptions): Promise<Network> {
    this.checkOpen();
    validateNetworkName(name);
    let opts = normaliseNetworkOptions(options);
    checkConfigNetworkOptions(opts);
    // A configuration-only network has no driver state: the null driver's, as in Docker.
    const networkType = opts.configOnly ? CONFIG_ONLY_TYPE : type;
    const driver = await this.drivers.networkDriver(networkType);
    const cluster = driver.clusterScoped ? this.cluster : undefined;
    if (driver.clusterScoped) {
      if (!cluster) throw new ClusterStoreRequiredError(type);
      // The cluster's addresses come from the global IPAM (etcd transactions), not this host's.
      if (opts.ipamDriver === DEFAULT_IPAM) opts = { ...opts, ipamDriver: GLOBAL_IPAM };
    }
    // Created from a configuration network: that network's lock is held too, so it cannot be
    // removed while this one is made from it (its delete checks for users under the same lock).
    const from = opts.configFrom;
    const underFromLock = <T>(fn: () => Promise<T>): Promise<T> =>
      from === undefined || from === name ? fn() : this.locks.run(`netname:${from}`, fn);
    return this.locks.run(`netname:${name}`, () =>
      underFromLock(async () => {
        if (this.networkByName(name)) throw new NetworkNameError(name);
        if (opts.configFrom !== undefined) {
          opts = applyConfigFrom(
            { ...opts, configFrom: opts.configFrom },
            this.networkByName(opts.configFrom),
          );
        }
        const id = newId();
        const rb = new Rollback();
        try {
          let ipamDriver: IpamDriver | undefined;
          let pools: PoolInfo[] = [];
          if (!driver.skipsIpam) {
            ipamDriver = await this.drivers.ipamDriver(opts.ipamDriver);
            pools = await allocatePools(ipamDriver, opts, rb, {
              skipGateway: driver.skipsGatewayAllocation === true,
            });
          }
          const n = new Network(this, driver, ipamDriver, id, name, networkType, opts, pools);
          // Intent first: a crash from here on is rolled back at the next start.
          await this.persist.intent([put(keys.network(id), n.record('creating'))]);
          rb.undoRecord(() => this.persist.commit([del(keys.network(id))]));
          const res = await driver.createNetwork(n.createRequest());
          if (res && typeof res === 'object' && res.data) n.driverData = { ...res.data };
          rb.undoKernel(() => driver.deleteNetwork(id));
          if (cluster) {
            rb.undoRecord(() => cluster.abandonNetwork(id));
            // Every host makes it when it sees this record (core/global.ts).
            await cluster.publishNetwork(id, name, n.record('ready'));
            rb.undoRecord(() => cluster.unpublishNetwork(id, name));
          }
          await this.persist.commit([put(keys.network(id), n.record('ready'))]);
          this.byId.set(id, n);
          return n;
        } catch (err) {
          return rb.fail(err);
        }
      }),
    );
  }

  networks(): Network[] {
    return [...this.byId.values()];
  }

  /** undefined when no network has that name. */
  networkByName(name: string): Network | undefined {
    for (const n of this.byId.values()) if (n.name === name) return n;
    return undefined;
  }

  /** undefined when no network has that ID. */
  networkByID(id: string): Network | undefined {
    return this.byId.get(id);
  }

  /** Calls fn for each network until it returns true. */
  walkNetworks(fn: (n: Network) => unknown): void {
    for (const n of [...this.byId.values()]) if (fn(n) === true) return;
  }

  /** The sandbox of a container, if it has one. */
  sandboxByContainer(containerId: string): Sandbox | undefined {
    return this.sandboxes.get(containerId);
  }

  /** The sandbox whose container has this name (JoinOptions.containerName), if any. */
  sandboxByName(name: string): Sandbox | undefined {
    return this.sandboxes.byName(name);
  }

  allSandboxes(): Sandbox[] {
    return this.sandboxes.all();
  }

  /**
   * Creates a container's sandbox before any join (the daemon's `sandbox create`): a namespace
   * with loopback up and its hosts/resolv.conf, or the host's namespace with `useHostNamespace`.
   * Unlike a sandbox made by a first join, it stays when its last endpoint leaves, until
   * deleteSandbox. With `externalNetns` (a path), the sandbox is that existing namespace, made
   * by someone else (a CNI runtime's `CNI_NETNS`): dnet adds its interfaces there and never
   * removes the namespace; no hosts/resolv.conf are written for it.
   */
  async newSandbox(
    containerId: string,
    options: JoinOptions & { useHostNamespace?: boolean; externalNetns?: string } = {},
  ): Promise<Sandbox> {
    this.checkOpen();
    validateContainerId(containerId);
    const { useHostNamespace, externalNetns, ...joinOptions } = options;
    if (externalNetns !== undefined && (useHostNamespace || !externalNetns.startsWith('/'))) {
      throw new InvalidOptionError(
        'externalNetns',
        externalNetns,
        useHostNamespace ? 'cannot be combined with useHostNamespace' : 'expected an absolute path',
      );
    }
    return this.locks.run(`sb:${containerId}`, async () => {
      if (this.sandboxes.get(containerId)) throw new SandboxExistsError(containerId);
      const { sandbox } = await this.sandboxes.getOrCreate(
        containerId,
        useHostNamespace === true,
        joinOptions,
        true,
        externalNetns,
      );
      // Durable before it is acknowledged; a crash before this commit leaves a namespace and a
      // directory that no record owns, which the next start removes.
      try {
        await this.persist.commit([put(keys.sandbox(containerId), sandbox.record())]);
      } catch (err) {
        const rb = new Rollback();
        rb.undoKernel(() => this.sandboxes.destroy(sandbox));
        return rb.fail(err);
      }
      return sandbox;
    });
  }

  /**
   * Makes every endpoint of the container's sandbox leave (and, with `deleteEndpoints`, deletes
   * them too, as the daemon's `sandbox rm` does for the endpoints its connects made), then
   * removes the sandbox. The intent is recorded first: a crash midway is finished at the next start.
   */
  async deleteSandbox(containerId: string, options: { deleteEndpoints?: boolean } = {}): Promise<void> {
    validateContainerId(containerId);
    const deleteEndpoints = options.deleteEndpoints === true;
    const first = this.sandboxes.get(containerId);
    if (!first) throw new UnknownSandboxError(containerId);
    await this.locks.run(`sb:${containerId}`, async () => {
      if (this.sandboxes.get(containerId) !== first) return;
      await this.persist.intent([
        put(keys.sandbox(containerId), { ...first.record(), state: 'deleting', deleteEndpoints }),
      ]);
    });
    for (;;) {
      const sb = this.sandboxes.get(containerId);
      if (!sb) return; // its last endpoint's leave removed it (an implicit sandbox)
      for (const ep of sb.endpoints()) {
        const leaving = deleteEndpoints ? ep.leaveAndDelete() : ep.leave(containerId);
        await leaving.catch((err: unknown) => {
          if (!(err instanceof NoContainerError || err instanceof UnknownEndpointError)) throw err;
        });
      }
      const done = await this.locks.run(`sb:${containerId}`, async () => {
        if (this.sandboxes.get(containerId) !== sb) return true; // removed meanwhile
        if (!sb.isEmpty()) return false; // a join slipped in: leave again
        const t = new Teardown(`removing the sandbox of ${containerId}`);
        if (await t.attempt(() => this.sandboxes.destroy(sb))) {
          await t.attempt(() => this.persist.commit([del(keys.sandbox(containerId))]));
        }
        t.check();
        return true;
      });
      if (done) return;
    }
  }

  /** @internal */
  forget(n: Network): void {
    this.byId.delete(n.id);
  }

  /**
   * Resolves once the kernel objects of finished operations are gone. A container's namespace and
   * interfaces are removed in the background after the call that disconnected it returns (the
   * container is disconnected, its addresses and ports released, by then); this waits for that,
   * and removes at once whatever is still pending.
   */
  async settled(): Promise<void> {
    await this.reclaimer.drain();
  }

  /** @internal */
  checkOpen(): void {
    if (this.closed) throw new ControllerClosedError();
  }

  /**
   * Stops using the controller. Kernel state stays as it is (containers keep their network); the
   * daemon restores it on its next start. Tests that want a clean host delete their objects first.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Namespaces and links being removed in the background go now. One whose removal fails stays
    // in the persisted queue, and the next start's restore removes it: close itself does not fail.
    await this.reclaimer.drain().catch(() => undefined);
    await this.global?.close();
    await this.clusterDns?.close();
    await this.resolver?.close();
    this.sandboxes.releaseAll();
    for (const d of this.drivers.loadedNetworkDrivers()) await d.close?.();
    // The kernel worker thread ends once its calls are answered (a later call starts it again).
    await closeKernelWorker();
  }
}
