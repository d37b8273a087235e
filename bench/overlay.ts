/**
 * Overlay benchmarks (issue #17) on the multi-host harness (test/harness/cluster.ts: etcd on an
 * underlay bridge, three hosts = namespaces each running `dnet daemon`):
 *
 * - Convergence: time from a join returning on host A (the API's connect answered) to the first
 *   reply seen by a prober container on B and on C, over `--joins` joins (default 200). Each
 *   prober sends a UDP datagram every 2 ms to the new container's address (given in the connect,
 *   so probing starts before the join); the new container's kernel answers with ICMP port
 *   unreachable, which the prober sees as ECONNREFUSED: the path B → A and back works. One
 *   machine, one clock (CLOCK_REALTIME in both processes). The probers' ARP retransmit is 5 ms.
 * - Throughput: iperf3 (Debian) between containers on A and B over VXLAN, and between two
 *   containers on A's default bridge, 5 s each.
 * - Scale (bench/overlay-scale.ts): 3 hosts x 100 containers (kernel entries per host, the
 *   daemons' memory, connect p50/p99 during the fill), 100 concurrent connects per host (distinct
 *   addresses), 1000 connect/disconnect cycles (no stale FDB/neighbour entry).
 *
 *   ./scripts/in-world.sh node --import tsx bench/overlay.ts [--joins 200] [--parts convergence,throughput,scale]
 *     [--quick] [--out DIR]
 *
 * `--quick` (the test suite's check, test/kernel/bench-overlay.test.ts): 10 joins, 1 s of iperf3,
 * 10 containers and 10 concurrent connects per host, 30 churn cycles. `--out` (default
 * bench/results) is where the JSON goes.
 *
 * (the hosts run the compiled daemon from dist/ when it exists: build first so it is current).
 *
 * Prints a summary and writes bench/results/overlay-<date>.json.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ClusterHost, startCluster } from '../test/harness/cluster.ts';
import { pct, printScale, runScale } from './overlay-scale.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const QUICK = process.argv.includes('--quick');
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const JOINS = Number(arg('--joins') ?? (QUICK ? 10 : 200));
const PARTS = new Set((arg('--parts') ?? 'convergence,throughput,scale').split(','));
const OUT = resolve(arg('--out') ?? join(root, 'bench/results'));
for (const p of PARTS)
  if (!['convergence', 'throughput', 'scale'].includes(p)) throw new Error(`--parts: unknown part ${p}`);
if (!Number.isInteger(JOINS) || JOINS < 1) throw new Error('--joins: a positive integer');
const now = () => performance.timeOrigin + performance.now();

const PROBER = `
const fs = require('fs');
for (const [k, v] of [['retrans_time_ms', '5'], ['mcast_solicit', '255']])
  fs.writeFileSync('/proc/sys/net/ipv4/neigh/eth0/' + k, v);
const dgram = require('dgram');
const now = () => performance.timeOrigin + performance.now();
require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
  const [cmd, ip] = l.split(' ');
  if (cmd !== 'probe') return;
  const s = dgram.createSocket('udp4');
  let done = false, timer;
  const finish = (what) => { if (done) return; done = true; clearInterval(timer); s.close(); console.log(what); };
  const onErr = (e) => { if (e && e.code === 'ECONNREFUSED') finish('reply ' + ip + ' ' + now()); };
  s.on('error', onErr);
  s.connect(9, ip, () => { console.log('started ' + ip); timer = setInterval(() => s.send('x', onErr), 2); });
  setTimeout(() => finish('timeout ' + ip), 5000);
});`;

interface Prober {
  child: ChildProcess;
  /** The next line that `match` accepts (lines are kept until asked for). */
  next(match: (line: string) => boolean): Promise<string>;
}

