/**
 * The work units. Each runs one subject at a time, from a fresh subject (its own network, its
 * own namespaces dir) to a clean world: after a subject's teardown, whatever it left in the
 * world's kernel is recorded, then removed (links, nftables/iptables rules, namespaces).
 */
import { existsSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DefaultIpam } from '../../src/ipam/index.ts';
import { deleteNetns, listNetns } from '../../src/os/netns/index.ts';
import { hostNetlink } from '../../src/os/sandbox.ts';
import { type DnetDaemon, type DnetLibrary, type ProcMemory, procMemory } from './dnet.ts';
import { hostLocalPairs } from './peers.ts';
import { fmtUs, raw, type Summary, summarize } from './stats.ts';
import {
  type Container,
  newId,
  PortPool,
  PROBE_EVERY_MS,
  run,
  type Subject,
  type SubjectKey,
} from './subject.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface Env {
  quick: boolean;
  /** Namespace dirs (under the world's /run) to clean between subjects. */
  netnsDirs: string[];
  /** Progress, on stderr. */
  log(line: string): void;
  /** A fill stops when it has run this long (ms); the point is then marked as not reached. */
  fillBudgetMs: number;
}

const ports = new PortPool();
let serials = 0;

export function container(nPorts: number): Container {
  return { serial: serials++, id: newId(), hostPorts: ports.take(nPorts) };
}

function release(c: Container): void {
  ports.give(c.hostPorts);
}

/** Runs fn; its own time if it reports one (the floor), else the wall time, in µs. */
async function timed(fn: () => Promise<number | undefined>): Promise<number> {
  const t0 = performance.now();
  const inner = await fn();
  return inner ?? (performance.now() - t0) * 1000;
}

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 500);

// --- cleaning the world between subjects ---------------------------------------------------------

export interface Leftovers {
  links: string[];
  nftTables: string[];
  netns: number;
}

async function leftovers(env: Env): Promise<Leftovers> {
  const links = hostNetlink()
    .linkList()
    .map((l) => l.name)
    .filter((n) => n !== 'lo');
  const r = await run('nft', ['-j', 'list', 'tables']);
  let nftTables: string[] = [];
  try {
    const parsed = JSON.parse(r.stdout) as { nftables: { table?: { family: string; name: string } }[] };
    nftTables = parsed.nftables.flatMap((o) => (o.table ? [`${o.table.family} ${o.table.name}`] : []));
  } catch {
    // no JSON: nothing listed
  }
  let netns = 0;
  for (const d of env.netnsDirs) if (existsSync(`${d}/netns`)) netns += listNetns({ runDir: d }).length;
  return { links, nftTables, netns };
}

/** Records what a subject left behind, then removes it. */
export async function sweep(env: Env): Promise<Leftovers> {
  const left = await leftovers(env);
  const nl = hostNetlink();
  for (const name of left.links) nl.linkDelIfExists(name);
  await run('nft', ['flush', 'ruleset']);
  for (const d of env.netnsDirs) {
    if (!existsSync(`${d}/netns`)) continue;
    for (const n of readdirSync(`${d}/netns`)) deleteNetns(n, { runDir: d });
  }
  return left;
}

/** Sets the subject up, runs body, tears down (always), then sweeps. */
async function withSubject<T extends { error?: string; leftovers?: Leftovers }>(
  env: Env,
  s: Subject,
  warmup: number,
  body: () => Promise<T>,
  onError: (error: string) => T,
): Promise<T> {
  let out: T;
  try {
    await s.setup();
    for (let i = 0; i < warmup; i++) {
      const c = container(1);
      await s.attach(c);
      await s.detach(c);
      release(c);
    }
    out = await body();
  } catch (err) {
    out = onError(errText(err));
    env.log(`  ${s.label}: ERROR ${out.error}`);
  }
  try {
    await s.teardown();
  } catch (err) {
    out.error ??= `teardown: ${errText(err)}`;
  }
  out.leftovers = await sweep(env);
  return out;
}

// --- 1. attach + detach ------------------------------------------------------------------------

export interface AttachResult {
  attach?: Summary;
  detach?: Summary;
  samples?: { attach: number[]; detach: number[] };
  error?: string;
  leftovers?: Leftovers;
}

