import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../../src/os/netns/index.ts';
import { world } from '../harness/world.ts';
import { request, type Server, startServer } from '../helpers/traffic.ts';

// `-d macvlan` and `-d ipvlan` through the Docker API: the docker CLI and dockerode against a dnet
// daemon, the parent a veth whose peer is a "remote host" namespace.

const sock = join(world.runDir, 'mvd.sock');
const nl = NetlinkHandle.open();
let daemon: Daemon;
let remote: string;
const servers: Server[] = [];

before(async () => {
  remote = createNetns('mvd-remote', { runDir: world.runDir });
  const fd = openNetns(remote);
  try {
    nl.linkAdd({ kind: 'veth', name: 'mvd0', up: true, peer: { name: 'mvdr0', netns: { fd } } });
  } finally {
    closeSync(fd);
  }
  const r = NetlinkHandle.open({ netns: { path: remote } });
  r.linkSet('lo', { up: true });
  r.addrAdd('mvdr0', '10.90.0.100/24');
  r.linkSet('mvdr0', { up: true });
  r.close();
  daemon = await startDaemon({
    runDir: join(world.runDir, 'mvd-run'),
    dataDir: join(world.runDir, 'mvd-data'),
    hosts: [`unix://${sock}`],
    log: () => {},
  });
});

after(async () => {
  for (const s of servers) s.stop();
  await daemon.close();
  nl.linkDelIfExists('mvd0');
  deleteNetns(remote);
});

const home = join(world.runDir, 'mvd-docker-home');
mkdirSync(home, { recursive: true });
const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: home, HOME: home };
const docker = (...args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    // Asynchronous: the daemon runs in this process, so a blocking spawn would starve it.
    execFile('docker', args, { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ status: err ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
    });
  });
