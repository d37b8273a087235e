/**
 * Global networks (drivers with `clusterScoped`, i.e. overlay): the same ID, name, options and
 * IPAM on every host of the cluster. The host that creates one publishes its record in the
 * cluster store; every host follows the records (list at a revision, watch from the next) and
 * makes the ones it lacks (driver.restoreNetwork with the record's driver data: the VNI), and
 * removes its copy when the record goes. Local copies are persisted like any network, so a
 * restart restores them; the first listing after start removes those the cluster no longer has.
 */
import type { Cluster, TableMirror } from '../cluster/index.ts';
import { restoredTime } from '../timestamp.ts';
import type { NetworkController } from './controller.ts';
import { Network } from './network.ts';
import { del, keys, type NetworkRecord, put } from './persist.ts';

const PREFIX = 'networks/';

export class GlobalNetworks {
  private mirror: TableMirror | undefined;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  /** Problems met while following the records (for the log and tests). */
  readonly problems: string[] = [];

  private constructor(
    private readonly ctl: NetworkController,
    private readonly cluster: Cluster,
    private readonly onError: (err: Error) => void,
  ) {}

  /**
   * Starts following; when etcd does not answer now, keeps trying every second in the background
   * (local networks work meanwhile).
   */
  static async start(
    ctl: NetworkController,
    cluster: Cluster,
    onError: (err: Error) => void = () => {},
  ): Promise<GlobalNetworks> {
    const g = new GlobalNetworks(ctl, cluster, onError);
    await g.follow().catch((err: unknown) => g.later(err));
    return g;
  }

  private later(err: unknown): void {
    this.report('following global networks', err);
    if (this.closed) return;
    this.retry = setTimeout(() => {
      void this.follow().catch((e: unknown) => this.later(e));
    }, 1000);
  }

  private async follow(): Promise<void> {
    this.mirror = await this.cluster.watchNetworks(
      {
        put: (_key, value) => this.enqueue(() => this.adopt(value as NetworkRecord)),
        delete: (key) => this.enqueue(() => this.remove(key.slice(PREFIX.length))),
      },
      { onError: (e) => this.onError(e) },
    );
    const listed = new Set([...this.mirror.snapshot().keys()].map((k) => k.slice(PREFIX.length)));
    this.enqueue(async () => {
      for (const n of this.ctl.networks()) {
        if (n.driver.clusterScoped && !listed.has(n.id)) await this.remove(n.id);
      }
    });
    await this.queue;
  }

  private enqueue(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((err: unknown) => this.report('a global network', err));
  }

  /** Waits until every record seen so far has been applied. */
  settled(): Promise<void> {
    return this.queue;
  }

  private report(what: string, err: unknown): void {
    this.problems.push(`${what}: ${String(err)}`);
    this.onError(err instanceof Error ? err : new Error(String(err)));
  }

  /** Makes this host's copy of a global network another host created (or this one, before). */
  private async adopt(rec: NetworkRecord): Promise<void> {
    const ctl = this.ctl;
    if (this.closed || ctl.networkByID(rec.id)) return;
    await ctl.locks.run(`netname:${rec.name}`, async () => {
      if (ctl.networkByID(rec.id)) return;
      if (ctl.networkByName(rec.name)) {
        throw new Error(`global network ${rec.name} (${rec.id}) not made here: a local network has its name`);
      }
      const driver = await ctl.drivers.networkDriver(rec.type);
      const ipam = driver.skipsIpam ? undefined : await ctl.drivers.ipamDriver(rec.opts.ipamDriver);
      const n = new Network(ctl, driver, ipam, rec.id, rec.name, rec.type, rec.opts, rec.pools);
      n.createdAt = restoredTime(rec.created);
      n.driverData = { ...(rec.driverData ?? {}) };
      await ctl.persist.commit([put(keys.network(n.id), n.record('ready'))]);
      try {
        await driver.restoreNetwork?.(n.createRequest(), n.driverData);
      } catch (err) {
        // Not made here: no local record either (tried again at the next start or record change).
        await ctl.persist.commit([del(keys.network(n.id))]);
        throw err;
      }
      ctl.adopt(n);
    });
  }

  /** Removes this host's copy of a network the cluster no longer has (its pools are not ours to release). */
  private async remove(id: string): Promise<void> {
    const n = this.ctl.networkByID(id);
    if (!n || !n.driver.clusterScoped) return;
    await n.delete({ localOnly: true });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.mirror?.close();
    await this.queue;
  }
}
