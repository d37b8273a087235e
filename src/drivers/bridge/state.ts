/**
 * The bridge driver's state, shared by its parts (driver.ts: the NetworkDriver calls; ports.ts:
 * published ports; fw-driver.ts: the firewall; repair.ts: self-healing; restore.ts: adoption after
 * a restart): its networks and endpoints as the driver made them, the driver's configuration, and
 * the views of that state the firewall is built from. No kernel calls here.
 */
import type { PortMapping } from '../../driver-api/driver.ts';
import { DnetError } from '../../errors/index.ts';
import { ipv6Available } from '../../os/sysctl.ts';
import type { Allocated, HeldPorts, ProxyHandle } from '../../portmapper/index.ts';
import type { FwEndpoint, FwNetwork, FwPort } from './firewall.ts';
import {
  type Binding,
  type BridgeDriverConfig,
  type BridgeNetworkConfig,
  OPT_BRIDGE_NAME,
} from './options.ts';

/** The bridge name is taken by something dnet cannot use (another network's, or not compatible). */
export class BridgeConflictError extends DnetError {
  readonly code = 'ERR_BRIDGE_CONFLICT';
  readonly kind = 'conflict';
  constructor(
    readonly bridge: string,
    reason: string,
  ) {
    super(`cannot use bridge ${JSON.stringify(bridge)}: ${reason}; pick another ${OPT_BRIDGE_NAME}`);
  }
}

/** The driver was asked about a network or endpoint it does not have. */
export class BridgeStateError extends DnetError {
  readonly code = 'ERR_BRIDGE_UNKNOWN_OBJECT';
  readonly kind = 'not-found';
}

/**
 * The mark dnet puts on every link it makes (IFLA_IFALIAS, `ip link show` prints it as `alias`):
 * `dnet:` + the network's ID on a bridge, + the endpoint's ID on a host-side veth. Restore removes
 * a leftover link only when it carries the mark or a record names it: other software names its
 * links `br-<12 hex>` too (Docker).
 */
export const LINK_MARK = 'dnet:';
export const markOf = (id: string): string => `${LINK_MARK}${id}`;

export interface BridgeNetwork {
  id: string;
  cfg: BridgeNetworkConfig;
  subnets4: string[];
  subnets6: string[];
  /** Gateway CIDRs on the bridge. */
  gateways: string[];
  /**
   * The containers' gateways when not the bridge's addresses (plain; IPAM aux addresses
   * DefaultGatewayIPv4/IPv6, dockerd's --default-gateway).
   */
  defaultGateway4?: string;
  defaultGateway6?: string;
  /** We created the bridge (and delete it with the network). */
  created: boolean;
  /** The bridge's ifindex, once looked up (see BridgeState.bridgeIndex). */
  bridgeIndex?: number;
  endpoints: Map<string, BridgeEndpoint>;
}

/** One published port mapping of an endpoint: its host-port allocation, as reported, as programmed. */
export interface PublishedPort {
  alloc: Allocated;
  mapping: PortMapping;
  fw: FwPort;
}

export interface BridgeEndpoint {
  id: string;
  networkId: string;
  /** CIDRs. */
  addr4?: string;
  addr6?: string;
  mac: string;
  bindings: Binding[];
  hostVeth: string;
  joined: boolean;
  /** The last leave left the host end to go with the sandbox's namespace (the core's reclaim entry owns it). */
  hostVethReclaimed?: boolean;
  ports: PublishedPort[];
  proxies: ProxyHandle[];
  /** The sockets holding the host ports of `ports` (none when the userland proxy holds them). */
  held?: HeldPorts;
  /** Whether dnet holds the host ports (ENDPOINT_HOLD_HOST_PORTS_OPTION: the caller may hold them). */
  holdsPorts: boolean;
}

export class BridgeState {
  cfg: BridgeDriverConfig;
  readonly networks = new Map<string, BridgeNetwork>();
  /** Set between the first restore call and restoreDone: the firewall is rebuilt once, at the end. */
  restoring = false;
  /** Whether the kernel has IPv6 (not booted with ipv6.disable=1); asked once. */
  private ipv6: boolean | undefined;

  constructor(cfg: BridgeDriverConfig) {
    this.cfg = cfg;
  }

  net(id: string): BridgeNetwork {
    const n = this.networks.get(id);
    if (!n) throw new BridgeStateError(`bridge driver: no network ${id}`);
    return n;
  }

  ep(networkId: string, endpointId: string): BridgeEndpoint {
    const e = this.net(networkId).endpoints.get(endpointId);
    if (!e) throw new BridgeStateError(`bridge driver: no endpoint ${endpointId} in network ${networkId}`);
    return e;
  }

  hasIPv6(): boolean {
    this.ipv6 ??= ipv6Available();
    return this.ipv6;
  }

  hasPorts(): boolean {
    for (const n of this.networks.values())
      for (const e of n.endpoints.values()) if (e.ports.length) return true;
    return false;
  }

  /** A network's bridge or a joined endpoint's host-side veth. */
  ownsLink(name: string): boolean {
    for (const n of this.networks.values()) {
      if (n.cfg.bridgeName === name) return true;
      for (const e of n.endpoints.values()) if (e.joined && e.hostVeth === name) return true;
    }
    return false;
  }

  /** The firewall's view of every network, port and ICC-relevant endpoint: what a rebuild programs. */
  fwAll(): { networks: FwNetwork[]; ports: FwPort[]; endpoints: FwEndpoint[] } {
    const networks: FwNetwork[] = [];
    const ports: FwPort[] = [];
    const endpoints: FwEndpoint[] = [];
    for (const n of this.networks.values()) {
      networks.push(fwNetwork(n));
      for (const e of n.endpoints.values()) {
        ports.push(...e.ports.map((p) => p.fw));
        if (e.joined) endpoints.push(fwEndpoint(n, e));
      }
    }
    return { networks, ports, endpoints };
  }
}

/** The firewall's view of a network. */
export function fwNetwork(n: BridgeNetwork): FwNetwork {
  return {
    id: n.id,
    bridge: n.cfg.bridgeName,
    subnets4: n.subnets4,
    subnets6: n.subnets6,
    icc: n.cfg.icc,
    masquerade: n.cfg.masquerade,
    internal: n.cfg.internal,
  };
}

/** The firewall's view of an endpoint's veth (used on ICC-off networks). */
export function fwEndpoint(n: BridgeNetwork, e: BridgeEndpoint): FwEndpoint {
  return { bridge: n.cfg.bridgeName, ifname: e.hostVeth };
}
