/**
 * The kind-specific part of a link (IFLA_LINKINFO: IFLA_INFO_KIND and IFLA_INFO_DATA): written for
 * each kind `ip link add ... type <kind>` creates except veth (whose peer is a whole link, link.ts),
 * and read back for every kind.
 */
import type { Attrs } from './attrs.ts';
import {
  IFLA,
  IFLA_BR,
  IFLA_INFO,
  IFLA_IPVLAN,
  IFLA_MACVLAN,
  IFLA_VLAN,
  IFLA_VXLAN,
  IPVLAN_FLAG,
  IPVLAN_MODE,
  MACVLAN_MODE,
} from './constants.ts';
import { bytesToIp, familyOf, ipToBytes } from './ip.ts';
import type { LinkInfo, LinkSpec } from './link.ts';
import type { MessageWriter } from './writer.ts';

/** Writes IFLA_INFO_DATA for a link of any kind but veth, inside the open IFLA_LINKINFO nest. */
export function writeKindData(w: MessageWriter, spec: Exclude<LinkSpec, { kind: 'veth' }>): void {
  switch (spec.kind) {
    case 'bridge': {
      w.nest(IFLA_INFO.DATA);
      if (spec.stp !== undefined) w.u32(IFLA_BR.STP_STATE, spec.stp ? 1 : 0);
      if (spec.vlanFiltering !== undefined) w.u8(IFLA_BR.VLAN_FILTERING, spec.vlanFiltering ? 1 : 0);
      if (spec.ageingTime !== undefined) w.u32(IFLA_BR.AGEING_TIME, spec.ageingTime);
      if (spec.mcastSnooping !== undefined) w.u8(IFLA_BR.MCAST_SNOOPING, spec.mcastSnooping ? 1 : 0);
      w.end();
      break;
    }
    case 'vxlan': {
      if (!Number.isInteger(spec.vni) || spec.vni < 0 || spec.vni > 0xffffff) {
        throw new RangeError(`invalid VXLAN VNI ${spec.vni}: expected 0-16777215`);
      }
      w.nest(IFLA_INFO.DATA).u32(IFLA_VXLAN.ID, spec.vni);
      if (spec.port !== undefined) w.be16(IFLA_VXLAN.PORT, spec.port);
      if (spec.parent !== undefined) w.u32(IFLA_VXLAN.LINK, spec.parent);
      if (spec.local !== undefined)
        w.attr(familyOf(spec.local) === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, ipToBytes(spec.local));
      if (spec.group !== undefined)
        w.attr(familyOf(spec.group) === 4 ? IFLA_VXLAN.GROUP : IFLA_VXLAN.GROUP6, ipToBytes(spec.group));
      if (spec.learning !== undefined) w.u8(IFLA_VXLAN.LEARNING, spec.learning ? 1 : 0);
      if (spec.ttl !== undefined) w.u8(IFLA_VXLAN.TTL, spec.ttl);
      if (spec.proxy !== undefined) w.u8(IFLA_VXLAN.PROXY, spec.proxy ? 1 : 0);
      if (spec.l2miss !== undefined) w.u8(IFLA_VXLAN.L2MISS, spec.l2miss ? 1 : 0);
      if (spec.l3miss !== undefined) w.u8(IFLA_VXLAN.L3MISS, spec.l3miss ? 1 : 0);
      w.end();
      break;
    }
    case 'macvlan': {
      w.nest(IFLA_INFO.DATA).u32(IFLA_MACVLAN.MODE, MACVLAN_MODE[spec.mode]).end();
      break;
    }
    case 'vlan': {
      if (!Number.isInteger(spec.vlanId) || spec.vlanId < 1 || spec.vlanId > 4094) {
        throw new RangeError(`invalid VLAN ID ${spec.vlanId}: expected 1-4094`);
      }
      w.nest(IFLA_INFO.DATA).u16(IFLA_VLAN.ID, spec.vlanId).end();
      break;
    }
    case 'ipvlan': {
      w.nest(IFLA_INFO.DATA).u16(IFLA_IPVLAN.MODE, IPVLAN_MODE[spec.mode]);
      if (spec.flag !== undefined) w.u16(IFLA_IPVLAN.FLAGS, IPVLAN_FLAG[spec.flag]);
      w.end();
      break;
    }
    case 'dummy':
      break;
  }
}

