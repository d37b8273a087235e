import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  expr,
  NFT_PRIO,
  NftablesPlanError,
  type NftExpr,
  NftPlan,
  nftMap,
  nftSet,
  stmt,
  type TableRef,
} from '../../src/os/nftables/index.ts';

/** The fixtures are written pretty; the plan must serialise to exactly their compact form. */
const compact = (pretty: string) => JSON.stringify(JSON.parse(pretty));

// --- a NAT table publishing ports through maps ------------------------------------------------
// nft equivalent:
//   table ip dnet {
//     map pm_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr; }
//     map pm_port { type ipv4_addr . inet_proto . inet_service : inet_service; }
//     chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//       fib daddr type local jump publish }
//     chain publish {
//       meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport map @pm_addr : ip daddr . meta l4proto . th dport map @pm_port }
//     chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//       ip saddr 172.17.0.0/16 oifname != "br0" masquerade comment "dnet masquerade" }
//   }
//   add element ip dnet pm_addr { 10.0.0.1 . tcp . 8080 : 172.17.0.2 }
//   add element ip dnet pm_port { 10.0.0.1 . tcp . 8080 : 80 }
const NAT_FIXTURE = `{"nftables": [
  {"add": {"table": {"family": "ip", "name": "dnet"}}},
  {"add": {"map": {"family": "ip", "table": "dnet", "name": "pm_addr",
    "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "ipv4_addr"}}},
  {"add": {"map": {"family": "ip", "table": "dnet", "name": "pm_port",
    "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "inet_service"}}},
  {"add": {"chain": {"family": "ip", "table": "dnet", "name": "prerouting",
    "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}},
  {"add": {"chain": {"family": "ip", "table": "dnet", "name": "publish"}}},
  {"add": {"chain": {"family": "ip", "table": "dnet", "name": "postrouting",
    "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}},
  {"add": {"rule": {"family": "ip", "table": "dnet", "chain": "prerouting", "expr": [
    {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}},
    {"jump": {"target": "publish"}}]}}},
  {"add": {"rule": {"family": "ip", "table": "dnet", "chain": "publish", "expr": [
    {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["tcp", "udp"]}}},
    {"dnat": {"family": "ip",
      "addr": {"map": {"key": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}},
        {"meta": {"key": "l4proto"}}, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": "@pm_addr"}},
      "port": {"map": {"key": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}},
        {"meta": {"key": "l4proto"}}, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": "@pm_port"}}}}]}}},
  {"add": {"rule": {"family": "ip", "table": "dnet", "chain": "postrouting", "comment": "dnet masquerade", "expr": [
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
      "right": {"prefix": {"addr": "172.17.0.0", "len": 16}}}},
    {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "br0"}},
    {"masquerade": null}]}}},
  {"add": {"element": {"family": "ip", "table": "dnet", "name": "pm_addr",
    "elem": [[{"concat": ["10.0.0.1", "tcp", 8080]}, "172.17.0.2"]]}}},
  {"add": {"element": {"family": "ip", "table": "dnet", "name": "pm_port",
    "elem": [[{"concat": ["10.0.0.1", "tcp", 8080]}, 80]]}}}
]}`;

const ip: TableRef = { family: 'ip', table: 'dnet' };
const KEY3 = ['ipv4_addr', 'inet_proto', 'inet_service'] as const;
const pmAddr = nftMap({ ...ip, name: 'pm_addr', type: KEY3, map: 'ipv4_addr' });
const pmPort = nftMap({ ...ip, name: 'pm_port', type: KEY3, map: 'inet_service' });

function natPlan(): NftPlan {
  const key = expr.concat(expr.payload('ip', 'daddr'), expr.meta('l4proto'), expr.payload('th', 'dport'));
  return new NftPlan()
    .addTable(ip)
    .addSet(pmAddr)
    .addSet(pmPort)
    .addChain(ip, 'prerouting', { type: 'nat', hook: 'prerouting', prio: NFT_PRIO.dstnat, policy: 'accept' })
    .addChain(ip, 'publish')
    .addChain(ip, 'postrouting', {
      type: 'nat',
      hook: 'postrouting',
      prio: NFT_PRIO.srcnat,
      policy: 'accept',
    })
    .addRule(ip, 'prerouting', [stmt.match(expr.fib('type', ['daddr']), '==', 'local'), stmt.jump('publish')])
    .addRule(ip, 'publish', [
      stmt.match(expr.meta('l4proto'), '==', expr.set(['tcp', 'udp'])),
      stmt.dnat({
        family: 'ip',
        addr: expr.map(key, expr.ref('pm_addr')),
        port: expr.map(key, expr.ref('pm_port')),
      }),
    ])
    .addRule(
      ip,
      'postrouting',
      [
        stmt.match(expr.payload('ip', 'saddr'), '==', expr.prefix('172.17.0.0/16')),
        stmt.match(expr.meta('oifname'), '!=', expr.ifname('br0')),
        stmt.masquerade(),
      ],
      { comment: 'dnet masquerade' },
    )
    .addElements(pmAddr, [[expr.concat('10.0.0.1', 'tcp', 8080), '172.17.0.2']])
    .addElements(pmPort, [[expr.concat('10.0.0.1', 'tcp', 8080), 80]]);
}