export async function unitAttach(env: Env, s: Subject, n: number, warmup: number): Promise<AttachResult> {
  env.log(`1. attach: ${s.label}, ${n} containers`);
  return withSubject<AttachResult>(
    env,
    s,
    warmup,
    async () => {
      const a: number[] = [];
      const d: number[] = [];
      for (let i = 0; i < n; i++) {
        const c = container(1);
        a.push(await timed(() => s.attach(c)));
        d.push(await timed(() => s.detach(c)));
        release(c);
      }
      return { attach: summarize(a), detach: summarize(d), samples: { attach: raw(a), detach: raw(d) } };
    },
    (error) => ({ error }),
  );
}

// --- 2. and 4. the Nth container on the host ------------------------------------------------------

export interface Probe {
  /** 'attach' (unit 2), 'with10' / 'with0' (unit 4). */
  kind: string;
  ports: number;
}

export interface ScalePoint {
  /** The probe is the Nth container on the host. */
  n: number;
  /** Per probe kind. */
  attach: Record<string, Summary>;
  detach: Record<string, Summary>;
  samples: Record<string, { attach: number[]; detach: number[] }>;
  /** The publishing step alone, inside the attach (subjects that can tell it apart). */
  publish?: Record<string, Summary>;
}

export interface ScaleResult {
  points: ScalePoint[];
  /** Attach time (µs) of each container of the fill, in order (the curve from 1 to N). */
  fill: number[];
  /** Detach time (µs) of each container of the fill, in detach order (last attached first). */
  fillDetach: number[];
  /** Lines of `nft list ruleset` (iptables-nft rules included) with the most containers attached. */
  rulesetLines?: number;
  /** Set when the fill ran out of time before the last checkpoint. */
  notReached?: string;
  /** Containers of the fill not detached by the subject (out of time): removed by the sweep. */
  detachLeftToSweep?: number;
  error?: string;
  leftovers?: Leftovers;
}

export async function unitScale(
  env: Env,
  s: Subject,
  opts: { checkpoints: number[]; fillPorts: number; probes: Probe[]; rounds: number; warmup: number },
): Promise<ScaleResult> {
  env.log(
    `${opts.fillPorts === 1 ? 2 : 4}. Nth container: ${s.label}, checkpoints ${opts.checkpoints.join(', ')}` +
      ` (fill: ${opts.fillPorts} port(s) each)`,
  );
  const fill: Container[] = [];
  const result: ScaleResult = { points: [], fill: [], fillDetach: [] };
  return withSubject<ScaleResult>(
    env,
    s,
    opts.warmup,
    async () => {
      const t0 = Date.now();
      try {
        for (const n of opts.checkpoints) {
          const target = Math.max(0, n - 1 - s.resident);
          while (fill.length < target) {
            if (Date.now() - t0 > env.fillBudgetMs) {
              const lastUs = result.fill[result.fill.length - 1] ?? 0;
              result.notReached =
                `the fill took more than ${Math.round(env.fillBudgetMs / 60000)} min: stopped at ` +
                `${fill.length + s.resident} containers (the last took ${fmtUs(lastUs)}), before the ${n}th`;
              env.log(`  ${s.label}: ${result.notReached}`);
              break;
            }
            const c = container(opts.fillPorts);
            result.fill.push(await timed(() => s.attach(c)));
            fill.push(c);
            if (fill.length % 100 === 0) env.log(`  ${s.label}: ${fill.length + s.resident} containers`);
          }
          if (result.notReached) break;
          const point: ScalePoint = { n, attach: {}, detach: {}, samples: {} };
          const a: Record<string, number[]> = Object.fromEntries(opts.probes.map((p) => [p.kind, []]));
          const d: Record<string, number[]> = Object.fromEntries(opts.probes.map((p) => [p.kind, []]));
          const pub: Record<string, number[]> = Object.fromEntries(opts.probes.map((p) => [p.kind, []]));
          for (let r = 0; r < opts.rounds; r++) {
            for (const p of opts.probes) {
              const c = container(p.ports);
              a[p.kind]?.push(await timed(() => s.attach(c)));
              const pu = s.publishUs?.();
              if (pu !== undefined) pub[p.kind]?.push(pu);
              d[p.kind]?.push(await timed(() => s.detach(c)));
              release(c);
            }
          }
          for (const p of opts.probes) {
            point.attach[p.kind] = summarize(a[p.kind] ?? []);
            point.detach[p.kind] = summarize(d[p.kind] ?? []);
            point.samples[p.kind] = { attach: raw(a[p.kind] ?? []), detach: raw(d[p.kind] ?? []) };
            const pp = pub[p.kind] ?? [];
            if (pp.length > 0) point.publish = { ...point.publish, [p.kind]: summarize(pp) };
          }
          result.points.push(point);
        }
        const rs = await run('nft', ['list', 'ruleset']);
        result.rulesetLines = rs.stdout.split('\n').filter((l) => l.trim() !== '').length;
      } finally {
        // The fill goes, last attached first (timed: the detach cost with the host full). If that
        // takes longer than half the fill budget, the rest is left to the sweep (not timed).
        const d0 = Date.now();
        while (fill.length > 0) {
          if (Date.now() - d0 > env.fillBudgetMs / 2) {
            result.detachLeftToSweep = fill.length;
            env.log(`  ${s.label}: detaching takes too long, ${fill.length} containers left to the sweep`);
            break;
          }
          const c = fill.pop()!;
          result.fillDetach.push(await timed(() => s.detach(c)));
          release(c);
        }
      }
      result.fill = raw(result.fill);
      result.fillDetach = raw(result.fillDetach);
      return result;
    },
    (error) => ({ ...result, fill: raw(result.fill), fillDetach: raw(result.fillDetach), error }),
  );
}

