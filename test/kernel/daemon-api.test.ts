import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApiContext } from '../../src/daemon/api/context.ts';
import { ApiServer } from '../../src/daemon/api/server.ts';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.ts';
import type { NetworkDriver } from '../../src/index.ts';
import { world } from '../harness/world.ts';
import { call, type RawReply } from '../helpers/http.ts';
import { request, type Server, startServer } from '../helpers/traffic.ts';

const sock = join(world.runDir, 'api.sock');
const runDir = join(world.runDir, 'dnet');
const resolvConf = join(world.runDir, 'host-resolv.conf');
writeFileSync(resolvConf, 'nameserver 10.1.1.1\nsearch corp.example\n');

let daemon: Daemon;
const servers: Server[] = [];

/** A driver that makes nothing: many cheap networks (for the ambiguous-prefix test). */
class FakeDriver implements NetworkDriver {
  readonly type = 'fake';
  readonly skipsIpam = true;
  capabilities() {
    return { dataScope: 'local' as const, connectivityScope: 'local' as const };
  }
  async createNetwork() {}
  async deleteNetwork() {}
  async createEndpoint() {
    return {};
  }
  async deleteEndpoint() {}
  async endpointOperInfo() {
    return {};
  }
  async join() {
    return { staticRoutes: [], disableGatewayService: true };
  }
  async leave() {}
}

const api = (method: string, path: string, body?: unknown, opts?: Parameters<typeof call>[4]) =>
  call(sock, method, path, body, opts);

interface Net {
  Name: string;
  Id: string;
  Driver: string;
  Created: string;
  IPAM: {
    Driver: string;
    Config: {
      Subnet: string;
      Gateway?: string;
      IPRange?: string;
      AuxiliaryAddresses?: Record<string, string>;
    }[];
  };
  Containers: Record<
    string,
    { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
  >;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

function expectError(r: RawReply, status: number, message: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers['content-type'], 'application/json');
  const body = r.json as { message: string };
  assert.deepEqual(Object.keys(body), ['message']);
  assert.match(body.message, message);
}

async function create(body: Record<string, unknown>): Promise<string> {
  const r = await api('POST', '/networks/create', body);
  assert.equal(r.status, 201, r.text);
  return (r.json as { Id: string }).Id;
}

async function inspect(ref: string): Promise<Net> {
  const r = await api('GET', `/networks/${ref}`);
  assert.equal(r.status, 200, r.text);
  return r.json as Net;
}

const ipIn = <T>(nsPath: string, args: string[]): T =>
  JSON.parse(execFileSync('nsenter', [`--net=${nsPath}`, 'ip', '-j', ...args]).toString()) as T;

before(async () => {
  daemon = await startDaemon({
    runDir,
    dataDir: join(world.runDir, 'data'),
    hosts: [`unix://${sock}`, 'tcp://127.0.0.1:0'],
    insecureTcp: true, // plain HTTP on TCP (test/kernel/daemon-tls.test.ts covers TLS)
    controllerConfig: { hostResolvConf: resolvConf },
    bodyLimit: 64 * 1024,
    log: () => {},
  });
  daemon.controller.registerDriver(new FakeDriver());
});

after(async () => {
  for (const s of servers) s.stop();
  await daemon.close();
  assert.ok(!existsSync(sock), 'the socket is removed on close');
});

describe('system', () => {
  test('GET and HEAD /_ping answer OK with the headers the docker CLI negotiates from', async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await api(method, '/_ping');
      assert.equal(r.status, 200);
      assert.equal(r.text, method === 'GET' ? 'OK' : '');
      assert.equal(r.headers['api-version'], '1.48');
      assert.equal(r.headers.ostype, 'linux');
      assert.equal(r.headers['docker-experimental'], 'false');
      assert.equal(r.headers.swarm, 'inactive');
      assert.equal(r.headers['cache-control'], 'no-cache, no-store, must-revalidate');
      assert.equal(r.headers.pragma, 'no-cache');
    }
  });

