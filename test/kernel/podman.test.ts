import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { world } from '../harness/world.ts';
import { call, waitForPing } from '../helpers/http.ts';

// A real runtime on dnet: Debian's podman 4.3 with its CNI backend runs containers on the dnet
// network `dn` through the plugin `dnet cni install` wrote. Everything podman keeps lives in the
// world: its storage (--root/--runroot, vfs), its config, its namespaces (/run/netns on the
// world's /run), and libcni's cache (/var/lib/cni, a tmpfs mounted in the world's mount namespace).

const W = join(world.runDir, 'podman');
const SOCK = '/run/dnet/dnet.sock';
const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
const IMAGE = 'localhost/dnet-busybox';
let daemon: ChildProcess | undefined;
const mounted: string[] = [];
const createdDirs: string[] = [];

const env = () => ({ ...process.env, CONTAINERS_CONF: join(W, 'containers.conf'), TMPDIR: join(W, 'tmp') });

function podman(args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'podman',
      ['--root', join(W, 'root'), '--runroot', join(W, 'runroot'), '--storage-driver', 'vfs', ...args],
      { env: env(), timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`podman ${args.join(' ')}: ${err.message}\n${stderr}`))
          : resolve(stdout.trim()),
    );
  });
}

function dnet(args: string[]): string {
  return execFileSync(process.execPath, [join(world.root, 'bin/dnet.js'), ...args], {
    cwd: world.root,
    encoding: 'utf8',
  });
}

/** Hides a host directory behind a tmpfs in the world's mount namespace (podman/libcni write there). */
function privateDir(dir: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    createdDirs.push(dir);
  }
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700', 'dnet-world', dir]);
  mounted.push(dir);
}

const GET = `
const req = require('http').get(process.argv[1], (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(b)); });
req.setTimeout(3000, () => { console.log('FAIL'); process.exit(0); });
req.on('error', () => console.log('FAIL'));`;

/** An HTTP GET from the world's own namespace or inside `netns`: the body, or "FAIL". */
function httpGet(url: string, netns?: string): Promise<string> {
  const node = [process.execPath, '-e', GET, url];
  const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, ...node]] : [node[0]!, node.slice(1)];
  return new Promise((resolve) =>
    execFile(cmd, args, { timeout: 15_000, encoding: 'utf8' }, (err, stdout) =>
      resolve(err ? 'FAIL' : stdout.trim()),
    ),
  );
}

async function attachments(): Promise<{ ContainerID: string; HostInterface: string }[]> {
  return (await call(SOCK, 'GET', '/attachments?network=dn')).json as {
    ContainerID: string;
    HostInterface: string;
  }[];
}

before(async () => {
  for (const d of ['net.d', 'cni-bin', 'root', 'runroot', 'tmp', 'img/bin', 'img/www'])
    mkdirSync(join(W, d), { recursive: true });
  privateDir('/var/lib/cni');
  privateDir('/var/lib/containers');
  dnet(['cni', 'install', '--bin-dir', join(W, 'cni-bin')]);
  // The launcher (the C program: podman execs it per verb), not the Node fallback.
  const elf = [...readFileSync(join(W, 'cni-bin', 'dnet')).subarray(0, 4)];
  assert.deepEqual(elf, [0x7f, 0x45, 0x4c, 0x46], 'dnet cni install wrote the C launcher');
  daemon = spawn(
    process.execPath,
    [join(world.root, 'bin/dnet.js'), 'daemon', '--data-dir', join(W, 'data')],
    {
      cwd: world.root,
      stdio: ['ignore', 'ignore', process.env.DNET_TEST_DEBUG ? 'inherit' : 'ignore'],
    },
  );
  await waitForPing(SOCK);
  dnet(['network', 'create', '--subnet', '10.88.5.0/24', 'dn']);
  // The brief's conflist, with the portMappings capability declared (libcni passes runtimeConfig
  // only for declared capabilities).
  writeFileSync(
    join(W, 'net.d', 'dn.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'dn',
      plugins: [{ type: 'dnet', network: 'dn', capabilities: { portMappings: true } }],
    }),
  );
  writeFileSync(
    join(W, 'containers.conf'),
    [
      '[network]',
      'network_backend = "cni"',
      `network_config_dir = "${join(W, 'net.d')}"`,
      `cni_plugin_dirs = ["${join(W, 'cni-bin')}"]`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(W, 'events.log')}"`,
      `tmp_dir = "${join(W, 'tmp')}"`,
      '',
    ].join('\n'),
  );
  // The image: busybox-static and a page to serve.
  execFileSync('cp', ['/bin/busybox', join(W, 'img/bin/busybox')]);
  for (const c of ['sh', 'httpd', 'wget', 'sleep']) symlinkSync('busybox', join(W, 'img/bin', c));
  writeFileSync(join(W, 'img/www/index.html'), 'hello from podman\n');
  execFileSync('tar', ['-C', join(W, 'img'), '-cf', join(W, 'img.tar'), '.']);
  await podman(['import', join(W, 'img.tar'), IMAGE]);
});