/** The name in `table` (MACVLAN_MODE...) of the kernel's value `v`; undefined for none or an unknown one. */
function keyOf<T extends Record<string, number>>(
  table: T,
  v: number | undefined,
): (keyof T & string) | undefined {
  return (Object.keys(table) as (keyof T & string)[]).find((k) => table[k] === v);
}

/** Reads IFLA_LINKINFO of a link: its kind and that kind's data. */
export function decodeLinkInfo(a: Attrs): LinkInfo {
  const li = a.nested(IFLA.LINKINFO, 'IFLA_LINKINFO');
  if (!li) return { kind: 'none' };
  const kind = li.str(IFLA_INFO.KIND) ?? '';
  const data = li.has(IFLA_INFO.DATA) ? li.nested(IFLA_INFO.DATA, `IFLA_INFO_DATA(${kind})`) : undefined;
  switch (kind) {
    case 'veth':
      return { kind: 'veth' };
    case 'bridge': {
      const info: LinkInfo = { kind: 'bridge' };
      if (data) {
        const stp = data.u32(IFLA_BR.STP_STATE);
        if (stp !== undefined) info.stp = stp !== 0;
        const vf = data.u8(IFLA_BR.VLAN_FILTERING);
        if (vf !== undefined) info.vlanFiltering = vf !== 0;
        const age = data.u32(IFLA_BR.AGEING_TIME);
        if (age !== undefined) info.ageingTime = age;
      }
      return info;
    }
    case 'vxlan': {
      const info: Extract<LinkInfo, { kind: 'vxlan' }> = { kind: 'vxlan' };
      if (data) {
        const vni = data.u32(IFLA_VXLAN.ID);
        if (vni !== undefined) info.vni = vni;
        const port = data.be16(IFLA_VXLAN.PORT);
        if (port !== undefined) info.port = port;
        const parent = data.u32(IFLA_VXLAN.LINK);
        if (parent !== undefined) info.parent = parent;
        const local = data.get(IFLA_VXLAN.LOCAL) ?? data.get(IFLA_VXLAN.LOCAL6);
        if (local) info.local = bytesToIp(local);
        const group = data.get(IFLA_VXLAN.GROUP) ?? data.get(IFLA_VXLAN.GROUP6);
        if (group) info.group = bytesToIp(group);
        const learning = data.u8(IFLA_VXLAN.LEARNING);
        if (learning !== undefined) info.learning = learning !== 0;
      }
      return info;
    }
    case 'macvlan': {
      const info: Extract<LinkInfo, { kind: 'macvlan' }> = { kind: 'macvlan' };
      const mode = keyOf(MACVLAN_MODE, data?.u32(IFLA_MACVLAN.MODE));
      if (mode) info.mode = mode;
      return info;
    }
    case 'vlan': {
      const info: Extract<LinkInfo, { kind: 'vlan' }> = { kind: 'vlan' };
      const id = data?.u16(IFLA_VLAN.ID);
      if (id !== undefined) info.vlanId = id;
      return info;
    }
    case 'ipvlan': {
      const info: Extract<LinkInfo, { kind: 'ipvlan' }> = { kind: 'ipvlan' };
      const mode = keyOf(IPVLAN_MODE, data?.u16(IFLA_IPVLAN.MODE));
      if (mode) info.mode = mode;
      const flag = keyOf(IPVLAN_FLAG, data?.u16(IFLA_IPVLAN.FLAGS));
      if (flag) info.flag = flag;
      return info;
    }
    case 'dummy':
      return { kind: 'dummy' };
    default:
      return { kind: 'other', name: kind };
  }
}
