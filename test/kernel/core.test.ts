import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ActiveContainerError,
  ActiveEndpointsError,
  EndpointExistsError,
  InvalidContainerIDError,
  InvalidEndpointNameError,
  InvalidJoinError,
  InvalidNetworkNameError,
  InvalidOptionError,
  type Network,
  NetworkController,
  NetworkNameError,
  NetworkTypeError,
  NoContainerError,
  SandboxExistsError,
  SandboxModeError,
  UnknownEndpointError,
  UnknownNetworkError,
  UnknownSandboxError,
} from '../../src/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { world } from '../harness/world.ts';
import { VethTestDriver } from '../helpers/veth-driver.ts';

const runDir = join(world.runDir, 'dnet');
const resolvConf = join(world.runDir, 'host-resolv.conf');
writeFileSync(
  resolvConf,
  'nameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp.example\noptions ndots:2\n',
);

/** `ip -j` run inside a namespace given by path. */
function ipIn<T>(nsPath: string, args: string[]): T {
  return JSON.parse(execFileSync('nsenter', [`--net=${nsPath}`, 'ip', '-j', ...args]).toString()) as T;
}
const linksIn = (nsPath: string) => ipIn<{ ifname: string }[]>(nsPath, ['link']).map((l) => l.ifname);
const hostLinks = () =>
  NetlinkHandle.open()
    .linkList()
    .map((l) => l.name);
const netnsFiles = () =>
  existsSync(join(runDir, 'netns'))
    ? execFileSync('ls', [join(runDir, 'netns')])
        .toString()
        .split('\n')
        .filter(Boolean)
    : [];

let ctl: NetworkController;
let veth: VethTestDriver;

before(async () => {
  ctl = await NetworkController.create({ runDir, hostResolvConf: resolvConf });
  veth = new VethTestDriver();
  ctl.registerDriver(veth);
});
after(async () => {
  await ctl.close();
});

describe('networks: create, lookups, walkers, errors', () => {
  test('create, look up by name and ID, walk, delete', async () => {
    const a = await ctl.newNetwork('null', 'net-a', { labels: { k: 'v' } });
    const b = await ctl.newNetwork('null', 'net-b');
    assert.match(a.id, /^[0-9a-f]{64}$/);
    assert.equal(a.name, 'net-a');
    assert.equal(a.type, 'null');
    assert.deepEqual(a.labels, { k: 'v' });
    assert.equal(ctl.networkByName('net-a'), a);
    assert.equal(ctl.networkByID(b.id), b);
    assert.equal(ctl.networkByName('missing'), undefined);
    assert.equal(ctl.networkByID('0'.repeat(64)), undefined);
    assert.deepEqual(
      ctl
        .networks()
        .map((n) => n.name)
        .sort(),
      ['net-a', 'net-b'],
    );
    const seen: string[] = [];
    ctl.walkNetworks((n) => {
      seen.push(n.name);
      return true; // stop at the first
    });
    assert.equal(seen.length, 1);
    await a.delete();
    await b.delete();
    assert.equal(ctl.networks().length, 0);
    await assert.rejects(a.delete(), UnknownNetworkError);
  });

  test('unknown driver, duplicate and invalid names', async () => {
    await assert.rejects(ctl.newNetwork('nosuchdriver', 'x'), (e: unknown) => {
      assert.ok(e instanceof NetworkTypeError);
      assert.equal(e.code, 'ERR_UNKNOWN_DRIVER');
      assert.match(e.message, /nosuchdriver/);
      return true;
    });
    const n = await ctl.newNetwork('null', 'dup');
    await assert.rejects(ctl.newNetwork('null', 'dup'), NetworkNameError);
    for (const bad of ['', ' x', 'a/b', 'a;rm -rf', '../x', 'x'.repeat(300), 'a\nb']) {
      await assert.rejects(ctl.newNetwork('null', bad), InvalidNetworkNameError, JSON.stringify(bad));
    }
    await n.delete();
  });

  test('concurrent creates of one name: exactly one wins', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => ctl.newNetwork('null', 'race')),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(
      results.filter((r) => r.status === 'rejected').every((r) => r.reason instanceof NetworkNameError),
    );
    await ctl.networkByName('race')?.delete();
  });

  test('bad IPAM options name the option', async () => {
    const cases: [object, RegExp][] = [
      [{ ipam: { config: [{ subnet: '10.0.0.0/33' }] } }, /ipam\.config\[0\]\.subnet/],
      [{ ipam: { config: [{ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }] } }, /gateway.*not inside/],
      [{ ipam: { config: [{ subnet: '10.0.0.0/24', ipRange: '10.9.0.0/28' }] } }, /ipRange.*not inside/],
      [{ ipam: { config: [{ subnet: 'fd00::/64' }] } }, /needs enableIPv6/],
      [{ ipam: { config: [{ gateway: '10.0.0.1' }] } }, /need a subnet/],
      [{ labels: { a: 1 } }, /labels\.a/],
    ];
    for (const [opts, re] of cases) {
      await assert.rejects(ctl.newNetwork('veth-test', 'bad', opts), (e: unknown) => {
        assert.ok(e instanceof InvalidOptionError, String(e));
        assert.match(e.message, re);
        return true;
      });
    }
    assert.equal(ctl.networkByName('bad'), undefined);
  });
});

