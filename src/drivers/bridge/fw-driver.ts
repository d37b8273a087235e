/**
 * The firewall as the bridge driver sees it: one interface (as netavark's FirewallDriver), two
 * implementations. `NftBridgeFirewall` keeps dnet's nftables tables (firewall.ts) in step with the
 * driver's state: made with the first network or published port, rebuilt from state in one
 * transaction when asked or when they were found damaged, removed with the last network.
 * `NoBridgeFirewall` is the driver with `enableFirewall: false` (Docker's `--iptables=false`):
 * every call does nothing, and nothing dnet made stays behind from before (configure removes it).
 */
import { NftablesError } from '../../errors/os.ts';
import { checkFirewallElements } from './check.ts';
import { Firewall, type FwPort } from './firewall.ts';
import { type BridgeEndpoint, type BridgeNetwork, type BridgeState, fwEndpoint, fwNetwork } from './state.ts';

export interface BridgeFirewall {
  /** The nftables table name the tamper watch looks at. */
  readonly table: string;
  /** Programs the network (and makes the tables when it is the first). */
  addNetwork(n: BridgeNetwork): void;
  /** Removes the network's elements. Remove its ports and endpoints first. */
  removeNetwork(n: BridgeNetwork): void;
  addEndpoint(n: BridgeNetwork, e: BridgeEndpoint): void;
  /** Idempotent: the veth's name may come back on another network. */
  removeEndpoint(n: BridgeNetwork, e: BridgeEndpoint): void;
  /** One transaction on the kernel worker (and the tables made when there are none yet). */
  addPorts(ports: FwPort[]): Promise<void>;
  /** One transaction on the kernel worker. */
  removePorts(ports: FwPort[]): Promise<void>;
  /** Replaces the tables with what the state says, in one transaction (they are made when missing). */
  rebuild(): void;
  /** After a restore: rebuilt from state, or removed when there is no network. */
  restored(): void;
  /**
   * Self-healing: rebuilds the tables from state when `force` (someone deleted elements, a bridge
   * was made again) or when they are not whole. Nothing when they were never made. True when rebuilt.
   */
  verify(force: boolean): boolean;
  /** The elements of the network and ports that are missing from the kernel (one sentence each). */
  check(n: BridgeNetwork, ports: readonly FwPort[]): string[];
  /** Another firewall (dockerd's) may have appeared: dnet's rules in it again. */
  syncHostFirewalls(): void;
  /** Removes dnet's tables (the last network went, or the firewall is being switched off). */
  destroy(): void;
}

export class NoBridgeFirewall implements BridgeFirewall {
  readonly table = 'dnet';
  addNetwork(): void {}
  removeNetwork(): void {}
  addEndpoint(): void {}
  removeEndpoint(): void {}
  async addPorts(): Promise<void> {}
  async removePorts(): Promise<void> {}
  rebuild(): void {}
  restored(): void {}
  verify(): boolean {
    return false;
  }
  check(): string[] {
    return [];
  }
  syncHostFirewalls(): void {}
  destroy(): void {}
}

export class NftBridgeFirewall implements BridgeFirewall {
  readonly table = 'dnet';
  /** The tables, once made (the first network or published port). */
  private fw: Firewall | undefined;

  /**
   * `repair`: called when an update failed because dnet's tables were not intact (someone flushed
   * the ruleset): it must repair what the firewall stands on (the bridges) and call rebuild().
   */
  constructor(
    private readonly state: BridgeState,
    private readonly repair: (reason: string) => void,
  ) {}

  private made(): Firewall {
    if (!this.fw) {
      this.fw = new Firewall({ table: this.table });
      this.init(this.fw);
    }
    return this.fw;
  }

  private init(fw: Firewall): void {
    const all = this.state.fwAll();
    fw.init(all.networks, all.ports, all.endpoints);
  }

  /**
   * Runs one update. When it fails because dnet's tables are not intact (libnftables then says
   * ENOENT), the tables are repaired from state and the update is tried once more; otherwise the
   * error stands. `make`: make the tables if there are none yet.
   */
  private update(op: (fw: Firewall) => void, make = false): void {
    const fw = make ? this.made() : this.fw;
    if (!fw) return;
    try {
      op(fw);
    } catch (err) {
      this.repairAfter(fw, err);
      op(fw);
    }
  }

  /** As update, for an update that runs on the kernel worker. */
  private async updateAsync(op: (fw: Firewall) => Promise<void>, make = false): Promise<void> {
    const fw = make ? this.made() : this.fw;
    if (!fw) return;
    try {
      await op(fw);
    } catch (err) {
      this.repairAfter(fw, err);
      await op(fw);
    }
  }

  /** Rethrows `err` unless it failed because dnet's tables were not intact; then repairs them. */
  private repairAfter(fw: Firewall, err: unknown): void {
    if (!(err instanceof NftablesError) || fw.intact()) throw err;
    this.repair(`a firewall update failed (${err.message}): dnet's tables were not intact`);
  }

  addNetwork(n: BridgeNetwork): void {
    this.update((fw) => fw.addNetwork(fwNetwork(n)), true);
  }

  removeNetwork(n: BridgeNetwork): void {
    this.update((fw) => fw.removeNetwork(fwNetwork(n)));
  }

  addEndpoint(n: BridgeNetwork, e: BridgeEndpoint): void {
    this.update((fw) => fw.addEndpoints(fwNetwork(n), [fwEndpoint(n, e)]));
  }

  removeEndpoint(n: BridgeNetwork, e: BridgeEndpoint): void {
    this.update((fw) => fw.removeEndpoints(fwNetwork(n), [fwEndpoint(n, e)]));
  }

  async addPorts(ports: FwPort[]): Promise<void> {
    await this.updateAsync((fw) => fw.addPorts(ports), true);
  }

  async removePorts(ports: FwPort[]): Promise<void> {
    await this.updateAsync((fw) => fw.removePorts(ports));
  }

  rebuild(): void {
    this.fw ??= new Firewall({ table: this.table });
    this.init(this.fw);
  }

  restored(): void {
    if (this.state.networks.size === 0) {
      // Nothing to protect: make sure no table of ours is left from before.
      new Firewall({ table: this.table }).destroy();
      this.fw = undefined;
    } else {
      this.rebuild();
    }
  }

  verify(force: boolean): boolean {
    if (!this.fw || (!force && this.fw.intact())) return false;
    this.init(this.fw);
    return true;
  }

  check(n: BridgeNetwork, ports: readonly FwPort[]): string[] {
    // The firewall as it is (a check changes nothing, so the tables are not made here).
    return this.fw ? checkFirewallElements(this.fw, fwNetwork(n), ports) : [];
  }

  syncHostFirewalls(): void {
    this.fw?.syncHostFirewalls([...this.state.networks.values()].map(fwNetwork));
  }

  destroy(): void {
    this.fw?.destroy();
    this.fw = undefined;
  }
}
