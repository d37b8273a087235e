import { NetlinkDecodeError } from '../../../errors/index.ts';
import { Attrs } from './attrs.ts';
import {
  AF,
  IF_OPER,
  IFF,
  IFLA,
  IFLA_BRPORT,
  IFLA_INET6,
  IFLA_INFO,
  IN6_ADDR_GEN_MODE,
  type IPVLAN_FLAG,
  type IPVLAN_MODE,
  type MACVLAN_MODE,
  NLM_F,
  RTM,
  VETH_INFO_PEER,
} from './constants.ts';
import { bytesToMac, macToBytes } from './ip.ts';
import { decodeLinkInfo, writeKindData } from './link-info.ts';
import { MessageWriter } from './writer.ts';

export const IFINFOMSG_LEN = 16;
/** The kernel's IFALIASZ: an alias holds at most 255 bytes (and its NUL). */
export const IFALIASZ = 256;
export type MacvlanMode = keyof typeof MACVLAN_MODE;
export type IpvlanMode = keyof typeof IPVLAN_MODE;
export type IpvlanFlag = keyof typeof IPVLAN_FLAG;

/** Where a new link (or a veth peer) is created: a namespace fd, or a process's namespace. */
export type NsTarget = { fd: number } | { pid: number };

interface LinkCommon {
  name: string;
  mtu?: number;
  mac?: string;
  txqlen?: number;
  /** Bring the link up on creation. */
  up?: boolean;
  /** Attach to this master (bridge) ifindex. */
  master?: number;
  /** Create the link directly in this namespace. */
  netns?: NsTarget;
}

export interface VethPeer {
  name: string;
  mtu?: number;
  mac?: string;
  netns?: NsTarget;
}

/** What to create. One variant per link kind (`ip link add ... type <kind>`). */
export type LinkSpec =
  | (LinkCommon & { kind: 'veth'; peer: VethPeer })
  | (LinkCommon & {
      kind: 'bridge';
      stp?: boolean;
      vlanFiltering?: boolean;
      ageingTime?: number;
      mcastSnooping?: boolean;
    })
  | (LinkCommon & {
      kind: 'vxlan';
      vni: number;
      /** UDP destination port (4789 is IANA's; the kernel's default is 8472). */
      port?: number;
      local?: string;
      /** Remote unicast or multicast group address. */
      group?: string;
      /** Underlay device ifindex. */
      parent?: number;
      learning?: boolean;
      ttl?: number;
      proxy?: boolean;
      l2miss?: boolean;
      l3miss?: boolean;
    })
  | (LinkCommon & { kind: 'macvlan'; parent: number; mode: MacvlanMode })
  /** An 802.1q sub-interface of `parent` (needs the 8021q module). */
  | (LinkCommon & { kind: 'vlan'; parent: number; vlanId: number })
  /** Needs the ipvlan module. */
  | (LinkCommon & { kind: 'ipvlan'; parent: number; mode: IpvlanMode; flag?: IpvlanFlag })
  /** Needs the dummy module. */
  | (LinkCommon & { kind: 'dummy' });

/** The kind-specific part of a link read back from the kernel. */
export type LinkInfo =
  | { kind: 'veth' }
  | { kind: 'bridge'; stp?: boolean; vlanFiltering?: boolean; ageingTime?: number }
  | {
      kind: 'vxlan';
      vni?: number;
      port?: number;
      local?: string;
      group?: string;
      parent?: number;
      learning?: boolean;
    }
  | { kind: 'macvlan'; mode?: MacvlanMode }
  | { kind: 'vlan'; vlanId?: number }
  | { kind: 'ipvlan'; mode?: IpvlanMode; flag?: IpvlanFlag }
  | { kind: 'dummy' }
  | { kind: 'other'; name: string }
  | { kind: 'none' };