// --- 3. concurrency -------------------------------------------------------------------------------

export interface LevelResult {
  inFlight: number;
  attaches: number;
  errors: number;
  firstError?: string;
  detachErrors: number;
  /** Wall time of all rounds of attaches (µs). */
  wallUs: number;
  /** Successful attaches per second. */
  throughput: number;
  latency: Summary;
  samples: number[];
  /** The subject's probe (daemon: GET /networks), every PROBE_EVERY_MS while this level ran (µs). */
  probe?: Summary;
  probeErrors?: number;
}

export interface ConcurrencyResult {
  levels: LevelResult[];
  error?: string;
  leftovers?: Leftovers;
}

/** Calls `probe` every `everyMs` (one at a time) until stopped: each call's latency (µs). */
function startProber(probe: () => Promise<void>, everyMs: number) {
  let running = true;
  const lat: number[] = [];
  let errors = 0;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        await probe();
        lat.push((performance.now() - t0) * 1000);
      } catch {
        errors++;
      }
      const wait = everyMs - (performance.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  })();
  return {
    async stop(): Promise<{ lat: number[]; errors: number }> {
      running = false;
      await loop;
      return { lat, errors };
    },
  };
}

export async function unitConcurrency(
  env: Env,
  s: Subject,
  opts: { levels: number[]; attaches: number; warmup: number },
): Promise<ConcurrencyResult> {
  env.log(`3. concurrency: ${s.label}, ${opts.levels.join('/')} in flight, ${opts.attaches} attaches each`);
  const levels: LevelResult[] = [];
  return withSubject<ConcurrencyResult>(
    env,
    s,
    opts.warmup,
    async () => {
      for (const k of opts.levels) {
        const lat: number[] = [];
        let errors = 0;
        let detachErrors = 0;
        let firstError: string | undefined;
        let wall = 0;
        const prober = s.probe
          ? startProber(() => s.probe?.() ?? Promise.resolve(), PROBE_EVERY_MS)
          : undefined;
        for (let done = 0; done < opts.attaches; done += k) {
          const cs = Array.from({ length: Math.min(k, opts.attaches - done) }, () => container(1));
          const t0 = performance.now();
          const rs = await Promise.allSettled(cs.map((c) => timed(() => s.attach(c))));
          wall += (performance.now() - t0) * 1000;
          const attached: Container[] = [];
          rs.forEach((r, i) => {
            if (r.status === 'fulfilled') {
              lat.push(r.value);
              attached.push(cs[i]!);
            } else {
              errors++;
              firstError ??= errText(r.reason);
            }
          });
          const ds = await Promise.allSettled(attached.map((c) => s.detach(c)));
          for (const d of ds) {
            if (d.status === 'rejected') {
              detachErrors++;
              firstError ??= `detach: ${errText(d.reason)}`;
            }
          }
          for (const c of cs) release(c);
        }
        const probed = await prober?.stop();
        levels.push({
          inFlight: k,
          attaches: opts.attaches,
          errors,
          ...(firstError ? { firstError } : {}),
          detachErrors,
          wallUs: wall,
          throughput: lat.length / (wall / 1e6),
          latency: summarize(lat),
          samples: raw(lat),
          ...(probed ? { probe: summarize(probed.lat), probeErrors: probed.errors } : {}),
        });
        if (errors > 0)
          env.log(`  ${s.label}: ${errors} of ${opts.attaches} attaches failed at ${k} in flight`);
      }
      return { levels };
    },
    (error) => ({ levels, error }),
  );
}

// --- 5. IPAM and memory ------------------------------------------------------------------------

