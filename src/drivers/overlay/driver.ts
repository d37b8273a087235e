/**
 * The overlay driver (scope global): networks that span hosts, on VXLAN. Per network, in the
 * host's namespace: a bridge `ov-<id>` and a VXLAN device `vx-<id>` (the network's VNI, UDP port
 * 4789 unless configured, local address = this host's VTEP, learning off, ARP answered from its
 * neighbour table) attached to it. Containers join the bridge with a veth pair; remote endpoints
 * are programmed statically from the cluster's endpoint table (peers.ts). MTU: the underlay's
 * minus 50 (VXLAN over IPv4), unless `com.docker.network.driver.mtu` says otherwise. Containers
 * reach the outside through the core's gateway service (a second interface on `dnet_gwbridge`,
 * core/gateway.ts), which the driver asks for unless the network is internal.
 *
 * Without a cluster (no --cluster-store) every network operation is refused with
 * ClusterStoreRequiredError.
 */
import { closeSync } from 'node:fs';
import type { Cluster, PeerEndpoint, TableMirror } from '../../cluster/index.ts';
import { ClusterStoreRequiredError } from '../../cluster/index.ts';
import type {
  CreateEndpointRequest,
  CreateEndpointResult,
  CreateNetworkRequest,
  DriverCapability,
  EndpointOperInfo,
  JoinInfo,
  JoinRequest,
  NetworkDriver,
} from '../../driver-api/driver.ts';
import { GLOBAL_ADDRESS_SPACE } from '../../driver-api/ipam.ts';
import { DnetError } from '../../errors/base.ts';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { cidrContains, plain } from '../../ip/index.ts';
import { randomMac } from '../../ip/mac.ts';
import { deletionWorker } from '../../os/kernel-worker/index.ts';
import type { NetlinkHandle } from '../../os/netlink/index.ts';
import { openNetns } from '../../os/netns/index.ts';
import { hostNetlink } from '../../os/sandbox.ts';
import { applyTxChecksum, txChecksumOffload } from './offload.ts';
import { PeerTable } from './peers.ts';

export const OVERLAY = 'overlay';
const OPT_MTU = 'com.docker.network.driver.mtu';
/** VXLAN over IPv4: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;
/** The mark on every link the driver makes (IFLA_IFALIAS): only those are ever removed. */
export const OVERLAY_MARK = 'dnet-ov:';

/** The driver was asked about a network or endpoint it does not have. */
export class OverlayStateError extends DnetError {
  readonly code = 'ERR_OVERLAY_UNKNOWN_OBJECT';
  readonly kind = 'not-found';
}

interface OverlayEndpoint {
  id: string;
  mac: string;
  ip?: string;
  /** The global IPAM pool of its address: the address key goes with this host's lease. */
  subnet?: string;
  hostVeth: string;
  joined: boolean;
}

interface OverlayNetwork {
  id: string;
  vni: number;
  mtu: number;
  /** No way out: its containers get no gateway endpoint (the core's gateway service). */
  internal: boolean;
  /** Its IPv4 pools in the global IPAM (address space GlobalDefault). */
  globalPools: string[];
  bridge: string;
  vxlan: string;
  peers: PeerTable;
  mirror?: TableMirror;
  endpoints: Map<string, OverlayEndpoint>;
}

export class OverlayDriver implements NetworkDriver {
  readonly type = OVERLAY;
  readonly clusterScoped = true;
  private readonly networks = new Map<string, OverlayNetwork>();
  private nlHandle: NetlinkHandle | undefined;

  constructor(private readonly cluster: Cluster | undefined) {}

  capabilities(): DriverCapability {
    return { dataScope: 'global', connectivityScope: 'global' };
  }

  private get nl(): NetlinkHandle {
    this.nlHandle ??= hostNetlink();
    return this.nlHandle;
  }

  private need(): Cluster {
    if (!this.cluster) throw new ClusterStoreRequiredError(OVERLAY);
    return this.cluster;
  }

  private net(id: string): OverlayNetwork {
    const n = this.networks.get(id);
    if (!n) throw new OverlayStateError(`the overlay driver has no network ${id}`);
    return n;
  }

  private ep(networkId: string, endpointId: string): OverlayEndpoint {
    const e = this.net(networkId).endpoints.get(endpointId);
    if (!e) throw new OverlayStateError(`the overlay driver has no endpoint ${endpointId}`);
    return e;
  }

  /** The MTU of the link that holds the VTEP address, minus the VXLAN overhead. */
  private defaultMtu(vtep: string): number {
    const a = this.nl.addrList(undefined, 4).find((x) => plain(x.cidr) === vtep);
    const l = a === undefined ? undefined : this.nl.linkGet(a.index);
    return (l?.mtu ?? 1500) - VXLAN_OVERHEAD;
  }

