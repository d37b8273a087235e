/**
 * Kernel calls that can block for long, off the event loop. Deleting a veth or a bridge makes the
 * kernel wait for RCU grace periods inside the netlink request (~25 ms here); on the main thread
 * that is 25 ms in which the daemon answers nothing. Such calls go to one worker thread
 * (node:worker_threads) that owns its own netlink socket in the host namespace and runs them one
 * at a time; the caller awaits the answer while the event loop keeps turning.
 *
 * - Protocol (protocol.ts): `{ id, op, args }` → `{ id, ok, value | error }`; errors come back as
 *   the same typed errors (NetlinkError with op and errno, SyscallError, fs errors with `code`).
 * - Namespaces: a thread starts in the namespace of the thread that made it, and the main thread
 *   only leaves the host's inside one synchronous call (runInNetns), so the worker starts in the
 *   host's. setns is per thread: the synchronous-switch rule holds in the worker as on the main thread.
 * - nftables: the thread keeps a libnftables context of its own for the host namespace and makes
 *   per-namespace contexts there for one call each (nftApply; src/os/nftables/async.ts).
 * - Two workers: `kernelWorker()` for the attach path's calls, `deletionWorker()` for deletions
 *   that wait for the kernel (the reclaim queue, a veth deleted at a leave), so an attach never
 *   queues behind a 25 ms delete on one thread.
 * - Ownership: each worker starts on its first call; `ref`'d while calls are pending,
 *   `unref`'d when idle (it never keeps the process alive by itself); `close()` (the controller's
 *   close) waits for pending calls, then ends the thread. A call after that starts a new one.
 *   If the thread dies, its pending calls fail with KernelWorkerError and the next call starts a
 *   new thread.
 * - From source (tsx), the thread registers tsx's loader before it loads its module; the built
 *   package loads `thread.js` directly.
 */
import { Worker } from 'node:worker_threads';
import { KernelWorkerError } from '../../errors/index.ts';
import type { NetnsRef } from '../netns/index.ts';
import type { NftBatch } from '../nftables/types.ts';
import type { SandboxInterfaceSpec } from '../sandbox.ts';
import {
  fromWire,
  type KernelHello,
  type KernelOp,
  type KernelOps,
  type KernelRequest,
  type KernelResponse,
  type NetlinkArgs,
  type NetlinkMethod,
  type NetlinkResult,
} from './protocol.ts';

const fromSource = import.meta.url.endsWith('.ts');
const THREAD = new URL(fromSource ? './thread.ts' : './thread.js', import.meta.url);

/** The thread opens and closes raw fds through FFI (namespaces): Node does not track them. */
const OPTIONS = { trackUnmanagedFds: false } as const;

