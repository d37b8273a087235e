/**
 * The local store: LMDB (the `lmdb` package) in the data directory (default /var/lib/dnet), as
 * `<dir>/store.mdb` (+ `store.mdb-lock`, LMDB's reader table), locked for one dnet by
 * `<dir>/dnet.lock` (src/store/lock.ts).
 *
 * - Durable: commits are fsync'ed before a write's promise resolves ("resolved" means "on disk").
 *   lmdb-js's `overlappingSync` is on: a commit is made visible first and flushed after, outside
 *   the write lock, and a write waits for its flush (`root.flushed`). A transaction with
 *   `{ durable: false }` (an operation's intent) does not wait: it is committed at once on the
 *   calling thread, kept if the process dies (same boot: lmdb-js restores the last committed
 *   transaction), flushed with the next durable commit. LMDB's meta-page handling keeps the file
 *   consistent after a machine crash either way (it restores the last flushed transaction).
 * - Versions: LMDB's per-entry version (`useVersions`) holds the store revision of the entry's last
 *   write; the revision counter lives in a second database (`meta`), updated in the same
 *   transaction, so it survives restarts and never goes back (no ABA after delete + re-create).
 * - Every write, single or a transaction, runs as one abortable (child) LMDB write transaction:
 *   the conditions are checked, then the writes applied, inside it; anything thrown aborts it whole.
 *   Durable writes go to lmdb-js's write thread, which batches concurrent ones into one commit,
 *   in call order; a non-durable one is its own synchronous transaction (`transactionSync`).
 * - Watches are in-process: events are delivered after the commit, in commit (revision) order. Only this
 *   process writes the directory (the lock), so nothing is missed.
 */
import { join } from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { KeyExistsError, StoreClosedError, StoreCorruptError, VersionMismatchError } from './errors.ts';
import {
  type CheckedOp,
  checkOps,
  conditionOf,
  decodeValue,
  encodeValue,
  validateKey,
  validatePrefix,
  validateVersion,
} from './keys.ts';
import { type DirLock, lockDataDir } from './lock.ts';
import type {
  KvEntry,
  KvEvent,
  KvOp,
  KvStore,
  KvTxnOptions,
  KvTxnResult,
  KvWatch,
  KvWatchOptions,
} from './types.ts';
import { Subscribers } from './watch.ts';

export const DEFAULT_DATA_DIR = '/var/lib/dnet';
/** The LMDB environment's file in the data directory. */
export const STORE_FILE = 'store.mdb';
/** The layout of the data in the store; a store written with another one is refused. */
const FORMAT = 1;
const META_FORMAT = 'format';
const META_REVISION = 'revision';

export interface LmdbStoreOptions {
  /** The data directory (created, mode 0700, if missing). Default /var/lib/dnet. */
  dir?: string;
}

/** How a write transaction ended: applied, or refused by the condition of operation `index`. */
type Outcome =
  | { ok: true; version: number; prev: (number | undefined)[]; events: KvEvent[] }
  | { ok: false; index: number; actual: number | undefined };

export class LmdbStore implements KvStore {
  readonly backend = 'lmdb';
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Committed writes' events waiting for an earlier revision's (see deliver), by revision. */
  private readonly undelivered = new Map<number, KvEvent[]>();
  /** The revision whose events are delivered next. */
  private nextEvents: number;
  private readonly subscribers = new Subscribers();

  private constructor(
    /** The data directory. */
    readonly dir: string,
    private readonly root: RootDatabase<unknown, string>,
    private readonly kv: Database<Buffer, string>,
    private readonly meta: Database<number, string>,
    private readonly lock: DirLock,
  ) {
    this.nextEvents = (meta.get(META_REVISION) ?? 0) + 1;
  }

  /**
   * Opens (creating if needed) the store in `dir`. StoreLockedError if another dnet has it open;
   * StoreCorruptError if it holds data of an unknown format.
   */
  static async open(options: LmdbStoreOptions = {}): Promise<LmdbStore> {
    const dir = options.dir ?? DEFAULT_DATA_DIR;
    const lock = await lockDataDir(dir);
    let root: RootDatabase<unknown, string> | undefined;
    try {
      // Loaded on first use: importing libnetwork does not load lmdb's native module.
      const { open } = await import('lmdb');
      root = open<unknown, string>({
        path: join(dir, STORE_FILE),
        maxDbs: 4,
        noSync: false,
        overlappingSync: true,
      });
      const kv = root.openDB<Buffer, string>({ name: 'kv', encoding: 'binary', useVersions: true });
      const meta = root.openDB<number, string>({ name: 'meta', encoding: 'json' });
      const format = meta.get(META_FORMAT);
      if (format === undefined) {
        const first = [...kv.getKeys({ limit: 1 })];
        if (first.length > 0) {
          throw new StoreCorruptError(join(dir, STORE_FILE), 'it holds entries but no format marker');
        }
        await meta.put(META_FORMAT, FORMAT);
      } else if (format !== FORMAT) {
        throw new StoreCorruptError(
          join(dir, STORE_FILE),
          `its format is ${JSON.stringify(format)}, this dnet reads format ${FORMAT}`,
        );
      }
      return new LmdbStore(dir, root, kv, meta, lock);
    } catch (err) {
      await root?.close().catch(() => undefined);
      await lock.release();
      throw err;
    }
  }

