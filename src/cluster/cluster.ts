/**
 * Global scope on etcd: this host's registration (its VTEP address under a lease), the global
 * network records, the endpoint tables per network (who is where: host, VTEP, MAC, IP) and the
 * VXLAN network identifiers. Drivers (overlay) and the core use it; it knows nothing of kernels.
 *
 * Keys (under the etcd prefix, `dnet/` by default):
 *   hosts/<host id>                    { hostId, vtep, vxlanPort }       attached to the host's lease
 *   networks/<network id>              the network's record (the core's)
 *   netnames/<name>                    { id }                            names are unique cluster-wide
 *   endpoints/<network id>/<ep id>     PeerEndpoint                      attached to its host's lease
 *   vni/<vni>                          { network }
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetworkNameError } from '../errors/cnm.ts';
import { type AddressValue, addressKey } from '../ipam/global.ts';
import { KeyExistsError, StoreUnavailableError, VersionMismatchError } from '../store/errors.ts';
import type { EtcdStore } from '../store/etcd.ts';
import { AddressClaimedError, VniExhaustedError } from './errors.ts';
import { HostLease } from './lease.ts';
import { type MirrorHandler, type MirrorOptions, TableMirror } from './mirror.ts';

/** One endpoint as every host sees it: enough to program an FDB and a neighbour entry. */
export interface PeerEndpoint {
  hostId: string;
  /** The VTEP of its host (underlay IPv4). */
  vtep: string;
  mac: string;
  /** IPv4 of the endpoint (plain). */
  ip?: string;
  ipv6?: string;
  /** The endpoint's DNS names (container name, aliases...): other hosts' resolvers answer them. */
  dnsNames?: string[];
  /** The name a PTR query for its addresses answers (without the network suffix). */
  ptrName?: string;
}

/** The DNS part of a published endpoint. */
export type PeerEndpointNames = Pick<PeerEndpoint, 'dnsNames' | 'ptrName'>;

export interface ClusterOptions {
  store: EtcdStore;
  /** This host's VTEP address: the underlay IPv4 other hosts reach it at. */
  advertise: string;
  /** Where the host ID and lease ID are kept (the daemon's data directory). */
  stateDir: string;
  /** UDP port of VXLAN. Default 4789 (IANA). */
  vxlanPort?: number;
  /** Seconds a host's entries outlive its last keep-alive. Default 10. */
  leaseTtl?: number;
  /**
   * Join even when etcd does not answer now (the daemon starts, local networks work): the lease
   * is taken and this host registered in the background once etcd answers.
   */
  tolerant?: boolean;
  onError?: (err: Error) => void;
}

export const DEFAULT_VXLAN_PORT = 4789;
export const DEFAULT_LEASE_TTL = 10;
/** VNIs handed out to networks (Docker's overlay starts at 4096 too). */
export const VNI_FIRST = 4096;
export const VNI_LAST = 16_777_215;
/** How often publishing an endpoint re-reads its address key after another writer changed it. */
const MAX_CLAIM_RACES = 8;

function hostIdOf(stateDir: string): string {
  const file = join(stateDir, 'cluster-host-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{16}$/.test(id)) return id;
  } catch {
    // first start
  }
  const id = randomBytes(8).toString('hex');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}

/** An endpoint this host published, and the key of its address in the global IPAM, if any. */
interface Published {
  ep: PeerEndpoint;
  claim?: string;
}

export class Cluster {
  /** Endpoints this host published, re-published when the lease had to be replaced. */
  private readonly published = new Map<string, Published>();
  /** DNS names of this host's endpoints, by key: part of every publication of the endpoint. */
  private readonly names = new Map<string, PeerEndpointNames>();

  private constructor(
    readonly store: EtcdStore,
    readonly hostId: string,
    readonly vtep: string,
    readonly vxlanPort: number,
    readonly lease: HostLease,
    private readonly onError: ((err: Error) => void) | undefined,
  ) {}

  /** Registers this host (taking back its lease of the last run if etcd still has it). */
  static async join(options: ClusterOptions): Promise<Cluster> {
    const hostId = hostIdOf(options.stateDir);
    const lease = await HostLease.acquire(options.store, {
      ttl: options.leaseTtl ?? DEFAULT_LEASE_TTL,
      stateFile: join(options.stateDir, 'cluster-lease'),
      ...(options.onError ? { onError: options.onError } : {}),
      ...(options.tolerant ? { tolerant: true } : {}),
    });
    const c = new Cluster(
      options.store,
      hostId,
      options.advertise,
      options.vxlanPort ?? DEFAULT_VXLAN_PORT,
      lease,
      options.onError,
    );
    lease.onRenewed(() => c.republish());
    if (lease.id !== '') await c.register(); // else: registered when the lease is taken
    return c;
  }