// --- a filter chain dispatching on a verdict map -----------------------------------------------
// nft equivalent:
//   table inet dnet_filter {
//     map bridges { type ifname : verdict; }
//     set trusted { type ipv4_addr; flags interval; }
//     chain forward { type filter hook forward priority filter; policy drop;
//       ct state established,related accept
//       iifname vmap @bridges
//       ip saddr @trusted counter accept
//       counter drop }
//     chain br0_in { oifname "br0" accept; tcp dport { 80, 443 } return }
//   }
//   add element inet dnet_filter bridges { "br0" : jump br0_in, "br1" : goto br0_in }
//   add element inet dnet_filter trusted { 10.0.0.0/8, 192.168.1.10-192.168.1.20 }
const FILTER_FIXTURE = `{"nftables": [
  {"add": {"table": {"family": "inet", "name": "dnet_filter"}}},
  {"add": {"map": {"family": "inet", "table": "dnet_filter", "name": "bridges", "type": "ifname", "map": "verdict"}}},
  {"add": {"set": {"family": "inet", "table": "dnet_filter", "name": "trusted", "type": "ipv4_addr", "flags": ["interval"]}}},
  {"add": {"chain": {"family": "inet", "table": "dnet_filter", "name": "forward",
    "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}},
  {"add": {"chain": {"family": "inet", "table": "dnet_filter", "name": "br0_in"}}},
  {"add": {"rule": {"family": "inet", "table": "dnet_filter", "chain": "forward", "expr": [
    {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
    {"accept": null}]}}},
  {"add": {"rule": {"family": "inet", "table": "dnet_filter", "chain": "forward", "expr": [
    {"vmap": {"key": {"meta": {"key": "iifname"}}, "data": "@bridges"}}]}}},
  {"add": {"rule": {"family": "inet", "table": "dnet_filter", "chain": "forward", "expr": [
    {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@trusted"}},
    {"counter": null}, {"accept": null}]}}},
  {"add": {"rule": {"family": "inet", "table": "dnet_filter", "chain": "forward", "expr": [
    {"counter": null}, {"drop": null}]}}},
  {"add": {"rule": {"family": "inet", "table": "dnet_filter", "chain": "br0_in", "expr": [
    {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "br0"}}, {"accept": null}]}}},
  {"add": {"rule": {"family": "inet", "table": "dnet_filter", "chain": "br0_in", "expr": [
    {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [80, 443]}}},
    {"return": null}]}}},
  {"add": {"element": {"family": "inet", "table": "dnet_filter", "name": "bridges",
    "elem": [["br0", {"jump": {"target": "br0_in"}}], ["br1", {"goto": {"target": "br0_in"}}]]}}},
  {"add": {"element": {"family": "inet", "table": "dnet_filter", "name": "trusted",
    "elem": [{"prefix": {"addr": "10.0.0.0", "len": 8}}, {"range": ["192.168.1.10", "192.168.1.20"]}]}}}
]}`;

const inet: TableRef = { family: 'inet', table: 'dnet_filter' };
const bridges = nftMap({ ...inet, name: 'bridges', type: 'ifname', map: 'verdict' });
const trusted = nftSet({ ...inet, name: 'trusted', type: 'ipv4_addr', flags: ['interval'] });