  // --- reads -------------------------------------------------------------------------------

  async get(key: string): Promise<KvEntry | undefined> {
    this.assertOpen();
    validateKey(key);
    const e = this.kv.getEntry(key);
    return e === undefined ? undefined : this.toEntry(key, e.value, e.version);
  }

  async list(prefix: string): Promise<KvEntry[]> {
    this.assertOpen();
    validatePrefix(prefix);
    const out: KvEntry[] = [];
    // Keys sort by their UTF-8 bytes (lmdb's ordered-binary string keys): the matches are one run.
    for (const e of this.kv.getRange({ start: prefix, versions: true, snapshot: true })) {
      if (typeof e.key !== 'string')
        throw new StoreCorruptError(this.where(String(e.key)), 'the key is not a string');
      if (!e.key.startsWith(prefix)) break;
      out.push(this.toEntry(e.key, e.value, e.version));
    }
    return out;
  }

  // --- writes ------------------------------------------------------------------------------

  async put(key: string, value: unknown): Promise<KvEntry> {
    this.assertOpen();
    validateKey(key);
    const op: CheckedOp = { type: 'put', key, encoded: encodeValue(key, value) };
    const out = this.mustApply(await this.apply([op]), [op]);
    return { key, value: op.encoded.value, version: out.version };
  }

  async create(key: string, value: unknown): Promise<KvEntry> {
    this.assertOpen();
    validateKey(key);
    const op: CheckedOp = { type: 'create', key, encoded: encodeValue(key, value) };
    const out = this.mustApply(await this.apply([op]), [op]);
    return { key, value: op.encoded.value, version: out.version };
  }

  async compareAndSwap(key: string, value: unknown, expectedVersion: number): Promise<KvEntry> {
    this.assertOpen();
    validateKey(key);
    validateVersion(key, expectedVersion);
    const op: CheckedOp = { type: 'put', key, encoded: encodeValue(key, value), ifVersion: expectedVersion };
    const out = this.mustApply(await this.apply([op]), [op]);
    return { key, value: op.encoded.value, version: out.version };
  }

  async delete(key: string): Promise<boolean> {
    this.assertOpen();
    validateKey(key);
    const op: CheckedOp = { type: 'delete', key };
    const out = this.mustApply(await this.apply([op]), [op]);
    return out.prev[0] !== undefined;
  }

  async compareAndDelete(key: string, expectedVersion: number): Promise<boolean> {
    this.assertOpen();
    validateKey(key);
    validateVersion(key, expectedVersion);
    const op: CheckedOp = { type: 'delete', key, ifVersion: expectedVersion };
    const out = await this.apply([op]);
    if (!out.ok && out.actual === undefined) return false; // gone already: nothing to delete
    this.mustApply(out, [op]);
    return true;
  }

  async transaction(ops: readonly KvOp[], options: KvTxnOptions = {}): Promise<KvTxnResult> {
    this.assertOpen();
    const checked = checkOps(ops);
    const out = this.mustApply(await this.apply(checked, options.durable !== false), checked);
    return { version: out.version };
  }

  // --- watch and life cycle ----------------------------------------------------------------

