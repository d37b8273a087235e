/**
 * Unit 7b (issue 15): podman start-to-ready. `podman run -d -p PORT:80` of a busybox image whose
 * command fetches http://GATEWAY:PORT/ready/TAG from a server in this process (in the world's
 * host namespace); the time is from the spawn of `podman run` to the server seeing that request:
 * the container is created, its network set up by the backend, started, and its first network use
 * succeeded. `podman rm -f` after each (untimed). Three backends, same world, same run,
 * interleaved: the CNI backend with the dnet plugin (the launcher), the CNI backend with
 * bridge+host-local+portmap, and podman's netavark backend (its default network).
 *
 * Each backend has its own podman storage (--root/--runroot, vfs) and containers.conf; libcni's
 * and podman's state dirs (/var/lib/cni, /var/lib/containers) are tmpfs in the world's mount
 * namespace for the run.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { call } from '../../test/helpers/http.ts';
import { installDnetCni, startDnetDaemon, stopDaemon } from './cni-daemon.ts';
import { CNI_DIR, cniMissing, NETAVARK } from './peers.ts';
import { type Summary, summarize } from './stats.ts';

export const PODMAN_BACKENDS = ['dnet', 'bridgePortmap', 'netavark'] as const;
export type PodmanBackend = (typeof PODMAN_BACKENDS)[number];
export const PODMAN_LABELS: Record<PodmanBackend, string> = {
  dnet: 'podman + CNI dnet (launcher)',
  bridgePortmap: 'podman + CNI bridge+portmap',
  netavark: 'podman + netavark',
};

export interface PodmanResult {
  n: number;
  load: [number, number];
  ready: Partial<Record<PodmanBackend, Summary>>;
  missing: Partial<Record<PodmanBackend, string>>;
}

const IMAGE = 'localhost/dnet-bench-busybox';
const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
/** The gateway each backend's containers see (the host side: where the ready server answers). */
const GATEWAY: Record<PodmanBackend, string> = {
  dnet: '10.71.0.1',
  bridgePortmap: '10.72.0.1',
  netavark: '10.88.0.1',
};

export function podmanMissing(): string | undefined {
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'podman not found (Debian package podman)';
  }
  return existsSync('/bin/busybox') ? undefined : '/bin/busybox not found (Debian package busybox-static)';
}

class Podman {
  constructor(
    readonly dir: string,
    readonly backend: PodmanBackend,
  ) {}

  run(args: string[], timeoutMs = 120_000): Promise<string> {
    const env = {
      ...process.env,
      CONTAINERS_CONF: join(this.dir, 'containers.conf'),
      TMPDIR: join(this.dir, 'tmp'),
    };
    const full = [
      '--root',
      join(this.dir, 'root'),
      '--runroot',
      join(this.dir, 'runroot'),
      '--storage-driver',
      'vfs',
    ];
    return new Promise((resolve, reject) =>
      execFile(
        'podman',
        [...full, ...args],
        { env, timeout: timeoutMs, encoding: 'utf8' },
        (err, out, stderr) =>
          err
            ? reject(new Error(`podman ${args.join(' ')}: ${err.message}\n${stderr}`))
            : resolve(out.trim()),
      ),
    );
  }

  /** containers.conf and the network config for this backend; the image imported. */
  async setup(cniBin: string, imageTar: string, sock: string): Promise<void> {
    for (const d of ['root', 'runroot', 'tmp', 'net.d']) mkdirSync(join(this.dir, d), { recursive: true });
    const net = join(this.dir, 'net.d');
    if (this.backend === 'dnet') {
      const list = {
        cniVersion: '1.0.0',
        name: 'bench',
        plugins: [
          { type: 'dnet', network: 'podbench', host: `unix://${sock}`, capabilities: { portMappings: true } },
        ],
      };
      writeFileSync(join(net, 'bench.conflist'), JSON.stringify(list));
    } else if (this.backend === 'bridgePortmap') {
      const list = {
        cniVersion: '1.0.0',
        name: 'bench',
        plugins: [
          {
            type: 'bridge',
            bridge: 'podbr1',
            isGateway: true,
            ipMasq: true,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: '10.72.0.0/16' }]],
              routes: [{ dst: '0.0.0.0/0' }],
            },
          },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        ],
      };
      writeFileSync(join(net, 'bench.conflist'), JSON.stringify(list));
    }
    const cni = this.backend !== 'netavark';
    writeFileSync(
      join(this.dir, 'containers.conf'),
      [
        '[network]',
        `network_backend = "${cni ? 'cni' : 'netavark'}"`,
        `network_config_dir = "${net}"`,
        ...(cni ? [`cni_plugin_dirs = ["${this.backend === 'dnet' ? cniBin : CNI_DIR}"]`] : []),
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${join(this.dir, 'events.log')}"`,
        `tmp_dir = "${join(this.dir, 'tmp')}"`,
        '',
      ].join('\n'),
    );
    await this.run(['import', imageTar, IMAGE]);
  }

  /** Start-to-ready of one container, µs; the container removed afterwards. */
  async once(tag: string, port: number, url: string, ready: Waiter): Promise<number> {
    const name = `bench-${tag}`;
    const network = this.backend === 'netavark' ? [] : ['--network', 'bench'];
    const cmd = `until wget -q -O /dev/null ${url}; do sleep 0.05; done; sleep 600`;
    const seen = ready.wait(tag, 60_000);
    const t = performance.now();
    await this.run([
      'run',
      '-d',
      '--name',
      name,
      ...ULIMITS,
      ...network,
      '-p',
      `${port}:80`,
      IMAGE,
      'sh',
      '-c',
      cmd,
    ]);
    const at = await seen;
    await this.run(['rm', '-f', '-t', '0', name]);
    return (at - t) * 1000;
  }
}