describe('endpoints and joins with the null driver', () => {
  test('a sandbox with loopback only; hosts and resolv.conf; removed on the last leave', async () => {
    const n = await ctl.newNetwork('null', 'none1');
    const ep = await n.createEndpoint('ep1');
    assert.match(ep.id, /^[0-9a-f]{64}$/);
    assert.equal(n.endpointByName('ep1'), ep);
    assert.equal(n.endpointByID(ep.id), ep);
    assert.equal(n.endpointByName('zz'), undefined);
    const { sandboxKey } = await ep.join('c-null', {
      hostname: 'test',
      domainname: 'example.org',
      extraHosts: [{ name: 'db', ip: '10.0.0.5' }],
      dnsSearch: ['svc.example'],
    });
    assert.ok(sandboxKey.startsWith(join(runDir, 'netns')));
    assert.deepEqual(linksIn(sandboxKey), ['lo']);
    const lo = ipIn<{ flags: string[] }[]>(sandboxKey, ['link', 'show', 'lo'])[0];
    assert.ok(lo?.flags.includes('UP'));
    const info = await ep.info();
    assert.equal(info.sandboxKey, sandboxKey);
    assert.equal(info.containerId, 'c-null');
    assert.ok(info.hostsPath && info.resolvConfPath);
    const hosts = readFileSync(info.hostsPath, 'utf8');
    assert.match(hosts, /127\.0\.0\.1\s+localhost/);
    assert.match(hosts, /10\.0\.0\.5\s+db/);
    const resolv = readFileSync(info.resolvConfPath, 'utf8');
    assert.match(resolv, /nameserver 10\.1\.1\.1/);
    assert.doesNotMatch(resolv, /127\.0\.0\.53/, 'loopback nameservers are filtered');
    assert.match(resolv, /search svc\.example/);

    await assert.rejects(ep.join('c-other'), InvalidJoinError);
    await assert.rejects(ep.join('c-null'), InvalidJoinError);
    await assert.rejects(ep.delete(), ActiveContainerError);
    await assert.rejects(n.delete(), ActiveEndpointsError);
    await assert.rejects(ep.leave('c-other'), NoContainerError);

    await ep.leave('c-null');
    // The namespace is removed in the background once the leave has returned.
    assert.equal(ctl.sandboxByContainer('c-null'), undefined, 'the sandbox is gone with its last endpoint');
    await ctl.settled();
    assert.equal(existsSync(sandboxKey), false, 'the sandbox namespace is removed with its last endpoint');
    assert.equal(existsSync(info.hostsPath), false);
    await assert.rejects(ep.leave('c-null'), NoContainerError);
    await ep.delete();
    await assert.rejects(ep.delete(), UnknownEndpointError);
    await n.delete();
  });

  test('endpoint names and container IDs are validated; duplicates refused', async () => {
    const n = await ctl.newNetwork('null', 'none2');
    for (const bad of ['', 'a b', 'a/b', '$(x)', 'x'.repeat(300)]) {
      await assert.rejects(n.createEndpoint(bad), InvalidEndpointNameError, JSON.stringify(bad));
    }
    const ep = await n.createEndpoint('e');
    await assert.rejects(n.createEndpoint('e'), EndpointExistsError);
    for (const bad of ['', 'a b', '../../etc', 'x'.repeat(200)]) {
      await assert.rejects(ep.join(bad), InvalidContainerIDError, JSON.stringify(bad));
    }
    const seen: string[] = [];
    n.walkEndpoints((e) => {
      seen.push(e.name);
    });
    assert.deepEqual(seen, ['e']);
    await ep.delete();
    await n.delete();
  });
});

