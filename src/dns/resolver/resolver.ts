/**
 * The embedded DNS resolver (Docker's 127.0.0.11): one instance per controller, no process per
 * container or network. The core tells it, synchronously, when an endpoint joins or leaves a
 * sandbox (connect, disconnect, restore); it keeps the names per network (names.ts) and each
 * sandbox's scope (state.ts), and opens each sandbox's sockets (inside its namespace, with the
 * `openSockets` the core gives).
 *
 * Queries are answered by a worker thread (worker.ts) that owns those sockets and a copy of the
 * same state, fed with the same ops in the same order: an answer never waits for the controller's
 * event loop. Every change is acknowledged by the worker; `settled()` resolves when all changes
 * made so far are, and the core awaits it before connect/disconnect return (a name answers as
 * soon as connect returned, and not after disconnect returned). The worker starts with the first
 * sandbox, never keeps the process alive by itself, and stops with close(). It never imports the core.
 */
import { Worker } from 'node:worker_threads';
import type { DnsSocketFds } from '../../os/dns-sockets.ts';
import type { ForwarderOptions } from './forwarder.ts';
import {
  COUNTER_SLOTS,
  COUNTERS,
  type FromWorker,
  type ResolverWorkerData,
  type ToWorker,
} from './messages.ts';
import { type NameRecord, NameTable } from './names.ts';
import { type NamesCall, type ResolverEndpoint, type ResolverOp, ResolverState } from './state.ts';

export type { ResolverEndpoint } from './state.ts';

export interface ResolverOptions extends ForwarderOptions {
  /** Told about socket errors and handler failures (the resolver carries on). */
  onError?: (err: unknown) => void;
}

export interface ResolverStats {
  queries: number;
  answered: number;
  forwarded: number;
  /** Forwarded queries that got SERVFAIL (no upstream answered, or too many in flight). */
  forwardFailed: number;
  dropped: number;
  sandboxes: number;
  names: number;
}

/** The resolver's name table: changes made on it directly (names from elsewhere) reach the worker too. */
class RelayedNames extends NameTable {
  private muted = 0;

  constructor(private readonly relay: (c: NamesCall) => void) {
    super();
  }

  /** Runs fn without relaying (the worker applies the op that makes these changes itself). */
  quietly<T>(fn: () => T): T {
    this.muted++;
    try {
      return fn();
    } finally {
      this.muted--;
    }
  }

  private pass<T>(c: NamesCall, fn: () => T): T {
    if (this.muted === 0) this.relay(c);
    return this.quietly(fn);
  }

  override add(networkId: string, networkName: string, key: string, rec: NameRecord): void {
    this.pass({ call: 'add', args: [networkId, networkName, key, rec] }, () =>
      super.add(networkId, networkName, key, rec),
    );
  }

  override remove(networkId: string, key: string): boolean {
    return this.pass({ call: 'remove', args: [networkId, key] }, () => super.remove(networkId, key));
  }

  override setNetwork(networkId: string, name: string): void {
    this.pass({ call: 'setNetwork', args: [networkId, name] }, () => super.setNetwork(networkId, name));
  }

  override deleteNetwork(networkId: string): void {
    this.pass({ call: 'deleteNetwork', args: [networkId] }, () => super.deleteNetwork(networkId));
  }
}

