/**
 * What a network driver implements: the seed's driverapi.Driver, in TypeScript. Built-in drivers
 * (null, host, bridge) and remote plugins (Docker's NetworkDriver.* protocol) fit it; the core
 * only talks to drivers through it. IDs, never names, cross this line. Addresses are CIDR strings.
 */

export type Scope = 'local' | 'global';

export interface DriverCapability {
  /** Where the driver's state lives: this host only, or cluster-wide. */
  dataScope: Scope;
  /** Where its networks reach: this host only, or across hosts. */
  connectivityScope: Scope;
}

/** One IPAM pool of a network, as the driver sees it (Docker's IPAMData). */
export interface IpamData {
  addressSpace: string;
  /** The subnet, CIDR. */
  pool: string;
  /** The gateway, CIDR (address/prefix of the pool). */
  gateway?: string;
  /** Reserved addresses by name, CIDR. */
  auxAddresses: Record<string, string>;
}

/** Options of a network, as the core hands them to the driver. */
export interface NetworkOptions {
  /** Driver options (`com.docker.network.*` keys and driver-specific ones), as given by the user. */
  generic: Record<string, string>;
  enableIPv6: boolean;
  internal: boolean;
  labels: Record<string, string>;
  /** The user's network name: drivers may use it for messages, never as an identity. */
  name: string;
}

export interface CreateNetworkRequest {
  networkId: string;
  options: NetworkOptions;
  ipv4Data: IpamData[];
  ipv6Data: IpamData[];
}

export type Proto = 'tcp' | 'udp' | 'sctp';

export interface ExposedPort {
  proto: Proto;
  port: number;
}

/** A port to publish (the seed's types.PortBinding). Unset host fields are chosen by the driver. */
export interface PortBinding {
  proto: Proto;
  /** The container's port, or the first of a range. */
  port: number;
  /**
   * The last container port of a range (`-p 8000-8010:8000-8010`): host ports map 1:1 onto the
   * container's, so the host range must be as long. Absent: one container port.
   */
  portEnd?: number;
  /** The host address to publish on (default: all). */
  hostIP?: string;
  /** The host port, or the first of a range; 0/absent: an ephemeral port. */
  hostPort?: number;
  /** The last host port of a range. */
  hostPortEnd?: number;
}

/** A published port as it is in effect: host fields filled in. */
export interface PortMapping {
  proto: Proto;
  port: number;
  portEnd: number;
  /** The container address the traffic goes to. */
  containerIP: string;
  hostIP: string;
  hostPort: number;
  hostPortEnd: number;
}

/** The addresses of an endpoint's interface: allocated by the core's IPAM, or chosen by the driver. */
export interface EndpointInterface {
  /** IPv4, CIDR. */
  address?: string;
  /** IPv6, CIDR. */
  addressIPv6?: string;
  macAddress?: string;
}

export interface EndpointOptions {
  exposedPorts: ExposedPort[];
  portBindings: PortBinding[];
  /** Driver options for this endpoint (Docker's EndpointConfig.DriverOpts). */
  generic: Record<string, string>;
}

export interface CreateEndpointRequest {
  networkId: string;
  endpointId: string;
  iface: EndpointInterface;
  options: EndpointOptions;
}

/**
 * What a driver may fill in on endpoint creation. A driver that returns fields the core already
 * set is refused (the core then deletes the endpoint), as Docker does.
 */
export interface CreateEndpointResult {
  iface?: EndpointInterface;
}

export interface StaticRoute {
  /** CIDR. */
  destination: string;
  /** 0: via a next hop; 1: directly connected (on-link). */
  routeType: 0 | 1;
  nextHop?: string;
}

export interface JoinRequest {
  networkId: string;
  endpointId: string;
  /** The sandbox's network namespace path. */
  sandboxKey: string;
  options: Record<string, string>;
  /**
   * Leave both ends of the interface in the host's namespace: whoever asked moves `srcName` into
   * the sandbox itself (Docker Engine, through dnet's plugin server, owns its containers'
   * namespaces). Drivers that can make the interface inside the sandbox must not, then.
   */
  interfaceInHost?: boolean;
}

export interface JoinInfo {
  /**
   * The interface the driver made for this endpoint, in the host's namespace. The core moves
   * `srcName` into the sandbox and names it `dstPrefix` + index (`eth0`, `eth1`...). Absent: no
   * interface (null and host drivers).
   */
  interfaceName?: {
    srcName: string;
    dstPrefix: string;
    /**
     * The driver made `srcName` inside the sandbox already (built-in drivers: a veth peer created
     * in the sandbox's namespace saves moving it, which costs the kernel an RCU grace period).
     * On leave the core then leaves the interface where it is: the driver removes the pair.
     */
    inSandbox?: boolean;
  };
  /** IPv4 gateway (plain address). */
  gateway?: string;
  /** IPv6 gateway (plain address). */
  gatewayIPv6?: string;
  staticRoutes: StaticRoute[];
  disableGatewayService: boolean;
}