  test('TCP, when asked for; a live socket is not taken over, a stale one is, a file is not', async () => {
    const tcp = daemon.hosts.find((h) => h.startsWith('tcp://'));
    assert.match(tcp ?? '', /^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const port = Number(tcp!.split(':').at(-1));
    const text = await new Promise<string>((resolve, reject) => {
      httpGet({ host: '127.0.0.1', port, path: '/v1.41/_ping' }, (res) => {
        let b = '';
        res.on('data', (c) => {
          b += c;
        });
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    assert.equal(text, 'OK');
    const ctx = new ApiContext(daemon.controller, daemon.registry, {
      version: '0',
      runDir,
      dataDir: runDir,
      startedAt: new Date(),
    });
    const other = new ApiServer(ctx, { log: () => {} });
    await assert.rejects(other.listen(`unix://${sock}`), /another daemon is listening on this socket/);
    const file = join(world.runDir, 'not-a-socket');
    writeFileSync(file, '');
    await assert.rejects(other.listen(`unix://${file}`), /is not a socket/);
    await assert.rejects(other.listen('http://x'), /expected unix:\/\/\/path or tcp:\/\/addr:port/);
    // A socket left by a killed daemon is removed and served again.
    const stale = join(world.runDir, 'stale', 'x.sock');
    mkdirSync(join(world.runDir, 'stale'));
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    assert.ok(existsSync(stale), 'the killed process left its socket');
    await other.listen(`unix://${stale}`);
    assert.equal((await call(stale, 'GET', '/_ping')).text, 'OK');
    await other.close();
    assert.ok(!existsSync(stale));
  });

  test('the socket is mode 0660', () => {
    const mode = Number.parseInt(execFileSync('stat', ['-c', '%a', sock]).toString(), 8);
    assert.equal(mode, 0o660);
  });

  test('GET /version and /info in dockerd shape', async () => {
    const v = (await api('GET', '/version')).json as Record<string, unknown>;
    assert.equal(v.ApiVersion, '1.48');
    assert.equal(v.MinAPIVersion, '1.40');
    assert.equal(v.Os, 'linux');
    assert.match(String(v.Version), /^\d+\.\d+\.\d+/);
    assert.ok(Array.isArray(v.Components));
    const info = (await api('GET', '/info')).json as { OSType: string; Swarm: { LocalNodeState: string } };
    assert.equal(info.OSType, 'linux');
    assert.equal(info.Swarm.LocalNodeState, 'inactive');
  });

  test('versioned and unversioned paths; versions outside [1.40, 1.48] are refused with 400', async () => {
    assert.equal((await api('GET', '/v1.40/networks')).status, 200);
    assert.equal((await api('GET', '/v1.48/_ping')).status, 200);
    assert.equal((await api('GET', '/networks')).status, 200);
    expectError(
      await api('GET', '/v1.39/networks'),
      400,
      /client version 1\.39 is too old\. Minimum supported API version is 1\.40/,
    );
    expectError(
      await api('GET', '/v1.49/networks'),
      400,
      /client version 1\.49 is too new\. Maximum supported API version is 1\.48/,
    );
    expectError(await api('GET', '/v1.5/_ping'), 400, /too old/);
  });

  test('unknown routes and wrong methods are 404 "page not found"', async () => {
    expectError(await api('PUT', '/networks'), 404, /^page not found$/);
    expectError(await api('GET', '/v1.41/nope/x'), 404, /^page not found$/);
    expectError(await api('GET', '/vx/networks'), 404, /^page not found$/);
  });
});

describe('pre-defined networks', () => {
  test('bridge, host and none exist from the start, in Docker shape', async () => {
    const list = (await api('GET', '/networks')).json as Net[];
    const byName = new Map(list.map((n) => [n.Name, n]));
    assert.equal(byName.get('host')?.Driver, 'host');
    assert.equal(byName.get('none')?.Driver, 'null');
    const bridge = await inspect('bridge');
    assert.equal(bridge.Driver, 'bridge');
    assert.deepEqual(bridge.IPAM.Config, [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
    assert.deepEqual(bridge.Options, {
      'com.docker.network.bridge.default_bridge': 'true',
      'com.docker.network.bridge.enable_icc': 'true',
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
      'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
      'com.docker.network.bridge.name': 'dnet0',
      'com.docker.network.driver.mtu': '1500',
    });
    const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dnet0']).toString()) as unknown[];
    assert.equal(links.length, 1, 'the default bridge is the Linux bridge dnet0');
  });

  test('they cannot be removed (403), created again (403), nor a second host or null network made (403)', async () => {
    for (const name of ['bridge', 'host', 'none']) {
      expectError(
        await api('DELETE', `/networks/${name}`),
        403,
        new RegExp(`^${name} is a pre-defined network and cannot be removed$`),
      );
      expectError(
        await api('POST', '/networks/create', { Name: name }),
        403,
        new RegExp(`^operation is not permitted on predefined ${name} network $`),
      );
    }
    expectError(
      await api('POST', '/networks/create', { Name: 'host2', Driver: 'host' }),
      403,
      /only one instance of "host" network is allowed/,
    );
    expectError(
      await api('POST', '/networks/create', { Name: 'none2', Driver: 'null' }),
      403,
      /only one instance of "null" network/,
    );
  });
});

describe('networks', () => {
  test('create with Docker fields; inspect gives them back exactly', async () => {
    const r = await api('POST', '/v1.44/networks/create', {
      Name: 'web',
      CheckDuplicate: true,
      Driver: 'bridge',
      Internal: false,
      Attachable: true,
      EnableIPv6: false,
      IPAM: {
        Driver: 'default',
        Config: [
          {
            Subnet: '10.30.0.0/24',
            IPRange: '10.30.0.128/25',
            Gateway: '10.30.0.1',
            AuxiliaryAddresses: { router: '10.30.0.5' },
          },
        ],
        Options: { foo: 'bar' },
      },
      Options: { 'com.docker.network.driver.mtu': '1400' },
      Labels: { team: 'web', tier: 'front' },
      SomeFutureField: 42,
    });
    assert.equal(r.status, 201, r.text);
    const { Id, Warning } = r.json as { Id: string; Warning: string };
    assert.match(Id, /^[0-9a-f]{64}$/);
    assert.equal(Warning, '');
    const n = await inspect('web');
    assert.deepEqual(Object.keys(n), [
      'Name',
      'Id',
      'Created',
      'Scope',
      'Driver',
      'EnableIPv4',
      'EnableIPv6',
      'IPAM',
      'Internal',
      'Attachable',
      'Ingress',
      'ConfigFrom',
      'ConfigOnly',
      'Containers',
      'Options',
      'Labels',
    ]);
    assert.match(n.Created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.deepEqual(
      { ...n, Created: '' },
      {
        Name: 'web',
        Id,
        Created: '',
        Scope: 'local',
        Driver: 'bridge',
        EnableIPv4: true,
        EnableIPv6: false,
        IPAM: {
          Driver: 'default',
          Options: { foo: 'bar' },
          Config: [
            {
              Subnet: '10.30.0.0/24',
              IPRange: '10.30.0.128/25',
              Gateway: '10.30.0.1',
              AuxiliaryAddresses: { router: '10.30.0.5' },
            },
          ],
        },
        Internal: false,
        Attachable: true,
        Ingress: false,
        ConfigFrom: { Network: '' },
        ConfigOnly: false,
        Containers: {},
        Options: { 'com.docker.network.driver.mtu': '1400' },
        Labels: { team: 'web', tier: 'front' },
      },
    );
    // By full ID, unique prefix and name alike; the list gives Containers {}.
    assert.equal((await inspect(Id)).Name, 'web');
    assert.equal((await inspect(Id.slice(0, 5))).Name, 'web');
    const listed = ((await api('GET', '/networks')).json as Net[]).find((x) => x.Id === Id);
    assert.deepEqual(listed?.Containers, {});
  });

  test('create errors: duplicate 409, bad name 400, unknown driver 404, unsupported fields 400', async () => {
    expectError(
      await api('POST', '/networks/create', { Name: 'web' }),
      409,
      /^network with name web already exists$/,
    );
    expectError(
      await api('POST', '/networks/create', { Name: 'a b' }),
      400,
      /invalid network name "a b": it contains a space/,
    );
    expectError(await api('POST', '/networks/create', {}), 400, /invalid network name "": it is empty/);
    expectError(
      await api('POST', '/networks/create', { Name: 'x', Driver: 'nope' }),
      404,
      /^plugin "nope" not found$/,
    );
    expectError(
      await api('POST', '/networks/create', { Name: 'x', Ingress: true }),
      400,
      /Ingress is not supported/,
    );
    // Configuration-only networks are served (test/kernel/config-only.test.ts); a missing source is 404.
    expectError(
      await api('POST', '/networks/create', { Name: 'x', ConfigFrom: { Network: 'y' } }),
      404,
      /configuration network "y" does not exist/,
    );
    expectError(
      await api('POST', '/networks/create', { Name: 'x', Scope: 'swarm' }),
      400,
      /Scope "swarm" is not supported/,
    );
    expectError(
      await api('POST', '/networks/create', { Name: 'x', EnableIPv4: false }),
      400,
      /IPv4 or IPv6 must be enabled/,
    );
    expectError(
      await api('POST', '/networks/create', { Name: 'x', IPAM: { Config: [{ Subnet: 'banana' }] } }),
      400,
      /invalid value "banana"/,
    );
    assert.equal(daemon.controller.networkByName('x'), undefined, 'nothing was created');
  });

  test('request bodies: bad JSON, wrong Content-Type, wrong field types and oversized bodies are 400', async () => {
    expectError(await api('POST', '/networks/create', undefined, { raw: '{"Name": ' }), 400, /^invalid JSON/);
    expectError(
      await api('POST', '/networks/create', undefined, { raw: '[1]' }),
      400,
      /must be a JSON object/,
    );
    expectError(
      await api('POST', '/networks/create', undefined, { raw: '{"Name":"t"}', contentType: 'text/plain' }),
      400,
      /unsupported Content-Type header \(text\/plain\): must be 'application\/json'/,
    );
    expectError(await api('POST', '/networks/create', { Name: 7 }), 400, /Name must be a string, got number/);
    expectError(
      await api('POST', '/networks/create', { Name: 't', Labels: { a: 1 } }),
      400,
      /Labels\.a must be a string/,
    );
    expectError(
      await api('POST', '/networks/create', { Name: 't', IPAM: { Config: [{ Subnet: 1 }] } }),
      400,
      /IPAM\.Config\[0\]\.Subnet must be a string/,
    );
    expectError(
      await api('POST', '/networks/create', undefined, {
        raw: JSON.stringify({ Name: 'big', Labels: { x: 'y'.repeat(70_000) } }),
      }),
      400,
      /request body too large/,
    );
    // Field names match case-insensitively (Go's encoding/json); null is absent.
    const id = await create({ name: 'lowercase', driver: 'fake', Labels: null });
    assert.equal((await inspect(id)).Driver, 'fake');
    assert.equal((await api('DELETE', `/networks/${id}`)).status, 204);
  });

  test('lookups: unknown 404, ambiguous prefix 400', async () => {
    expectError(await api('GET', '/networks/missing'), 404, /^network missing not found$/);
    const ids: string[] = [];
    for (let i = 0; i < 17; i++) ids.push(await create({ Name: `amb${i}`, Driver: 'fake' }));
    const all = ((await api('GET', '/networks')).json as Net[]).map((n) => n.Id);
    const first = [...'0123456789abcdef'].find((c) => all.filter((x) => x.startsWith(c)).length > 1)!;
    expectError(await api('GET', `/networks/${first}`), 400, /is ambiguous/);
    expectError(await api('DELETE', `/networks/${first}`), 400, /is ambiguous/);
    for (const id of ids) assert.equal((await api('DELETE', `/networks/${id}`)).status, 204);
  });

  test('filters: driver, name, id, label, scope, type, dangling; legacy form; bad filters 400', async () => {
    await create({ Name: 'f-one', Driver: 'fake', Labels: { env: 'prod', team: 'a' } });
    await create({ Name: 'f-two', Driver: 'fake', Labels: { env: 'dev' } });
    const names = async (filters: unknown) => {
      const r = await api('GET', `/networks?filters=${encodeURIComponent(JSON.stringify(filters))}`);
      assert.equal(r.status, 200, r.text);
      return (r.json as Net[]).map((n) => n.Name).sort();
    };
    assert.deepEqual(await names({ driver: { fake: true } }), ['f-one', 'f-two']);
    assert.deepEqual(await names({ driver: ['fake'] }), ['f-one', 'f-two'], 'legacy form');
    assert.deepEqual(await names({ name: { '^f-o': true } }), ['f-one'], 'name is a regular expression');
    assert.deepEqual(await names({ label: { env: true } }), ['f-one', 'f-two']);
    assert.deepEqual(await names({ label: { 'env=prod': true } }), ['f-one']);
    assert.deepEqual(await names({ label: { 'env=prod': true, team: true } }), ['f-one']);
    assert.deepEqual(await names({ label: { 'env=prod': true, 'team=b': true } }), []);
    assert.deepEqual(await names({ type: { builtin: true } }), ['bridge', 'host', 'none']);
    assert.ok((await names({ type: { custom: true } })).includes('f-one'));
    assert.ok(!(await names({ type: { custom: true } })).includes('bridge'));
    assert.deepEqual(await names({ scope: { swarm: true } }), []);
    assert.ok((await names({ scope: { local: true } })).includes('f-two'));
    assert.ok((await names({ dangling: { true: true } })).includes('f-one'));
    assert.ok(!(await names({ dangling: { true: true } })).includes('bridge'));
    assert.deepEqual(await names({ dangling: ['false'], driver: ['null'] }), ['none']);
    const one = await inspect('f-one');
    assert.deepEqual(await names({ id: { [one.Id.slice(0, 10)]: true } }), ['f-one']);
    expectError(await api('GET', '/networks?filters=nope'), 400, /invalid filter/);
    expectError(
      await api('GET', `/networks?filters=${encodeURIComponent('{"colour":{"red":true}}')}`),
      400,
      /invalid filter 'colour'/,
    );
    expectError(
      await api('GET', `/networks?filters=${encodeURIComponent('{"dangling":{"maybe":true}}')}`),
      400,
      /invalid value for filter 'dangling'/,
    );
    expectError(
      await api('GET', `/networks?filters=${encodeURIComponent('{"type":["odd"]}')}`),
      400,
      /invalid filter: 'type'='odd'/,
    );
    expectError(
      await api('GET', `/networks?filters=${encodeURIComponent('{"name":{"x":1}}')}`),
      400,
      /invalid filter 'name'/,
    );
    for (const n of ['f-one', 'f-two']) assert.equal((await api('DELETE', `/networks/${n}`)).status, 204);
  });
});

describe('connect and disconnect', () => {
  let webId: string;
  before(async () => {
    webId = (await inspect('web')).Id;
  });

  test('connect creates the container and its sandbox: namespace, eth0 with the address, published ports', async () => {
    const r = await api('POST', `/networks/${webId.slice(0, 12)}/connect`, {
      Container: 'c1',
      EndpointConfig: {
        IPAMConfig: { IPv4Address: '10.30.0.130' },
        Aliases: ['app'],
        MacAddress: '02:42:0a:1e:00:99',
        PortBindings: {
          '80/tcp': [{ HostIp: '', HostPort: '8080' }],
          '9000-9002/tcp': [{ HostIp: '', HostPort: '19000-19002' }],
          '53/udp': [{ HostIp: '127.0.0.1', HostPort: '' }],
          '7000': [{ HostPort: '17000-17010' }],
          '443/tcp': [],
        },
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, '');
    const n = await inspect('web');
    const [[cid, ep]] = Object.entries(n.Containers) as [[string, Net['Containers'][string]]];
    assert.match(cid, /^[0-9a-f]{64}$/);
    assert.equal(ep.Name, 'c1');
    assert.equal(ep.IPv4Address, '10.30.0.130/24');
    assert.equal(ep.MacAddress, '02:42:0a:1e:00:99');
    assert.equal(ep.IPv6Address, '');

    const sb = (await api('GET', '/sandboxes/c1')).json as {
      Id: string;
      SandboxKey: string;
      Hostname: string;
      Networks: Record<string, { IPAddress: string; InterfaceName: string; Gateway: string }>;
      Ports: Record<string, { HostIp: string; HostPort: string }[]>;
    };
    assert.equal(sb.Id, cid);
    assert.equal(sb.Hostname, cid.slice(0, 12));
    assert.ok(existsSync(sb.SandboxKey), 'the namespace exists');
    assert.deepEqual(sb.Networks.web && { ...sb.Networks.web }, {
      ...sb.Networks.web,
      IPAddress: '10.30.0.130',
      InterfaceName: 'eth0',
      Gateway: '10.30.0.1',
    });
    const addrs = ipIn<
      { ifname: string; address: string; addr_info: { local: string; prefixlen: number }[] }[]
    >(sb.SandboxKey, ['addr', 'show', 'eth0']);
    assert.equal(addrs[0]?.address, '02:42:0a:1e:00:99');
    assert.ok(addrs[0]?.addr_info.some((a) => a.local === '10.30.0.130' && a.prefixlen === 24));
    assert.deepEqual(
      sb.Ports['80/tcp']?.map((b) => b.HostPort),
      ['8080'],
    );
    assert.deepEqual(
      ['9000/tcp', '9001/tcp', '9002/tcp'].map((k) => sb.Ports[k]?.[0]?.HostPort),
      ['19000', '19001', '19002'],
    );
    const udp = sb.Ports['53/udp']?.[0];
    assert.equal(udp?.HostIp, '127.0.0.1');
    assert.ok(Number(udp?.HostPort) >= 49153, 'an ephemeral port');
    const ranged = Number(sb.Ports['7000/tcp']?.[0]?.HostPort);
    assert.ok(ranged >= 17000 && ranged <= 17010, 'a port from the host range');
    assert.equal(sb.Ports['443/tcp'], undefined, 'exposed only');

    // The published port carries traffic: host 127.0.0.1:8080 → container :80.
    servers.push(await startServer(sb.SandboxKey, 'tcp', '0.0.0.0', 80));
    assert.match(await request(undefined, 'tcp', '127.0.0.1', 8080), /^from /);
  });

  test('connect errors: unknown network 404, no Container 400, twice 403, bad name and ports 400', async () => {
    expectError(
      await api('POST', '/networks/nope/connect', { Container: 'c1' }),
      404,
      /^network nope not found$/,
    );
    expectError(await api('POST', '/networks/web/connect', {}), 400, /Container is required/);
    expectError(
      await api('POST', '/networks/web/connect', { Container: 'c1' }),
      403,
      /^endpoint with name c1 already exists in network web$/,
    );
    expectError(
      await api('POST', '/networks/web/connect', { Container: 'bad name' }),
      400,
      /invalid container name "bad name"/,
    );
    expectError(
      await api('POST', '/networks/web/connect', {
        Container: 'c9',
        EndpointConfig: { PortBindings: { '80/tcpx': [] } },
      }),
      400,
      /invalid protocol/,
    );
    expectError(
      await api('POST', '/networks/web/connect', {
        Container: 'c9',
        EndpointConfig: { PortBindings: { '80': [{ HostPort: 'x' }] } },
      }),
      400,
      /invalid host port "x"/,
    );
    expectError(
      await api('POST', '/networks/web/connect', {
        Container: 'c9',
        EndpointConfig: { IPAMConfig: { IPv4Address: '10.99.0.1' } },
      }),
      400,
      /not inside any subnet/,
    );
    assert.equal(
      (await api('GET', '/sandboxes/c9')).status,
      404,
      'a failed connect leaves no container behind',
    );
  });

  test("Docker's network-mode rules: host, none, the default bridge", async () => {
    expectError(
      await api('POST', '/networks/host/connect', { Container: 'c1' }),
      400,
      /container cannot be disconnected from host network or connected to host network/,
    );
    expectError(
      await api('POST', '/networks/none/connect', { Container: 'c1' }),
      400,
      /private \(none\) mode/,
    );
    expectError(
      await api('POST', '/networks/bridge/connect', { Container: 'c2', EndpointConfig: { Aliases: ['x'] } }),
      400,
      /network-scoped alias is supported only for containers in user defined networks/,
    );
    expectError(
      await api('POST', '/networks/bridge/connect', {
        Container: 'c2',
        EndpointConfig: { IPAMConfig: { IPv4Address: '172.17.0.50' } },
      }),
      400,
      /user specified IP address is supported on user defined networks only/,
    );
    // A container alone on none: loopback only; it cannot join another network.
    assert.equal((await api('POST', '/networks/none/connect', { Container: 'loner' })).status, 200);
    const key = ((await api('GET', '/sandboxes/loner')).json as { SandboxKey: string }).SandboxKey;
    assert.deepEqual(
      ipIn<{ ifname: string }[]>(key, ['link']).map((l) => l.ifname),
      ['lo'],
    );
    expectError(
      await api('POST', '/networks/web/connect', { Container: 'loner' }),
      400,
      /private \(none\) mode/,
    );
    assert.equal((await api('POST', '/networks/none/disconnect', { Container: 'loner' })).status, 200);
    // Its namespace is removed in the background, right after the answer.
    for (let i = 0; i < 250 && existsSync(key); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!existsSync(key), 'its sandbox went with its last network');
    // The default bridge takes plain connects.
    assert.equal((await api('POST', '/networks/bridge/connect', { Container: 'c2' })).status, 200);
    const c2 = Object.values((await inspect('bridge')).Containers).find((c) => c.Name === 'c2');
    assert.match(c2?.IPv4Address ?? '', /^172\.17\.0\.\d+\/16$/);
  });

  test('a 64-hex container ID names the container; a 12+ character prefix finds it', async () => {
    const id = 'ab'.repeat(32);
    assert.equal((await api('POST', '/networks/web/connect', { Container: id })).status, 200);
    const n = await inspect('web');
    assert.equal(n.Containers[id]?.Name, id.slice(0, 12));
    assert.equal((await api('POST', '/networks/web/disconnect', { Container: id.slice(0, 14) })).status, 200);
    assert.equal((await inspect('web')).Containers[id], undefined);
  });

  test('disconnect: leave and delete the endpoint; the last one takes the sandbox; errors', async () => {
    expectError(
      await api('POST', '/networks/web/disconnect', { Container: 'ghost' }),
      404,
      /No such container: ghost/,
    );
    expectError(
      await api('POST', '/networks/web/disconnect', { Container: 'c2' }),
      404,
      /is not connected to network web/,
    );
    expectError(await api('POST', '/networks/host/disconnect', { Container: 'c2' }), 400, /host network/);
    expectError(
      await api('DELETE', '/networks/web'),
      403,
      /^error while removing network: network web has active endpoints \(name:"/,
    );
    const key = ((await api('GET', '/sandboxes/c1')).json as { SandboxKey: string }).SandboxKey;
    assert.equal((await api('POST', '/networks/web/disconnect', { Container: 'c1' })).status, 200);
    assert.deepEqual((await inspect('web')).Containers, {});
    for (let i = 0; i < 250 && existsSync(key); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!existsSync(key), 'the namespace is gone (removed in the background)');
    expectError(await api('GET', '/sandboxes/c1'), 404, /No such container: c1/);
    assert.equal(
      (await api('POST', '/networks/bridge/disconnect', { Container: 'c2', Force: false })).status,
      200,
    );
    // Force removes an endpoint no known container owns (dockerd's ForceEndpointDelete).
    const web = daemon.controller.networkByName('web')!;
    await web.createEndpoint('stale');
    expectError(
      await api('POST', '/networks/web/disconnect', { Container: 'stale' }),
      404,
      /No such container/,
    );
    assert.equal(
      (await api('POST', '/networks/web/disconnect', { Container: 'stale', Force: true })).status,
      200,
    );
    assert.equal(web.endpointByName('stale'), undefined);
  });
});

describe('sandboxes', () => {
  test('create, list, inspect (hosts and resolv.conf), connect into it, remove', async () => {
    const r = await api('POST', '/sandboxes', {
      Name: 'app1',
      Hostname: 'app1',
      Domainname: 'example.org',
      DNS: ['10.0.0.53'],
      DNSSearch: ['svc.example.org'],
      DNSOptions: ['ndots:2'],
      ExtraHosts: ['db:10.0.0.5', 'gw=host-gateway'],
    });
    assert.equal(r.status, 201, r.text);
    const { Id, SandboxKey } = r.json as { Id: string; SandboxKey: string };
    assert.match(Id, /^[0-9a-f]{64}$/);
    assert.ok(existsSync(SandboxKey));
    const list = (await api('GET', '/sandboxes')).json as { Id: string; Name: string }[];
    assert.ok(list.some((s) => s.Id === Id && s.Name === 'app1'));
    const sb = (await api('GET', `/sandboxes/${Id}`)).json as {
      Name: string;
      HostsPath: string;
      ResolvConfPath: string;
      ExtraHosts: string[];
      Networks: Record<string, { IPAddress: string }>;
    };
    assert.equal(sb.Name, 'app1');
    assert.deepEqual(sb.ExtraHosts, ['db:10.0.0.5', 'gw:172.17.0.1']);
    const hosts = readFileSync(sb.HostsPath, 'utf8');
    assert.match(hosts, /10\.0\.0\.5\tdb/);
    assert.match(hosts, /172\.17\.0\.1\tgw/);
    const resolv = readFileSync(sb.ResolvConfPath, 'utf8');
    assert.match(resolv, /nameserver 10\.0\.0\.53/);
    assert.match(resolv, /search svc\.example\.org/);
    assert.match(resolv, /options ndots:2/);
    // Connect uses the sandbox: eth0 appears in its namespace, the hosts file gets the address.
    assert.equal((await api('POST', '/networks/web/connect', { Container: 'app1' })).status, 200);
    const eth0 = ipIn<{ addr_info: { local: string }[] }[]>(SandboxKey, ['addr', 'show', 'eth0']);
    const ip = eth0[0]?.addr_info.find((a) => a.local.startsWith('10.30.0.'))?.local;
    assert.ok(ip, 'eth0 has an address of web');
    assert.match(
      readFileSync(sb.HostsPath, 'utf8'),
      new RegExp(`${ip!.replace(/\./g, '\\.')}\\tapp1\\.example\\.org app1`),
    );
    // Its last disconnect leaves the (explicit) sandbox in place.
    assert.equal((await api('POST', '/networks/web/disconnect', { Container: 'app1' })).status, 200);
    assert.ok(existsSync(SandboxKey));
    assert.equal((await api('POST', '/networks/web/connect', { Container: 'app1' })).status, 200);
    // Remove: its endpoints leave and go, then the namespace.
    assert.equal((await api('DELETE', '/sandboxes/app1')).status, 204);
    assert.ok(!existsSync(SandboxKey));
    assert.deepEqual((await inspect('web')).Containers, {});
    expectError(await api('DELETE', '/sandboxes/app1'), 404, /No such container: app1/);
  });

  test('errors: name in use 409, bad ContainerID 400, bad extra host 400, unknown 404', async () => {
    assert.equal((await api('POST', '/sandboxes', { Name: 'dup' })).status, 201);
    expectError(
      await api('POST', '/sandboxes', { Name: 'dup' }),
      409,
      /The container name "\/dup" is already in use/,
    );
    expectError(await api('POST', '/sandboxes', { ContainerID: 'xyz' }), 400, /invalid ContainerID/);
    expectError(await api('POST', '/sandboxes', { ExtraHosts: ['nocolon'] }), 400, /expected "name:ip"/);
    expectError(
      await api('POST', '/sandboxes', { DNS: 'not-a-list' }),
      400,
      /DNS must be an array of strings/,
    );
    expectError(await api('GET', '/sandboxes/nope'), 404, /No such container: nope/);
    assert.equal((await api('DELETE', '/sandboxes/dup')).status, 204);
  });

  test('UseHostNetwork: the host namespace, shown on the host network; no other network', async () => {
    const id = 'cd'.repeat(32);
    const r = await api('POST', '/sandboxes', { ContainerID: id, Name: 'hostly', UseHostNetwork: true });
    assert.equal(r.status, 201, r.text);
    assert.equal((await inspect('host')).Containers[id]?.Name, 'hostly');
    const sb = (await api('GET', '/sandboxes/hostly')).json as { HostNetwork: boolean };
    assert.equal(sb.HostNetwork, true);
    expectError(
      await api('POST', '/networks/web/connect', { Container: 'hostly' }),
      400,
      /sharing network namespace with another container or host/,
    );
    expectError(await api('POST', '/networks/host/disconnect', { Container: 'hostly' }), 400, /host network/);
    expectError(await api('POST', '/sandboxes', { ContainerID: id }), 409, /already exists/);
    assert.equal((await api('DELETE', `/sandboxes/${id}`)).status, 204);
    assert.deepEqual((await inspect('host')).Containers, {});
  });
});

describe('remove and prune', () => {
  test('DELETE: 204, then 404', async () => {
    await create({ Name: 'gone', Driver: 'fake' });
    const r = await api('DELETE', '/networks/gone');
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    expectError(await api('DELETE', '/networks/gone'), 404, /^network gone not found$/);
  });

  test('prune: label, label! and until filters; never pre-defined networks nor networks in use', async () => {
    await create({ Name: 'p-keep', Driver: 'fake', Labels: { keep: 'yes' } });
    await create({ Name: 'p-a', Driver: 'fake', Labels: { group: 'a' } });
    await create({ Name: 'p-b', Driver: 'fake', Labels: { group: 'b' } });
    await create({ Name: 'p-used', Driver: 'fake' });
    assert.equal((await api('POST', '/networks/p-used/connect', { Container: 'pc' })).status, 200);
    const prune = async (filters?: unknown) => {
      const q = filters === undefined ? '' : `?filters=${encodeURIComponent(JSON.stringify(filters))}`;
      const r = await api('POST', `/networks/prune${q}`);
      assert.equal(r.status, 200, r.text);
      return ((r.json as { NetworksDeleted: string[] }).NetworksDeleted ?? []).sort();
    };
    assert.deepEqual(await prune({ until: { '1h': true } }), [], 'all were created within the hour');
    assert.deepEqual(await prune({ label: { 'group=a': true } }), ['p-a']);
    expectError(
      await api('POST', `/networks/prune?filters=${encodeURIComponent('{"driver":["fake"]}')}`),
      400,
      /invalid filter 'driver'/,
    );
    expectError(
      await api('POST', `/networks/prune?filters=${encodeURIComponent('{"until":["soon"]}')}`),
      400,
      /failed to parse value as time or duration/,
    );
    assert.deepEqual(
      await prune({ 'label!': { keep: true }, until: { [String(Date.now() / 1000 + 60)]: true } }),
      ['p-b', 'web'],
    );
    assert.deepEqual(await prune(), ['p-keep']);
    const left = ((await api('GET', '/networks')).json as Net[]).map((n) => n.Name).sort();
    assert.deepEqual(left, ['bridge', 'host', 'none', 'p-used']);
    assert.equal((await api('POST', '/networks/p-used/disconnect', { Container: 'pc' })).status, 200);
    assert.deepEqual(await prune(), ['p-used']);
  });
});