  async watch(prefix: string, onEvent: (event: KvEvent) => void, options?: KvWatchOptions): Promise<KvWatch> {
    this.assertOpen();
    validatePrefix(prefix);
    const remove = this.subscribers.add(prefix, onEvent, options);
    return {
      close: async () => {
        remove();
      },
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.inflight]);
      this.subscribers.clear();
      try {
        await this.root.close();
      } finally {
        await this.lock.release();
      }
    })();
    return this.closing;
  }

  /** The store's current revision (the version the next write will exceed). */
  async revision(): Promise<number> {
    this.assertOpen();
    return this.meta.get(META_REVISION) ?? 0;
  }

  // --- internals ---------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError('lmdb');
  }

  private where(key: string): string {
    return `${join(this.dir, STORE_FILE)} key ${JSON.stringify(key)}`;
  }

  private checkVersion(key: string, version: number | undefined): number {
    if (version === undefined || !Number.isSafeInteger(version) || version < 1) {
      throw new StoreCorruptError(this.where(key), `the entry has no valid version (${String(version)})`);
    }
    return version;
  }

  private toEntry(key: string, bytes: Buffer, version: number | undefined): KvEntry {
    return { key, value: decodeValue(this.where(key), bytes), version: this.checkVersion(key, version) };
  }

  /** The version of `key` as the current (write) transaction sees it. */
  private versionOf(key: string): number | undefined {
    const e = this.kv.getEntry(key);
    return e === undefined ? undefined : this.checkVersion(key, e.version);
  }

  /**
   * Runs `ops` in one abortable write transaction: checks every condition, then (if all hold)
   * applies the writes at the next revision. Delivers the events once committed; resolves once
   * flushed to disk when `durable` (a refused condition wrote nothing: nothing to wait for).
   *
   * A durable write is queued to lmdb-js's write thread (batched with concurrent ones, then
   * flushed). A non-durable one is committed at once on this thread (`transactionSync`): it waits
   * for no flush, and costs less than half the CPU of a queued one (no hand-over to the write
   * thread and back). Its flush comes with the next durable commit (LMDB syncs the whole file).
   * Events are delivered in revision order (`deliver`): a write committed at once may come before
   * a queued one whose promise has not resolved yet.
   */
  private async apply(ops: readonly CheckedOp[], durable = true): Promise<Outcome> {
    if (!durable) {
      const out = this.kv.transactionSync(() => this.write(ops));
      if (out.ok) this.deliver(out);
      return out;
    }
    const run = this.kv.childTransaction(() => this.write(ops));
    this.inflight.add(run);
    try {
      const out = await run;
      if (out.ok) {
        this.deliver(out);
        await this.root.flushed;
      }
      return out;
    } finally {
      this.inflight.delete(run);
    }
  }

  /**
   * Delivers a committed write's events in revision order. Every write that changes something
   * takes the next revision (one more than the last committed), so the revisions with events run
   * without a gap; a write refused or aborted takes none.
   */
  private deliver(out: Extract<Outcome, { ok: true }>): void {
    if (out.events.length === 0) return;
    this.undelivered.set(out.version, out.events);
    for (let e = this.undelivered.get(this.nextEvents); e; e = this.undelivered.get(this.nextEvents)) {
      this.undelivered.delete(this.nextEvents);
      this.nextEvents++;
      this.subscribers.emit(e);
    }
  }

  /** The body of a write transaction (see apply): conditions checked, then the writes made. */
  private write(ops: readonly CheckedOp[]): Outcome {
    const prev = ops.map((op) => this.versionOf(op.key));
    for (const [i, op] of ops.entries()) {
      const cond = conditionOf(op);
      if (cond === undefined) continue;
      if (cond === null ? prev[i] !== undefined : prev[i] !== cond) {
        return { ok: false, index: i, actual: prev[i] };
      }
    }
    let version = this.meta.get(META_REVISION) ?? 0;
    const changes = ops.some(
      (op, i) => op.type === 'put' || op.type === 'create' || (op.type === 'delete' && prev[i] !== undefined),
    );
    const events: KvEvent[] = [];
    if (changes) {
      version += 1;
      for (const [i, op] of ops.entries()) {
        if (op.type === 'put' || op.type === 'create') {
          this.kv.putSync(op.key, op.encoded.bytes, { version });
          events.push({
            type: 'put',
            key: op.key,
            entry: { key: op.key, value: op.encoded.value, version },
          });
        } else if (op.type === 'delete' && prev[i] !== undefined) {
          this.kv.removeSync(op.key);
          events.push({ type: 'delete', key: op.key, version });
        }
      }
      this.meta.putSync(META_REVISION, version);
    }
    return { ok: true, version, prev, events };
  }

  /** The outcome if applied; else the error of the failed condition. */
  private mustApply(out: Outcome, ops: readonly CheckedOp[]): Extract<Outcome, { ok: true }> {
    if (out.ok) return out;
    const op = ops[out.index]!;
    if (op.type === 'create' && out.actual !== undefined) throw new KeyExistsError(op.key, out.actual);
    throw new VersionMismatchError(op.key, conditionOf(op) ?? null, out.actual);
  }
}
