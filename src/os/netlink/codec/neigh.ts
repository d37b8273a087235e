import { NetlinkDecodeError } from '../../../errors/index.ts';
import { Attrs } from './attrs.ts';
import { AF, NDA, NLM_F, NTF, NUD, RTM } from './constants.ts';
import { bytesToIp, bytesToMac, familyOf, ipToBytes, macToBytes } from './ip.ts';
import { MessageWriter } from './writer.ts';

export const NDMSG_LEN = 12;

/**
 * A neighbour entry: an ARP/NDP entry (`family` 4/6, `dst` an IP) or a bridge/VXLAN forwarding
 * database entry (`family` 'bridge', `lladdr` the MAC, `dst` the remote VTEP for VXLAN).
 */
export interface NeighSpec {
  index: number;
  family: 4 | 6 | 'bridge';
  dst?: string;
  lladdr?: string;
  /** NUD_*; default permanent. */
  state?: number;
  /** NTF_*; e.g. NTF.SELF for a VXLAN device's own FDB. */
  flags?: number;
  vni?: number;
  port?: number;
  vlan?: number;
}

export interface Neigh {
  index: number;
  family: 4 | 6 | 'bridge';
  dst?: string;
  lladdr?: string;
  state: number;
  flags: number;
  vni?: number;
  port?: number;
  master?: number;
}

function afOfNeigh(f: NeighSpec['family']): number {
  return f === 'bridge' ? AF.BRIDGE : f === 4 ? AF.INET : AF.INET6;
}

function writeNdmsg(w: MessageWriter, af: number, index: number, state: number, flags: number): void {
  const h = w.header(NDMSG_LEN);
  h.writeUInt8(af, 0);
  h.writeInt32LE(index, 4);
  h.writeUInt16LE(state, 8);
  h.writeUInt8(flags, 10);
  h.writeUInt8(0, 11); // ndm_type
}

/**
 * RTM_NEWNEIGH / RTM_DELNEIGH.
 * Equivalent to: `ip neigh replace <dst> lladdr <mac> dev <dev> nud permanent` or
 * `bridge fdb append <mac> dev <vxlan> dst <vtep> self permanent`.
 */
export function encodeNeigh(op: 'add' | 'replace' | 'append' | 'del', spec: NeighSpec): MessageWriter {
  if (spec.family !== 'bridge') {
    if (spec.dst === undefined) throw new RangeError('an ARP/NDP neighbour needs dst');
    if (familyOf(spec.dst) !== spec.family)
      throw new RangeError(`neighbour ${spec.dst} is not IPv${spec.family}`);
  } else if (spec.lladdr === undefined) {
    throw new RangeError('a forwarding database entry needs lladdr');
  }
  const flags =
    op === 'add'
      ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL
      : op === 'replace'
        ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE
        : op === 'append'
          ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.APPEND
          : NLM_F.REQUEST | NLM_F.ACK;
  const w = new MessageWriter(op === 'del' ? RTM.DELNEIGH : RTM.NEWNEIGH, flags);
  writeNdmsg(w, afOfNeigh(spec.family), spec.index, spec.state ?? NUD.PERMANENT, spec.flags ?? 0);
  if (spec.dst !== undefined) w.attr(NDA.DST, ipToBytes(spec.dst));
  if (spec.lladdr !== undefined) w.attr(NDA.LLADDR, macToBytes(spec.lladdr));
  if (spec.vni !== undefined) w.u32(NDA.VNI, spec.vni);
  if (spec.port !== undefined) w.be16(NDA.PORT, spec.port);
  if (spec.vlan !== undefined) w.u16(NDA.VLAN, spec.vlan);
  return w;
}

/** RTM_GETNEIGH dump. Equivalent to: `ip neigh show` / `bridge fdb show`. */
export function encodeNeighDump(family: NeighSpec['family'] | undefined, index?: number): MessageWriter {
  const w = new MessageWriter(RTM.GETNEIGH, NLM_F.REQUEST | NLM_F.DUMP);
  writeNdmsg(w, family === undefined ? AF.UNSPEC : afOfNeigh(family), 0, 0, 0);
  if (index !== undefined) w.u32(NDA.IFINDEX, index);
  return w;
}

export function decodeNeigh(payload: Buffer): Neigh {
  if (payload.length < NDMSG_LEN) {
    throw new NetlinkDecodeError(`RTM_NEWNEIGH: ${payload.length} bytes, shorter than ndmsg`);
  }
  const af = payload.readUInt8(0);
  const family = af === AF.INET ? 4 : af === AF.INET6 ? 6 : af === AF.BRIDGE ? 'bridge' : undefined;
  if (family === undefined) throw new NetlinkDecodeError(`RTM_NEWNEIGH: unexpected family ${af}`);
  const a = Attrs.parse(payload.subarray(NDMSG_LEN), 'RTM_NEWNEIGH');
  const n: Neigh = {
    index: payload.readInt32LE(4),
    family,
    state: payload.readUInt16LE(8),
    flags: payload.readUInt8(10),
  };
  const dst = a.get(NDA.DST);
  if (dst) n.dst = bytesToIp(dst);
  const ll = a.get(NDA.LLADDR);
  if (ll && ll.length > 0) n.lladdr = bytesToMac(ll);
  const vni = a.u32(NDA.VNI, 'NDA_VNI');
  if (vni !== undefined) n.vni = vni;
  const port = a.be16(NDA.PORT, 'NDA_PORT');
  if (port !== undefined) n.port = port;
  const master = a.u32(NDA.MASTER, 'NDA_MASTER');
  if (master !== undefined) n.master = master;
  return n;
}

export { NTF, NUD };