describe('the host driver', () => {
  test("a join uses the host's own namespace; mixing with a sandbox of its own is refused", async () => {
    const h = await ctl.newNetwork('host', 'host1');
    const nn = await ctl.newNetwork('null', 'none3');
    const ep = await h.createEndpoint('hep');
    const before = hostLinks();
    const { sandboxKey } = await ep.join('c-host');
    const same = statSync(sandboxKey);
    const mine = statSync('/proc/self/ns/net');
    assert.equal(
      same.ino,
      mine.ino,
      `sandboxKey ${sandboxKey} is this namespace (${readlinkSync('/proc/self/ns/net')})`,
    );
    assert.deepEqual(hostLinks(), before, 'no interface was created');
    const ep2 = await nn.createEndpoint('nep');
    await assert.rejects(ep2.join('c-host'), SandboxModeError);
    await ep.leave('c-host');
    assert.ok(existsSync(sandboxKey), "leaving never removes the host's namespace");
    await ep2.join('c-own');
    const ep3 = await h.createEndpoint('hep2');
    await assert.rejects(ep3.join('c-own'), SandboxModeError);
    await ep2.leave('c-own');
    for (const e of [ep, ep2, ep3]) await e.delete();
    await h.delete();
    await nn.delete();
  });
});

describe('interfaces, addresses and gateways (veth test driver)', () => {
  let n1: Network;
  let n2: Network;
  before(async () => {
    n1 = await ctl.newNetwork('veth-test', 'vn1', {
      enableIPv6: true,
      ipam: { config: [{ subnet: '10.50.0.0/24', gateway: '10.50.0.1' }, { subnet: 'fd50::/64' }] },
    });
    n2 = await ctl.newNetwork('veth-test', 'vn2', { ipam: { config: [{ subnet: '10.51.0.0/24' }] } });
  });
  after(async () => {
    await n1.delete();
    await n2.delete();
  });

  test('the driver gets the pools; endpoints get addresses; eth0/eth1 in join order; the first gateway wins', async () => {
    const req = veth.networks.get(n1.id);
    assert.equal(req?.ipv4Data[0]?.pool, '10.50.0.0/24');
    assert.equal(req?.ipv4Data[0]?.gateway, '10.50.0.1/24');
    assert.equal(req?.ipv6Data[0]?.pool, 'fd50::/64');
    const e1 = await n1.createEndpoint('e1');
    const e2 = await n2.createEndpoint('e2', { ipv4Address: '10.51.0.77', macAddress: '02:42:0a:33:00:4d' });
    const i1 = await e1.info();
    assert.equal(i1.ipv4Address, '10.50.0.2/24');
    assert.match(i1.ipv6Address ?? '', /^fd50::[0-9a-f:]+\/64$/);
    assert.equal((await e2.info()).ipv4Address, '10.51.0.77/24');

    const { sandboxKey } = await e1.join('c-multi', { hostname: 'multi' });
    const files = await e1.info();
    const inodes = () => [statSync(files.hostsPath ?? '').ino, statSync(files.resolvConfPath ?? '').ino];
    const firstInodes = inodes();
    await e2.join('c-multi');
    // A later join rewrites the files in place: a container that bind-mounted them sees the change.
    assert.deepEqual(inodes(), firstInodes, 'hosts and resolv.conf keep their inodes');
    assert.deepEqual(linksIn(sandboxKey).sort(), ['eth0', 'eth1', 'lo']);
    const addrs = ipIn<
      {
        ifname: string;
        address: string;
        addr_info: { local: string; prefixlen: number; scope: string; tentative?: boolean }[];
      }[]
    >(sandboxKey, ['addr']);
    const eth0 = addrs.find((a) => a.ifname === 'eth0');
    const eth1 = addrs.find((a) => a.ifname === 'eth1');
    assert.ok(eth0?.addr_info.some((a) => a.local === '10.50.0.2' && a.prefixlen === 24));
    assert.ok(eth0?.addr_info.some((a) => a.local.startsWith('fd50::') && a.scope === 'global'));
    // IPv6 usable at once: no address is tentative (no DAD), no link-local address is made.
    assert.ok(
      eth0?.addr_info.every((a) => !a.tentative && a.scope !== 'link'),
      JSON.stringify(eth0?.addr_info),
    );
    assert.ok(eth1?.addr_info.some((a) => a.local === '10.51.0.77'));
    assert.equal(eth1?.address, '02:42:0a:33:00:4d');
    const routes = ipIn<{ dst: string; gateway?: string; dev: string }[]>(sandboxKey, ['-4', 'route']);
    const def = routes.find((r) => r.dst === 'default');
    assert.deepEqual(
      [def?.gateway, def?.dev],
      ['10.50.0.1', 'eth0'],
      'the first endpoint with a gateway gives it',
    );
    const hosts = readFileSync((await e1.info()).hostsPath ?? '', 'utf8');
    assert.match(hosts, /10\.50\.0\.2\s+multi/);
    assert.match(hosts, /10\.51\.0\.77\s+multi/);

    // The gateway endpoint leaves: the other one's gateway takes over.
    await e1.leave('c-multi');
    const def2 = ipIn<{ dst: string; gateway?: string; dev: string }[]>(sandboxKey, ['-4', 'route']).find(
      (r) => r.dst === 'default',
    );
    assert.deepEqual([def2?.gateway, def2?.dev], ['10.51.0.1', 'eth1']);
    // eth0 is free again and is reused by the next join
    const e3 = await n1.createEndpoint('e3');
    await e3.join('c-multi');
    assert.deepEqual(linksIn(sandboxKey).sort(), ['eth0', 'eth1', 'lo']);
    await e3.leave('c-multi');
    await e2.leave('c-multi');
    await ctl.settled();
    assert.equal(existsSync(sandboxKey), false);
    assert.deepEqual(hostLinks(), ['lo'], 'every veth is gone');
    for (const e of [e1, e2, e3]) await e.delete();
  });

  test('static routes from the driver', async () => {
    veth.staticRoutes = [
      { destination: '192.0.2.0/24', routeType: 0, nextHop: '10.50.0.254' },
      { destination: '198.51.100.0/24', routeType: 1 },
    ];
    try {
      const e = await n1.createEndpoint('sr');
      const { sandboxKey } = await e.join('c-sr');
      const routes = ipIn<{ dst: string; gateway?: string }[]>(sandboxKey, ['-4', 'route']);
      assert.equal(routes.find((r) => r.dst === '192.0.2.0/24')?.gateway, '10.50.0.254');
      assert.ok(routes.find((r) => r.dst === '198.51.100.0/24'));
      await e.leave('c-sr');
      await e.delete();
    } finally {
      veth.staticRoutes = [];
    }
  });

  test('IPAM: static addresses, no address twice, release makes it reusable, exhaustion is a clear error', async () => {
    const small = await ctl.newNetwork('veth-test', 'tiny', {
      ipam: { config: [{ subnet: '10.52.0.0/30' }] },
    });
    const a = await small.createEndpoint('a'); // .1 is the gateway, .2 is the only one left
    assert.equal((await a.info()).ipv4Address, '10.52.0.2/30');
    await assert.rejects(small.createEndpoint('b'), (e: unknown) => {
      assert.ok(e instanceof Error && 'code' in e, String(e));
      assert.match(e.message, /no (more )?available|exhaust|full/i);
      return true;
    });
    assert.equal(small.endpointByName('b'), undefined, 'a failed create leaves nothing');
    await a.delete();
    const b = await small.createEndpoint('b');
    assert.equal((await b.info()).ipv4Address, '10.52.0.2/30', 'released, then reused');
    await assert.rejects(n2.createEndpoint('x', { ipv4Address: '10.99.0.1' }), /not inside any subnet/);
    const s1 = await n2.createEndpoint('s1', { ipv4Address: '10.51.0.200' });
    await assert.rejects(n2.createEndpoint('s2', { ipv4Address: '10.51.0.200' }));
    await s1.delete();
    await b.delete();
    await small.delete();
  });

  test('overlapping user subnets are refused', async () => {
    await assert.rejects(
      ctl.newNetwork('veth-test', 'overlap', { ipam: { config: [{ subnet: '10.50.0.128/25' }] } }),
      /overlap/i,
    );
    assert.equal(ctl.networkByName('overlap'), undefined);
  });

  test('a network whose driver fails to create gives its pool back', async () => {
    veth.failAt = 'createNetwork';
    try {
      await assert.rejects(
        ctl.newNetwork('veth-test', 'fails', { ipam: { config: [{ subnet: '10.60.0.0/24' }] } }),
        /fails on purpose/,
      );
    } finally {
      veth.failAt = undefined;
    }
    const ok = await ctl.newNetwork('veth-test', 'fails', { ipam: { config: [{ subnet: '10.60.0.0/24' }] } });
    await ok.delete();
  });
});

