// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
// Remote network drivers and remote IPAM through real plugin processes (test/helpers/plugin-server.ts):
// discovery in the test's own plugin directories, a network made by the plugin (a Linux bridge),
// endpoints with dnet's and the plugin's addresses, joins that move the plugin's veth into the
// sandbox, routes, traffic between two sandboxes, addresses handed out by a remote IPAM.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDaemon } from '../../src/daemon/daemon.ts';
import { RemoteDriver } from '../../src/drivers/remote/index.ts';
import { NetworkController, NetworkTypeError } from '../../src/index.ts';
import { RemoteIpam } from '../../src/ipam/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { PLUGIN_MIME, PluginNotImplementedError } from '../../src/plugins/index.ts';
import { call } from '../helpers/http.ts';
import { hostLinks, netnsFiles } from '../helpers/leftovers.ts';
import { TestPlugin } from '../helpers/plugin-process.ts';
import { request, startServer } from '../helpers/traffic.ts';

const runDir = join(world.runDir, 'dnet');
const resolvConf = join(world.runDir, 'resolv.conf');
writeFileSync(resolvConf, 'nameserver 10.1.1.1\n');
const sockets = join(world.runDir, 'plugins');
const specs = join(world.runDir, 'plugin-specs');
const elsewhere = join(world.runDir, 'elsewhere');
for (const d of [join(sockets, 'tnet'), specs, elsewhere]) mkdirSync(d, { recursive: true });

function ipIn<T>(nsPath: string, args: string[]): T {
  return JSON.parse(execFileSync('nsenter', [`--net=${nsPath}`, 'ip', '-j', ...args]).toString()) as T;
}

let ctl: NetworkController;
let tnet: TestPlugin;
let tipam: TestPlugin;
let baseLinks: string[];

before(async () => {
  // tnet: a socket in the `<name>/<name>.sock` layout; tipam: a socket elsewhere, named by a spec file.
  [tnet, tipam] = await Promise.all([
    TestPlugin.start({ socket: join(sockets, 'tnet', 'tnet.sock'), implements: ['NetworkDriver'] }),
    TestPlugin.start({ socket: join(elsewhere, 'ipam.sock'), implements: ['IpamDriver'] }),
  ]);
  writeFileSync(join(specs, 'tipam.spec'), `unix://${join(elsewhere, 'ipam.sock')}\n`);
  ctl = await NetworkController.create({
    runDir,
    hostResolvConf: resolvConf,
    pluginDirs: { sockets: [sockets], specs: [specs] },
    pluginTimeouts: { callTimeoutMs: 5000, retryInitialMs: 50, retryTotalMs: 500 },
  });
  baseLinks = hostLinks();
});
after(async () => {
  await ctl?.close();
  await Promise.all([tnet?.stop(), tipam?.stop()]);
});

describe('lookup', () => {
  test('a network driver and an IPAM driver are found by name and activated', async () => {
    const d = await ctl.drivers.networkDriver('tnet');
    assert.ok(d instanceof RemoteDriver);
    assert.equal(d.type, 'tnet');
    assert.deepEqual(d.capabilities(), { dataScope: 'local', connectivityScope: 'local' });
    const ipam = await ctl.drivers.ipamDriver('tipam');
    assert.ok(ipam instanceof RemoteIpam);
    // GetCapabilities is not implemented by the test plugin: a 404 means none.
    assert.deepEqual(await ipam.capabilities(), { requiresMacAddress: false, requiresRequestReplay: false });
    const calls = (await tnet.state()).calls;
    assert.deepEqual(
      calls.slice(0, 2).map((c) => [c.method, c.body, c.accept]),
      [
        ['Plugin.Activate', null, PLUGIN_MIME],
        ['NetworkDriver.GetCapabilities', null, PLUGIN_MIME],
      ],
    );
  });

  test('unknown names and plugins of the wrong kind', async () => {
    await assert.rejects(ctl.newNetwork('nosuchplugin', 'x'), NetworkTypeError);
    await assert.rejects(ctl.newNetwork('tipam', 'x'), (e: unknown) => {
      assert.ok(e instanceof PluginNotImplementedError);
      assert.equal(e.code, 'ERR_PLUGIN_NOT_IMPLEMENTED');
      assert.match(e.message, /plugin "tipam" does not implement NetworkDriver \(it implements IpamDriver\)/);
      return true;
    });
    await assert.rejects(
      ctl.newNetwork('tnet', 'x', { ipam: { driver: 'tnet' } }),
      PluginNotImplementedError,
    );
    assert.equal(ctl.networkByName('x'), undefined);
    assert.deepEqual((await tnet.state()).networks, {});
  });
});

