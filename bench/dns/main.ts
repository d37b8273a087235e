/**
 * The embedded resolver against aardvark-dns (netavark's), same world, same run, same names:
 *
 * 1. throughput: dnsperf, 4 clients, as fast as each answers (QPS, lost);
 * 2. latency at a fixed rate: dnsperf at 20 000 QPS, p50/p99 from its per-query lines;
 * 3. connect → first answer: while containers churn (connect/disconnect in a loop), 200 new
 *    containers are connected one by one and a prober in another container asks for each new name
 *    every millisecond from the moment connect returned; p50/p99 of that time. Meanwhile the prober
 *    asks for names that never change at a steady rate: a query with no answer in 1 s is lost.
 *    For aardvark-dns, "connect" is what netavark does: rewrite the network's file, SIGHUP.
 *
 * Both servers listen in the probe container's namespace (dnet on 127.0.0.11 from the daemon's
 * process, aardvark-dns on 127.0.0.12 in its own process), so dnsperf reaches both over loopback.
 *
 *   ./scripts/in-world.sh tsx bench/dns/main.ts [--quick] [--out DIR]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { type Network, NetworkController } from '../../src/index.ts';
import { Aardvark, dnsperf, type PerfResult, Prober, pct, run } from './peers.ts';

const quick = process.argv.includes('--quick');
const outIdx = process.argv.indexOf('--out');
const outDir = outIdx > 0 ? process.argv[outIdx + 1] : undefined;
const N = quick ? 50 : 1000;
const PROBES = quick ? 20 : 200;
const SECONDS = quick ? 2 : 10;
const RATE = 20_000;
const BACKGROUND = quick ? 200 : 1000;
const CHURNERS = 2;
/** Pause between two churn steps of one churner: the same pace for both servers (netavark itself
 * takes ~60 ms per container, dnet a few ms: the pause keeps aardvark-dns's reload rate realistic). */
const CHURN_PAUSE_MS = 5;

if (process.env.DNET_WORLD !== '1') {
  console.error(
    'run me inside a throwaway world: make bench, or ./scripts/in-world.sh tsx bench/dns/main.ts',
  );
  process.exit(1);
}

