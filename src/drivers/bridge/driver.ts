/**
 * The bridge driver: each network is a Linux bridge holding the gateway address(es); each
 * endpoint a veth pair, host end on the bridge (named `dv` + the endpoint ID's first 10 hex, so it
 * traces back to its endpoint), the other end made inside the sandbox. Its parts: state.ts (what
 * it made), fw-driver.ts (NAT, isolation and published ports on nftables, behind one interface),
 * veth.ts (the endpoint's veth pair), ports.ts (host ports, held or proxied), repair.ts (self-healing),
 * restore.ts (after a restart).
 */
import {
  type CreateEndpointRequest,
  type CreateEndpointResult,
  type CreateNetworkRequest,
  type DriverCapability,
  ENDPOINT_HOLD_HOST_PORTS_OPTION,
  type EndpointOperInfo,
  type JoinInfo,
  type JoinRequest,
  type LeaveOptions,
  type LeaveResult,
  type NetworkDriver,
  type PortMapping,
} from '../../driver-api/driver.ts';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { familyOf, plain } from '../../ip/index.ts';
import { randomMac } from '../../ip/mac.ts';
import { deletionWorker, kernelWorker } from '../../os/kernel-worker/index.ts';
import type { NetlinkHandle } from '../../os/netlink/index.ts';
import { hostNetlink } from '../../os/sandbox.ts';
import { type BridgeFirewall, NftBridgeFirewall, NoBridgeFirewall } from './fw-driver.ts';
import type { HealScope } from './heal.ts';
import {
  DEFAULT_DRIVER_CONFIG,
  macFromIPv4,
  parseBindings,
  parseBool,
  parseDriverConfig,
} from './options.ts';
import { PortPublisher } from './ports.ts';
import { BridgeRepairer, configureBridge, type HealReport } from './repair.ts';
import { adoptBridge, bridgeNetworkOf, ensureForwarding, isOrphan, joinSurvived } from './restore.ts';
import { BridgeConflictError, BridgeState, markOf } from './state.ts';
import { addVeth, removeVeth } from './veth.ts';

export { HEAL_CHANNEL, type HealReport } from './repair.ts';
export { BridgeConflictError, BridgeStateError, LINK_MARK } from './state.ts';

const parseHoldHostPorts = (v: string | undefined): boolean =>
  v === undefined ? true : parseBool(ENDPOINT_HOLD_HOST_PORTS_OPTION, v);

export class BridgeDriver implements NetworkDriver {
  readonly type = 'bridge';
  private readonly state = new BridgeState({ ...DEFAULT_DRIVER_CONFIG });
  private fw: BridgeFirewall = this.newFirewall();
  private readonly ports = new PortPublisher(this.state, () => this.fw);
  private readonly repairer = new BridgeRepairer(
    this.state,
    () => this.nl,
    () => this.fw,
  );

  private get nl(): NetlinkHandle {
    return hostNetlink();
  }

  private newFirewall(): BridgeFirewall {
    if (!this.state.cfg.enableFirewall) return new NoBridgeFirewall();
    // A firewall update that finds the tables gone: a bridge may be gone too (the rebuild needs them all).
    return new NftBridgeFirewall(this.state, (reason) =>
      this.heal({ links: true, firewall: 'rebuild' }, reason),
    );
  }

  capabilities(): DriverCapability {
    return { dataScope: 'local', connectivityScope: 'local' };
  }

  async configure(options: Record<string, unknown>): Promise<void> {
    const before = this.state.cfg;
    const cfg = parseDriverConfig(options, before);
    const rangeChanged =
      cfg.portRange.start !== before.portRange.start || cfg.portRange.end !== before.portRange.end;
    if (rangeChanged && this.state.hasPorts()) {
      throw new InvalidOptionError('portRange', options.portRange, 'cannot change while ports are published');
    }
    const watchChanged =
      cfg.selfHeal !== before.selfHeal || cfg.healCheckInterval !== before.healCheckInterval;
    this.state.cfg = cfg;
    if (rangeChanged) this.ports.rangeChanged();
    if (cfg.enableFirewall !== before.enableFirewall) {
      this.fw.destroy(); // switched off: dnet's tables go (nothing when it was off)
      this.fw = this.newFirewall();
    }
    if (cfg.enableFirewall && this.state.networks.size > 0) {
      // The rebuild sets sysctls on every bridge: make sure they are all there first.
      this.heal({ links: true, firewall: false }, 'configure');
      this.fw.rebuild();
    }
    if (watchChanged) {
      this.repairer.stopWatch();
      this.repairer.ensureWatch();
    }
  }

