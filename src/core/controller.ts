/**
 * The Container Network Model: the controller, its networks, their endpoints, and the sandboxes
 * endpoints join. Orchestration and state only: drivers do the network work, src/os/sandbox.ts
 * the sandbox's kernel work, src/dns the container files.
 *
 * Concurrency: every mutating call runs under per-object locks taken in one order (network
 * name → network → endpoint → sandbox), so parallel calls on the same objects serialise and
 * calls on different objects run concurrently. Every multi-step operation undoes its finished
 * steps, in reverse, when a later step fails.
 */
import ipaddr from 'ipaddr.js';
import type {
  CreateEndpointRequest,
  CreateNetworkRequest,
  NetworkDriver,
  PortMapping,
} from '../driver-api/driver.ts';
import {
  DEFAULT_IPAM,
  IPAM_GATEWAY_ADDRESS_TYPE,
  IPAM_MAC_ADDRESS_OPTION,
  IPAM_REQUEST_ADDRESS_TYPE,
  type IpamDriver,
} from '../driver-api/ipam.ts';
import { RemoteDriver } from '../drivers/remote/index.ts';
import {
  ActiveContainerError,
  ActiveEndpointsError,
  ControllerClosedError,
  EndpointExistsError,
  InvalidJoinError,
  InvalidOptionError,
  NetworkNameError,
  NoContainerError,
  SandboxExistsError,
  UnknownEndpointError,
  UnknownNetworkError,
  UnknownSandboxError,
} from '../errors/cnm.ts';
import { newId, validateContainerId, validateEndpointName, validateNetworkName } from '../errors/validate.ts';
import { DefaultIpam, RemoteIpam, randomMac } from '../ipam/index.ts';
import { hostRouteCidrs } from '../os/routes.ts';
import { PluginRegistry } from '../plugins/index.ts';
import { DriverRegistry } from './drivers.ts';
import { KeyedLock } from './lock.ts';
import {
  type Change,
  del,
  type EndpointRecord,
  type JoinRecord,
  keys,
  type NetworkRecord,
  Persister,
  put,
} from './persist.ts';
import { type RestoreReport, restoreController } from './restore.ts';
import { Rollback, Teardown } from './rollback.ts';
import { type Sandbox, SandboxSet } from './sandbox.ts';
import type {
  ConnectOptions,
  ControllerConfig,
  EndpointCreateOptions,
  EndpointInfo,
  IpamConfigEntry,
  JoinOptions,
  NetworkCreateOptions,
  NormalisedNetworkOptions,
  PoolInfo,
} from './types.ts';

function isIn(ip: string, cidr: string): boolean {
  try {
    const addr = ipaddr.parse(ip);
    const range = ipaddr.parseCIDR(cidr);
    return addr.kind() === range[0].kind() && addr.match(range);
  } catch {
    return false;
  }
}

const familyOfCidr = (cidr: string): 4 | 6 => (cidr.includes(':') ? 6 : 4);
const plain = (cidr: string): string => cidr.split('/')[0] ?? cidr;

function checkIp(option: string, ip: string | undefined, family: 4 | 6): void {
  if (ip === undefined) return;
  const ok =
    family === 4
      ? ipaddr.IPv4.isValidFourPartDecimal(ip)
      : !ip.includes('%') && ipaddr.IPv6.isValid(ip) && !ipaddr.IPv4.isValid(ip);
  if (!ok) throw new InvalidOptionError(option, ip, `not an IPv${family} address`);
}

function checkCidr(option: string, cidr: string | undefined): void {
  if (cidr === undefined) return;
  try {
    ipaddr.parseCIDR(cidr);
  } catch {
    throw new InvalidOptionError(option, cidr, 'not a CIDR subnet (address/prefix)');
  }
}

/**
 * Endpoint driver option naming the interface inside the sandbox (Docker 28's
 * `--driver-opt com.docker.network.endpoint.ifname=NAME`; the CNI plugin's `CNI_IFNAME`).
 */
