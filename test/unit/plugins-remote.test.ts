// The remote network driver and the remote IPAM driver against an in-process fake plugin: the
// requests dockerd would send, and every reply field checked before use.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { CreateEndpointRequest } from '../../src/driver-api/driver.ts';
import { parseJoin, RemoteDriver } from '../../src/drivers/remote/index.ts';
import { networkOf } from '../../src/ip/index.ts';
import { parseMac } from '../../src/ip/mac.ts';
import { RemoteIpam } from '../../src/ipam/index.ts';
import {
  isValidIfName,
  PluginCallError,
  PluginReplyError,
  parseCidr,
  parseIp,
  Reply,
} from '../../src/plugins/index.ts';
import { FakePlugin } from '../helpers/plugin-fake.ts';

const NID = 'n'.repeat(64);
const EID = 'e'.repeat(64);
let fake: FakePlugin;

beforeEach(async () => {
  fake = await new FakePlugin('rp').listen();
  fake.on('NetworkDriver.GetCapabilities', { Scope: 'local' });
});
afterEach(async () => {
  await fake.close();
});

const driver = () => RemoteDriver.create(fake.client());
const epReq = (iface: CreateEndpointRequest['iface'] = {}): CreateEndpointRequest => ({
  networkId: NID,
  endpointId: EID,
  iface,
  options: { exposedPorts: [], portBindings: [], generic: {} },
});

describe('reply checking helpers', () => {
  test('IPs, CIDRs, MACs, interface names', () => {
    assert.equal(parseIp('10.0.0.1', 4), '10.0.0.1');
    assert.equal(parseIp('FD00::0:1'), 'fd00::1');
    for (const bad of ['10.1', '010.0.0.1x', '10.0.0.1/24', 'fe80::1%eth0', ''])
      assert.equal(parseIp(bad), undefined, bad);
    assert.equal(parseIp('10.0.0.1', 6), undefined);
    assert.equal(parseCidr('10.0.0.5/24', 4), '10.0.0.5/24');
    assert.equal(parseCidr('fd00::5/64'), 'fd00::5/64');
    for (const bad of ['10.0.0.5', '10.0.0.5/33', 'fd00::/129', '10.0.0.5/x', '/24'])
      assert.equal(parseCidr(bad), undefined);
    assert.equal(networkOf('10.61.0.7/24'), '10.61.0.0/24');
    assert.equal(networkOf('fd00::5/64'), 'fd00::/64');
    assert.equal(parseMac('02-AA-bb-CC-dd-01'), '02:aa:bb:cc:dd:01');
    for (const bad of [
      '01:00:5e:00:00:01',
      '00:00:00:00:00:00',
      '02:aa:bb:cc:dd',
      '02:aa-bb:cc:dd:ee',
      'zz:zz:zz:zz:zz:zz',
    ]) {
      assert.equal(parseMac(bad), undefined, bad);
    }
    for (const ok of ['eth0', 'veth1234567890a', 'a']) assert.ok(isValidIfName(ok), ok);
    for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'veth1234567890ab', 'a\nb'])
      assert.ok(!isValidIfName(bad), bad);
  });
});