  /** Compares what the driver made with the kernel and repairs from state (repair.ts). */
  heal(scope: HealScope = { links: true, firewall: 'verify' }, reason = 'asked'): HealReport {
    return this.repairer.heal(scope, reason);
  }

  async createNetwork(req: CreateNetworkRequest): Promise<{ data: Record<string, string> }> {
    const n = bridgeNetworkOf(req);
    const name = n.cfg.bridgeName;
    if (req.ipv4Data.length === 0 && req.ipv6Data.length === 0) {
      // moby's bridge driver: "IPv4 or IPv6 must be enabled"
      throw new InvalidOptionError(
        'ipam',
        req.ipv4Data,
        'IPv4 or IPv6 must be enabled: a bridge network needs a subnet',
      );
    }
    for (const other of this.state.networks.values()) {
      if (other.cfg.bridgeName === name) {
        throw new BridgeConflictError(name, `network ${other.id.slice(0, 12)} uses it`);
      }
    }
    const nl = this.nl;
    const existing = nl.linkGet(name);
    const added: string[] = [];
    try {
      if (existing) {
        if (existing.info.kind !== 'bridge') {
          throw new BridgeConflictError(name, `a ${existing.info.kind} link of that name exists`);
        }
        const foreign = nl
          .addrList(existing.index)
          .filter((a) => a.scope === 0 && !n.gateways.includes(a.cidr))
          .map((a) => a.cidr);
        if (foreign.length > 0) {
          throw new BridgeConflictError(name, `it has other addresses (${foreign.join(', ')})`);
        }
        if (existing.mtu !== n.cfg.mtu) nl.linkSet(existing.index, { mtu: n.cfg.mtu });
      } else {
        // A MAC of its own (as Docker): otherwise the bridge takes its lowest port's, which changes as
        // containers come and go, and the containers' ARP entries for the gateway go stale (seconds
        // without a way out).
        nl.linkAdd({ kind: 'bridge', name, mtu: n.cfg.mtu, mac: randomMac() });
        n.created = true;
      }
      configureBridge(nl, this.state, n, added);
      ensureForwarding(this.state, n);
      this.state.networks.set(n.id, n);
      try {
        if (!this.state.restoring) this.fw.addNetwork(n);
      } catch (err) {
        this.state.networks.delete(n.id);
        throw err;
      }
    } catch (err) {
      if (n.created) nl.linkDelIfExists(name);
      else for (const a of added) nl.addrDel(name, a);
      throw err;
    }
    this.repairer.ensureWatch();
    return { data: { createdBridge: n.created ? 'true' : 'false' } };
  }

  async restoreNetwork(req: CreateNetworkRequest, data: Record<string, string>): Promise<void> {
    this.state.restoring = true;
    if (adoptBridge(this.nl, this.state, req, data)) return;
    await this.createNetwork(req); // gone (a reboot): make it again
    const n = this.state.networks.get(req.networkId);
    if (n) n.created = data.createdBridge !== 'false' || n.created;
  }

  async restoreEndpoint(req: CreateEndpointRequest): Promise<void> {
    this.state.restoring = true;
    await this.createEndpoint(req);
  }

  async restoreJoin(
    networkId: string,
    endpointId: string,
    state: { portMappings: PortMapping[] },
  ): Promise<boolean> {
    this.state.restoring = true;
    const n = this.state.net(networkId);
    const e = this.state.ep(networkId, endpointId);
    const intact = joinSurvived(this.nl, n, e);
    if (intact) e.joined = true;
    // The same host ports as before; the firewall programs them with its rebuild at restoreDone.
    await this.ports.restore(n, e, state.portMappings);
    return intact;
  }