export const ENDPOINT_IFNAME_OPTION = 'com.docker.network.endpoint.ifname';

/** Linux's rule for an interface name: 1-15 bytes, not `.` or `..`, no `/`, `:` or whitespace. */
export function interfaceNameViolation(name: string): string | undefined {
  if (name.length === 0 || Buffer.byteLength(name) > 15) return 'it must be 1 to 15 bytes long';
  if (name === '.' || name === '..') return 'it cannot be "." or ".."';
  if (/[/:\s]/.test(name)) return 'it cannot contain "/", ":" or whitespace';
  return undefined;
}

function checkStringMap(option: string, m: unknown): Record<string, string> {
  if (m === undefined) return {};
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    throw new InvalidOptionError(option, m, 'expected an object of string values');
  }
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw new InvalidOptionError(`${option}.${k}`, v, 'expected a string');
  }
  return { ...(m as Record<string, string>) };
}

/** Checks an endpoint's name and options (createEndpoint, connect); its driver options, checked. */
function checkEndpointOptions(name: string, options: EndpointCreateOptions): Record<string, string> {
  validateEndpointName(name);
  checkIp('ipv4Address', options.ipv4Address, 4);
  checkIp('ipv6Address', options.ipv6Address, 6);
  if (options.macAddress !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(options.macAddress)) {
    throw new InvalidOptionError('macAddress', options.macAddress, 'expected aa:bb:cc:dd:ee:ff');
  }
  const driverOptions = checkStringMap('driverOptions', options.driverOptions);
  const ifName = driverOptions[ENDPOINT_IFNAME_OPTION];
  const ifNameProblem = ifName === undefined ? undefined : interfaceNameViolation(ifName);
  if (ifNameProblem) throw new InvalidOptionError(ENDPOINT_IFNAME_OPTION, ifName, ifNameProblem);
  return driverOptions;
}

/** The intent of a join: recorded before the join's first step. */
function joiningRecord(containerId: string, seq: number): JoinRecord {
  return { containerId, state: 'joining', seq, routes: [], portMappings: [] };
}

export class NetworkController {
  readonly runDir: string;
  readonly dataDir: string;
  readonly hostResolvConf: string;
  readonly drivers = new DriverRegistry();
  /** @internal */ readonly locks = new KeyedLock();
  /** @internal */ readonly sandboxes: SandboxSet;
  private readonly byId = new Map<string, Network>();
  private closed = false;
  /** The last join's place in join order (see JoinRecord.seq); restore sets it past the records'. */
  private joinSeq = 0;
  /** @internal */ readonly persist: Persister;
  /** What the last restore found and did (with a store). */
  lastRestore: RestoreReport | undefined;

