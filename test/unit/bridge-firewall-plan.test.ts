import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  FirewallInputError,
  FirewallPlanner,
  type FwNetwork,
  type FwPort,
  requiredSysctls,
} from '../../src/drivers/bridge/firewall-plan.ts';
import type { NftBatch, NftObject } from '../../src/os/nftables/index.ts';

// The firewall's plans are pure: state in, libnftables JSON out. The kernel test
// (test/kernel/bridge-firewall.test.ts) applies them and sends real traffic.

const one: FwNetwork = {
  id: 'n1',
  bridge: 'br-one',
  subnets4: ['172.20.0.0/16'],
  subnets6: ['fd00:20::/64'],
  icc: true,
  masquerade: true,
  internal: false,
};
// Host bits in a subnet are ignored; internal: no masquerade whatever `masquerade` says.
const two: FwNetwork = {
  id: 'n2',
  bridge: 'br-two',
  subnets4: ['172.21.0.1/24'],
  subnets6: [],
  icc: false,
  masquerade: false,
  internal: true,
};
const p = (x: Partial<FwPort>): FwPort => ({
  family: 4,
  proto: 'tcp',
  hostPort: 8080,
  containerIP: '172.20.0.2',
  containerPort: 80,
  bridge: 'br-one',
  ...x,
  hostPortEnd: x.hostPortEnd ?? x.hostPort ?? 8080,
});
const ports: FwPort[] = [
  p({}),
  p({ proto: 'udp', hostIP: '192.0.2.1', hostPort: 53, hostPortEnd: 53, containerPort: 5353 }),
  p({ family: 6, hostPort: 9000, hostPortEnd: 9009, containerIP: 'fd00:20::2', containerPort: 9000 }),
];

/** `nft list ruleset` of this plan, for the reader (checked by applying it in the kernel test):
 *
 *  table inet dnet {
 *    sets bridges { "br-one", "br-two" }, internal { "br-two" }, intra { "br-one" . "br-one", ... },
 *      nets4 { "br-one" . 172.20.0.0/16, "br-two" . 172.21.0.0/24 }, nets6 { "br-one" . fd00:20::/64 },
 *      masq4 { 172.20.0.0/16 }, masq6 { fd00:20::/64 }
 *    maps pub4_addr { 192.0.2.1 . udp . 53 : 172.20.0.2 }, pub4_port { 192.0.2.1 . udp . 53 : 5353 },
 *      pub4any_addr { tcp . 8080 : 172.20.0.2 }, pub4any_port { tcp . 8080 : 80 },
 *      pub6any_range { tcp . 9000-9009 : fd00:20::2 }, (empty: pub4_range pub4any_range pub6_*)
 *    chain guard       (filter prerouting -150) iifname @bridges ip saddr|daddr 127.0.0.0/8 drop
 *    chain prerouting  (nat prerouting -100)    fib daddr type local jump published
 *    chain output      (nat output -100)        ip6 daddr ::1 return; fib daddr type local jump published
 *    chain published   dnat ip to ip daddr . meta l4proto . th dport map @pub4_addr : ... map @pub4_port
 *                      dnat ip to ip daddr . meta l4proto . th dport map @pub4_range
 *                      meta nfproto ipv4 dnat ip to meta l4proto . th dport map @pub4any_addr : ... @pub4any_port
 *                      meta nfproto ipv4 dnat ip to meta l4proto . th dport map @pub4any_range   (and ip6)
 *    chain postrouting (nat postrouting 100)    ct status dnat oifname . ip saddr @nets4 masquerade (and ip6)
 *                      oifname @bridges ip saddr 127.0.0.0/8 masquerade
 *                      ip saddr @masq4 oifname != @bridges masquerade (and ip6)
 *    chain input       (filter input 0)         iifname @internal fib daddr type local fib daddr . iif type != local drop
 *    chain forward     (filter forward 0)       ct state established,related accept
 *                      iifname . oifname @intra accept; oifname @internal drop; iifname @internal drop
 *                      oifname @bridges ct status dnat accept; oifname @bridges drop
 *  }
 *  table bridge dnet { set icc_off { "dv0123456789" }; chain forward (filter) iifname @icc_off drop }
 */