/** The ready server: when each tag's request came (performance.now()). */
class Waiter {
  private readonly seen = new Map<string, number>();
  private readonly waiting = new Map<string, (t: number) => void>();
  readonly server: Server = createServer((req, res) => {
    const now = performance.now();
    const tag = /^\/ready\/([\w-]+)$/.exec(req.url ?? '')?.[1];
    res.end('ok\n');
    if (!tag || this.seen.has(tag)) return;
    this.seen.set(tag, now);
    this.waiting.get(tag)?.(now);
  });

  wait(tag: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`container ${tag}: no request within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiting.set(tag, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }
}

const mounted: string[] = [];
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700', 'dnet-bench', dir]);
  mounted.push(dir);
}

/** The unit: `n` interleaved rounds (after `warmup`) in `dir` (the world's /run). */
export async function unitPodman(
  dir: string,
  dataDir: string,
  n: number,
  warmup: number,
  log: (l: string) => void,
): Promise<PodmanResult> {
  const load0 = loadavg()[0] ?? 0;
  const missing: PodmanResult['missing'] = {};
  const why = podmanMissing();
  if (why) {
    for (const b of PODMAN_BACKENDS) missing[b] = why;
    return { n: 0, load: [load0, load0], ready: {}, missing };
  }
  if (cniMissing()) missing.bridgePortmap = cniMissing();
  if (!existsSync(NETAVARK)) missing.netavark = `${NETAVARK} not found (Debian package netavark)`;
  const backends = PODMAN_BACKENDS.filter((b) => !missing[b]);
  const img = join(dir, 'img');
  mkdirSync(join(img, 'bin'), { recursive: true });
  execFileSync('cp', ['/bin/busybox', join(img, 'bin/busybox')]);
  for (const c of ['sh', 'wget', 'sleep']) symlinkSync('busybox', join(img, 'bin', c));
  execFileSync('tar', ['-C', img, '-cf', join(dir, 'img.tar'), '.']);
  privateDir('/var/lib/cni');
  privateDir('/var/lib/containers');
  const waiter = new Waiter();
  await new Promise<void>((r) => waiter.server.listen(0, '0.0.0.0', r));
  const port = (waiter.server.address() as AddressInfo).port;
  const cniBin = join(dir, 'cni-bin');
  await installDnetCni(cniBin);
  const { child, sock } = await startDnetDaemon(
    join(dir, 'daemon-run'),
    dataDir,
    'podbench',
    '10.71.0.0/16',
    'dnetpod0',
  );
  const samples: Record<PodmanBackend, number[]> = { dnet: [], bridgePortmap: [], netavark: [] };
  let short: string | undefined;
  try {
    // podman refuses a runroot longer than 50 characters: short paths under /run.
    short = mkdtempSync('/run/dnpb-');
    const pods = backends.map((b) => new Podman(join(short as string, b.slice(0, 1)), b));
    for (const p of pods) await p.setup(cniBin, join(dir, 'img.tar'), sock);
    for (let i = 0; i < warmup + n; i++) {
      log(`7. podman start-to-ready: round ${i + 1}/${warmup + n}`);
      for (const [k, p] of pods.entries()) {
        const tag = `${p.backend}-${i}`;
        const us = await p.once(
          tag,
          24000 + i * 3 + k,
          `http://${GATEWAY[p.backend]}:${port}/ready/${tag}`,
          waiter,
        );
        if (i >= warmup) samples[p.backend].push(us);
      }
    }
    for (const p of pods) await p.run(['rm', '-a', '-f', '-t', '0']).catch(() => undefined);
    await call(sock, 'DELETE', '/networks/podbench');
  } finally {
    waiter.server.close();
    await stopDaemon(child);
    for (const d of mounted.splice(0).reverse()) execFileSync('umount', ['-l', d]);
    if (short) rmSync(short, { recursive: true, force: true });
  }
  const ready: PodmanResult['ready'] = {};
  for (const b of backends) if (samples[b].length) ready[b] = summarize(samples[b]);
  return { n, load: [load0, loadavg()[0] ?? 0], ready, missing };
}
