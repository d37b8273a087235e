/**
 * A table of the cluster store kept in memory: listed at one revision, then watched from the
 * next one (no gap between list and watch), listed again when etcd cancels the watch (its start
 * revision was compacted) or when listing failed (etcd down: retried every `retryMs` until it
 * answers). After every listing the handler hears the difference: entries that appeared or
 * changed (`put`) and entries that went while it was not watching (`delete`), so the owner never
 * keeps an entry the store does not list.
 */
import type { EtcdStore } from '../store/etcd.ts';
import type { KvEvent, KvWatch } from '../store/types.ts';

export interface MirrorHandler {
  /** An entry appeared or changed. */
  put(key: string, value: unknown): void;
  /** An entry went; `last` is its last value. */
  delete(key: string, last: unknown): void;
  /** A listing was applied (the first one, and each after a re-list). */
  listed?(): void;
}

export interface MirrorOptions {
  /** Problems the mirror handles itself (etcd down, a handler that threw): for the log. */
  onError?: (err: Error) => void;
  /** Delay before listing again after a failure, ms. Default 1000. */
  retryMs?: number;
}

export class TableMirror {
  private readonly entries = new Map<string, { value: unknown; version: number }>();
  private watch: KvWatch | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;

  private constructor(
    private readonly store: EtcdStore,
    readonly prefix: string,
    private readonly handler: MirrorHandler,
    private readonly options: MirrorOptions,
  ) {}

  /** Lists and starts watching; rejects (StoreUnavailableError) when the first listing fails. */
  static async start(
    store: EtcdStore,
    prefix: string,
    handler: MirrorHandler,
    options: MirrorOptions = {},
  ): Promise<TableMirror> {
    const m = new TableMirror(store, prefix, handler, options);
    await m.sync();
    return m;
  }

  /**
   * Like start, but never fails: when the first listing fails (etcd down), it is retried every
   * `retryMs` in the background, and the handler hears the entries once etcd answers.
   */
  static follow(
    store: EtcdStore,
    prefix: string,
    handler: MirrorHandler,
    options: MirrorOptions = {},
  ): TableMirror {
    const m = new TableMirror(store, prefix, handler, options);
    m.sync().catch((err: unknown) => {
      m.report(err);
      m.retry();
    });
    return m;
  }

  /** The entries as last seen. */
  snapshot(): Map<string, unknown> {
    return new Map([...this.entries].map(([k, e]) => [k, e.value]));
  }

  private report(err: unknown): void {
    this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(err);
    }
  }

  /** List at a revision, hand over the difference, watch from the next revision. */
  private sync(): Promise<void> {
    this.syncing ??= (async () => {
      try {
        await this.watch?.close();
        this.watch = undefined;
        const { entries, revision } = await this.store.listAt(this.prefix);
        const seen = new Set<string>();
        for (const e of entries) {
          seen.add(e.key);
          const had = this.entries.get(e.key);
          if (had && had.version === e.version) continue;
          this.entries.set(e.key, { value: e.value, version: e.version });
          this.call(() => this.handler.put(e.key, e.value));
        }
        for (const [k, had] of [...this.entries]) {
          if (seen.has(k)) continue;
          this.entries.delete(k);
          this.call(() => this.handler.delete(k, had.value));
        }
        this.call(() => this.handler.listed?.());
        if (this.closed) return;
        this.watch = await this.store.watch(this.prefix, (ev) => this.onEvent(ev), {
          fromVersion: revision + 1,
          onCancelled: (err) => {
            this.report(err);
            this.retry(0);
          },
          ...(this.options.onError ? { onError: this.options.onError } : {}),
        });
        if (this.closed) await this.watch.close();
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  private retry(ms = this.options.retryMs ?? 1000): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      this.sync().catch((err: unknown) => {
        this.report(err);
        this.retry();
      });
    }, ms);
  }

  private onEvent(ev: KvEvent): void {
    if (ev.type === 'put') {
      const had = this.entries.get(ev.key);
      if (had && had.version >= ev.entry.version) return;
      this.entries.set(ev.key, { value: ev.entry.value, version: ev.entry.version });
      this.call(() => this.handler.put(ev.key, ev.entry.value));
    } else {
      const had = this.entries.get(ev.key);
      if (!had || had.version > ev.version) return;
      this.entries.delete(ev.key);
      this.call(() => this.handler.delete(ev.key, had.value));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    // A sync in flight: its failure goes to whoever started it; closing only waits for it to end.
    await this.syncing?.catch(() => undefined);
    await this.watch?.close();
  }
}
