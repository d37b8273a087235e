/**
 * The bridge driver's firewall: NAT, isolation, ICC, internal networks and published ports, on
 * nftables, in two tables owned by dnet (`inet <table>` and `bridge <table>`, see
 * firewall-plan.ts for the rules and why). Every method is one atomic libnftables transaction;
 * the Firewall keeps no state of its own (the driver's state is the truth, `init` rebuilds from it).
 * The per-container transactions of published ports (addPorts, removePorts) run on the kernel
 * worker thread and are awaited; the others run on the caller's thread.
 *
 * What the caller (the driver) does, not this module:
 *   - net.ipv4.ip_forward=1 (and net.ipv6.conf.all.forwarding=1 for IPv6 networks);
 *   - create a bridge before addNetwork/init names it (addNetwork sets its route_localnet);
 *   - remove a network's ports and endpoints before removeNetwork;
 *   - addEndpoints/removeEndpoints with the host end of each veth (used on ICC-off networks);
 *   - hairpin mode (IFLA_BRPORT_HAIRPIN) on a bridge port is only needed for a container to
 *     reach ITSELF through a published port while br_netfilter is active on the bridge (bridged
 *     DNAT sends the frame back out its ingress port); without br_netfilter that path is routed.
 */
import type { NetnsRef } from '../../os/netns/index.ts';
import {
  applyNft,
  applyNftAsync,
  listNft,
  type NftBatch,
  type NftRuleset,
  nftRuleCounts,
} from '../../os/nftables/index.ts';
import { sysctlEnsure } from '../../os/sysctl.ts';
import { changeDockerUser } from './docker-user.ts';
import {
  FirewallPlanner,
  type FwEndpoint,
  type FwNetwork,
  type FwPort,
  requiredSysctls,
} from './firewall-plan.ts';

export {
  FirewallInputError,
  FirewallLayout,
  FirewallPlanner,
  type FwEndpoint,
  type FwNetwork,
  type FwPort,
  requiredSysctls,
} from './firewall-plan.ts';

export class Firewall {
  readonly table: string;
  readonly planner: FirewallPlanner;
  private readonly netns: NetnsRef | undefined;

  /** How many rules each chain of each table has when intact (they do not depend on state). */
  private readonly expectedRules: Record<'inet' | 'bridge', Map<string, number>>;

  constructor(opts: { netns?: NetnsRef; table?: string } = {}) {
    this.table = opts.table ?? 'dnet';
    this.planner = new FirewallPlanner(this.table);
    this.netns = opts.netns;
    this.expectedRules = { inet: new Map(), bridge: new Map() };
    for (const c of this.planner.init([], []).nftables) {
      const r = 'add' in c && 'rule' in c.add ? c.add.rule : undefined;
      if (!r || (r.family !== 'inet' && (r.family as string) !== 'bridge')) continue;
      const m = this.expectedRules[r.family as 'inet' | 'bridge'];
      m.set(r.chain, (m.get(r.chain) ?? 0) + 1);
    }
  }

  /**
   * Whether both tables are there with every rule of every chain (someone may have flushed the
   * ruleset, deleted a table, chain or rule). Two netlink rule dumps of dnet's tables, no
   * libnftables listing (that would fetch the set elements too). Set elements are not compared:
   * the notifications say when someone else deletes one (see heal.ts).
   */
  intact(): boolean {
    const opts = this.netns ? { netns: this.netns } : {};
    for (const family of ['inet', 'bridge'] as const) {
      const have = nftRuleCounts(family, this.table, opts);
      const want = this.expectedRules[family];
      if (have.size !== want.size) return false;
      for (const [chain, n] of want) if (have.get(chain) !== n) return false;
    }
    return true;
  }

  private apply(batch: NftBatch): void {
    if (batch.nftables.length === 0) return;
    applyNft(batch, this.netns ? { netns: this.netns } : {});
  }

  /** As apply, on the kernel worker (one atomic transaction there). */
  private async applyAsync(batch: NftBatch): Promise<void> {
    if (batch.nftables.length === 0) return;
    await applyNftAsync(batch, this.netns ? { netns: this.netns } : {});
  }

  /** Sets the network's sysctls (requiredSysctls) on its bridge, which must exist. */
  applySysctls(n: FwNetwork): void {
    for (const [k, v] of requiredSysctls(n)) sysctlEnsure(k, v, this.netns ? { netns: this.netns } : {});
  }

  /**
   * Atomic full (re)build from state: both tables are replaced in one transaction (idempotent;
   * used at start). The networks' bridges must exist (their sysctls are set first).
   * `endpoints`: the veths on ICC-off networks (others are ignored).
   */
  init(networks: FwNetwork[], ports: FwPort[], endpoints: FwEndpoint[] = []): void {
    const batch = this.planner.init(networks, ports, endpoints);
    for (const n of networks) this.applySysctls(n);
    this.apply(batch);
    this.dockerUser({ add: routed(networks), remove: 'others' });
  }

  /** dnet's accept rules in Docker's DOCKER-USER chain, where dockerd runs (docker-user.ts). */
  private dockerUser(change: Parameters<typeof changeDockerUser>[0]): void {
    changeDockerUser(change, this.netns ? { netns: this.netns } : {});
  }

  /** Another firewall (dockerd's) may have appeared: dnet's rules in it again, for these networks. */
  syncHostFirewalls(networks: FwNetwork[]): void {
    this.dockerUser({ add: routed(networks), remove: 'others' });
  }

  /** Sets the bridge's sysctls, then adds the network's set elements (no rule changes). */
  addNetwork(n: FwNetwork): void {
    const batch = this.planner.addNetwork(n);
    this.applySysctls(n);
    this.apply(batch);
    this.dockerUser({ add: routed([n]), remove: [] });
  }

  /** Removes the network's set elements (idempotent). Remove its ports and endpoints first. */
  removeNetwork(n: FwNetwork): void {
    this.apply(this.planner.removeNetwork(n));
    this.dockerUser({ add: [], remove: [n.bridge] });
  }

  /** ICC off: the endpoints' veths can no longer exchange frames with other ports of the bridge. */
  addEndpoints(n: FwNetwork, eps: FwEndpoint[]): void {
    this.apply(this.planner.addEndpoints(n, eps));
  }

  /** Idempotent. Call it when a veth goes away: its name may come back on another network. */
  removeEndpoints(n: FwNetwork, eps: FwEndpoint[]): void {
    this.apply(this.planner.removeEndpoints(n, eps));
  }

  /**
   * A constant number of map element updates per port mapping, whatever is already there; one
   * transaction, on the kernel worker (applyNftAsync): the event loop keeps turning meanwhile.
   */
  async addPorts(ports: FwPort[]): Promise<void> {
    if (ports.length > 0) await this.applyAsync(this.planner.addPorts(ports));
  }

  /** Idempotent; refuses (applying nothing) to remove a key that maps somewhere else. On the worker. */
  async removePorts(ports: FwPort[]): Promise<void> {
    if (ports.length > 0) await this.applyAsync(this.planner.removePorts(ports));
  }

  /** Removes dnet's tables entirely (idempotent). */
  destroy(): void {
    this.apply(this.planner.destroy());
    this.dockerUser({ add: [], remove: 'others' });
  }

  /** The inet table as libnftables lists it (for inspection and tests). */
  list(): NftRuleset {
    return listNft({ table: { family: 'inet', name: this.table } }, this.netns ? { netns: this.netns } : {});
  }
}

/** The bridges whose traffic is routed (all but internal networks'). */
function routed(networks: FwNetwork[]): string[] {
  return networks.filter((n) => !n.internal).map((n) => n.bridge);
}