describe('rollback of a failed join', () => {
  for (const step of ['join', 'programExternalConnectivity'] as const) {
    test(`a failure at ${step} leaves no sandbox, no interface, no joined state`, async () => {
      const n = await ctl.newNetwork('veth-test', `rb-${step.slice(0, 8)}`, {
        ipam: { config: [{ subnet: '10.70.0.0/24' }] },
      });
      const e = await n.createEndpoint('e');
      await ctl.settled();
      const nsBefore = netnsFiles();
      veth.failAt = step;
      try {
        await assert.rejects(e.join('c-rb'), /fails on purpose/);
      } finally {
        veth.failAt = undefined;
      }
      assert.deepEqual(netnsFiles(), nsBefore, 'the new sandbox namespace was removed');
      assert.deepEqual(hostLinks(), ['lo']);
      assert.equal(ctl.sandboxByContainer('c-rb'), undefined);
      assert.equal(e.containerId, undefined);
      // and it can join afterwards
      await e.join('c-rb');
      await e.leave('c-rb');
      await e.delete();
      await n.delete();
    });
  }

  test('an interface the driver names but never made: the join fails cleanly', async () => {
    const n = await ctl.newNetwork('veth-test', 'rb-iface', {
      ipam: { config: [{ subnet: '10.71.0.0/24' }] },
    });
    const e = await n.createEndpoint('e');
    veth.joinSrcName = 'doesnotexist0';
    try {
      await assert.rejects(e.join('c-rb2'), /ENODEV|no such/i);
    } finally {
      veth.joinSrcName = undefined;
    }
    assert.equal(ctl.sandboxByContainer('c-rb2'), undefined);
    assert.deepEqual(hostLinks(), ['lo'], 'the driver was told to leave and removed its veth');
    await e.delete();
    await n.delete();
  });
});