function filterPlan(): NftPlan {
  return new NftPlan()
    .addTable(inet)
    .addSet(bridges)
    .addSet(trusted)
    .addChain(inet, 'forward', { type: 'filter', hook: 'forward', prio: NFT_PRIO.filter, policy: 'drop' })
    .addChain(inet, 'br0_in')
    .addRule(inet, 'forward', [stmt.match(expr.ct('state'), 'in', ['established', 'related']), stmt.accept()])
    .addRule(inet, 'forward', [stmt.vmap(expr.meta('iifname'), expr.ref('bridges'))])
    .addRule(inet, 'forward', [
      stmt.match(expr.payload('ip', 'saddr'), '==', expr.ref('trusted')),
      stmt.counter(),
      stmt.accept(),
    ])
    .addRule(inet, 'forward', [stmt.counter(), stmt.drop()])
    .addRule(inet, 'br0_in', [stmt.match(expr.meta('oifname'), '==', 'br0'), stmt.accept()])
    .addRule(inet, 'br0_in', [
      stmt.match(expr.payload('tcp', 'dport'), '==', expr.set([80, 443])),
      stmt.return(),
    ])
    .addElements(bridges, [
      ['br0', stmt.jump('br0_in')],
      ['br1', stmt.goto('br0_in')],
    ])
    .addElements(trusted, [expr.prefix('10.0.0.0/8'), expr.range('192.168.1.10', '192.168.1.20')]);
}

describe('nftables plan builder: fixtures', () => {
  test('NAT table with port maps', () => {
    assert.equal(natPlan().serialize(), compact(NAT_FIXTURE));
  });

  test('filter chain with a verdict map and an interval set', () => {
    assert.equal(filterPlan().serialize(), compact(FILTER_FIXTURE));
  });

  test('element removal, flushes and deletes', () => {
    const plan = new NftPlan()
      .deleteElements(pmAddr, [expr.concat('10.0.0.1', 'tcp', 8080)])
      .deleteElements(trusted, [expr.prefix('10.0.0.0/8')])
      .flushSet(pmPort)
      .flushChain(ip, 'publish')
      .deleteRule(ip, 'publish', 7)
      .deleteChain(ip, 'publish')
      .deleteSet(pmPort)
      .deleteTable(inet, { ifExists: true })
      .createTable(ip)
      .createElements(pmPort, [[expr.concat('10.0.0.1', 'udp', 53), 53]]);
    const want = `{"nftables": [
      {"delete": {"element": {"family": "ip", "table": "dnet", "name": "pm_addr", "elem": [{"concat": ["10.0.0.1", "tcp", 8080]}]}}},
      {"delete": {"element": {"family": "inet", "table": "dnet_filter", "name": "trusted", "elem": [{"prefix": {"addr": "10.0.0.0", "len": 8}}]}}},
      {"flush": {"map": {"family": "ip", "table": "dnet", "name": "pm_port"}}},
      {"flush": {"chain": {"family": "ip", "table": "dnet", "name": "publish"}}},
      {"delete": {"rule": {"family": "ip", "table": "dnet", "chain": "publish", "handle": 7}}},
      {"delete": {"chain": {"family": "ip", "table": "dnet", "name": "publish"}}},
      {"delete": {"map": {"family": "ip", "table": "dnet", "name": "pm_port"}}},
      {"add": {"table": {"family": "inet", "name": "dnet_filter"}}},
      {"delete": {"table": {"family": "inet", "name": "dnet_filter"}}},
      {"create": {"table": {"family": "ip", "name": "dnet"}}},
      {"create": {"element": {"family": "ip", "table": "dnet", "name": "pm_port", "elem": [[{"concat": ["10.0.0.1", "udp", 53]}, 53]]}}}
    ]}`;
    assert.equal(plan.serialize(), compact(want));
  });

  test('sets with timeouts, sizes, ranges in concatenations, element options', () => {
    const tmo = nftSet({
      ...ip,
      name: 'recent',
      type: 'ipv6_addr',
      flags: ['timeout'],
      timeout: 60,
      size: 1024,
    });
    const ranges = nftMap({ ...ip, name: 'ranges', type: KEY3, map: 'ipv4_addr', flags: ['interval'] });
    const plan = new NftPlan()
      .addSet(tmo)
      .addElements(tmo, [expr.elem('fd00::1', { timeout: 30, comment: 'seen' })])
      .addSet(ranges)
      .addElements(ranges, [[expr.concat('10.0.0.1', 'tcp', expr.range(8000, 8010)), '172.17.0.9']]);
    const want = `{"nftables": [
      {"add": {"set": {"family": "ip", "table": "dnet", "name": "recent", "type": "ipv6_addr", "flags": ["timeout"], "timeout": 60, "size": 1024}}},
      {"add": {"element": {"family": "ip", "table": "dnet", "name": "recent", "elem": [{"elem": {"val": "fd00::1", "timeout": 30, "comment": "seen"}}]}}},
      {"add": {"map": {"family": "ip", "table": "dnet", "name": "ranges", "type": ["ipv4_addr", "inet_proto", "inet_service"], "map": "ipv4_addr", "flags": ["interval"]}}},
      {"add": {"element": {"family": "ip", "table": "dnet", "name": "ranges", "elem": [[{"concat": ["10.0.0.1", "tcp", {"range": [8000, 8010]}]}, "172.17.0.9"]]}}}
    ]}`;
    assert.equal(plan.serialize(), compact(want));
  });

  test('plans compose, and the plan object is what applyNft sends', () => {
    const p = new NftPlan().append(natPlan(), filterPlan());
    assert.equal(p.size, natPlan().size + filterPlan().size);
    assert.deepEqual(JSON.parse(p.serialize()), p.toJSON());
    assert.equal(new NftPlan().serialize(), '{"nftables":[]}');
  });
});

