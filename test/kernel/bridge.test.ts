import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BridgeConflictError } from '../../src/drivers/bridge/index.ts';
import { InvalidOptionError, type Network, NetworkController } from '../../src/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../../src/os/netns/index.ts';
import { world } from '../harness/world.ts';
import { request, type Server, startServer } from '../helpers/traffic.ts';

// The world's root namespace plays the host. A "remote host" namespace hangs off it through a
// veth (203.0.113.0/24, fd99::/64) and knows no route to any container subnet.
const HOST_IP = '203.0.113.1';
const HOST_IP6 = 'fd99::1';
const REMOTE = '/run/netns/remote';

const nl = NetlinkHandle.open();
let ctl: NetworkController;
const servers: Server[] = [];

before(async () => {
  createNetns('remote');
  const fd = openNetns('remote');
  nl.linkAdd({ kind: 'veth', name: 'rh0', up: true, peer: { name: 'eth0', netns: { fd } } });
  closeSync(fd);
  const rnl = NetlinkHandle.open({ netns: { path: REMOTE } });
  rnl.linkSet('lo', { up: true });
  rnl.linkSet('eth0', { up: true });
  rnl.addrAdd('eth0', '203.0.113.2/24');
  rnl.addrAdd('eth0', 'fd99::2/64', { noDad: true });
  rnl.close();
  nl.addrAdd('rh0', `${HOST_IP}/24`);
  nl.addrAdd('rh0', `${HOST_IP6}/64`, { noDad: true });
  ctl = await NetworkController.create({ runDir: join(world.runDir, 'dnet') });
});

after(async () => {
  for (const s of servers) s.stop();
  await ctl.close();
  deleteNetns('remote');
});

async function serve(nsPath: string, proto: 'tcp' | 'udp', host: string, port: number): Promise<void> {
  servers.push(await startServer(nsPath, proto, host, port));
}

async function container(n: Network, name: string, opts: Parameters<Network['createEndpoint']>[1] = {}) {
  const ep = await n.createEndpoint(name, opts);
  const { sandboxKey } = await ep.join(name, { hostname: name });
  const info = await ep.info();
  return { ep, key: sandboxKey, ip: (info.ipv4Address ?? '').split('/')[0] ?? '', info };
}