describe('explicit sandboxes', () => {
  test('newSandbox before any join; it stays after the last leave; deleteSandbox makes endpoints leave', async () => {
    const sb = await ctl.newSandbox('c-explicit', { hostname: 'exp' });
    assert.deepEqual(linksIn(sb.key), ['lo']);
    assert.match(readFileSync(sb.hostsPath, 'utf8'), /localhost/);
    await assert.rejects(ctl.newSandbox('c-explicit'), SandboxExistsError);
    const n = await ctl.newNetwork('veth-test', 'exp-net', {
      ipam: { config: [{ subnet: '10.90.0.0/24' }] },
    });
    const e1 = await n.createEndpoint('x1');
    const e2 = await n.createEndpoint('x2');
    const { sandboxKey } = await e1.join('c-explicit');
    assert.equal(sandboxKey, sb.key, 'the join uses the existing sandbox');
    await e1.leave('c-explicit');
    assert.ok(existsSync(sb.key), 'an explicit sandbox outlives its endpoints');
    await e1.join('c-explicit');
    await e2.join('c-explicit');
    await ctl.deleteSandbox('c-explicit');
    assert.equal(existsSync(sb.key), false);
    assert.equal(e1.containerId, undefined);
    assert.equal(e2.containerId, undefined);
    assert.deepEqual(hostLinks(), ['lo']);
    await assert.rejects(ctl.deleteSandbox('c-explicit'), UnknownSandboxError);
    await assert.rejects(ctl.newSandbox('bad id'), InvalidContainerIDError);
    await e1.delete();
    await e2.delete();
    await n.delete();
  });
});

