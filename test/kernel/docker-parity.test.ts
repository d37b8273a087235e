import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.ts';
import { deriveUlaPool, splitPool } from '../../src/ipam/index.ts';
import { world } from '../harness/world.ts';
import { runCli } from '../helpers/cli.ts';
import { dockerClient } from '../helpers/docker-cli.ts';
import { call } from '../helpers/http.ts';
import { request, startServer } from '../helpers/traffic.ts';

// What Docker's clients see of dnet where dockerd's behaviour is specific (issue 19): dockerd's
// error texts and statuses, IPv6 networks without a subnet (a ULA /64 from the engine ID),
// `Created` with nanoseconds, 501 for the parts of Docker's API dnet does not serve. Real docker
// CLI (Debian's docker.io) and dockerode against a dnet daemon in a throwaway world.

const sock = join(world.runDir, 'parity.sock');
const runDir = join(world.runDir, 'dnet');
const dataDir = join(world.runDir, 'data');
// Four /24s: the default bridge takes the first, so three networks without a subnet fit.
const POOLS = [{ base: '10.213.0.0/22', size: 24 }];
let daemon: Daemon;

const start = () =>
  startDaemon({
    runDir,
    dataDir,
    hosts: [`unix://${sock}`],
    controllerConfig: { defaultAddressPools: POOLS },
    log: () => {},
  });

before(async () => {
  daemon = await start();
});

after(async () => {
  await daemon.close();
});

const api = (method: string, path: string, body?: unknown) => call(sock, method, path, body);

interface Net {
  Name: string;
  Created: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Config: { Subnet: string; Gateway?: string }[] };
}

const inspect = async (name: string): Promise<Net> => {
  const r = await api('GET', `/networks/${name}`);
  assert.equal(r.status, 200, r.text);
  return r.json as Net;
};

const { bin, docker, ok } = dockerClient(sock, join(world.runDir, 'docker-home'));
const skip = bin === undefined ? 'the docker CLI is not installed: skipped' : false;
const fails = async (args: string[], stderr: RegExp) => {
  const r = await docker(...args);
  assert.equal(r.status, 1, `docker ${args.join(' ')} should fail: ${r.stdout}`);
  assert.match(r.stderr, stderr);
};

describe('Docker routes dnet does not serve', () => {
  test('answer 501 with a message saying what dnet serves; other paths stay 404 "page not found"', async () => {
    for (const path of ['/containers/json', '/v1.48/system/df', '/images/json', '/volumes']) {
      const r = await api('GET', path);
      assert.equal(r.status, 501, `${path}: ${r.text}`);
      assert.match(
        (r.json as { message: string }).message,
        new RegExp(`^dnet serves networks and sandboxes only: GET ${path.replace('/v1.48', '')} `),
      );
    }
    assert.equal((await api('GET', '/nope')).status, 404);
    assert.deepEqual((await api('GET', '/nope')).json, { message: 'page not found' });
  });

  test('docker ps and docker system df print it', { skip }, async () => {
    await fails(['ps'], /^Error response from daemon: dnet serves networks and sandboxes only: /);
    await fails(['system', 'df'], /Error response from daemon: dnet serves networks and sandboxes only: /);
  });
});

