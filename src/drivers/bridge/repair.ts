/**
 * Self-healing: the bridge driver compares what it made with the kernel and repairs from its state
 * when someone else changed it (heal.ts's TamperWatch says when to look). A missing bridge is made
 * again with its addresses, settings and mark, and the veths that were its ports; a veth that left
 * its bridge is put back; the firewall is rebuilt in one transaction when its tables are damaged.
 */
import { channel } from 'node:diagnostics_channel';
import { NetlinkError } from '../../errors/os.ts';
import { familyOf } from '../../ip/index.ts';
import { randomMac } from '../../ip/mac.ts';
import type { Link, NetlinkHandle } from '../../os/netlink/index.ts';
import { sysctlSet } from '../../os/sysctl.ts';
import type { BridgeFirewall } from './fw-driver.ts';
import { type HealScope, TamperWatch } from './heal.ts';
import { type BridgeNetwork, type BridgeState, markOf } from './state.ts';

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

/**
 * Gives a network's bridge, which exists, its gateway addresses (those it lacks), no duplicate
 * address detection, and brings it up, with dnet's mark when dnet made it. The addresses it adds
 * are pushed to `added` as it goes (the caller removes them if something fails).
 */
export function configureBridge(
  nl: NetlinkHandle,
  state: BridgeState,
  n: BridgeNetwork,
  added: string[] = [],
): string[] {
  const name = n.cfg.bridgeName;
  const have = new Set(nl.addrList(name).map((a) => a.cidr));
  for (const gw of n.gateways) {
    if (have.has(gw)) continue;
    nl.addrAdd(name, gw, { noDad: familyOf(gw) === 6 });
    added.push(gw);
  }
  // The gateway addresses are given by IPAM: no duplicate address detection on the bridge,
  // whose tentative link-local address would otherwise hold IPv6 up for a second or two.
  // (Below 1280 bytes of MTU the link has no IPv6, nor its sysctl directory.)
  if (state.hasIPv6() && n.cfg.mtu >= 1280) sysctlSet(`net/ipv6/conf/${name}/accept_dad`, 0);
  // A bridge dnet made carries its mark (LINK_MARK); one it was given by name does not.
  nl.linkSet(name, { up: true, ...(n.created ? { alias: markOf(n.id) } : {}) });
  return added;
}

export class BridgeRepairer {
  private watch: TamperWatch | undefined;
  /** Endpoints whose missing veth was reported already (reported once, not at every check). */
  readonly reportedMissing = new Set<string>();

  constructor(
    private readonly state: BridgeState,
    private readonly nl: () => NetlinkHandle,
    private readonly firewall: () => BridgeFirewall,
  ) {}

  /** Watches for tampering while the driver has networks (and selfHeal is on). */
  ensureWatch(): void {
    const { cfg, networks, restoring } = this.state;
    if (!cfg.selfHeal || networks.size === 0 || restoring) return;
    if (this.watch?.running) return;
    this.watch = new TamperWatch({
      table: this.firewall().table,
      checkInterval: cfg.healCheckInterval,
      owns: (name) => this.state.ownsLink(name),
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

  stopWatch(): void {
    this.watch?.stop();
    this.watch = undefined;
  }

  private report(r: HealReport): void {
    if (healChannel.hasSubscribers) healChannel.publish(r);
  }

  /**
   * Compares what the driver made with the kernel and repairs from state (see the file's comment).
   * The firewall is rebuilt in ONE transaction (isolation, ICC, NAT and published ports come back
   * together, so there is no moment with ports open and isolation missing). A joined endpoint whose
   * veth is gone cannot be repaired here (its container's side went with it): that is reported.
   * Synchronous: no other driver call runs in between. Returns what it did (also published on
   * HEAL_CHANNEL when it did or found something).
   */
  heal(scope: HealScope = { links: true, firewall: 'verify' }, reason = 'asked'): HealReport {
    const started = performance.now();
    const report: HealReport = { reason, repaired: [], problems: [], durationMs: 0 };
    if (this.state.restoring || this.state.networks.size === 0) return report;
    let rebuild = scope.firewall === 'rebuild';
    if (scope.links) {
      const links = new Map(
        this.nl()
          .linkList()
          .map((l) => [l.name, l]),
      );
      for (const n of this.state.networks.values()) {
        try {
          if (this.healNetworkLinks(n, links, report)) rebuild = true;
        } catch (err) {
          report.problems.push(`network ${n.id.slice(0, 12)} (bridge ${n.cfg.bridgeName}): ${String(err)}`);
        }
      }
    }
    if (scope.firewall !== false || rebuild) {
      try {
        if (this.firewall().verify(rebuild))
          report.repaired.push('firewall rebuilt from state (one transaction)');
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
    const nl = this.nl();
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
      // With a MAC of its own, as createNetwork makes it (driver.ts says why).
      nl.linkAdd({ kind: 'bridge', name, mtu: n.cfg.mtu, mac: randomMac() });
      try {
        configureBridge(nl, this.state, { ...n, created: true });
      } catch (err) {
        nl.linkDelIfExists(name);
        throw err;
      }
      n.bridgeIndex = undefined;
      br = nl.linkGet(name);
      if (!br) throw new NetlinkError(`link get ${name}`, 19, 'the bridge vanished again');
      remade = true;
    }
    n.bridgeIndex = br.index;
    const reattached = this.reattach(n, br.index, links, report);
    if (remade) report.repaired.push(`bridge ${name} re-created (${reattached} veth(s) re-attached)`);
    else if (reattached > 0) report.repaired.push(`${reattached} veth(s) put back on bridge ${name}`);
    return remade;
  }

  /** Puts the joined endpoints' veths back on their bridge; how many it moved. */
  private reattach(n: BridgeNetwork, index: number, links: Map<string, Link>, report: HealReport): number {
    const nl = this.nl();
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
    return reattached;
  }
}