const INIT_FIXTURE = [
  '{"add":{"table":{"family":"inet","name":"dnet"}}}',
  '{"delete":{"table":{"family":"inet","name":"dnet"}}}',
  '{"add":{"table":{"family":"inet","name":"dnet"}}}',
  '{"add":{"set":{"family":"inet","table":"dnet","name":"bridges","type":"ifname"}}}',
  '{"add":{"set":{"family":"inet","table":"dnet","name":"internal","type":"ifname"}}}',
  '{"add":{"set":{"family":"inet","table":"dnet","name":"intra","type":["ifname","ifname"]}}}',
  '{"add":{"set":{"family":"inet","table":"dnet","name":"nets4","type":["ifname","ipv4_addr"],"flags":["interval"]}}}',
  '{"add":{"set":{"family":"inet","table":"dnet","name":"nets6","type":["ifname","ipv6_addr"],"flags":["interval"]}}}',
  '{"add":{"set":{"family":"inet","table":"dnet","name":"masq4","type":"ipv4_addr","flags":["interval"]}}}',
  '{"add":{"set":{"family":"inet","table":"dnet","name":"masq6","type":"ipv6_addr","flags":["interval"]}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub4_addr","type":["ipv4_addr","inet_proto","inet_service"],"map":"ipv4_addr"}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub4_port","type":["ipv4_addr","inet_proto","inet_service"],"map":"inet_service"}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub4_range","type":["ipv4_addr","inet_proto","inet_service"],"map":"ipv4_addr","flags":["interval"]}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub4any_addr","type":["inet_proto","inet_service"],"map":"ipv4_addr"}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub4any_port","type":["inet_proto","inet_service"],"map":"inet_service"}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub4any_range","type":["inet_proto","inet_service"],"map":"ipv4_addr","flags":["interval"]}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub6_addr","type":["ipv6_addr","inet_proto","inet_service"],"map":"ipv6_addr"}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub6_port","type":["ipv6_addr","inet_proto","inet_service"],"map":"inet_service"}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub6_range","type":["ipv6_addr","inet_proto","inet_service"],"map":"ipv6_addr","flags":["interval"]}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub6any_addr","type":["inet_proto","inet_service"],"map":"ipv6_addr"}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub6any_port","type":["inet_proto","inet_service"],"map":"inet_service"}}}',
  '{"add":{"map":{"family":"inet","table":"dnet","name":"pub6any_range","type":["inet_proto","inet_service"],"map":"ipv6_addr","flags":["interval"]}}}',
  '{"add":{"chain":{"family":"inet","table":"dnet","name":"guard","type":"filter","hook":"prerouting","prio":-150,"policy":"accept"}}}',
  '{"add":{"chain":{"family":"inet","table":"dnet","name":"prerouting","type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}}}',
  '{"add":{"chain":{"family":"inet","table":"dnet","name":"output","type":"nat","hook":"output","prio":-100,"policy":"accept"}}}',
  '{"add":{"chain":{"family":"inet","table":"dnet","name":"published"}}}',
  '{"add":{"chain":{"family":"inet","table":"dnet","name":"postrouting","type":"nat","hook":"postrouting","prio":100,"policy":"accept"}}}',
  '{"add":{"chain":{"family":"inet","table":"dnet","name":"input","type":"filter","hook":"input","prio":0,"policy":"accept"}}}',
  '{"add":{"chain":{"family":"inet","table":"dnet","name":"forward","type":"filter","hook":"forward","prio":0,"policy":"accept"}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"guard","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@bridges"}},{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"127.0.0.0","len":8}}}},{"drop":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"guard","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@bridges"}},{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":{"prefix":{"addr":"127.0.0.0","len":8}}}},{"drop":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"prerouting","expr":[{"match":{"op":"==","left":{"fib":{"result":"type","flags":["daddr"]}},"right":"local"}},{"jump":{"target":"published"}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"output","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"daddr"}},"right":"::1"}},{"return":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"output","expr":[{"match":{"op":"==","left":{"fib":{"result":"type","flags":["daddr"]}},"right":"local"}},{"jump":{"target":"published"}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"published","expr":[{"dnat":{"family":"ip","addr":{"map":{"key":{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub4_addr"}},"port":{"map":{"key":{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub4_port"}}}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"published","expr":[{"dnat":{"family":"ip","addr":{"map":{"key":{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub4_range"}}}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"published","expr":[{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv4"}},{"dnat":{"family":"ip","addr":{"map":{"key":{"concat":[{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub4any_addr"}},"port":{"map":{"key":{"concat":[{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub4any_port"}}}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"published","expr":[{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv4"}},{"dnat":{"family":"ip","addr":{"map":{"key":{"concat":[{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub4any_range"}}}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"published","expr":[{"dnat":{"family":"ip6","addr":{"map":{"key":{"concat":[{"payload":{"protocol":"ip6","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub6_addr"}},"port":{"map":{"key":{"concat":[{"payload":{"protocol":"ip6","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub6_port"}}}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"published","expr":[{"dnat":{"family":"ip6","addr":{"map":{"key":{"concat":[{"payload":{"protocol":"ip6","field":"daddr"}},{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub6_range"}}}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"published","expr":[{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv6"}},{"dnat":{"family":"ip6","addr":{"map":{"key":{"concat":[{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub6any_addr"}},"port":{"map":{"key":{"concat":[{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub6any_port"}}}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"published","expr":[{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv6"}},{"dnat":{"family":"ip6","addr":{"map":{"key":{"concat":[{"meta":{"key":"l4proto"}},{"payload":{"protocol":"th","field":"dport"}}]},"data":"@pub6any_range"}}}}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"postrouting","expr":[{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"match":{"op":"==","left":{"concat":[{"meta":{"key":"oifname"}},{"payload":{"protocol":"ip","field":"saddr"}}]},"right":"@nets4"}},{"masquerade":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"postrouting","expr":[{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"match":{"op":"==","left":{"concat":[{"meta":{"key":"oifname"}},{"payload":{"protocol":"ip6","field":"saddr"}}]},"right":"@nets6"}},{"masquerade":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"postrouting","expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"127.0.0.0","len":8}}}},{"masquerade":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"postrouting","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@masq4"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"masquerade":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"postrouting","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"saddr"}},"right":"@masq6"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"masquerade":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"input","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@internal"}},{"match":{"op":"==","left":{"fib":{"result":"type","flags":["daddr"]}},"right":"local"}},{"match":{"op":"!=","left":{"fib":{"result":"type","flags":["daddr","iif"]}},"right":"local"}},{"drop":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"forward","expr":[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}},{"accept":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"forward","expr":[{"match":{"op":"==","left":{"concat":[{"meta":{"key":"iifname"}},{"meta":{"key":"oifname"}}]},"right":"@intra"}},{"accept":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"forward","expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@internal"}},{"drop":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"forward","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@internal"}},{"drop":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"forward","expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"accept":null}]}}}',
  '{"add":{"rule":{"family":"inet","table":"dnet","chain":"forward","expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"drop":null}]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"bridges","elem":["br-one","br-two"]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"internal","elem":["br-two"]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"intra","elem":[{"concat":["br-one","br-one"]},{"concat":["br-two","br-two"]}]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"nets4","elem":[{"concat":["br-one",{"prefix":{"addr":"172.20.0.0","len":16}}]},{"concat":["br-two",{"prefix":{"addr":"172.21.0.0","len":24}}]}]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"nets6","elem":[{"concat":["br-one",{"prefix":{"addr":"fd00:20::","len":64}}]}]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"masq4","elem":[{"prefix":{"addr":"172.20.0.0","len":16}}]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"masq6","elem":[{"prefix":{"addr":"fd00:20::","len":64}}]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4_addr","elem":[[{"concat":["192.0.2.1","udp",53]},"172.20.0.2"]]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4_port","elem":[[{"concat":["192.0.2.1","udp",53]},5353]]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4any_addr","elem":[[{"concat":["tcp",8080]},"172.20.0.2"]]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4any_port","elem":[[{"concat":["tcp",8080]},80]]}}}',
  '{"add":{"element":{"family":"inet","table":"dnet","name":"pub6any_range","elem":[[{"concat":["tcp",{"range":[9000,9009]}]},"fd00:20::2"]]}}}',
  '{"add":{"table":{"family":"bridge","name":"dnet"}}}',
  '{"delete":{"table":{"family":"bridge","name":"dnet"}}}',
  '{"add":{"table":{"family":"bridge","name":"dnet"}}}',
  '{"add":{"set":{"family":"bridge","table":"dnet","name":"icc_off","type":"ifname"}}}',
  '{"add":{"chain":{"family":"bridge","table":"dnet","name":"forward","type":"filter","hook":"forward","prio":-200,"policy":"accept"}}}',
  '{"add":{"rule":{"family":"bridge","table":"dnet","chain":"forward","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@icc_off"}},{"drop":null}]}}}',
  '{"add":{"element":{"family":"bridge","table":"dnet","name":"icc_off","elem":["dv0123456789"]}}}',
];