const runDir = mkdtempSync('/run/dnet-bench-dns-');
const tmp = mkdtempSync('/tmp/dns-bench-');
writeFileSync(join(runDir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
const ctl = await NetworkController.create({ runDir, hostResolvConf: join(runDir, 'resolv.conf') });
const net: Network = await ctl.newNetwork('bridge', 'bench', {
  ipam: { config: [{ subnet: '10.60.0.0/16' }] },
  options: { 'com.docker.network.bridge.name': 'dnsbench0' },
});

async function connect(name: string): Promise<string> {
  const ep = await net.connect(name, { endpointName: name, join: { containerName: name } });
  return (ep.iface.address ?? '').split('/')[0] ?? '';
}
const disconnect = (name: string) => net.endpointByName(name)?.leaveAndDelete() ?? Promise.resolve();

const names = Array.from({ length: N }, (_, i) => `c${i}`);
const ips = new Map<string, string>();
const t0 = performance.now();
for (const n of names) ips.set(n, await connect(n));
console.log(`${N} containers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
await connect('probe');
const ns = ctl.sandboxByContainer('probe')?.key as string;
await run('nsenter', [`--net=${ns}`, 'ip', 'addr', 'add', '127.0.0.12/8', 'dev', 'lo']);
const queries = join(tmp, 'queries');
writeFileSync(queries, names.map((n) => `${n} A\n`).join(''));

const aardvarkBin = Aardvark.find();
let aardvark: Aardvark | undefined;
if (aardvarkBin) {
  const dir = join(tmp, 'aardvark');
  mkdirSync(dir);
  aardvark = new Aardvark(aardvarkBin, dir, ns, '127.0.0.12');
  const a = aardvark;
  // It daemonizes: a bench that fails midway must not leave it running.
  process.once('exit', () => a.stop());
  await aardvark.start(ips);
  await new Promise((r) => setTimeout(r, 500));
  console.log(`aardvark-dns started: ${aardvark.alive() ? 'running' : 'EXITED'}`);
}

interface ChurnResult {
  /**
   * The bench process's main event-loop delay during the churn (µs): the controller's work. dnet's
   * queries are answered by the resolver's worker thread, which does not wait for it.
   */
  loopP99: number;
  loopMax: number;
  p50: number;
  p99: number;
  max: number;
  failed: number;
  sent: number;
  lost: number;
  wrong: number;
  churned: number;
}

/** Connect → first answer during churn, against one server (dnet, or aardvark via `set`). */
async function churn(
  server: string,
  set: (name: string, up: boolean) => Promise<void>,
): Promise<ChurnResult> {
  const stable = names.slice(0, N / 2);
  const churning = names.slice(N / 2);
  const prober = new Prober(ns, server, stable, BACKGROUND);
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let stop = false;
  let churned = 0;
  const churners = Array.from({ length: CHURNERS }, async (_, k) => {
    for (let i = k; !stop; i += CHURNERS) {
      const n = churning[i % churning.length] as string;
      await set(n, false);
      await new Promise((r) => setTimeout(r, CHURN_PAUSE_MS));
      await set(n, true);
      await new Promise((r) => setTimeout(r, CHURN_PAUSE_MS));
      churned++;
    }
  });
  const times: number[] = [];
  let failed = 0;
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < PROBES; i++) {
    const n = `new${i}`;
    await set(n, true);
    const us = await prober.probe(n);
    if (us === undefined) failed++;
    else times.push(us);
    await set(n, false);
  }
  stop = true;
  await Promise.all(churners);
  const stats = await prober.end();
  loop.disable();
  times.sort((a, b) => a - b);
  return {
    loopP99: loop.percentile(99) / 1000,
    loopMax: loop.max / 1000,
    p50: pct(times, 50),
    p99: pct(times, 99),
    max: times.at(-1) ?? Number.NaN,
    failed,
    churned,
    ...stats,
  };
}

type ServerResult = { throughput?: PerfResult; fixed?: PerfResult; churn?: ChurnResult };
const results: { dnet: ServerResult; 'aardvark-dns': ServerResult } = { dnet: {}, 'aardvark-dns': {} };
const servers: [keyof typeof results, string][] = [['dnet', '127.0.0.11']];
if (aardvark) servers.push(['aardvark-dns', '127.0.0.12']);
for (const [label, addr] of servers) {
  const r = results[label];
  r.throughput = await dnsperf(ns, addr, queries, { seconds: SECONDS, clients: 4, outstanding: 200 });
  console.log(`${label}: max ${Math.round(r.throughput.qps)} QPS`);
  r.fixed = await dnsperf(ns, addr, queries, { seconds: SECONDS, qps: RATE, verbose: true });
  if (label === 'aardvark-dns' && !aardvark?.alive()) console.log('aardvark-dns exited during dnsperf');
}

let nextIp = 1;
if (aardvark) {
  const a = aardvark;
  results['aardvark-dns'].churn = await churn('127.0.0.12', async (n, up) => {
    const ip = ips.get(n) ?? `10.61.${(nextIp >> 8) & 255}.${nextIp++ & 255}`;
    a.set(n, up ? ip : undefined);
  });
}
const watch = setInterval(() => {
  if (aardvark && !aardvark.alive()) console.log('aardvark-dns exited during dnet churn');
}, 1000);
results.dnet.churn = await churn('127.0.0.11', async (n, up) => {
  if (up) ips.set(n, await connect(n));
  else await disconnect(n);
});
clearInterval(watch);

const us = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : `${Math.round(x)} µs`);
const ms = (x: number) => (Number.isNaN(x) ? '-' : `${(x / 1000).toFixed(2)} ms`);
console.log(`\nDNS: ${N} names, dnsperf ${SECONDS} s per run, ${PROBES} connects during churn`);
console.log('server         max QPS   lost | at 20k QPS: QPS   p50      p99      lost');
for (const [label] of servers) {
  const r = results[label];
  const t = r.throughput as PerfResult;
  const f = r.fixed as PerfResult;
  console.log(
    `${label.padEnd(14)} ${Math.round(t.qps).toString().padStart(7)} ${String(t.lost).padStart(6)} | ` +
      `${Math.round(f.qps).toString().padStart(14)} ${us(f.p50).padStart(8)} ${us(f.p99).padStart(8)} ${String(f.lost).padStart(6)}`,
  );
}
if (!aardvark) console.log('  aardvark-dns: NOT MEASURED (not installed: apt-get install aardvark-dns)');
console.log('\nconnect → first answer during churn (p50 / p99 / max; lost of the background queries)');
for (const [label] of servers) {
  const c = results[label].churn as ChurnResult;
  console.log(
    `${label.padEnd(14)} ${ms(c.p50)} / ${ms(c.p99)} / ${ms(c.max)}; never answered ${c.failed}; ` +
      `background ${c.sent} queries, lost ${c.lost}, wrong ${c.wrong}; ${c.churned} churn cycles; ` +
      `main event-loop delay p99 ${ms(c.loopP99)}, max ${ms(c.loopMax)}`,
  );
}
const d = results.dnet;
const goals = [
  ['name answers ≤ 10 ms after connect (p99)', (d.churn?.p99 ?? Number.NaN) <= 10_000],
  ['zero lost queries during churn', d.churn?.lost === 0 && d.churn?.failed === 0],
  ['local answers p99 ≤ 500 µs at 20k QPS', (d.fixed?.p99 ?? Number.NaN) <= 500],
  [
    'throughput at least aardvark-dns’s',
    aardvark
      ? (d.throughput?.qps ?? 0) >= (results['aardvark-dns'].throughput?.qps ?? Number.POSITIVE_INFINITY)
      : false,
  ],
] as const;
console.log('\ngoals');
for (const [g, met] of goals) console.log(`  ${met ? 'met    ' : 'NOT MET'}  ${g}`);

if (outDir) {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `dns-${new Date().toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify({ n: N, probes: PROBES, seconds: SECONDS, results }, null, 2)}\n`);
  console.log(`\nwrote ${file}`);
}

aardvark?.stop();
for (const n of [...names, 'probe']) await disconnect(n);
await net.delete();
await ctl.close();
rmSync(tmp, { recursive: true, force: true });
// runDir is on the world's /run (gone with the world); its netns/ is a mount point.