  private register(): Promise<unknown> {
    const value = { hostId: this.hostId, vtep: this.vtep, vxlanPort: this.vxlanPort };
    return this.store.putWithLease(`hosts/${this.hostId}`, value, this.lease.id);
  }

  private async republish(): Promise<void> {
    if (this.lease.id === '') return; // published when the lease is taken
    await this.register();
    for (const [key, p] of this.published) {
      try {
        await this.put(key, p);
      } catch (err) {
        if (!(err instanceof AddressClaimedError)) throw err;
        this.onError?.(err); // its address is another host's now: not published again
        this.published.delete(key);
      }
    }
  }

  /** Hosts registered now (their lease alive). */
  async hosts(): Promise<{ hostId: string; vtep: string }[]> {
    return (await this.store.list('hosts/')).map((e) => e.value as { hostId: string; vtep: string });
  }

  // --- networks ------------------------------------------------------------------------------

  /** Publishes a global network; NetworkNameError when another host has one by that name. */
  async publishNetwork(id: string, name: string, record: unknown): Promise<void> {
    try {
      await this.store.transaction([
        { type: 'create', key: `netnames/${name}`, value: { id } },
        { type: 'create', key: `networks/${id}`, value: record },
      ]);
    } catch (err) {
      if (err instanceof KeyExistsError) throw new NetworkNameError(name);
      throw err;
    }
  }

  /** Removes a global network's record, its name and its VNI. */
  async unpublishNetwork(id: string, name: string): Promise<void> {
    const vnis = (await this.store.list('vni/')).filter(
      (e) => (e.value as { network?: string }).network === id,
    );
    await this.store.transaction([
      { type: 'delete', key: `networks/${id}` },
      { type: 'delete', key: `netnames/${name}` },
      ...vnis.map((e) => ({ type: 'delete' as const, key: e.key })),
    ]);
  }

  /**
   * Releases what a network creation that failed before its record was published took in the
   * cluster (its VNI); never touches a name (another host may own it).
   */
  async abandonNetwork(id: string): Promise<void> {
    const vnis = (await this.store.list('vni/')).filter(
      (e) => (e.value as { network?: string }).network === id,
    );
    for (const e of vnis) await this.store.delete(e.key);
  }

  /** Follows the global network records (key `networks/<id>`). */
  watchNetworks(handler: MirrorHandler, options: MirrorOptions = {}): Promise<TableMirror> {
    return TableMirror.start(this.store, 'networks/', handler, this.mirrorOptions(options));
  }

  // --- endpoints -----------------------------------------------------------------------------

  /**
   * Publishes an endpoint of this host (attached to the host's lease). With `subnet` (its global
   * IPAM pool), its address key is attached to the lease in the same transaction: a host gone for
   * good has its addresses released by etcd with its endpoints.
   */
  async publishEndpoint(
    networkId: string,
    endpointId: string,
    ep: Omit<PeerEndpoint, 'hostId' | 'vtep'>,
    subnet?: string,
  ) {
    const key = `endpoints/${networkId}/${endpointId}`;
    const p = this.publication(key, ep, subnet);
    if (this.lease.id === '') {
      throw new StoreUnavailableError(
        'etcd',
        `publish ${key}`,
        'etcd has not answered since this host started',
      );
    }
    await this.put(key, p);
    this.published.set(key, p);
  }

  private publication(
    key: string,
    ep: Omit<PeerEndpoint, 'hostId' | 'vtep'>,
    subnet: string | undefined,
  ): Published {
    const value: PeerEndpoint = { ...ep, ...this.names.get(key), hostId: this.hostId, vtep: this.vtep };
    return subnet !== undefined && ep.ip !== undefined
      ? { ep: value, claim: addressKey(subnet, ep.ip) }
      : { ep: value };
  }

  /**
   * Writes a publication under the lease: the endpoint, and its address key made again if it
   * went (the lease that held it expired); AddressClaimedError when another host holds it now.
   */
  private async put(key: string, p: Published): Promise<void> {
    const claim = p.claim;
    if (claim === undefined) {
      await this.store.putWithLease(key, p.ep, this.lease.id);
      return;
    }
    for (let race = 0; ; race++) {
      const have = await this.store.get(claim);
      const owner = (have?.value as AddressValue | undefined)?.host;
      if (owner !== undefined && owner !== this.hostId) throw new AddressClaimedError(claim, owner);
      const value: AddressValue = { host: this.hostId };
      try {
        await this.store.transactionWithLease(
          [
            { type: 'put', key, value: p.ep },
            have
              ? { type: 'put', key: claim, value, ifVersion: have.version }
              : { type: 'create', key: claim, value },
          ],
          this.lease.id,
        );
        return;
      } catch (err) {
        const raced = err instanceof KeyExistsError || err instanceof VersionMismatchError;
        if (!raced || race >= MAX_CLAIM_RACES) throw err;
      }
    }
  }