describe('bridge networks', () => {
  test('a bridge with the gateway, containers with eth0, MAC from the IP, default route', async () => {
    const n = await ctl.newNetwork('bridge', 'b1', {
      ipam: { config: [{ subnet: '10.10.0.0/24' }] },
      options: { 'com.docker.network.bridge.name': 'dnetb1', 'com.docker.network.driver.mtu': '1400' },
    });
    const br = nl.linkGet('dnetb1');
    assert.equal(br?.info.kind, 'bridge');
    assert.equal(br?.mtu, 1400);
    assert.deepEqual(
      nl.addrList('dnetb1', 4).map((a) => a.cidr),
      ['10.10.0.1/24'],
    );
    const c = await container(n, 'c1');
    assert.equal(c.info.macAddress, '02:42:0a:0a:00:02');
    const inside = JSON.parse(
      execFileSync('nsenter', [`--net=${c.key}`, 'ip', '-j', 'addr', 'show', 'eth0']).toString(),
    );
    assert.equal(inside[0].address, '02:42:0a:0a:00:02');
    assert.equal(inside[0].mtu, 1400);
    const hostVeth = nl
      .linkList()
      .find((l) => l.name.startsWith('dv') && l.name === `dv${c.ep.id.slice(0, 10)}`);
    assert.ok(hostVeth, 'the host end is named after the endpoint');
    assert.equal(hostVeth.master, br?.index);
    await c.ep.leave('c1');
    // Disconnected when leave returns: the veth (if the kernel has not removed it yet) has no
    // carrier, so its bridge port forwards nothing; it is gone once the background is done.
    const dying = nl.linkGet(`dv${c.ep.id.slice(0, 10)}`);
    if (dying) assert.notEqual(dying.operState, 'up', 'the host end of a dying veth has no carrier');
    await c.ep.delete();
    await ctl.settled();
    assert.equal(nl.linkGet(`dv${c.ep.id.slice(0, 10)}`), undefined);
    await n.delete();
    assert.equal(nl.linkGet('dnetb1'), undefined);
  });

  test('bad options name the option; a name clash is a clear error', async () => {
    for (const [k, v] of [
      ['com.docker.network.driver.mtu', '12'],
      ['com.docker.network.bridge.enable_icc', 'maybe'],
      ['com.docker.network.bridge.name', 'way-too-long-bridge-name'],
      ['com.docker.network.bridge.host_binding_ipv4', '1.2.3'],
      ['com.docker.network.bridge.bogus', 'x'],
    ] as const) {
      await assert.rejects(ctl.newNetwork('bridge', 'bad', { options: { [k]: v } }), (e: unknown) => {
        assert.ok(e instanceof InvalidOptionError, String(e));
        assert.match(e.message, new RegExp(k.replaceAll('.', '\\.')));
        return true;
      });
    }
    nl.linkAdd({ kind: 'veth', name: 'notabr', peer: { name: 'notabrp' } });
    await assert.rejects(
      ctl.newNetwork('bridge', 'clash', { options: { 'com.docker.network.bridge.name': 'notabr' } }),
      BridgeConflictError,
    );
    nl.linkDel('notabr');
    const a = await ctl.newNetwork('bridge', 'owner', {
      options: { 'com.docker.network.bridge.name': 'shared0' },
    });
    await assert.rejects(
      ctl.newNetwork('bridge', 'thief', { options: { 'com.docker.network.bridge.name': 'shared0' } }),
      BridgeConflictError,
    );
    await a.delete();
    assert.equal(ctl.networkByName('bad'), undefined);
    await assert.rejects(ctl.configureNetworkDriver('bridge', { userlandProxy: 'yes' }), InvalidOptionError);
  });

  test('an existing compatible bridge is reused and kept after the network goes', async () => {
    nl.linkAdd({ kind: 'bridge', name: 'mybr0' });
    const n = await ctl.newNetwork('bridge', 'reuse', {
      ipam: { config: [{ subnet: '10.11.0.0/24' }] },
      options: { 'com.docker.network.bridge.name': 'mybr0' },
    });
    assert.deepEqual(
      nl.addrList('mybr0', 4).map((a) => a.cidr),
      ['10.11.0.1/24'],
    );
    await n.delete();
    assert.ok(nl.linkGet('mybr0'), 'a bridge dnet did not create is not deleted');
    assert.deepEqual(nl.addrList('mybr0', 4), []);
    nl.linkDel('mybr0');
  });
});