after(async () => {
  await podman(['rm', '-a', '-f', '-t', '0']).catch(() => undefined);
  await podman(['rmi', '-a', '-f']).catch(() => undefined);
  if (daemon) {
    await call(SOCK, 'DELETE', '/networks/dn').catch(() => undefined);
    const d = daemon;
    await new Promise((resolve) => {
      d.once('exit', resolve);
      d.kill('SIGKILL');
    });
  }
  for (const dir of mounted.reverse()) execFileSync('umount', [dir]);
  for (const dir of createdDirs.reverse()) rmdirSync(dir);
});

describe('podman (CNI backend) on a dnet network', () => {
  test('two containers reach each other; -p 8080:80 from another namespace and the host; rm -f releases all', async () => {
    const web = await podman([
      'run',
      '-d',
      '--name',
      'web',
      '--network',
      'dn',
      '-p',
      '8080:80',
      ...ULIMITS,
      IMAGE,
      '/bin/httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    const idle = await podman([
      'run',
      '-d',
      '--name',
      'idle',
      '--network',
      'dn',
      ...ULIMITS,
      IMAGE,
      '/bin/sleep',
      '600',
    ]);
    const ip = await podman(['inspect', 'web', '--format', '{{.NetworkSettings.Networks.dn.IPAddress}}']);
    assert.match(ip, /^10\.88\.5\.\d+$/);

    // dnet lists the podman containers (named as podman names them) while they run.
    const net = JSON.parse(dnet(['network', 'inspect', 'dn'])) as [
      { Containers: Record<string, { Name: string; IPv4Address: string }> },
    ];
    assert.deepEqual(Object.keys(net[0].Containers).sort(), [web, idle].sort());
    assert.equal(net[0].Containers[web]?.Name, 'web');
    assert.equal(net[0].Containers[web]?.IPv4Address, `${ip}/24`);

    // Container to container, then the published port from another container (through the
    // gateway) and from the host.
    const page = await podman(['exec', 'idle', '/bin/wget', '-qO-', `http://${ip}/`]);
    assert.equal(page, 'hello from podman');
    const viaPort = await podman(['exec', 'idle', '/bin/wget', '-qO-', 'http://10.88.5.1:8080/']);
    assert.equal(viaPort, 'hello from podman');
    assert.equal(await httpGet('http://127.0.0.1:8080/'), 'hello from podman');
    const pid = await podman(['inspect', 'idle', '--format', '{{.State.Pid}}']);
    const other = `/proc/${pid}/ns/net`;
    assert.equal(await httpGet('http://10.88.5.1:8080/', other), 'hello from podman');

    // rm -f: DEL for each; every address, interface, port and record goes.
    const hostIfs = (await attachments()).map((a) => a.HostInterface);
    assert.equal(hostIfs.length, 2);
    await podman(['rm', '-f', '-t', '0', 'web', 'idle']);
    assert.deepEqual(await attachments(), []);
    const after = JSON.parse(dnet(['network', 'inspect', 'dn'])) as [{ Containers: Record<string, unknown> }];
    assert.deepEqual(after[0].Containers, {});
    const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    for (const h of hostIfs) assert.ok(!links.includes(`${h}@`), `${h} gone`);
    assert.equal(await httpGet('http://127.0.0.1:8080/'), 'FAIL', 'the port is no longer published');
    const sandboxes = (await call(SOCK, 'GET', '/sandboxes')).json as { Id: string }[];
    assert.ok(!sandboxes.some((s) => s.Id === web || s.Id === idle));
  });
});