describe('remote network driver', () => {
  test('capabilities: scope, connectivity scope defaulting to it; anything else is refused', async () => {
    assert.deepEqual((await driver()).capabilities(), { dataScope: 'local', connectivityScope: 'local' });
    fake.on('NetworkDriver.GetCapabilities', { Scope: 'global', ConnectivityScope: 'local' });
    assert.deepEqual((await driver()).capabilities(), { dataScope: 'global', connectivityScope: 'local' });
    fake.on('NetworkDriver.GetCapabilities', { Scope: 'galaxy' });
    await assert.rejects(driver(), /"Scope" must be "local" or "global" \(got "galaxy"\)/);
    fake.on('NetworkDriver.GetCapabilities', {});
    await assert.rejects(driver(), /"Scope" must be/);
    assert.equal(fake.bodies('NetworkDriver.GetCapabilities')[0], null, 'no body, as dockerd');
  });

  test("CreateNetwork and DeleteNetwork: dockerd's request shape", async () => {
    fake.on('NetworkDriver.CreateNetwork', {}).on('NetworkDriver.DeleteNetwork', {});
    const d = await driver();
    await d.createNetwork({
      networkId: NID,
      options: { generic: { a: 'b' }, enableIPv6: true, internal: true, labels: { l: 'v' }, name: 'x' },
      ipv4Data: [
        { addressSpace: 'LocalDefault', pool: '10.0.0.0/24', gateway: '10.0.0.1/24', auxAddresses: {} },
      ],
      ipv6Data: [{ addressSpace: 'LocalDefault', pool: 'fd00::/64', auxAddresses: { r: 'fd00::9/64' } }],
    });
    await d.deleteNetwork(NID);
    assert.deepEqual(fake.bodies('NetworkDriver.CreateNetwork'), [
      {
        NetworkID: NID,
        Options: {
          'com.docker.network.enable_ipv4': true,
          'com.docker.network.enable_ipv6': true,
          'com.docker.network.generic': { a: 'b' },
          'com.docker.network.internal': true,
        },
        IPv4Data: [
          { AddressSpace: 'LocalDefault', Pool: '10.0.0.0/24', Gateway: '10.0.0.1/24', AuxAddresses: {} },
        ],
        IPv6Data: [{ AddressSpace: 'LocalDefault', Pool: 'fd00::/64', AuxAddresses: { r: 'fd00::9/64' } }],
      },
    ]);
    assert.deepEqual(fake.bodies('NetworkDriver.DeleteNetwork'), [{ NetworkID: NID }]);
  });

  test('CreateEndpoint: the interface and port options sent; what the plugin fills in is checked', async () => {
    fake.on('NetworkDriver.CreateEndpoint', {
      Interface: { MacAddress: '02-AA-00-00-00-01', AddressIPv6: 'fd00::7/64' },
    });
    const d = await driver();
    const res = await d.createEndpoint({
      ...epReq({ address: '10.0.0.2/24' }),
      options: {
        exposedPorts: [{ proto: 'tcp', port: 80 }],
        portBindings: [{ proto: 'udp', port: 53, hostPort: 5353 }],
        generic: { o: '1' },
      },
    });
    assert.deepEqual(res, { iface: { macAddress: '02:aa:00:00:00:01', addressIPv6: 'fd00::7/64' } });
    assert.deepEqual(fake.bodies('NetworkDriver.CreateEndpoint')[0], {
      NetworkID: NID,
      EndpointID: EID,
      Interface: { Address: '10.0.0.2/24', AddressIPv6: '', MacAddress: '' },
      Options: {
        o: '1',
        'com.docker.network.endpoint.exposedports': [{ Proto: 6, Port: 80 }],
        'com.docker.network.portmap': [
          { Proto: 17, IP: '', Port: 53, HostIP: '', HostPort: 5353, HostPortEnd: 5353 },
        ],
      },
    });
    // No Interface, or Go's zero Interface: nothing filled in.
    for (const reply of [
      {},
      { Interface: null },
      { Interface: { Address: '', AddressIPv6: '', MacAddress: '' } },
    ]) {
      fake.on('NetworkDriver.CreateEndpoint', reply);
      assert.deepEqual(await d.createEndpoint(epReq({ address: '10.0.0.2/24' })), {});
    }
  });

  test('CreateEndpoint: a field set twice, or invalid, is refused and rolled back with DeleteEndpoint', async () => {
    const d = await driver();
    fake.on('NetworkDriver.DeleteEndpoint', {});
    const cases: [CreateEndpointRequest['iface'], Record<string, unknown>, RegExp][] = [
      [
        { address: '10.0.0.2/24' },
        { Address: '10.0.0.2/24' },
        /"Interface\.Address" is 10\.0\.0\.2\/24, but dnet already gave/,
      ],
      [
        { macAddress: '02:00:00:00:00:01' },
        { MacAddress: '02:00:00:00:00:02' },
        /"Interface\.MacAddress" .* already gave/,
      ],
      [
        { addressIPv6: 'fd00::1/64' },
        { AddressIPv6: 'fd00::2/64' },
        /"Interface\.AddressIPv6" .* already gave/,
      ],
      [{}, { Address: '10.0.0.2' }, /"Interface\.Address" is not an IPv4 CIDR/],
      [{}, { Address: 'fd00::1/64' }, /"Interface\.Address" is not an IPv4 CIDR/],
      [{}, { MacAddress: 'ff:ff:ff:ff:ff:ff' }, /not a unicast MAC/],
    ];
    for (const [sent, got, re] of cases) {
      fake.on('NetworkDriver.CreateEndpoint', { Interface: got });
      const before = fake.bodies('NetworkDriver.DeleteEndpoint').length;
      await assert.rejects(d.createEndpoint(epReq(sent)), (e: unknown) => {
        assert.ok(e instanceof PluginReplyError, String(e));
        assert.equal(e.method, 'NetworkDriver.CreateEndpoint');
        assert.match(e.message, re);
        assert.equal(e.rollback, 'rolled back with NetworkDriver.DeleteEndpoint');
        return true;
      });
      assert.equal(fake.bodies('NetworkDriver.DeleteEndpoint').length, before + 1);
    }
    // The rollback fails too: both are told.
    fake.on('NetworkDriver.CreateEndpoint', { Interface: { Address: 'x' } });
    fake.on('NetworkDriver.DeleteEndpoint', { status: 500, body: { Err: 'cannot' } });
    await assert.rejects(
      d.createEndpoint(epReq()),
      /rolling back with NetworkDriver\.DeleteEndpoint failed too: plugin "rp" failed NetworkDriver\.DeleteEndpoint \(HTTP 500\): cannot/,
    );
    // An Err reply is the plugin's failure: nothing to roll back.
    fake.on('NetworkDriver.CreateEndpoint', { status: 500, body: { Err: 'nope' } });
    const before = fake.bodies('NetworkDriver.DeleteEndpoint').length;
    await assert.rejects(d.createEndpoint(epReq()), PluginCallError);
    assert.equal(fake.bodies('NetworkDriver.DeleteEndpoint').length, before);
  });

  test('EndpointOperInfo: the value map; its MAC and port map used when well-formed', async () => {
    const d = await driver();
    fake.on('NetworkDriver.EndpointOperInfo', {
      Value: {
        custom: { x: 1 },
        portMappings: 'ignored: not the plugin protocol',
        'com.docker.network.endpoint.macaddress': '02:00:00:00:00:09',
        'com.docker.network.portmap': [
          { Proto: 6, IP: '10.0.0.2', Port: 80, HostIP: '0.0.0.0', HostPort: 8080 },
        ],
      },
    });
    const info = await d.endpointOperInfo(NID, EID);
    assert.equal(info.macAddress, '02:00:00:00:00:09');
    assert.deepEqual(info.custom, { x: 1 });
    assert.deepEqual(info.portMappings, [
      {
        proto: 'tcp',
        port: 80,
        portEnd: 80,
        containerIP: '10.0.0.2',
        hostIP: '0.0.0.0',
        hostPort: 8080,
        hostPortEnd: 8080,
      },
    ]);
    assert.deepEqual(fake.bodies('NetworkDriver.EndpointOperInfo')[0], { NetworkID: NID, EndpointID: EID });
    fake.on('NetworkDriver.EndpointOperInfo', {});
    assert.deepEqual(await d.endpointOperInfo(NID, EID), {});
    // Malformed Docker keys in the free-form map are kept as data, not used.
    const odd = {
      'com.docker.network.portmap': [{ Proto: 99, Port: 1 }],
      'com.docker.network.endpoint.macaddress': 'x',
    };
    fake.on('NetworkDriver.EndpointOperInfo', { Value: odd });
    assert.deepEqual(await d.endpointOperInfo(NID, EID), odd);
    fake.on('NetworkDriver.EndpointOperInfo', { Value: [] });
    await assert.rejects(d.endpointOperInfo(NID, EID), /"Value" is not an object/);
  });

  test('Join: request, interface names, gateways and routes; Leave', async () => {
    const d = await driver();
    fake.on('NetworkDriver.Leave', {}).on('NetworkDriver.Join', {
      InterfaceName: { SrcName: 'veth0abc', DstPrefix: 'eth' },
      Gateway: '10.0.0.1',
      GatewayIPv6: 'fd00::1',
      StaticRoutes: [
        { Destination: '192.0.2.9/24', RouteType: 0, NextHop: '10.0.0.254' },
        { Destination: '198.51.100.0/24', RouteType: 1, NextHop: '10.0.0.1' },
        { Destination: 'fd01::/64', RouteType: 0, NextHop: 'fd00::fe' },
      ],
      DisableGatewayService: true,
    });
    const info = await d.join({
      networkId: NID,
      endpointId: EID,
      sandboxKey: '/run/x/netns/abc',
      options: { k: 'v' },
    });
    assert.deepEqual(info, {
      interfaceName: { srcName: 'veth0abc', dstPrefix: 'eth' },
      gateway: '10.0.0.1',
      gatewayIPv6: 'fd00::1',
      staticRoutes: [
        { destination: '192.0.2.0/24', routeType: 0, nextHop: '10.0.0.254' },
        { destination: '198.51.100.0/24', routeType: 1 },
        { destination: 'fd01::/64', routeType: 0, nextHop: 'fd00::fe' },
      ],
      disableGatewayService: true,
    });
    assert.deepEqual(fake.bodies('NetworkDriver.Join')[0], {
      NetworkID: NID,
      EndpointID: EID,
      SandboxKey: '/run/x/netns/abc',
      Options: { k: 'v' },
    });
    await d.leave(NID, EID);
    assert.deepEqual(fake.bodies('NetworkDriver.Leave'), [{ NetworkID: NID, EndpointID: EID }]);
  });

  test('Join replies: no interface, default prefix; invalid ones are refused', () => {
    const r = (body: Record<string, unknown>) => parseJoin(new Reply('p', 'NetworkDriver.Join', body));
    assert.deepEqual(r({}), { staticRoutes: [], disableGatewayService: false });
    assert.deepEqual(r({ InterfaceName: { SrcName: '', DstPrefix: '' }, Gateway: '' }), {
      staticRoutes: [],
      disableGatewayService: false,
    });
    assert.deepEqual(r({ InterfaceName: { SrcName: 'v1' } }).interfaceName, {
      srcName: 'v1',
      dstPrefix: 'eth',
    });
    const bad: [Record<string, unknown>, RegExp][] = [
      [
        { InterfaceName: { SrcName: '', DstPrefix: 'eth' } },
        /"InterfaceName\.SrcName" is missing \(DstPrefix is set\)/,
      ],
      [{ InterfaceName: { SrcName: 'v1', DstPrefix: 'averylongprefix' } }, /DstPrefix" is not a usable/],
      [{ InterfaceName: { SrcName: 'v1', DstPrefix: '0x' } }, /DstPrefix" is not a usable/],
      [
        { StaticRoutes: [{ Destination: '10.0.0.0/8', RouteType: 1 }] },
        /"StaticRoutes" are given without an interface/,
      ],
      [{ InterfaceName: { SrcName: 'v1' }, StaticRoutes: [null] }, /"StaticRoutes\[0\]" is not an object/],
      [
        { InterfaceName: { SrcName: 'v1' }, StaticRoutes: [{ RouteType: 1 }] },
        /"StaticRoutes\[0\]\.Destination" is missing/,
      ],
      [
        {
          InterfaceName: { SrcName: 'v1' },
          StaticRoutes: [{ Destination: '10.0.0.0/8', RouteType: '0', NextHop: '10.0.0.1' }],
        },
        /RouteType" must be 0/,
      ],
      [
        {
          InterfaceName: { SrcName: 'v1' },
          StaticRoutes: [{ Destination: '10.0.0.0/8', RouteType: 1, NextHop: 'bogus' }],
        },
        /NextHop" is not an IPv4 address/,
      ],
      [{ GatewayIPv6: 'fe80::1%eth0' }, /"GatewayIPv6" is not an IPv6 address/],
    ];
    for (const [body, re] of bad) {
      assert.throws(
        () => r(body),
        (e: unknown) => e instanceof PluginReplyError && re.test(e.message),
        JSON.stringify(body),
      );
    }
  });

  test('Join: an unusable reply is rolled back with Leave', async () => {
    const d = await driver();
    fake
      .on('NetworkDriver.Join', { InterfaceName: { SrcName: 'bad name', DstPrefix: 'eth' } })
      .on('NetworkDriver.Leave', {});
    await assert.rejects(
      d.join({ networkId: NID, endpointId: EID, sandboxKey: '/x', options: {} }),
      /"InterfaceName\.SrcName" is not a valid interface name \(got "bad name"\); rolled back with NetworkDriver\.Leave$/,
    );
    assert.deepEqual(fake.methods().slice(-2), ['NetworkDriver.Join', 'NetworkDriver.Leave']);
  });

  test('external connectivity: 404 tolerated, errors not; the endpoint port options are sent', async () => {
    const d = await driver();
    await d.programExternalConnectivity(NID, EID, {});
    await d.revokeExternalConnectivity(NID, EID);
    fake.on('NetworkDriver.CreateEndpoint', {});
    await d.createEndpoint({
      ...epReq(),
      options: { exposedPorts: [{ proto: 'udp', port: 9 }], portBindings: [], generic: { g: '1' } },
    });
    fake
      .on('NetworkDriver.ProgramExternalConnectivity', {})
      .on('NetworkDriver.RevokeExternalConnectivity', { status: 500, body: { Err: 'stuck' } });
    await d.programExternalConnectivity(NID, EID, { extra: 'x' });
    assert.deepEqual(fake.bodies('NetworkDriver.ProgramExternalConnectivity').at(-1), {
      NetworkID: NID,
      EndpointID: EID,
      Options: { 'com.docker.network.endpoint.exposedports': [{ Proto: 17, Port: 9 }], extra: 'x' },
    });
    await assert.rejects(
      d.revokeExternalConnectivity(NID, EID),
      /failed NetworkDriver\.RevokeExternalConnectivity \(HTTP 500\): stuck/,
    );
  });

  test('discovery notifications: node discovery is forwarded, other types are not', async () => {
    const d = await driver();
    fake.on('NetworkDriver.DiscoverNew', {}).on('NetworkDriver.DiscoverDelete', {});
    await d.discoverNew(1, { Address: '192.0.2.1', BindAddress: '0.0.0.0', Self: true });
    await d.discoverNew(2, { x: 1 });
    await d.discoverDelete(1, { Address: '192.0.2.1', Self: false });
    assert.deepEqual(fake.bodies('NetworkDriver.DiscoverNew'), [
      { DiscoveryType: 1, DiscoveryData: { Address: '192.0.2.1', BindAddress: '0.0.0.0', Self: true } },
    ]);
    assert.deepEqual(fake.bodies('NetworkDriver.DiscoverDelete'), [
      { DiscoveryType: 1, DiscoveryData: { Address: '192.0.2.1', Self: false } },
    ]);
  });
});

describe('remote IPAM driver', () => {
  const ipam = () => new RemoteIpam(fake.client());

  test('capabilities: optional (404 = none), asked once', async () => {
    const i = ipam();
    assert.deepEqual(await i.capabilities(), { requiresMacAddress: false, requiresRequestReplay: false });
    assert.deepEqual(await i.capabilities(), { requiresMacAddress: false, requiresRequestReplay: false });
    assert.equal(fake.bodies('IpamDriver.GetCapabilities').length, 1);
    fake.on('IpamDriver.GetCapabilities', { RequiresMACAddress: true, RequiresRequestReplay: true });
    assert.deepEqual(await ipam().capabilities(), { requiresMacAddress: true, requiresRequestReplay: true });
    fake.on('IpamDriver.GetCapabilities', { status: 500, body: { Error: 'boom' } });
    await assert.rejects(ipam().capabilities(), /failed IpamDriver\.GetCapabilities \(HTTP 500\): boom/);
  });

  test('address spaces, pools and addresses: requests as dockerd sends them, replies checked', async () => {
    fake
      .on('IpamDriver.GetDefaultAddressSpaces', {
        LocalDefaultAddressSpace: 'L',
        GlobalDefaultAddressSpace: 'G',
      })
      .on('IpamDriver.RequestPool', (b) => {
        const req = b as { Pool: string; V6: boolean };
        return {
          PoolID: `L/${req.Pool || '10.5.0.0/16'}`,
          Pool: req.Pool || '10.5.0.9/16',
          Data: { d: 'x' },
        };
      })
      .on('IpamDriver.RequestAddress', (b) => {
        const req = b as { Address: string };
        return { Address: `${req.Address || '10.5.0.2'}/16`, Data: {} };
      })
      .on('IpamDriver.ReleaseAddress', {})
      .on('IpamDriver.ReleasePool', {});
    const i = ipam();
    assert.deepEqual(await i.defaultAddressSpaces(), { local: 'L', global: 'G' });
    const pool = await i.requestPool({ addressSpace: 'L', v6: false });
    assert.deepEqual(pool, { poolId: 'L/10.5.0.0/16', pool: '10.5.0.0/16', data: { d: 'x' } });
    const gw = await i.requestAddress(pool.poolId, {
      address: '10.5.0.1',
      options: { RequestAddressType: 'com.docker.network.gateway' },
    });
    assert.deepEqual(gw, { address: '10.5.0.1/16', data: {} });
    assert.deepEqual(await i.requestAddress(pool.poolId), { address: '10.5.0.2/16', data: {} });
    await i.releaseAddress(pool.poolId, '10.5.0.2');
    await i.releasePool(pool.poolId);
    assert.deepEqual(
      fake.requests.map((r) => [r.method, r.body]),
      [
        ['IpamDriver.GetDefaultAddressSpaces', null],
        ['IpamDriver.RequestPool', { AddressSpace: 'L', Pool: '', SubPool: '', Options: {}, V6: false }],
        [
          'IpamDriver.RequestAddress',
          {
            PoolID: 'L/10.5.0.0/16',
            Address: '10.5.0.1',
            Options: { RequestAddressType: 'com.docker.network.gateway' },
          },
        ],
        ['IpamDriver.RequestAddress', { PoolID: 'L/10.5.0.0/16', Address: '', Options: {} }],
        ['IpamDriver.ReleaseAddress', { PoolID: 'L/10.5.0.0/16', Address: '10.5.0.2' }],
        ['IpamDriver.ReleasePool', { PoolID: 'L/10.5.0.0/16' }],
      ],
    );
  });

  test('bad pools and addresses are refused and released; Error in a 200 reply is a failure', async () => {
    fake.on('IpamDriver.ReleasePool', {}).on('IpamDriver.ReleaseAddress', {});
    const i = ipam();
    const poolCases: [Record<string, unknown>, Parameters<RemoteIpam['requestPool']>[0], RegExp][] = [
      [{ PoolID: 'p', Pool: '10.0.0.0/8' }, { addressSpace: 'L', v6: true }, /"Pool" is not an IPv6 CIDR/],
      [{ PoolID: 'p', Pool: 'fd00::/64' }, { addressSpace: 'L', v6: false }, /"Pool" is not an IPv4 CIDR/],
      [
        { PoolID: 'p', Pool: '10.1.0.0/16' },
        { addressSpace: 'L', pool: '10.2.0.0/16', v6: false },
        /"Pool" is 10\.1\.0\.0\/16, but 10\.2\.0\.0\/16 was asked for/,
      ],
      [{ PoolID: 'p' }, { addressSpace: 'L', v6: false }, /"Pool" is missing/],
      [
        { PoolID: 'p', Pool: '10.0.0.0/8', Data: { n: 1 } },
        { addressSpace: 'L', v6: false },
        /"Data\.n" is not a string/,
      ],
    ];
    for (const [reply, req, re] of poolCases) {
      fake.on('IpamDriver.RequestPool', reply);
      await assert.rejects(i.requestPool(req), (e: unknown) => {
        assert.ok(e instanceof PluginReplyError, String(e));
        assert.match(e.message, re);
        assert.equal(e.rollback, 'released again with IpamDriver.ReleasePool');
        return true;
      });
    }
    assert.equal(fake.bodies('IpamDriver.ReleasePool').length, poolCases.length);
    fake.on('IpamDriver.RequestPool', { Pool: '10.0.0.0/8' });
    await assert.rejects(i.requestPool({ addressSpace: 'L', v6: false }), (e: unknown) => {
      assert.ok(e instanceof PluginReplyError);
      assert.match(e.message, /"PoolID" is missing/);
      assert.equal(e.rollback, undefined, 'no pool ID: nothing to release');
      return true;
    });

    fake.on('IpamDriver.RequestPool', { PoolID: 'p1', Pool: '10.9.0.0/24' });
    await i.requestPool({ addressSpace: 'L', v6: false });
    const addrCases: [Record<string, unknown>, string | undefined, RegExp, boolean][] = [
      [
        { Address: '10.8.0.5/24' },
        undefined,
        /"Address" 10\.8\.0\.5\/24 is not inside the pool 10\.9\.0\.0\/24/,
        true,
      ],
      [
        { Address: '10.9.0.6/24' },
        '10.9.0.5',
        /"Address" is 10\.9\.0\.6\/24, but 10\.9\.0\.5 was asked for/,
        true,
      ],
      [{ Address: 'fd00::1/64' }, undefined, /"Address" is not an IPv4 CIDR/, true],
      [{ Address: '10.9.0.7' }, undefined, /"Address" is not an IPv4 CIDR/, true],
      [{}, undefined, /"Address" is missing/, false],
    ];
    for (const [reply, wanted, re, released] of addrCases) {
      fake.on('IpamDriver.RequestAddress', reply);
      const before = fake.bodies('IpamDriver.ReleaseAddress').length;
      await assert.rejects(i.requestAddress('p1', wanted ? { address: wanted } : {}), re);
      assert.equal(
        fake.bodies('IpamDriver.ReleaseAddress').length,
        before + (released ? 1 : 0),
        JSON.stringify(reply),
      );
    }
    fake.on('IpamDriver.RequestAddress', { Error: 'exhausted' });
    await assert.rejects(
      i.requestAddress('p1'),
      /^PluginCallError: plugin "rp" failed IpamDriver\.RequestAddress: exhausted$/,
    );
  });
});