/** What the core tells a driver's leave. */
export interface LeaveOptions {
  /**
   * The interface inside the sandbox is down and out of the way: its namespace goes right after
   * this leave (this was its last endpoint), or it was renamed `dx<12 hex>` there (a namespace
   * dnet does not own: a CNI runtime's, which keeps it). A driver whose interface has its other
   * end in that namespace (JoinInfo.interfaceName.inSandbox: a veth) may leave the pair to the
   * core instead of deleting it now (a veth delete waits for RCU grace periods): it names its
   * host end in `reclaimLinks`.
   */
  deferRemoval?: boolean;
}

/** What a leave left to the core (see LeaveOptions.deferRemoval). */
export interface LeaveResult {
  /**
   * Host-namespace links the driver did not delete: they go with the sandbox's namespace, or are
   * deleted in the background. The core owns them from now on (a reclaim entry).
   */
  reclaimLinks?: string[];
}

export interface NetworkDriver {
  readonly type: string;
  /** Joins give the container the host's own namespace, not a sandbox of its own (host driver). */
  readonly usesHostNamespace?: boolean;
  /**
   * Networks of this driver exist on every host of the cluster (overlay): the core publishes them
   * in the cluster store, makes other hosts' networks here with restoreNetwork, and refuses them
   * without a cluster. Their IPAM is the global one unless the user names another.
   */
  readonly clusterScoped?: boolean;
  /** Networks of this driver get no IPAM pools and endpoints no addresses (null, host). */
  readonly skipsIpam?: boolean;
  /**
   * The gateway is a router outside the network (macvlan, ipvlan): IPAM reserves a gateway only
   * when the user gives one, and picks none otherwise (Docker's GetSkipGwAlloc).
   */
  readonly skipsGatewayAllocation?: boolean;
  capabilities(): DriverCapability;
  /** Driver-wide configuration (`controller.configureNetworkDriver`). Validates and applies. */
  configure?(options: Record<string, unknown>): Promise<void>;
  /**
   * Creates the network. A driver may return `data` to keep: the core persists it with the network
   * and hands it back to restoreNetwork.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: most drivers return nothing (Promise<void>)
  createNetwork(req: CreateNetworkRequest): Promise<void | { data?: Record<string, string> }>;
  deleteNetwork(networkId: string): Promise<void>;
  createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResult>;
  deleteEndpoint(networkId: string, endpointId: string): Promise<void>;
  /** Operational data of an endpoint (port mappings, the host-side interface...). */
  endpointOperInfo(networkId: string, endpointId: string): Promise<EndpointOperInfo>;
  join(req: JoinRequest): Promise<JoinInfo>;
  // biome-ignore lint/suspicious/noConfusingVoidType: most drivers return nothing (Promise<void>)
  leave(networkId: string, endpointId: string, options?: LeaveOptions): Promise<void | LeaveResult>;
  /** After join: publish ports, NAT. */
  programExternalConnectivity?(
    networkId: string,
    endpointId: string,
    options: Record<string, string>,
  ): Promise<void>;
  revokeExternalConnectivity?(networkId: string, endpointId: string): Promise<void>;
  /**
   * Another firewall on the host (dockerd's) may have (re)appeared: put back whatever the driver
   * keeps in it for its traffic to pass (the bridge driver's DOCKER-USER rules).
   */
  hostFirewallChanged?(): Promise<void>;
  /** The controller is closing: release in-memory resources (not kernel state). */
  close?(): Promise<void>;
  /**
   * What is wrong with a joined endpoint's host side (its host interface, its firewall elements),
   * one sentence per problem; [] when all is in place. (CNI's CHECK asks it.)
   */
  checkEndpoint?(networkId: string, endpointId: string): Promise<string[]>;

  // --- restore after a restart (drivers that keep in-memory state implement these) ---------

  /** A network the driver created before: rebuild its state; adopt its kernel objects or make them again. */
  restoreNetwork?(req: CreateNetworkRequest, data: Record<string, string>): Promise<void>;
  /** An endpoint the driver created before. */
  restoreEndpoint?(req: CreateEndpointRequest): Promise<void>;
  /**
   * A joined endpoint: take back its published ports (the same host ports) and say whether its
   * host-side objects are intact. `false`: the core makes the endpoint join again (driver.join).
   */
  restoreJoin?(
    networkId: string,
    endpointId: string,
    state: {
      portMappings: PortMapping[];
      /** The sandbox's namespace path (absent on the Docker plugin path, where Docker owns it). */
      sandboxKey?: string;
    },
  ): Promise<boolean>;
  /** Everything is restored: rebuild derived state (firewall) and remove what no record owns. */
  restoreDone?(): Promise<void>;
}

export interface EndpointOperInfo {
  portMappings?: PortMapping[];
  macAddress?: string;
  [key: string]: unknown;
}

/**
 * Endpoint option: `"false"` tells a driver that publishes ports not to hold their host ports with
 * sockets of its own, because whoever asked for the endpoint reserves them (a CNI runtime such
 * as podman binds the host ports of its `-p` itself before it calls the plugin).
 */
export const ENDPOINT_HOLD_HOST_PORTS_OPTION = 'com.dnet.endpoint.hold_host_ports';