describe('concurrency', () => {
  test('many parallel joins and leaves: no double join, nothing lost, nothing leaked', async () => {
    const n = await ctl.newNetwork('veth-test', 'par', { ipam: { config: [{ subnet: '10.80.0.0/20' }] } });
    const eps = await Promise.all(Array.from({ length: 40 }, (_, i) => n.createEndpoint(`p${i}`)));
    const addrs = new Set(await Promise.all(eps.map(async (e) => (await e.info()).ipv4Address)));
    assert.equal(addrs.size, 40, 'no address handed out twice');
    // 40 endpoints, 10 containers: 4 endpoints per container, all joins at once
    await Promise.all(eps.map((e, i) => e.join(`pc${i % 10}`)));
    for (let c = 0; c < 10; c++) {
      const sb = ctl.sandboxByContainer(`pc${c}`);
      assert.equal(sb?.endpoints().length, 4);
      assert.deepEqual(linksIn(sb?.key ?? '').sort(), ['eth0', 'eth1', 'eth2', 'eth3', 'lo']);
    }
    // the same endpoint joined by two containers at once: exactly one wins
    const extra = await n.createEndpoint('contended');
    const r = await Promise.allSettled([extra.join('pc0'), extra.join('pc1')]);
    assert.equal(r.filter((x) => x.status === 'fulfilled').length, 1);
    assert.ok(r.some((x) => x.status === 'rejected' && x.reason instanceof InvalidJoinError));
    await extra.leave(extra.containerId ?? '');
    await Promise.all(eps.map((e, i) => e.leave(`pc${i % 10}`)));
    assert.equal(ctl.allSandboxes().length, 0);
    assert.deepEqual(hostLinks(), ['lo']);
    await Promise.all([...eps, extra].map((e) => e.delete()));
    await n.delete();
    await ctl.settled();
    assert.deepEqual(
      netnsFiles().filter((f) => f !== 'default'),
      [],
    );
  });
});