describe('a network of the plugin with the built-in IPAM', () => {
  test('create, endpoints with dnet and plugin addresses, join with routes, leave, delete', async () => {
    await tnet.clear();
    const n = await ctl.newNetwork('tnet', 'rnet', {
      ipam: { config: [{ subnet: '10.50.0.0/24', auxAddresses: { reserved: '10.50.0.9' } }] },
      options: { 'tnet.mode': 'fast' },
      labels: { team: 'net' },
    });
    let st = await tnet.state();
    const net = st.networks[n.id];
    assert.ok(net, 'the plugin has the network');
    assert.deepEqual(net.request, {
      NetworkID: n.id,
      Options: {
        'com.docker.network.enable_ipv4': true,
        'com.docker.network.enable_ipv6': false,
        'com.docker.network.generic': { 'tnet.mode': 'fast' },
      },
      IPv4Data: [
        {
          AddressSpace: 'LocalDefault',
          Pool: '10.50.0.0/24',
          Gateway: '10.50.0.1/24',
          AuxAddresses: { reserved: '10.50.0.9/24' },
        },
      ],
      IPv6Data: [],
    });
    const bridgeAddrs = NetlinkHandle.open()
      .addrList(net.bridge)
      .map((a) => a.cidr)
      .filter((c) => !c.includes(':'));
    assert.deepEqual(bridgeAddrs, ['10.50.0.1/24']);

    // dnet's address (built-in IPAM): the plugin gets it and returns nothing.
    const ep1 = await n.createEndpoint('ep1', { driverOptions: { 'tnet.ep': '1' } });
    st = await tnet.state();
    assert.deepEqual(st.endpoints[ep1.id]?.request, {
      NetworkID: n.id,
      EndpointID: ep1.id,
      Interface: { Address: '10.50.0.2/24', AddressIPv6: '', MacAddress: '' },
      Options: { 'tnet.ep': '1' },
    });
    // The plugin fills in what dnet left empty: a MAC and an IPv6 address.
    await tnet.set({ endpointInterface: { MacAddress: '02:AA:bb:cc:dd:01', AddressIPv6: 'fd50::99/64' } });
    const ep2 = await n.createEndpoint('ep2');
    await tnet.set({ endpointInterface: null });
    const info2 = await ep2.info();
    assert.equal(info2.ipv4Address, '10.50.0.3/24');
    assert.equal(info2.ipv6Address, 'fd50::99/64');
    assert.equal(info2.macAddress, '02:aa:bb:cc:dd:01');

    // Join: the plugin's veth goes into the sandbox as eth0, with the gateway and static routes.
    await tnet.set({
      staticRoutes: [
        { Destination: '10.60.0.0/16', RouteType: 0, NextHop: '10.50.0.254' },
        { Destination: '10.61.0.7/24', RouteType: 1 },
      ],
    });
    const { sandboxKey: key1 } = await ep1.join('c1');
    await tnet.set({ staticRoutes: [] });
    const { sandboxKey: key2 } = await ep2.join('c2');
    const src1 = `tc${ep1.id.slice(0, 10)}`;
    assert.ok(!hostLinks().includes(src1), 'the container end left the host');
    assert.ok(hostLinks().includes(`tv${ep1.id.slice(0, 10)}`), 'the host end stays, on the bridge');
    const links1 = ipIn<{ ifname: string }[]>(key1, ['link']).map((l) => l.ifname);
    assert.deepEqual(links1.sort(), ['eth0', 'lo']);
    const addr1 = ipIn<
      { ifname: string; addr_info: { local: string; prefixlen: number; family: string }[] }[]
    >(key1, ['addr', 'show', 'eth0'])[0];
    assert.deepEqual(
      addr1?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      ['10.50.0.2/24'],
    );
    const routes1 = ipIn<{ dst: string; gateway?: string; dev: string }[]>(key1, ['-4', 'route']);
    assert.equal(routes1.find((r) => r.dst === 'default')?.gateway, '10.50.0.1');
    assert.equal(routes1.find((r) => r.dst === '10.60.0.0/16')?.gateway, '10.50.0.254');
    const connected = routes1.find((r) => r.dst === '10.61.0.0/24');
    assert.ok(
      connected && connected.gateway === undefined && connected.dev === 'eth0',
      JSON.stringify(routes1),
    );
    assert.equal((await ep1.info()).interfaceName, 'eth0');
    // The plugin's MAC and IPv6 address are on ep2's interface.
    const eth0c2 = ipIn<{ address: string; addr_info: { local: string; family: string }[] }[]>(key2, [
      'addr',
      'show',
      'eth0',
    ])[0];
    assert.equal(eth0c2?.address, '02:aa:bb:cc:dd:01');
    assert.ok(eth0c2?.addr_info.some((a) => a.family === 'inet6' && a.local === 'fd50::99'));
    st = await tnet.state();
    assert.equal(st.endpoints[ep1.id]?.joined, key1);
    const joinCall = st.calls.find((c) => c.method === 'NetworkDriver.Join');
    assert.deepEqual(joinCall?.body, { NetworkID: n.id, EndpointID: ep1.id, SandboxKey: key1, Options: {} });
    // ProgramExternalConnectivity is not implemented by the plugin (404): tolerated.
    assert.ok(st.calls.some((c) => c.method === 'NetworkDriver.ProgramExternalConnectivity'));

    // Traffic between the two sandboxes, through the plugin's bridge.
    const srv = await startServer(key2, 'tcp', '10.50.0.3', 8080);
    try {
      assert.equal(await request(key1, 'tcp', '10.50.0.3', 8080), 'from 10.50.0.2');
    } finally {
      srv.stop();
    }

    await ep1.leave('c1');
    await ep2.leave('c2');
    await ctl.settled(); // the namespaces are removed in the background
    assert.deepEqual(netnsFiles(runDir), []);
    await ep1.delete();
    await ep2.delete();
    await n.delete();
    st = await tnet.state();
    assert.deepEqual(st.networks, {});
    assert.deepEqual(st.endpoints, {});
    assert.deepEqual(hostLinks(), baseLinks, 'no bridge or veth left');
    const methods = st.calls.map((c) => c.method);
    assert.deepEqual(
      methods.filter((m) => /Leave|RevokeExternal|DeleteEndpoint|DeleteNetwork/.test(m)),
      [
        'NetworkDriver.RevokeExternalConnectivity',
        'NetworkDriver.Leave',
        'NetworkDriver.RevokeExternalConnectivity',
        'NetworkDriver.Leave',
        'NetworkDriver.DeleteEndpoint',
        'NetworkDriver.DeleteEndpoint',
        'NetworkDriver.DeleteNetwork',
      ],
    );
  });
});

