/**
 * The driver registry: where the core finds network and IPAM drivers by name. Built-ins are
 * wired here (the only place the core names concrete drivers), and so are remote plugins: a name
 * that is no built-in is looked up as a Docker plugin (a remote network driver or IPAM).
 */

import type { Cluster } from '../cluster/index.ts';
import type { NetworkDriver } from '../driver-api/driver.ts';
import type { IpamDriver } from '../driver-api/ipam.ts';
import { BridgeDriver } from '../drivers/bridge/index.ts';
import { HostDriver } from '../drivers/host/index.ts';
import { VlanDriver } from '../drivers/macvlan/index.ts';
import { NullDriver } from '../drivers/null/index.ts';
import { OverlayDriver } from '../drivers/overlay/index.ts';
import { RemoteDriver } from '../drivers/remote/index.ts';
import { InvalidOptionError, NetworkTypeError, UnknownIpamDriverError } from '../errors/cnm.ts';
import { DefaultIpam, GlobalIpam, RemoteIpam } from '../ipam/index.ts';
import { hostRouteCidrs } from '../os/routes.ts';
import { PluginRegistry, type PluginRegistryOptions } from '../plugins/index.ts';

export type Resolver<T> = (name: string) => Promise<T | undefined>;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.\-/:]{0,127}$/;

export class DriverRegistry {
  private readonly network = new Map<string, NetworkDriver>();
  private readonly ipam = new Map<string, IpamDriver>();
  private readonly networkResolver: Resolver<NetworkDriver>;
  private readonly ipamResolver: Resolver<IpamDriver>;

  constructor(
    config: PluginRegistryOptions & {
      defaultAddressPools?: { base: string; size: number }[];
      hostId?: string;
      cluster?: Cluster;
    } = {},
  ) {
    this.registerNetworkDriver(new NullDriver());
    this.registerNetworkDriver(new HostDriver());
    this.registerNetworkDriver(new BridgeDriver());
    // One driver, two link kinds (Docker's macvlan and ipvlan drivers differ in their slaves only).
    this.registerNetworkDriver(new VlanDriver('macvlan'));
    this.registerNetworkDriver(new VlanDriver('ipvlan'));
    // Always registered: without a cluster it refuses its networks with a clear error.
    this.registerNetworkDriver(new OverlayDriver(config.cluster));
    if (config.cluster) this.registerIpamDriver(new GlobalIpam(config.cluster.store, config.cluster.hostId));
    this.registerIpamDriver(
      new DefaultIpam({
        hostRoutes: () => hostRouteCidrs(),
        ...(config.defaultAddressPools ? { localPools: config.defaultAddressPools } : {}),
        ...(config.hostId !== undefined ? { hostId: config.hostId } : {}),
      }),
    );
    const plugins = new PluginRegistry(config);
    this.networkResolver = (name) => RemoteDriver.resolve(plugins, name);
    this.ipamResolver = (name) => RemoteIpam.resolve(plugins, name);
  }

  registerNetworkDriver(d: NetworkDriver): void {
    if (!NAME_RE.test(d.type)) throw new InvalidOptionError('driver', d.type, 'not a usable driver name');
    this.network.set(d.type, d);
  }

  registerIpamDriver(d: IpamDriver): void {
    if (!NAME_RE.test(d.name))
      throw new InvalidOptionError('ipam driver', d.name, 'not a usable driver name');
    this.ipam.set(d.name, d);
  }

  async networkDriver(type: string): Promise<NetworkDriver> {
    const d = this.network.get(type) ?? (await this.resolve(type, this.networkResolver));
    if (!d) throw new NetworkTypeError(type, this.networkTypes());
    this.network.set(type, d);
    return d;
  }

  async ipamDriver(name: string): Promise<IpamDriver> {
    const d = this.ipam.get(name) ?? (await this.resolve(name, this.ipamResolver));
    if (!d) throw new UnknownIpamDriverError(name, [...this.ipam.keys()]);
    this.ipam.set(name, d);
    return d;
  }

  private async resolve<T>(name: string, r: Resolver<T> | undefined): Promise<T | undefined> {
    if (!r || !NAME_RE.test(name)) return undefined;
    return r(name);
  }

  networkTypes(): string[] {
    return [...this.network.keys()].sort();
  }

  loadedNetworkDrivers(): NetworkDriver[] {
    return [...this.network.values()];
  }
}
