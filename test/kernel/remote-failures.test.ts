// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
// A remote network plugin and a remote IPAM plugin that fail: Err replies, malformed JSON, replies
// that break the protocol's rules, no reply in time, a plugin killed mid-call. Every failure must
// name the plugin and the method, and leave nothing behind: no interface, namespace, plugin object
// or IPAM address that a successful call would not have left.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type Network, NetworkController } from '../../src/index.ts';
import { PluginCallError, PluginReplyError, PluginUnavailableError } from '../../src/plugins/index.ts';
import { hostLinks, netnsFiles } from '../helpers/leftovers.ts';
import { TestPlugin } from '../helpers/plugin-process.ts';
import { request, startServer } from '../helpers/traffic.ts';

const runDir = join(world.runDir, 'dnet');
const resolvConf = join(world.runDir, 'resolv.conf');
writeFileSync(resolvConf, 'nameserver 10.1.1.1\n');
const sockets = join(world.runDir, 'plugins');
mkdirSync(sockets, { recursive: true });

const CALL_TIMEOUT = 800;

let ctl: NetworkController;
let tnet: TestPlugin;
let tipam: TestPlugin;
let fnet: Network;
let links: string[];
const POOL = 'plugin-local/10.90.0.0/24';

before(async () => {
  [tnet, tipam] = await Promise.all([
    TestPlugin.start({
      socket: join(sockets, 'tnet.sock'),
      implements: ['NetworkDriver'],
      stateFile: join(world.runDir, 'tnet-state.json'),
    }),
    TestPlugin.start({ socket: join(sockets, 'tipam.sock'), implements: ['IpamDriver'] }),
  ]);
  ctl = await NetworkController.create({
    runDir,
    hostResolvConf: resolvConf,
    pluginDirs: { sockets: [sockets], specs: [] },
    pluginTimeouts: { callTimeoutMs: CALL_TIMEOUT, retryInitialMs: 50, retryTotalMs: 400 },
  });
  fnet = await ctl.newNetwork('tnet', 'fnet', {
    ipam: { driver: 'tipam', config: [{ subnet: '10.90.0.0/24' }] },
  });
  links = hostLinks(); // with fnet's bridge
});
after(async () => {
  await ctl?.close();
  await Promise.all([tnet?.stop(), tipam?.stop()]);
});
beforeEach(async () => {
  await Promise.all([tnet.clear(), tipam.clear()]);
});

/** What must hold after every failure: only fnet's bridge, no sandbox, only the gateway allocated. */
async function assertClean(extraUsed: string[] = []): Promise<void> {
  await ctl.settled(); // a sandbox's namespace is removed in the background (docs/persistence.md)
  assert.deepEqual(hostLinks(), links, 'host interfaces');
  assert.deepEqual(netnsFiles(runDir), [], 'sandbox namespaces');
  const ipam = await tipam.state();
  assert.deepEqual(Object.keys(ipam.pools), [POOL], 'IPAM pools');
  assert.deepEqual(ipam.pools[POOL]?.used, ['10.90.0.1', ...extraUsed], 'IPAM addresses');
  const net = await tnet.state();
  assert.deepEqual(Object.keys(net.networks), [fnet.id], 'plugin networks');
  assert.deepEqual(
    Object.keys(net.endpoints).sort(),
    fnet
      .endpoints()
      .map((e) => e.id)
      .sort(),
    'plugin endpoints',
  );
  assert.deepEqual(
    ctl.networks().map((n) => n.name),
    ['fnet'],
  );
}

const calls = async (p: TestPlugin) => (await p.state()).calls.map((c) => c.method);

