/**
 * The global store: etcd v3 (the `etcd3` package, gRPC), for state that several hosts share.
 * dnet's keys live under a prefix (default `dnet/`), so the cluster can be shared.
 *
 * Longer than 400 lines on purpose: it is one class implementing one contract (store/types.ts)
 * against one protocol, and each method maps a contract rule to etcd's txn/range/watch/lease
 * semantics and its failures; the pieces share the client, the prefix and the error mapping.
 *
 * - Versions are etcd's mod_revision; the store revision is etcd's revision.
 * - create: one txn comparing the key's version with 0; compareAndSwap and compareAndDelete: one txn
 *   comparing mod_revision. A transaction is one etcd txn: the conditions become its compares, the
 *   writes its success branch, and its failure branch reads the conditioned keys, so the error can
 *   name the first failed condition as of that same revision.
 * - list pages through the range at one revision (a consistent snapshot however large).
 * - watch is an etcd watch (one gRPC stream for all of them); on a dropped connection the client
 *   reconnects and resumes after the last revision seen, so no event is lost or repeated.
 * - Every request has a deadline (`timeoutMs`); a connection failure, a timeout or a refusal is a
 *   StoreUnavailableError naming the hosts.
 */
import type { Etcd3, ICompare, IKeyValue, IRangeResponse, IRequestOp, ITxnResponse, Watcher } from 'etcd3';
import { DnetError } from '../errors/base.ts';
import {
  InvalidKeyError,
  KeyExistsError,
  StoreClosedError,
  StoreCorruptError,
  StoreUnavailableError,
  VersionMismatchError,
} from './errors.ts';
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
import { type ErrorSink, errorSink, guarded } from './watch.ts';

export const DEFAULT_ETCD_PREFIX = 'dnet/';
const DEFAULT_TIMEOUT_MS = 5000;
/** Entries per range request when listing (pages are read at one revision). */
const DEFAULT_LIST_PAGE_SIZE = 500;

export interface EtcdStoreOptions {
  /** etcd client URLs, e.g. ['http://127.0.0.1:2379']. */
  hosts: readonly string[];
  /** Where dnet's keys live in etcd: non-empty, ending with "/". Default `dnet/`. */
  prefix?: string;
  /** Deadline of each request (and of connecting, and of starting a watch), ms. Default 5000. */
  timeoutMs?: number;
  /** Entries per range request when listing (all pages are read at one revision). Default 500. */
  listPageSize?: number;
  /**
   * Check at open that etcd answers (StoreUnavailableError if not). Default true; false: open
   * anyway (a daemon that must start while etcd is down), requests then fail until it answers.
   */
  verify?: boolean;
  /** TLS to etcd (PEM): the CA that signed etcd's certificate, and a client certificate and key. */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
}

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: to the end of the keyspace
}

/** An error that says etcd could not be reached or did not answer in time (not a refusal of the request). */
function unreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return /Unavailable|DeadlineExceeded|no answer within|ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT/i.test(
    `${err.constructor.name} ${err.name} ${err.message}`,
  );
}

