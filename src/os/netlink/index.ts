/**
 * The rtnetlink client the drivers use: links, addresses, routes and neighbours, in-process,
 * one synchronous request per operation (no `ip` child process). A handle owns one socket;
 * opened with `netns`, the socket is created inside that namespace and every operation on the
 * handle acts there, while the process itself stays in its own namespace.
 */
import { NetlinkError } from '../../errors/index.ts';
import { type NetnsRef, runInNetns } from '../netns/index.ts';
import {
  type Address,
  type AddrSpec,
  type BridgePortChanges,
  decodeAddr,
  decodeLink,
  decodeNeigh,
  decodeRoute,
  encodeAddr,
  encodeAddrDump,
  encodeBridgePortSet,
  encodeLinkAdd,
  encodeLinkDel,
  encodeLinkDump,
  encodeLinkGet,
  encodeLinkSet,
  encodeNeigh,
  encodeNeighDump,
  encodeRoute,
  encodeRouteDump,
  type IpFamily,
  type Link,
  type LinkChanges,
  type LinkSpec,
  type Neigh,
  type NeighSpec,
  type Route,
  type RouteSpec,
  RTM,
} from './codec/index.ts';
import { NetlinkSocket } from './socket.ts';

export type {
  Address,
  AddrSpec,
  BridgePortChanges,
  IpFamily,
  IpvlanFlag,
  IpvlanMode,
  Link,
  LinkChanges,
  LinkInfo,
  LinkSpec,
  MacvlanMode,
  Neigh,
  NeighSpec,
  NsTarget,
  Route,
  RouteSpec,
} from './codec/index.ts';
export { NTF, NUD, RT_SCOPE, RT_TABLE, RTN, RTPROT } from './codec/index.ts';
export {
  type LinkEvent,
  LinkEvents,
  NetlinkSubscription,
  NftEvents,
  NftQuery,
  type NftTransaction,
} from './events.ts';
export { NetlinkSocket } from './socket.ts';

/** A link by name or ifindex. */
export type LinkRef = string | number;

const ENODEV = 19;
const ENOENT = 2;
const ESRCH = 3;
const EADDRNOTAVAIL = 99;

export interface RouteFilter {
  family?: IpFamily;
  /** Default: main table only; `'all'` for every table. */
  table?: number | 'all';
  oif?: LinkRef;
}

export class NetlinkHandle {
  private constructor(private readonly sock: NetlinkSocket) {}

  /** Opens a handle in the current namespace, or inside `netns`. */
  static open(opts: { netns?: NetnsRef } = {}): NetlinkHandle {
    const { netns } = opts;
    const sock = netns ? runInNetns(netns, () => new NetlinkSocket()) : new NetlinkSocket();
    return new NetlinkHandle(sock);
  }

  close(): void {
    this.sock.close();
  }

  // --- links -------------------------------------------------------------------------------

  /** The ifindex of a link; throws NetlinkError ENODEV when there is none. */
  linkIndex(ref: LinkRef): number {
    if (typeof ref === 'number') return ref;
    const l = this.linkGet(ref);
    if (!l) throw new NetlinkError(`link ${ref}`, ENODEV, 'no such link');
    return l.index;
  }