  private constructor(config: ControllerConfig) {
    this.persist = new Persister(config.store);
    this.runDir = config.runDir ?? '/run/dnet';
    this.dataDir = config.dataDir ?? '/var/lib/dnet';
    this.hostResolvConf = config.hostResolvConf ?? '/etc/resolv.conf';
    this.sandboxes = new SandboxSet(this.runDir, this.hostResolvConf);
    this.drivers.registerIpamDriver(
      new DefaultIpam({
        hostRoutes: () => hostRouteCidrs(),
        ...(config.defaultAddressPools ? { localPools: config.defaultAddressPools } : {}),
      }),
    );
    // Unknown driver names are looked up as Docker plugins (remote network drivers and IPAM).
    const plugins = new PluginRegistry(config);
    this.drivers.setNetworkResolver((name) => RemoteDriver.resolve(plugins, name));
    this.drivers.setIpamResolver((name) => RemoteIpam.resolve(plugins, name));
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
    if (c.persist.enabled) await restoreController(c);
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

  async newNetwork(type: string, name: string, options: NetworkCreateOptions = {}): Promise<Network> {
    this.checkOpen();
    validateNetworkName(name);
    const opts = normaliseNetworkOptions(options);
    const driver = await this.drivers.networkDriver(type);
    return this.locks.run(`netname:${name}`, async () => {
      if (this.networkByName(name)) throw new NetworkNameError(name);
      const id = newId();
      const rb = new Rollback();
      try {
        let ipamDriver: IpamDriver | undefined;
        let pools: PoolInfo[] = [];
        if (!driver.skipsIpam) {
          ipamDriver = await this.drivers.ipamDriver(opts.ipamDriver);
          pools = await allocatePools(ipamDriver, opts, rb);
        }
        const n = new Network(this, driver, ipamDriver, id, name, type, opts, pools);
        // Intent first: a crash from here on is rolled back at the next start.
        await this.persist.commit([put(keys.network(id), n.record('creating'))]);
        rb.undoRecord(() => this.persist.commit([del(keys.network(id))]));
        const res = await driver.createNetwork(n.createRequest());
        if (res && typeof res === 'object' && res.data) n.driverData = { ...res.data };
        rb.undoKernel(() => driver.deleteNetwork(id));
        await this.persist.commit([put(keys.network(id), n.record('ready'))]);
        this.byId.set(id, n);
        return n;
      } catch (err) {
        return rb.fail(err);
      }
    });
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
      await this.persist.commit([
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
    this.sandboxes.releaseAll();
    for (const d of this.drivers.loadedNetworkDrivers()) await d.close?.();
  }
}

function normaliseNetworkOptions(o: NetworkCreateOptions): NormalisedNetworkOptions {
  const config = o.ipam?.config ?? [];
  if (!Array.isArray(config)) throw new InvalidOptionError('ipam.config', config, 'expected an array');
  for (const [i, c] of config.entries()) {
    const at = `ipam.config[${i}]`;
    checkCidr(`${at}.subnet`, c.subnet);
    checkCidr(`${at}.ipRange`, c.ipRange);
    if (c.subnet === undefined && (c.ipRange || c.gateway || c.auxAddresses)) {
      throw new InvalidOptionError(at, c, 'ipRange, gateway and auxAddresses need a subnet');
    }
    if (c.subnet !== undefined) {
      const fam = familyOfCidr(c.subnet);
      checkIp(`${at}.gateway`, c.gateway, fam);
      if (c.ipRange && !isIn(plain(c.ipRange), c.subnet)) {
        throw new InvalidOptionError(`${at}.ipRange`, c.ipRange, `not inside the subnet ${c.subnet}`);
      }
      if (c.gateway && !isIn(c.gateway, c.subnet)) {
        throw new InvalidOptionError(`${at}.gateway`, c.gateway, `not inside the subnet ${c.subnet}`);
      }
      for (const [k, v] of Object.entries(checkStringMap(`${at}.auxAddresses`, c.auxAddresses))) {
        checkIp(`${at}.auxAddresses.${k}`, v, fam);
        if (!isIn(v, c.subnet))
          throw new InvalidOptionError(`${at}.auxAddresses.${k}`, v, `not inside the subnet ${c.subnet}`);
      }
    }
  }
  const enableIPv6 = o.enableIPv6 ?? false;
  if (!enableIPv6 && config.some((c) => c.subnet && familyOfCidr(c.subnet) === 6)) {
    throw new InvalidOptionError('ipam.config', config, 'an IPv6 subnet needs enableIPv6: true');
  }
  const ipamDriver = o.ipam?.driver ?? DEFAULT_IPAM;
  if (typeof ipamDriver !== 'string' || ipamDriver === '')
    throw new InvalidOptionError('ipam.driver', ipamDriver, 'expected a driver name');
  return {
    ipamDriver,
    ipamOptions: checkStringMap('ipam.options', o.ipam?.options),
    config: config.map((c) => ({ ...c })),
    enableIPv6,
    internal: o.internal ?? false,
    attachable: o.attachable ?? false,
    labels: checkStringMap('labels', o.labels),
    driverOptions: checkStringMap('options', o.options),
  };
}

/** Pool, then gateway, then each auxiliary address, per config entry; `undo` gets the reverse. */
async function allocatePools(
  ipam: IpamDriver,
  o: NormalisedNetworkOptions,
  rb: Rollback,
): Promise<PoolInfo[]> {
  const spaces = await ipam.defaultAddressSpaces();
  const entries: { entry: IpamConfigEntry; v6: boolean }[] = o.config.map((entry) => ({
    entry,
    v6: entry.subnet !== undefined && familyOfCidr(entry.subnet) === 6,
  }));
  if (!entries.some((e) => !e.v6)) entries.unshift({ entry: {}, v6: false });
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
    const gw = await ipam.requestAddress(alloc.poolId, {
      ...(entry.gateway ? { address: entry.gateway } : {}),
      options: { [IPAM_REQUEST_ADDRESS_TYPE]: IPAM_GATEWAY_ADDRESS_TYPE },
    });
    rb.undoRecord(() => ipam.releaseAddress(alloc.poolId, plain(gw.address)));
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
      gateway: gw.address,
      auxAddresses: aux,
      v6,
    });
  }
  return pools;
}

