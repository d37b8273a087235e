/**
 * What the core keeps in the store, and how. One record per network, endpoint and sandbox,
 * written before the call that changed it returns. Operations that touch the kernel in several
 * steps commit an intent first (`state: 'creating'`, a join in state `'joining'`...) and their
 * result last, each as one store transaction over every record the operation changes, so that
 * after a crash the next start knows what was half done and rolls all of it back, or finishes it
 * (see restore.ts): a connect (endpoint + join, sandbox made on first join) is one operation, a
 * disconnect (leave + delete) another.
 *
 * IPAM and host-port allocations are not stored apart: they are replayed from these records at
 * start (networks' pools, gateways and auxiliary addresses; endpoints' addresses; joined endpoints'
 * published ports), so the store holds one truth and nothing can be handed out twice.
 */
import type { PortMapping } from '../driver-api/driver.ts';
import type { KvOp, KvStore } from '../store/types.ts';
import type { ReclaimRecord } from './reclaim.ts';
import type { EndpointCreateOptions, JoinOptions, NormalisedNetworkOptions, PoolInfo } from './types.ts';

const PREFIX = 'dnet';

export interface NetworkRecord {
  id: string;
  name: string;
  type: string;
  /** RFC 3339 (with nanoseconds; milliseconds in records of older versions). */
  created: string;
  state: 'creating' | 'ready' | 'deleting';
  opts: NormalisedNetworkOptions;
  pools: PoolInfo[];
  driverData?: Record<string, string>;
}

export interface JoinRecord {
  containerId: string;
  state: 'joining' | 'joined' | 'leaving';
  /**
   * The join's place in the controller's join order: restore re-attaches a sandbox's endpoints in
   * this order, so interface names and the default route (the first endpoint in join order that
   * has a gateway gives it) come back as they were. Absent in records of older versions.
   */
  seq?: number;
  ifName?: string;
  srcName?: string;
  inSandbox?: boolean;
  gateway?: string;
  gatewayIPv6?: string;
  /** The driver asked for the gateway service (core/gateway.ts). Absent: it did not. */
  gatewayService?: true;
  routes: { destination: string; nextHop?: string }[];
  portMappings: PortMapping[];
}

export interface EndpointRecord {
  id: string;
  name: string;
  networkId: string;
  state: 'creating' | 'ready' | 'deleting';
  iface: { address?: string; addressIPv6?: string; macAddress?: string };
  poolV4?: string;
  poolV6?: string;
  options: EndpointCreateOptions;
  join?: JoinRecord;
}

export interface SandboxRecord {
  id: string;
  containerId: string;
  /**
   * `deleting`: a removal was under way (its endpoints leave, and go too with `deleteEndpoints`);
   * restore finishes it. Absent: the sandbox exists.
   */
  state?: 'deleting';
  deleteEndpoints?: boolean;
  /** The container's name, if its creator gave one (the daemon's container names). */
  name?: string;
  /** RFC 3339 (with nanoseconds since 0.x; milliseconds before), when the sandbox was made. */
  created?: string;
  key: string;
  isHost: boolean;
  explicit: boolean;
  options: JoinOptions;
  hostsPath: string;
  resolvConfPath: string;
  /** The namespace at `key` is someone else's (attached by path); inode tells it from a later one. */
  externalNetns?: { inode: number };
}

export const keys = {
  network: (id: string) => `${PREFIX}/networks/${id}`,
  endpoint: (networkId: string, id: string) => `${PREFIX}/endpoints/${networkId}/${id}`,
  sandbox: (containerId: string) => `${PREFIX}/sandboxes/${encodeURIComponent(containerId)}`,
  app: (name: string) => `${PREFIX}/app/${name}`,
  /** Kernel objects being removed in the background (reclaim.ts). */
  reclaim: (id: string) => `${PREFIX}/reclaim/${id}`,
};

/** One change of a commit: a put, or a delete when `value` is undefined. */
export interface Change {
  key: string;
  value?: unknown;
}

export const put = (key: string, value: unknown): Change => ({ key, value });
export const del = (key: string): Change => ({ key });

/** The store as the core uses it; without a store every write is a no-op (a library user's choice). */
export class Persister {
  constructor(readonly store: KvStore | undefined) {}

  get enabled(): boolean {
    return this.store !== undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    if (this.store) await this.store.put(key, value);
  }

  async delete(key: string): Promise<void> {
    if (this.store) await this.store.delete(key);
  }

  /**
   * Writes every change of one operation in one durable transaction: all of them or none. A key
   * given twice keeps its last change. `durable: false` is for `intent`.
   */
  async commit(changes: readonly Change[], options: { durable?: boolean } = {}): Promise<void> {
    if (!this.store || changes.length === 0) return;
    const last = new Map<string, KvOp>();
    for (const c of changes) {
      last.delete(c.key);
      last.set(
        c.key,
        c.value === undefined ? { type: 'delete', key: c.key } : { type: 'put', key: c.key, value: c.value },
      );
    }
    await this.store.transaction([...last.values()], { durable: options.durable !== false });
  }

  /**
   * An operation's intent, committed before its kernel work: one transaction, kept if the process
   * dies (kill -9) but not flushed to disk before it resolves. The operation's result commit, which
   * is durable, flushes it with it: one flush per operation. A machine crash may lose an intent
   * whose result was not committed yet, and with it the operation's kernel work: namespaces,
   * links, firewall elements and the files under the run directory do not survive a reboot either.
   */
  intent(changes: readonly Change[]): Promise<void> {
    return this.commit(changes, { durable: false });
  }

  async load(): Promise<{
    networks: NetworkRecord[];
    endpoints: EndpointRecord[];
    sandboxes: SandboxRecord[];
    reclaims: ReclaimRecord[];
  }> {
    if (!this.store) return { networks: [], endpoints: [], sandboxes: [], reclaims: [] };
    const [n, e, s, r] = await Promise.all([
      this.store.list(`${PREFIX}/networks`),
      this.store.list(`${PREFIX}/endpoints`),
      this.store.list(`${PREFIX}/sandboxes`),
      this.store.list(`${PREFIX}/reclaim/`),
    ]);
    return {
      networks: n.map((x) => x.value as NetworkRecord),
      endpoints: e.map((x) => x.value as EndpointRecord),
      sandboxes: s.map((x) => x.value as SandboxRecord),
      reclaims: r.map((x) => x.value as ReclaimRecord),
    };
  }
}