describe('network create', () => {
  test('an Err reply (HTTP 500 and in a 200 body): the error names plugin and method; IPAM released', async () => {
    for (const status of [500, 200]) {
      await tnet.fault({
        method: 'NetworkDriver.CreateNetwork',
        kind: 'err',
        status,
        message: 'no bridges today',
      });
      await assert.rejects(
        ctl.newNetwork('tnet', 'bad', { ipam: { driver: 'tipam', config: [{ subnet: '10.91.0.0/24' }] } }),
        (e: unknown) => {
          assert.ok(e instanceof PluginCallError, String(e));
          assert.equal(e.code, 'ERR_PLUGIN_FAILED');
          assert.equal(e.plugin, 'tnet');
          assert.equal(e.method, 'NetworkDriver.CreateNetwork');
          assert.equal(e.status, status);
          assert.match(
            e.message,
            /^plugin "tnet" failed NetworkDriver\.CreateNetwork( \(HTTP 500\))?: no bridges today$/,
          );
          return true;
        },
      );
      await assertClean();
    }
  });

  test('malformed JSON after the plugin made the network: rolled back with DeleteNetwork', async () => {
    await tnet.fault({ method: 'NetworkDriver.CreateNetwork', kind: 'garbage', runHandler: true });
    await assert.rejects(
      ctl.newNetwork('tnet', 'bad', { ipam: { driver: 'tipam', config: [{ subnet: '10.91.0.0/24' }] } }),
      (e: unknown) => {
        assert.ok(e instanceof PluginReplyError, String(e));
        assert.equal(e.code, 'ERR_PLUGIN_BAD_REPLY');
        assert.match(
          e.message,
          /plugin "tnet" sent an invalid reply to NetworkDriver\.CreateNetwork: not JSON/,
        );
        assert.match(e.message, /rolled back with NetworkDriver\.DeleteNetwork/);
        return true;
      },
    );
    assert.ok((await calls(tnet)).includes('NetworkDriver.DeleteNetwork'));
    await assertClean();
  });
});

describe('endpoint create', () => {
  test('no reply in time: fails after the call timeout; the address is released', async () => {
    await tnet.fault({ method: 'NetworkDriver.CreateEndpoint', kind: 'hang' });
    const t0 = Date.now();
    await assert.rejects(fnet.createEndpoint('e'), (e: unknown) => {
      assert.ok(e instanceof PluginUnavailableError, String(e));
      assert.equal(e.code, 'ERR_PLUGIN_UNAVAILABLE');
      assert.equal(e.kind, 'unavailable');
      assert.match(
        e.message,
        /plugin "tnet" did not answer NetworkDriver\.CreateEndpoint at unix:\/\/.*tnet\.sock: no reply within 800 ms/,
      );
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= CALL_TIMEOUT && took < CALL_TIMEOUT + 1500, `took ${took} ms`);
    await assertClean();
  });

  test('the plugin sets an address dnet gave: DeleteEndpoint, and the address is released', async () => {
    await tnet.fault({
      method: 'NetworkDriver.CreateEndpoint',
      kind: 'reply',
      runHandler: true,
      body: { Interface: { Address: '10.90.0.200/24' } },
    });
    await assert.rejects(fnet.createEndpoint('e'), (e: unknown) => {
      assert.ok(e instanceof PluginReplyError, String(e));
      assert.match(
        e.message,
        /"Interface\.Address" is 10\.90\.0\.200\/24, but dnet already gave the endpoint 10\.90\.0\.2\/24/,
      );
      assert.match(e.message, /rolled back with NetworkDriver\.DeleteEndpoint$/);
      return true;
    });
    assert.deepEqual((await calls(tnet)).slice(-2), [
      'NetworkDriver.CreateEndpoint',
      'NetworkDriver.DeleteEndpoint',
    ]);
    await assertClean();
  });

  test('invalid interface fields are refused and rolled back', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ MacAddress: '01:00:5e:00:00:01' }, /"Interface\.MacAddress" is not a unicast MAC/],
      [{ MacAddress: 'zz:zz' }, /"Interface\.MacAddress" is not a unicast MAC/],
      [{ AddressIPv6: '10.0.0.1/24' }, /"Interface\.AddressIPv6" is not an IPv6 CIDR/],
      [{ AddressIPv6: 'fd00::1' }, /"Interface\.AddressIPv6" is not an IPv6 CIDR/],
      [{ MacAddress: 7 }, /"Interface\.MacAddress" is not a string/],
    ];
    for (const [iface, re] of cases) {
      await tnet.fault({
        method: 'NetworkDriver.CreateEndpoint',
        kind: 'reply',
        runHandler: true,
        body: { Interface: iface },
      });
      await assert.rejects(fnet.createEndpoint('e'), (e: unknown) => {
        assert.ok(e instanceof PluginReplyError, String(e));
        assert.match(e.message, re);
        assert.match(e.message, /rolled back with NetworkDriver\.DeleteEndpoint/);
        return true;
      });
      await assertClean();
    }
  });
});

