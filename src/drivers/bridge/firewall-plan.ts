import { DnetError } from '../../errors/index.ts';
import { formatIp, parseCidr, parseIp } from '../../ip/index.ts';
import {
  expr,
  NFT_PRIO,
  type NftBatch,
  type NftCommand,
  type NftExpr,
  NftPlan,
  type NftSetDef,
  type NftStmt,
  nftMap,
  nftSet,
  stmt,
  type TableRef,
} from '../../os/nftables/index.ts';
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

// --- the bridge table -------------------------------------------------------------------------
// The OS layer's plan builder knows the ip/ip6/inet families only (src/os/nftables/types.ts
// NftFamily); libnftables takes `bridge` with the same JSON shapes. These few commands are
// written out here and joined into the same batch (one transaction) by `joinBatch`.

interface BridgeTableObj {
  family: 'bridge';
  name: string;
}
interface BridgeSetObj {
  family: 'bridge';
  table: string;
  name: string;
  type?: 'ifname';
}
interface BridgeChainObj {
  family: 'bridge';
  table: string;
  name: string;
  type?: 'filter';
  hook?: 'forward';
  prio?: number;
  policy?: 'accept';
}
interface BridgeRuleObj {
  family: 'bridge';
  table: string;
  chain: string;
  expr: NftStmt[];
}
interface BridgeElementObj {
  family: 'bridge';
  table: string;
  name: string;
  elem: string[];
}
type BridgeObject =
  | { table: BridgeTableObj }
  | { set: BridgeSetObj }
  | { chain: BridgeChainObj }
  | { rule: BridgeRuleObj }
  | { element: BridgeElementObj };
type BridgeCommand = { add: BridgeObject } | { delete: BridgeObject };

/** The bridge-family forward hook runs before br_netfilter's (priority 0) when that is loaded. */
const BRIDGE_FORWARD_PRIO = -200;
/** Before the nat prerouting chain (-100), where conntrack un-NATs replies to the loopback. */
const GUARD_PRIO = NFT_PRIO.mangle;

function joinBatch(inet: NftPlan, bridge: readonly BridgeCommand[]): NftBatch {
  // The one cast of this module: bridge-family commands have the inet shapes with
  // family 'bridge', which NftCommand's family type does not list (see above).
  return { nftables: [...inet.commands, ...(bridge as readonly unknown[] as readonly NftCommand[])] };
}

// --- keys and values --------------------------------------------------------------------------

const K_SPEC4 = ['ipv4_addr', 'inet_proto', 'inet_service'] as const;
const K_SPEC6 = ['ipv6_addr', 'inet_proto', 'inet_service'] as const;
const K_ANY = ['inet_proto', 'inet_service'] as const;

const KEY_SPEC4 = expr.concat(expr.payload('ip', 'daddr'), expr.meta('l4proto'), expr.payload('th', 'dport'));
const KEY_SPEC6 = expr.concat(
  expr.payload('ip6', 'daddr'),
  expr.meta('l4proto'),
  expr.payload('th', 'dport'),
);
const KEY_ANY = expr.concat(expr.meta('l4proto'), expr.payload('th', 'dport'));

function cidr(what: string, c: string, family: 4 | 6): { addr: string; len: number; text: string } {
  const parsed = parseCidr(c, { family });
  if (typeof parsed === 'string') {
    throw new FirewallInputError(what, c, `expected an IPv${family} subnet (address/length): ${parsed}`);
  }
  const addr = formatIp(family, parsed.start);
  return { addr, len: parsed.len, text: `${addr}/${parsed.len}` };
}

function address(what: string, a: string, family: 4 | 6): string {
  const ip = parseIp(a, { family });
  if (typeof ip === 'string') throw new FirewallInputError(what, a, `expected an IPv${family} address`);
  return ip.text;
}

function port(what: string, p: number): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new FirewallInputError(what, p, 'expected 1-65535');
  return p;
}

/** The host address of a port, or undefined for every address of its family. */
function hostAddress(p: FwPort): string | undefined {
  const h = p.hostIP;
  if (h === undefined || h === '') return undefined;
  const a = address('port host IP', h, p.family);
  return a === '0.0.0.0' || a === '::' ? undefined : a;
}