function startProber(nsPath: string): Prober {
  const child = spawn('nsenter', [`--net=${nsPath}`, process.execPath, '-e', PROBER], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (process.env.BENCH_DEBUG) process.stderr.write(`prober: ${l}\n`);
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    async next(match) {
      for (;;) {
        const i = lines.findIndex(match);
        if (i >= 0) return lines.splice(i, 1)[0]!;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

async function sandbox(h: ClusterHost, name: string): Promise<{ id: string; key: string }> {
  const r = await h.api('POST', '/sandboxes', { Name: name });
  if (r.status !== 201) throw new Error(`sandbox ${name}: ${r.text}`);
  const b = r.json as { Id: string; SandboxKey: string };
  return { id: b.Id, key: b.SandboxKey };
}

async function connect(h: ClusterHost, net: string, name: string, ip?: string) {
  const sb = await sandbox(h, name);
  const r = await h.api('POST', `/networks/${net}/connect`, {
    Container: sb.id,
    ...(ip ? { EndpointConfig: { IPAMConfig: { IPv4Address: ip } } } : {}),
  });
  if (r.status !== 200) throw new Error(`connect ${name}: ${r.text}`);
  const ins = (await h.api('GET', `/networks/${net}`)).json as {
    Containers: Record<string, { IPv4Address: string }>;
  };
  return { ...sb, ip: ins.Containers[sb.id]!.IPv4Address.split('/')[0]! };
}

async function iperf(server: { key: string; ip: string }, client: { key: string }): Promise<number> {
  const srv = spawn('nsenter', [`--net=${server.key}`, 'iperf3', '-s', '-1', '-B', server.ip], {
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 500));
  try {
    const { stdout } = await promisify(execFile)(
      'nsenter',
      [`--net=${client.key}`, 'iperf3', '-c', server.ip, '-t', QUICK ? '1' : '5', '-J'],
      { maxBuffer: 1 << 24 },
    );
    const j = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    srv.kill();
  }
}

async function convergence(A: ClusterHost, probers: Prober[]) {
  const samples: { b: number; c: number; sinceRequest: number }[] = [];
  let timeouts = 0;
  for (let i = 0; i < JOINS; i++) {
    const ip = `10.97.${1 + Math.floor(i / 250)}.${(i % 250) + 2}`;
    for (const p of probers) p.child.stdin!.write(`probe ${ip}\n`);
    await Promise.all(probers.map((p) => p.next((l) => l === `started ${ip}`)));
    if (process.env.BENCH_DEBUG) progress(`${ip}: probing`);
    const sb = await sandbox(A, `j${i}`);
    const t0 = now();
    const r = await A.api('POST', '/networks/ovb/connect', {
      Container: sb.id,
      EndpointConfig: { IPAMConfig: { IPv4Address: ip } },
    });
    const t1 = now();
    if (r.status !== 200) throw new Error(`join ${i}: ${r.text}`);
    const got = await Promise.all(
      probers.map((p) => p.next((l) => /^(reply|timeout) /.test(l) && l.split(' ')[1] === ip)),
    );
    if (process.env.BENCH_DEBUG) progress(`${ip}: ${got.join(' / ')} at ${t1}`);
    if (got.some((g) => g.startsWith('timeout'))) timeouts++;
    else {
      const [b, c] = got.map((g) => Number(g.split(' ')[2]) - t1) as [number, number];
      samples.push({ b, c, sinceRequest: Math.max(b, c) + (t1 - t0) });
    }
    await A.api('DELETE', `/sandboxes/${sb.id}`);
    if (i % 20 === 19) process.stderr.write(`[overlay bench] ${i + 1} joins\n`);
  }
  return { samples, timeouts };
}

const progress = (m: string) => process.stderr.write(`[overlay bench] ${m}\n`);
const f = (x: number) => x.toFixed(2);

function summarise(conv: Awaited<ReturnType<typeof convergence>>) {
  const { samples, timeouts } = conv;
  const all = samples.flatMap((s) => [s.b, s.c]);
  const worst = samples.map((s) => Math.max(s.b, s.c));
  const since = samples.map((s) => s.sinceRequest);
  const c = {
    joins: JOINS,
    timeouts,
    p50Ms: pct(all, 50),
    p99Ms: pct(all, 99),
    maxMs: Math.max(...all),
    bothP50Ms: pct(worst, 50),
    bothP99Ms: pct(worst, 99),
    /** From the connect request sent to the last of the two first replies. */
    sinceRequestP50Ms: pct(since, 50),
    sinceRequestP99Ms: pct(since, 99),
  };
  console.log(
    `convergence over ${JOINS} joins (${timeouts} timeouts): p50 ${f(c.p50Ms)} ms, p99 ${f(c.p99Ms)} ms, ` +
      `max ${f(c.maxMs)} ms; both B and C: p50 ${f(c.bothP50Ms)} ms, p99 ${f(c.bothP99Ms)} ms; ` +
      `from the connect request: p50 ${f(c.sinceRequestP50Ms)} ms, p99 ${f(c.sinceRequestP99Ms)} ms`,
  );
  return c;
}

/** Convergence and throughput on network `ovb`, with probers on B and C. */
async function pathParts(A: ClusterHost, B: ClusterHost, C: ClusterHost, probers: Prober[]) {
  const r = await A.api('POST', '/networks/create', {
    Name: 'ovb',
    Driver: 'overlay',
    IPAM: { Config: [{ Subnet: '10.97.0.0/16', IPRange: '10.97.200.0/24' }] },
  });
  if (r.status !== 201) throw new Error(r.text);
  await new Promise((res) => setTimeout(res, 500));
  const pb = await connect(B, 'ovb', 'probe-b');
  const out: { convergence?: ReturnType<typeof summarise>; throughput?: object } = {};
  if (PARTS.has('convergence')) {
    const pc = await connect(C, 'ovb', 'probe-c');
    probers.push(startProber(pb.key), startProber(pc.key));
    progress('probers started');
    out.convergence = summarise(await convergence(A, probers));
  }
  if (PARTS.has('throughput')) {
    // A → B over VXLAN; two containers on A's default bridge.
    const sa = await connect(A, 'ovb', 'iperf-a');
    const vxlanGbps = await iperf(pb, sa);
    const b1 = await connect(A, 'bridge', 'iperf-b1');
    const b2 = await connect(A, 'bridge', 'iperf-b2');
    const bridgeGbps = await iperf(b1, b2);
    console.log(`iperf3 A->B over VXLAN: ${f(vxlanGbps)} Gbit/s; on A's bridge: ${f(bridgeGbps)} Gbit/s`);
    out.throughput = { vxlanGbps, bridgeGbps };
  }
  return out;
}

const cl = await startCluster(root, 3);
progress('cluster up');
const [A, B, C] = cl.hosts as [ClusterHost, ClusterHost, ClusterHost];
const probers: Prober[] = [];
try {
  const date = new Date().toISOString();
  // Scale first: it measures the daemons' memory from idle.
  const scale = PARTS.has('scale')
    ? await runScale(cl, {
        perHost: QUICK ? 10 : 100,
        concurrent: QUICK ? 10 : 100,
        churn: QUICK ? 30 : 1000,
        log: progress,
      })
    : undefined;
  if (scale) printScale(scale);
  const path = PARTS.has('convergence') || PARTS.has('throughput') ? await pathParts(A, B, C, probers) : {};
  const result = { date, quick: QUICK, ...path, scale };
  const out = join(OUT, `overlay-${date.slice(0, 10)}${QUICK ? '-quick' : ''}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written: ${out}`);
} finally {
  for (const p of probers) p.child.kill();
  await cl.stop();
}
