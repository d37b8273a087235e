/**
 * The bridge driver: each network is a Linux bridge holding the gateway address(es); each
 * endpoint a veth pair, host end on the bridge (named `dv` + the endpoint ID's first 10 hex, so it
 * traces back to its endpoint), the other end moved into the sandbox by the core. NAT, isolation
 * and published ports are nftables (firewall.ts); host ports come from the port allocator and,
 * when enabled, an in-process userland proxy serves them too.
 */
import { channel } from 'node:diagnostics_channel';
import { closeSync } from 'node:fs';
import {
  type CreateEndpointRequest,
  type CreateEndpointResult,
  type CreateNetworkRequest,
  type DriverCapability,
  ENDPOINT_HOLD_HOST_PORTS_OPTION,
  type EndpointOperInfo,
  type JoinInfo,
  type JoinRequest,
  type NetworkDriver,
  type PortMapping,
} from '../../driver-api/driver.ts';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { DnetError } from '../../errors/index.ts';
import { NetlinkError, NftablesError } from '../../errors/os.ts';
import { randomMac } from '../../ip/mac.ts';
import type { Link, NetlinkHandle } from '../../os/netlink/index.ts';
import { openNetns } from '../../os/netns/index.ts';
import { hostNetlink } from '../../os/sandbox.ts';
import { ipv6Available, sysctlEnsure, sysctlSet } from '../../os/sysctl.ts';
import {
  type Allocated,
  type HeldPorts,
  holdPorts,
  holdPortsBestEffort,
  PortAllocator,
  type ProxyHandle,
  startProxy,
} from '../../portmapper/index.ts';
import { checkFirewallElements } from './check.ts';
import { Firewall, type FwEndpoint, type FwNetwork, type FwPort } from './firewall.ts';
import { type HealScope, TamperWatch } from './heal.ts';
import {
  type Binding,
  type BridgeDriverConfig,
  type BridgeNetworkConfig,
  DEFAULT_DRIVER_CONFIG,
  macFromIPv4,
  OPT_BRIDGE_NAME,
  parseBindings,
  parseBool,
  parseDriverConfig,
  parseNetworkOptions,
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
const markOf = (id: string) => `${LINK_MARK}${id}`;

/**
 * What the bridge driver repaired after someone else changed its kernel objects, published on the
 * diagnostics channel `dnet:bridge:heal` (the daemon logs it as event `heal`).
 */
export interface HealReport {
  /** What was noticed ("nft (pid 42) deleted 31 nftables object(s)...", "periodic check"). */
  reason: string;
  /** What was repaired ("bridge br-0123456789ab re-created, 2 veth(s) re-attached", "firewall rebuilt"). */
  repaired: string[];
  /** What could not be repaired, and what to do about it. */
  problems: string[];
  durationMs: number;
}

/** The diagnostics channel of HealReports. */
export const HEAL_CHANNEL = 'dnet:bridge:heal';
const healChannel = channel(HEAL_CHANNEL);

interface BridgeNetwork {
  id: string;
  cfg: BridgeNetworkConfig;
  subnets4: string[];
  subnets6: string[];
  /** Gateway CIDRs on the bridge. */
  gateways: string[];
  /** We created the bridge (and delete it with the network). */
  created: boolean;
  /** The bridge's ifindex, once looked up (see bridgeIndex). */
  bridgeIndex?: number;
  endpoints: Map<string, BridgeEndpoint>;
}

interface BridgeEndpoint {
  id: string;
  networkId: string;
  /** CIDRs. */
  addr4?: string;
  addr6?: string;
  mac: string;
  bindings: Binding[];
  hostVeth: string;
  joined: boolean;
  ports: { alloc: Allocated; mapping: PortMapping; fw: FwPort }[];
  proxies: ProxyHandle[];
  /** The sockets holding the host ports of `ports` (none when the userland proxy holds them). */
  held?: HeldPorts;
  /** Whether dnet holds the host ports (ENDPOINT_HOLD_HOST_PORTS_OPTION: the caller may hold them). */
  holdsPorts: boolean;
}

const plain = (cidr: string) => cidr.split('/')[0] ?? cidr;
const parseHoldHostPorts = (v: string | undefined): boolean =>
  v === undefined ? true : parseBool(ENDPOINT_HOLD_HOST_PORTS_OPTION, v);
const isV4 = (ip: string) => !ip.includes(':');

export class BridgeDriver implements NetworkDriver {
  readonly type = 'bridge';
  private cfg: BridgeDriverConfig = { ...DEFAULT_DRIVER_CONFIG };
  private readonly networks = new Map<string, BridgeNetwork>();
  private ports = new PortAllocator({
    ephemeralStart: DEFAULT_DRIVER_CONFIG.portRange.start,
    ephemeralEnd: DEFAULT_DRIVER_CONFIG.portRange.end,
  });
  private fw: Firewall | undefined;

  private get nl(): NetlinkHandle {
    return hostNetlink();
  }

  capabilities(): DriverCapability {
    return { dataScope: 'local', connectivityScope: 'local' };
  }

  async configure(options: Record<string, unknown>): Promise<void> {
    const cfg = parseDriverConfig(options, this.cfg);
    const rangeChanged =
      cfg.portRange.start !== this.cfg.portRange.start || cfg.portRange.end !== this.cfg.portRange.end;
    if (rangeChanged) {
      if (this.hasPorts()) {
        throw new InvalidOptionError(
          'portRange',
          options.portRange,
          'cannot change while ports are published',
        );
      }
      this.ports = new PortAllocator({
        ephemeralStart: cfg.portRange.start,
        ephemeralEnd: cfg.portRange.end,
      });
    }
    if (this.cfg.enableFirewall && !cfg.enableFirewall && this.fw) {
      this.fw.destroy();
      this.fw = undefined;
    }
    const watchChanged =
      cfg.selfHeal !== this.cfg.selfHeal || cfg.healCheckInterval !== this.cfg.healCheckInterval;
    this.cfg = cfg;
    if (cfg.enableFirewall && this.networks.size > 0) {
      // The rebuild sets sysctls on every bridge: make sure they are all there first.
      this.heal({ links: true, firewall: false }, 'configure');
      this.rebuildFirewall();
    }
    if (watchChanged) {
      this.stopWatch();
      this.ensureWatch();
    }
  }

  private hasPorts(): boolean {
    for (const n of this.networks.values())
      for (const e of n.endpoints.values()) if (e.ports.length) return true;
    return false;
  }

  private firewall(): Firewall | undefined {
    if (!this.cfg.enableFirewall) return undefined;
    if (!this.fw) {
      this.fw = new Firewall();
      this.fw.init(
        [...this.networks.values()].map((n) => this.fwNetwork(n)),
        this.allFwPorts(),
        this.allFwEndpoints(),
      );
    }
    return this.fw;
  }

  private rebuildFirewall(): void {
    this.fw ??= new Firewall();
    this.fw.init(
      [...this.networks.values()].map((n) => this.fwNetwork(n)),
      this.allFwPorts(),
      this.allFwEndpoints(),
    );
  }

  /**
   * Runs one firewall operation. When it fails because dnet's tables are not intact (someone
   * flushed the ruleset, deleted a table or chain: libnftables then says ENOENT), the tables are
   * rebuilt from state and the operation is tried once more; otherwise the error stands.
   * `create`: make the firewall if there is none yet (the first network).
   */
  private fwDo(op: (fw: Firewall) => void, opts: { create?: boolean } = {}): void {
    const fw = opts.create ? this.firewall() : this.fw;
    if (!fw) return;
    try {
      op(fw);
    } catch (err) {
      if (!(err instanceof NftablesError) || fw.intact()) throw err;
      // A flush took the tables; a bridge may be gone too (the rebuild needs them all).
      this.heal(
        { links: true, firewall: 'rebuild' },
        `a firewall update failed (${err.message}): dnet's tables were not intact`,
      );
      op(fw);
    }
  }

  private allFwEndpoints(): FwEndpoint[] {
    const out: FwEndpoint[] = [];
    for (const n of this.networks.values()) {
      for (const e of n.endpoints.values())
        if (e.joined) out.push({ bridge: n.cfg.bridgeName, ifname: e.hostVeth });
    }
    return out;
  }

  private allFwPorts(): FwPort[] {
    const out: FwPort[] = [];
    for (const n of this.networks.values())
      for (const e of n.endpoints.values()) out.push(...e.ports.map((p) => p.fw));
    return out;
  }

  private fwNetwork(n: BridgeNetwork): FwNetwork {
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

  private net(id: string): BridgeNetwork {
    const n = this.networks.get(id);
    if (!n) throw new BridgeStateError(`bridge driver: no network ${id}`);
    return n;
  }

  private ep(networkId: string, endpointId: string): BridgeEndpoint {
    const e = this.net(networkId).endpoints.get(endpointId);
    if (!e) throw new BridgeStateError(`bridge driver: no endpoint ${endpointId} in network ${networkId}`);
    return e;
  }

  async createNetwork(req: CreateNetworkRequest): Promise<{ data: Record<string, string> }> {
    const cfg = parseNetworkOptions(req.networkId, req.options.generic, {
      internal: req.options.internal,
      enableIPv6: req.options.enableIPv6,
    });
    if (req.ipv4Data.length === 0 && req.ipv6Data.length === 0) {
      // moby's bridge driver: "IPv4 or IPv6 must be enabled"
      throw new InvalidOptionError(
        'ipam',
        req.ipv4Data,
        'IPv4 or IPv6 must be enabled: a bridge network needs a subnet',
      );
    }
    for (const other of this.networks.values()) {
      if (other.cfg.bridgeName === cfg.bridgeName) {
        throw new BridgeConflictError(cfg.bridgeName, `network ${other.id.slice(0, 12)} uses it`);
      }
    }
    const gateways = [...req.ipv4Data, ...req.ipv6Data].map((d) => d.gateway).filter((g): g is string => !!g);
    const n: BridgeNetwork = {
      id: req.networkId,
      cfg,
      subnets4: req.ipv4Data.map((d) => d.pool),
      subnets6: req.ipv6Data.map((d) => d.pool),
      gateways,
      created: false,
      endpoints: new Map(),
    };
    const nl = this.nl;
    const existing = nl.linkGet(cfg.bridgeName);
    const added: string[] = [];
    try {
      if (existing) {
        if (existing.info.kind !== 'bridge') {
          throw new BridgeConflictError(cfg.bridgeName, `a ${existing.info.kind} link of that name exists`);
        }
        const have = nl
          .addrList(existing.index)
          .filter((a) => a.scope === 0)
          .map((a) => a.cidr);
        const foreign = have.filter((a) => !gateways.includes(a));
        if (foreign.length > 0) {
          throw new BridgeConflictError(cfg.bridgeName, `it has other addresses (${foreign.join(', ')})`);
        }
        if (existing.mtu !== cfg.mtu) nl.linkSet(existing.index, { mtu: cfg.mtu });
      } else {
        nl.linkAdd({ kind: 'bridge', name: cfg.bridgeName, mtu: cfg.mtu });
        n.created = true;
      }
      for (const gw of gateways) {
        if (nl.addrList(cfg.bridgeName).some((a) => a.cidr === gw)) continue;
        nl.addrAdd(cfg.bridgeName, gw, { noDad: !isV4(gw) });
        added.push(gw);
      }
      // The gateway addresses are given by IPAM: no duplicate address detection on the bridge,
      // whose tentative link-local address would otherwise hold IPv6 up for a second or two.
      // (Below 1280 bytes of MTU the link has no IPv6, nor its sysctl directory.)
      if (this.hasIPv6() && cfg.mtu >= 1280) sysctlSet(`net/ipv6/conf/${cfg.bridgeName}/accept_dad`, 0);
      // A bridge dnet made carries its mark (LINK_MARK); one it was given by name does not.
      nl.linkSet(cfg.bridgeName, { up: true, ...(n.created ? { alias: markOf(n.id) } : {}) });
      if (this.cfg.enableIPForwarding) {
        sysctlEnsure('net.ipv4.ip_forward', 1);
        if (n.subnets6.length > 0) sysctlEnsure('net.ipv6.conf.all.forwarding', 1);
      }
      this.networks.set(n.id, n);
      try {
        if (!this.restoring) this.fwDo((fw) => fw.addNetwork(this.fwNetwork(n)), { create: true });
      } catch (err) {
        this.networks.delete(n.id);
        throw err;
      }
    } catch (err) {
      if (n.created) nl.linkDelIfExists(cfg.bridgeName);
      else for (const a of added) nl.addrDel(cfg.bridgeName, a);
      throw err;
    }
    if (!this.restoring) this.ensureWatch();
    return { data: { createdBridge: n.created ? 'true' : 'false' } };
  }

  // --- restore ------------------------------------------------------------------------------

  /** Set between the first restore call and restoreDone: the firewall is rebuilt once, at the end. */
  private restoring = false;
  /** Whether the kernel has IPv6 (not booted with ipv6.disable=1); asked once. */
  private ipv6: boolean | undefined;

  async restoreNetwork(req: CreateNetworkRequest, data: Record<string, string>): Promise<void> {
    this.restoring = true;
    const cfg = parseNetworkOptions(req.networkId, req.options.generic, {
      internal: req.options.internal,
      enableIPv6: req.options.enableIPv6,
    });
    const existing = this.nl.linkGet(cfg.bridgeName);
    if (existing && existing.info.kind === 'bridge') {
      // Adopt: the bridge survived (a daemon restart). Make sure it has its gateways and is up.
      const have = new Set(this.nl.addrList(existing.index).map((a) => a.cidr));
      const gateways = [...req.ipv4Data, ...req.ipv6Data]
        .map((d) => d.gateway)
        .filter((g): g is string => !!g);
      for (const gw of gateways) if (!have.has(gw)) this.nl.addrAdd(existing.index, gw, { noDad: !isV4(gw) });
      const created = data.createdBridge !== 'false';
      // Marked now if dnet made it (a bridge from a dnet without marks gets one).
      this.nl.linkSet(existing.index, {
        up: true,
        mtu: cfg.mtu,
        ...(created ? { alias: markOf(req.networkId) } : {}),
      });
      this.networks.set(req.networkId, {
        id: req.networkId,
        cfg,
        subnets4: req.ipv4Data.map((d) => d.pool),
        subnets6: req.ipv6Data.map((d) => d.pool),
        gateways,
        created,
        endpoints: new Map(),
      });
      if (this.cfg.enableIPForwarding) {
        sysctlEnsure('net.ipv4.ip_forward', 1);
        if (req.ipv6Data.length > 0) sysctlEnsure('net.ipv6.conf.all.forwarding', 1);
      }
      return;
    }
    await this.createNetwork(req); // gone (a reboot): make it again
    const n = this.networks.get(req.networkId);
    if (n) n.created = data.createdBridge !== 'false' || n.created;
  }

  async restoreEndpoint(req: CreateEndpointRequest): Promise<void> {
    this.restoring = true;
    await this.createEndpoint(req);
  }

  async restoreJoin(
    networkId: string,
    endpointId: string,
    state: { portMappings: PortMapping[] },
  ): Promise<boolean> {
    this.restoring = true;
    const n = this.net(networkId);
    const e = this.ep(networkId, endpointId);
    const veth = this.nl.linkGet(e.hostVeth);
    const bridge = this.nl.linkGet(n.cfg.bridgeName);
    const intact = veth !== undefined && bridge !== undefined && veth.master === bridge.index;
    if (intact) e.joined = true;
    else if (veth) this.nl.linkDelIfExists(veth.index); // half there: the core joins it again
    // The same host ports as before: allocated exactly, programmed with the firewall at restoreDone.
    if (state.portMappings.length > 0) {
      const allocs = this.ports.allocate(
        state.portMappings.map((m) => ({
          proto: m.proto,
          hostIP: m.hostIP,
          hostPort: m.hostPort,
          ...(m.hostPortEnd !== m.hostPort ? { hostPortEnd: m.hostPortEnd } : {}),
          span: m.hostPortEnd - m.hostPort + 1,
        })),
      );
      e.ports = state.portMappings.map((mapping, i) => ({
        alloc: allocs[i] ?? {
          proto: mapping.proto,
          hostIP: mapping.hostIP,
          hostPort: mapping.hostPort,
          hostPortEnd: mapping.hostPortEnd,
        },
        mapping,
        fw: {
          family: isV4(mapping.containerIP) ? 4 : 6,
          proto: mapping.proto,
          ...(mapping.hostIP === '0.0.0.0' || mapping.hostIP === '::' ? {} : { hostIP: mapping.hostIP }),
          hostPort: mapping.hostPort,
          hostPortEnd: mapping.hostPortEnd,
          containerIP: mapping.containerIP,
          containerPort: mapping.port,
          bridge: n.cfg.bridgeName,
        },
      }));
      if (this.cfg.userlandProxy) await this.startProxies(e);
      else if (e.holdsPorts) {
        // Held again, port by port: one taken by another program while dnet was down stays
        // published (its DNAT rule comes back with the firewall) but cannot be held; said, not fatal.
        const { held, failures } = holdPortsBestEffort(allocs);
        e.held = held;
        for (const f of failures) {
          process.emitWarning(f.message, {
            type: 'DnetPortWarning',
            code: (f as { code?: string }).code ?? '',
          });
        }
      }
    }
    return intact;
  }

  async restoreDone(): Promise<void> {
    this.restoring = false;
    for (const l of this.nl.linkList()) if (this.isOrphan(l)) this.nl.linkDelIfExists(l.index);
    if (this.cfg.enableFirewall) {
      if (this.networks.size === 0) {
        // Nothing to protect: make sure no table of ours is left from before.
        new Firewall().destroy();
        this.fw = undefined;
      } else {
        this.rebuildFirewall();
      }
    }
    this.ensureWatch();
  }

  /**
   * A link left by a crash that no network or endpoint owns, which dnet can prove it made: it
   * carries dnet's mark. Never a link merely named like ours: Docker's bridges are `br-<12 hex>`
   * too. Every restored endpoint owns its veth, joined or not: a join the core does not record
   * (Docker's, through dnet's plugin server) is restored after this, and a join a crash left half
   * done was undone by the core before this.
   */
  private isOrphan(l: Link): boolean {
    for (const n of this.networks.values()) {
      if (n.cfg.bridgeName === l.name) return false; // a network's bridge
      for (const e of n.endpoints.values()) {
        if (e.hostVeth === l.name || `${e.hostVeth}c` === l.name) return false;
      }
    }
    return l.alias?.startsWith(LINK_MARK) === true;
  }

  // --- self-healing ----------------------------------------------------------------------------

  private watch: TamperWatch | undefined;
  /** Endpoints whose missing veth was reported already (reported once, not at every check). */
  private readonly reportedMissing = new Set<string>();

  /** Watches for tampering while the driver has networks (and selfHeal is on). */
  private ensureWatch(): void {
    if (!this.cfg.selfHeal || this.networks.size === 0 || this.restoring) return;
    if (this.watch?.running) return;
    this.watch = new TamperWatch({
      table: this.fw?.table ?? 'dnet',
      checkInterval: this.cfg.healCheckInterval,
      owns: (name) => this.ownsLink(name),
      onTamper: (scope, reason) => this.heal(scope, reason),
      onError: (err) =>
        this.report({
          reason: "watching for changes to dnet's links and tables",
          repaired: [],
          problems: [`${String(err)}; the next periodic check looks again`],
          durationMs: 0,
        }),
    });
    try {
      this.watch.start();
    } catch (err) {
      // The network works without it; say so rather than fail the operation that got here.
      this.watch = undefined;
      this.report({
        reason: 'starting the tamper watch',
        repaired: [],
        problems: [
          `cannot watch for changes to dnet's links and tables (${String(err)}): nothing is repaired`,
        ],
        durationMs: 0,
      });
    }
  }

  private stopWatch(): void {
    this.watch?.stop();
    this.watch = undefined;
  }

  /** A network's bridge or a joined endpoint's host-side veth. */
  private ownsLink(name: string): boolean {
    for (const n of this.networks.values()) {
      if (n.cfg.bridgeName === name) return true;
      for (const e of n.endpoints.values()) if (e.joined && e.hostVeth === name) return true;
    }
    return false;
  }

  private report(r: HealReport): void {
    if (healChannel.hasSubscribers) healChannel.publish(r);
  }

  /**
   * Compares what the driver made with the kernel and repairs from state: a missing bridge is made
   * again (addresses, settings, mark) with the veths that were its ports; a veth that left its
   * bridge is put back; the firewall is rebuilt in ONE transaction (isolation, ICC, NAT and
   * published ports come back together, so there is no moment with ports open and isolation
   * missing) when its tables are not intact or someone deleted elements. A joined endpoint whose
   * veth is gone cannot be repaired here (its container's side went with it): that is reported.
   * Synchronous: no other driver call runs in between. Returns what it did (also published on
   * HEAL_CHANNEL when it did or found something).
   */
  heal(scope: HealScope = { links: true, firewall: 'verify' }, reason = 'asked'): HealReport {
    const started = performance.now();
    const report: HealReport = { reason, repaired: [], problems: [], durationMs: 0 };
    if (this.restoring || this.networks.size === 0) return report;
    let rebuild = scope.firewall === 'rebuild';
    if (scope.links) {
      const links = new Map(this.nl.linkList().map((l) => [l.name, l]));
      for (const n of this.networks.values()) {
        try {
          if (this.healNetworkLinks(n, links, report)) rebuild = true;
        } catch (err) {
          report.problems.push(`network ${n.id.slice(0, 12)} (bridge ${n.cfg.bridgeName}): ${String(err)}`);
        }
      }
    }
    const fw = this.cfg.enableFirewall ? this.fw : undefined;
    if (fw) {
      try {
        if (rebuild || (scope.firewall === 'verify' && !fw.intact())) {
          this.rebuildFirewall();
          report.repaired.push('firewall rebuilt from state (one transaction)');
        }
      } catch (err) {
        report.problems.push(`firewall: ${String(err)}`);
      }
    }
    report.durationMs = performance.now() - started;
    if (report.repaired.length > 0 || report.problems.length > 0) this.report(report);
    return report;
  }

  /** Repairs one network's links; true when the firewall must be rebuilt (a new bridge). */
  private healNetworkLinks(n: BridgeNetwork, links: Map<string, Link>, report: HealReport): boolean {
    const nl = this.nl;
    const name = n.cfg.bridgeName;
    let br = links.get(name);
    let remade = false;
    if (br && br.info.kind !== 'bridge') {
      report.problems.push(
        `bridge ${name}: a ${br.info.kind} link took its name; delete it, dnet then makes the bridge again`,
      );
      return false;
    }
    if (!br) {
      // `ip link del` of the bridge: its ports were released (the veths stay). Made as createNetwork does.
      nl.linkAdd({ kind: 'bridge', name, mtu: n.cfg.mtu });
      try {
        for (const gw of n.gateways) nl.addrAdd(name, gw, { noDad: !isV4(gw) });
        if (this.hasIPv6()) sysctlSet(`net/ipv6/conf/${name}/accept_dad`, 0);
        nl.linkSet(name, { up: true, alias: markOf(n.id) });
      } catch (err) {
        nl.linkDelIfExists(name);
        throw err;
      }
      n.bridgeIndex = undefined;
      br = nl.linkGet(name);
      if (!br) throw new NetlinkError(`link get ${name}`, 19, 'the bridge vanished again');
      remade = true;
    }
    const index = br.index;
    n.bridgeIndex = index;
    let reattached = 0;
    for (const e of n.endpoints.values()) {
      if (!e.joined) continue;
      const v = links.get(e.hostVeth);
      if (!v) {
        if (!this.reportedMissing.has(e.id)) {
          this.reportedMissing.add(e.id);
          report.problems.push(
            `endpoint ${e.id.slice(0, 12)}: its veth ${e.hostVeth} was deleted, and its container's interface ` +
              'on this network with it; disconnect the container from the network and connect it again',
          );
        }
        continue;
      }
      if (v.master === index) continue;
      nl.linkSet(v.index, { master: index, up: true });
      nl.bridgePortSet(v.index, { hairpin: true });
      reattached++;
    }
    if (remade) report.repaired.push(`bridge ${name} re-created (${reattached} veth(s) re-attached)`);
    else if (reattached > 0) report.repaired.push(`${reattached} veth(s) put back on bridge ${name}`);
    return remade;
  }

  async deleteNetwork(networkId: string): Promise<void> {
    const n = this.net(networkId);
    if (n.endpoints.size > 0) {
      throw new BridgeConflictError(
        n.cfg.bridgeName,
        `network ${networkId.slice(0, 12)} still has endpoints`,
      );
    }
    this.fwDo((fw) => fw.removeNetwork(this.fwNetwork(n)));
    this.networks.delete(networkId);
    if (this.networks.size === 0) this.stopWatch();
    if (this.networks.size === 0 && this.fw) {
      // Nothing left to protect or publish: dnet's table goes too.
      this.fw.destroy();
      this.fw = undefined;
    }
    if (n.created) this.nl.linkDelIfExists(n.cfg.bridgeName);
    else for (const gw of n.gateways) this.nl.addrDel(n.cfg.bridgeName, gw);
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResult> {
    const n = this.net(req.networkId);
    const bindings = parseBindings(req.options.portBindings);
    for (const b of bindings) {
      if (b.hostIP && !isV4(b.hostIP) && !req.iface.addressIPv6) {
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
    const n = this.net(networkId);
    const e = this.ep(networkId, endpointId);
    await this.unpublish(e);
    this.nl.linkDelIfExists(e.hostVeth);
    n.endpoints.delete(endpointId);
    this.reportedMissing.delete(endpointId);
  }

  async endpointOperInfo(networkId: string, endpointId: string): Promise<EndpointOperInfo> {
    const e = this.ep(networkId, endpointId);
    return {
      portMappings: e.ports.map((p) => ({ ...p.mapping })),
      macAddress: e.mac,
      hostInterface: e.hostVeth,
    };
  }

  async join(req: JoinRequest): Promise<JoinInfo> {
    const n = this.net(req.networkId);
    const e = this.ep(req.networkId, req.endpointId);
    const nl = this.nl;
    const peer = `${e.hostVeth}c`;
    // The peer is made inside the sandbox directly: moving it there afterwards would cost the
    // kernel an RCU grace period (~15 ms here). Unless the caller moves it itself (Docker's
    // plugin path): then both ends stay here, the peer with the endpoint's MAC.
    const inHost = req.interfaceInHost === true;
    const sandboxFd = inHost ? undefined : openNetns(req.sandboxKey);
    let index: number;
    try {
      const add = (master: number) =>
        nl.linkAdd({
          kind: 'veth',
          name: e.hostVeth,
          mtu: n.cfg.mtu,
          master,
          peer:
            sandboxFd === undefined
              ? { name: peer, mtu: n.cfg.mtu, mac: e.mac }
              : { name: peer, mtu: n.cfg.mtu, netns: { fd: sandboxFd } },
        });
      try {
        index = add(this.bridgeIndex(n));
      } catch (err) {
        // A master that is not there is EINVAL (ENODEV when its name is looked up). The bridge was
        // made again under the same name (a new ifindex): look it up, once. Or it was deleted
        // (`ip link del`) and the watch has not repaired it yet: repair it now, then try again.
        if (!(err instanceof NetlinkError && (err.errnoName === 'ENODEV' || err.errnoName === 'EINVAL')))
          throw err;
        const br = this.nl.linkGet(n.cfg.bridgeName);
        if (br && br.index === n.bridgeIndex) throw err; // the bridge is fine: something else
        n.bridgeIndex = undefined;
        if (!br)
          this.heal({ links: true, firewall: false }, `the bridge ${n.cfg.bridgeName} was missing at a join`);
        index = add(this.bridgeIndex(n));
      }
    } finally {
      if (sandboxFd !== undefined) closeSync(sandboxFd);
    }
    try {
      // Hairpin: a container reaches its own published port through the host's address (the
      // DNATed frame goes back out the port it came in on), as Docker does without its proxy.
      nl.bridgePortSet(index, { hairpin: true });
      // A bridge port needs no IP of its own: no link-local address (so no DAD, no router
      // solicitations), set with the same request that brings it up.
      // The same request marks it as dnet's (LINK_MARK; the kernel takes no alias at creation).
      this.nl.linkSet(index, {
        up: true,
        alias: markOf(e.id),
        ...(this.hasIPv6() && n.cfg.mtu >= 1280 ? { ipv6AddrGenMode: 'none' as const } : {}),
      });
      this.fwDo((fw) =>
        fw.addEndpoints(this.fwNetwork(n), [{ bridge: n.cfg.bridgeName, ifname: e.hostVeth }]),
      );
    } catch (err) {
      nl.linkDelIfExists(index);
      throw err;
    }
    e.joined = true;
    const gw4 = n.gateways.find(isV4);
    const gw6 = n.gateways.find((g) => !isV4(g));
    return {
      interfaceName: { srcName: peer, dstPrefix: 'eth', ...(inHost ? {} : { inSandbox: true }) },
      // Internal networks have no way out: no default route (as Docker).
      ...(gw4 && !n.cfg.internal ? { gateway: plain(gw4) } : {}),
      ...(gw6 && !n.cfg.internal ? { gatewayIPv6: plain(gw6) } : {}),
      staticRoutes: [],
      disableGatewayService: n.cfg.internal,
    };
  }

  /** The bridge's ifindex, looked up once per network. */
  private bridgeIndex(n: BridgeNetwork): number {
    n.bridgeIndex ??= this.nl.linkIndex(n.cfg.bridgeName);
    return n.bridgeIndex;
  }

  private hasIPv6(): boolean {
    this.ipv6 ??= ipv6Available();
    return this.ipv6;
  }

  async leave(networkId: string, endpointId: string): Promise<void> {
    const n = this.net(networkId);
    const e = this.ep(networkId, endpointId);
    await this.unpublish(e);
    // Always: the veth's name could come back on another network.
    this.fwDo((fw) =>
      fw.removeEndpoints(this.fwNetwork(n), [{ bridge: n.cfg.bridgeName, ifname: e.hostVeth }]),
    );
    // Deleting the host end removes the pair (the core has moved the other end back, or it is gone).
    try {
      this.nl.linkDelIfExists(e.hostVeth);
    } catch (err) {
      if (!(err instanceof NetlinkError && err.errnoName === 'ENODEV')) throw err;
    }
    e.joined = false;
    this.reportedMissing.delete(e.id);
  }

  /** Publishes the endpoint's ports: all host ports allocated or none, then one firewall transaction. */
  async programExternalConnectivity(networkId: string, endpointId: string): Promise<void> {
    const n = this.net(networkId);
    const e = this.ep(networkId, endpointId);
    if (e.bindings.length === 0 || e.ports.length > 0) return;
    if (n.cfg.internal) {
      throw new InvalidOptionError('portBindings', e.bindings, 'an internal network cannot publish ports');
    }
    const wanted: { b: Binding; hostIP: string; containerIP: string; family: 4 | 6 }[] = [];
    for (const b of e.bindings) {
      const hostIP = b.hostIP ?? n.cfg.hostBindingIPv4;
      if (isV4(hostIP) && !e.addr4 && e.addr6 && !b.hostIP && hostIP === '0.0.0.0') {
        // an IPv6-only endpoint: an unspecified host address publishes on IPv6 only
        wanted.push({ b, hostIP: '::', containerIP: plain(e.addr6), family: 6 });
      } else if (isV4(hostIP)) {
        if (!e.addr4) throw new InvalidOptionError('portBindings', b, 'the endpoint has no IPv4 address');
        wanted.push({ b, hostIP, containerIP: plain(e.addr4), family: 4 });
        // An unspecified host address publishes on IPv6 too, when the endpoint has IPv6.
        if (!b.hostIP && e.addr6 && hostIP === '0.0.0.0') {
          wanted.push({ b, hostIP: '::', containerIP: plain(e.addr6), family: 6 });
        }
      } else {
        if (!e.addr6) throw new InvalidOptionError('portBindings', b, 'the endpoint has no IPv6 address');
        wanted.push({ b, hostIP, containerIP: plain(e.addr6), family: 6 });
      }
    }
    const allocs = this.ports.allocate(
      wanted.map(({ b, hostIP }) => ({
        proto: b.proto,
        hostIP,
        ...(b.hostPort ? { hostPort: b.hostPort } : {}),
        ...(b.hostPortEnd && b.hostPortEnd !== b.hostPort ? { hostPortEnd: b.hostPortEnd } : {}),
        span: b.portEnd - b.port + 1,
      })),
    );
    // The host ports are held by a bound socket each (the userland proxy's listeners hold them
    // when it runs): a port another program holds is refused here, with nothing allocated.
    let held: HeldPorts | undefined;
    if (!this.cfg.userlandProxy && e.holdsPorts) {
      try {
        held = holdPorts(allocs);
      } catch (err) {
        for (const a of allocs) this.ports.release(a);
        throw err;
      }
    }
    const ports = allocs.map((alloc, i) => {
      const w = wanted[i];
      if (!w) throw new Error('port allocator returned more allocations than requested');
      const wildcard = w.hostIP === '0.0.0.0' || w.hostIP === '::';
      const mapping: PortMapping = {
        proto: w.b.proto,
        port: w.b.port,
        portEnd: w.b.port + (alloc.hostPortEnd - alloc.hostPort),
        containerIP: w.containerIP,
        hostIP: w.hostIP,
        hostPort: alloc.hostPort,
        hostPortEnd: alloc.hostPortEnd,
      };
      const fw: FwPort = {
        family: w.family,
        proto: w.b.proto,
        ...(wildcard ? {} : { hostIP: w.hostIP }),
        hostPort: alloc.hostPort,
        hostPortEnd: alloc.hostPortEnd,
        containerIP: w.containerIP,
        containerPort: w.b.port,
        bridge: n.cfg.bridgeName,
      };
      return { alloc, mapping, fw };
    });
    try {
      if (!this.restoring) this.fwDo((fw) => fw.addPorts(ports.map((p) => p.fw)), { create: true });
    } catch (err) {
      held?.release();
      for (const p of ports) this.ports.release(p.alloc);
      throw err;
    }
    e.ports = ports;
    if (held) e.held = held;
    if (this.cfg.userlandProxy) {
      try {
        await this.startProxies(e);
      } catch (err) {
        await this.unpublish(e);
        throw err;
      }
    }
  }

  private async startProxies(e: BridgeEndpoint): Promise<void> {
    for (const p of e.ports) {
      if (p.mapping.proto === 'sctp') continue; // kernel DNAT only
      for (let hp = p.mapping.hostPort; hp <= p.mapping.hostPortEnd; hp++) {
        e.proxies.push(
          await startProxy({
            proto: p.mapping.proto,
            hostIP: p.mapping.hostIP,
            hostPort: hp,
            containerIP: p.mapping.containerIP,
            containerPort: p.mapping.port + (hp - p.mapping.hostPort),
          }),
        );
      }
    }
  }

  async revokeExternalConnectivity(networkId: string, endpointId: string): Promise<void> {
    await this.unpublish(this.ep(networkId, endpointId));
  }

  private async unpublish(e: BridgeEndpoint): Promise<void> {
    const proxies = e.proxies;
    e.proxies = [];
    await Promise.allSettled(proxies.map((p) => p.close()));
    const held = e.held;
    delete e.held;
    try {
      if (e.ports.length === 0) return;
      const ports = e.ports;
      this.fwDo((fw) => fw.removePorts(ports.map((p) => p.fw)));
      e.ports = [];
      for (const p of ports) this.ports.release(p.alloc);
    } finally {
      held?.release(); // closes every socket, whatever happened above
    }
  }

  /** The endpoint's veth on its bridge and up, the bridge there, its firewall elements in place. */
  async checkEndpoint(networkId: string, endpointId: string): Promise<string[]> {
    const n = this.net(networkId);
    const e = this.ep(networkId, endpointId);
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
    // The firewall as it is (a check changes nothing, so no lazy init here).
    const fw = this.cfg.enableFirewall ? this.fw : undefined;
    if (fw) {
      problems.push(
        ...checkFirewallElements(
          fw,
          this.fwNetwork(n),
          e.ports.map((p) => p.fw),
        ),
      );
    }
    return problems;
  }

  async hostFirewallChanged(): Promise<void> {
    this.fw?.syncHostFirewalls([...this.networks.values()].map((n) => this.fwNetwork(n)));
  }

  async close(): Promise<void> {
    this.stopWatch();
    for (const n of this.networks.values()) {
      for (const e of n.endpoints.values()) {
        const proxies = e.proxies;
        e.proxies = [];
        await Promise.allSettled(proxies.map((p) => p.close()));
        // As at the process's exit: the published ports stay in the records and the firewall; the
        // next start (restore) holds them again.
        e.held?.release();
        delete e.held;
      }
    }
  }
}