function spawn(): Worker {
  if (!fromSource) return new Worker(THREAD, OPTIONS);
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(THREAD.href)}); });`;
  return new Worker(boot, { ...OPTIONS, eval: true });
}

interface Pending {
  what: string;
  done: Promise<unknown>;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class KernelWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  /** Calls not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Deletes a host-namespace link (`ip link del`); NetlinkError ENODEV when there is none. */
  async linkDel(ref: string | number): Promise<void> {
    await this.call('linkDel', { ref, ifExists: false }, `link del ${ref}`);
  }

  /** Deletes a host-namespace link if it exists; whether it did. */
  linkDelIfExists(ref: string | number): Promise<boolean> {
    return this.call('linkDel', { ref, ifExists: true }, `link del ${ref}`);
  }

  /** The names among `names` that are host-namespace links now. */
  linksPresent(names: readonly string[]): Promise<string[]> {
    return this.call('linksPresent', { names: [...names] }, 'link get');
  }

  /** Unmounts and removes a namespace file (`ip netns del`); false when it was not there. */
  deleteNetns(path: string): Promise<boolean> {
    return this.call('netnsDelete', { path }, `netns del ${path}`);
  }

  /**
   * Makes a sandbox namespace `<runDir>/netns/<name>` with loopback up (what
   * OsSandbox.create does; the lo-up request waits for the rtnl lock); its path.
   */
  createSandboxNetns(name: string, runDir: string): Promise<string> {
    return this.call('sandboxCreate', { name, runDir }, `netns add ${name}`);
  }

  /**
   * Configures an interface inside `netns` (MTU, addresses, then name, MAC and up: see
   * configureInterface in src/os/sandbox.ts), in one call; its index.
   */
  configureInterface(netns: NetnsRef, spec: SandboxInterfaceSpec): Promise<number> {
    return this.call('interfaceConfigure', { netns, spec }, `configure ${spec.srcName}`);
  }

  /**
   * Applies a libnftables batch as one atomic transaction on the worker: with its host-namespace
   * context, or inside `netns` (an fd of this process, or a path). NftablesError as applyNft.
   */
  async nftApply(batch: NftBatch, netns?: NetnsRef): Promise<void> {
    const args = { batch, ...(netns !== undefined ? { netns } : {}) };
    await this.call('nftApply', args, `nftables apply (${batch.nftables.length} commands)`);
  }

  /**
   * Runs a NetlinkHandle method on the worker: in the host namespace, or inside `netns` (an fd
   * of this process, or a path). Same arguments, result and errors as the method.
   */
  netlink<M extends NetlinkMethod>(
    method: M,
    args: NetlinkArgs<M>,
    netns?: NetnsRef,
  ): Promise<NetlinkResult<M>> {
    const req = { method, args: [...args], ...(netns !== undefined ? { netns } : {}) };
    return this.call('netlink', req, method) as Promise<NetlinkResult<M>>;
  }

  private call<K extends KernelOp>(
    op: K,
    args: KernelOps[K]['args'],
    what: string,
  ): Promise<KernelOps[K]['result']> {
    const w = this.thread();
    const id = ++this.seq;
    let resolve!: (v: unknown) => void;
    let reject!: (e: Error) => void;
    const done = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.pending.set(id, { what, done, resolve, reject });
    if (this.pending.size === 1) w.ref();
    const req: KernelRequest = { id, op, args };
    w.postMessage(req);
    return done as Promise<KernelOps[K]['result']>;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = spawn();
    w.on('message', (r: KernelResponse | KernelHello) => {
      if ('hello' in r) workerTids.add(r.hello.tid);
      else this.answer(r);
    });
    w.on('error', (err) => this.lost(w, err instanceof Error ? err.message : String(err)));
    w.on('exit', (code) => this.lost(w, `it exited with code ${code}`));
    w.unref();
    this.worker = w;
    return w;
  }

  private answer(r: KernelResponse): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (r.ok) p.resolve(r.value);
    else p.reject(fromWire(r.error));
  }

  /** The thread is gone: its pending calls fail; the next call starts a new thread. */
  private lost(w: Worker, detail: string): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const p of calls) p.reject(new KernelWorkerError(p.what, detail));
  }

  /** Waits for the pending calls, then ends the thread. */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    await Promise.allSettled([...this.pending.values()].map((p) => p.done));
    if (this.worker !== w) return;
    this.worker = undefined;
    await w.terminate();
  }
}

/** The kernel thread ids the kernel workers of this process had (each thread's first message). */
const workerTids = new Set<number>();

/**
 * Whether `pid`, as the kernel reports who did something (an nf_tables notification's pid is the
 * committing thread's id), is this process: its main thread or one of its kernel worker threads.
 * A worker's id is known once its first message is read (before any of its answers).
 */
export function isOwnTask(pid: number): boolean {
  return pid === process.pid || workerTids.has(pid);
}

let shared: KernelWorker | undefined;

/** The process's kernel worker (its thread starts on the first call). */
export function kernelWorker(): KernelWorker {
  shared ??= new KernelWorker();
  return shared;
}

let deletions: KernelWorker | undefined;

/**
 * A second worker, for the deletions that wait for the kernel (a veth's removal waits for RCU
 * grace periods, ~25 ms; a namespace's unmount, ~1 ms): the reclaim queue and the veth deletes
 * of leaves and endpoint deletions. One thread runs its calls in order, so on the shared worker an
 * attach's link calls would queue behind them.
 */
export function deletionWorker(): KernelWorker {
  deletions ??= new KernelWorker();
  return deletions;
}

/** Ends the workers' threads once their pending calls are answered (the controller's close). */
export async function closeKernelWorker(): Promise<void> {
  await Promise.all([shared?.close(), deletions?.close()]);
}
