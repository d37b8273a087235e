import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { NetlinkDecodeError } from '../../src/errors/index.ts';
import {
  decodeAddr,
  decodeLink,
  decodeNeigh,
  decodeNftEvent,
  decodeNftRule,
  decodeRoute,
  encodeAddr,
  encodeLinkAdd,
  encodeLinkDel,
  encodeLinkSet,
  encodeNeigh,
  encodeNftGetGen,
  encodeNftRuleDump,
  encodeRoute,
  NLM_F,
  NLMSG,
  parseError,
  parseMessages,
  RTM,
} from '../../src/os/netlink/codec/index.ts';

// A test-only encoder, written independently of src/ (plain byte arrays), to check the
// codec byte for byte.
function nla(type: number, data: number[]): number[] {
  const len = 4 + data.length;
  const out = [len & 0xff, len >> 8, type & 0xff, type >> 8, ...data];
  while (out.length % 4) out.push(0);
  return out;
}
const u32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
const u16 = (v: number) => [v & 0xff, v >> 8];
const str = (s: string) => [...Buffer.from(s), 0];
function msg(type: number, flags: number, seq: number, body: number[]): Buffer {
  const len = 16 + body.length;
  return Buffer.from([...u32(len), ...u16(type), ...u16(flags), ...u32(seq), ...u32(0), ...body]);
}
const NESTED = 0x8000;
const be32 = (v: number) => [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
/** An nf_tables message body: nfgenmsg (family, version 0, res_id big endian) + attributes. */
const nfgen = (family: number, resId = 0) => [family, 0, resId >> 8, resId & 0xff];

describe('netlink codec: encoding, byte for byte', () => {
  test('veth pair with the peer in another namespace', () => {
    const got = encodeLinkAdd({
      kind: 'veth',
      name: 'v0',
      mtu: 1400,
      peer: { name: 'v1', netns: { fd: 7 } },
    }).finish(5);
    const ifinfo = [0, 0, 0, 0, ...u32(0), ...u32(0), ...u32(0)];
    const peer = nla(NESTED | 1, [...ifinfo, ...nla(3, str('v1')), ...nla(28, u32(7))]);
    const body = [
      ...ifinfo,
      ...nla(3, str('v0')),
      ...nla(4, u32(1400)),
      ...nla(NESTED | 18, [...nla(1, str('veth')), ...nla(NESTED | 2, peer)]),
    ];
    assert.deepEqual(got, msg(16, 0x1 | 0x4 | 0x400 | 0x200, 5, body));
  });

  test('link set up + master', () => {
    const got = encodeLinkSet(9, { up: true, master: 3 }).finish(1);
    const body = [0, 0, 0, 0, ...u32(9), ...u32(1), ...u32(1), ...nla(10, u32(3))];
    assert.deepEqual(got, msg(19, 0x5, 1, body));
  });

  test('link set by name (ifindex 0 + IFLA_IFNAME), with addrgenmode none in IFLA_AF_SPEC', () => {
    const got = encodeLinkSet('dv0', { up: true, ipv6AddrGenMode: 'none' }).finish(4);
    const afSpec = nla(NESTED | 26, nla(NESTED | 10, nla(8, [1])));
    const body = [0, 0, 0, 0, ...u32(0), ...u32(1), ...u32(1), ...nla(3, str('dv0')), ...afSpec];
    assert.deepEqual(got, msg(19, 0x5, 4, body));
    assert.throws(() => encodeLinkSet('dv0', { name: 'eth0' }), /index/);
  });

  test('link del by index and by name; link add asking for an echo', () => {
    const ifinfo = (i: number) => [0, 0, 0, 0, ...u32(i), ...u32(0), ...u32(0)];
    assert.deepEqual(encodeLinkDel(7).finish(1), msg(17, 0x5, 1, ifinfo(7)));
    assert.deepEqual(encodeLinkDel('dv0').finish(1), msg(17, 0x5, 1, [...ifinfo(0), ...nla(3, str('dv0'))]));
    const add = encodeLinkAdd({ kind: 'bridge', name: 'b0' }, { echo: true }).finish(1);
    assert.equal(add.readUInt16LE(6), 0x1 | 0x4 | 0x8 | 0x400 | 0x200);
  });

  test('IPv4 address: IFA_LOCAL and IFA_ADDRESS', () => {
    const got = encodeAddr('add', { index: 4, cidr: '10.1.2.3/24' }).finish(2);
    const body = [2, 24, 0, 0, ...u32(4), ...nla(2, [10, 1, 2, 3]), ...nla(1, [10, 1, 2, 3])];
    assert.deepEqual(got, msg(20, 0x605, 2, body));
  });

  test('IPv6 default route via a gateway', () => {
    const got = encodeRoute('replace', { dst: 'default', gateway: 'fd00::1', oif: 2 }).finish(3);
    const gw = [0xfd, 0, ...new Array(13).fill(0), 1];
    const body = [10, 0, 0, 0, 254, 4, 0, 1, ...u32(0), ...nla(5, gw), ...nla(4, u32(2))];
    assert.deepEqual(got, msg(24, 0x505, 3, body));
  });

  test('on-link route carries RTNH_F_ONLINK and link scope without gateway', () => {
    const got = encodeRoute('add', { dst: '10.0.0.0/8', oif: 2, onlink: true }).finish(1);
    assert.equal(got.readUInt8(16 + 6), 253);
    assert.equal(got.readUInt32LE(16 + 8), 4);
  });

  test('VXLAN FDB entry: bridge family, lladdr, dst', () => {
    const got = encodeNeigh('append', {
      index: 6,
      family: 'bridge',
      lladdr: '00:00:00:00:00:00',
      dst: '192.0.2.1',
      flags: 2,
    }).finish(1);
    const body = [
      7,
      0,
      0,
      0,
      ...u32(6),
      ...u16(0x80),
      2,
      0,
      ...nla(1, [192, 0, 2, 1]),
      ...nla(2, [0, 0, 0, 0, 0, 0]),
    ];
    assert.deepEqual(got, msg(28, 0x1 | 0x4 | 0x400 | 0x800, 1, body));
  });

  test('overlay peer entries: FDB replace MAC -> VTEP (self, permanent) and neighbour IP -> MAC', () => {
    // bridge fdb replace 02:42:0a:63:00:05 dev vx dst 192.168.77.12 self permanent
    const fdb = encodeNeigh('replace', {
      index: 9,
      family: 'bridge',
      lladdr: '02:42:0a:63:00:05',
      dst: '192.168.77.12',
      flags: 2,
      state: 0x80,
    }).finish(4);
    const fdbBody = [
      7,
      0,
      0,
      0,
      ...u32(9),
      ...u16(0x80),
      2,
      0,
      ...nla(1, [192, 168, 77, 12]),
      ...nla(2, [0x02, 0x42, 0x0a, 0x63, 0x00, 0x05]),
    ];
    assert.deepEqual(fdb, msg(28, 0x1 | 0x4 | 0x400 | 0x100, 4, fdbBody));
    // ip neigh replace 10.99.0.5 lladdr 02:42:0a:63:00:05 dev vx nud permanent
    const nb = encodeNeigh('replace', {
      index: 9,
      family: 4,
      dst: '10.99.0.5',
      lladdr: '02:42:0a:63:00:05',
      state: 0x80,
    }).finish(5);
    const nbBody = [
      2,
      0,
      0,
      0,
      ...u32(9),
      ...u16(0x80),
      0,
      0,
      ...nla(1, [10, 99, 0, 5]),
      ...nla(2, [0x02, 0x42, 0x0a, 0x63, 0x00, 0x05]),
    ];
    assert.deepEqual(nb, msg(28, 0x1 | 0x4 | 0x400 | 0x100, 5, nbBody));
    // ip neigh del 10.99.0.5 dev vx
    const del = encodeNeigh('del', { index: 9, family: 4, dst: '10.99.0.5' }).finish(6);
    assert.deepEqual(
      del,
      msg(29, 0x1 | 0x4, 6, [2, 0, 0, 0, ...u32(9), ...u16(0x80), 0, 0, ...nla(1, [10, 99, 0, 5])]),
    );
  });

  test('overlay VXLAN device: VNI, port 4789, local VTEP, nolearning, proxy (ARP answered locally)', () => {
    const got = encodeLinkAdd({
      kind: 'vxlan',
      name: 'vx',
      vni: 4096,
      port: 4789,
      local: '192.168.77.11',
      learning: false,
      proxy: true,
    });
    const b = got.finish(1);
    const data = [
      ...nla(1, u32(4096)),
      ...nla(15, [0x12, 0xb5]),
      ...nla(4, [192, 168, 77, 11]),
      ...nla(7, [0]),
      ...nla(11, [1]),
    ];
    const info = [...nla(1, str('vxlan')), ...nla(2 | 0x8000, data)];
    const hex = Buffer.from(nla(18 | 0x8000, info)).toString('hex');
    assert.ok(b.toString('hex').includes(hex), 'IFLA_LINKINFO with the VXLAN attributes, byte for byte');
  });

  test('link set alias (IFLA_IFALIAS, the text without a NUL, as iproute2 sends it)', () => {
    const got = encodeLinkSet(9, { alias: 'dnet:ab12' }).finish(2);
    const body = [0, 0, 0, 0, ...u32(9), ...u32(0), ...u32(0), ...nla(20, [...Buffer.from('dnet:ab12')])];
    assert.deepEqual(got, msg(19, 0x5, 2, body));
    // '' removes the alias: an empty attribute
    const clear = encodeLinkSet(9, { alias: '' }).finish(2);
    assert.deepEqual(clear, msg(19, 0x5, 2, [0, 0, 0, 0, ...u32(9), ...u32(0), ...u32(0), ...nla(20, [])]));
    assert.throws(() => encodeLinkSet(9, { alias: 'x'.repeat(256) }), /at most 255 bytes/);
    assert.throws(() => encodeLinkSet(9, { alias: 'a\0b' }), /no NUL/);
  });

  test('nf_tables: get generation, and a rule dump of one table', () => {
    // NFNL_SUBSYS_NFTABLES (10) << 8 | NFT_MSG_GETGEN (16), NLM_F_REQUEST
    assert.deepEqual(encodeNftGetGen().finish(3), msg(0x0a10, 0x1, 3, nfgen(0)));
    // NFT_MSG_GETRULE (7), NLM_F_REQUEST | NLM_F_DUMP, family NFPROTO_INET (1), NFTA_RULE_TABLE
    assert.deepEqual(
      encodeNftRuleDump('inet', 'dnet').finish(4),
      msg(0x0a07, 0x301, 4, [...nfgen(1), ...nla(1, str('dnet'))]),
    );
    assert.equal(encodeNftRuleDump('bridge', 'dnet').finish(1).readUInt8(16), 7);
  });

  test('bad input is refused before anything is sent', () => {
    assert.throws(() => encodeLinkAdd({ kind: 'bridge', name: 'a-name-that-is-too-long' }), /1-15 bytes/);
    assert.throws(() => encodeLinkAdd({ kind: 'bridge', name: 'a/b' }), /invalid interface name/);
    assert.throws(() => encodeLinkAdd({ kind: 'bridge', name: 'b', mtu: 10 }), /invalid MTU/);
    assert.throws(() => encodeLinkAdd({ kind: 'vxlan', name: 'v', vni: 1 << 24 }), /VNI/);
    assert.throws(() => encodeAddr('add', { index: 1, cidr: '10.0.0.1/33' }), /prefix length/);
    assert.throws(() => encodeAddr('add', { index: 1, cidr: '10.0.0' }));
    assert.throws(() => encodeRoute('add', { dst: 'default' }), /family or a gateway/);
    assert.throws(() => encodeRoute('add', { dst: '10.0.0.0/8', gateway: 'fd00::1' }), /family/);
    assert.throws(() => encodeLinkSet(1, { mac: 'zz:00:00:00:00:00' }), /MAC/);
    assert.throws(() => encodeNeigh('add', { index: 1, family: 4, dst: 'fd00::1' }), /IPv4/);
  });
});

describe('netlink codec: decoding', () => {
  test('a link reply', () => {
    const body = [
      0,
      0,
      1,
      0,
      ...u32(3),
      ...u32(0x1043),
      ...u32(0),
      ...nla(3, str('br0')),
      ...nla(4, u32(1500)),
      ...nla(1, [2, 0, 0, 0, 0, 1]),
      ...nla(16, [6]),
      ...nla(NESTED | 18, [...nla(1, str('bridge')), ...nla(NESTED | 2, nla(5, u32(0)))]),
    ];
    const [m] = parseMessages(msg(16, 0, 1, body));
    assert.ok(m);
    const l = decodeLink(m.payload);
    assert.deepEqual(l, {
      index: 3,
      name: 'br0',
      flags: 0x1043,
      up: true,
      operState: 'up',
      info: { kind: 'bridge', stp: false },
      mtu: 1500,
      mac: '02:00:00:00:00:01',
    });
  });

  test('an error with the kernel extack text', () => {
    const req = msg(16, 5, 9, []);
    const body = [...u32(-17 >>> 0), ...req.subarray(0, 16), ...nla(1, str('File exists here'))];
    const [m] = parseMessages(msg(NLMSG.ERROR, NLM_F.CAPPED | NLM_F.ACK_TLVS, 9, body));
    assert.ok(m);
    assert.deepEqual(parseError(m), { errno: 17, extack: 'File exists here' });
  });

  test('a link with an alias (IFLA_IFALIAS, as the kernel sends it: NUL-terminated)', () => {
    const body = [
      0,
      0,
      1,
      0,
      ...u32(4),
      ...u32(0),
      ...u32(0),
      ...nla(3, str('dv0')),
      ...nla(20, str('dnet:ep1')),
    ];
    const [m] = parseMessages(msg(16, 0, 1, body));
    assert.ok(m);
    assert.equal(decodeLink(m.payload).alias, 'dnet:ep1');
    const none = [0, 0, 1, 0, ...u32(4), ...u32(0), ...u32(0), ...nla(3, str('dv0'))];
    const [n] = parseMessages(msg(16, 0, 1, none));
    assert.ok(n);
    assert.equal(decodeLink(n.payload).alias, undefined);
  });

  test('nf_tables notifications: object changes with their table, and the generation with its process', () => {
    const ev = (type: number, body: number[]) => {
      const [m] = parseMessages(msg(type, 0, 0, body));
      assert.ok(m);
      return decodeNftEvent(m);
    };
    // NFT_MSG_DELTABLE of `inet dnet` (NFTA_TABLE_NAME = 1)
    assert.deepEqual(ev(0x0a02, [...nfgen(1), ...nla(1, str('dnet'))]), {
      kind: 'change',
      op: 'del',
      object: 'table',
      family: 'inet',
      table: 'dnet',
    });
    // NFT_MSG_DELRULE in `bridge dnet` (NFTA_RULE_TABLE = 1, NFTA_RULE_CHAIN = 2)
    assert.deepEqual(ev(0x0a08, [...nfgen(7), ...nla(1, str('dnet')), ...nla(2, str('forward'))]), {
      kind: 'change',
      op: 'del',
      object: 'rule',
      family: 'bridge',
      table: 'dnet',
    });
    // NFT_MSG_NEWSETELEM in an unnamed family number
    assert.deepEqual(ev(0x0a0c, [...nfgen(99), ...nla(1, str('t'))]), {
      kind: 'change',
      op: 'new',
      object: 'element',
      family: 99,
      table: 't',
    });
    // NFT_MSG_NEWGEN: NFTA_GEN_ID, NFTA_GEN_PROC_PID (big endian), NFTA_GEN_PROC_NAME
    assert.deepEqual(
      ev(0x0a0f, [...nfgen(0, 7), ...nla(1, be32(70000)), ...nla(2, be32(4242)), ...nla(3, str('nft'))]),
      { kind: 'gen', id: 70000, pid: 4242, procName: 'nft' },
    );
    assert.throws(() => ev(0x0a0f, nfgen(0)), NetlinkDecodeError);
    // other subsystems (ctnetlink: 1) and nf_tables GET replies are not events
    assert.equal(ev(0x0100, nfgen(2)), undefined);
    assert.equal(ev(0x0a01, [...nfgen(1), ...nla(1, str('dnet'))]), undefined);
    assert.throws(() => ev(0x0a02, [1, 0]), /shorter than nfgenmsg/);
    // a rule of a dump: table and chain
    const [r] = parseMessages(
      msg(0x0a06, 2, 1, [...nfgen(1), ...nla(1, str('dnet')), ...nla(2, str('guard'))]),
    );
    assert.ok(r);
    assert.deepEqual(decodeNftRule(r), { family: 'inet', table: 'dnet', chain: 'guard' });
    const [bad] = parseMessages(msg(0x0a06, 2, 1, [...nfgen(1), ...nla(1, str('dnet'))]));
    assert.ok(bad);
    assert.throws(() => decodeNftRule(bad), /table or chain/);
  });

  test('route, address and neighbour replies', () => {
    const r = decodeRoute(
      Buffer.from([2, 24, 0, 0, 254, 2, 253, 1, ...u32(0), ...nla(1, [10, 0, 0, 0]), ...nla(4, u32(2))]),
    );
    assert.equal(r.dst, '10.0.0.0/24');
    assert.equal(r.oif, 2);
    const a = decodeAddr(
      Buffer.from([10, 64, 0, 0, ...u32(2), ...nla(1, [0xfd, ...new Array(14).fill(0), 2])]),
    );
    assert.equal(a.cidr, 'fd00::2/64');
    const n = decodeNeigh(Buffer.from([2, 0, 0, 0, ...u32(2), ...u16(0x80), 0, 0, ...nla(1, [10, 0, 0, 9])]));
    assert.equal(n.dst, '10.0.0.9');
  });

  test('truncated or corrupted messages are a NetlinkDecodeError, never a crash', () => {
    const good = encodeLinkAdd({ kind: 'veth', name: 'v0', peer: { name: 'v1' } }).finish(1);
    // every truncation of a valid message
    for (let n = 0; n < good.length; n++) {
      const cut = Buffer.from(good.subarray(0, n));
      try {
        for (const m of parseMessages(cut)) decodeLink(m.payload);
      } catch (err) {
        assert.ok(err instanceof NetlinkDecodeError, `length ${n}: ${String(err)}`);
      }
    }
    // random garbage with a plausible header
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(16 + (i % 200));
      b.writeUInt32LE(b.length, 0);
      const [m] = parseMessages(b);
      assert.ok(m);
      for (const dec of [decodeLink, decodeAddr, decodeRoute, decodeNeigh]) {
        try {
          dec(m.payload);
        } catch (err) {
          assert.ok(err instanceof NetlinkDecodeError || err instanceof RangeError, String(err));
        }
      }
      // the same bytes as nf_tables notifications and rule dump entries
      for (const type of [0x0a02, 0x0a06, 0x0a0c, 0x0a0f]) {
        const nm = { ...m, type };
        for (const dec of [decodeNftEvent, decodeNftRule]) {
          try {
            dec(nm);
          } catch (err) {
            assert.ok(err instanceof NetlinkDecodeError, String(err));
          }
        }
      }
    }
    assert.throws(() => parseMessages(Buffer.from([40, 0, 0, 0, 16, 0])), NetlinkDecodeError);
    assert.throws(() => decodeLink(Buffer.alloc(8)), /shorter than ifinfomsg/);
    assert.equal(RTM.NEWLINK, 16);
  });
});

