/**
 * The bridge driver's firewall plans (pure): whole tables from state, and the element changes of a
 * network, an ICC-off endpoint or published ports, each one libnftables transaction. A published
 * port is map elements: one interval element for a range mapped N to N, otherwise one address
 * and one port element per port (a range shifted by an offset), so publishing costs the same
 * whatever is already published.
 */
import { formatIp, parseCidr, parseIp } from '../../ip/index.ts';
import { expr, type NftBatch, type NftExpr, NftPlan, type NftSetDef } from '../../os/nftables/index.ts';
import { checkIfname } from '../../os/nftables/validate.ts';
import {
  FirewallInputError,
  FirewallLayout,
  type FwEndpoint,
  type FwNetwork,
  type FwPort,
} from './firewall-layout.ts';
import { addBridgeTable, addInetChains } from './firewall-rules.ts';

export {
  FirewallInputError,
  FirewallLayout,
  type FwEndpoint,
  type FwNetwork,
  type FwPort,
  requiredSysctls,
} from './firewall-layout.ts';

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
    addInetChains(plan, L);

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
    addBridgeTable(plan, L);
    if (iccPorts.length > 0) plan.addElements(L.iccOff, iccPorts);
    return plan.toJSON();
  }

  /** Removes both tables (idempotent). */
  destroy(): NftBatch {
    return new NftPlan()
      .deleteTable(this.layout.inet, { ifExists: true })
      .deleteTable(this.layout.bridge, { ifExists: true })
      .toJSON();
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
    return new NftPlan().addElements(this.layout.iccOff, names).toJSON();
  }

  /** Idempotent (add + delete in one transaction). */
  removeEndpoints(n: FwNetwork, eps: readonly FwEndpoint[]): NftBatch {
    const names = this.iccNames(n, eps);
    if (names.length === 0) return { nftables: [] };
    return new NftPlan()
      .addElements(this.layout.iccOff, names)
      .deleteElements(this.layout.iccOff, names)
      .toJSON();
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
}
