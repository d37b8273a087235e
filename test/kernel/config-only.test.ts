import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { world } from '../harness/world.ts';
import { dockerCli } from '../helpers/docker-cli.ts';

// Configuration-only networks (`--config-only` / `--config-from`) through the Docker API: the
// docker CLI and dockerode against a dnet daemon, across a restart.

const sock = join(world.runDir, 'cfg.sock');
const dataDir = join(world.runDir, 'cfg-data');
const runDir = join(world.runDir, 'cfg-run');
let daemon: Daemon;

const start = () =>
  startDaemon({ runDir, dataDir, hosts: [`unix://${sock}`], log: () => {} }).then((d) => {
    daemon = d;
  });

before(start);
after(async () => {
  await daemon.close();
});

const docker = new Docker({ socketPath: sock });
type ApiErr = { statusCode?: number; json?: { message?: string } };
const rejectsWith = (p: Promise<unknown>, status: number, message: RegExp) =>
  assert.rejects(p, (err: ApiErr) => {
    assert.equal(err.statusCode, status, JSON.stringify(err.json));
    assert.match(err.json?.message ?? '', message);
    return true;
  });

describe('configuration-only networks (dockerode)', () => {
  test('created, used by --config-from, refused where dockerd refuses, kept across a restart', async () => {
    await docker.createNetwork({
      Name: 'cfg',
      ConfigOnly: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.71.0.0/24', Gateway: '10.71.0.254' }] },
      Options: { 'com.docker.network.driver.mtu': '1400' },
      Labels: { from: 'cfg' },
    });
    const cfg = await docker.getNetwork('cfg').inspect();
    assert.equal(cfg.ConfigOnly, true);
    assert.equal(cfg.Driver, 'null'); // as dockerd: no driver state
    assert.deepEqual(cfg.IPAM?.Config, []); // nothing allocated (dockerd shows none either)
    assert.deepEqual(cfg.Options, { 'com.docker.network.driver.mtu': '1400' });

    // Operator fields on a configuration network, and a chain of them: 403 with dockerd's text.
    await rejectsWith(
      docker.createNetwork({ Name: 'cfg2', ConfigOnly: true, Internal: true }),
      403,
      /^configuration network can only contain network specific fields/,
    );
    await rejectsWith(
      docker.createNetwork({ Name: 'cfg3', ConfigOnly: true, ConfigFrom: { Network: 'cfg' } }),
      403,
      /^a configuration network cannot depend on another configuration network$/,
    );
    // A network from it may not bring its own settings.
    await rejectsWith(
      docker.createNetwork({
        Name: 'own',
        ConfigFrom: { Network: 'cfg' },
        IPAM: { Driver: 'default', Config: [{ Subnet: '10.72.0.0/24' }] },
      }),
      403,
      /^user-specified configurations are not supported/,
    );
    await rejectsWith(
      docker.createNetwork({ Name: 'own', ConfigFrom: { Network: 'cfg' }, Options: { a: 'b' } }),
      403,
      /^network driver options are not supported/,
    );
    await rejectsWith(
      docker.createNetwork({ Name: 'own', ConfigFrom: { Network: 'nope' } }),
      404,
      /^configuration network "nope" does not exist$/,
    );
    // A network that is not configuration-only cannot be a source.
    await rejectsWith(
      docker.createNetwork({ Name: 'own', ConfigFrom: { Network: 'bridge' } }),
      404,
      /^configuration network "bridge" does not exist$/,
    );

    const made = await docker.createNetwork({
      Name: 'made',
      ConfigFrom: { Network: 'cfg' },
      Attachable: true,
    });
    const info = await made.inspect();
    assert.equal(info.Driver, 'bridge');
    assert.deepEqual(info.ConfigFrom, { Network: 'cfg' });
    assert.equal(info.ConfigOnly, false);
    assert.equal(info.Attachable, true); // operator fields stay the network's own
    assert.deepEqual(info.IPAM?.Config, [{ Subnet: '10.71.0.0/24', Gateway: '10.71.0.254' }]);
    assert.deepEqual(info.Options, { 'com.docker.network.driver.mtu': '1400' });
    assert.deepEqual(info.Labels, { from: 'cfg' });

    // No endpoints on the configuration network; real ones on the network made from it.
    await rejectsWith(
      docker.getNetwork('cfg').connect({ Container: 'c1' }),
      403,
      /^cannot create endpoint on configuration-only network$/,
    );
    await made.connect({ Container: 'c1' });
    const joined = await made.inspect();
    const ep = Object.values(joined.Containers ?? {})[0] as { IPv4Address: string };
    assert.equal(ep.IPv4Address, '10.71.0.1/24');
    const sb = daemon.controller.sandboxByContainer(Object.keys(joined.Containers ?? {})[0] ?? '');
    assert.ok(sb?.key, 'the container has a sandbox');
    const inside = NetlinkHandle.open({ netns: { path: sb.key } });
    try {
      assert.equal(inside.linkGet('eth0')?.mtu, 1400, 'the MTU came from the configuration network');
    } finally {
      inside.close();
    }

    // In use: not removable, never pruned.
    await rejectsWith(docker.getNetwork('cfg').remove(), 403, /^configuration network "cfg" is in use$/);
    const pruned = await docker.pruneNetworks();
    assert.ok(!(pruned.NetworksDeleted ?? []).includes('cfg'));

    // A restart keeps both as they were.
    await daemon.close();
    await start();
    const again = await docker.getNetwork('cfg').inspect();
    assert.equal(again.ConfigOnly, true);
    assert.equal(again.Id, cfg.Id);
    assert.deepEqual((await docker.getNetwork('made').inspect()).ConfigFrom, { Network: 'cfg' });
    await rejectsWith(docker.getNetwork('cfg').remove(), 403, /is in use/);

    await made.disconnect({ Container: 'c1' });
    await made.remove();
    // Unused now: still never pruned (as dockerd), but removable.
    const pruned2 = await docker.pruneNetworks();
    assert.ok(!(pruned2.NetworksDeleted ?? []).includes('cfg'));
    assert.equal((await docker.getNetwork('cfg').inspect()).ConfigOnly, true);
    await docker.getNetwork('cfg').remove();
    await rejectsWith(docker.getNetwork('cfg').inspect(), 404, /not found/);
  });
});

