/**
 * Start-up and memory of the package as shipped (the build in dist/, plain node): `dnet --help`,
 * `dnet version` (no daemon) and `dnet network ls` (against a running `dnet daemon`) beside bare
 * `node -e 1` and the docker CLI (where installed: the same commands, `docker network ls` against
 * dnet's socket); `import('libnetwork')`; the daemon's RSS idle and per endpoint with N endpoints
 * (containers connected to a bridge network through the API). Prints the issue's goals, met or not.
 *
 * Run inside a throwaway world: `make bench-startup` (or `./scripts/in-world.sh tsx bench/startup.ts`).
 * `--quick`: fewer runs and 50 endpoints (the test suite runs that to keep it working; it asserts
 * no timing). `--endpoints N` sets the endpoint count (default 1000).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type UnixReply, unixCall } from './lib.ts';

if (process.env.DNET_WORLD !== '1') {
  console.error(
    'run this inside a throwaway world: make bench-startup, or scripts/in-world.sh tsx bench/startup.ts',
  );
  process.exit(2);
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'dist/cli/bin.js');
if (!existsSync(BIN)) {
  console.error('dist/ is not built: run make build');
  process.exit(2);
}
const quick = process.argv.includes('--quick');
const endpointsArg = process.argv.indexOf('--endpoints');
const ENDPOINTS = endpointsArg > 0 ? Number(process.argv[endpointsArg + 1]) : quick ? 50 : 1000;
const RUNS = quick ? 5 : 30;
const dir = mkdtempSync('/run/dnet-bench-startup-');
const sock = join(dir, 'run/dnet.sock');
const nowhere = `unix://${join(dir, 'nothing.sock')}`;

interface Stat {
  p50: number;
  p90: number;
}
const stat = (ms: number[]): Stat => {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  return { p50: at(0.5), p90: at(0.9) };
};

/** Wall time of a whole process, start to exit (ms), RUNS times after one untimed run. */
function timeProcess(cmd: string, args: string[], env: Record<string, string> = {}): Stat {
  const run = () => {
    const t = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore', env: { ...process.env, ...env } });
    if (r.error) throw r.error;
    return performance.now() - t;
  };
  run();
  return stat(Array.from({ length: RUNS }, run));
}

// --- the daemon ---
function rssOf(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(s)?.[1]) * 1024;
}

function call(method: string, path: string, body?: unknown): Promise<UnixReply> {
  return unixCall(sock, false, method, path, body);
}

// DNET_BENCH_DAEMON_NODE_OPTIONS: node options for the daemon only (e.g. --max-semi-space-size=1).
const daemonNodeOptions = process.env.DNET_BENCH_DAEMON_NODE_OPTIONS;
const daemon = spawn(
  process.execPath,
  [BIN, 'daemon', '--run-dir', join(dir, 'run'), '--data-dir', join(dir, 'data')],
  {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: daemonNodeOptions ? { ...process.env, NODE_OPTIONS: daemonNodeOptions } : process.env,
  },
);
let daemonErr = '';
daemon.stderr?.on('data', (d: Buffer) => {
  daemonErr = (daemonErr + d.toString()).slice(-4000);
});
const started = performance.now();
for (;;) {
  if (daemon.exitCode !== null) throw new Error(`the daemon exited: ${daemonErr}`);
  if ((await call('GET', '/_ping').catch(() => undefined))?.status === 200) break;
  if (performance.now() - started > 60_000) throw new Error(`the daemon did not answer: ${daemonErr}`);
  await sleep(20);
}
const startMs = performance.now() - started;