// --- the planner --------------------------------------------------------------------------------

/** The names and definitions of one firewall's objects (for the plans, and to list them). */
export class FirewallLayout {
  readonly inet: TableRef;
  readonly bridgeTable: string;
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
  /** The bridge table's set of veths of endpoints on ICC-off networks. */
  readonly iccOff: { family: 'bridge'; table: string; name: string };

  constructor(table = 'dnet') {
    checkName('table name', table);
    const t: TableRef = { family: 'inet', table };
    this.inet = t;
    this.bridgeTable = table;
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
    this.iccOff = { family: 'bridge', table, name: 'icc_off' };
  }

  /** Every set and map of the inet table, in creation order. */
  allSets(): NftSetDef[] {
    return [...Object.values(this.sets), ...Object.values(this.maps[4]), ...Object.values(this.maps[6])];
  }
}

/** Map elements grouped by map, in a fixed order (so plans are deterministic). */
class Elements {
  private readonly by = new Map<NftSetDef, NftExpr[]>();

  constructor(private readonly order: readonly NftSetDef[]) {}

  push(def: NftSetDef, e: NftExpr): void {
    let l = this.by.get(def);
    if (!l) {
      l = [];
      this.by.set(def, l);
    }
    l.push(e);
  }

  /** `add element` per set, in layout order. */
  add(plan: NftPlan): void {
    for (const def of this.order) {
      const l = this.by.get(def);
      if (l && l.length > 0) plan.addElements(def, l);
    }
  }

  /**
   * Idempotent removal: `add element` (the same elements: a no-op when present, EEXIST when the
   * key is there with another value, which then protects someone else's mapping) then `delete
   * element`, in the same transaction. Two commands per set touched, whatever the set holds.
   */
  remove(plan: NftPlan): void {
    this.add(plan);
    for (const def of this.order) {
      const l = this.by.get(def);
      if (l && l.length > 0) {
        plan.deleteElements(
          def,
          l.map((e) => (def.kind === 'map' && Array.isArray(e) ? (e[0] as NftExpr) : e)),
        );
      }
    }
  }
}

/** Builds the firewall's plans. Pure. */
export class FirewallPlanner {
  readonly layout: FirewallLayout;

  constructor(table = 'dnet') {
    this.layout = new FirewallLayout(table);
  }

  // --- whole tables -----------------------------------------------------------------------------

  /** Replaces both tables with the given state, in one transaction (idempotent). */
  init(
    networks: readonly FwNetwork[],
    ports: readonly FwPort[],
    endpoints: readonly FwEndpoint[] = [],
  ): NftBatch {
    const L = this.layout;
    const t = L.inet;
    const plan = new NftPlan().deleteTable(t, { ifExists: true }).addTable(t);
    for (const def of L.allSets()) plan.addSet(def);
    this.addChains(plan);

    const els = new Elements(L.allSets());
    const byBridge = new Map<string, FwNetwork>();
    for (const n of networks) {
      if (byBridge.has(n.bridge)) throw new FirewallInputError('network bridge', n.bridge, 'used twice');
      byBridge.set(n.bridge, n);
      this.networkElements(n, els);
    }
    for (const p of ports) this.portElements(p, els);
    els.add(plan);

    const iccPorts: string[] = [];
    for (const e of endpoints) {
      const n = byBridge.get(e.bridge);
      if (!n) throw new FirewallInputError('endpoint bridge', e.bridge, 'no network uses this bridge');
      if (!n.icc) iccPorts.push(checkIfname('endpoint interface', e.ifname));
    }
    const bt = { family: 'bridge', name: L.bridgeTable } as const;
    const bridge: BridgeCommand[] = [
      { add: { table: bt } },
      { delete: { table: bt } },
      { add: { table: bt } },
      { add: { set: { ...L.iccOff, type: 'ifname' } } },
      {
        add: {
          chain: {
            family: 'bridge',
            table: L.bridgeTable,
            name: 'forward',
            type: 'filter',
            hook: 'forward',
            prio: BRIDGE_FORWARD_PRIO,
            policy: 'accept',
          },
        },
      },
      {
        add: {
          rule: {
            family: 'bridge',
            table: L.bridgeTable,
            chain: 'forward',
            expr: [stmt.match(expr.meta('iifname'), '==', expr.ref(L.iccOff.name)), stmt.drop()],
          },
        },
      },
    ];
    if (iccPorts.length > 0) bridge.push({ add: { element: { ...L.iccOff, elem: iccPorts } } });
    return joinBatch(plan, bridge);
  }