/** Asserts that fn throws NftablesPlanError (code ERR_NFT_PLAN, kind invalid) mentioning `what`. */
function rejects(fn: () => unknown, what: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof NftablesPlanError, `expected NftablesPlanError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_NFT_PLAN');
    assert.equal(err.kind, 'invalid');
    assert.match(err.message, what);
    return true;
  });
}

describe('nftables plan builder: bad input is refused', () => {
  test('names', () => {
    for (const bad of [
      '',
      'dnet; flush ruleset',
      'a b',
      '1abc',
      'x'.repeat(65),
      'ta"ble',
      'tab\nle',
      '@set',
    ]) {
      rejects(() => new NftPlan().addTable({ family: 'ip', table: bad }), /table name/);
    }
    rejects(() => new NftPlan().addChain(ip, 'bad name'), /chain name/);
    rejects(() => nftSet({ ...ip, name: 'x/y', type: 'ipv4_addr' }), /set name/);
    rejects(() => stmt.jump('no such!'), /jump target/);
    rejects(() => expr.ref('a b'), /set name/);
    // The longest allowed name passes.
    new NftPlan().addTable({ family: 'ip', table: `t${'x'.repeat(63)}` });
  });

  test('families, chain types, hooks, priorities, policies', () => {
    rejects(() => new NftPlan().addTable({ family: 'arp' as 'ip', table: 't' }), /family/);
    // The bridge family: tables, sets and filter chains; no nat chains.
    new NftPlan()
      .addTable({ family: 'bridge', table: 't' })
      .addChain({ family: 'bridge', table: 't' }, 'c', { type: 'filter', hook: 'forward', prio: -200 });
    rejects(
      () =>
        new NftPlan().addChain({ family: 'bridge', table: 't' }, 'c', {
          type: 'nat',
          hook: 'prerouting',
          prio: 0,
        }),
      /bridge chain type/,
    );
    rejects(
      () => new NftPlan().addChain(ip, 'c', { type: 'nat', hook: 'forward', prio: 0 }),
      /nat chain hook/,
    );
    rejects(
      () => new NftPlan().addChain(ip, 'c', { type: 'filter', hook: 'input', prio: 2 ** 31 }),
      /chain priority/,
    );
    rejects(
      () => new NftPlan().addChain(ip, 'c', { type: 'filter', hook: 'input', prio: 0.5 }),
      /chain priority/,
    );
    rejects(
      () =>
        new NftPlan().addChain(ip, 'c', {
          type: 'filter',
          hook: 'input',
          prio: 0,
          policy: 'reject' as 'drop',
        }),
      /chain policy/,
    );
    rejects(() => new NftPlan().addRule(ip, 'c', []), /rule/);
    rejects(() => new NftPlan().addRule(ip, 'c', [stmt.accept()], { comment: 'x'.repeat(129) }), /comment/);
  });

  test('expression values', () => {
    rejects(() => expr.port(70000), /port/);
    rejects(() => expr.port(-1), /port/);
    rejects(() => expr.port(1.5), /port/);
    rejects(() => expr.prefix('10.0.0.0/33'), /prefix length/);
    rejects(() => expr.prefix('10.0.0.300/8'), /prefix address/);
    rejects(() => expr.prefix('10.0.0.0'), /prefix/);
    rejects(() => expr.ip('1.2.3'), /address/);
    rejects(() => expr.ifname('@evil'), /interface name/);
    rejects(() => expr.ifname('eth*'), /interface name/);
    rejects(() => expr.ifname('a-very-long-interface'), /interface name/);
    rejects(() => expr.proto('tcpx'), /protocol/);
    rejects(() => expr.concat('10.0.0.1'), /concatenation/);
    rejects(() => expr.range(10, 1), /range/);
    rejects(() => expr.payload('ip', 'dport' as 'daddr'), /ip field/);
    rejects(() => expr.meta('secret' as 'mark'), /meta key/);
    rejects(() => stmt.match(expr.meta('mark'), '=~' as '==', 1), /match operator/);
    rejects(() => stmt.dnat({ family: 'ip', addr: 'fd00::1' }), /nat address/);
    rejects(() => stmt.dnat({ family: 'ip', addr: '10.0.0.1', port: 65536 }), /nat port/);
    rejects(() => stmt.dnat({ family: 'ip' }), /nat/);
    rejects(() => stmt.masquerade({ flags: ['sometimes' as 'random'] }), /nat flag/);
  });

  test('set and map definitions', () => {
    rejects(() => nftSet({ ...ip, name: 's', type: 'ipv5_addr' as 'ipv4_addr' }), /set key type/);
    rejects(() => nftSet({ ...ip, name: 's', type: ['ipv4_addr'] }), /concatenation needs at least two/);
    rejects(() => nftMap({ ...ip, name: 'm', type: 'ipv4_addr', map: 'string' as 'mark' }), /map value type/);
    rejects(
      () => nftSet({ ...ip, name: 's', type: 'ipv4_addr', flags: ['dynamic' as 'interval'] }),
      /set flag/,
    );
    rejects(
      () => nftSet({ ...ip, name: 's', type: 'ipv4_addr', flags: ['interval', 'interval'] }),
      /repeated/,
    );
    rejects(() => nftSet({ ...ip, name: 's', type: 'ipv4_addr', timeout: 10 }), /timeout/);
    rejects(() => nftSet({ ...ip, name: 's', type: 'ipv4_addr', size: 0 }), /size/);
  });

  test('elements are checked against their set or map', () => {
    const plan = () => new NftPlan();
    const bad: [NftExpr, RegExp][] = [
      [[expr.concat('10.0.0.1', 'tcp'), '172.17.0.2'], /concat/], // wrong arity
      [[expr.concat('tcp', '10.0.0.1', 80), '172.17.0.2'], /part 1/], // wrong order
      [[expr.concat('10.0.0.1', 'tcp', 70000), '172.17.0.2'], /part 3/], // bad port
      [[expr.concat('10.0.0.1', 'tcp', expr.range(1, 2)), '172.17.0.2'], /interval/], // no interval flag
      [[expr.concat('10.0.0.1', 'tcp', 80), '172.17.0.256'], /value/], // bad address value
      [[expr.concat('10.0.0.1', 'tcp', 80), 'fd00::1'], /value/], // wrong family
      [expr.concat('10.0.0.1', 'tcp', 80), /pair/], // a map needs [key, value]
      [[expr.elem(expr.concat('10.0.0.1', 'tcp', 80), { timeout: 5 }), '172.17.0.2'], /timeout/],
    ];
    for (const [el, why] of bad) rejects(() => plan().addElements(pmAddr, [el]), why);
    rejects(() => plan().addElements(pmAddr, []), /at least one/);
    rejects(() => plan().deleteElements(pmAddr, [expr.concat('10.0.0.1', 'tcp')]), /concat/);
    rejects(() => plan().addElements(bridges, [['br0', { jump: { target: 'x y' } }]]), /jump target/);
    rejects(() => plan().addElements(bridges, [['br0', 'accept']]), /verdict/);
    rejects(() => plan().addElements(bridges, [['@br0', stmt.accept()]]), /key/);
    rejects(() => plan().addElements(trusted, [expr.range('10.0.0.9', '10.0.0.1')]), /low end/);
    rejects(() => plan().addElements(trusted, [{ prefix: { addr: '10.0.0.0', len: 40 } }]), /prefix length/);
    const plain = nftSet({ ...ip, name: 'plain', type: 'ipv4_addr' });
    rejects(() => plan().addElements(plain, [expr.prefix('10.0.0.0/8')]), /interval/);
    // The same values pass where they are allowed.
    plan().addElements(trusted, [expr.range('10.0.0.1', '10.0.0.9'), expr.prefix('10.1.0.0/16')]);
  });
});