export interface IpamResult {
  /** Addresses allocated in the /16 before timing. */
  fill: number;
  pairs?: Summary;
  samples?: number[];
  error?: string;
}

/** dnet's built-in IPAM (the controller's default driver), in-process: request + release pairs. */
export async function ipamDnet(fill: number, pairs: number): Promise<IpamResult> {
  const ipam = new DefaultIpam();
  const { poolId } = await ipam.requestPool({
    addressSpace: 'LocalDefault',
    pool: '10.76.0.0/16',
    v6: false,
  });
  for (let i = 0; i < fill; i++) await ipam.requestAddress(poolId);
  const plain = (cidr: string) => cidr.slice(0, cidr.indexOf('/'));
  for (let i = 0; i < 1000; i++)
    await ipam.releaseAddress(poolId, plain((await ipam.requestAddress(poolId)).address));
  const t: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const t0 = performance.now();
    const a = await ipam.requestAddress(poolId);
    await ipam.releaseAddress(poolId, plain(a.address));
    t.push((performance.now() - t0) * 1000);
  }
  return { fill, pairs: summarize(t), samples: raw(t) };
}

export async function ipamHostLocal(dataDir: string, fill: number, pairs: number): Promise<IpamResult> {
  try {
    const r = await hostLocalPairs(dataDir, fill, pairs);
    return { fill, pairs: summarize(r.pairUs), samples: raw(r.pairUs) };
  } catch (err) {
    return { fill, error: errText(err) };
  }
}

export interface MemoryResult {
  endpoints: number;
  /** The bench process's JS heap + external memory (after a full GC), bytes. */
  library?: { before: number; with: number; after: number; perEndpoint: number; rssDelta: number };
  daemon?: {
    idle: ProcMemory;
    with: ProcMemory;
    after: ProcMemory;
    perEndpoint: number;
  };
  libraryError?: string;
  daemonError?: string;
}

function heap(): { heap: number; rss: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external, rss: m.rss };
}

/** Attaches `n` containers (in batches of `k` in flight), keeping them. */
async function attachMany(s: Subject, n: number, k: number): Promise<Container[]> {
  const out: Container[] = [];
  for (let i = 0; i < n; i += k) {
    const cs = Array.from({ length: Math.min(k, n - i) }, () => container(1));
    await Promise.all(cs.map((c) => s.attach(c)));
    out.push(...cs);
  }
  return out;
}

async function detachMany(s: Subject, cs: Container[], k: number): Promise<void> {
  for (let i = 0; i < cs.length; i += k) {
    const batch = cs.slice(i, i + k);
    await Promise.all(batch.map((c) => s.detach(c)));
    for (const c of batch) release(c);
  }
}

export async function memoryLibrary(env: Env, s: DnetLibrary, n: number, out: MemoryResult): Promise<void> {
  env.log(`5. memory: ${s.label}, ${n} endpoints`);
  try {
    await s.setup();
    const before = heap();
    const cs = await attachMany(s, n, 8);
    const w = heap();
    await detachMany(s, cs, 8);
    const after = heap();
    out.library = {
      before: before.heap,
      with: w.heap,
      after: after.heap,
      perEndpoint: (w.heap - before.heap) / n,
      rssDelta: w.rss - before.rss,
    };
  } catch (err) {
    out.libraryError = errText(err);
  }
  await s.teardown().catch(() => {});
  await sweep(env);
}

export async function memoryDaemon(env: Env, s: DnetDaemon, n: number, out: MemoryResult): Promise<void> {
  env.log(`5. memory: ${s.label}, ${n} endpoints`);
  try {
    await s.setup();
    // warm the code paths, then let the heap settle
    const warm = await attachMany(s, 8, 8);
    await detachMany(s, warm, 8);
    await new Promise((r) => setTimeout(r, 500));
    const pid = s.pid;
    if (pid === undefined) throw new Error('daemon: no pid');
    const idle = procMemory(pid);
    const cs = await attachMany(s, n, 8);
    await new Promise((r) => setTimeout(r, 500));
    const w = procMemory(pid);
    await detachMany(s, cs, 8);
    await new Promise((r) => setTimeout(r, 500));
    const after = procMemory(pid);
    if (!idle || !w || !after) throw new Error('daemon: cannot read /proc/<pid>/status');
    out.daemon = { idle, with: w, after, perEndpoint: (w.rss - idle.rss) / n };
  } catch (err) {
    out.daemonError = errText(err);
  }
  await s.teardown().catch(() => {});
  await sweep(env);
}

export type SubjectResults<T> = Partial<Record<SubjectKey, T>>;
