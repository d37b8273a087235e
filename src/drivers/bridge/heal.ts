/**
 * Noticing that someone else changed what the bridge driver made: `nft flush ruleset`, `nft delete
 * table inet dnet`, `ip link del br-…`. The driver repairs from its state (driver.ts `heal`); this
 * module only says when to look, from three sources:
 *
 *   - nf_tables notifications (NFNLGRP_NFTABLES): a transaction committed by another process that
 *     deletes anything in dnet's tables (a table, chain, rule, set or element). Our own
 *     transactions carry our pid, or the thread id of our kernel worker (the kernel reports the
 *     committing thread), and are ignored (isOwnTask). (In a pid namespace of its own, dnet's pid is not
 *     the one the kernel reports: its own element deletions then cost a needless rebuild each.)
 *   - link notifications (RTNLGRP_LINK): RTM_DELLINK of a bridge or veth the driver owns, or one of
 *     its veths released from its bridge.
 *   - a periodic check (`healCheckInterval`): the driver verifies its tables (two netlink rule
 *     dumps of dnet's tables, ~30 rules) and its links (one link dump). It catches what the
 *     notifications cannot show: damage done before the watch started, lost notifications.
 *
 * Nothing blocks the event loop: both sockets are non-blocking and drained by a timer every
 * POLL_MS (a drain with nothing queued is one recv() returning EAGAIN). The timers are unref'd and
 * stop() clears them and closes the sockets: a process whose controller is closed can exit.
 */
import { isOwnTask } from '../../os/kernel-worker/index.ts';
import { LinkEvents, NftEvents } from '../../os/netlink/index.ts';

/** How often the notification sockets are drained: bounds the time to notice a tamper. */
export const POLL_MS = 100;

/** What the driver should look at. */
export interface HealScope {
  /** Its bridges and the veths of joined endpoints. */
  links: boolean;
  /** Its nftables tables: 'verify' (rebuild when not intact) or 'rebuild' (someone deleted elements). */
  firewall: false | 'verify' | 'rebuild';
}

export interface TamperWatchOptions {
  /** The name of dnet's nftables tables (`inet <table>`, `bridge <table>`). */
  table: string;
  /** Milliseconds between periodic checks; 0: none (notifications only). */
  checkInterval: number;
  /** Is this link one the driver must keep (a network's bridge, a joined endpoint's veth)? */
  owns(name: string): boolean;
  /** Something may have been changed: check `scope` and repair. `reason` says what was seen. */
  onTamper(scope: HealScope, reason: string): void;
  /** A drain or check failed (it runs from a timer: nothing else would see the error). */
  onError(err: unknown): void;
}

export class TamperWatch {
  private links: LinkEvents | undefined;
  private nft: NftEvents | undefined;
  private poll: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;

  constructor(private readonly opts: TamperWatchOptions) {}

  get running(): boolean {
    return this.poll !== undefined;
  }

  /** Opens the sockets (in the current namespace) and starts the timers. Idempotent. */
  start(): void {
    if (this.poll) return;
    const links = LinkEvents.open();
    let nft: NftEvents;
    try {
      nft = NftEvents.open();
    } catch (err) {
      links.close();
      throw err;
    }
    this.links = links;
    this.nft = nft;
    this.poll = setInterval(() => this.guarded(() => this.drain()), POLL_MS);
    this.poll.unref();
    if (this.opts.checkInterval > 0) {
      this.periodic = setInterval(() => this.guarded(() => this.check()), this.opts.checkInterval);
      this.periodic.unref();
    }
  }

  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.onError(err);
    }
  }

  /** Stops the timers and closes the sockets. Idempotent. */
  stop(): void {
    if (this.poll) clearInterval(this.poll);
    if (this.periodic) clearInterval(this.periodic);
    this.poll = undefined;
    this.periodic = undefined;
    this.links?.close();
    this.nft?.close();
    this.links = undefined;
    this.nft = undefined;
  }

  /** Reads what the kernel queued since the last drain; asks for a repair when it concerns us. */
  drain(): void {
    if (!this.links || !this.nft) return;
    const reasons: string[] = [];
    const scope: HealScope = { links: false, firewall: false };
    const l = this.links.drain();
    if (l.overrun) {
      scope.links = true;
      reasons.push('link notifications were lost');
    }
    // The last event of each link counts: a veth is announced once without its master, then with
    // it, when a join makes it; only a link that ends up deleted or masterless is looked at.
    const last = new Map<string, (typeof l.events)[number]>();
    for (const ev of l.events) last.set(ev.link.name, ev);
    for (const ev of last.values()) {
      // The kind of event first: owns() is only asked about the few that may matter.
      const deleted = ev.type === 'del';
      const released = !deleted && ev.link.info.kind === 'veth' && ev.link.master === undefined;
      if (!(deleted || released) || !this.opts.owns(ev.link.name)) continue;
      scope.links = true;
      reasons.push(deleted ? `link ${ev.link.name} was deleted` : `veth ${ev.link.name} left its bridge`);
    }
    const n = this.nft.drain();
    if (n.overrun) {
      if (!scope.firewall) scope.firewall = 'verify';
      reasons.push('nftables notifications were lost');
    }
    for (const t of n.transactions) {
      if (t.pid !== undefined && isOwnTask(t.pid)) continue;
      const ours = t.changes.filter(
        (c) =>
          c.op === 'del' && c.table === this.opts.table && (c.family === 'inet' || c.family === 'bridge'),
      );
      if (ours.length === 0) continue;
      // A deleted table, chain, rule or set shows in the rule counts (every set of dnet's is used
      // by a rule, so a set goes only with its rules): verify, which also stops a repair from
      // answering itself should our own pid not be recognised (another pid namespace: the kernel
      // gives the pid of the initial one). Deleted elements do not show there: rebuild from state,
      // unless the kernel gave no pid (an unpublish of ours deletes elements).
      const elementsOnly = ours.every((c) => c.object === 'element');
      const who = t.procName
        ? `${t.procName}${t.pid !== undefined ? ` (pid ${t.pid})` : ''}`
        : 'another process';
      if (elementsOnly && t.pid !== undefined) scope.firewall = 'rebuild';
      else if (!scope.firewall) scope.firewall = 'verify';
      const kinds = [...new Set(ours.map((c) => c.object))].join(', ');
      reasons.push(`${who} deleted ${ours.length} nftables object(s) (${kinds}) of table ${this.opts.table}`);
    }
    if (scope.links || scope.firewall) this.opts.onTamper(scope, reasons.join('; '));
  }

  /** The periodic check: the notifications first, then a look at the tables and links. */
  check(): void {
    if (!this.poll) return;
    this.drain();
    this.opts.onTamper({ links: true, firewall: 'verify' }, 'periodic check');
  }
}