export interface Link {
  index: number;
  name: string;
  /** IFF_* flags. */
  flags: number;
  up: boolean;
  operState: (typeof IF_OPER)[number];
  mtu?: number;
  mac?: string;
  txqlen?: number;
  /** Master (bridge) ifindex. */
  master?: number;
  /** IFLA_LINK: the parent or peer ifindex (in linkNetnsId's namespace when that is set). */
  parentIndex?: number;
  linkNetnsId?: number;
  /** IFLA_IFALIAS (`ip link set <dev> alias <text>`): dnet marks the links it makes with it. */
  alias?: string;
  info: LinkInfo;
}

/** Changes applied to an existing link (`ip link set`). `master: 0` detaches from the master. */
export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  mac?: string;
  name?: string;
  master?: number;
  netns?: NsTarget;
  /**
   * How the kernel makes the link's IPv6 link-local address; 'none': it makes none (no DAD, no
   * router solicitation). Equivalent to: `ip link set <dev> addrgenmode none`.
   */
  ipv6AddrGenMode?: keyof typeof IN6_ADDR_GEN_MODE;
  /**
   * The link's alias (IFLA_IFALIAS, at most 255 bytes; '' removes it). Equivalent to:
   * `ip link set <dev> alias <text>`. The kernel takes it on RTM_SETLINK only, not on creation.
   */
  alias?: string;
}

function writeIfinfo(w: MessageWriter, index: number, flags: number, change: number): void {
  const h = w.header(IFINFOMSG_LEN);
  h.writeUInt8(AF.UNSPEC, 0);
  h.writeInt32LE(index, 4);
  h.writeUInt32LE(flags >>> 0, 8);
  h.writeUInt32LE(change >>> 0, 12);
}

function writeNs(w: MessageWriter, ns: NsTarget): void {
  if ('fd' in ns) w.u32(IFLA.NET_NS_FD, ns.fd);
  else w.u32(IFLA.NET_NS_PID, ns.pid);
}

function checkName(name: string): void {
  // IFNAMSIZ is 16 including the NUL; the kernel also refuses '/', ':' and whitespace.
  if (
    name.length === 0 ||
    Buffer.byteLength(name) > 15 ||
    /[/:\s]/.test(name) ||
    name === '.' ||
    name === '..'
  ) {
    throw new RangeError(
      `invalid interface name ${JSON.stringify(name)}: 1-15 bytes, no '/', ':' or whitespace`,
    );
  }
}

function checkMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
    throw new RangeError(`invalid MTU ${mtu}: expected 68-65535`);
}

/** IFLA_INFO_DATA of a veth: its peer, a whole ifinfomsg with its own name, MTU, MAC and namespace. */
function writeVethPeer(w: MessageWriter, peer: VethPeer): void {
  checkName(peer.name);
  w.nest(IFLA_INFO.DATA).nest(VETH_INFO_PEER);
  writeIfinfo(w, 0, 0, 0);
  w.str(IFLA.IFNAME, peer.name);
  if (peer.mtu !== undefined) {
    checkMtu(peer.mtu);
    w.u32(IFLA.MTU, peer.mtu);
  }
  if (peer.mac !== undefined) w.attr(IFLA.ADDRESS, macToBytes(peer.mac));
  if (peer.netns !== undefined) writeNs(w, peer.netns);
  w.end().end();
}