  async restoreDone(): Promise<void> {
    this.state.restoring = false;
    for (const l of this.nl.linkList()) if (isOrphan(this.state, l)) this.nl.linkDelIfExists(l.index);
    this.fw.restored();
    this.repairer.ensureWatch();
  }

  async deleteNetwork(networkId: string): Promise<void> {
    const n = this.state.net(networkId);
    if (n.endpoints.size > 0) {
      throw new BridgeConflictError(
        n.cfg.bridgeName,
        `network ${networkId.slice(0, 12)} still has endpoints`,
      );
    }
    this.fw.removeNetwork(n);
    this.state.networks.delete(networkId);
    if (this.state.networks.size === 0) {
      this.repairer.stopWatch();
      this.fw.destroy(); // nothing left to protect or publish: dnet's tables go too
    }
    if (n.created) this.nl.linkDelIfExists(n.cfg.bridgeName);
    else for (const gw of n.gateways) this.nl.addrDel(n.cfg.bridgeName, gw);
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResult> {
    const n = this.state.net(req.networkId);
    const bindings = parseBindings(req.options.portBindings);
    for (const b of bindings) {
      if (b.hostIP && familyOf(b.hostIP) === 6 && !req.iface.addressIPv6) {
        throw new InvalidOptionError('portBindings', b, 'an IPv6 host address needs an endpoint with IPv6');
      }
    }
    const mac =
      req.iface.macAddress ?? (req.iface.address ? macFromIPv4(plain(req.iface.address)) : randomMac());
    n.endpoints.set(req.endpointId, {
      id: req.endpointId,
      networkId: req.networkId,
      ...(req.iface.address ? { addr4: req.iface.address } : {}),
      ...(req.iface.addressIPv6 ? { addr6: req.iface.addressIPv6 } : {}),
      mac,
      bindings,
      hostVeth: `dv${req.endpointId.slice(0, 10)}`,
      joined: false,
      ports: [],
      proxies: [],
      holdsPorts: parseHoldHostPorts(req.options.generic[ENDPOINT_HOLD_HOST_PORTS_OPTION]),
    });
    return req.iface.macAddress ? {} : { iface: { macAddress: mac } };
  }

  async deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    const n = this.state.net(networkId);
    const e = this.state.ep(networkId, endpointId);
    await this.ports.unpublish(e);
    // A veth delete waits for RCU grace periods: on the kernel worker, not the event loop.
    if (!e.hostVethReclaimed) await deletionWorker().linkDelIfExists(e.hostVeth);
    n.endpoints.delete(endpointId);
    this.repairer.reportedMissing.delete(endpointId);
  }

  async endpointOperInfo(networkId: string, endpointId: string): Promise<EndpointOperInfo> {
    const e = this.state.ep(networkId, endpointId);
    return {
      portMappings: e.ports.map((p) => ({ ...p.mapping })),
      macAddress: e.mac,
      hostInterface: e.hostVeth,
    };
  }

