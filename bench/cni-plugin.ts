/**
 * The CNI plugin of type `dnet` against the reference bridge+portmap chain, in the same world and
 * the same run: plugin ADD and DEL with one published port, one process per call as a runtime
 * execs them, and the plugin's start-up (VERSION) against `node -e 0` and the tsx launcher.
 *
 *   ./scripts/in-world.sh npx tsx bench/cni-plugin.ts [--n 30]
 *
 * dnet's ADD is the plugin exec + the daemon's attach (namespace made by the harness with
 * `ip netns add`, not counted); bridge+portmap's is bridge ADD + portmap ADD (bench/compare's
 * `Cni` subject: its namespace is made in-process, counted, tens of µs). Times are wall-clock
 * medians and 90th percentiles in milliseconds.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { main as dnetMain } from '../src/cli/main.ts';
import { call, waitForPing } from '../test/helpers/http.ts';
import { Cni, cniMissing } from './compare/peers.ts';
import { mustRun, newId } from './compare/subject.ts';

if (process.env.DNET_WORLD !== '1') {
  console.error('run it in a throwaway world: ./scripts/in-world.sh npx tsx bench/cni-plugin.ts');
  process.exit(2);
}
const nArg = process.argv.indexOf('--n');
const N = nArg > 0 ? Number(process.argv[nArg + 1]) : 30;
const root = join(import.meta.dirname, '..');
const tmp = mkdtempSync('/run/dnet-cni-bench-');
const bin = join(tmp, 'bin');
const SOCK = '/run/dnet/dnet.sock';

const quiet = {
  out: () => {},
  err: (t: string) => process.stderr.write(t),
  env: {},
  readLine: async () => undefined,
};

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  return `median ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms (n=${s.length})`;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  await dnetMain(['cni', 'install', '--bin-dir', bin], quiet);
  const plugin = join(bin, 'dnet');
  const env = (cmd: string, id = '', netns = '') => ({
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: bin,
  });

  // 1. start-up
  const bare: number[] = [];
  const bundled: number[] = [];
  const viaTsx: number[] = [];
  for (let i = 0; i < 10; i++) {
    bare.push(await timed(() => mustRun('node', process.execPath, ['-e', '0'])));
    bundled.push(await timed(() => mustRun('plugin', plugin, [], { input: '{}', env: env('VERSION') })));
    viaTsx.push(
      await timed(() =>
        mustRun('tsx launcher', process.execPath, [join(root, 'bin/dnet-cni.js')], {
          input: '{}',
          env: env('VERSION'),
        }),
      ),
    );
  }
  console.log(`start-up  node -e 0:                 ${stats(bare)}`);
  console.log(`start-up  plugin VERSION (bundled):  ${stats(bundled)}`);
  console.log(`start-up  plugin VERSION (tsx):      ${stats(viaTsx)}`);

  // 2. dnet: ADD and DEL with one published port
  let dnetAdd: number[] = [];
  let dnetDel: number[] = [];
  const daemon: ChildProcess = spawn(
    process.execPath,
    [join(root, 'bin/dnet.js'), 'daemon', '--data-dir', join(tmp, 'data')],
    { cwd: root, stdio: ['ignore', 'ignore', 'ignore'] },
  );
  try {
    await waitForPing(SOCK);
    const created = await call(SOCK, 'POST', '/networks/create', {
      Name: 'benchdn',
      IPAM: { Config: [{ Subnet: '10.75.0.0/16' }] },
    });
    if (created.status !== 201) throw new Error(created.text);
    const conf = (port: number) =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'benchdn',
        type: 'dnet',
        runtimeConfig: { portMappings: [{ hostPort: port, containerPort: 80, protocol: 'tcp' }] },
      });
    const add: number[] = [];
    const del: number[] = [];
    const ids = Array.from({ length: N }, () => newId());
    for (const [i, id] of ids.entries()) {
      execFileSync('ip', ['netns', 'add', `b${i}`]);
      add.push(
        await timed(() =>
          mustRun('dnet ADD', plugin, [], {
            input: conf(20000 + i),
            env: env('ADD', id, `/run/netns/b${i}`),
          }),
        ),
      );
    }
    for (const [i, id] of ids.entries()) {
      del.push(
        await timed(() =>
          mustRun('dnet DEL', plugin, [], {
            input: conf(20000 + i),
            env: env('DEL', id, `/run/netns/b${i}`),
          }),
        ),
      );
      execFileSync('ip', ['netns', 'del', `b${i}`]);
    }
    await call(SOCK, 'DELETE', '/networks/benchdn');
    console.log(`dnet plugin           ADD (1 port):  ${stats(add)}`);
    console.log(`dnet plugin           DEL (1 port):  ${stats(del)}`);
    dnetAdd = add;
    dnetDel = del;
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  }

  // 3. bridge + portmap, the same way
  const missing = cniMissing();
  if (missing) {
    console.log(`bridge+portmap: not measured (${missing})`);
    return;
  }
  const cni = new Cni(join(tmp, 'peer-run'), join(tmp, 'peer-data'));
  await cni.setup();
  const add: number[] = [];
  const del: number[] = [];
  const cs = Array.from({ length: N }, (_, i) => ({ serial: i, id: newId(), hostPorts: [21000 + i] }));
  try {
    for (const c of cs) add.push(await timed(() => cni.attach(c)));
    for (const c of cs) del.push(await timed(() => cni.detach(c)));
  } finally {
    await cni.teardown();
    // portmap leaves its iptables(-nft) chains: the world goes with them.
    execFileSync('nft', ['flush', 'ruleset']);
  }
  console.log(`CNI bridge+portmap    ADD (1 port):  ${stats(add)}`);
  console.log(`CNI bridge+portmap    DEL (1 port):  ${stats(del)}`);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  console.log(
    `ratio (bridge+portmap / dnet, medians): ADD ${(med(add) / med(dnetAdd)).toFixed(1)}x, DEL ${(med(del) / med(dnetDel)).toFixed(1)}x`,
  );
}

try {
  await main();
} finally {
  // The peer's namespace directory is a shared mount point (as iproute2 makes it): unmount it first.
  try {
    execFileSync('umount', [join(tmp, 'peer-run', 'netns')], { stdio: 'ignore' });
  } catch {
    // never made
  }
  rmSync(tmp, { recursive: true, force: true });
}