const lines = (b: NftBatch) => b.nftables.map((c) => JSON.stringify(c));

/** Number of elements an `add element` / `delete element` command carries. */
function elementOps(b: NftBatch): { commands: number; elements: number } {
  let elements = 0;
  for (const c of b.nftables) {
    const o: NftObject | undefined = 'add' in c ? c.add : 'delete' in c ? c.delete : undefined;
    assert.ok(o && 'element' in o, `only element commands: ${JSON.stringify(c)}`);
    elements += o.element.elem.length;
  }
  return { commands: b.nftables.length, elements };
}

describe('bridge firewall plans', () => {
  const planner = new FirewallPlanner();

  test('init: both tables replaced in one batch, against the fixture', () => {
    const b = planner.init([one, two], ports, [
      { bridge: 'br-two', ifname: 'dv0123456789' },
      { bridge: 'br-one', ifname: 'dvabcdef0123' }, // ICC on: not in the drop set
    ]);
    assert.deepEqual(lines(b), INIT_FIXTURE);
    // The same state gives the same plan (the planner keeps no state).
    assert.deepEqual(
      b,
      planner.init([one, two], ports, [
        { bridge: 'br-two', ifname: 'dv0123456789' },
        { bridge: 'br-one', ifname: 'dvabcdef0123' },
      ]),
    );
  });

  test('another table name names both tables', () => {
    const b = new FirewallPlanner('dnet_test').destroy();
    assert.deepEqual(lines(b), [
      '{"add":{"table":{"family":"inet","name":"dnet_test"}}}',
      '{"delete":{"table":{"family":"inet","name":"dnet_test"}}}',
      '{"add":{"table":{"family":"bridge","name":"dnet_test"}}}',
      '{"delete":{"table":{"family":"bridge","name":"dnet_test"}}}',
    ]);
    assert.throws(() => new FirewallPlanner('no spaces'), /table name/);
  });

  test('addNetwork / removeNetwork: set elements only, removal idempotent (add + delete)', () => {
    assert.deepEqual(lines(planner.addNetwork(one)), [
      '{"add":{"element":{"family":"inet","table":"dnet","name":"bridges","elem":["br-one"]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"intra","elem":[{"concat":["br-one","br-one"]}]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"nets4","elem":[{"concat":["br-one",{"prefix":{"addr":"172.20.0.0","len":16}}]}]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"nets6","elem":[{"concat":["br-one",{"prefix":{"addr":"fd00:20::","len":64}}]}]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"masq4","elem":[{"prefix":{"addr":"172.20.0.0","len":16}}]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"masq6","elem":[{"prefix":{"addr":"fd00:20::","len":64}}]}}}',
    ]);
    const rm = lines(planner.removeNetwork(two));
    assert.deepEqual(rm, [
      '{"add":{"element":{"family":"inet","table":"dnet","name":"bridges","elem":["br-two"]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"internal","elem":["br-two"]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"intra","elem":[{"concat":["br-two","br-two"]}]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"nets4","elem":[{"concat":["br-two",{"prefix":{"addr":"172.21.0.0","len":24}}]}]}}}',
      '{"delete":{"element":{"family":"inet","table":"dnet","name":"bridges","elem":["br-two"]}}}',
      '{"delete":{"element":{"family":"inet","table":"dnet","name":"internal","elem":["br-two"]}}}',
      '{"delete":{"element":{"family":"inet","table":"dnet","name":"intra","elem":[{"concat":["br-two","br-two"]}]}}}',
      '{"delete":{"element":{"family":"inet","table":"dnet","name":"nets4","elem":[{"concat":["br-two",{"prefix":{"addr":"172.21.0.0","len":24}}]}]}}}',
    ]);
  });

  test('endpoints: ICC off adds the veth to the bridge table set; ICC on does nothing', () => {
    const ep = { bridge: 'br-two', ifname: 'dv0123456789' };
    assert.deepEqual(lines(planner.addEndpoints(two, [ep])), [
      '{"add":{"element":{"family":"bridge","table":"dnet","name":"icc_off","elem":["dv0123456789"]}}}',
    ]);
    assert.deepEqual(lines(planner.removeEndpoints(two, [ep])), [
      '{"add":{"element":{"family":"bridge","table":"dnet","name":"icc_off","elem":["dv0123456789"]}}}',
      '{"delete":{"element":{"family":"bridge","table":"dnet","name":"icc_off","elem":["dv0123456789"]}}}',
    ]);
    assert.deepEqual(planner.addEndpoints(one, [{ bridge: 'br-one', ifname: 'dvx' }]), { nftables: [] });
    assert.throws(() => planner.addEndpoints(two, [{ bridge: 'br-one', ifname: 'dvx' }]), FirewallInputError);
    assert.throws(() => planner.init([one], [], [{ bridge: 'nope', ifname: 'dvx' }]), FirewallInputError);
  });

  test('one exact port: 2 elements in 2 commands, however many ports are mapped', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => p({ hostPort: 20000 + i }));
    const full = planner.init([one], many);
    const portElements = full.nftables.filter(
      (c) => 'add' in c && 'element' in c.add && c.add.element.name.startsWith('pub4any_'),
    );
    assert.deepEqual(
      portElements.map((c) => elementOps({ nftables: [c] }).elements),
      [10_000, 10_000],
      'the state: 10,000 mappings',
    );
    const add = planner.addPorts([p({ hostPort: 8081 })]);
    assert.deepEqual(lines(add), [
      '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4any_addr","elem":[[{"concat":["tcp",8081]},"172.20.0.2"]]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4any_port","elem":[[{"concat":["tcp",8081]},80]]}}}',
    ]);
    assert.deepEqual(elementOps(add), { commands: 2, elements: 2 });
    // Removal: add (no-op if present) + delete, per map: 4 commands, 4 element operations.
    const rm = planner.removePorts([p({ hostPort: 8081 })]);
    assert.deepEqual(elementOps(rm), { commands: 4, elements: 4 });
    assert.deepEqual(lines(rm).slice(2), [
      '{"delete":{"element":{"family":"inet","table":"dnet","name":"pub4any_addr","elem":[{"concat":["tcp",8081]}]}}}',
      '{"delete":{"element":{"family":"inet","table":"dnet","name":"pub4any_port","elem":[{"concat":["tcp",8081]}]}}}',
    ]);
    // Ten ports: still two commands, two elements each.
    const ten = Array.from({ length: 10 }, (_, i) => p({ hostPort: 30000 + i }));
    assert.deepEqual(elementOps(planner.addPorts(ten)), { commands: 2, elements: 20 });
  });

  test('ranges: 1:1 is one interval element; a shifted range is one exact mapping per port', () => {
    const same = planner.addPorts([
      p({ hostIP: '192.0.2.1', hostPort: 9000, hostPortEnd: 9099, containerPort: 9000 }),
    ]);
    assert.deepEqual(lines(same), [
      '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4_range","elem":[[{"concat":["192.0.2.1","tcp",{"range":[9000,9099]}]},"172.20.0.2"]]}}}',
    ]);
    const shifted = planner.addPorts([p({ hostPort: 19000, hostPortEnd: 19002, containerPort: 9000 })]);
    assert.deepEqual(lines(shifted), [
      '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4any_addr","elem":[[{"concat":["tcp",19000]},"172.20.0.2"],[{"concat":["tcp",19001]},"172.20.0.2"],[{"concat":["tcp",19002]},"172.20.0.2"]]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"pub4any_port","elem":[[{"concat":["tcp",19000]},9000],[{"concat":["tcp",19001]},9001],[{"concat":["tcp",19002]},9002]]}}}',
    ]);
  });

  test("'0.0.0.0' and '::' mean every host address; addresses are normalised", () => {
    assert.deepEqual(planner.addPorts([p({ hostIP: '0.0.0.0' })]), planner.addPorts([p({})]));
    const v6 = { family: 6 as const, containerIP: 'FD00:20:0::2' };
    assert.deepEqual(planner.addPorts([p({ ...v6, hostIP: '::' })]), planner.addPorts([p({ ...v6 })]));
    assert.deepEqual(lines(planner.addPorts([p({ ...v6, hostIP: '2001:DB8:0:0::1' })])), [
      '{"add":{"element":{"family":"inet","table":"dnet","name":"pub6_addr","elem":[[{"concat":["2001:db8::1","tcp",8080]},"fd00:20::2"]]}}}',
      '{"add":{"element":{"family":"inet","table":"dnet","name":"pub6_port","elem":[[{"concat":["2001:db8::1","tcp",8080]},80]]}}}',
    ]);
  });

  test('bad input is refused before anything is planned', () => {
    const bad: [string, Partial<FwPort>][] = [
      ['family', { family: 5 as 4 }],
      ['protocol', { proto: 'icmp' as 'tcp' }],
      ['container IP', { containerIP: 'fd00::2' }],
      ['container IP', { containerIP: '172.20.0' }],
      ['host IP', { hostIP: '::1' }],
      ['host port', { hostPort: 0, hostPortEnd: 0 }],
      ['host port range', { hostPort: 9000, hostPortEnd: 8999 }],
      ['container port range', { hostPort: 1000, hostPortEnd: 1010, containerPort: 65530 }],
      ['container port', { containerPort: 65536 }],
    ];
    for (const [what, x] of bad) {
      assert.throws(
        () => planner.addPorts([p({}), p(x)]),
        (e: unknown) => e instanceof FirewallInputError && e.message.includes(what),
        what,
      );
    }
    assert.throws(() => planner.addNetwork({ ...one, bridge: 'a/b' }), /bridge name/);
    assert.throws(() => planner.addNetwork({ ...one, subnets4: ['fd00::/64'] }), FirewallInputError);
    assert.throws(() => planner.addNetwork({ ...one, subnets6: ['10.0.0.0/8'] }), FirewallInputError);
    assert.throws(() => planner.addNetwork({ ...one, subnets4: ['10.0.0.0'] }), FirewallInputError);
    assert.throws(() => planner.init([one, one], []), /used twice/);
  });

  test('requiredSysctls: route_localnet on bridges with IPv4 that can publish ports', () => {
    assert.deepEqual(requiredSysctls(one), [['net/ipv4/conf/br-one/route_localnet', '1']]);
    assert.deepEqual(requiredSysctls(two), []); // internal
    assert.deepEqual(requiredSysctls({ ...one, subnets4: [] }), []);
  });
});
