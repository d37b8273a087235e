/**
 * The kernel's slow deletions, off the caller's path. Removing a veth waits for RCU grace periods
 * (~25 ms here, whoever asks); removing a network namespace does not: once it is unmounted and
 * no one holds it, the kernel tears it down in a work queue, batching every namespace that died
 * meanwhile, and a veth pair with one end in it goes with it.
 *
 * So when a sandbox goes with its last endpoint, its interfaces are first made harmless inside
 * the namespace (link down: the bridge port loses its carrier and its learned MACs, nothing is
 * sent), then the sandbox lets go of the namespace and the caller gets its
 * answer. What is left to do is one *reclaim entry*: the namespace to unmount and remove, and
 * the host-side links that should go with it. The entry is written in the operation's result
 * commit (so it is durable exactly when the operation is acknowledged) and worked off here in the
 * background: namespaces unmounted at the next turn of the event loop, in one batch; the links
 * checked after a grace period, again while the kernel's clean-up lags, and deleted only if they
 * outlive their namespace by LINK_DEADLINE_MS (another process holding it, say); then the entry
 * is deleted.
 *
 * An entry may hold links alone (a veth whose other end is in a namespace dnet does not own, a
 * CNI runtime's, set down and renamed out of the way there): they are checked after the grace
 * period (the runtime usually removes its namespace right after, and the pair goes with it) and
 * deleted then if still there.
 *
 * Every object keeps an owner: the entry, until the kernel has it all. A restart finishes the
 * entries left (restore, before the orphan sweep); `drain()` (the controller's close) finishes
 * them at once.
 *
 * The kernel calls themselves (unmount, link lookups and deletes) run on the kernel worker thread
 * (src/os/kernel-worker): a link delete that waits for RCU does not stop the event loop. Passes
 * run one after another, never two at once.
 */

import { deletionWorker } from '../os/kernel-worker/index.ts';
import { type Change, del, keys, type Persister, put } from './persist.ts';

/** What one reclaim entry owns. */
export interface ReclaimRecord {
  id: string;
  /** The namespace's path (bind mount), unmounted and removed. */
  netns?: string;
  /** Host-namespace links that go with the namespace; deleted if they outlive it. */
  links: string[];
  /** RFC 3339, when the entry was made. */
  created: string;
}

/** When links are first checked for, after their namespace was let go. */
export const LINK_GRACE_MS = 1000;
/** How often links still there are checked again: the kernel's clean-up lags under load. */
const LINK_RECHECK_MS = 2000;
/**
 * How long links may outlive their namespace before they are deleted one by one (a process kept
 * the namespace alive; a delete costs the kernel RCU grace periods, so not sooner).
 */
export const LINK_DEADLINE_MS = 10_000;
/** How long a failed step waits before it is tried again. */
const RETRY_MS = 2000;

let serial = 0;