describe('remote IPAM', () => {
  test('pools and addresses come from the plugin, in Docker order; traffic; released in reverse', async () => {
    await Promise.all([tnet.clear(), tipam.clear()]);
    const n = await ctl.newNetwork('tnet', 'inet', {
      ipam: {
        driver: 'tipam',
        config: [{ subnet: '10.78.0.0/24', gateway: '10.78.0.254', auxAddresses: { dns: '10.78.0.10' } }],
        options: { 'tipam.opt': 'x' },
      },
    });
    assert.deepEqual(
      n.pools.map((p) => [p.poolId, p.subnet, p.gateway, p.auxAddresses]),
      [['plugin-local/10.78.0.0/24', '10.78.0.0/24', '10.78.0.254/24', { dns: '10.78.0.10/24' }]],
    );
    let ist = await tipam.state();
    assert.deepEqual(
      ist.calls.map((c) => [c.method, c.body]),
      [
        ['IpamDriver.GetDefaultAddressSpaces', null],
        [
          'IpamDriver.RequestPool',
          {
            AddressSpace: 'plugin-local',
            Pool: '10.78.0.0/24',
            SubPool: '',
            Options: { 'tipam.opt': 'x' },
            V6: false,
          },
        ],
        [
          'IpamDriver.RequestAddress',
          {
            PoolID: 'plugin-local/10.78.0.0/24',
            Address: '10.78.0.254',
            Options: { RequestAddressType: 'com.docker.network.gateway' },
          },
        ],
        [
          'IpamDriver.RequestAddress',
          { PoolID: 'plugin-local/10.78.0.0/24', Address: '10.78.0.10', Options: {} },
        ],
      ],
    );
    // The network driver got the remote IPAM's data.
    const tst = await tnet.state();
    assert.deepEqual((tst.networks[n.id]?.request as { IPv4Data: unknown }).IPv4Data, [
      {
        AddressSpace: 'plugin-local',
        Pool: '10.78.0.0/24',
        Gateway: '10.78.0.254/24',
        AuxAddresses: { dns: '10.78.0.10/24' },
      },
    ]);

    const a = await n.createEndpoint('a');
    const b = await n.createEndpoint('b', { ipv4Address: '10.78.0.50' });
    assert.equal((await a.info()).ipv4Address, '10.78.0.1/24');
    assert.equal((await b.info()).ipv4Address, '10.78.0.50/24');
    ist = await tipam.state();
    assert.deepEqual(ist.pools['plugin-local/10.78.0.0/24']?.used, [
      '10.78.0.254',
      '10.78.0.10',
      '10.78.0.1',
      '10.78.0.50',
    ]);

    const { sandboxKey: ka } = await a.join('ca');
    const { sandboxKey: kb } = await b.join('cb');
    const routes = ipIn<{ dst: string; gateway?: string }[]>(ka, ['-4', 'route']);
    assert.equal(routes.find((r) => r.dst === 'default')?.gateway, '10.78.0.254');
    const srv = await startServer(ka, 'udp', '10.78.0.1', 5353);
    try {
      assert.equal(await request(kb, 'udp', '10.78.0.1', 5353), 'from 10.78.0.50');
    } finally {
      srv.stop();
    }
    await a.leave('ca');
    await b.leave('cb');
    await a.delete();
    await b.delete();
    await tipam.clear();
    await n.delete();
    ist = await tipam.state();
    assert.deepEqual(
      ist.calls.map((c) => [c.method, c.body]),
      [
        ['IpamDriver.ReleaseAddress', { PoolID: 'plugin-local/10.78.0.0/24', Address: '10.78.0.10' }],
        ['IpamDriver.ReleaseAddress', { PoolID: 'plugin-local/10.78.0.0/24', Address: '10.78.0.254' }],
        ['IpamDriver.ReleasePool', { PoolID: 'plugin-local/10.78.0.0/24' }],
      ],
    );
    assert.deepEqual(ist.pools, {});
    assert.deepEqual(hostLinks(), baseLinks);
  });

  test('a default pool from the plugin', async () => {
    const n = await ctl.newNetwork('tnet', 'inet2', { ipam: { driver: 'tipam' } });
    assert.match(n.pools[0]?.subnet ?? '', /^10\.77\.\d+\.0\/24$/);
    assert.match(n.pools[0]?.gateway ?? '', /^10\.77\.\d+\.1\/24$/);
    const ep = await n.createEndpoint('e');
    assert.match((await ep.info()).ipv4Address ?? '', /^10\.77\.\d+\.2\/24$/);
    await ep.delete();
    await n.delete();
    assert.deepEqual((await tipam.state()).pools, {});
  });
});

