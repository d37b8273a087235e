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
 *
 *   make build && ./scripts/in-world.sh node --import tsx bench/overlay.ts [--joins 200]
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

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const joinsArg = process.argv.indexOf('--joins');
const JOINS = joinsArg > 0 ? Number(process.argv[joinsArg + 1]) : 200;
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

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

async function iperf(server: { key: string; ip: string }, client: { key: string }): Promise<number> {
  const srv = spawn('nsenter', [`--net=${server.key}`, 'iperf3', '-s', '-1', '-B', server.ip], {
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 500));
  try {
    const { stdout } = await promisify(execFile)(
      'nsenter',
      [`--net=${client.key}`, 'iperf3', '-c', server.ip, '-t', '5', '-J'],
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
const cl = await startCluster(root, 3);
progress('cluster up');
const [A, B, C] = cl.hosts as [ClusterHost, ClusterHost, ClusterHost];
const probers: Prober[] = [];
try {
  const r = await A.api('POST', '/networks/create', {
    Name: 'ovb',
    Driver: 'overlay',
    IPAM: { Config: [{ Subnet: '10.97.0.0/16', IPRange: '10.97.200.0/24' }] },
  });
  if (r.status !== 201) throw new Error(r.text);
  await new Promise((res) => setTimeout(res, 500));
  const pb = await connect(B, 'ovb', 'probe-b');
  const pc = await connect(C, 'ovb', 'probe-c');
  probers.push(startProber(pb.key), startProber(pc.key));
  progress('probers started');
  const { samples, timeouts } = await convergence(A, probers);
  const all = samples.flatMap((s) => [s.b, s.c]);
  const worst = samples.map((s) => Math.max(s.b, s.c));
  const conv = {
    joins: JOINS,
    timeouts,
    p50Ms: pct(all, 50),
    p99Ms: pct(all, 99),
    maxMs: Math.max(...all),
    bothP50Ms: pct(worst, 50),
    bothP99Ms: pct(worst, 99),
    /** From the connect request sent to the last of the two first replies. */
    sinceRequestP50Ms: pct(
      samples.map((s) => s.sinceRequest),
      50,
    ),
    sinceRequestP99Ms: pct(
      samples.map((s) => s.sinceRequest),
      99,
    ),
  };
  // Throughput: A → B over VXLAN; two containers on A's default bridge.
  const sa = await connect(A, 'ovb', 'iperf-a');
  const vxlanGbps = await iperf(pb, sa);
  const b1 = await connect(A, 'bridge', 'iperf-b1');
  const b2 = await connect(A, 'bridge', 'iperf-b2');
  const bridgeGbps = await iperf(b1, b2);
  const fdbPerHost = cl.hosts.map((h) => ({
    host: h.name,
    links: h.ipn('-o', 'link', 'show').split('\n').filter(Boolean).length,
  }));
  const result = {
    date: new Date().toISOString(),
    convergence: conv,
    throughput: { vxlanGbps, bridgeGbps },
    hosts: fdbPerHost,
  };
  const out = join(root, 'bench/results', `overlay-${result.date.slice(0, 10)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  const f = (x: number) => x.toFixed(2);
  console.log(
    `convergence over ${JOINS} joins (${timeouts} timeouts): p50 ${f(conv.p50Ms)} ms, p99 ${f(conv.p99Ms)} ms, ` +
      `max ${f(conv.maxMs)} ms; both B and C: p50 ${f(conv.bothP50Ms)} ms, p99 ${f(conv.bothP99Ms)} ms; ` +
      `from the connect request: p50 ${f(conv.sinceRequestP50Ms)} ms, p99 ${f(conv.sinceRequestP99Ms)} ms`,
  );
  console.log(`iperf3 A->B over VXLAN: ${f(vxlanGbps)} Gbit/s; on A's bridge: ${f(bridgeGbps)} Gbit/s`);
  console.log(`written: ${out}`);
} finally {
  for (const p of probers) p.child.kill();
  await cl.stop();
}