function timeout<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (${what})`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class EtcdStore implements KvStore {
  readonly backend = 'etcd';
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly watchers = new Set<Watcher>();
  private readonly prefixBytes: Buffer;

  private constructor(
    private readonly client: Etcd3,
    /** The etcd client URLs. */
    readonly hosts: readonly string[],
    /** Where dnet's keys live in etcd. */
    readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly listPageSize: number,
  ) {
    this.prefixBytes = Buffer.from(prefix, 'utf8');
  }

  /**
   * Connects to etcd and checks that it answers (a count of the keys under the prefix):
   * StoreUnavailableError if it does not within `timeoutMs`.
   */
  static async open(options: EtcdStoreOptions): Promise<EtcdStore> {
    const prefix = options.prefix ?? DEFAULT_ETCD_PREFIX;
    validatePrefix(prefix);
    if (prefix === '' || !prefix.endsWith('/')) {
      throw new InvalidKeyError(prefix, 'the etcd prefix must be non-empty and end with "/" (e.g. "dnet/")');
    }
    const hosts = [...options.hosts];
    if (hosts.length === 0) {
      throw new StoreUnavailableError('etcd', 'connect', 'no etcd hosts given (e.g. http://127.0.0.1:2379)');
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // Loaded on first use: importing libnetwork does not load etcd3 (and its gRPC stack).
    const { Etcd3 } = await import('etcd3');
    const { noop } = await import('cockatiel');
    const tls = options.tls;
    const client = new Etcd3({
      hosts,
      dialTimeout: timeoutMs,
      ...(tls
        ? {
            credentials: {
              rootCertificate: tls.ca,
              ...(tls.key ? { privateKey: tls.key } : {}),
              ...(tls.cert ? { certChain: tls.cert } : {}),
            },
          }
        : {}),
      // Unary calls get a deadline; the watch stream lives as long as its watchers.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      // etcd3 retries a failed call three times, on another host each time: with one host that
      // only multiplies the deadline (a stopped etcd took 8 s to report, not 3). Retried across
      // hosts when there are several.
      ...(hosts.length === 1 ? { faultHandling: { global: noop } } : {}),
    });
    const store = new EtcdStore(
      client,
      hosts,
      prefix,
      timeoutMs,
      options.listPageSize ?? DEFAULT_LIST_PAGE_SIZE,
    );
    if (options.verify === false) return store;
    try {
      const all = store.full(prefix);
      await store.call('connect', () =>
        client.kv.range({ key: all, range_end: prefixEnd(all), count_only: true }),
      );
    } catch (err) {
      client.close();
      throw err;
    }
    return store;
  }

  // --- reads -------------------------------------------------------------------------------

  async get(key: string): Promise<KvEntry | undefined> {
    this.assertOpen();
    validateKey(key);
    const res = await this.call(`get ${key}`, () => this.client.kv.range({ key: this.full(key) }));
    const kv = res.kvs[0];
    return kv === undefined ? undefined : this.toEntry(kv);
  }

  async list(prefix: string, atRevision?: number): Promise<KvEntry[]> {
    this.assertOpen();
    validatePrefix(prefix);
    const start = this.full(prefix);
    const end = prefixEnd(start);
    const out: KvEntry[] = [];
    let key = start;
    let revision: string | undefined = atRevision === undefined ? undefined : String(atRevision);
    for (;;) {
      const res: IRangeResponse = await this.call(`list ${prefix}`, () =>
        this.client.kv.range({
          key,
          range_end: end,
          limit: this.listPageSize,
          ...(revision === undefined ? {} : { revision }),
        }),
      );
      revision ??= res.header.revision;
      for (const kv of res.kvs) out.push(this.toEntry(kv));
      const last = res.kvs.at(-1);
      if (!res.more || last === undefined) return out;
      key = Buffer.concat([last.key, Buffer.from([0])]); // the next key after the last one
    }
  }

  /**
   * Like list, and the store revision the entries were read at: a watch from the next revision
   * (`watch(prefix, fn, { fromVersion: revision + 1 })`) then sees every later change, no gap.
   */
  async listAt(prefix: string): Promise<{ entries: KvEntry[]; revision: number }> {
    this.assertOpen();
    validatePrefix(prefix);
    const start = this.full(prefix);
    // One count-only read fixes the revision; list() pages at the revision of its first page,
    // which is the same or later, so read the pages at ours.
    const head = await this.call(`list ${prefix}`, () =>
      this.client.kv.range({ key: start, range_end: prefixEnd(start), count_only: true }),
    );
    const revision = this.revision(head.header.revision, prefix);
    return { entries: await this.list(prefix, revision), revision };
  }

  // --- leases (cluster/: a host's registration lives as long as its lease) ------------------

  /**
   * Grants a lease of `ttlSeconds`; with `id` (decimal), that lease ID (etcd refuses it if the
   * lease exists). Returns the lease ID.
   */
  async leaseGrant(ttlSeconds: number, id?: string): Promise<string> {
    this.assertOpen();
    const res = await this.call('lease grant', () =>
      this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ...(id === undefined ? {} : { ID: id }) }),
    );
    return res.ID;
  }

  /** One keep-alive of lease `id`: the TTL it has now (seconds); 0 when the lease is gone. */
  async leaseKeepAlive(id: string): Promise<number> {
    this.assertOpen();
    return this.call(`lease keep-alive ${id}`, () =>
      timeout(this.timeoutMs, 'lease keep-alive', this.keepAliveOnce(id)),
    );
  }

  private async keepAliveOnce(id: string): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive();
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.write({ ID: id });
      });
      return Math.max(0, Number(res.TTL));
    } finally {
      stream.end();
    }
  }

  /** Revokes lease `id`: every key attached to it is deleted. A lease already gone is nothing. */
  async leaseRevoke(id: string): Promise<void> {
    this.assertOpen();
    try {
      await this.call(`lease revoke ${id}`, () => this.client.leaseClient.leaseRevoke({ ID: id }));
    } catch (err) {
      if (err instanceof StoreUnavailableError && /not found/i.test(err.message)) return;
      throw err;
    }
  }

  /** Stores `value` at `key`, attached to lease `lease`: the key goes when the lease expires. */
  async putWithLease(key: string, value: unknown, lease: string): Promise<KvEntry> {
    this.assertOpen();
    validateKey(key);
    const enc = encodeValue(key, value);
    const res = await this.call(`put ${key}`, () =>
      this.client.kv.put({ key: this.full(key), value: enc.bytes, lease }),
    );
    return { key, value: enc.value, version: this.revision(res.header.revision, key) };
  }

  // --- writes ------------------------------------------------------------------------------

  async put(key: string, value: unknown): Promise<KvEntry> {
    this.assertOpen();
    validateKey(key);
    const enc = encodeValue(key, value);
    const res = await this.call(`put ${key}`, () =>
      this.client.kv.put({ key: this.full(key), value: enc.bytes }),
    );
    return { key, value: enc.value, version: this.revision(res.header.revision, key) };
  }

  async create(key: string, value: unknown): Promise<KvEntry> {
    this.assertOpen();
    validateKey(key);
    const op: CheckedOp = { type: 'create', key, encoded: encodeValue(key, value) };
    const version = await this.apply(`create ${key}`, [op]);
    return { key, value: op.encoded.value, version };
  }

  async compareAndSwap(key: string, value: unknown, expectedVersion: number): Promise<KvEntry> {
    this.assertOpen();
    validateKey(key);
    validateVersion(key, expectedVersion);
    const op: CheckedOp = { type: 'put', key, encoded: encodeValue(key, value), ifVersion: expectedVersion };
    const version = await this.apply(`compareAndSwap ${key}`, [op]);
    return { key, value: op.encoded.value, version };
  }

  async delete(key: string): Promise<boolean> {
    this.assertOpen();
    validateKey(key);
    const res = await this.call(`delete ${key}`, () => this.client.kv.deleteRange({ key: this.full(key) }));
    return Number(res.deleted) > 0;
  }

  async compareAndDelete(key: string, expectedVersion: number): Promise<boolean> {
    this.assertOpen();
    validateKey(key);
    validateVersion(key, expectedVersion);
    try {
      await this.apply(`compareAndDelete ${key}`, [{ type: 'delete', key, ifVersion: expectedVersion }]);
      return true;
    } catch (err) {
      if (err instanceof VersionMismatchError && err.actual === undefined) return false; // gone already
      throw err;
    }
  }

  /** Every etcd commit is durable (its quorum's log): `options.durable` changes nothing. */
  async transaction(ops: readonly KvOp[], _options?: KvTxnOptions): Promise<KvTxnResult> {
    this.assertOpen();
    const checked = checkOps(ops);
    return { version: await this.apply(`transaction of ${checked.length} operations`, checked) };
  }

  /**
   * A transaction whose puts and creates are all attached to lease `lease` (they go when it
   * expires); otherwise as `transaction`.
   */
  async transactionWithLease(ops: readonly KvOp[], lease: string): Promise<KvTxnResult> {
    this.assertOpen();
    const checked = checkOps(ops);
    return { version: await this.apply(`transaction of ${checked.length} operations`, checked, lease) };
  }

  // --- watch and life cycle ----------------------------------------------------------------

  async watch(
    prefix: string,
    onEvent: (event: KvEvent) => void,
    options?: KvWatchOptions & {
      /** Start at this store revision (listAt's revision + 1): changes since then are delivered first. */
      fromVersion?: number;
      /**
       * etcd ended the watch (its start revision was compacted away, or it was cancelled): no more
       * events come; the owner lists again and watches anew. Without it, the error goes to onError.
       */
      onCancelled?: (err: Error) => void;
    },
  ): Promise<KvWatch> {
    this.assertOpen();
    validatePrefix(prefix);
    const sink = errorSink(options);
    const builder = this.client.watch().prefix(this.full(prefix));
    if (options?.fromVersion !== undefined) builder.startRevision(String(options.fromVersion));
    const watcher = builder.watcher();
    let open = true;
    let started = false;
    watcher.on('put', (kv) => {
      if (open) this.deliver(sink, onEvent, 'put', kv);
    });
    watcher.on('delete', (kv) => {
      if (open) this.deliver(sink, onEvent, 'delete', kv);
    });
    watcher.on('disconnected', (err) => {
      if (open && started) sink(this.unavailable(`watch ${prefix} (reconnecting)`, err));
    });
    const connected = new Promise<void>((resolve, reject) => {
      watcher.once('connected', () => resolve());
      watcher.once('error', reject);
    });
    // Later errors (a watch cancelled by etcd, e.g. after compaction) go to the sink.
    watcher.on('error', (err) => {
      if (!open || !started) return;
      const e = this.unavailable(`watch ${prefix}`, err);
      if (options?.onCancelled) guarded(sink, () => options.onCancelled?.(e));
      else sink(e);
    });
    try {
      await this.call(`watch ${prefix}`, () => timeout(this.timeoutMs, 'starting the watch', connected));
    } catch (err) {
      open = false;
      await watcher.cancel().catch(() => undefined);
      throw err;
    }
    started = true;
    this.watchers.add(watcher);
    return {
      close: async () => {
        if (!open) return;
        open = false;
        this.watchers.delete(watcher);
        await timeout(this.timeoutMs, 'cancelling the watch', watcher.cancel()).catch(() => undefined);
      },
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.inflight]);
      const ws = [...this.watchers];
      this.watchers.clear();
      for (const w of ws) w.removeAllListeners('put').removeAllListeners('delete');
      await Promise.allSettled(ws.map((w) => timeout(this.timeoutMs, 'cancelling a watch', w.cancel())));
      this.client.close();
    })();
    return this.closing;
  }

  // --- internals ---------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError('etcd');
  }

  private full(key: string): Buffer {
    return Buffer.from(this.prefix + key, 'utf8');
  }

  private where(key: string): string {
    return `etcd ${this.hosts.join(',')} key ${JSON.stringify(this.prefix + key)}`;
  }

  private unavailable(operation: string, err: unknown): StoreUnavailableError {
    const msg = err instanceof Error ? err.message : String(err);
    return new StoreUnavailableError('etcd', operation, `${msg}; hosts ${this.hosts.join(', ')}`, {
      cause: err,
    });
  }

  /**
   * Until when calls fail at once after etcd did not answer (or could not be reached): one
   * operation that makes several calls then fails within one deadline, not one per call. The
   * first call after it probes etcd again.
   */
  private unreachableUntil = 0;
  private unreachableWhy = '';

  /** Runs one etcd call: tracked for close(), and any failure that is not ours becomes StoreUnavailableError. */
  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (Date.now() < this.unreachableUntil) {
      throw this.unavailable(
        operation,
        `not tried: etcd did not answer a moment ago (${this.unreachableWhy})`,
      );
    }
    const p = Promise.resolve().then(fn);
    this.inflight.add(p);
    try {
      const r = await p;
      this.unreachableUntil = 0;
      return r;
    } catch (err) {
      if (err instanceof DnetError) throw err;
      if (unreachable(err)) {
        this.unreachableUntil = Date.now() + this.timeoutMs;
        this.unreachableWhy = err instanceof Error ? err.message : String(err);
      }
      throw this.unavailable(operation, err);
    } finally {
      this.inflight.delete(p);
    }
  }

  /** A revision from etcd (a decimal string) as a version. */
  private revision(s: string, key: string): number {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new StoreCorruptError(this.where(key), `etcd reported revision ${JSON.stringify(s)}`);
    }
    return n;
  }

  /** The dnet key of an etcd key (which starts with the prefix: every request is under it). */
  private keyOf(raw: Buffer): string {
    return raw.subarray(this.prefixBytes.length).toString('utf8');
  }

  private toEntry(kv: IKeyValue): KvEntry {
    const key = this.keyOf(kv.key);
    return {
      key,
      value: decodeValue(this.where(key), kv.value),
      version: this.revision(kv.mod_revision, key),
    };
  }

  private deliver(
    sink: ErrorSink,
    onEvent: (e: KvEvent) => void,
    type: 'put' | 'delete',
    kv: IKeyValue,
  ): void {
    let event: KvEvent;
    try {
      if (type === 'put') {
        const entry = this.toEntry(kv);
        event = { type, key: entry.key, entry };
      } else {
        const key = this.keyOf(kv.key);
        event = { type, key, version: this.revision(kv.mod_revision, key) };
      }
    } catch (err) {
      sink(err as Error); // StoreCorruptError: skip the event, tell the owner
      return;
    }
    guarded(sink, () => onEvent(event));
  }

  /**
   * Runs `ops` as one etcd txn (its puts attached to `lease` if given). Returns the revision of the transaction; throws the error of the
   * first failed condition (as of the revision the txn ran at).
   */
  private async apply(operation: string, ops: readonly CheckedOp[], lease?: string): Promise<number> {
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    const failure: IRequestOp[] = [];
    const conditioned: number[] = [];
    for (const [i, op] of ops.entries()) {
      const key = this.full(op.key);
      const cond = conditionOf(op);
      if (cond !== undefined) {
        conditioned.push(i);
        compare.push(
          cond === null
            ? { key, target: 'Version', result: 'Equal', version: 0 }
            : { key, target: 'Mod', result: 'Equal', mod_revision: cond },
        );
        failure.push({ request_range: { key } });
      }
      if (op.type === 'put' || op.type === 'create')
        success.push({ request_put: { key, value: op.encoded.bytes, ...(lease ? { lease } : {}) } });
      else if (op.type === 'delete') success.push({ request_delete_range: { key } });
    }
    const res: ITxnResponse = await this.call(operation, () =>
      this.client.kv.txn({ compare, success, failure }),
    );
    if (res.succeeded) return this.revision(res.header.revision, ops[0]?.key ?? '');
    // Which condition failed: the failure branch read every conditioned key at the txn's revision.
    for (const [j, i] of conditioned.entries()) {
      const op = ops[i]!;
      const kv = res.responses[j]?.response_range?.kvs[0];
      const actual = kv === undefined ? undefined : this.revision(kv.mod_revision, op.key);
      const cond = conditionOf(op)!;
      if (cond === null ? actual === undefined : actual === cond) continue;
      if (op.type === 'create') throw new KeyExistsError(op.key, actual!);
      throw new VersionMismatchError(op.key, cond, actual);
    }
    throw new StoreUnavailableError(
      'etcd',
      operation,
      'etcd refused the transaction but every condition holds',
    );
  }
}
