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
import { type EndpointRecord, type JoinRecord, keys, type NetworkRecord, Persister } from './persist.ts';
import { type RestoreReport, restoreController } from './restore.ts';
import { type Sandbox, SandboxSet } from './sandbox.ts';
import type {
  ControllerConfig,
  EndpointCreateOptions,
  EndpointInfo,
  IpamConfigEntry,
  JoinOptions,
  NetworkCreateOptions,
  NormalisedNetworkOptions,
  PoolInfo,
} from './types.ts';

/** A failure while undoing a failed operation is reported, never allowed to hide the first error. */
async function undo(steps: (() => Promise<void> | void)[], cause: unknown): Promise<never> {
  const failures: unknown[] = [];
  for (const step of steps.reverse()) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0 && cause instanceof Error) {
    (cause as Error & { rollbackErrors?: unknown[] }).rollbackErrors = failures;
  }
  throw cause;
}

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

export class NetworkController {
  readonly runDir: string;
  readonly dataDir: string;
  readonly hostResolvConf: string;
  readonly drivers = new DriverRegistry();
  /** @internal */ readonly locks = new KeyedLock();
  /** @internal */ readonly sandboxes: SandboxSet;
  private readonly byId = new Map<string, Network>();
  private closed = false;
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
      const undoSteps: (() => Promise<void>)[] = [];
      try {
        let ipamDriver: IpamDriver | undefined;
        let pools: PoolInfo[] = [];
        if (!driver.skipsIpam) {
          ipamDriver = await this.drivers.ipamDriver(opts.ipamDriver);
          pools = await allocatePools(ipamDriver, opts, undoSteps);
        }
        const n = new Network(this, driver, ipamDriver, id, name, type, opts, pools);
        // Intent first: a crash from here on is rolled back at the next start.
        await this.persist.put(keys.network(id), n.record('creating'));
        undoSteps.push(() => this.persist.delete(keys.network(id)));
        const res = await driver.createNetwork(n.createRequest());
        if (res && typeof res === 'object' && res.data) n.driverData = { ...res.data };
        undoSteps.push(() => driver.deleteNetwork(id));
        await this.persist.put(keys.network(id), n.record('ready'));
        this.byId.set(id, n);
        return n;
      } catch (err) {
        return undo(undoSteps, err);
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
      try {
        await this.persist.put(keys.sandbox(containerId), sandbox.record());
      } catch (err) {
        await this.sandboxes.destroy(sandbox).catch(() => {});
        throw err;
      }
      return sandbox;
    });
  }

  /** Makes every endpoint of the container's sandbox leave, then removes the sandbox. */
  async deleteSandbox(containerId: string): Promise<void> {
    validateContainerId(containerId);
    for (;;) {
      const sb = this.sandboxes.get(containerId);
      if (!sb) throw new UnknownSandboxError(containerId);
      for (const ep of sb.endpoints()) {
        await ep.leave(containerId).catch((err: unknown) => {
          if (!(err instanceof NoContainerError)) throw err;
        });
      }
      const done = await this.locks.run(`sb:${containerId}`, async () => {
        if (this.sandboxes.get(containerId) !== sb) return true; // removed meanwhile
        if (!sb.isEmpty()) return false; // a join slipped in: leave again
        await this.sandboxes.destroy(sb);
        await this.persist.delete(keys.sandbox(containerId));
        return true;
      });
      if (done) return;
    }
  }

  /** @internal */
  forget(n: Network): void {
    this.byId.delete(n.id);
  }

  private checkOpen(): void {
    if (this.closed) throw new InvalidOptionError('controller', 'closed', 'the controller was closed');
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
    labels: checkStringMap('labels', o.labels),
    driverOptions: checkStringMap('options', o.options),
  };
}

