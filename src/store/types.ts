/**
 * The key-value store contract. Two implementations: LmdbStore (src/store/lmdb.ts, local state in
 * the data directory, one process) and EtcdStore (src/store/etcd.ts, global-scope state shared by
 * hosts). Everything above the store is written against this interface only; the shared contract
 * test (test/kernel/store-contract.test.ts) runs the same cases against both.
 *
 * Keys are "/"-separated paths (`network/<id>`, `endpoint/<network id>/<id>`), validated by
 * src/store/keys.ts: non-empty parts, no control characters, at most 1024 bytes of UTF-8. Keys sort
 * by their UTF-8 bytes in both stores.
 *
 * Values are JSON: `put` stores `JSON.stringify(value)` and every read returns `JSON.parse` of it, so
 * a value comes back as JSON would carry it (a Date as its ISO string, `undefined` properties gone).
 * Values that JSON cannot carry at all (undefined, a function, a bigint, a cycle) are refused with
 * InvalidValueError, as is a value over 1 MiB once serialised. Readers get `unknown`: parse it into
 * your type at the boundary.
 *
 * Versions are revisions of the whole store, as etcd's: every committed write gets the next
 * revision, and each entry carries the revision of its last write (etcd's mod_revision). So a
 * key's version only grows, even across delete and re-create (no ABA: a compare-and-swap against
 * an old version of a deleted-and-recreated key fails), and all writes of one transaction share
 * one version. Versions are positive safe integers.
 */

/** One stored entry. */
export interface KvEntry {
  readonly key: string;
  /** JSON.parse of the stored text. */
  readonly value: unknown;
  /** The store revision of the entry's last write (> 0). */
  readonly version: number;
}

/** A change seen by a watcher, after it was committed. */
export type KvEvent =
  | { readonly type: 'put'; readonly key: string; readonly entry: KvEntry }
  | {
      readonly type: 'delete';
      readonly key: string;
      /** The store revision of the deletion. */
      readonly version: number;
    };

/**
 * One operation of a transaction. `ifVersion` makes it conditional: the key must be at exactly
 * that version (so it must exist). Without it a put or delete is unconditional (deleting a key that
 * does not exist is then nothing).
 */
export type KvOp =
  | { readonly type: 'put'; readonly key: string; readonly value: unknown; readonly ifVersion?: number }
  /** The key must not exist. */
  | { readonly type: 'create'; readonly key: string; readonly value: unknown }
  | { readonly type: 'delete'; readonly key: string; readonly ifVersion?: number }
  /** A check only: the key must be at `ifVersion`; null: the key must not exist. */
  | { readonly type: 'check'; readonly key: string; readonly ifVersion: number | null };

/** What a committed transaction reports. */
export interface KvTxnResult {
  /**
   * The store revision of the transaction: every key it put has this version. A transaction that
   * changed nothing (only checks, or deletes of missing keys) reports the current revision
   * (0 for a new, empty LMDB store).
   */
  readonly version: number;
}

export interface KvWatchOptions {
  /**
   * Called for problems the watch cannot hand back as a rejected promise: the callback threw, a
   * watched value is not JSON (StoreCorruptError, the event is skipped), the connection to etcd
   * dropped (StoreUnavailableError; the watch reconnects and resumes where it stopped). Default:
   * a process warning.
   */
  readonly onError?: (err: Error) => void;
}

export interface KvWatch {
  /** Stops the watch; no callback runs after it resolves. */
  close(): Promise<void>;
}

/** How durable a transaction must be when its promise resolves. */
export interface KvTxnOptions {
  /**
   * `true` (the default): on disk (LMDB: fsync'ed; etcd: committed by its quorum). `false`:
   * committed and visible, and kept if this process dies (kill -9: the operating system has the
   * pages), but possibly lost with the machine (a power cut, a kernel panic) until a later durable
   * commit flushes it. For intents that describe kernel work, which does not survive a reboot
   * either: the operation's durable result commit flushes its intent with it. etcd ignores it.
   */
  durable?: boolean;
}

export interface KvStore {
  /** Which implementation: `lmdb` (local) or `etcd` (global). */
  readonly backend: 'lmdb' | 'etcd';

  /** The entry at `key`, or undefined. */
  get(key: string): Promise<KvEntry | undefined>;

  /** Stores `value` at `key` unconditionally; the new entry. */
  put(key: string, value: unknown): Promise<KvEntry>;

  /** Stores `value` at `key` if the key does not exist; else KeyExistsError (with its version). */
  create(key: string, value: unknown): Promise<KvEntry>;

  /**
   * Stores `value` at `key` if the key is at `expectedVersion`; else VersionMismatchError carrying
   * the version it is at (undefined: it does not exist any more).
   */
  compareAndSwap(key: string, value: unknown, expectedVersion: number): Promise<KvEntry>;

  /** Deletes `key`; whether it existed. */
  delete(key: string): Promise<boolean>;

  /**
   * Deletes `key` if it is at `expectedVersion`: true. If it does not exist: false (nothing to do).
   * If it is at another version: VersionMismatchError (someone changed it since it was read).
   */
  compareAndDelete(key: string, expectedVersion: number): Promise<boolean>;

  /**
   * Every entry whose key starts with `prefix` (a plain string prefix: end it with "/" to list a
   * directory, "" lists everything), sorted by key, read at one revision.
   */
  list(prefix: string): Promise<KvEntry[]>;

  /**
   * Applies `ops` atomically: every condition holds and all writes are applied at one revision, or
   * nothing is applied and the first failed condition (in `ops` order) is thrown as
   * VersionMismatchError or KeyExistsError. At most 128 operations, each key at most once.
   */
  transaction(ops: readonly KvOp[], options?: KvTxnOptions): Promise<KvTxnResult>;

  /**
   * Calls `onEvent` for every change, committed after the returned promise resolves, to a key that
   * starts with `prefix`, in commit order (a transaction's changes in `ops` order). To follow a
   * directory without a gap: watch first, then list, and ignore events whose version is not above
   * the listed entry's.
   */
  watch(prefix: string, onEvent: (event: KvEvent) => void, options?: KvWatchOptions): Promise<KvWatch>;

  /**
   * Waits for operations under way, stops every watch and releases the store (the data directory's
   * lock, the etcd connection). Further calls fail with StoreClosedError. Idempotent.
   */
  close(): Promise<void>;
}