describe('netlink codec: macvlan, vlan, ipvlan and dummy links, byte for byte', () => {
  const ifinfo = [0, 0, 0, 0, ...u32(0), ...u32(0), ...u32(0)];
  const flags = NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL;
  test('macvlan in bridge mode, made in another namespace (`ip link add link 2 name mv0 netns N type macvlan mode bridge`)', () => {
    const got = encodeLinkAdd({
      kind: 'macvlan',
      name: 'mv0',
      parent: 2,
      mode: 'bridge',
      netns: { fd: 9 },
    }).finish(3);
    const body = [
      ...ifinfo,
      ...nla(3, str('mv0')),
      ...nla(28, u32(9)),
      ...nla(5, u32(2)), // IFLA_LINK: the parent
      ...nla(NESTED | 18, [...nla(1, str('macvlan')), ...nla(NESTED | 2, nla(1, u32(4)))]),
    ];
    assert.deepEqual(got, msg(RTM.NEWLINK, flags, 3, body));
  });
  test('macvlan modes: private 1, vepa 2, bridge 4, passthru 8 (IFLA_MACVLAN_MODE)', () => {
    for (const [mode, v] of [
      ['private', 1],
      ['vepa', 2],
      ['bridge', 4],
      ['passthru', 8],
    ] as const) {
      const got = encodeLinkAdd({ kind: 'macvlan', name: 'm', parent: 7, mode }).finish(1);
      const body = [
        ...ifinfo,
        ...nla(3, str('m')),
        ...nla(5, u32(7)),
        ...nla(NESTED | 18, [...nla(1, str('macvlan')), ...nla(NESTED | 2, nla(1, u32(v)))]),
      ];
      assert.deepEqual(got, msg(RTM.NEWLINK, flags, 1, body));
    }
  });
  test('802.1q sub-interface (`ip link add link 4 name eth0.10 type vlan id 10`)', () => {
    const got = encodeLinkAdd({ kind: 'vlan', name: 'eth0.10', parent: 4, vlanId: 10 }).finish(2);
    const body = [
      ...ifinfo,
      ...nla(3, str('eth0.10')),
      ...nla(5, u32(4)),
      ...nla(NESTED | 18, [...nla(1, str('vlan')), ...nla(NESTED | 2, nla(1, u16(10)))]),
    ];
    assert.deepEqual(got, msg(RTM.NEWLINK, flags, 2, body));
    assert.throws(() => encodeLinkAdd({ kind: 'vlan', name: 'x', parent: 4, vlanId: 4095 }), /1-4094/);
    assert.throws(() => encodeLinkAdd({ kind: 'vlan', name: 'x', parent: 4, vlanId: 0 }), /1-4094/);
  });
  test('ipvlan l3 private (`ip link add link 4 name iv0 type ipvlan mode l3 private`)', () => {
    const got = encodeLinkAdd({ kind: 'ipvlan', name: 'iv0', parent: 4, mode: 'l3', flag: 'private' }).finish(
      2,
    );
    const data = [...nla(1, u16(1)), ...nla(2, u16(1))];
    const body = [
      ...ifinfo,
      ...nla(3, str('iv0')),
      ...nla(5, u32(4)),
      ...nla(NESTED | 18, [...nla(1, str('ipvlan')), ...nla(NESTED | 2, data)]),
    ];
    assert.deepEqual(got, msg(RTM.NEWLINK, flags, 2, body));
  });
  test('dummy (`ip link add dm-0 type dummy`): kind only', () => {
    const got = encodeLinkAdd({ kind: 'dummy', name: 'dm-0' }).finish(2);
    const body = [...ifinfo, ...nla(3, str('dm-0')), ...nla(NESTED | 18, nla(1, str('dummy')))];
    assert.deepEqual(got, msg(RTM.NEWLINK, flags, 2, body));
  });
  test('decoded back', () => {
    const back = (w: { finish(seq?: number): Buffer }) => {
      const [m] = parseMessages(w.finish(1));
      assert.ok(m);
      return decodeLink(m.payload);
    };
    const v = back(encodeLinkAdd({ kind: 'vlan', name: 'e.10', parent: 4, vlanId: 10 }));
    assert.deepEqual([v.info, v.parentIndex], [{ kind: 'vlan', vlanId: 10 }, 4]);
    const i = back(encodeLinkAdd({ kind: 'ipvlan', name: 'iv', parent: 4, mode: 'l3s', flag: 'vepa' }));
    assert.deepEqual(i.info, { kind: 'ipvlan', mode: 'l3s', flag: 'vepa' });
    assert.deepEqual(back(encodeLinkAdd({ kind: 'dummy', name: 'd' })).info, { kind: 'dummy' });
    const m = back(encodeLinkAdd({ kind: 'macvlan', name: 'm', parent: 4, mode: 'passthru' }));
    assert.deepEqual(m.info, { kind: 'macvlan', mode: 'passthru' });
  });
});