describe('through the daemon (docker network create -d <plugin>), across a daemon restart', () => {
  test('create, connect, restart (restored through the plugin), disconnect, remove', async () => {
    await tnet.clear();
    const sock = join(world.runDir, 'api.sock');
    const opts = {
      runDir: join(world.runDir, 'dnetd'),
      dataDir: join(world.runDir, 'dnetd-data'),
      hosts: [`unix://${sock}`],
      defaultBridge: false,
      controllerConfig: {
        hostResolvConf: resolvConf,
        pluginDirs: { sockets: [sockets], specs: [specs] },
        pluginTimeouts: { callTimeoutMs: 5000, retryInitialMs: 50, retryTotalMs: 500 },
      },
      log: () => {},
    };
    const api = (method: string, path: string, body?: unknown) => call(sock, method, path, body);
    const d1 = await startDaemon(opts);
    let id: string;
    try {
      const created = await api('POST', '/networks/create', {
        Name: 'dn',
        Driver: 'tnet',
        IPAM: { Config: [{ Subnet: '10.55.0.0/24' }] },
      });
      assert.equal(created.status, 201, created.text);
      id = (created.json as { Id: string }).Id;
      assert.equal((await api('POST', '/networks/create', { Name: 'x', Driver: 'tipam' })).status, 404);
      assert.equal((await api('POST', '/networks/create', { Name: 'x', Driver: 'nosuch' })).status, 404);
      const conn = await api('POST', '/networks/dn/connect', { Container: 'web' });
      assert.equal(conn.status, 200, conn.text);
    } finally {
      await d1.close();
    }
    const d2 = await startDaemon(opts);
    try {
      assert.deepEqual(d2.controller.lastRestore?.problems, []);
      const n = (await api('GET', '/networks/dn')).json as {
        Id: string;
        Driver: string;
        Containers: Record<string, { IPv4Address: string }>;
      };
      assert.equal(n.Id, id);
      assert.equal(n.Driver, 'tnet');
      assert.deepEqual(
        Object.values(n.Containers).map((c) => c.IPv4Address),
        ['10.55.0.2/24'],
      );
      assert.equal((await api('POST', '/networks/dn/disconnect', { Container: 'web' })).status, 200);
      assert.equal((await api('DELETE', '/networks/dn')).status, 204);
    } finally {
      await d2.close();
    }
    const st = await tnet.state();
    assert.deepEqual(st.networks, {});
    assert.deepEqual(st.endpoints, {});
    assert.deepEqual(hostLinks(), baseLinks);
  });
});