  private mtuOf(req: CreateNetworkRequest, vtep: string): number {
    const raw = req.options.generic[OPT_MTU];
    if (raw === undefined || raw === '' || raw === '0') return this.defaultMtu(vtep);
    const mtu = Number(raw);
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new InvalidOptionError(OPT_MTU, raw, 'expected an MTU from 68 to 65535');
    }
    return mtu;
  }

  async createNetwork(req: CreateNetworkRequest): Promise<{ data: Record<string, string> }> {
    const cluster = this.need();
    const vni = await cluster.allocateVni(req.networkId);
    try {
      const mtu = this.mtuOf(req, cluster.vtep);
      txChecksumOffload(req.options.generic); // validated before anything is made
      await this.setUp(req, vni, mtu, false);
      return { data: { vni: String(vni), mtu: String(mtu) } };
    } catch (err) {
      await cluster.releaseVni(vni).catch(() => undefined); // best effort: the error that matters is err
      throw err;
    }
  }

  /** The network exists in the cluster (made here before a restart, or on another host). */
  async restoreNetwork(req: CreateNetworkRequest, data: Record<string, string>): Promise<void> {
    this.need();
    const vni = Number(data.vni);
    const mtu = Number(data.mtu);
    if (!Number.isInteger(vni) || !Number.isInteger(mtu)) {
      throw new InvalidOptionError('overlay network data', data, 'expected a VNI and an MTU');
    }
    // Restored or adopted: the kernel objects stay, and the entries are pruned and programmed
    // when etcd answers (now, or later if it is down).
    await this.setUp(req, vni, mtu, true);
  }

  /**
   * Makes (or adopts) the bridge and the VXLAN device, then follows the endpoint table:
   * remote endpoints programmed, and every permanent entry the table does not list removed.
   */
  private async setUp(
    req: CreateNetworkRequest,
    vni: number,
    mtu: number,
    restoring: boolean,
  ): Promise<void> {
    const cluster = this.need();
    const networkId = req.networkId;
    const short = networkId.slice(0, 12);
    const bridge = `ov-${short}`;
    const vxlan = `vx-${short}`;
    const nl = this.nl;
    const mark = `${OVERLAY_MARK}${networkId}`;
    const existing = nl.linkGet(vxlan);
    if (existing && existing.alias !== mark) {
      throw new InvalidOptionError('network', networkId, `a link named ${vxlan} exists and is not dnet's`);
    }
    if (!nl.linkGet(bridge)) {
      nl.linkAdd({ kind: 'bridge', name: bridge, mtu });
      nl.linkSet(bridge, { up: true, alias: mark, ipv6AddrGenMode: 'none' });
    }
    if (!existing) {
      nl.linkAdd({
        kind: 'vxlan',
        name: vxlan,
        vni,
        port: cluster.vxlanPort,
        local: cluster.vtep,
        learning: false,
        proxy: true,
        mtu,
        master: nl.linkIndex(bridge),
      });
      nl.linkSet(vxlan, { up: true, alias: mark });
    }
    // Made or adopted: TX checksum offload as the network's option says (offload.ts).
    applyTxChecksum(vxlan, txChecksumOffload(req.options.generic));
    const n: OverlayNetwork = {
      id: networkId,
      vni,
      mtu,
      internal: req.options.internal,
      globalPools: req.ipv4Data.filter((d) => d.addressSpace === GLOBAL_ADDRESS_SPACE).map((d) => d.pool),
      bridge,
      vxlan,
      peers: new PeerTable(nl, vxlan, cluster.hostId),
      endpoints: new Map(),
    };
    this.networks.set(networkId, n);
    try {
      let synced = false;
      n.mirror = await cluster.watchEndpoints(
        networkId,
        {
          put: (key, value) => n.peers.put(key, value as PeerEndpoint),
          delete: (key) => n.peers.delete(key),
          listed: () => {
            // Once, after the first listing: what the table does not list goes.
            if (!synced) n.peers.prune();
            synced = true;
          },
        },
        { background: restoring },
      );
    } catch (err) {
      this.networks.delete(networkId);
      nl.linkDelIfExists(vxlan);
      nl.linkDelIfExists(bridge);
      throw err;
    }
  }

  async deleteNetwork(networkId: string): Promise<void> {
    const n = this.networks.get(networkId);
    if (!n) return;
    await n.mirror?.close();
    this.nl.linkDelIfExists(n.vxlan);
    this.nl.linkDelIfExists(n.bridge);
    this.networks.delete(networkId);
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResult> {
    const n = this.net(req.networkId);
    const mac = req.iface.macAddress ?? randomMac();
    const ip = req.iface.address ? plain(req.iface.address) : undefined;
    const subnet = ip === undefined ? undefined : n.globalPools.find((p) => cidrContains(p, ip));
    n.endpoints.set(req.endpointId, {
      id: req.endpointId,
      mac,
      ...(ip !== undefined ? { ip } : {}),
      ...(subnet !== undefined ? { subnet } : {}),
      hostVeth: `ve${req.endpointId.slice(0, 10)}`,
      joined: false,
    });
    return req.iface.macAddress ? {} : { iface: { macAddress: mac } };
  }

  async restoreEndpoint(req: CreateEndpointRequest): Promise<void> {
    await this.createEndpoint(req);
  }

  async deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    const n = this.net(networkId);
    const e = n.endpoints.get(endpointId);
    if (!e) return;
    if (e.joined) await this.leave(networkId, endpointId);
    n.endpoints.delete(endpointId);
  }

  async endpointOperInfo(networkId: string, endpointId: string): Promise<EndpointOperInfo> {
    const e = this.ep(networkId, endpointId);
    return { macAddress: e.mac, hostInterface: e.hostVeth };
  }

  /**
   * A veth pair: the host end on the network's bridge, the other made inside the sandbox (or left
   * in the host for the caller to move); then the endpoint is published in the cluster's table,
   * which every other host programs.
   */
  async join(req: JoinRequest): Promise<JoinInfo> {
    const n = this.net(req.networkId);
    const e = this.ep(req.networkId, req.endpointId);
    const cluster = this.need();
    const peer = `${e.hostVeth}c`;
    const inHost = req.interfaceInHost === true;
    const fd = inHost ? undefined : openNetns(req.sandboxKey);
    try {
      this.nl.linkAdd({
        kind: 'veth',
        name: e.hostVeth,
        mtu: n.mtu,
        master: this.nl.linkIndex(n.bridge),
        peer: { name: peer, mtu: n.mtu, mac: e.mac, ...(fd === undefined ? {} : { netns: { fd } }) },
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    try {
      this.nl.linkSet(e.hostVeth, { up: true, alias: `${OVERLAY_MARK}${e.id}`, ipv6AddrGenMode: 'none' });
      await cluster.publishEndpoint(n.id, e.id, { mac: e.mac, ...(e.ip ? { ip: e.ip } : {}) }, e.subnet);
    } catch (err) {
      this.nl.linkDelIfExists(e.hostVeth);
      throw err;
    }
    e.joined = true;
    return {
      interfaceName: { srcName: peer, dstPrefix: 'eth', ...(inHost ? {} : { inSandbox: true }) },
      staticRoutes: [],
      // No gateway on the overlay: the core gives the container one on its gateway network
      // (dnet_gwbridge), unless the network is internal.
      disableGatewayService: n.internal,
    };
  }

  /** A joined endpoint after a restart: published again (same lease, so no peer saw it go). */
  async restoreJoin(networkId: string, endpointId: string): Promise<boolean> {
    const n = this.net(networkId);
    const e = this.ep(networkId, endpointId);
    if (!this.nl.linkGet(e.hostVeth)) return false;
    const ep = { mac: e.mac, ...(e.ip ? { ip: e.ip } : {}) };
    await this.need().republishEndpoint(n.id, e.id, ep, e.subnet);
    e.joined = true;
    return true;
  }

  /**
   * After a restart: endpoints this host published that it has no record of (a crash between
   * the publication and the local record, or during a leave) are withdrawn from the cluster, and
   * links with the driver's mark that no network or endpoint owns are removed.
   */
  async restoreDone(): Promise<void> {
    const cluster = this.cluster;
    if (!cluster) return; // no cluster: no overlay network can exist here
    for (const n of this.networks.values()) {
      for (const [key, ep] of await this.published(n.id)) {
        const epId = key.slice(key.lastIndexOf('/') + 1);
        const mine = n.endpoints.get(epId);
        if (ep.hostId === cluster.hostId && !mine?.joined) await cluster.unpublishEndpoint(n.id, epId);
      }
    }
    const owned = new Set<string>();
    for (const n of this.networks.values()) {
      owned.add(n.bridge).add(n.vxlan);
      for (const e of n.endpoints.values()) owned.add(e.hostVeth);
    }
    for (const l of this.nl.linkList()) {
      if (l.alias?.startsWith(OVERLAY_MARK) && !owned.has(l.name)) this.nl.linkDelIfExists(l.index);
    }
  }

  private async published(networkId: string): Promise<[string, PeerEndpoint][]> {
    const n = this.net(networkId);
    return [...(n.mirror?.snapshot() ?? new Map<string, unknown>())].map(([k, v]) => [k, v as PeerEndpoint]);
  }

  async leave(networkId: string, endpointId: string): Promise<void> {
    const e = this.ep(networkId, endpointId);
    await this.need().unpublishEndpoint(networkId, endpointId);
    // A veth delete waits for RCU grace periods: on the kernel worker, not the event loop.
    await deletionWorker().linkDelIfExists(e.hostVeth);
    e.joined = false;
  }

  /** Remote entries programmed on a network's VXLAN device (tests, metrics). */
  peerCount(networkId: string): number {
    return this.net(networkId).peers.size;
  }

  async close(): Promise<void> {
    for (const n of this.networks.values()) await n.mirror?.close();
  }
}
