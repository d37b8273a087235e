/**
 * The bridge driver after a restart: the core hands back every network, endpoint and join it has
 * a record of; the driver adopts the bridges and veths that survived (a daemon restart) or makes
 * them again (a reboot), and at the end removes the links a crash left that carry dnet's mark but
 * that no record owns.
 */
import type { CreateNetworkRequest } from '../../driver-api/driver.ts';
import { plain } from '../../ip/index.ts';
import type { Link, NetlinkHandle } from '../../os/netlink/index.ts';
import { sysctlEnsure } from '../../os/sysctl.ts';
import { DEFAULT_GATEWAY_V4_AUX, DEFAULT_GATEWAY_V6_AUX, parseNetworkOptions } from './options.ts';
import { configureBridge } from './repair.ts';
import { type BridgeEndpoint, type BridgeNetwork, type BridgeState, LINK_MARK } from './state.ts';

/** The network as the driver keeps it, from the core's request (the bridge is not touched). */
export function bridgeNetworkOf(req: CreateNetworkRequest): BridgeNetwork {
  const cfg = parseNetworkOptions(req.networkId, req.options.generic, {
    internal: req.options.internal,
    enableIPv6: req.options.enableIPv6,
  });
  const aux = (data: typeof req.ipv4Data, key: string) => {
    const a = data.map((d) => d.auxAddresses?.[key]).find((x) => x !== undefined);
    return a === undefined ? undefined : plain(a);
  };
  const gw4 = aux(req.ipv4Data, DEFAULT_GATEWAY_V4_AUX);
  const gw6 = aux(req.ipv6Data, DEFAULT_GATEWAY_V6_AUX);
  return {
    id: req.networkId,
    cfg,
    subnets4: req.ipv4Data.map((d) => d.pool),
    subnets6: req.ipv6Data.map((d) => d.pool),
    gateways: [...req.ipv4Data, ...req.ipv6Data].map((d) => d.gateway).filter((g): g is string => !!g),
    ...(gw4 ? { defaultGateway4: gw4 } : {}),
    ...(gw6 ? { defaultGateway6: gw6 } : {}),
    created: false,
    endpoints: new Map(),
  };
}

/** Routing between the bridge and the host's other interfaces, when the driver is asked to set it. */
export function ensureForwarding(state: BridgeState, n: BridgeNetwork): void {
  if (!state.cfg.enableIPForwarding) return;
  sysctlEnsure('net.ipv4.ip_forward', 1);
  if (n.subnets6.length > 0) sysctlEnsure('net.ipv6.conf.all.forwarding', 1);
}

/**
 * Adopts the network's bridge when it survived (a daemon restart): its gateways, settings and mark
 * made right, the network known to the driver. False when there is no such bridge (a reboot): the
 * caller makes it as a new network.
 */
export function adoptBridge(
  nl: NetlinkHandle,
  state: BridgeState,
  req: CreateNetworkRequest,
  data: Record<string, string>,
): boolean {
  const n = bridgeNetworkOf(req);
  const existing = nl.linkGet(n.cfg.bridgeName);
  if (!existing || existing.info.kind !== 'bridge') return false;
  // Marked now if dnet made it (a bridge from a dnet without marks gets one).
  n.created = data.createdBridge !== 'false';
  if (existing.mtu !== n.cfg.mtu) nl.linkSet(existing.index, { mtu: n.cfg.mtu });
  configureBridge(nl, state, n);
  state.networks.set(n.id, n);
  ensureForwarding(state, n);
  return true;
}

/**
 * Whether a recorded join survived: the endpoint's veth is there, on its bridge. A veth left half
 * there is deleted (the core joins it again).
 */
export function joinSurvived(nl: NetlinkHandle, n: BridgeNetwork, e: BridgeEndpoint): boolean {
  const veth = nl.linkGet(e.hostVeth);
  const bridge = nl.linkGet(n.cfg.bridgeName);
  const intact = veth !== undefined && bridge !== undefined && veth.master === bridge.index;
  if (!intact && veth) nl.linkDelIfExists(veth.index);
  return intact;
}

/**
 * A link left by a crash that no network or endpoint owns, which dnet can prove it made: it
 * carries dnet's mark. Never a link merely named like ours: Docker's bridges are `br-<12 hex>`
 * too. Every restored endpoint owns its veth, joined or not: a join the core does not record
 * (Docker's, through dnet's plugin server) is restored after this, and a join a crash left half
 * done was undone by the core before this.
 */
export function isOrphan(state: BridgeState, l: Link): boolean {
  for (const n of state.networks.values()) {
    if (n.cfg.bridgeName === l.name) return false; // a network's bridge
    for (const e of n.endpoints.values()) {
      if (e.hostVeth === l.name || `${e.hostVeth}c` === l.name) return false;
    }
  }
  return l.alias?.startsWith(LINK_MARK) === true;
}