  /**
   * Publishes an endpoint that exists already (a restart): if etcd does not answer now, it is
   * published in the background as soon as it does (retried every second).
   */
  async republishEndpoint(
    networkId: string,
    endpointId: string,
    ep: Omit<PeerEndpoint, 'hostId' | 'vtep'>,
    subnet?: string,
  ) {
    try {
      const key = `endpoints/${networkId}/${endpointId}`;
      await this.keepNames(key);
      await this.publishEndpoint(networkId, endpointId, ep, subnet);
    } catch (err) {
      this.onError?.(err as Error);
      if (err instanceof AddressClaimedError) return; // its address is another host's now
      const key = `endpoints/${networkId}/${endpointId}`;
      this.published.set(key, this.publication(key, ep, subnet));
      this.retryPublish();
    }
  }

  /**
   * A restart: the DNS names this host's endpoint was published with stay in its publication
   * (other hosts keep answering them) until they are set again (setEndpointNames).
   */
  private async keepNames(key: string): Promise<void> {
    if (this.names.has(key)) return;
    const v = (await this.store.get(key))?.value as PeerEndpoint | undefined;
    if (v?.hostId !== this.hostId || !Array.isArray(v.dnsNames)) return;
    this.names.set(key, { dnsNames: v.dnsNames, ...(v.ptrName !== undefined ? { ptrName: v.ptrName } : {}) });
  }

  private retryTimer: NodeJS.Timeout | undefined;

  private retryPublish(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.republish().catch((err: unknown) => {
        this.onError?.(err as Error);
        this.retryPublish();
      });
    }, 1000);
  }

  async unpublishEndpoint(networkId: string, endpointId: string): Promise<void> {
    const key = `endpoints/${networkId}/${endpointId}`;
    await this.store.delete(key);
    this.published.delete(key);
    this.names.delete(key);
  }

  /**
   * The DNS names of an endpoint of this host: published with it from now on (now, if the
   * endpoint is published already; else with its publication, whichever comes first).
   */
  async setEndpointNames(networkId: string, endpointId: string, names: PeerEndpointNames): Promise<void> {
    const key = `endpoints/${networkId}/${endpointId}`;
    this.names.set(key, names);
    const cur = this.published.get(key);
    if (!cur || this.lease.id === '') return;
    const p: Published = { ...cur, ep: { ...cur.ep, ...names } };
    await this.store.putWithLease(key, p.ep, this.lease.id); // its address key is held already
    this.published.set(key, p);
  }

  /** The endpoints of a network on every host. */
  async endpoints(networkId: string): Promise<PeerEndpoint[]> {
    return (await this.store.list(`endpoints/${networkId}/`)).map((e) => e.value as PeerEndpoint);
  }

  /**
   * Follows a network's endpoint table (keys `endpoints/<network id>/<endpoint id>`). With
   * `background`, it never fails: if etcd does not answer now, it keeps trying (a restart while
   * etcd is down keeps the kernel's entries as they are until etcd answers).
   */
  async watchEndpoints(
    networkId: string,
    handler: MirrorHandler,
    options: MirrorOptions & { background?: boolean } = {},
  ): Promise<TableMirror> {
    const { background, ...rest } = options;
    const prefix = `endpoints/${networkId}/`;
    if (background) return TableMirror.follow(this.store, prefix, handler, this.mirrorOptions(rest));
    return TableMirror.start(this.store, prefix, handler, this.mirrorOptions(rest));
  }

  // --- VNIs ----------------------------------------------------------------------------------

  /** The lowest free VNI, taken for `networkId` with one `create` (retried when another host won). */
  async allocateVni(networkId: string): Promise<number> {
    for (;;) {
      const used = new Set((await this.store.list('vni/')).map((e) => Number(e.key.slice(4))));
      let vni = VNI_FIRST;
      while (used.has(vni)) vni++;
      if (vni > VNI_LAST) throw new VniExhaustedError(VNI_FIRST, VNI_LAST);
      try {
        await this.store.create(`vni/${vni}`, { network: networkId });
        return vni;
      } catch (err) {
        if (!(err instanceof KeyExistsError)) throw err;
      }
    }
  }

  async releaseVni(vni: number): Promise<void> {
    await this.store.delete(`vni/${vni}`);
  }

  private mirrorOptions(options: MirrorOptions): MirrorOptions {
    const onError = options.onError ?? this.onError;
    return { ...options, ...(onError ? { onError } : {}) };
  }

  /**
   * Stops keeping the lease alive (its entries stay until the TTL, so a restart causes no gap);
   * with `leave`, revokes it: this host's endpoints vanish everywhere now.
   */
  async close(options: { leave?: boolean } = {}): Promise<void> {
    clearTimeout(this.retryTimer);
    await this.lease.close({ revoke: options.leave === true });
  }
}
