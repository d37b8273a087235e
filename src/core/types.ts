/** The public option and info shapes of the core API (src/index.ts re-exports them). */

import type { Cluster } from '../cluster/index.ts';
import type { ExposedPort, NetworkDriver, PortBinding, PortMapping } from '../driver-api/driver.ts';
import type { IpamDriver } from '../driver-api/ipam.ts';
import type { KvStore } from '../store/types.ts';

export interface ControllerConfig {
  /** Where sandboxes' namespaces and files live. Default `/run/dnet`. */
  runDir?: string;
  /** Where persistent state lives. Default `/var/lib/dnet`. */
  dataDir?: string;
  /** The host's resolv.conf, the base of containers' resolv.conf. Default `/etc/resolv.conf`. */
  hostResolvConf?: string;
  /**
   * Where networks, endpoints and sandboxes are persisted (the daemon passes an LmdbStore in
   * dataDir). With a store, create() restores what it holds. Without one, state lives in memory.
   */
  store?: KvStore;
  /**
   * Global scope (src/cluster/): this host's membership of a cluster on etcd. With it the overlay
   * driver and the global IPAM work, and global networks appear on every host. Without it, a
   * global-scope network is refused (ClusterStoreRequiredError).
   */
  cluster?: Cluster;
  /** Problems met in the background while following the cluster's networks (default: none reported). */
  onClusterError?: (err: Error) => void;
  /**
   * Network and IPAM drivers of the caller's own, registered before the store is restored (so
   * their networks come back too). Same as registerDriver/registerIpamDriver after create.
   */
  drivers?: NetworkDriver[];
  ipamDrivers?: IpamDriver[];
  /**
   * Default address pools of the built-in IPAM (Docker's `default-address-pools`): IPv4 and IPv6
   * entries. Without an IPv6 entry and with `hostId`, IPv6 networks get /64s of the ULA /48
   * derived from the host ID, as dockerd.
   */
  defaultAddressPools?: { base: string; size: number }[];
  /**
   * The host's ID (the daemon passes its engine ID, `<dataDir>/engine-id`): the built-in IPAM
   * derives the default IPv6 pool from it (a ULA /48, src/ipam/pools.ts). Absent: an IPv6 network
   * needs an explicit subnet unless `defaultAddressPools` has an IPv6 entry.
   */
  hostId?: string;
  /**
   * Driver-wide options by driver type (`{ bridge: { enableFirewall: false } }`), applied as
   * configureNetworkDriver does, before the store is restored (so restored networks get them).
   */
  driverOptions?: Record<string, Record<string, unknown>>;
  /**
   * Where Docker plugins (remote network and IPAM drivers) are discovered. Absent lists: Docker's,
   * sockets in `/run/docker/plugins`, spec files in `/etc/docker/plugins`, `/usr/lib/docker/plugins`.
   */
  pluginDirs?: { sockets?: string[]; specs?: string[] };
  /**
   * Plugin calls: `callTimeoutMs` per attempt (default 30 000); connection failures retried with
   * backoff from `retryInitialMs` (1 000) while under `retryTotalMs` (30 000).
   */
  pluginTimeouts?: { callTimeoutMs?: number; retryInitialMs?: number; retryTotalMs?: number };
  /**
   * The embedded DNS resolver (127.0.0.11) for containers on user-defined networks (docs/dns.md).
   * `false` turns it off (every container gets the legacy resolv.conf). Default on.
   */
  embeddedDns?: boolean | { forwardTimeoutMs?: number; maxInFlight?: number };
  /** Default DNS servers for every container (the daemon's `--dns`); a sandbox's own `dns` wins. */
  dns?: string[];
  /** Default search domains (`--dns-search`); a sandbox's own `dnsSearch` wins. */
  dnsSearch?: string[];
  /** Default resolver options (`--dns-opt`); a sandbox's own `dnsOptions` win. */
  dnsOptions?: string[];
}

export interface IpamConfigEntry {
  /** CIDR. Absent: a pool is picked from the defaults. */
  subnet?: string;
  /** CIDR inside `subnet` from which endpoint addresses come. */
  ipRange?: string;
  /** Plain address inside `subnet`. Absent: the first usable address. */
  gateway?: string;
  /** Addresses to reserve, by name (plain addresses inside `subnet`). */
  auxAddresses?: Record<string, string>;
}