  /** Equivalent to: `ip link show <dev>`; undefined when it does not exist. */
  linkGet(ref: LinkRef): Link | undefined {
    const by = typeof ref === 'number' ? { index: ref } : { name: ref };
    try {
      return this.sock.request(encodeLinkGet(by), `link get ${ref}`, (m) => decodeLink(m.payload))[0];
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENODEV) return undefined;
      throw err;
    }
  }

  /** Equivalent to: `ip link show`. */
  linkList(): Link[] {
    return this.sock
      .request(encodeLinkDump(), 'link list', (m) =>
        m.type === RTM.NEWLINK ? decodeLink(m.payload) : undefined,
      )
      .filter((l): l is Link => l !== undefined);
  }

  /**
   * Equivalent to: `ip link add <name> type <kind> ...`. Returns the new link's ifindex (the
   * kernel echoes the link back; kernels older than 6.1 do not, and then it is asked for). A link
   * made in another namespace (`spec.netns`) is not echoed: 0 then (its index there is not asked).
   */
  linkAdd(spec: LinkSpec): number {
    const op = `link add ${spec.name} (${spec.kind})`;
    const echoed = this.sock.request(encodeLinkAdd(spec, { echo: true }), op, (m) =>
      m.type === RTM.NEWLINK ? decodeLink(m.payload) : undefined,
    );
    const mine = echoed.find((l) => l?.name === spec.name);
    if (mine) return mine.index;
    return spec.netns ? 0 : this.linkIndex(spec.name);
  }

  /**
   * Equivalent to: `ip link set <dev> ...`. `master: null` detaches it from its master. A link
   * named and not renamed is addressed by its name (one request, no lookup).
   */
  linkSet(ref: LinkRef, changes: Omit<LinkChanges, 'master'> & { master?: LinkRef | null }): void {
    const target = typeof ref === 'string' && changes.name === undefined ? ref : this.linkIndex(ref);
    const { master, ...rest } = changes;
    const ch: LinkChanges = { ...rest };
    if (master !== undefined) ch.master = master === null ? 0 : this.linkIndex(master);
    this.sock.request(encodeLinkSet(target, ch), `link set ${ref}`);
  }

  /** Equivalent to: `bridge link set dev <dev> hairpin on ...` (the link must be a bridge port). */
  bridgePortSet(ref: LinkRef, changes: BridgePortChanges): void {
    this.sock.request(encodeBridgePortSet(this.linkIndex(ref), changes), `bridge port set ${ref}`);
  }

  /** Equivalent to: `ip link del <dev>`. */
  linkDel(ref: LinkRef): void {
    this.sock.request(encodeLinkDel(ref), `link del ${ref}`);
  }

  /** Deletes the link if it exists; returns whether it did. */
  linkDelIfExists(ref: LinkRef): boolean {
    try {
      this.linkDel(ref);
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENODEV) return false;
      throw err;
    }
  }

  // --- addresses ---------------------------------------------------------------------------

  /** Equivalent to: `ip addr add <cidr> dev <dev>`. */
  addrAdd(ref: LinkRef, cidr: string, opts: Omit<AddrSpec, 'index' | 'cidr'> = {}): void {
    const spec = { ...opts, index: this.linkIndex(ref), cidr };
    this.sock.request(encodeAddr('add', spec), `addr add ${cidr} dev ${ref}`);
  }

  /** Equivalent to: `ip addr replace <cidr> dev <dev>`. */
  addrReplace(ref: LinkRef, cidr: string, opts: Omit<AddrSpec, 'index' | 'cidr'> = {}): void {
    const spec = { ...opts, index: this.linkIndex(ref), cidr };
    this.sock.request(encodeAddr('replace', spec), `addr replace ${cidr} dev ${ref}`);
  }

  /** Equivalent to: `ip addr del <cidr> dev <dev>`; returns false when the address was not there. */
  addrDel(ref: LinkRef, cidr: string): boolean {
    try {
      this.sock.request(
        encodeAddr('del', { index: this.linkIndex(ref), cidr }),
        `addr del ${cidr} dev ${ref}`,
      );
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === EADDRNOTAVAIL) return false;
      throw err;
    }
  }

  /** Equivalent to: `ip addr show [dev <dev>]`. */
  addrList(ref?: LinkRef, family?: IpFamily): Address[] {
    const index = ref === undefined ? undefined : this.linkIndex(ref);
    const all = this.sock.request(encodeAddrDump(family), 'addr list', (m) =>
      m.type === RTM.NEWADDR ? decodeAddr(m.payload) : undefined,
    );
    return all.filter((a): a is Address => a !== undefined && (index === undefined || a.index === index));
  }

  // --- routes ------------------------------------------------------------------------------

  private routeSpec(spec: Omit<RouteSpec, 'oif'> & { oif?: LinkRef }): RouteSpec {
    const { oif, ...rest } = spec;
    return oif === undefined ? rest : { ...rest, oif: this.linkIndex(oif) };
  }

  /** Equivalent to: `ip route add <dst> [via G] [dev D] ...`. */
  routeAdd(spec: Omit<RouteSpec, 'oif'> & { oif?: LinkRef }): void {
    this.sock.request(encodeRoute('add', this.routeSpec(spec)), `route add ${spec.dst}`);
  }

  /** Equivalent to: `ip route replace <dst> ...`. */
  routeReplace(spec: Omit<RouteSpec, 'oif'> & { oif?: LinkRef }): void {
    this.sock.request(encodeRoute('replace', this.routeSpec(spec)), `route replace ${spec.dst}`);
  }

  /** Equivalent to: `ip route del <dst> ...`; returns false when no such route existed. */
  routeDel(spec: Omit<RouteSpec, 'oif'> & { oif?: LinkRef }): boolean {
    try {
      this.sock.request(encodeRoute('del', this.routeSpec(spec)), `route del ${spec.dst}`);
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && (err.errno === ESRCH || err.errno === ENOENT)) return false;
      throw err;
    }
  }

  /** Equivalent to: `ip [-4|-6] route show [table T] [dev D]`. */
  routeList(filter: RouteFilter = {}): Route[] {
    const table = filter.table ?? 254;
    const oif = filter.oif === undefined ? undefined : this.linkIndex(filter.oif);
    const all = this.sock.request(
      encodeRouteDump(filter.family, table === 'all' ? undefined : table),
      'route list',
      (m) => (m.type === RTM.NEWROUTE ? decodeRoute(m.payload) : undefined),
    );
    return all.filter(
      (r): r is Route =>
        r !== undefined && (table === 'all' || r.table === table) && (oif === undefined || r.oif === oif),
    );
  }

  // --- neighbours --------------------------------------------------------------------------

  /** Equivalent to: `ip neigh add` / `bridge fdb add`. */
  neighAdd(spec: Omit<NeighSpec, 'index'> & { link: LinkRef }): void {
    this.neigh('add', spec);
  }

  /** Equivalent to: `ip neigh replace` / `bridge fdb replace`. */
  neighReplace(spec: Omit<NeighSpec, 'index'> & { link: LinkRef }): void {
    this.neigh('replace', spec);
  }

  /** Equivalent to: `bridge fdb append` (several VTEPs for one MAC, e.g. 00:00:00:00:00:00 flooding). */
  neighAppend(spec: Omit<NeighSpec, 'index'> & { link: LinkRef }): void {
    this.neigh('append', spec);
  }

  /** Equivalent to: `ip neigh del` / `bridge fdb del`; false when it was not there. */
  neighDel(spec: Omit<NeighSpec, 'index'> & { link: LinkRef }): boolean {
    try {
      this.neigh('del', spec);
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENOENT) return false;
      throw err;
    }
  }

  /** Equivalent to: `ip neigh show [dev D]` / `bridge fdb show`. */
  neighList(family?: NeighSpec['family'], ref?: LinkRef): Neigh[] {
    const index = ref === undefined ? undefined : this.linkIndex(ref);
    const all = this.sock.request(encodeNeighDump(family, index), 'neigh list', (m) =>
      m.type === RTM.NEWNEIGH ? decodeNeigh(m.payload) : undefined,
    );
    return all.filter((n): n is Neigh => n !== undefined && (index === undefined || n.index === index));
  }

  private neigh(
    op: 'add' | 'replace' | 'append' | 'del',
    spec: Omit<NeighSpec, 'index'> & { link: LinkRef },
  ) {
    const { link, ...rest } = spec;
    const full: NeighSpec = { ...rest, index: this.linkIndex(link) };
    this.sock.request(encodeNeigh(op, full), `neigh ${op} ${spec.dst ?? spec.lladdr ?? ''} dev ${link}`);
  }
}
