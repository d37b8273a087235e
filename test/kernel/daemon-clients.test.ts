import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.ts';
import { world } from '../harness/world.ts';
import { dockerClient } from '../helpers/docker-cli.ts';

// Docker's own clients against dnet's socket: dockerode (a devDependency, always here) and the
// real docker CLI (where it is installed; Debian bookworm has no client-only package).

const sock = join(world.runDir, 'dnet.sock');
let daemon: Daemon;

before(async () => {
  daemon = await startDaemon({
    runDir: join(world.runDir, 'dnet'),
    dataDir: join(world.runDir, 'data'),
    hosts: [`unix://${sock}`],
    log: () => {},
  });
});

after(async () => {
  await daemon.close();
});

describe('dockerode', () => {
  const docker = new Docker({ socketPath: sock });

  test('ping and version', async () => {
    assert.equal(String(await docker.ping()), 'OK');
    const v = await docker.version();
    assert.equal(v.ApiVersion, '1.48');
    assert.equal(v.Os, 'linux');
  });

  test('create, list, inspect, connect, disconnect, remove, prune', async () => {
    const net = await docker.createNetwork({
      Name: 'dockerode-net',
      Driver: 'bridge',
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.50.0.0/24', Gateway: '10.50.0.1' }] },
      Labels: { via: 'dockerode' },
    });
    assert.match(net.id, /^[0-9a-f]{64}$/);

    const list = await docker.listNetworks({ filters: { label: ['via=dockerode'] } });
    assert.deepEqual(
      list.map((n) => n.Name),
      ['dockerode-net'],
    );
    const builtin = await docker.listNetworks({ filters: JSON.stringify({ type: { builtin: true } }) });
    assert.deepEqual(builtin.map((n) => n.Name).sort(), ['bridge', 'host', 'none']);

    const info = await docker.getNetwork('dockerode-net').inspect();
    assert.equal(info.Id, net.id);
    assert.deepEqual(info.IPAM?.Config, [{ Subnet: '10.50.0.0/24', Gateway: '10.50.0.1' }]);

    await net.connect({ Container: 'dc1', EndpointConfig: { IPAMConfig: { IPv4Address: '10.50.0.20' } } });
    const joined = await net.inspect();
    const eps = Object.values(joined.Containers ?? {}) as { Name: string; IPv4Address: string }[];
    assert.deepEqual(
      eps.map((e) => [e.Name, e.IPv4Address]),
      [['dc1', '10.50.0.20/24']],
    );

    await assert.rejects(net.remove(), (err: { statusCode?: number; json?: { message?: string } }) => {
      assert.equal(err.statusCode, 403);
      assert.match(err.json?.message ?? '', /^error while removing network: network .* has active endpoints/);
      return true;
    });
    await net.disconnect({ Container: 'dc1', Force: false });
    await net.remove();
    await assert.rejects(docker.getNetwork('dockerode-net').inspect(), (err: { statusCode?: number }) => {
      assert.equal(err.statusCode, 404);
      return true;
    });

    await docker.createNetwork({ Name: 'dockerode-prune', Labels: { prune: 'me' } });
    const pruned = await docker.pruneNetworks({ filters: { label: ['prune=me'] } });
    assert.deepEqual(pruned.NetworksDeleted, ['dockerode-prune']);
  });

  test("dnet's errors reach dockerode as dockerd's do", async () => {
    await assert.rejects(
      docker.getNetwork('bridge').remove(),
      (err: { statusCode?: number; json?: { message?: string } }) => {
        assert.equal(err.statusCode, 403);
        assert.match(err.json?.message ?? '', /pre-defined network and cannot be removed/);
        return true;
      },
    );
  });
});

describe('the docker CLI', () => {
  const { bin, docker, ok } = dockerClient(sock, join(world.runDir, 'docker-home'));
  const skip =
    bin === undefined ? 'the docker CLI is not installed (no client-only Debian package): skipped' : false;
  if (skip) console.log(`# docker CLI tests: ${skip}`);

  test('version negotiates 1.48', { skip }, async () => {
    assert.equal(await ok('version', '--format', '{{.Server.APIVersion}}'), '1.48');
  });

  test('network create, ls, inspect, connect, disconnect, rm, prune', { skip }, async () => {
    const id = await ok('network', 'create', '--subnet', '10.60.0.0/24', '--label', 'via=cli', 'cli-net');
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(
      await ok('network', 'ls', '--filter', 'label=via=cli', '--format', '{{.Name}} {{.Driver}}'),
      'cli-net bridge',
    );
    assert.match(await ok('network', 'ls'), /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n/);
    assert.equal(
      await ok(
        'network',
        'inspect',
        'cli-net',
        '--format',
        '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}',
      ),
      '10.60.0.0/24 10.60.0.1',
    );
    await ok('network', 'connect', '--ip', '10.60.0.9', 'cli-net', 'box');
    assert.equal(
      await ok(
        'network',
        'inspect',
        'cli-net',
        '--format',
        '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}',
      ),
      'box 10.60.0.9/24',
    );
    const twice = await docker('network', 'connect', 'cli-net', 'box');
    assert.equal(twice.status, 1);
    assert.match(
      twice.stderr,
      /Error response from daemon: endpoint with name box already exists in network cli-net\n/,
    );
    await ok('network', 'disconnect', 'cli-net', 'box');
    const rmBridge = await docker('network', 'rm', 'bridge');
    assert.equal(rmBridge.status, 1);
    assert.match(
      rmBridge.stderr,
      /Error response from daemon: bridge is a pre-defined network and cannot be removed/,
    );
    assert.equal(await ok('network', 'rm', 'cli-net'), 'cli-net');
    await ok('network', 'create', 'cli-prune');
    assert.equal(await ok('network', 'prune', '-f'), 'Deleted Networks:\ncli-prune');
    assert.deepEqual((await ok('network', 'ls', '--format', '{{.Name}}')).split('\n').sort(), [
      'bridge',
      'host',
      'none',
    ]);
  });

  test('an unknown network is a 404 the CLI reports', { skip }, async () => {
    const r = await docker('network', 'inspect', 'nope');
    assert.equal(r.status, 1);
    // Newer CLIs print the daemon's message (dockerd's text); Debian's 20.10 its own for a 404.
    assert.match(r.stderr, /Error response from daemon: network nope not found\n|No such network: nope/);
  });
});