/** RTM_NEWLINK creating a link. Equivalent to: `ip link add <name> type <kind> ...`. */
export function encodeLinkAdd(spec: LinkSpec, opts: { echo?: boolean } = {}): MessageWriter {
  checkName(spec.name);
  const echo = opts.echo ? NLM_F.ECHO : 0;
  const w = new MessageWriter(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL | echo);
  writeIfinfo(w, 0, spec.up ? IFF.UP : 0, spec.up ? IFF.UP : 0);
  w.str(IFLA.IFNAME, spec.name);
  if (spec.mtu !== undefined) {
    checkMtu(spec.mtu);
    w.u32(IFLA.MTU, spec.mtu);
  }
  if (spec.mac !== undefined) w.attr(IFLA.ADDRESS, macToBytes(spec.mac));
  if (spec.txqlen !== undefined) w.u32(IFLA.TXQLEN, spec.txqlen);
  if (spec.master !== undefined) w.u32(IFLA.MASTER, spec.master);
  if (spec.netns !== undefined) writeNs(w, spec.netns);
  if (spec.kind === 'macvlan' || spec.kind === 'vlan' || spec.kind === 'ipvlan')
    w.u32(IFLA.LINK, spec.parent);
  w.nest(IFLA.LINKINFO).str(IFLA_INFO.KIND, spec.kind);
  if (spec.kind === 'veth') writeVethPeer(w, spec.peer);
  else writeKindData(w, spec);
  w.end();
  return w;
}

/** RTM_SETLINK. Equivalent to: `ip link set <dev> [up|down] [mtu N] [address M] [name N] [master B|nomaster] [netns NS]`. */
export function encodeLinkSet(target: number | string, ch: LinkChanges): MessageWriter {
  const w = new MessageWriter(RTM.SETLINK, NLM_F.REQUEST | NLM_F.ACK);
  const change = ch.up === undefined ? 0 : IFF.UP;
  writeIfinfo(w, typeof target === 'number' ? target : 0, ch.up ? IFF.UP : 0, change);
  if (typeof target === 'string') {
    // By name (ifindex 0): the kernel looks the link up by IFLA_IFNAME, which then cannot rename it.
    if (ch.name !== undefined) throw new RangeError('renaming a link needs its index');
    checkName(target);
    w.str(IFLA.IFNAME, target);
  } else if (ch.name !== undefined) {
    checkName(ch.name);
    w.str(IFLA.IFNAME, ch.name);
  }
  if (ch.mtu !== undefined) {
    checkMtu(ch.mtu);
    w.u32(IFLA.MTU, ch.mtu);
  }
  if (ch.mac !== undefined) w.attr(IFLA.ADDRESS, macToBytes(ch.mac));
  if (ch.master !== undefined) w.u32(IFLA.MASTER, ch.master);
  if (ch.netns !== undefined) writeNs(w, ch.netns);
  if (ch.alias !== undefined) {
    // As iproute2 sends it: the text without a NUL (the kernel stores len bytes and terminates them).
    const text = Buffer.from(ch.alias, 'utf8');
    if (text.length > IFALIASZ - 1 || text.includes(0)) {
      throw new RangeError(
        `invalid link alias ${JSON.stringify(ch.alias)}: at most ${IFALIASZ - 1} bytes, no NUL`,
      );
    }
    w.attr(IFLA.IFALIAS, text);
  }
  if (ch.ipv6AddrGenMode !== undefined) {
    const mode = IN6_ADDR_GEN_MODE[ch.ipv6AddrGenMode];
    if (mode === undefined)
      throw new RangeError(`unknown IPv6 address generation mode ${ch.ipv6AddrGenMode}`);
    w.nest(IFLA.AF_SPEC).nest(AF.INET6).u8(IFLA_INET6.ADDR_GEN_MODE, mode);
    w.end().end();
  }
  return w;
}

/** Flags of a bridge port (a link enslaved to a bridge). */
export interface BridgePortChanges {
  /** Frames may go back out the port they came in on (a container reaching itself via NAT). */
  hairpin?: boolean;
  /** Isolated ports cannot talk to each other, only to non-isolated ports. */
  isolated?: boolean;
  learning?: boolean;
}

/**
 * RTM_SETLINK in the AF_BRIDGE family with IFLA_PROTINFO.
 * Equivalent to: `bridge link set dev <dev> hairpin on|off isolated on|off learning on|off`.
 */
