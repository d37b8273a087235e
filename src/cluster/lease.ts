/**
 * This host's lease in etcd: its registration and its published endpoints are attached to it,
 * so a host gone for good has them removed by etcd itself within the lease's TTL. The lease ID
 * is kept in a file of the data directory: a daemon restarted within the TTL (kill -9 included)
 * takes the same lease back and keeps it alive, and no peer ever sees its entries go.
 *
 * Kept alive every TTL/3. When etcd says the lease is gone (the host was cut off longer than the
 * TTL), a new one is granted and `onRenewed` listeners publish again what this host owns.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { StoreUnavailableError } from '../store/errors.ts';
import type { EtcdStore } from '../store/etcd.ts';

export interface HostLeaseOptions {
  /** Seconds. */
  ttl: number;
  /** Where the lease ID is kept across restarts. */
  stateFile: string;
  onError?: (err: Error) => void;
}

export class HostLease {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly renewed: (() => Promise<void>)[] = [];
  /** The last keep-alive etcd answered (ms since the epoch). */
  lastAlive = Date.now();

  private constructor(
    private readonly store: EtcdStore,
    /** The lease ID (decimal). */
    public id: string,
    private readonly options: HostLeaseOptions,
  ) {}

  /**
   * The lease of the last run if etcd still has it, else a new one. With `tolerant`, etcd not
   * answering is no failure: the lease is then taken (back) in the background as soon as etcd
   * answers, and `onRenewed` listeners publish (`id` is '' until then).
   */
  static async acquire(
    store: EtcdStore,
    options: HostLeaseOptions & { tolerant?: boolean },
  ): Promise<HostLease> {
    const lease = new HostLease(store, '', options);
    try {
      lease.id = await lease.takeBack();
      lease.save();
    } catch (err) {
      if (!options.tolerant || !(err instanceof StoreUnavailableError)) throw err;
      options.onError?.(err);
    }
    lease.schedule();
    return lease;
  }

  /** The ID kept in the state file if etcd still has that lease, else a new lease. */
  private async takeBack(): Promise<string> {
    let id: string | undefined;
    try {
      id = readFileSync(this.options.stateFile, 'utf8').trim();
    } catch {
      id = undefined;
    }
    if (id !== undefined && !/^[1-9][0-9]{0,19}$/.test(id)) id = undefined;
    if (id !== undefined && (await this.store.leaseKeepAlive(id)) === 0) id = undefined;
    return id ?? (await this.store.leaseGrant(this.options.ttl));
  }

  /** Runs `fn` (publish again) whenever the lease had to be replaced. */
  onRenewed(fn: () => Promise<void>): void {
    this.renewed.push(fn);
  }

  private save(): void {
    const tmp = `${this.options.stateFile}.tmp`;
    writeFileSync(tmp, `${this.id}\n`, { mode: 0o600 });
    renameSync(tmp, this.options.stateFile);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.tick(), Math.max(200, (this.options.ttl * 1000) / 3));
  }

  private async tick(): Promise<void> {
    try {
      if (this.id === '') {
        // etcd did not answer at start: take the lease (back) now, then publish.
        this.id = await this.takeBack();
        this.save();
        for (const fn of this.renewed) await fn();
        return;
      }
      const ttl = await this.store.leaseKeepAlive(this.id);
      if (ttl === 0 && !this.closed) {
        this.id = await this.store.leaseGrant(this.options.ttl);
        this.save();
        for (const fn of this.renewed) await fn();
      }
      this.lastAlive = Date.now();
    } catch (err) {
      if (!this.closed) this.options.onError?.(err as Error);
    } finally {
      this.schedule();
    }
  }

  /** Stops keeping the lease alive; with `revoke`, ends it now (this host leaves the cluster). */
  async close(options: { revoke?: boolean } = {}): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (options.revoke && this.id !== '') await this.store.leaseRevoke(this.id);
  }
}
