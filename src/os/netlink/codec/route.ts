import { NetlinkDecodeError } from '../../../errors/index.ts';
import { Attrs } from './attrs.ts';
import { AF, NLM_F, RT_SCOPE, RT_TABLE, RTA, RTM, RTN, RTNH_F_ONLINK, RTPROT } from './constants.ts';
import { afOf, bytesToIp, familyOf, type IpFamily, ipToBytes, parseCidr } from './ip.ts';
import { MessageWriter } from './writer.ts';

export const RTMSG_LEN = 12;

/** A route to add, replace or delete (`ip route add|replace|del ...`). */
export interface RouteSpec {
  /** "10.0.0.0/24", "fd00::/64", or "default" (then `family` is required unless a gateway tells it). */
  dst: string;
  family?: IpFamily;
  gateway?: string;
  /** Output interface index. */
  oif?: number;
  /** Table id; default main (254). */
  table?: number;
  /** Default static (4), as `ip route add` uses `boot` but dnet marks its own routes static. */
  protocol?: number;
  /** Default: link scope when there is no gateway (a directly connected route), else universe. */
  scope?: number;
  /** RTN_*; default unicast. */
  type?: number;
  /** Metric. */
  priority?: number;
  prefsrc?: string;
  /** The gateway is reachable on `oif` even if no route says so (`onlink`). */
  onlink?: boolean;
}

export interface Route {
  family: IpFamily;
  /** CIDR, or "default". */
  dst: string;
  dstLen: number;
  gateway?: string;
  oif?: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  priority?: number;
  prefsrc?: string;
  flags: number;
}

function routeFamily(spec: RouteSpec): IpFamily {
  if (spec.dst !== 'default') return parseCidr(spec.dst).family;
  if (spec.family) return spec.family;
  if (spec.gateway) return familyOf(spec.gateway);
  throw new RangeError('a default route needs a family or a gateway');
}

function writeRtmsg(
  w: MessageWriter,
  af: number,
  dstLen: number,
  table: number,
  protocol: number,
  scope: number,
  type: number,
  flags: number,
): void {
  const h = w.header(RTMSG_LEN);
  h.writeUInt8(af, 0);
  h.writeUInt8(dstLen, 1);
  h.writeUInt8(0, 2); // src_len
  h.writeUInt8(0, 3); // tos
  h.writeUInt8(table < 256 ? table : RT_TABLE.UNSPEC, 4);
  h.writeUInt8(protocol, 5);
  h.writeUInt8(scope, 6);
  h.writeUInt8(type, 7);
  h.writeUInt32LE(flags >>> 0, 8);
}

/**
 * RTM_NEWROUTE / RTM_DELROUTE.
 * Equivalent to: `ip route add|replace|del <dst> [via G] [dev D] [table T] [metric M] [src S] [onlink]`.
 */
export function encodeRoute(op: 'add' | 'replace' | 'del', spec: RouteSpec): MessageWriter {
  const family = routeFamily(spec);
  let dstIp: string | undefined;
  let dstLen = 0;
  if (spec.dst !== 'default') {
    const c = parseCidr(spec.dst);
    dstIp = c.ip;
    dstLen = c.prefixLen;
  }
  if (spec.gateway !== undefined && familyOf(spec.gateway) !== family) {
    throw new RangeError(`gateway ${spec.gateway} is not of the route's family (IPv${family})`);
  }
  const flags =
    op === 'add'
      ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL
      : op === 'replace'
        ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE
        : NLM_F.REQUEST | NLM_F.ACK;
  const w = new MessageWriter(op === 'del' ? RTM.DELROUTE : RTM.NEWROUTE, flags);
  const table = spec.table ?? RT_TABLE.MAIN;
  // For a delete, unset fields are wildcards (scope NOWHERE, protocol/type UNSPEC), as iproute2 does.
  const del = op === 'del';
  const scope =
    spec.scope ?? (del ? RT_SCOPE.NOWHERE : spec.gateway === undefined ? RT_SCOPE.LINK : RT_SCOPE.UNIVERSE);
  const protocol = spec.protocol ?? (del ? RTPROT.UNSPEC : RTPROT.STATIC);
  const type = spec.type ?? (del ? RTN.UNSPEC : RTN.UNICAST);
  writeRtmsg(w, afOf(family), dstLen, table, protocol, scope, type, spec.onlink ? RTNH_F_ONLINK : 0);
  if (dstIp !== undefined) w.attr(RTA.DST, ipToBytes(dstIp));
  if (spec.gateway !== undefined) w.attr(RTA.GATEWAY, ipToBytes(spec.gateway));
  if (spec.oif !== undefined) w.u32(RTA.OIF, spec.oif);
  if (spec.priority !== undefined) w.u32(RTA.PRIORITY, spec.priority);
  if (spec.prefsrc !== undefined) w.attr(RTA.PREFSRC, ipToBytes(spec.prefsrc));
  if (table >= 256) w.u32(RTA.TABLE, table);
  return w;
}

/**
 * RTM_GETROUTE dump of one family (or both). With strict checking on the socket, the kernel
 * filters by table when `table` is given. Equivalent to: `ip route show [table T]`.
 */
export function encodeRouteDump(family?: IpFamily, table?: number): MessageWriter {
  const w = new MessageWriter(RTM.GETROUTE, NLM_F.REQUEST | NLM_F.DUMP);
  writeRtmsg(w, family ? afOf(family) : AF.UNSPEC, 0, table ?? 0, 0, 0, 0, 0);
  if (table !== undefined) w.u32(RTA.TABLE, table);
  return w;
}

export function decodeRoute(payload: Buffer): Route {
  if (payload.length < RTMSG_LEN) {
    throw new NetlinkDecodeError(`RTM_NEWROUTE: ${payload.length} bytes, shorter than rtmsg`);
  }
  const af = payload.readUInt8(0);
  if (af !== AF.INET && af !== AF.INET6)
    throw new NetlinkDecodeError(`RTM_NEWROUTE: unexpected family ${af}`);
  const family: IpFamily = af === AF.INET ? 4 : 6;
  const dstLen = payload.readUInt8(1);
  const a = Attrs.parse(payload.subarray(RTMSG_LEN), 'RTM_NEWROUTE');
  const dstBytes = a.get(RTA.DST);
  const dst = dstBytes ? `${bytesToIp(dstBytes)}/${dstLen}` : dstLen === 0 ? 'default' : '';
  if (dst === '') throw new NetlinkDecodeError(`RTM_NEWROUTE: prefix length ${dstLen} without RTA_DST`);
  const r: Route = {
    family,
    dst,
    dstLen,
    table: a.u32(RTA.TABLE, 'RTA_TABLE') ?? payload.readUInt8(4),
    protocol: payload.readUInt8(5),
    scope: payload.readUInt8(6),
    type: payload.readUInt8(7),
    flags: payload.readUInt32LE(8),
  };
  const gw = a.get(RTA.GATEWAY);
  if (gw) r.gateway = bytesToIp(gw);
  const oif = a.u32(RTA.OIF, 'RTA_OIF');
  if (oif !== undefined) r.oif = oif;
  const prio = a.u32(RTA.PRIORITY, 'RTA_PRIORITY');
  if (prio !== undefined) r.priority = prio;
  const src = a.get(RTA.PREFSRC);
  if (src) r.prefsrc = bytesToIp(src);
  return r;
}