describe('configuration-only networks (docker CLI)', () => {
  const bin = dockerCli();
  const skip = bin === undefined ? 'the docker CLI is not installed: skipped' : false;
  const home = join(world.runDir, 'cfg-docker-home');
  mkdirSync(home, { recursive: true });
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: home, HOME: home };
  const run = (...args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(bin ?? 'docker', args, { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ status: err ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
      });
    });
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };

  test('--config-only and --config-from', { skip }, async () => {
    await ok('network', 'create', '--config-only', '--subnet', '10.73.0.0/24', 'cli-cfg');
    assert.equal(
      await ok('network', 'inspect', 'cli-cfg', '--format', '{{.ConfigOnly}} {{.Driver}} {{.Scope}}'),
      'true null local',
    );
    await ok('network', 'create', '--config-from', 'cli-cfg', 'cli-made');
    assert.equal(
      await ok(
        'network',
        'inspect',
        'cli-made',
        '--format',
        '{{.ConfigFrom.Network}} {{range .IPAM.Config}}{{.Subnet}}{{end}}',
      ),
      'cli-cfg 10.73.0.0/24',
    );
    const connect = await run('network', 'connect', 'cli-cfg', 'box');
    assert.equal(connect.status, 1);
    assert.match(
      connect.stderr,
      /Error response from daemon: cannot create endpoint on configuration-only network/,
    );
    const rm = await run('network', 'rm', 'cli-cfg');
    assert.equal(rm.status, 1);
    assert.match(rm.stderr, /configuration network "cli-cfg" is in use/);
    assert.equal(await ok('network', 'rm', 'cli-made', 'cli-cfg'), 'cli-made\ncli-cfg');
    // Events as dockerd logs them: a create for both, a destroy for the network made from it only.
    const events = (name: string) =>
      ok(
        'events',
        '--since',
        '0',
        '--until',
        `${Math.ceil(Date.now() / 1000)}`,
        '--filter',
        `network=${name}`,
        '--format',
        '{{.Action}}',
      );
    assert.equal(await events('cli-cfg'), 'create');
    assert.equal(await events('cli-made'), 'create\ndestroy');
  });
});