describe('traffic', () => {
  let n1: Network;
  let n2: Network;
  before(async () => {
    n1 = await ctl.newNetwork('bridge', 'net1', { ipam: { config: [{ subnet: '10.20.0.0/24' }] } });
    n2 = await ctl.newNetwork('bridge', 'net2', { ipam: { config: [{ subnet: '10.21.0.0/24' }] } });
  });

  test('containers on one network reach each other; on two networks they cannot', async () => {
    const a = await container(n1, 'ta');
    const b = await container(n1, 'tb');
    const c = await container(n2, 'tc');
    await serve(b.key, 'tcp', '0.0.0.0', 7000);
    await serve(c.key, 'tcp', '0.0.0.0', 7000);
    assert.equal(await request(a.key, 'tcp', b.ip, 7000), `from ${a.ip}`);
    assert.match(await request(a.key, 'tcp', c.ip, 7000, 800), /^FAIL/);
    assert.match(await request(c.key, 'tcp', a.ip, 7000, 800), /^FAIL/);
    for (const x of [a, b, c]) {
      await x.ep.leave(x.ep.name);
      await x.ep.delete();
    }
  });

  test('ICC off: containers on the network cannot reach each other, but reach the gateway', async () => {
    const n = await ctl.newNetwork('bridge', 'noicc', {
      ipam: { config: [{ subnet: '10.22.0.0/24' }] },
      options: { 'com.docker.network.bridge.enable_icc': 'false' },
    });
    const a = await container(n, 'ia');
    const b = await container(n, 'ib');
    await serve(b.key, 'tcp', '0.0.0.0', 7001);
    assert.match(await request(a.key, 'tcp', b.ip, 7001, 800), /^FAIL/);
    const gw = await startServer(undefined, 'tcp', '10.22.0.1', 7002);
    try {
      assert.equal(await request(a.key, 'tcp', '10.22.0.1', 7002), `from ${a.ip}`);
    } finally {
      gw.stop();
    }
    for (const x of [a, b]) {
      await x.ep.leave(x.ep.name);
      await x.ep.delete();
    }
    await n.delete();
  });

  test("outbound: a normal network reaches the remote host with the host's address; an internal one does not", async () => {
    await serve(REMOTE, 'tcp', '0.0.0.0', 8000);
    const a = await container(n1, 'oa');
    assert.equal(await request(a.key, 'tcp', '203.0.113.2', 8000), `from ${HOST_IP}`);
    const internal = await ctl.newNetwork('bridge', 'int1', {
      internal: true,
      ipam: { config: [{ subnet: '10.23.0.0/24' }] },
    });
    const b = await container(internal, 'ob');
    assert.match(await request(b.key, 'tcp', '203.0.113.2', 8000, 800), /^FAIL/);
    for (const x of [a, b]) {
      await x.ep.leave(x.ep.name);
      await x.ep.delete();
    }
    await internal.delete();
  });

  test('published ports: TCP, UDP and a range, from the remote host, from loopback, from a neighbour (hairpin)', async () => {
    const web = await container(n1, 'web', {
      portBindings: [
        { proto: 'tcp', port: 80, hostPort: 8080 },
        { proto: 'udp', port: 53, hostPort: 5353 },
        { proto: 'tcp', port: 9000, portEnd: 9002, hostPort: 19000, hostPortEnd: 19002 },
        { proto: 'tcp', port: 81 }, // ephemeral
      ],
    });
    await serve(web.key, 'tcp', '0.0.0.0', 80);
    await serve(web.key, 'udp', '0.0.0.0', 53);
    await serve(web.key, 'tcp', '0.0.0.0', 9001);
    await serve(web.key, 'tcp', '0.0.0.0', 81);
    const info = await web.ep.info();
    const eph = info.portMappings.find((p) => p.port === 81);
    assert.ok(eph && eph.hostPort >= 49153 && eph.hostPort <= 65535, JSON.stringify(info.portMappings));
    const neighbour = await container(n1, 'nb');

    assert.equal(
      await request(REMOTE, 'tcp', HOST_IP, 8080),
      'from 203.0.113.2',
      'the client address is kept',
    );
    assert.equal(await request(REMOTE, 'udp', HOST_IP, 5353), 'from 203.0.113.2');
    assert.equal(await request(REMOTE, 'tcp', HOST_IP, 19001), 'from 203.0.113.2');
    assert.equal(await request(REMOTE, 'tcp', HOST_IP, eph.hostPort), 'from 203.0.113.2');
    assert.match(await request(undefined, 'tcp', '127.0.0.1', 8080), /^from /);
    assert.match(await request(undefined, 'tcp', HOST_IP, 8080), /^from /);
    assert.match(await request(undefined, 'udp', '127.0.0.1', 5353), /^from /);
    assert.match(await request(neighbour.key, 'tcp', HOST_IP, 8080), /^from /);
    assert.match(await request(neighbour.key, 'tcp', HOST_IP, 19001), /^from /);
    // nothing else is open: a port that was not published is not reachable from outside
    assert.match(await request(REMOTE, 'tcp', web.ip, 80, 800), /^FAIL/);

    // a conflicting host port: clear error, nothing allocated
    const other = await n1.createEndpoint('clash', {
      portBindings: [
        { proto: 'tcp', port: 80, hostPort: 18080 },
        { proto: 'tcp', port: 80, hostPort: 8080 },
      ],
    });
    await assert.rejects(other.join('clash'), /8080.*allocated|allocated.*8080/);
    assert.equal(ctl.sandboxByContainer('clash'), undefined);
    const again = await n1.createEndpoint('again', {
      portBindings: [{ proto: 'tcp', port: 80, hostPort: 18080 }],
    });
    await again.join('again');
    await again.leave('again');
    await again.delete();
    await other.delete();

    await web.ep.leave('web');
    assert.match(await request(REMOTE, 'tcp', HOST_IP, 8080, 800), /^FAIL/, 'ports go with the container');
    await web.ep.delete();
    await neighbour.ep.leave('nb');
    await neighbour.ep.delete();
  });

  test('IPv6: a published port from the remote host', async () => {
    const n6 = await ctl.newNetwork('bridge', 'v6', {
      enableIPv6: true,
      ipam: { config: [{ subnet: '10.24.0.0/24' }, { subnet: 'fd24::/64' }] },
    });
    const c = await container(n6, 'six', { portBindings: [{ proto: 'tcp', port: 80, hostPort: 8086 }] });
    assert.match(c.info.ipv6Address ?? '', /^fd24::/);
    // Usable at once: right after the join no address of eth0 is tentative (no DAD runs), and no
    // link-local address is made on it.
    const eth0 = JSON.parse(
      execFileSync('nsenter', [`--net=${c.key}`, 'ip', '-j', '-6', 'addr', 'show', 'dev', 'eth0'], {
        encoding: 'utf8',
      }),
    ) as { addr_info: { local: string; scope: string; tentative?: boolean }[] }[];
    const six = eth0[0]?.addr_info ?? [];
    assert.deepEqual(
      six.map((a) => [a.local, a.scope, a.tentative ?? false]),
      [[c.info.ipv6Address?.split('/')[0], 'global', false]],
    );
    await serve(c.key, 'tcp', '::', 80);
    assert.equal(await request(REMOTE, 'tcp', HOST_IP6, 8086), 'from fd99::2');
    assert.equal(await request(REMOTE, 'tcp', HOST_IP, 8086), 'from 203.0.113.2');
    await c.ep.leave('six');
    await c.ep.delete();
    await n6.delete();
  });

  test('the userland proxy serves what kernel DNAT cannot ([::1]) and goes with the mapping', async () => {
    await ctl.configureNetworkDriver('bridge', { userlandProxy: true });
    try {
      const n6 = await ctl.newNetwork('bridge', 'prox', {
        enableIPv6: true,
        ipam: { config: [{ subnet: '10.25.0.0/24' }, { subnet: 'fd25::/64' }] },
      });
      const c = await container(n6, 'px', { portBindings: [{ proto: 'tcp', port: 80, hostPort: 8090 }] });
      await serve(c.key, 'tcp', '::', 80);
      assert.match(await request(undefined, 'tcp', '::1', 8090), /^from /, '[::1] through the proxy');
      assert.equal(
        await request(REMOTE, 'tcp', HOST_IP, 8090),
        'from 203.0.113.2',
        'others still take the kernel path',
      );
      await c.ep.leave('px');
      assert.match(
        await request(undefined, 'tcp', '::1', 8090, 800),
        /^FAIL/,
        'the proxy is gone with the mapping',
      );
      await c.ep.delete();
      await n6.delete();
    } finally {
      await ctl.configureNetworkDriver('bridge', { userlandProxy: false });
    }
  });

  test('after everything is deleted nothing of dnet is left', async () => {
    await n1.delete();
    await n2.delete();
    await ctl.settled();
    const links = nl.linkList().map((l) => l.name);
    assert.deepEqual(links.sort(), ['lo', 'rh0']);
    const ruleset = execFileSync('nft', ['-j', 'list', 'ruleset']).toString();
    const parsed = JSON.parse(ruleset) as { nftables: Record<string, unknown>[] };
    const leftovers = parsed.nftables.filter((o) => !('metainfo' in o));
    assert.deepEqual(leftovers, [], 'no table, rule, map or element of dnet is left');
    const routes = nl.routeList({ family: 4 }).map((r) => r.dst);
    assert.deepEqual(routes, ['203.0.113.0/24']);
  });
});