export class Network {
  private readonly eps = new Map<string, Endpoint>();
  /** Names of endpoints being made (reserveEndpoint): taken, and the network is in use. */
  private readonly reserved = new Set<string>();
  private deleted = false;
  created = new Date();
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

  get enableIPv6(): boolean {
    return this.opts.enableIPv6;
  }

  get internal(): boolean {
    return this.opts.internal;
  }

  get attachable(): boolean {
    return this.opts.attachable === true;
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
      created: this.created.toISOString(),
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
  }

  async createEndpoint(name: string, options: EndpointCreateOptions = {}): Promise<Endpoint> {
    const driverOptions = checkEndpointOptions(name, options);
    const persist = this.controller.persist;
    const rb = new Rollback();
    try {
      const draft = await this.reserveEndpoint(name, options, driverOptions, rb);
      const key = keys.endpoint(this.id, draft.id);
      await persist.commit([put(key, draft.record('creating'))]);
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
  async connect(containerId: string, options: ConnectOptions = {}): Promise<Endpoint> {
    validateContainerId(containerId);
    const name = options.endpointName ?? containerId;
    const epOptions = options.endpoint ?? {};
    const driverOptions = checkEndpointOptions(name, epOptions);
    const joinOptions = options.join ?? {};
    const joinDriverOptions = checkStringMap('driverOptions', joinOptions.driverOptions);
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
          const host = this.driver.usesHostNamespace === true;
          const { sandbox, created } = await ctl.sandboxes.getOrCreate(containerId, host, joinOptions);
          if (created) rb.undoKernel(() => ctl.sandboxes.destroy(sandbox));
          const seq = ctl.nextJoinSeq();
          const epKey = keys.endpoint(this.id, draft.id);
          const sbKey = keys.sandbox(containerId);
          // The intent: the endpoint being made and joined, and the sandbox if this join makes it.
          await ctl.persist.commit([
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
      const v4 = await this.allocateAddress(false, options.ipv4Address, ipamOptions, rb);
      const v6 = this.enableIPv6
        ? await this.allocateAddress(true, options.ipv6Address, ipamOptions, rb)
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
  }

  private async allocateAddress(
    v6: boolean,
    wanted: string | undefined,
    options: Record<string, string>,
    rb: Rollback,
  ): Promise<{ poolId: string; address: string } | undefined> {
    const ipam = this.ipam;
    const pools = this.pools.filter((p) => p.v6 === v6);
    if (!ipam || pools.length === 0) {
      if (wanted !== undefined) {
        throw new InvalidOptionError(
          v6 ? 'ipv6Address' : 'ipv4Address',
          wanted,
          `network ${this.name} has no subnet`,
        );
      }
      return undefined;
    }
    const candidates = wanted === undefined ? pools : pools.filter((p) => isIn(wanted, p.subnet));
    if (candidates.length === 0) {
      throw new InvalidOptionError(
        v6 ? 'ipv6Address' : 'ipv4Address',
        wanted,
        `not inside any subnet of network ${this.name} (${pools.map((p) => p.subnet).join(', ')})`,
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

  endpoints(): Endpoint[] {
    return [...this.eps.values()];
  }

  endpointByName(name: string): Endpoint | undefined {
    for (const e of this.eps.values()) if (e.name === name) return e;
    return undefined;
  }

  endpointByID(id: string): Endpoint | undefined {
    return this.eps.get(id);
  }

  walkEndpoints(fn: (e: Endpoint) => unknown): void {
    for (const e of [...this.eps.values()]) if (fn(e) === true) return;
  }

  /** Deletes the network. Refused while it has endpoints (ActiveEndpointsError). */
  async delete(): Promise<void> {
    await this.controller.locks.run(`netname:${this.name}`, () =>
      this.controller.locks.run(`net:${this.id}`, async () => {
        if (this.deleted) throw new UnknownNetworkError(this.name);
        if (this.eps.size > 0 || this.reserved.size > 0) {
          throw new ActiveEndpointsError(this.name, [
            ...this.endpoints().map((e) => e.name),
            ...this.reserved,
          ]);
        }
        const persist = this.controller.persist;
        await persist.commit([put(keys.network(this.id), this.record('deleting'))]);
        await this.driver.deleteNetwork(this.id);
        this.deleted = true;
        this.controller.forget(this);
        await persist.commit([del(keys.network(this.id))]);
        // Reverse of creation: aux addresses, gateway, pool. A failure here leaks an
        // allocation, never a kernel object; every one is reported after the network is gone.
        const t = new Teardown(`releasing the addresses of network ${this.name}`);
        if (this.ipam) {
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
  }

  /** @internal */
  isDeleted(): boolean {
    return this.deleted;
  }
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
  async join(containerId: string, options: JoinOptions = {}): Promise<{ sandboxKey: string }> {
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
          await ctl.persist.commit([
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
      sandbox.os.addInterface({
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
    sandbox.attach(this, state);
    rb.undoKernel(() => sandbox.detach(this));
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
  async leave(containerId: string): Promise<void> {
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
  async leaveAndDelete(): Promise<void> {
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
    await ctl.persist.commit([put(this.key, intent)]);
    const what = deleteEndpoint
      ? `deleting endpoint ${this.name}`
      : `container ${j?.containerId ?? ''} leaving endpoint ${this.name}`;
    const t = new Teardown(what);
    const changes: Change[] = [];
    if (j) {
      const sandbox = j.sandbox;
      await t.attempt(() => driver.revokeExternalConnectivity?.(networkId, this.id));
      await t.attempt(() => sandbox.detach(this));
      const ifName = j.ifName;
      if (ifName) {
        for (const r of j.routes) await t.attempt(() => void sandbox.os.removeRoute(r.destination));
        if (!j.inSandbox) await t.attempt(() => sandbox.os.removeInterface(ifName, j.srcName ?? ifName));
        else sandbox.os.forgetInterface(ifName);
      }
      await t.attempt(() => driver.leave(networkId, this.id));
      this.joined = undefined;
      if (sandbox.isEmpty() && !sandbox.explicit) {
        if (await t.attempt(() => ctl.sandboxes.destroy(sandbox)))
          changes.push(del(keys.sandbox(j.containerId)));
      } else await t.attempt(() => sandbox.writeFiles());
    }
    // When the driver cannot delete it, the endpoint stays (a delete can be retried; the network
    // cannot go meanwhile); its record keeps the intent, which the next start finishes.
    if (deleteEndpoint && (await t.attempt(() => driver.deleteEndpoint(networkId, this.id)))) {
      this.deleted = true;
      this.network.forget(this);
    }
    if (t.failed) {
      // Keep the intent; commit only the sandbox that is gone for sure.
      await t.attempt(() => ctl.persist.commit(changes));
      t.check();
    }
    await ctl.persist.commit([
      deleteEndpoint ? del(this.key) : put(this.key, this.record('ready')),
      ...changes,
    ]);
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