  /** Removes both tables (idempotent). */
  destroy(): NftBatch {
    const bt = { family: 'bridge', name: this.layout.bridgeTable } as const;
    return joinBatch(new NftPlan().deleteTable(this.layout.inet, { ifExists: true }), [
      { add: { table: bt } },
      { delete: { table: bt } },
    ]);
  }

  // --- networks ---------------------------------------------------------------------------------

  addNetwork(n: FwNetwork): NftBatch {
    const els = new Elements(this.layout.allSets());
    this.networkElements(n, els);
    const plan = new NftPlan();
    els.add(plan);
    return plan.toJSON();
  }

  /** Idempotent. Its ports and endpoints are removed separately (removePorts, removeEndpoints). */
  removeNetwork(n: FwNetwork): NftBatch {
    const els = new Elements(this.layout.allSets());
    this.networkElements(n, els);
    const plan = new NftPlan();
    els.remove(plan);
    return plan.toJSON();
  }

  // --- endpoints (ICC) --------------------------------------------------------------------------

  /** ICC off: the endpoints' veths join the bridge table's drop set. ICC on: nothing to do. */
  addEndpoints(n: FwNetwork, eps: readonly FwEndpoint[]): NftBatch {
    const names = this.iccNames(n, eps);
    if (names.length === 0) return { nftables: [] };
    return joinBatch(new NftPlan(), [{ add: { element: { ...this.layout.iccOff, elem: names } } }]);
  }

  /** Idempotent (add + delete in one transaction). */
  removeEndpoints(n: FwNetwork, eps: readonly FwEndpoint[]): NftBatch {
    const names = this.iccNames(n, eps);
    if (names.length === 0) return { nftables: [] };
    const el = { ...this.layout.iccOff, elem: names };
    return joinBatch(new NftPlan(), [{ add: { element: el } }, { delete: { element: el } }]);
  }

  // --- published ports --------------------------------------------------------------------------

  /** At most one `add element` per map touched: 2 elements per exact port, 1 per 1:1 range. */
  addPorts(ports: readonly FwPort[]): NftBatch {
    const els = new Elements(this.layout.allSets());
    for (const p of ports) this.portElements(p, els);
    const plan = new NftPlan();
    els.add(plan);
    return plan.toJSON();
  }

  /** Idempotent; fails (applying nothing) if a key is mapped to something else. */
  removePorts(ports: readonly FwPort[]): NftBatch {
    const els = new Elements(this.layout.allSets());
    for (const p of ports) this.portElements(p, els);
    const plan = new NftPlan();
    els.remove(plan);
    return plan.toJSON();
  }

  // --- internals --------------------------------------------------------------------------------

  private iccNames(n: FwNetwork, eps: readonly FwEndpoint[]): string[] {
    if (n.icc) return [];
    return eps.map((e) => {
      if (e.bridge !== n.bridge) {
        throw new FirewallInputError('endpoint bridge', e.bridge, `the network's bridge is ${n.bridge}`);
      }
      return checkIfname('endpoint interface', e.ifname);
    });
  }

  private networkElements(n: FwNetwork, els: Elements): void {
    const S = this.layout.sets;
    const br = checkIfname('bridge name', n.bridge);
    els.push(S.bridges, br);
    els.push(S.intra, expr.concat(br, br));
    if (n.internal) els.push(S.internal, br);
    for (const s of n.subnets4) {
      const c = cidr('IPv4 subnet', s, 4);
      els.push(S.nets4, expr.concat(br, expr.prefix(c.text)));
      if (n.masquerade && !n.internal) els.push(S.masq4, expr.prefix(c.text));
    }
    for (const s of n.subnets6) {
      const c = cidr('IPv6 subnet', s, 6);
      els.push(S.nets6, expr.concat(br, expr.prefix(c.text)));
      if (n.masquerade && !n.internal) els.push(S.masq6, expr.prefix(c.text));
    }
  }