export function encodeBridgePortSet(index: number, ch: BridgePortChanges): MessageWriter {
  const w = new MessageWriter(RTM.SETLINK, NLM_F.REQUEST | NLM_F.ACK);
  const h = w.header(IFINFOMSG_LEN);
  h.writeUInt8(AF.BRIDGE, 0);
  h.writeInt32LE(index, 4);
  w.nest(IFLA.PROTINFO);
  if (ch.hairpin !== undefined) w.u8(IFLA_BRPORT.MODE, ch.hairpin ? 1 : 0);
  if (ch.learning !== undefined) w.u8(IFLA_BRPORT.LEARNING, ch.learning ? 1 : 0);
  if (ch.isolated !== undefined) w.u8(IFLA_BRPORT.ISOLATED, ch.isolated ? 1 : 0);
  w.end();
  return w;
}

/** RTM_DELLINK, by index or by name. Equivalent to: `ip link del <dev>`. */
export function encodeLinkDel(target: number | string): MessageWriter {
  const w = new MessageWriter(RTM.DELLINK, NLM_F.REQUEST | NLM_F.ACK);
  writeIfinfo(w, typeof target === 'number' ? target : 0, 0, 0);
  if (typeof target === 'string') {
    checkName(target);
    w.str(IFLA.IFNAME, target);
  }
  return w;
}

/** RTM_GETLINK for one link by index or name. Equivalent to: `ip link show <dev>`. */
export function encodeLinkGet(by: { index: number } | { name: string }): MessageWriter {
  const w = new MessageWriter(RTM.GETLINK, NLM_F.REQUEST);
  writeIfinfo(w, 'index' in by ? by.index : 0, 0, 0);
  if ('name' in by) {
    checkName(by.name);
    w.str(IFLA.IFNAME, by.name);
  }
  w.u32(IFLA.EXT_MASK, 1); // RTEXT_FILTER_VF off; keeps replies small
  return w;
}

/** RTM_GETLINK dump. Equivalent to: `ip link show`. */
export function encodeLinkDump(): MessageWriter {
  const w = new MessageWriter(RTM.GETLINK, NLM_F.REQUEST | NLM_F.DUMP);
  writeIfinfo(w, 0, 0, 0);
  return w;
}

/** Decodes an RTM_NEWLINK message (a GETLINK reply or a dump entry). */
export function decodeLink(payload: Buffer): Link {
  if (payload.length < IFINFOMSG_LEN) {
    throw new NetlinkDecodeError(`RTM_NEWLINK: ${payload.length} bytes, shorter than ifinfomsg`);
  }
  const index = payload.readInt32LE(4);
  const flags = payload.readUInt32LE(8);
  const a = Attrs.parse(payload.subarray(IFINFOMSG_LEN), 'RTM_NEWLINK');
  const name = a.str(IFLA.IFNAME);
  if (name === undefined) throw new NetlinkDecodeError(`RTM_NEWLINK: link ${index} has no IFLA_IFNAME`);
  const op = a.u8(IFLA.OPERSTATE) ?? 0;
  const link: Link = {
    index,
    name,
    flags,
    up: (flags & IFF.UP) !== 0,
    operState: IF_OPER[op] ?? 'unknown',
    info: decodeLinkInfo(a),
  };
  const mtu = a.u32(IFLA.MTU);
  if (mtu !== undefined) link.mtu = mtu;
  const mac = a.get(IFLA.ADDRESS);
  if (mac && mac.length > 0) link.mac = bytesToMac(mac);
  const txq = a.u32(IFLA.TXQLEN);
  if (txq !== undefined) link.txqlen = txq;
  const master = a.u32(IFLA.MASTER);
  if (master !== undefined) link.master = master;
  const parent = a.u32(IFLA.LINK);
  if (parent !== undefined) link.parentIndex = parent;
  const nsid = a.s32(IFLA.LINK_NETNSID);
  if (nsid !== undefined) link.linkNetnsId = nsid;
  const alias = a.str(IFLA.IFALIAS);
  if (alias) link.alias = alias;
  return link;
}