describe('join', () => {
  let ep: Awaited<ReturnType<Network['createEndpoint']>>;
  before(async () => {
    ep = await fnet.createEndpoint('j');
  });

  test('an Err reply: no sandbox is left, and the endpoint can join later', async () => {
    await tnet.fault({ method: 'NetworkDriver.Join', kind: 'err', message: 'no veth for you' });
    await assert.rejects(ep.join('c1'), (e: unknown) => {
      assert.ok(e instanceof PluginCallError, String(e));
      assert.match(e.message, /plugin "tnet" failed NetworkDriver\.Join \(HTTP 500\): no veth for you/);
      return true;
    });
    assert.equal(ep.containerId, undefined);
    await assertClean(['10.90.0.2']);
    const { sandboxKey } = await ep.join('c1');
    assert.ok(existsSync(sandboxKey));
    await ep.leave('c1');
    await assertClean(['10.90.0.2']);
  });

  test('replies that break the rules: refused, rolled back with Leave (the veth goes), nothing left', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { InterfaceName: { SrcName: '../../etc', DstPrefix: 'eth' } },
        /"InterfaceName\.SrcName" is not a valid interface name/,
      ],
      [
        { InterfaceName: { SrcName: 'a-very-long-interface-name', DstPrefix: 'eth' } },
        /SrcName" is not a valid/,
      ],
      [
        { InterfaceName: { SrcName: 'ok0', DstPrefix: 'e th' } },
        /"InterfaceName\.DstPrefix" is not a usable/,
      ],
      [{ InterfaceName: 'eth0' }, /"InterfaceName" is not an object/],
      [{ Gateway: 'fd00::1' }, /"Gateway" is not an IPv4 address/],
      [{ Gateway: 300 }, /"Gateway" is not a string/],
      [{ GatewayIPv6: '10.0.0.1' }, /"GatewayIPv6" is not an IPv6 address/],
      [
        { StaticRoutes: [{ Destination: '10.0.0.0/8', RouteType: 2, NextHop: '10.90.0.1' }] },
        /"StaticRoutes\[0\]\.RouteType" must be 0/,
      ],
      [
        { StaticRoutes: [{ Destination: 'nope', RouteType: 1 }] },
        /"StaticRoutes\[0\]\.Destination" is not an IPv4\/IPv6 CIDR/,
      ],
      [
        { StaticRoutes: [{ Destination: '10.0.0.0/8', RouteType: 0 }] },
        /"StaticRoutes\[0\]\.NextHop" is missing/,
      ],
      [
        { StaticRoutes: [{ Destination: '10.0.0.0/8', RouteType: 0, NextHop: 'fd00::1' }] },
        /NextHop" is not an IPv4 address/,
      ],
      [{ StaticRoutes: {} }, /"StaticRoutes" is not an array/],
      [{ DisableGatewayService: 'yes' }, /"DisableGatewayService" is not a boolean/],
    ];
    for (const [body, re] of cases) {
      await tnet.fault({ method: 'NetworkDriver.Join', kind: 'reply', runHandler: true, body });
      await assert.rejects(ep.join('c2'), (e: unknown) => {
        assert.ok(e instanceof PluginReplyError, `${JSON.stringify(body)}: ${e}`);
        assert.match(e.message, re);
        assert.match(e.message, /rolled back with NetworkDriver\.Leave$/);
        return true;
      });
      await assertClean(['10.90.0.2']);
    }
    await tnet.fault({ method: 'NetworkDriver.Join', kind: 'garbage', runHandler: true });
    await assert.rejects(
      ep.join('c2'),
      /sent an invalid reply to NetworkDriver\.Join: not JSON.*rolled back with NetworkDriver\.Leave/,
    );
    await assertClean(['10.90.0.2']);
  });

  test('an interface that does not exist: the core undoes the join (Leave)', async () => {
    await tnet.fault({
      method: 'NetworkDriver.Join',
      kind: 'reply',
      runHandler: true,
      body: { InterfaceName: { SrcName: 'ghost0', DstPrefix: 'eth' } },
    });
    await assert.rejects(ep.join('c3'));
    assert.deepEqual((await calls(tnet)).slice(-2), ['NetworkDriver.Join', 'NetworkDriver.Leave']);
    await assertClean(['10.90.0.2']);
  });

  test('the plugin is killed mid-call, stays down, comes back', async () => {
    await tnet.fault({ method: 'NetworkDriver.Join', kind: 'kill' });
    const t0 = Date.now();
    await assert.rejects(ep.join('c4'), (e: unknown) => {
      assert.ok(e instanceof PluginUnavailableError, String(e));
      assert.match(
        e.message,
        /plugin "tnet" did not answer NetworkDriver\.Join .*the connection dropped before a reply/,
      );
      return true;
    });
    assert.ok(Date.now() - t0 < CALL_TIMEOUT, 'a dropped connection is not waited for, nor retried');
    await tnet.exited();
    assert.deepEqual(hostLinks(), links);
    assert.deepEqual(netnsFiles(runDir), []);
    // While it is down: calls are retried with backoff, then fail; nothing changes.
    const t1 = Date.now();
    await assert.rejects(ep.delete(), (e: unknown) => {
      assert.ok(e instanceof PluginUnavailableError, String(e));
      assert.match(
        e.message,
        /did not answer NetworkDriver\.DeleteEndpoint .*ECONNREFUSED .*\(\d+ attempts\)/,
      );
      return true;
    });
    const waited = Date.now() - t1;
    assert.ok(waited >= 150 && waited < 1500, `retried for ${waited} ms`);
    assert.equal(fnet.endpointByName('j'), ep);
    // Back (its state kept in its file): the same driver reaches it again, with a new connection.
    await tnet.restart();
    const { sandboxKey } = await ep.join('c4');
    const other = await fnet.createEndpoint('k');
    const { sandboxKey: k2 } = await other.join('c5');
    const srv = await startServer(k2, 'tcp', '10.90.0.3', 7000);
    try {
      assert.equal(await request(sandboxKey, 'tcp', '10.90.0.3', 7000), 'from 10.90.0.2');
    } finally {
      srv.stop();
    }
    await ep.leave('c4');
    await other.leave('c5');
    await other.delete();
    await assertClean(['10.90.0.2']);
  });
});