  private portElements(p: FwPort, els: Elements): void {
    if (p.family !== 4 && p.family !== 6)
      throw new FirewallInputError('port family', p.family, 'expected 4 or 6');
    if (p.proto !== 'tcp' && p.proto !== 'udp' && p.proto !== 'sctp') {
      throw new FirewallInputError('port protocol', p.proto, 'expected tcp, udp or sctp');
    }
    checkIfname('port bridge', p.bridge);
    const M = this.layout.maps[p.family];
    const host = hostAddress(p);
    const to = address('port container IP', p.containerIP, p.family);
    const lo = port('host port', p.hostPort);
    const hi = port('host port range end', p.hostPortEnd);
    const cport = port('container port', p.containerPort);
    if (hi < lo) throw new FirewallInputError('host port range', [lo, hi], 'the end is below the start');
    if (cport + (hi - lo) > 65535) {
      throw new FirewallInputError('container port range', [cport, cport + (hi - lo)], 'goes past 65535');
    }
    const key = (k: NftExpr): NftExpr =>
      host === undefined ? expr.concat(p.proto, k) : expr.concat(host, p.proto, k);
    if (hi > lo && cport === lo) {
      // One interval element: the destination port is kept, so N goes to N.
      els.push(host === undefined ? M.anyRange : M.specRange, [key(expr.range(lo, hi)), to]);
      return;
    }
    // One exact mapping per port (a single port, or a range shifted by an offset: see the header).
    const addrMap = host === undefined ? M.anyAddr : M.specAddr;
    const portMap = host === undefined ? M.anyPort : M.specPort;
    for (let i = 0; i <= hi - lo; i++) {
      const k = key(lo + i);
      els.push(addrMap, [k, to]);
      els.push(portMap, [k, cport + i]);
    }
  }

