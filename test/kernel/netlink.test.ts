import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { NetlinkError } from '../../src/errors/index.ts';
import { NetlinkHandle, NTF, NUD } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../../src/os/netns/index.ts';
import { world } from '../harness/world.ts';

// Reads what iproute2 sees, to check our results against an independent implementation.
function ipJson<T>(args: string[], netns?: string): T {
  const argv = netns ? ['-n', netns, '-j', ...args] : ['-j', ...args];
  return JSON.parse(
    execFileSync('ip', argv, { env: { ...process.env, IP_NETNS_DIR: undefined } }).toString() || '[]',
  ) as T;
}

interface IpLink {
  ifname: string;
  mtu: number;
  address: string;
  master?: string;
  flags: string[];
  linkinfo?: { info_kind: string; info_data?: Record<string, unknown> };
}
interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
  flags: string[];
}

const h = NetlinkHandle.open();
const ns = 'nl-test';
createNetns(ns);
const fd = openNetns(ns);
const c = NetlinkHandle.open({ netns: { fd } });

after(() => {
  c.close();
  h.close();
  closeSync(fd);
  deleteNetns(ns);
});

describe('links', () => {
  test('bridge and veth, attached, up, with MTU and MAC; read back equals `ip -j link`', () => {
    h.linkAdd({ kind: 'bridge', name: 'tbr0', up: true, mtu: 1450 });
    h.linkAdd({ kind: 'veth', name: 'tv0', mtu: 1450, peer: { name: 'tv1' } });
    h.linkSet('tv0', { master: 'tbr0', up: true, mac: '02:42:ac:11:00:02' });
    const ours = h.linkGet('tv0');
    assert.ok(ours);
    const [ip] = ipJson<IpLink[]>(['-d', 'link', 'show', 'tv0']);
    assert.ok(ip);
    assert.equal(ours.mtu, ip.mtu);
    assert.equal(ours.mac, ip.address);
    assert.equal(ip.master, 'tbr0');
    assert.equal(ours.master, h.linkIndex('tbr0'));
    assert.equal(ours.info.kind, 'veth');
    assert.ok(ip.flags.includes('UP'));
    const names = h.linkList().map((l) => l.name);
    assert.deepEqual(
      names.sort(),
      ipJson<IpLink[]>(['link'])
        .map((l) => l.ifname)
        .sort(),
    );
    h.linkSet('tv0', { master: null, up: false });
    assert.equal(h.linkGet('tv0')?.master, undefined);
    assert.equal(h.linkGet('tv0')?.up, false);
  });

  test('move a veth end into a namespace by fd, rename it there, bring it up', () => {
    h.linkSet('tv1', { netns: { fd } });
    assert.equal(h.linkGet('tv1'), undefined);
    c.linkSet('tv1', { name: 'eth0', up: true, mtu: 1400 });
    c.linkSet('lo', { up: true });
    const [ip] = ipJson<IpLink[]>(['link', 'show', 'eth0'], ns);
    assert.equal(ip?.mtu, 1400);
    assert.ok(ip?.flags.includes('UP'));
  });

  test('a veth created with its peer directly in another namespace, and moved back by pid', () => {
    h.linkAdd({ kind: 'veth', name: 'tp0', peer: { name: 'tp1', netns: { fd } } });
    assert.ok(c.linkGet('tp1'));
    c.linkSet('tp1', { netns: { pid: process.pid } });
    assert.ok(h.linkGet('tp1'));
    h.linkDel('tp0');
    assert.equal(h.linkGet('tp1'), undefined, 'deleting one end of a veth removes both');
  });

  test('link add returns the new ifindex; set and delete by name; addrgenmode none read back by `ip -d`', () => {
    const index = h.linkAdd({ kind: 'veth', name: 'tg0', peer: { name: 'tg1' } });
    assert.equal(index, h.linkIndex('tg0'));
    h.linkSet('tg0', { up: true, ipv6AddrGenMode: 'none' });
    const [ip] = ipJson<(IpLink & { inet6_addr_gen_mode?: string })[]>(['-d', 'link', 'show', 'tg0']);
    assert.equal(ip?.inet6_addr_gen_mode, 'none');
    assert.ok(ip?.flags.includes('UP'));
    assert.throws(
      () => h.linkSet('nonexistent0', { up: true }),
      (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENODEV',
    );
    h.linkDel('tg0');
    assert.equal(h.linkGet('tg1'), undefined);
  });

  test('vxlan with VNI, port, local address; read back', () => {
    h.linkAdd({ kind: 'vxlan', name: 'tvx0', vni: 4242, port: 4789, local: '192.0.2.10', learning: false });
    const l = h.linkGet('tvx0');
    assert.deepEqual(l?.info, { kind: 'vxlan', vni: 4242, port: 4789, local: '192.0.2.10', learning: false });
    const [ip] = ipJson<IpLink[]>(['-d', 'link', 'show', 'tvx0']);
    assert.equal(ip?.linkinfo?.info_kind, 'vxlan');
    assert.equal(ip?.linkinfo?.info_data?.id, 4242);
    assert.equal(ip?.linkinfo?.info_data?.port, 4789);
  });

  test('macvlan on a parent link, bridge mode', () => {
    h.linkAdd({ kind: 'veth', name: 'tmp0', peer: { name: 'tmp1' } });
    h.linkAdd({ kind: 'macvlan', name: 'tmv0', parent: h.linkIndex('tmp0'), mode: 'bridge' });
    const l = h.linkGet('tmv0');
    assert.deepEqual(l?.info, { kind: 'macvlan', mode: 'bridge' });
    assert.equal(l?.parentIndex, h.linkIndex('tmp0'));
    const [ip] = ipJson<IpLink[]>(['-d', 'link', 'show', 'tmv0']);
    assert.equal(ip?.linkinfo?.info_data?.mode, 'bridge');
  });

  test('errors carry errno name and the kernel extack text', () => {
    assert.throws(
      () => h.linkAdd({ kind: 'bridge', name: 'tbr0' }),
      (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EEXIST' && e.code === 'ERR_NETLINK',
    );
    assert.throws(
      () => h.linkAdd({ kind: 'macvlan', name: 'tmv1', parent: 99999, mode: 'bridge' }),
      (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENODEV',
    );
    // A second VXLAN with the same VNI and port: the kernel explains in its extack text.
    assert.throws(
      () => h.linkAdd({ kind: 'vxlan', name: 'tvx1', vni: 4242, port: 4789, local: '192.0.2.10' }),
      (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EEXIST' && typeof e.extack === 'string',
    );
    assert.throws(
      () => h.linkDel('nonexistent0'),
      (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENODEV',
    );
    assert.equal(h.linkDelIfExists('nonexistent0'), false);
    assert.equal(h.linkGet('nonexistent0'), undefined);
  });
});

describe('addresses and routes', () => {
  test('IPv4 and IPv6 addresses; read back equals `ip -j addr`', () => {
    h.addrAdd('tbr0', '10.88.0.1/24');
    h.addrAdd('tbr0', 'fd88::1/64', { noDad: true });
    c.addrAdd('eth0', '10.88.0.2/24');
    c.addrAdd('eth0', 'fd88::2/64', { noDad: true });
    const ours = h
      .addrList('tbr0')
      .map((a) => a.cidr)
      .filter((x) => !x.startsWith('fe80'));
    const [ip] = ipJson<IpAddr[]>(['addr', 'show', 'tbr0']);
    const theirs = (ip?.addr_info ?? [])
      .map((a) => `${a.local}/${a.prefixlen}`)
      .filter((x) => !x.startsWith('fe80'));
    assert.deepEqual(ours.sort(), theirs.sort());
    assert.deepEqual(
      c.addrList('eth0', 4).map((a) => a.cidr),
      ['10.88.0.2/24'],
    );
    assert.throws(
      () => h.addrAdd('tbr0', '10.88.0.1/24'),
      (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EEXIST',
    );
    assert.equal(h.addrDel('tbr0', '10.88.0.1/24'), true);
    assert.equal(h.addrDel('tbr0', '10.88.0.1/24'), false);
    h.addrReplace('tbr0', '10.88.0.1/24');
  });

  test('default routes (v4 and v6), a static route, an on-link route; read back equals `ip -j route`', () => {
    c.routeAdd({ dst: 'default', gateway: '10.88.0.1' });
    c.routeAdd({ dst: 'default', gateway: 'fd88::1', oif: 'eth0' });
    c.routeAdd({ dst: '198.51.100.0/24', gateway: '10.88.0.1' });
    // on-link: the gateway is not in any connected subnet
    c.routeAdd({ dst: '203.0.113.0/24', gateway: '192.0.2.1', oif: 'eth0', onlink: true });
    const ours = c.routeList({ family: 4 });
    const theirs = ipJson<IpRoute[]>(['-4', 'route'], ns);
    assert.deepEqual(
      ours.map((r) => `${r.dst} ${r.gateway ?? '-'}`).sort(),
      theirs
        .map(
          (r) => `${r.dst.includes('/') || r.dst === 'default' ? r.dst : `${r.dst}/32`} ${r.gateway ?? '-'}`,
        )
        .sort(),
    );
    assert.ok(theirs.find((r) => r.dst === '203.0.113.0/24')?.flags.includes('onlink'));
    const v6 = c.routeList({ family: 6 }).find((r) => r.dst === 'default');
    assert.equal(v6?.gateway, 'fd88::1');
    c.routeReplace({ dst: '198.51.100.0/24', gateway: '10.88.0.1', priority: 50 });
    assert.equal(c.routeDel({ dst: '198.51.100.0/24', gateway: '10.88.0.1' }), true);
    assert.equal(c.routeDel({ dst: '198.51.100.0/24' }), true, 'replace added a second route (metric 50)');
    assert.equal(c.routeDel({ dst: '198.51.100.0/24' }), false);
    assert.throws(
      () => c.routeAdd({ dst: '10.99.0.0/16', gateway: '172.31.0.1' }),
      (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENETUNREACH',
    );
  });

  test('traffic flows: TCP from the namespace to the bridge address across the veth pair', async () => {
    h.linkSet('tv0', { master: 'tbr0', up: true });
    const server = createServer((sock) => sock.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '10.88.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const script = `require('net').connect(${port}, '10.88.0.1').on('data', (d) => process.stdout.write(d))`;
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          'ip',
          ['netns', 'exec', ns, process.execPath, '-e', script],
          { timeout: 10_000 },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        ),
      );
      assert.equal(out, 'hello');
    } finally {
      server.close();
    }
  });
});

describe('neighbours', () => {
  test('ARP entry and VXLAN FDB entries', () => {
    h.neighAdd({ link: 'tbr0', family: 4, dst: '10.88.0.77', lladdr: '02:00:00:00:00:77' });
    const n = h.neighList(4, 'tbr0').find((x) => x.dst === '10.88.0.77');
    assert.equal(n?.lladdr, '02:00:00:00:00:77');
    assert.equal(n?.state, NUD.PERMANENT);
    h.neighAppend({
      link: 'tvx0',
      family: 'bridge',
      lladdr: '00:00:00:00:00:00',
      dst: '192.0.2.20',
      flags: NTF.SELF,
    });
    h.neighAppend({
      link: 'tvx0',
      family: 'bridge',
      lladdr: '00:00:00:00:00:00',
      dst: '192.0.2.21',
      flags: NTF.SELF,
    });
    const fdb = h.neighList('bridge', 'tvx0').filter((x) => x.lladdr === '00:00:00:00:00:00');
    assert.deepEqual(fdb.map((x) => x.dst).sort(), ['192.0.2.20', '192.0.2.21']);
    const bridgeFdb = execFileSync('bridge', ['-j', 'fdb', 'show', 'dev', 'tvx0']).toString();
    assert.match(bridgeFdb, /192\.0\.2\.21/);
    assert.equal(h.neighDel({ link: 'tbr0', family: 4, dst: '10.88.0.77' }), true);
    assert.equal(h.neighDel({ link: 'tbr0', family: 4, dst: '10.88.0.77' }), false);
  });
});

describe('bridge ports', () => {
  test('hairpin and isolated flags; read back equals `bridge -d -j link`', () => {
    h.linkAdd({ kind: 'bridge', name: 'hbr0', up: true });
    h.linkAdd({ kind: 'veth', name: 'hp0', master: h.linkIndex('hbr0'), peer: { name: 'hp1' } });
    h.bridgePortSet('hp0', { hairpin: true, isolated: true });
    type Port = { ifname: string; hairpin?: boolean; isolated?: boolean };
    const read = () =>
      (
        JSON.parse(execFileSync('bridge', ['-d', '-j', 'link', 'show', 'dev', 'hp0']).toString()) as Port[]
      )[0];
    assert.deepEqual([read()?.hairpin, read()?.isolated], [true, true]);
    h.bridgePortSet('hp0', { hairpin: false });
    assert.equal(read()?.hairpin, false);
    assert.throws(
      () => h.bridgePortSet('hbr0', { hairpin: true }),
      NetlinkError,
      'a bridge is not a bridge port',
    );
    h.linkDel('hp0');
    h.linkDel('hbr0');
  });
});

describe('cleanup', () => {
  test('deleting what we made leaves only loopback', () => {
    for (const name of ['tbr0', 'tv0', 'tvx0', 'tmv0', 'tmp0']) h.linkDel(name);
    assert.deepEqual(
      h.linkList().map((l) => l.name),
      ['lo'],
    );
    assert.ok(world.runDir);
  });
});