describe('IPv6 without a subnet', () => {
  test(
    'docker network create --ipv6 gets a /64 of the ULA /48 derived from the engine ID',
    { skip },
    async () => {
      const engineId = readFileSync(join(dataDir, 'engine-id'), 'utf8');
      assert.match(engineId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(((await api('GET', '/info')).json as { ID: string }).ID, engineId);
      const ula = deriveUlaPool(engineId);
      const [first, second] = [...splitPool(ula)].slice(0, 2);
      assert.match(ula.base, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/48$/);

      await ok('network', 'create', '--ipv6', 'v6net');
      const n = await inspect('v6net');
      assert.equal(n.EnableIPv6, true);
      assert.equal(n.EnableIPv4, true);
      assert.deepEqual(
        n.IPAM.Config.map((c) => c.Subnet),
        ['10.213.1.0/24', first],
      );
      // a container gets an address of it (the bridge driver programs it in its namespace)
      await ok('network', 'connect', 'v6net', 'six');
      const eps = Object.values(
        (
          (await api('GET', '/networks/v6net')).json as {
            Containers: Record<string, { IPv6Address: string }>;
          }
        ).Containers,
      );
      assert.equal(eps.length, 1);
      assert.ok(eps[0]!.IPv6Address.startsWith(first!.split('::')[0]!), eps[0]!.IPv6Address);
      await ok('network', 'disconnect', 'v6net', 'six');

      // dockerode (Compose's `enable_ipv6: true` sends the same body)
      const d = new Docker({ socketPath: sock });
      await d.createNetwork({ Name: 'v6net2', EnableIPv6: true });
      assert.equal((await inspect('v6net2')).IPAM.Config[1]?.Subnet, second);
    },
  );

  test('the prefix and Created stay the same across a restart', { skip }, async () => {
    const before = await inspect('v6net');
    await daemon.close();
    daemon = await start();
    const afterRestart = await inspect('v6net');
    assert.deepEqual(afterRestart.IPAM, before.IPAM);
    assert.equal(afterRestart.Created, before.Created);
    // a new IPv6 network takes the next /64 of the same /48
    const engineId = readFileSync(join(dataDir, 'engine-id'), 'utf8');
    await ok('network', 'create', '--ipv6', 'v6net3');
    const third = [...splitPool(deriveUlaPool(engineId))][2];
    assert.equal((await inspect('v6net3')).IPAM.Config[1]?.Subnet, third);
    await ok('network', 'rm', 'v6net', 'v6net2', 'v6net3');
  });
});

describe('IPv6-only networks (EnableIPv4: false)', () => {
  interface Sb {
    SandboxKey: string;
    Networks: Record<string, { IPAddress: string; GlobalIPv6Address: string }>;
  }
  const sandbox = async (name: string): Promise<Sb> => {
    const r = await api('GET', `/sandboxes/${name}`);
    assert.equal(r.status, 200, r.text);
    return r.json as Sb;
  };

  test(
    'docker network create --ipv6 --ipv4=false: no IPv4 anywhere, containers talk over IPv6',
    { skip },
    async () => {
      await ok('network', 'create', '--ipv6', '--ipv4=false', 'v6only');
      const n = await inspect('v6only');
      assert.equal(n.EnableIPv4, false);
      assert.equal(n.EnableIPv6, true);
      assert.equal(n.IPAM.Config.length, 1);
      assert.match(n.IPAM.Config[0]!.Subnet, /^fd[0-9a-f:]+\/64$/);
      await ok('network', 'connect', 'v6only', 'p1');
      await ok('network', 'connect', 'v6only', 'p2');
      const [p1, p2] = [await sandbox('p1'), await sandbox('p2')];
      assert.equal(p1.Networks.v6only?.IPAddress, '');
      const addr1 = p1.Networks.v6only!.GlobalIPv6Address;
      assert.ok(addr1.startsWith(n.IPAM.Config[0]!.Subnet.split('::')[0]!), addr1);
      // in the kernel: the container's interface has no IPv4 address, its IPv6 one, a default route via the gateway
      const addrs = JSON.parse(
        execFileSync('nsenter', [`--net=${p1.SandboxKey}`, 'ip', '-j', 'addr', 'show', 'eth0']).toString(),
      ) as { addr_info: { family: string; local: string }[] }[];
      const info = addrs[0]!.addr_info;
      assert.deepEqual(
        info.filter((a) => a.family === 'inet'),
        [],
      );
      assert.ok(info.some((a) => a.family === 'inet6' && a.local === addr1));
      const route6 = execFileSync('nsenter', [
        `--net=${p1.SandboxKey}`,
        'ip',
        '-6',
        'route',
        'show',
        'default',
      ]);
      assert.match(route6.toString(), new RegExp(`via ${n.IPAM.Config[0]!.Gateway}`));
      // a published port with no host address: on IPv6 only (the endpoint has no IPv4)
      const pub = await api('POST', '/networks/v6only/connect', {
        Container: 'p3',
        EndpointConfig: { PortBindings: { '80/tcp': [{ HostPort: '18480' }] } },
      });
      assert.equal(pub.status, 200, pub.text);
      const p3 = (await api('GET', '/sandboxes/p3')).json as Sb & {
        Ports: Record<string, { HostIp: string; HostPort: string }[]>;
      };
      assert.deepEqual(p3.Ports['80/tcp'], [{ HostIp: '::', HostPort: '18480' }]);
      const server = await startServer(p1.SandboxKey, 'tcp', '::', 80);
      const server3 = await startServer(p3.SandboxKey, 'tcp', '::', 80);
      try {
        assert.equal(
          await request(p2.SandboxKey, 'tcp', addr1, 80),
          `from ${p2.Networks.v6only!.GlobalIPv6Address}`,
        );
        // from the host, to one of its IPv6 addresses (the bridge's): DNAT to the container
        assert.match(await request(undefined, 'tcp', n.IPAM.Config[0]!.Gateway!, 18480), /^from /);
      } finally {
        server.stop();
        server3.stop();
      }
      await ok('network', 'disconnect', 'v6only', 'p3');
      await ok('network', 'disconnect', 'v6only', 'p1');
      await ok('network', 'disconnect', 'v6only', 'p2');
      await ok('network', 'rm', 'v6only');
    },
  );

  test('the dnet CLI: network create --ipv6 --ipv4=false; a bad --ipv4 value is a usage error', async () => {
    const run = (args: string[]) => runCli(args, { env: { DNET_HOST: `unix://${sock}` } });
    const made = await run(['network', 'create', '--ipv6', '--ipv4=false', 'dnet-v6only']);
    assert.equal(made.code, 0, made.err);
    const n = await inspect('dnet-v6only');
    assert.equal(n.EnableIPv4, false);
    assert.deepEqual(
      n.IPAM.Config.map((c) => c.Subnet.includes(':')),
      [true],
    );
    const bad = await run(['network', 'create', '--ipv4=maybe', 'x']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /invalid argument "maybe" for "--ipv4" flag/);
    assert.equal((await run(['network', 'rm', 'dnet-v6only'])).code, 0);
  });

  test(
    'refused: an IPv4 subnet without IPv4, and a bridge network with neither family',
    { skip },
    async () => {
      await fails(
        ['network', 'create', '--ipv4=false', '--ipv6', '--subnet', '10.90.0.0/24', 'bad4'],
        /an IPv4 subnet needs IPv4/,
      );
      await fails(['network', 'create', '--ipv4=false', 'neither'], /IPv4 or IPv6 must be enabled/);
      assert.equal((await api('GET', '/networks/neither')).status, 404);
    },
  );
});

describe("dockerd's status codes and texts", () => {
  test('the docker CLI prints dockerd text for each refusal', { skip }, async () => {
    await ok('network', 'create', '--subnet', '10.77.0.0/24', 'taken');
    await fails(
      ['network', 'create', '--subnet', '10.77.0.0/25', 'overlapping'],
      /^Error response from daemon: invalid pool request: Pool overlaps with other one on this address space\n$/,
    );
    await ok('network', 'connect', '--ip', '10.77.0.9', 'taken', 'first');
    await fails(
      ['network', 'connect', '--ip', '10.77.0.9', 'taken', 'second'],
      /^Error response from daemon: Address already in use\n$/,
    );
    await fails(
      ['network', 'connect', 'taken', 'first'],
      /^Error response from daemon: endpoint with name first already exists in network taken\n$/,
    );
    await fails(['network', 'inspect', 'nope'], /^Error response from daemon: network nope not found\n$/);
    await fails(
      ['network', 'create', '--ipam-driver', 'nope', 'x'],
      /^Error response from daemon: plugin "nope" not found\n$/,
    );
    await fails(
      ['network', 'create', '-d', 'nope', 'x'],
      /^Error response from daemon: plugin "nope" not found\n$/,
    );
    await ok('network', 'disconnect', 'taken', 'first');
    await ok('network', 'rm', 'taken');
  });

  test('statuses, as dockerode sees them: 403 overlap, in use, connected twice; 400 pools exhausted', async () => {
    const d = new Docker({ socketPath: sock });
    const status = async (p: Promise<unknown>): Promise<[number, string]> => {
      try {
        await p;
      } catch (e) {
        const err = e as { statusCode?: number; json?: { message?: string } };
        return [err.statusCode ?? 0, err.json?.message ?? ''];
      }
      assert.fail('expected a refusal');
    };
    const net = await d.createNetwork({ Name: 'codes', IPAM: { Config: [{ Subnet: '10.78.0.0/24' }] } });
    assert.deepEqual(
      await status(d.createNetwork({ Name: 'c2', IPAM: { Config: [{ Subnet: '10.78.0.0/16' }] } })),
      [403, 'invalid pool request: Pool overlaps with other one on this address space'],
    );
    await net.connect({ Container: 'k1', EndpointConfig: { IPAMConfig: { IPv4Address: '10.78.0.7' } } });
    assert.deepEqual(
      await status(
        net.connect({ Container: 'k2', EndpointConfig: { IPAMConfig: { IPv4Address: '10.78.0.7' } } }),
      ),
      [403, 'Address already in use'],
    );
    assert.deepEqual(await status(net.connect({ Container: 'k1' })), [
      403,
      'endpoint with name k1 already exists in network codes',
    ]);
    assert.deepEqual(await status(d.getNetwork('nope').inspect()), [404, 'network nope not found']);
    await net.disconnect({ Container: 'k1' });
    await net.remove();

    // The default pools: the bridge has 10.213.0.0/24; three more /24s, then none.
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.push((await d.createNetwork({ Name: `fill${i}` })).id);
    assert.deepEqual(await status(d.createNetwork({ Name: 'over' })), [
      400,
      'all predefined address pools have been fully subnetted',
    ]);
    for (const id of made) await d.getNetwork(id).remove();
  });
});

describe('network objects', () => {
  test('Created is RFC 3339 with nanoseconds; host and none report EnableIPv4 false', async () => {
    const digits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const made = await api('POST', '/networks/create', {
        Name: `t${i}`,
        IPAM: { Config: [{ Subnet: `10.79.${i}.0/24` }] },
      });
      assert.equal(made.status, 201, made.text);
      const c = (await inspect(`t${i}`)).Created;
      assert.match(c, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
      assert.ok(Math.abs(Date.parse(c) - Date.now()) < 60_000, c);
      digits.push(c.split('.')[1]?.replace('Z', '').length ?? 0);
      assert.equal((await api('DELETE', `/networks/t${i}`)).status, 204);
    }
    assert.ok(
      digits.some((d) => d > 3),
      `some time has digits beyond the millisecond: ${digits.join(',')}`,
    );
    assert.equal((await inspect('host')).EnableIPv4, false);
    assert.equal((await inspect('none')).EnableIPv4, false);
    assert.equal((await inspect('bridge')).EnableIPv4, true);
  });
});