export class Reclaimer {
  /** Entries whose namespace is still mounted. */
  private readonly unmount: ReclaimRecord[] = [];
  /** Entries whose links are checked once `due` (ms, performance.now()) has passed. */
  private readonly check: { rec: ReclaimRecord; due: number; deadline: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** The last failure of a background step (kept for `problems`; the step is retried). */
  lastProblem: string | undefined;

  constructor(private readonly persist: Persister) {}

  /** Entries not finished yet (tests, close). */
  get pending(): number {
    return this.unmount.length + this.check.length;
  }

  /** A new entry, and the change that records it: put it in the operation's result commit. */
  entry(netns: string | undefined, links: readonly string[]): { rec: ReclaimRecord; change: Change } {
    const rec: ReclaimRecord = {
      id: `${Date.now().toString(36)}-${process.pid.toString(36)}-${(serial++).toString(36)}`,
      ...(netns !== undefined ? { netns } : {}),
      links: [...links],
      created: new Date().toISOString(),
    };
    return { rec, change: put(keys.reclaim(rec.id), rec) };
  }

  /** Works the entry off in the background (call it once its commit is done). */
  schedule(rec: ReclaimRecord): void {
    this.unmount.push(rec);
    this.arm(0);
  }

  /** Finishes every entry now, links included (close, restore). */
  async drain(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // The store's commit callbacks do not keep the event loop alive: a caller waiting here does.
    const alive = setInterval(() => undefined, 1000);
    try {
      await this.serially(() => this.pass(true));
    } finally {
      clearInterval(alive);
    }
    if (this.pending > 0) throw new Error(`reclaiming kernel objects: ${this.lastProblem ?? 'unfinished'}`);
  }

  /** Restore: the entries a previous run left, finished now. */
  async restore(records: readonly ReclaimRecord[]): Promise<string[]> {
    this.unmount.push(...records);
    const done = records.map((r) => `pending removal ${r.netns ?? ''} ${r.links.join(' ')}`.trim());
    await this.drain();
    return done;
  }

  private arm(ms: number): void {
    if (this.timer) {
      if (ms > 0) return; // an earlier pass is due anyway
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.serially(() => this.pass(false)).catch(() => undefined); // pass records its own problems
    }, ms);
    this.timer.unref();
  }

  /** Runs `fn` after the pass running now, if any (passes never overlap). */
  private serially(fn: () => Promise<void>): Promise<void> {
    const run = (this.running ?? Promise.resolve()).then(fn);
    const tracked = run.finally(() => {
      if (this.running === tracked) this.running = undefined;
    });
    this.running = tracked;
    return run;
  }

  /**
   * One pass: every mounted namespace goes; the links of entries due (all with `now`) are
   * checked; finished entries are deleted in one commit. Re-arms itself while work is left.
   */
  private async pass(now: boolean): Promise<void> {
    const kw = deletionWorker();
    const t = performance.now();
    const recs = this.unmount.splice(0);
    // All namespaces at once: the worker runs them in order, the answers come back together.
    const unmounted = await Promise.allSettled(
      recs.map((rec) => (rec.netns !== undefined ? kw.deleteNetns(rec.netns) : false)),
    );
    recs.forEach((rec, i) => {
      const u = unmounted[i];
      if (u?.status === 'rejected') {
        this.lastProblem = `namespace ${rec.netns}: ${String(u.reason)}`;
        this.unmount.push(rec);
      } else {
        // Links alone (their namespace is not dnet's to remove): deleted once the grace has passed.
        const deadline = t + (rec.netns === undefined ? LINK_GRACE_MS : LINK_DEADLINE_MS);
        this.check.push({ rec, due: t + LINK_GRACE_MS, deadline });
      }
    });
    const finished: Change[] = [];
    const waiting: typeof this.check = [];
    for (const c of this.check.splice(0)) {
      if (!now && c.due > t) {
        waiting.push(c);
        continue;
      }
      try {
        const left = c.rec.links.length > 0 ? await kw.linksPresent(c.rec.links) : [];
        if (left.length > 0 && !now && t < c.deadline) {
          waiting.push({ ...c, due: t + LINK_RECHECK_MS }); // the kernel's clean-up has not come yet
          continue;
        }
        for (const link of left) await kw.linkDelIfExists(link);
        finished.push(del(keys.reclaim(c.rec.id)));
      } catch (err) {
        this.lastProblem = `links ${c.rec.links.join(', ')}: ${String(err)}`;
        waiting.push({ ...c, due: t + RETRY_MS });
      }
    }
    this.check.push(...waiting);
    if (finished.length > 0) {
      // Not waited for on disk: a lost deletion only makes the next start check again.
      await this.persist.intent(finished).catch((err: unknown) => {
        this.lastProblem = `deleting reclaim records: ${String(err)}`;
      });
    }
    if (now) return;
    if (this.unmount.length > 0) this.arm(RETRY_MS);
    else if (this.check.length > 0)
      this.arm(Math.max(1, Math.min(...this.check.map((c) => c.due)) - performance.now()));
  }
}