const ok = async (...args: string[]) => {
  const r = await docker(...args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const hasDockerCli = existsSync('/usr/bin/docker') || existsSync('/usr/local/bin/docker');

describe(
  'macvlan and ipvlan through the Docker API',
  { skip: hasDockerCli ? false : 'no docker CLI' },
  () => {
    test('docker network create -d macvlan -o parent=...: containers on the segment, reached from the remote host', async () => {
      await ok(
        'network',
        'create',
        '-d',
        'macvlan',
        '-o',
        'parent=mvd0',
        '-o',
        'macvlan_mode=bridge',
        '--subnet',
        '10.90.0.0/24',
        '--gateway',
        '10.90.0.100',
        '--ip-range',
        '10.90.0.0/25',
        'mvnet',
      );
      assert.equal(
        await ok(
          'network',
          'inspect',
          'mvnet',
          '--format',
          '{{.Driver}} {{.Scope}} {{index .Options "parent"}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}',
        ),
        'macvlan local mvd0 10.90.0.0/24 10.90.0.100',
      );
      await ok('network', 'connect', 'mvnet', 'box1');
      await ok('network', 'connect', '--ip', '10.90.0.50', 'mvnet', 'box2');
      const ips = await ok(
        'network',
        'inspect',
        'mvnet',
        '--format',
        '{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}',
      );
      assert.deepEqual(ips.split(' ').sort(), ['box1=10.90.0.1/24', 'box2=10.90.0.50/24']);
      const key1 = daemon.controller.sandboxByName('box1')?.key ?? '';
      const key2 = daemon.controller.sandboxByName('box2')?.key ?? '';
      servers.push(await startServer(key1, 'tcp', '0.0.0.0', 80));
      assert.equal(await request(remote, 'tcp', '10.90.0.1', 80), 'from 10.90.0.100');
      assert.equal(await request(key2, 'tcp', '10.90.0.1', 80), 'from 10.90.0.50');
      await ok('network', 'disconnect', 'mvnet', 'box1');
      await ok('network', 'disconnect', 'mvnet', 'box2');
      assert.equal(await ok('network', 'rm', 'mvnet'), 'mvnet');
    });

    test('IPv6 on a macvlan network: both containers reach each other over IPv6', async () => {
      await ok(
        'network',
        'create',
        '-d',
        'macvlan',
        '-o',
        'parent=mvd0',
        '--ipv6',
        '--subnet',
        '10.96.0.0/24',
        '--subnet',
        'fd00:96::/64',
        'mv6',
      );
      await ok('network', 'connect', 'mv6', 'six1');
      await ok('network', 'connect', 'mv6', 'six2');
      const v6 = await ok(
        'network',
        'inspect',
        'mv6',
        '--format',
        '{{range .Containers}}{{.Name}}={{.IPv6Address}} {{end}}',
      );
      const addr = Object.fromEntries(v6.split(' ').map((x) => x.split('=') as [string, string]));
      assert.match(addr.six1 ?? '', /^fd00:96::[0-9a-f]+\/64$/);
      const key1 = daemon.controller.sandboxByName('six1')?.key ?? '';
      const key2 = daemon.controller.sandboxByName('six2')?.key ?? '';
      servers.push(await startServer(key1, 'tcp', '::', 80));
      const ip1 = (addr.six1 ?? '').split('/')[0] ?? '';
      const ip2 = (addr.six2 ?? '').split('/')[0] ?? '';
      assert.equal(await request(key2, 'tcp', ip1, 80), `from ${ip2}`);
      await ok('network', 'disconnect', 'mv6', 'six1');
      await ok('network', 'disconnect', 'mv6', 'six2');
      assert.equal(await ok('network', 'rm', 'mv6'), 'mv6');
    });

    test('the usual Docker recipe: --config-only with the parent and subnet, then -d macvlan --config-from', async () => {
      await ok(
        'network',
        'create',
        '--config-only',
        '-o',
        'parent=mvd0',
        '--subnet',
        '10.97.0.0/24',
        '--gateway',
        '10.97.0.254',
        'mvcfg',
      );
      await ok('network', 'create', '-d', 'macvlan', '--config-from', 'mvcfg', 'mvfrom');
      assert.equal(
        await ok(
          'network',
          'inspect',
          'mvfrom',
          '--format',
          '{{.Driver}} {{.ConfigFrom.Network}} {{index .Options "parent"}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}',
        ),
        'macvlan mvcfg mvd0 10.97.0.0/24 10.97.0.254',
      );
      await ok('network', 'connect', 'mvfrom', 'cf1');
      const key = daemon.controller.sandboxByName('cf1')?.key ?? '';
      const h = NetlinkHandle.open({ netns: { path: key } });
      try {
        assert.equal(h.linkGet('eth0')?.info.kind, 'macvlan');
        assert.equal(h.routeList().find((r) => r.dst === 'default')?.gateway, '10.97.0.254');
      } finally {
        h.close();
      }
      await ok('network', 'disconnect', 'mvfrom', 'cf1');
      assert.equal(await ok('network', 'rm', 'mvfrom', 'mvcfg'), 'mvfrom\nmvcfg');
    });

    test("bad options answer 400 with dockerd's wording", async () => {
      const bad = await docker(
        'network',
        'create',
        '-d',
        'macvlan',
        '-o',
        'parent=mvd0',
        '-o',
        'macvlan_mode=nope',
        'x',
      );
      assert.equal(bad.status, 1);
      assert.match(
        bad.stderr,
        /requested macvlan mode 'nope' is not valid, 'bridge' mode is the macvlan driver default/,
      );
      const api = new Docker({ socketPath: sock });
      await assert.rejects(
        api.createNetwork({ Name: 'x', Driver: 'macvlan', Options: { parent: 'nosuch' } }),
        (err: { statusCode?: number; json?: { message?: string } }) => {
          assert.equal(err.statusCode, 400);
          assert.match(
            err.json?.message ?? '',
            /the requested parent interface nosuch was not found on the host/,
          );
          return true;
        },
      );
    });

    test('802.1q parent, parent-less macvlan and -d ipvlan: made, or an error naming the missing module', async () => {
      const cases = [
        { args: ['-d', 'macvlan', '-o', 'parent=mvd0.10', '--subnet', '10.93.0.0/24'], module: '8021q' },
        { args: ['-d', 'macvlan', '--subnet', '10.94.0.0/24'], module: 'dummy' },
        { args: ['-d', 'ipvlan', '-o', 'parent=mvd0', '--subnet', '10.95.0.0/24'], module: 'ipvlan' },
      ];
      for (const [i, c] of cases.entries()) {
        const r = await docker('network', 'create', ...c.args, `mod${i}`);
        if (r.status === 0) {
          // The kernel has it: Docker's behaviour, and the network goes away cleanly.
          assert.equal(await ok('network', 'rm', `mod${i}`), `mod${i}`);
          continue;
        }
        assert.match(
          r.stderr,
          new RegExp(
            `Error response from daemon: .*the ${c.module} kernel module is not loaded.*modprobe ${c.module}`,
          ),
        );
      }
      assert.deepEqual(
        nl.linkList().filter((l) => l.alias?.startsWith('dnet-')),
        [],
        'nothing left of the refused networks',
      );
    });
  },
);
