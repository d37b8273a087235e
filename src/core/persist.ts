/**
 * What the core keeps in the store, and how. One record per network, endpoint and sandbox,
 * written before the call that changed it returns. Operations that touch the kernel in several
 * steps write an intent first (`state: 'creating'`, a join in state `'joining'`...), so that after
 * a crash the next start knows what was half done and rolls it back (see controller.restore).
 *
 * IPAM and host-port allocations are not stored apart: they are replayed from these records at
 * start (networks' pools, gateways and auxiliary addresses; endpoints' addresses; joined endpoints'
 * published ports), so the store holds one truth and nothing can be handed out twice.
 */
import type { PortMapping } from '../driver-api/driver.ts';
import type { KvStore } from '../store/types.ts';
import type { EndpointCreateOptions, JoinOptions, NormalisedNetworkOptions, PoolInfo } from './types.ts';

const PREFIX = 'dnet';

export interface NetworkRecord {
  id: string;
  name: string;
  type: string;
  created: string;
  state: 'creating' | 'ready' | 'deleting';
  opts: NormalisedNetworkOptions;
  pools: PoolInfo[];
  driverData?: Record<string, string>;
}

export interface JoinRecord {
  containerId: string;
  state: 'joining' | 'joined' | 'leaving';
  ifName?: string;
  srcName?: string;
  inSandbox?: boolean;
  gateway?: string;
  gatewayIPv6?: string;
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
};

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

  async load(): Promise<{
    networks: NetworkRecord[];
    endpoints: EndpointRecord[];
    sandboxes: SandboxRecord[];
  }> {
    if (!this.store) return { networks: [], endpoints: [], sandboxes: [] };
    const [n, e, s] = await Promise.all([
      this.store.list(`${PREFIX}/networks`),
      this.store.list(`${PREFIX}/endpoints`),
      this.store.list(`${PREFIX}/sandboxes`),
    ]);
    return {
      networks: n.map((x) => x.value as NetworkRecord),
      endpoints: e.map((x) => x.value as EndpointRecord),
      sandboxes: s.map((x) => x.value as SandboxRecord),
    };
  }
}
