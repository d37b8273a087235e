/**
 * The bridge driver's firewall rules: the chains of the `inet` table (a guard for the loopback
 * range, DNAT of published ports through maps, masquerade, input and forward filtering) and the
 * `bridge` table's forward chain (ICC off: a set of veths matched in the bridge family's forward
 * hook; this kernel has no `meta ibrname`, and dnet does not rely on br_netfilter). The rules do
 * not depend on state: state lives in the sets and maps (FirewallLayout), so a network, endpoint
 * or port changes elements, never rules.
 */
import { expr, NFT_PRIO, type NftPlan, type NftSetDef, stmt } from '../../os/nftables/index.ts';
import type { FirewallLayout } from './firewall-layout.ts';

/** The bridge-family forward hook runs before br_netfilter's (priority 0) when that is loaded. */
const BRIDGE_FORWARD_PRIO = -200;
/** Before the nat prerouting chain (-100), where conntrack un-NATs replies to the loopback. */
const GUARD_PRIO = NFT_PRIO.mangle;

const KEY_SPEC4 = expr.concat(expr.payload('ip', 'daddr'), expr.meta('l4proto'), expr.payload('th', 'dport'));
const KEY_SPEC6 = expr.concat(
  expr.payload('ip6', 'daddr'),
  expr.meta('l4proto'),
  expr.payload('th', 'dport'),
);
const KEY_ANY = expr.concat(expr.meta('l4proto'), expr.payload('th', 'dport'));

const iif = expr.meta('iifname');
const oif = expr.meta('oifname');
const ref = (d: NftSetDef) => expr.ref(d.name);
const local = stmt.match(expr.fib('type', ['daddr']), '==', 'local');
const dnat = stmt.match(expr.ct('status'), 'in', 'dnat');
const loopback = expr.prefix('127.0.0.0/8');

/** The inet table's chains and their rules (the table and its sets are made first). */
export function addInetChains(plan: NftPlan, L: FirewallLayout): void {
  const t = L.inet;
  plan
    .addChain(t, 'guard', { type: 'filter', hook: 'prerouting', prio: GUARD_PRIO, policy: 'accept' })
    .addChain(t, 'prerouting', { type: 'nat', hook: 'prerouting', prio: NFT_PRIO.dstnat, policy: 'accept' })
    .addChain(t, 'output', { type: 'nat', hook: 'output', prio: NFT_PRIO.dstnat, policy: 'accept' })
    .addChain(t, 'published')
    .addChain(t, 'postrouting', { type: 'nat', hook: 'postrouting', prio: NFT_PRIO.srcnat, policy: 'accept' })
    .addChain(t, 'input', { type: 'filter', hook: 'input', prio: NFT_PRIO.filter, policy: 'accept' })
    .addChain(t, 'forward', { type: 'filter', hook: 'forward', prio: NFT_PRIO.filter, policy: 'accept' });
  guardRules(plan, L);
  publishedRules(plan, L);
  masqueradeRules(plan, L);
  filterRules(plan, L);
}

/** guard: the loopback range never comes in from a bridge (route_localnet=1 would route it). */
function guardRules(plan: NftPlan, L: FirewallLayout): void {
  const t = L.inet;
  const S = L.sets;
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
}

/** DNAT through the published-port maps: only connections to one of the host's own addresses. */
function publishedRules(plan: NftPlan, L: FirewallLayout): void {
  const t = L.inet;
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
}

function masqueradeRules(plan: NftPlan, L: FirewallLayout): void {
  const t = L.inet;
  const S = L.sets;
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
}

function filterRules(plan: NftPlan, L: FirewallLayout): void {
  const t = L.inet;
  const S = L.sets;
  // input: from an internal network, only the host's addresses on that same bridge.
  plan.addRule(t, 'input', [
    stmt.match(iif, '==', ref(S.internal)),
    local,
    stmt.match(expr.fib('type', ['daddr', 'iif']), '!=', 'local'),
    stmt.drop(),
  ]);
  plan
    .addRule(t, 'forward', [stmt.match(expr.ct('state'), 'in', ['established', 'related']), stmt.accept()])
    .addRule(t, 'forward', [stmt.match(expr.concat(iif, oif), '==', ref(S.intra)), stmt.accept()])
    .addRule(t, 'forward', [stmt.match(oif, '==', ref(S.internal)), stmt.drop()])
    .addRule(t, 'forward', [stmt.match(iif, '==', ref(S.internal)), stmt.drop()])
    .addRule(t, 'forward', [stmt.match(oif, '==', ref(S.bridges)), dnat, stmt.accept()])
    .addRule(t, 'forward', [stmt.match(oif, '==', ref(S.bridges)), stmt.drop()]);
}

/** The bridge table, replaced: its ICC-off set and the forward rule that drops what comes from it. */
export function addBridgeTable(plan: NftPlan, L: FirewallLayout): void {
  const bt = L.bridge;
  plan
    .deleteTable(bt, { ifExists: true })
    .addTable(bt)
    .addSet(L.iccOff)
    .addChain(bt, 'forward', { type: 'filter', hook: 'forward', prio: BRIDGE_FORWARD_PRIO, policy: 'accept' })
    .addRule(bt, 'forward', [stmt.match(iif, '==', ref(L.iccOff)), stmt.drop()]);
}
