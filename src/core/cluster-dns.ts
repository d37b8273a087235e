/**
 * Names across hosts on global networks (overlay, with a cluster store): the DNS names of an
 * endpoint joined here are published with its entry of the network's endpoint table
 * (`endpoints/<network id>/<endpoint id>` in etcd, which the overlay driver publishes), and while
 * a sandbox here is on the network, the table is followed and the other hosts' endpoints'
 * names are fed to the embedded resolver, on that network only (the same scoping as local names).
 */
import type { Cluster, MirrorHandler, PeerEndpoint, TableMirror } from '../cluster/index.ts';
import type { Resolver } from '../dns/resolver/resolver.ts';
import { hostnameViolation } from '../dns/validate.ts';
import { parseIp } from '../ip/index.ts';
import type { Endpoint } from './endpoint.ts';
import type { Network } from './network.ts';
import type { Sandbox } from './sandbox.ts';
import { nameRecord } from './sandbox-dns.ts';

interface Follow {
  /** Endpoints joined here on the network (the table is followed while there is one). */
  users: Set<string>;
  /** Keys of the other hosts' endpoints whose names are in the resolver. */
  keys: Set<string>;
  started: Promise<TableMirror | undefined>;
}

/** An address from the table, if it is one of that family. */
function address(s: unknown, family: 4 | 6): string | undefined {
  if (typeof s !== 'string') return undefined;
  const ip = parseIp(s);
  return typeof ip !== 'string' && ip.family === family ? ip.text : undefined;
}

export class ClusterDns {
  private readonly follows = new Map<string, Follow>();
  private closed = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly resolver: Resolver,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  /**
   * Endpoint `ep` joined sandbox `sb`: on a global network whose names the resolver serves there,
   * its names are published, and the other hosts' names on the network answer (the first join
   * here waits for the table's first listing, unless etcd does not answer: then they come when it
   * does). `background`: never wait for etcd's listing (a restore, which must not stall on etcd).
   */
  async joined(sb: Sandbox, ep: Endpoint, opts: { background?: boolean } = {}): Promise<void> {
    const n = ep.network;
    if (this.closed || n.driver.clusterScoped !== true || !this.resolver.serves(sb.id)) return;
    const rec = nameRecord(sb, ep);
    await this.cluster.setEndpointNames(n.id, ep.id, {
      dnsNames: [...rec.names],
      ...(rec.ptrName !== undefined ? { ptrName: rec.ptrName } : {}),
    });
    let f = this.follows.get(n.id);
    if (!f) {
      const fresh: Follow = { users: new Set(), keys: new Set(), started: Promise.resolve(undefined) };
      fresh.started = this.start(n, fresh, opts.background === true);
      this.follows.set(n.id, fresh);
      f = fresh;
    }
    f.users.add(ep.id);
    await f.started;
    await this.resolver.settled();
  }

  /** Endpoint `ep` left: after the last one here, the network's table is not followed any more. */
  async left(ep: Endpoint): Promise<void> {
    const n = ep.network;
    const f = this.follows.get(n.id);
    if (!f?.users.delete(ep.id) || f.users.size > 0) return;
    this.follows.delete(n.id);
    await this.stop(n.id, f);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.follows];
    this.follows.clear();
    for (const [id, f] of all) await this.stop(id, f);
  }

  private async stop(networkId: string, f: Follow): Promise<void> {
    const m = await f.started;
    await m?.close().catch((err: unknown) => this.onError(err as Error));
    for (const k of f.keys) this.resolver.names.remove(networkId, k);
    f.keys.clear();
  }

  private async start(n: Network, f: Follow, background: boolean): Promise<TableMirror | undefined> {
    const handler: MirrorHandler = {
      put: (key, value) => this.put(n, f, key, value as PeerEndpoint),
      delete: (key) => {
        if (f.keys.delete(key)) this.resolver.names.remove(n.id, key);
      },
    };
    const opts = { onError: this.onError };
    if (background) return this.cluster.watchEndpoints(n.id, handler, { ...opts, background: true });
    try {
      return await this.cluster.watchEndpoints(n.id, handler, opts);
    } catch (err) {
      this.onError(err as Error);
      return this.cluster.watchEndpoints(n.id, handler, { ...opts, background: true });
    }
  }

  /** An entry of the table: another host's endpoint's names (validated) answer on the network. */
  private put(n: Network, f: Follow, key: string, ep: PeerEndpoint): void {
    if (this.follows.get(n.id) !== f || ep.hostId === this.cluster.hostId) return;
    const names = (Array.isArray(ep.dnsNames) ? ep.dnsNames : []).filter(
      (s): s is string =>
        typeof s === 'string' && hostnameViolation(s, { allowUnderscore: true }) === undefined,
    );
    const [ipv4, ipv6] = [address(ep.ip, 4), address(ep.ipv6, 6)];
    if (names.length === 0 || (!ipv4 && !ipv6)) {
      if (f.keys.delete(key)) this.resolver.names.remove(n.id, key);
      return;
    }
    const ptr = typeof ep.ptrName === 'string' && names.includes(ep.ptrName) ? ep.ptrName : names[0];
    this.resolver.names.add(n.id, n.name, key, {
      names,
      ...(ipv4 ? { ipv4 } : {}),
      ...(ipv6 ? { ipv6 } : {}),
      ...(ptr !== undefined ? { ptrName: ptr } : {}),
    });
    f.keys.add(key);
  }
}
