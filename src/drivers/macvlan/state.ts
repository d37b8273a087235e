/**
 * The macvlan/ipvlan driver's state (networks, endpoints) and the decisions made from it alone:
 * parent conflicts, the slave to make, routing. No kernel calls here.
 */
import type { CreateNetworkRequest, JoinInfo, StaticRoute } from '../../driver-api/driver.ts';
import { plain } from '../../ip/index.ts';
import { VlanParentConflictError } from './errors.ts';
import { type ParentPlan, parseNetworkOptions, type VlanKind, type VlanNetworkConfig } from './options.ts';

export interface VlanNetwork {
  id: string;
  /** The user's name for messages (never an identity). */
  name: string;
  cfg: VlanNetworkConfig;
  /** Plain gateway addresses (only those the user gave). */
  gw4?: string;
  gw6?: string;
  hasV6: boolean;
  /** The driver made the parent (and removes it with the last network on it). */
  made?: ParentPlan['make'];
  endpoints: Map<string, VlanEndpoint>;
}

export interface VlanEndpoint {
  id: string;
  /** macvlan: the slave's MAC; ipvlan slaves have their parent's. */
  mac?: string;
  /** The slave's name when made (`mv`/`iv` + 10 hex of the endpoint ID). */
  ifName: string;
  joined: boolean;
  /** Made in the host's namespace for whoever asked to move it (Docker's plugin path). */
  inHost: boolean;
  sandboxKey?: string;
}

export const short = (id: string) => id.slice(0, 12);

export function networkOf(type: VlanKind, req: CreateNetworkRequest): VlanNetwork {
  const cfg = parseNetworkOptions(type, req.networkId, req.options.generic, {
    internal: req.options.internal,
  });
  const gw4 = req.ipv4Data.find((d) => d.gateway)?.gateway;
  const gw6 = req.ipv6Data.find((d) => d.gateway)?.gateway;
  return {
    id: req.networkId,
    name: req.options.name,
    cfg,
    ...(gw4 ? { gw4: plain(gw4) } : {}),
    ...(gw6 ? { gw6: plain(gw6) } : {}),
    hasV6: req.ipv6Data.length > 0,
    endpoints: new Map(),
  };
}

/** Docker's rules: passthru holds its parent alone; ipvlan networks do not share a parent. */
export function checkParentConflicts(type: VlanKind, networks: Iterable<VlanNetwork>, n: VlanNetwork): void {
  const parent = n.cfg.parent;
  for (const o of networks) {
    if (o.id === n.id || o.cfg.parent !== parent) continue;
    if (type === 'ipvlan') {
      throw new VlanParentConflictError(`network ${short(o.id)} is already using parent interface ${parent}`);
    }
    if (n.cfg.slave.mode === 'passthru') {
      throw new VlanParentConflictError(
        `cannot use mode passthru, macvlan network ${short(o.id)} is already using parent interface ${parent}`,
      );
    }
    if (o.cfg.slave.mode === 'passthru') {
      throw new VlanParentConflictError(
        `macvlan network ${short(o.id)} is already using parent interface ${parent} in mode passthru`,
      );
    }
  }
}

/** A throwaway slave in the mode with the fewest side effects on the parent (bridge, l2). */
export function probeSpec(type: VlanKind, parent: number) {
  return type === 'macvlan'
    ? { kind: 'macvlan' as const, parent, mode: 'bridge' as const }
    : { kind: 'ipvlan' as const, parent, mode: 'l2' as const, flag: 'bridge' as const };
}

/** The slave of an endpoint: a macvlan in the network's mode with its MAC, or an ipvlan. */
export function slaveSpec(n: VlanNetwork, parent: number, name: string, mac?: string) {
  const s = n.cfg.slave;
  return s.kind === 'macvlan'
    ? { kind: 'macvlan' as const, name, parent, mode: s.mode, ...(mac ? { mac } : {}) }
    : { kind: 'ipvlan' as const, name, parent, mode: s.mode, flag: s.flag };
}

/**
 * Docker's routing: the user's gateways (none on an internal network); ipvlan L3/L3S has no
 * gateway but default routes on the link itself.
 */
export function routing(n: VlanNetwork): Pick<JoinInfo, 'gateway' | 'gatewayIPv6' | 'staticRoutes'> {
  if (n.cfg.internal) return { staticRoutes: [] };
  const s = n.cfg.slave;
  if (s.kind === 'ipvlan' && s.mode !== 'l2') {
    const routes: StaticRoute[] = [{ destination: '0.0.0.0/0', routeType: 1 }];
    if (n.hasV6) routes.push({ destination: '::/0', routeType: 1 });
    return { staticRoutes: routes };
  }
  return {
    ...(n.gw4 ? { gateway: n.gw4 } : {}),
    ...(n.gw6 ? { gatewayIPv6: n.gw6 } : {}),
    staticRoutes: [],
  };
}
