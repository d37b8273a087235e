/**
 * What the bridge driver's firewall is made of: the state it is given (networks, published ports,
 * veths on ICC-off networks) and the names and definitions of its tables, sets and maps
 * (FirewallLayout), shared by the planner (firewall-plan.ts), the rules (firewall-rules.ts) and
 * the checks that list them (check.ts).
 */
import { DnetError } from '../../errors/index.ts';
import { type NftSetDef, nftMap, nftSet, type TableRef } from '../../os/nftables/index.ts';
import { checkIfname, checkName } from '../../os/nftables/validate.ts';

/** A bridge network as the firewall sees it. */
export interface FwNetwork {
  id: string;
  /** The Linux bridge's name. */
  bridge: string;
  /** CIDRs ('172.18.0.0/16'); host bits are ignored. */
  subnets4: string[];
  subnets6: string[];
  /** Inter-container communication on this bridge. */
  icc: boolean;
  /** Masquerade traffic leaving the subnet (ignored for internal networks). */
  masquerade: boolean;
  /** No traffic in or out of the subnet except to the host's addresses on this bridge. */
  internal: boolean;
}

/** A published port (or port range). */
export interface FwPort {
  family: 4 | 6;
  proto: 'tcp' | 'udp' | 'sctp';
  /** Absent (or '0.0.0.0' / '::'): every host address of that family. */
  hostIP?: string;
  hostPort: number;
  /** = hostPort for one port; a range maps hostPort+i to containerPort+i. */
  hostPortEnd: number;
  containerIP: string;
  containerPort: number;
  bridge: string;
}

/** An endpoint's port on a bridge: the host end of its veth. Only ICC-off networks need them. */
export interface FwEndpoint {
  bridge: string;
  /** The host-side interface enslaved to the bridge. */
  ifname: string;
}

/** The firewall was given a network, endpoint or port it cannot express. Nothing was applied. */
export class FirewallInputError extends DnetError {
  readonly code = 'ERR_FIREWALL_INPUT';
  readonly kind = 'invalid';
  constructor(
    readonly what: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`firewall: invalid ${what} ${JSON.stringify(value)}: ${reason}`);
  }
}

/** The sysctls a network needs on its bridge (route_localnet: 127.0.0.1 -> published ports). */
export function requiredSysctls(n: FwNetwork): [key: string, value: string][] {
  if (n.internal || n.subnets4.length === 0) return [];
  return [[`net/ipv4/conf/${checkIfname('bridge name', n.bridge)}/route_localnet`, '1']];
}

// --- keys and values --------------------------------------------------------------------------

const K_SPEC4 = ['ipv4_addr', 'inet_proto', 'inet_service'] as const;
const K_SPEC6 = ['ipv6_addr', 'inet_proto', 'inet_service'] as const;
const K_ANY = ['inet_proto', 'inet_service'] as const;

/** The names and definitions of one firewall's objects (for the plans, and to list them). */
export class FirewallLayout {
  readonly inet: TableRef;
  /** Sets of the inet table. */
  readonly sets: {
    /** Every dnet bridge. */
    bridges: NftSetDef;
    /** The bridges of internal networks. */
    internal: NftSetDef;
    /** `bridge . bridge`: traffic in and out of the same bridge. */
    intra: NftSetDef;
    /** `bridge . subnet` of every network (hairpin masquerade). */
    nets4: NftSetDef;
    nets6: NftSetDef;
    /** Subnets of masquerading networks. */
    masq4: NftSetDef;
    masq6: NftSetDef;
  };
  /** Published-port maps of the inet table, by family. */
  readonly maps: Record<
    4 | 6,
    {
      /** given host address, exact port: address and port maps */
      specAddr: NftSetDef;
      specPort: NftSetDef;
      /** given host address, port range (interval): address only */
      specRange: NftSetDef;
      /** any host address, exact port */
      anyAddr: NftSetDef;
      anyPort: NftSetDef;
      /** any host address, port range (interval) */
      anyRange: NftSetDef;
    }
  >;
  /** The bridge-family table. */
  readonly bridge: TableRef;
  /** The bridge table's set of veths of endpoints on ICC-off networks. */
  readonly iccOff: NftSetDef;

  constructor(table = 'dnet') {
    checkName('table name', table);
    const t: TableRef = { family: 'inet', table };
    this.inet = t;
    this.sets = {
      bridges: nftSet({ ...t, name: 'bridges', type: 'ifname' }),
      internal: nftSet({ ...t, name: 'internal', type: 'ifname' }),
      intra: nftSet({ ...t, name: 'intra', type: ['ifname', 'ifname'] }),
      nets4: nftSet({ ...t, name: 'nets4', type: ['ifname', 'ipv4_addr'], flags: ['interval'] }),
      nets6: nftSet({ ...t, name: 'nets6', type: ['ifname', 'ipv6_addr'], flags: ['interval'] }),
      masq4: nftSet({ ...t, name: 'masq4', type: 'ipv4_addr', flags: ['interval'] }),
      masq6: nftSet({ ...t, name: 'masq6', type: 'ipv6_addr', flags: ['interval'] }),
    };
    const maps = (f: 4 | 6) => {
      const spec = f === 4 ? K_SPEC4 : K_SPEC6;
      const a = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
      return {
        specAddr: nftMap({ ...t, name: `pub${f}_addr`, type: spec, map: a }),
        specPort: nftMap({ ...t, name: `pub${f}_port`, type: spec, map: 'inet_service' }),
        specRange: nftMap({ ...t, name: `pub${f}_range`, type: spec, map: a, flags: ['interval'] }),
        anyAddr: nftMap({ ...t, name: `pub${f}any_addr`, type: K_ANY, map: a }),
        anyPort: nftMap({ ...t, name: `pub${f}any_port`, type: K_ANY, map: 'inet_service' }),
        anyRange: nftMap({ ...t, name: `pub${f}any_range`, type: K_ANY, map: a, flags: ['interval'] }),
      } as const;
    };
    this.maps = { 4: maps(4), 6: maps(6) };
    this.bridge = { family: 'bridge', table };
    this.iccOff = nftSet({ ...this.bridge, name: 'icc_off', type: 'ifname' });
  }

  /** Every set and map of the inet table, in creation order. */
  allSets(): NftSetDef[] {
    return [...Object.values(this.sets), ...Object.values(this.maps[4]), ...Object.values(this.maps[6])];
  }
}