describe('netlink codec: round trips (what we encode, we decode to the same thing)', () => {
  const body = (w: { finish(seq?: number): Buffer }) => {
    const [m] = parseMessages(w.finish(1));
    assert.ok(m);
    return m.payload;
  };
  test('links of every kind', () => {
    const l = decodeLink(
      body(
        encodeLinkAdd({
          kind: 'vxlan',
          name: 'vx0',
          vni: 77,
          port: 4789,
          local: '192.0.2.1',
          learning: false,
          mtu: 1450,
          mac: '02:00:00:00:00:09',
        }),
      ),
    );
    assert.deepEqual([l.name, l.mtu, l.mac], ['vx0', 1450, '02:00:00:00:00:09']);
    assert.deepEqual(l.info, { kind: 'vxlan', vni: 77, port: 4789, local: '192.0.2.1', learning: false });
    const b = decodeLink(body(encodeLinkAdd({ kind: 'bridge', name: 'br0', stp: true })));
    assert.deepEqual(b.info, { kind: 'bridge', stp: true });
    const m = decodeLink(body(encodeLinkAdd({ kind: 'macvlan', name: 'mv0', parent: 2, mode: 'bridge' })));
    assert.deepEqual([m.info, m.parentIndex], [{ kind: 'macvlan', mode: 'bridge' }, 2]);
    assert.deepEqual(
      decodeLink(body(encodeLinkAdd({ kind: 'veth', name: 'v0', peer: { name: 'v1' } }))).info,
      {
        kind: 'veth',
      },
    );
  });
  test('addresses, routes, neighbours', () => {
    for (const cidr of ['10.1.2.3/24', 'fd00::5/64']) {
      assert.equal(decodeAddr(body(encodeAddr('add', { index: 3, cidr }))).cidr, cidr);
    }
    for (const spec of [
      { dst: '10.0.0.0/8', gateway: '192.0.2.1', oif: 4, priority: 10 },
      { dst: 'default', gateway: 'fd00::1' },
      { dst: '2001:db8::/32', oif: 2, table: 1000 },
    ]) {
      const r = decodeRoute(body(encodeRoute('add', spec)));
      assert.equal(r.dst, spec.dst);
      assert.equal(r.gateway, spec.gateway);
      assert.equal(r.oif, spec.oif);
      assert.equal(r.priority, spec.priority);
      assert.equal(r.table, spec.table ?? 254);
    }
    const n = decodeNeigh(
      body(encodeNeigh('replace', { index: 5, family: 6, dst: 'fd00::9', lladdr: '02:00:00:00:00:01' })),
    );
    assert.deepEqual([n.index, n.family, n.dst, n.lladdr], [5, 6, 'fd00::9', '02:00:00:00:00:01']);
  });
});