/** The worker's entry: worker.js next to this file (dist), or worker.ts under tsx (sources). */
function startWorker(workerData: ResolverWorkerData): Worker {
  const url = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);
  if (url.pathname.endsWith('.js')) return new Worker(url, { workerData });
  // Sources run under tsx, whose loader Node 20 does not give worker threads: register it there.
  // Without tsx (a runtime that strips types itself), the worker inherits how the process runs .ts.
  let api: string;
  try {
    api = import.meta.resolve('tsx/esm/api');
  } catch {
    return new Worker(url, { workerData });
  }
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export class Resolver {
  readonly names: NameTable;
  private readonly state: ResolverState;
  /** Sandboxes whose sockets the worker serves. */
  private readonly served = new Set<string>();
  private readonly onError: (err: unknown) => void;
  private readonly counts = new Float64Array(new SharedArrayBuffer(8 * COUNTER_SLOTS));
  private worker: Worker | undefined;
  private seq = 0;
  private acked = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private closed = false;
  /** The worker exited by itself: nothing serves; no sockets are opened any more. */
  private broken = false;

  constructor(private readonly opts: ResolverOptions = {}) {
    const names = new RelayedNames((c) => this.post({ op: 'names', ...c }));
    this.names = names;
    this.state = new ResolverState(names);
    this.onError = opts.onError ?? (() => {});
  }

  /**
   * An endpoint of sandbox `sandboxId` is joined: its names answer on its network (once
   * settled()), and the sandbox may resolve that network's names. The sandbox's sockets are opened
   * (with `openSockets`, inside its namespace) on its first such endpoint. Synchronous; throws
   * DnsListenerError when the sockets cannot be made (nothing is changed then).
   */
  join(
    sandboxId: string,
    ep: ResolverEndpoint,
    openSockets: () => DnsSocketFds,
    upstreams: readonly string[],
  ): void {
    const fresh = !this.state.sandboxes.has(sandboxId) && !this.closed && !this.broken;
    const fds = fresh ? openSockets() : undefined;
    this.change({
      op: 'join',
      sandboxId,
      ep,
      upstreams: [...upstreams],
      ...(fds ? { fds: { udp: fds.udp, tcp: fds.tcp } } : {}),
    });
    if (fds) this.served.add(sandboxId);
  }

  /** The endpoint `key` leaves the sandbox: its names stop answering; the last one closes its sockets. */
  leave(sandboxId: string, networkId: string, key: string): void {
    if (this.change({ op: 'leave', sandboxId, networkId, key }).removed) this.served.delete(sandboxId);
  }

  /** The upstreams (addresses, optionally `[addr]:port`) a sandbox's forwarded queries go to. */
  setUpstreams(sandboxId: string, upstreams: readonly string[]): void {
    if (this.state.sandboxes.has(sandboxId))
      this.change({ op: 'upstreams', sandboxId, upstreams: [...upstreams] });
  }

  /** Whether a sandbox has sockets (an endpoint on a network with embedded DNS). */
  serves(sandboxId: string): boolean {
    return this.served.has(sandboxId);
  }

  /** The sandbox is gone: its sockets close, its names go. */
  dropSandbox(sandboxId: string): void {
    if (this.change({ op: 'drop', sandboxId }).removed) this.served.delete(sandboxId);
  }

  /** Resolves when the worker has applied every change made so far (at once without a worker). */
  settled(): Promise<void> {
    if (this.acked >= this.seq || !this.worker) return Promise.resolve();
    const seq = this.seq;
    return new Promise((resolve) => {
      this.waiters.push({ seq, resolve });
      this.worker?.ref();
    });
  }

  stats(): ResolverStats {
    const c = this.counts;
    return {
      queries: c[COUNTERS.queries] ?? 0,
      answered: c[COUNTERS.answered] ?? 0,
      forwarded: c[COUNTERS.forwarded] ?? 0,
      forwardFailed: c[COUNTERS.forwardFailed] ?? 0,
      dropped: c[COUNTERS.dropped] ?? 0,
      sandboxes: this.state.sandboxes.size,
      names: this.names.size,
    };
  }

  /** Stops the worker: every socket closes, forwarded queries are given up. The names stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.served.clear();
    this.state.sandboxes.clear();
    const w = this.worker;
    this.worker = undefined;
    this.wake(Number.POSITIVE_INFINITY);
    if (w) await w.terminate();
  }

  /** Applies an op here and posts it to the worker. */
  private change(op: ResolverOp): ReturnType<ResolverState['apply']> {
    const r = (this.names as RelayedNames).quietly(() => this.state.apply(op));
    this.post(op);
    return r;
  }

  private post(op: ResolverOp): void {
    if (this.closed || this.broken) return;
    // No worker yet means no join was posted: a leave, drop or upstreams change concerns nothing there.
    if (!this.worker && op.op !== 'join' && op.op !== 'names') return;
    const w = this.worker ?? this.start();
    this.seq++;
    w.postMessage({ seq: this.seq, op } satisfies ToWorker);
  }

  private start(): Worker {
    const w = startWorker({
      counts: this.counts.buffer as SharedArrayBuffer,
      forwarder: {
        ...(this.opts.timeoutMs !== undefined ? { timeoutMs: this.opts.timeoutMs } : {}),
        ...(this.opts.maxInFlight !== undefined ? { maxInFlight: this.opts.maxInFlight } : {}),
      },
    });
    w.unref();
    w.on('message', (m: FromWorker) => {
      if ('ack' in m) this.wake(m.ack);
      else this.onError(new Error(`embedded DNS resolver: ${m.error}`));
    });
    w.on('error', (err) => this.onError(err));
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      // Not closed by us: nothing serves any more; waiters are released, later changes are not awaited.
      this.onError(new Error(`embedded DNS resolver: its worker thread exited (code ${code})`));
      this.worker = undefined;
      this.broken = true;
      this.served.clear();
      this.wake(Number.POSITIVE_INFINITY);
    });
    this.worker = w;
    return w;
  }

  private wake(upTo: number): void {
    this.acked = Math.max(this.acked, Math.min(upTo, this.seq));
    const ready = this.waiters.filter((x) => x.seq <= upTo);
    this.waiters = this.waiters.filter((x) => x.seq > upTo);
    for (const x of ready) x.resolve();
    if (this.waiters.length === 0) this.worker?.unref();
  }
}