  async join(req: JoinRequest): Promise<JoinInfo> {
    const n = this.state.net(req.networkId);
    const e = this.state.ep(req.networkId, req.endpointId);
    const peer = `${e.hostVeth}c`;
    // The peer is made inside the sandbox directly: moving it there afterwards would cost the
    // kernel an RCU grace period (~15 ms here). Unless the caller moves it itself (Docker's
    // plugin path): then both ends stay here, the peer with the endpoint's MAC.
    const inHost = req.interfaceInHost === true;
    // The link requests run on the kernel worker (see addVeth).
    const kw = kernelWorker();
    const index = await addVeth(
      this.nl,
      n,
      { name: e.hostVeth, peer },
      inHost ? { mac: e.mac } : { sandboxKey: req.sandboxKey },
      (why) => this.heal({ links: true, firewall: false }, why),
    );
    try {
      // Hairpin: a container reaches its own published port through the host's address (the
      // DNATed frame goes back out the port it came in on), as Docker does without its proxy.
      await kw.netlink('bridgePortSet', [index, { hairpin: true }]);
      // A bridge port needs no IP of its own: no link-local address (so no DAD, no router
      // solicitations), set with the same request that brings it up.
      // The same request marks it as dnet's (LINK_MARK; the kernel takes no alias at creation).
      await kw.netlink('linkSet', [
        index,
        {
          up: true,
          alias: markOf(e.id),
          ...(this.state.hasIPv6() && n.cfg.mtu >= 1280 ? { ipv6AddrGenMode: 'none' as const } : {}),
        },
      ]);
      this.fw.addEndpoint(n, e);
    } catch (err) {
      await kw.linkDelIfExists(index);
      throw err;
    }
    e.joined = true;
    e.hostVethReclaimed = false;
    // The bridge's addresses, or the gateways dockerd's --default-gateway(-v6) named.
    const bridge4 = n.gateways.find((g) => familyOf(g) === 4);
    const bridge6 = n.gateways.find((g) => familyOf(g) === 6);
    const gw4 = n.defaultGateway4 ?? (bridge4 ? plain(bridge4) : undefined);
    const gw6 = n.defaultGateway6 ?? (bridge6 ? plain(bridge6) : undefined);
    return {
      interfaceName: { srcName: peer, dstPrefix: 'eth', ...(inHost ? {} : { inSandbox: true }) },
      // Internal networks have no way out: no default route (as Docker).
      ...(gw4 && !n.cfg.internal ? { gateway: gw4 } : {}),
      ...(gw6 && !n.cfg.internal ? { gatewayIPv6: gw6 } : {}),
      staticRoutes: [],
      disableGatewayService: n.cfg.internal,
    };
  }

  async leave(networkId: string, endpointId: string, options: LeaveOptions = {}): Promise<LeaveResult> {
    const n = this.state.net(networkId);
    const e = this.state.ep(networkId, endpointId);
    await this.ports.unpublish(e);
    this.fw.removeEndpoint(n, e); // always: the veth's name could come back on another network
    if (options.deferRemoval) {
      const reclaimLinks = await removeVeth(e.hostVeth, true);
      e.hostVethReclaimed = true;
      e.joined = false;
      this.repairer.reportedMissing.delete(e.id);
      return { reclaimLinks };
    }
    // Not joined from here on, so the self-healing check does not report the veth going as a deletion.
    e.joined = false;
    this.repairer.reportedMissing.delete(e.id);
    await removeVeth(e.hostVeth, false);
    return {};
  }

  /** Publishes the endpoint's ports: all host ports allocated or none, then one firewall transaction. */
  async programExternalConnectivity(networkId: string, endpointId: string): Promise<void> {
    await this.ports.publish(this.state.net(networkId), this.state.ep(networkId, endpointId));
  }

  async revokeExternalConnectivity(networkId: string, endpointId: string): Promise<void> {
    await this.ports.unpublish(this.state.ep(networkId, endpointId));
  }

  /** The endpoint's veth on its bridge and up, the bridge there, its firewall elements in place. */
  async checkEndpoint(networkId: string, endpointId: string): Promise<string[]> {
    const n = this.state.net(networkId);
    const e = this.state.ep(networkId, endpointId);
    const problems: string[] = [];
    const bridge = this.nl.linkGet(n.cfg.bridgeName);
    const veth = this.nl.linkGet(e.hostVeth);
    if (!bridge) problems.push(`the bridge ${n.cfg.bridgeName} is missing`);
    if (!veth) problems.push(`the host interface ${e.hostVeth} is missing`);
    else {
      if (bridge && veth.master !== bridge.index)
        problems.push(`the host interface ${e.hostVeth} is not on the bridge ${n.cfg.bridgeName}`);
      if (!veth.up) problems.push(`the host interface ${e.hostVeth} is down`);
    }
    problems.push(
      ...this.fw.check(
        n,
        e.ports.map((p) => p.fw),
      ),
    );
    return problems;
  }

  async hostFirewallChanged(): Promise<void> {
    this.fw.syncHostFirewalls();
  }

  async close(): Promise<void> {
    this.repairer.stopWatch();
    for (const n of this.state.networks.values())
      for (const e of n.endpoints.values()) await this.ports.letGo(e);
  }
}