/** Pool, then gateway, then each auxiliary address, per config entry; `undo` gets the reverse. */
async function allocatePools(
  ipam: IpamDriver,
  o: NormalisedNetworkOptions,
  undoSteps: (() => Promise<void>)[],
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
    undoSteps.push(() => ipam.releasePool(alloc.poolId));
    const gw = await ipam.requestAddress(alloc.poolId, {
      ...(entry.gateway ? { address: entry.gateway } : {}),
      options: { [IPAM_REQUEST_ADDRESS_TYPE]: IPAM_GATEWAY_ADDRESS_TYPE },
    });
    undoSteps.push(() => ipam.releaseAddress(alloc.poolId, plain(gw.address)));
    const aux: Record<string, string> = {};
    for (const [k, ip] of Object.entries(entry.auxAddresses ?? {})) {
      const a = await ipam.requestAddress(alloc.poolId, { address: ip });
      undoSteps.push(() => ipam.releaseAddress(alloc.poolId, plain(a.address)));
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
    return this.controller.locks.run(`net:${this.id}`, async () => {
      if (this.deleted) throw new UnknownNetworkError(this.name);
      if (this.endpointByName(name)) throw new EndpointExistsError(name, this.name);
      const id = newId();
      const undoSteps: (() => Promise<void>)[] = [];
      try {
        // An IPAM driver that asks for it (RequiresMACAddress) gets the endpoint's MAC in its
        // address requests; when the user gave none, one is made up first and the endpoint keeps
        // it (as Docker does). Otherwise no MAC is chosen here (the network driver may pick one).
        let macAddress = options.macAddress?.toLowerCase();
        const ipamOptions: Record<string, string> = {};
        if (this.ipam && (await this.ipam.capabilities()).requiresMacAddress) {
          macAddress ??= randomMac();
          ipamOptions[IPAM_MAC_ADDRESS_OPTION] = macAddress;
        }
        const v4 = await this.allocateAddress(false, options.ipv4Address, ipamOptions, undoSteps);
        const v6 = this.enableIPv6
          ? await this.allocateAddress(true, options.ipv6Address, ipamOptions, undoSteps)
          : undefined;
        if (options.ipv6Address !== undefined && !this.enableIPv6) {
          throw new InvalidOptionError(
            'ipv6Address',
            options.ipv6Address,
            `network ${this.name} has no IPv6`,
          );
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
        const draft = new Endpoint(this, id, name, iface, v4?.poolId, v6?.poolId, epOptions);
        await this.controller.persist.put(keys.endpoint(this.id, id), draft.record('creating'));
        undoSteps.push(() => this.controller.persist.delete(keys.endpoint(this.id, id)));
        const res = await this.driver.createEndpoint(draft.createRequest());
        undoSteps.push(() => this.driver.deleteEndpoint(this.id, id));
        const got = res.iface ?? {};
        for (const k of ['address', 'addressIPv6', 'macAddress'] as const) {
          if (got[k] !== undefined && iface[k] !== undefined && got[k] !== iface[k]) {
            throw new InvalidOptionError(
              `driver ${this.type}`,
              got,
              `the driver returned an interface ${k} for endpoint ${name}, but one was already set`,
            );
          }
        }
        const ep = new Endpoint(this, id, name, { ...iface, ...got }, v4?.poolId, v6?.poolId, epOptions);
        await this.controller.persist.put(keys.endpoint(this.id, id), ep.record('ready'));
        this.eps.set(id, ep);
        return ep;
      } catch (err) {
        return undo(undoSteps, err);
      }
    });
  }

  private async allocateAddress(
    v6: boolean,
    wanted: string | undefined,
    options: Record<string, string>,
    undoSteps: (() => Promise<void>)[],
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
        undoSteps.push(() => ipam.releaseAddress(p.poolId, plain(a.address)));
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
        if (this.eps.size > 0) {
          throw new ActiveEndpointsError(
            this.name,
            this.endpoints().map((e) => e.name),
          );
        }
        await this.controller.persist.put(keys.network(this.id), this.record('deleting'));
        await this.driver.deleteNetwork(this.id);
        this.deleted = true;
        this.controller.forget(this);
        await this.controller.persist.delete(keys.network(this.id));
        // Reverse of creation: aux addresses, gateway, pool. A failure here leaks an
        // allocation, never a kernel object; it is reported after the network is gone.
        const errors: unknown[] = [];
        if (this.ipam) {
          for (const p of [...this.pools].reverse()) {
            for (const a of Object.values(p.auxAddresses)) {
              await this.ipam.releaseAddress(p.poolId, plain(a)).catch((e: unknown) => errors.push(e));
            }
            if (p.gateway) {
              await this.ipam
                .releaseAddress(p.poolId, plain(p.gateway))
                .catch((e: unknown) => errors.push(e));
            }
            await this.ipam.releasePool(p.poolId).catch((e: unknown) => errors.push(e));
          }
        }
        if (errors.length > 0) throw errors[0];
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

  /** @internal */
  record(state: EndpointRecord['state'], join?: JoinRecord): EndpointRecord {
    const j = this.joined;
    const jr: JoinRecord | undefined =
      join ??
      (j
        ? {
            containerId: j.containerId,
            state: 'joined',
            ...(j.ifName ? { ifName: j.ifName } : {}),
            ...(j.srcName ? { srcName: j.srcName } : {}),
            ...(j.inSandbox ? { inSandbox: true } : {}),
            ...(j.gateway ? { gateway: j.gateway } : {}),
            ...(j.gatewayIPv6 ? { gatewayIPv6: j.gatewayIPv6 } : {}),
            routes: j.routes,
            portMappings: j.portMappings,
          }
        : undefined);
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

  private async save(join?: JoinRecord): Promise<void> {
    await this.network.controller.persist.put(
      keys.endpoint(this.network.id, this.id),
      this.record('ready', join),
    );
  }

  /**
   * Joins a container: its sandbox is created on its first join; the driver's interface is
   * moved into it, addressed and routed; hosts and resolv.conf are (re)written.
   */
  async join(containerId: string, options: JoinOptions = {}): Promise<{ sandboxKey: string }> {
    validateContainerId(containerId);
    const ctl = this.network.controller;
    return this.locks.run(`ep:${this.id}`, () =>
      this.locks.run(`sb:${containerId}`, async () => {
        if (this.deleted) throw new UnknownEndpointError(this.name, this.network.name);
        if (this.joined) throw new InvalidJoinError(this.name, this.joined.containerId);
        const host = this.network.driver.usesHostNamespace === true;
        const undoSteps: (() => Promise<void> | void)[] = [];
        try {
          const { sandbox, created } = await ctl.sandboxes.getOrCreate(containerId, host, options);
          if (created) {
            undoSteps.push(() => ctl.sandboxes.destroy(sandbox));
            await ctl.persist.put(keys.sandbox(containerId), sandbox.record());
            undoSteps.push(() => ctl.persist.delete(keys.sandbox(containerId)));
          }
          await this.connect(sandbox, checkStringMap('driverOptions', options.driverOptions), undoSteps);
          return { sandboxKey: sandbox.key };
        } catch (err) {
          return undo(undoSteps, err);
        }
      }),
    );
  }

  /**
   * @internal The work of a join once the sandbox exists (also used by restore to re-join an
   * endpoint whose kernel objects are gone). Records the intent first, the result last.
   */
  async connect(
    sandbox: Sandbox,
    driverOptions: Record<string, string>,
    undoSteps: (() => Promise<void> | void)[],
  ): Promise<void> {
    const containerId = sandbox.containerId;
    const driver = this.network.driver;
    await this.save({ containerId, state: 'joining', routes: [], portMappings: [] });
    undoSteps.push(() => this.save());
    const info = await driver.join({
      networkId: this.network.id,
      endpointId: this.id,
      sandboxKey: sandbox.key,
      options: driverOptions,
    });
    undoSteps.push(() => driver.leave(this.network.id, this.id));
    const state: JoinState = { containerId, sandbox, routes: [], portMappings: [] };
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
      sandbox.os.addInterface({
        inSandbox,
        srcName: info.interfaceName.srcName,
        dstName: ifName,
        ...(this.iface.macAddress ? { mac: this.iface.macAddress } : {}),
        addresses: [this.iface.address, this.iface.addressIPv6].filter((a): a is string => !!a),
      });
      state.ifName = ifName;
      state.srcName = info.interfaceName.srcName;
      if (inSandbox) state.inSandbox = true;
      else undoSteps.push(() => sandbox.os.removeInterface(ifName, info.interfaceName?.srcName ?? ifName));
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
    undoSteps.push(() => sandbox.detach(this));
    if (driver.programExternalConnectivity) {
      await driver.programExternalConnectivity(this.network.id, this.id, {});
      undoSteps.push(() => driver.revokeExternalConnectivity?.(this.network.id, this.id));
      const oper = await driver.endpointOperInfo(this.network.id, this.id);
      if (Array.isArray(oper.portMappings)) state.portMappings = oper.portMappings;
    }
    await sandbox.writeFiles();
    this.joined = state;
    await this.save();
  }

  /** The container leaves: its interface goes, and its sandbox too when this was its last endpoint. */
  async leave(containerId: string): Promise<void> {
    validateContainerId(containerId);
    await this.locks.run(`ep:${this.id}`, () =>
      this.locks.run(`sb:${containerId}`, async () => {
        const j = this.joined;
        if (!j || j.containerId !== containerId)
          throw new NoContainerError(this.name, containerId, j?.containerId);
        await this.disconnect(j);
      }),
    );
  }

  /** @internal Undoes a join, every step attempted even when an earlier one failed. */
  async disconnect(j: JoinState): Promise<void> {
    const ctl = this.network.controller;
    const driver = this.network.driver;
    const sandbox = j.sandbox;
    const errors: unknown[] = [];
    const attempt = async (fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    await attempt(() =>
      this.save({
        containerId: j.containerId,
        state: 'leaving',
        ...(j.ifName ? { ifName: j.ifName } : {}),
        ...(j.srcName ? { srcName: j.srcName } : {}),
        routes: j.routes,
        portMappings: j.portMappings,
      }),
    );
    await attempt(() => driver.revokeExternalConnectivity?.(this.network.id, this.id));
    await attempt(() => sandbox.detach(this));
    if (j.ifName) {
      for (const r of j.routes) await attempt(() => void sandbox.os.removeRoute(r.destination));
      const ifName = j.ifName;
      if (!j.inSandbox) await attempt(() => sandbox.os.removeInterface(ifName, j.srcName ?? ifName));
      else sandbox.os.forgetInterface(ifName);
    }
    await attempt(() => driver.leave(this.network.id, this.id));
    this.joined = undefined;
    await attempt(() => this.save());
    if (sandbox.isEmpty() && !sandbox.explicit) {
      await attempt(() => ctl.sandboxes.destroy(sandbox));
      await attempt(() => ctl.persist.delete(keys.sandbox(sandbox.containerId)));
    } else await attempt(() => sandbox.writeFiles());
    if (errors.length > 0) throw errors[0];
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

  /** Deletes the endpoint. Refused while a container is joined (ActiveContainerError). */
  async delete(): Promise<void> {
    await this.locks.run(`net:${this.network.id}`, () =>
      this.locks.run(`ep:${this.id}`, async () => {
        if (this.deleted) throw new UnknownEndpointError(this.name, this.network.name);
        if (this.joined) throw new ActiveContainerError(this.name, this.joined.containerId);
        const persist = this.network.controller.persist;
        await persist.put(keys.endpoint(this.network.id, this.id), this.record('deleting'));
        await this.network.driver.deleteEndpoint(this.network.id, this.id);
        this.deleted = true;
        this.network.forget(this);
        await persist.delete(keys.endpoint(this.network.id, this.id));
        const ipam = this.network.ipam;
        if (ipam && this.poolV4 && this.iface.address)
          await ipam.releaseAddress(this.poolV4, plain(this.iface.address));
        if (ipam && this.poolV6 && this.iface.addressIPv6)
          await ipam.releaseAddress(this.poolV6, plain(this.iface.addressIPv6));
      }),
    );
  }
}
