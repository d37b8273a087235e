/**
 * Docker Engine as a stack: `docker network connect`/`disconnect` of a running container through
 * Docker's API (dockerode, no CLI process in the timing), Docker's built-in `bridge` driver vs the
 * `dnet` plugin (with `--ipam-driver dnet`), same world, same run; and dnet's own API (connect a
 * container name to a dnet network: sandbox, veth, address) beside them.
 *
 *   ./scripts/in-world.sh tsx bench/docker-plugin.ts [--rounds N]     (default 20)
 *
 * Needs Debian's docker.io and busybox-static (scripts/install-deps.sh). Prints p50/p95 in ms and
 * the ratios; a throwaway world, nothing left behind.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { startDaemon } from '../src/daemon/daemon.ts';
import { BUSYBOX_IMAGE, startDockerd } from '../test/harness/dockerd.ts';
import { call } from '../test/helpers/http.ts';
import { summarize } from './compare/stats.ts';

if (process.env.DNET_WORLD !== '1') {
  console.error('run it in a throwaway world: ./scripts/in-world.sh tsx bench/docker-plugin.ts');
  process.exit(2);
}
const ri = process.argv.indexOf('--rounds');
const ROUNDS = ri > 0 ? Number(process.argv[ri + 1]) : 20;
const dir = mkdtempSync('/run/dnet-bench-');
const sock = join(dir, 'dnet.sock');
const dnet = await startDaemon({
  runDir: join(dir, 'run'),
  dataDir: join(dir, 'data'),
  hosts: [`unix://${sock}`],
  pluginSocket: '/run/docker/plugins/dnet.sock',
  log: () => {},
});
const dockerd = await startDockerd();
const docker = new Docker({ socketPath: dockerd.socket });
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

type Row = { stack: string; connect: number[]; disconnect: number[] };
const rows: Row[] = [];
try {
  await dockerd.docker('network', 'create', '-d', 'bridge', '--subnet', '10.91.0.0/24', 'b-builtin');
  await dockerd.docker(
    'network',
    'create',
    '-d',
    'dnet',
    '--ipam-driver',
    'dnet',
    '--subnet',
    '10.92.0.0/24',
    'b-dnet',
  );
  await dockerd.docker('run', '-d', '--name', 'bench', '--stop-timeout', '1', BUSYBOX_IMAGE, 'sleep', '3600');
  for (const [stack, name] of [
    ['docker bridge', 'b-builtin'],
    ['docker + dnet plugin', 'b-dnet'],
  ] as const) {
    const net = docker.getNetwork(name);
    const row: Row = { stack, connect: [], disconnect: [] };
    for (let i = 0; i < ROUNDS + 2; i++) {
      let t0 = process.hrtime.bigint();
      await net.connect({ Container: 'bench' });
      const c = ms(t0);
      t0 = process.hrtime.bigint();
      await net.disconnect({ Container: 'bench' });
      const d = ms(t0);
      if (i >= 2) {
        row.connect.push(c);
        row.disconnect.push(d);
      }
    }
    rows.push(row);
  }
  // dnet's own API: the same work for a container dnet's sandbox API owns.
  const made = await call(sock, 'POST', '/networks/create', {
    Name: 'b-api',
    IPAM: { Config: [{ Subnet: '10.93.0.0/24' }] },
  });
  const id = (made.json as { Id: string }).Id;
  const row: Row = { stack: 'dnet API', connect: [], disconnect: [] };
  await call(sock, 'POST', `/networks/bridge/connect`, { Container: 'bench' }); // the sandbox exists first, as in Docker
  for (let i = 0; i < ROUNDS + 2; i++) {
    let t0 = process.hrtime.bigint();
    const c1 = await call(sock, 'POST', `/networks/${id}/connect`, { Container: 'bench' });
    const c = ms(t0);
    t0 = process.hrtime.bigint();
    const d1 = await call(sock, 'POST', `/networks/${id}/disconnect`, { Container: 'bench' });
    const d = ms(t0);
    if (c1.status !== 200 || d1.status !== 200) throw new Error(`dnet API: ${c1.text} ${d1.text}`);
    if (i >= 2) {
      row.connect.push(c);
      row.disconnect.push(d);
    }
  }
  rows.push(row);
  await call(sock, 'POST', `/networks/bridge/disconnect`, { Container: 'bench' });
  await call(sock, 'DELETE', `/networks/${id}`);
} finally {
  await dockerd.stop();
  await dnet.close();
}

const base = rows[0];
const p50 = (x: number[]) => summarize(x).p50;
console.log(`docker network connect/disconnect of a running container, ${ROUNDS} rounds (ms)`);
console.log(
  'stack                   connect p50   p95   disconnect p50   p95   docker bridge p50 / this p50',
);
for (const r of rows) {
  const c = summarize(r.connect);
  const d = summarize(r.disconnect);
  const rc = base ? p50(base.connect) / c.p50 : Number.NaN;
  const rd = base ? p50(base.disconnect) / d.p50 : Number.NaN;
  console.log(
    `${r.stack.padEnd(24)}${c.p50.toFixed(1).padStart(11)} ${c.p95.toFixed(1).padStart(6)}` +
      `${d.p50.toFixed(1).padStart(17)} ${d.p95.toFixed(1).padStart(6)}   connect ${rc.toFixed(2)}x, disconnect ${rd.toFixed(2)}x`,
  );
}