describe('remote IPAM failures', () => {
  test('an Error reply to RequestAddress: the endpoint is not made', async () => {
    await tipam.fault({
      method: 'IpamDriver.RequestAddress',
      kind: 'err',
      status: 400,
      message: 'pool is full',
    });
    await assert.rejects(fnet.createEndpoint('x'), (e: unknown) => {
      assert.ok(e instanceof PluginCallError, String(e));
      assert.match(
        e.message,
        /^plugin "tipam" failed IpamDriver\.RequestAddress \(HTTP 400\): pool is full$/,
      );
      return true;
    });
    assert.ok(!(await calls(tnet)).includes('NetworkDriver.CreateEndpoint'));
    await assertClean(['10.90.0.2']);
  });

  test('an address outside the pool, or not the one asked for, is refused (and released)', async () => {
    await tipam.fault({
      method: 'IpamDriver.RequestAddress',
      kind: 'reply',
      runHandler: false,
      body: { Address: '10.99.0.5/24' },
    });
    await assert.rejects(
      fnet.createEndpoint('x'),
      /"Address" 10\.99\.0\.5\/24 is not inside the pool 10\.90\.0\.0\/24/,
    );
    assert.ok((await calls(tipam)).includes('IpamDriver.ReleaseAddress'));
    await tipam.fault({
      method: 'IpamDriver.RequestAddress',
      kind: 'reply',
      runHandler: false,
      body: { Address: 'x' },
    });
    await assert.rejects(fnet.createEndpoint('x'), /"Address" is not an IPv4 CIDR/);
    await tipam.fault({
      method: 'IpamDriver.RequestAddress',
      kind: 'reply',
      runHandler: false,
      body: { Address: '10.90.0.78/24' },
    });
    await assert.rejects(
      fnet.createEndpoint('x', { ipv4Address: '10.90.0.77' }),
      /"Address" is 10\.90\.0\.78\/24, but 10\.90\.0\.77 was asked for/,
    );
    await assertClean(['10.90.0.2']);
  });

  test('a bad pool is refused and released; a hung RequestPool times out; nothing is left', async () => {
    for (const body of [
      { Pool: 'garbage' },
      { Pool: 'fd00::/64' },
      { Pool: '10.92.0.0/24' },
      { Data: { a: 1 } },
    ]) {
      await tipam.fault({ method: 'IpamDriver.RequestPool', kind: 'reply', runHandler: true, body });
      await assert.rejects(
        ctl.newNetwork('tnet', 'bad', { ipam: { driver: 'tipam', config: [{ subnet: '10.91.0.0/24' }] } }),
        (e: unknown) => {
          assert.ok(e instanceof PluginReplyError, String(e));
          assert.match(e.message, /IpamDriver\.RequestPool/);
          assert.match(e.message, /released again with IpamDriver\.ReleasePool$/);
          return true;
        },
      );
      await assertClean(['10.90.0.2']);
    }
    await tipam.fault({ method: 'IpamDriver.RequestPool', kind: 'hang' });
    await assert.rejects(
      ctl.newNetwork('tnet', 'bad', { ipam: { driver: 'tipam' } }),
      PluginUnavailableError,
    );
    await assertClean(['10.90.0.2']);
  });

  test('the last endpoint and the network go cleanly', async () => {
    for (const e of fnet.endpoints()) await e.delete();
    await fnet.delete();
    assert.deepEqual((await tipam.state()).pools, {});
    assert.deepEqual((await tnet.state()).networks, {});
  });
});