try {
  // --- CLI start-up ---
  const host = `unix://${sock}`;
  const rows: [string, Stat][] = [];
  const node = timeProcess(process.execPath, ['-e', '1']);
  rows.push(['node -e 1', node]);
  const help = timeProcess(process.execPath, [BIN, '--help']);
  rows.push(['dnet --help', help]);
  const version = timeProcess(process.execPath, [BIN, 'version'], { DNET_HOST: nowhere });
  rows.push(['dnet version (no daemon)', version]);
  const ls = timeProcess(process.execPath, [BIN, '-H', host, 'network', 'ls']);
  rows.push(['dnet network ls (daemon)', ls]);
  const docker = spawnSync('docker', ['--version'], { stdio: 'ignore' }).status === 0;
  if (docker) {
    rows.push(['docker --help', timeProcess('docker', ['--help'])]);
    rows.push(['docker version (no daemon)', timeProcess('docker', ['version'], { DOCKER_HOST: nowhere })]);
    rows.push([
      'docker network ls (dnet daemon)',
      timeProcess('docker', ['network', 'ls'], { DOCKER_HOST: host }),
    ]);
  }
  // import('libnetwork'), timed inside the process (the package resolves itself to dist/).
  const importMs: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const t = performance.now(); await import('libnetwork'); console.log(performance.now() - t)",
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (i > 0) importMs.push(Number(r.stdout.trim()));
  }
  const imp = stat(importMs);

  console.log(
    `\nStart-up (wall time of the whole process, ${RUNS} runs; the build in dist/, plain node ${process.version})`,
  );
  console.log(`${'command'.padEnd(34)} ${'p50'.padStart(9)} ${'p90'.padStart(9)}  vs node -e 1`);
  for (const [what, s] of rows) {
    console.log(
      `${what.padEnd(34)} ${`${s.p50.toFixed(1)} ms`.padStart(9)} ${`${s.p90.toFixed(1)} ms`.padStart(9)}  ${(s.p50 / node.p50).toFixed(2)}x`,
    );
  }
  console.log(
    `${"import('libnetwork')".padEnd(34)} ${`${imp.p50.toFixed(1)} ms`.padStart(9)} ${`${imp.p90.toFixed(1)} ms`.padStart(9)}  (inside the process)`,
  );

  // --- daemon memory ---
  for (let i = 0; i < 20; i++) await call('GET', '/networks');
  await sleep(2000);
  const idle = rssOf(daemon.pid!);
  const net = await call('POST', '/networks/create', {
    Name: 'bench',
    Driver: 'bridge',
    IPAM: { Config: [{ Subnet: '10.120.0.0/16' }] },
    Options: { 'com.docker.network.bridge.name': 'dsbr0' },
  });
  const netId = (JSON.parse(net.body) as { Id: string }).Id;
  const afterNetwork = rssOf(daemon.pid!);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ENDPOINTS) {
        const i = next++;
        const r = await call('POST', `/networks/${netId}/connect`, { Container: `bench-${i}` });
        if (r.status !== 200) throw new Error(`connect bench-${i}: ${r.status} ${r.body}`);
      }
    }),
  );
  const attachS = (performance.now() - t0) / 1000;
  await sleep(2000);
  const withEps = rssOf(daemon.pid!);
  const perEp = (withEps - afterNetwork) / ENDPOINTS;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  console.log(
    `\ndnet daemon (dist/cli/bin.js daemon, plain node${daemonNodeOptions ? ` ${daemonNodeOptions}` : ''}), RSS from /proc/<pid>/status`,
  );
  console.log(`  start-up to the first /_ping answer: ${startMs.toFixed(0)} ms`);
  console.log(`  idle (after start-up and 20 requests):  ${mib(idle)}`);
  console.log(`  with one bridge network:                ${mib(afterNetwork)}`);
  console.log(
    `  with ${ENDPOINTS} endpoints (connected in ${attachS.toFixed(1)} s, 8 in flight): ${mib(withEps)}: ${(perEp / 1024).toFixed(1)} KiB per endpoint`,
  );

  const goal = (ok: boolean, text: string) => console.log(`  ${ok ? 'met    ' : 'NOT met'}  ${text}`);
  console.log('\nGoals (issue 13)');
  goal(help.p50 <= 2 * node.p50, `dnet --help within 2x node -e 1: ${(help.p50 / node.p50).toFixed(2)}x`);
  goal(
    version.p50 <= 2 * node.p50,
    `dnet version within 2x node -e 1: ${(version.p50 / node.p50).toFixed(2)}x`,
  );
  goal(ls.p50 <= 2.5 * node.p50, `dnet network ls within 2.5x node -e 1: ${(ls.p50 / node.p50).toFixed(2)}x`);
  goal(idle <= 60 * 2 ** 20, `daemon idle RSS <= 60 MiB: ${mib(idle)}`);
  goal(
    perEp <= 25 * 1024,
    `<= 25 KiB per endpoint at ${ENDPOINTS} endpoints: ${(perEp / 1024).toFixed(1)} KiB`,
  );
  goal(imp.p50 <= 150, `import('libnetwork') <= 150 ms: ${imp.p50.toFixed(1)} ms`);

  // Clean up what was made: the endpoints and their sandboxes, the network.
  next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ENDPOINTS) {
        const i = next++;
        await call('POST', `/networks/${netId}/disconnect`, { Container: `bench-${i}` });
      }
    }),
  );
  await call('DELETE', `/networks/${netId}`);
} catch (err) {
  console.error(
    `failed: ${(err as Error).message}; the daemon (exit ${daemon.exitCode}) said:\n${daemonErr}`,
  );
  process.exitCode = 1;
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  // The daemon leaves kernel state by design (containers keep their network): its default bridge
  // and its nftables tables go here. The rest (the run directory's mounts) goes with the world.
  spawnSync('ip', ['link', 'del', 'dnet0'], { stdio: 'ignore' });
  spawnSync('nft', ['delete', 'table', 'inet', 'dnet'], { stdio: 'ignore' });
  spawnSync('nft', ['delete', 'table', 'bridge', 'dnet'], { stdio: 'ignore' });
}