  private addChains(plan: NftPlan): void {
    const L = this.layout;
    const t = L.inet;
    const S = L.sets;
    const ref = (d: NftSetDef) => expr.ref(d.name);
    const iif = expr.meta('iifname');
    const oif = expr.meta('oifname');
    const local = stmt.match(expr.fib('type', ['daddr']), '==', 'local');
    const dnat = stmt.match(expr.ct('status'), 'in', 'dnat');

    plan
      .addChain(t, 'guard', { type: 'filter', hook: 'prerouting', prio: GUARD_PRIO, policy: 'accept' })
      .addChain(t, 'prerouting', { type: 'nat', hook: 'prerouting', prio: NFT_PRIO.dstnat, policy: 'accept' })
      .addChain(t, 'output', { type: 'nat', hook: 'output', prio: NFT_PRIO.dstnat, policy: 'accept' })
      .addChain(t, 'published')
      .addChain(t, 'postrouting', {
        type: 'nat',
        hook: 'postrouting',
        prio: NFT_PRIO.srcnat,
        policy: 'accept',
      })
      .addChain(t, 'input', { type: 'filter', hook: 'input', prio: NFT_PRIO.filter, policy: 'accept' })
      .addChain(t, 'forward', { type: 'filter', hook: 'forward', prio: NFT_PRIO.filter, policy: 'accept' });

    // guard: the loopback range never comes in from a bridge (route_localnet=1 would route it).
    const loopback = expr.prefix('127.0.0.0/8');
    plan
      .addRule(t, 'guard', [
        stmt.match(iif, '==', ref(S.bridges)),
        stmt.match(expr.payload('ip', 'saddr'), '==', loopback),
        stmt.drop(),
      ])
      .addRule(t, 'guard', [
        stmt.match(iif, '==', ref(S.bridges)),
        stmt.match(expr.payload('ip', 'daddr'), '==', loopback),
        stmt.drop(),
      ]);

    // DNAT: only connections to one of the host's own addresses.
    plan
      .addRule(t, 'prerouting', [local, stmt.jump('published')])
      .addRule(t, 'output', [stmt.match(expr.payload('ip6', 'daddr'), '==', '::1'), stmt.return()])
      .addRule(t, 'output', [local, stmt.jump('published')]);
    for (const f of [4, 6] as const) {
      const M = L.maps[f];
      const fam = f === 4 ? 'ip' : 'ip6';
      const spec = f === 4 ? KEY_SPEC4 : KEY_SPEC6;
      const nfproto = stmt.match(expr.meta('nfproto'), '==', f === 4 ? 'ipv4' : 'ipv6');
      plan
        .addRule(t, 'published', [
          stmt.dnat({
            family: fam,
            addr: expr.map(spec, ref(M.specAddr)),
            port: expr.map(spec, ref(M.specPort)),
          }),
        ])
        .addRule(t, 'published', [stmt.dnat({ family: fam, addr: expr.map(spec, ref(M.specRange)) })])
        .addRule(t, 'published', [
          nfproto,
          stmt.dnat({
            family: fam,
            addr: expr.map(KEY_ANY, ref(M.anyAddr)),
            port: expr.map(KEY_ANY, ref(M.anyPort)),
          }),
        ])
        .addRule(t, 'published', [
          nfproto,
          stmt.dnat({ family: fam, addr: expr.map(KEY_ANY, ref(M.anyRange)) }),
        ]);
    }

    // Masquerade.
    plan
      // Hairpin: DNATed back out the bridge its source subnet is on (the reply would otherwise
      // go straight to the client, bypassing the un-DNAT).
      .addRule(t, 'postrouting', [
        dnat,
        stmt.match(expr.concat(oif, expr.payload('ip', 'saddr')), '==', ref(S.nets4)),
        stmt.masquerade(),
      ])
      .addRule(t, 'postrouting', [
        dnat,
        stmt.match(expr.concat(oif, expr.payload('ip6', 'saddr')), '==', ref(S.nets6)),
        stmt.masquerade(),
      ])
      // The host's own 127.0.0.1 -> published port: the container cannot answer a loopback address.
      .addRule(t, 'postrouting', [
        stmt.match(oif, '==', ref(S.bridges)),
        stmt.match(expr.payload('ip', 'saddr'), '==', loopback),
        stmt.masquerade(),
      ])
      // Leaving a masquerading network's subnet by anything but a dnet bridge.
      .addRule(t, 'postrouting', [
        stmt.match(expr.payload('ip', 'saddr'), '==', ref(S.masq4)),
        stmt.match(oif, '!=', ref(S.bridges)),
        stmt.masquerade(),
      ])
      .addRule(t, 'postrouting', [
        stmt.match(expr.payload('ip6', 'saddr'), '==', ref(S.masq6)),
        stmt.match(oif, '!=', ref(S.bridges)),
        stmt.masquerade(),
      ]);

    // input: from an internal network, only the host's addresses on that same bridge.
    plan.addRule(t, 'input', [
      stmt.match(iif, '==', ref(S.internal)),
      local,
      stmt.match(expr.fib('type', ['daddr', 'iif']), '!=', 'local'),
      stmt.drop(),
    ]);

    // forward.
    plan
      .addRule(t, 'forward', [stmt.match(expr.ct('state'), 'in', ['established', 'related']), stmt.accept()])
      .addRule(t, 'forward', [stmt.match(expr.concat(iif, oif), '==', ref(S.intra)), stmt.accept()])
      .addRule(t, 'forward', [stmt.match(oif, '==', ref(S.internal)), stmt.drop()])
      .addRule(t, 'forward', [stmt.match(iif, '==', ref(S.internal)), stmt.drop()])
      .addRule(t, 'forward', [stmt.match(oif, '==', ref(S.bridges)), dnat, stmt.accept()])
      .addRule(t, 'forward', [stmt.match(oif, '==', ref(S.bridges)), stmt.drop()]);
  }
}