export interface NetworkCreateOptions {
  ipam?: { driver?: string; config?: IpamConfigEntry[]; options?: Record<string, string> };
  /** IPv4 addresses (default true). `false` with `enableIPv6`: an IPv6-only network (Docker 28's `--ipv4=false`). */
  enableIPv4?: boolean;
  enableIPv6?: boolean;
  internal?: boolean;
  /** Containers may be attached to it by hand (Docker's `--attachable`; recorded and reported). */
  attachable?: boolean;
  labels?: Record<string, string>;
  /** Driver options: Docker's `com.docker.network.*` keys and the driver's own. */
  options?: Record<string, string>;
  /**
   * A configuration-only network (Docker's `--config-only`): it holds IPAM settings, IPv6, labels
   * and driver options for networks created from it, and nothing else: no driver state, no
   * address pools, no endpoints. Its type is `null`, as in Docker, whatever type is asked.
   */
  configOnly?: boolean;
  /**
   * Take IPAM settings, IPv6, labels and driver options from this configuration-only network (by
   * name; Docker's `--config-from`). The network must then give none of its own.
   */
  configFrom?: string;
}

/** Network options after validation (what the core keeps and persists). */
export interface NormalisedNetworkOptions {
  ipamDriver: string;
  ipamOptions: Record<string, string>;
  config: IpamConfigEntry[];
  /** Present (false) only for an IPv6-only network; absent means IPv4 (and in records of older versions). */
  enableIPv4?: false;
  enableIPv6: boolean;
  internal: boolean;
  /** Absent in records of older versions: false. */
  attachable?: boolean;
  labels: Record<string, string>;
  driverOptions: Record<string, string>;
  /** Absent in records of older versions: false. */
  configOnly?: boolean;
  /** The configuration-only network this one was created from (its name); absent: none. */
  configFrom?: string;
}

export interface EndpointCreateOptions {
  exposedPorts?: ExposedPort[];
  portBindings?: PortBinding[];
  macAddress?: string;
  /** A static IPv4 address (plain, inside one of the network's subnets). */
  ipv4Address?: string;
  /** A static IPv6 address. */
  ipv6Address?: string;
  /** Driver options for this endpoint. */
  driverOptions?: Record<string, string>;
  /**
   * More DNS names for the container on this network (Docker's `--alias`,
   * `EndpointConfig.Aliases`), answered by the embedded resolver to containers on the network.
   */
  aliases?: string[];
}

export interface ExtraHost {
  name: string;
  ip: string;
}

export interface JoinOptions {
  /**
   * The container's name, kept with its sandbox (set when the sandbox is made: by newSandbox or
   * the first join). The daemon names containers with it; names need not be unique in the library.
   */
  containerName?: string;
  hostname?: string;
  domainname?: string;
  /** DNS servers for resolv.conf (replace the host's). */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  extraHosts?: ExtraHost[];
  /** Where to write the container's hosts file. Default: `<runDir>/sandboxes/<id>/hosts`. */
  hostsPath?: string;
  /** Where to write the container's resolv.conf. Default: `<runDir>/sandboxes/<id>/resolv.conf`. */
  resolvConfPath?: string;
  /** Options handed to the driver's join. */
  driverOptions?: Record<string, string>;
}

/** A connect (network.connect): an endpoint made for a container and joined to it, as one operation. */
export interface ConnectOptions {
  /** The endpoint's name. Default: the container ID. */
  endpointName?: string;
  endpoint?: EndpointCreateOptions;
  /** Used for the sandbox when this is the container's first join (and the driver options always). */
  join?: JoinOptions;
  /**
   * When this join makes the container's sandbox: that sandbox is this existing namespace (an
   * absolute path: a CNI runtime's), not one of dnet's, as `controller.newSandbox(id,
   * { externalNetns })` makes it; dnet never creates nor removes the namespace. The sandbox is
   * made and recorded with the connect (one commit) and goes with its last endpoint.
   */
  externalNetns?: string;
}

export interface EndpointInfo {
  id: string;
  name: string;
  networkId: string;
  networkName: string;
  /** CIDR. */
  ipv4Address?: string;
  /** CIDR. */
  ipv6Address?: string;
  macAddress?: string;
  /** Plain address. */
  gateway?: string;
  gatewayIPv6?: string;
  portMappings: PortMapping[];
  containerId?: string;
  sandboxKey?: string;
  /** The interface's name inside the sandbox (`eth0`). */
  interfaceName?: string;
  hostsPath?: string;
  resolvConfPath?: string;
  /** The endpoint's aliases (`EndpointConfig.Aliases`). */
  aliases: string[];
  /** The names the embedded resolver answers for it (Docker's DNSNames): joined, on a network with DNS. */
  dnsNames?: string[];
}

export interface PoolInfo {
  poolId: string;
  /** The IPAM address space the pool was requested in. */
  addressSpace?: string;
  /** CIDR. */
  subnet: string;
  ipRange?: string;
  /** CIDR. */
  gateway?: string;
  /** CIDRs by name. */
  auxAddresses: Record<string, string>;
  v6: boolean;
}
