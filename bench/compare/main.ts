/**
 * dnet side by side with netavark and the CNI reference plugins (bridge + host-local + portmap),
 * and with the kernel floor, on one machine in one run. See bench/README.md.
 *
 *   make bench             # the full run: bench/results/compare-<date>.json and the SVG charts
 *   make bench QUICK=1     # a short run (the test suite's check that it works; figures meaningless)
 *
 * Inside a throwaway world only (scripts/in-world.sh): every subject makes bridges, namespaces
 * and firewall rules, and the world is swept after each one.
 *
 * Options: --quick; --out <dir> (default bench/results, or a temp dir with --quick);
 * --units attach,scale,concurrency,publish,ipam,cni (default all); --subjects floor,dnet,daemon,netavark,cni,docker;
 * --fill-budget-min <minutes> (how long a subject may take to fill the host in units 2 and 4; default
 * 30, 2 with --quick); --report <json> re-renders a saved run (tables and charts) without running it.
 * DNET_BENCH_DAEMON_DATA=<dir>: where the daemon's data dirs go (default: the temp dir, on disk).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { cniGoals, printCni, unitCni } from './cni-report.ts';
import { DnetDaemon, DnetLibrary, daemonAvailable, ROOT } from './dnet.ts';
import { DockerEngine, dockerMissing } from './docker.ts';
import { buildFloor, Floor } from './floor.ts';
import { Cni, cniMissing, Netavark, netavarkMissing } from './peers.ts';
import {
  charts,
  goals,
  labelsOf,
  machine,
  notMeasured,
  printAll,
  printAttach,
  printConcurrency,
  printEnd,
  printHeader,
  printIpamMemory,
  printPublish,
  printScale,
  type Results,
  type SubjectInfo,
} from './report.ts';
import { summarize } from './stats.ts';
import { run, SUBJECT_ORDER, type Subject, type SubjectKey } from './subject.ts';
import {
  type Env,
  ipamDnet,
  ipamHostLocal,
  type MemoryResult,
  memoryDaemon,
  memoryLibrary,
  sweep,
  unitAttach,
  unitConcurrency,
  unitScale,
} from './units.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    units: { type: 'string' },
    subjects: { type: 'string' },
    report: { type: 'string' },
    'fill-budget-min': { type: 'string' },
  },
});

/** Writes the charts of `results` into `dir`; returns their paths. */
function writeCharts(results: Results, dir: string): string[] {
  const svgs = charts(results, labelsOf(results.subjects));
  for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(dir, name), svg);
  return Object.keys(svgs).map((n) => join(dir, n));
}

if (args.report) {
  // Re-render a saved run: tables on the terminal, charts next to the JSON (or in --out).
  const results = JSON.parse(readFileSync(args.report, 'utf8')) as Results;
  results.goals = [...goals(results), ...cniGoals(results.units.cni)];
  console.log(printAll(results).join('\n\n'));
  if (results.units.cni) console.log(`\n${printCni(results.units.cni)}`);
  console.log(`\ncharts: ${writeCharts(results, args.out ?? dirname(args.report)).join(', ')}`);
  process.exit(0);
}

if (process.env.DNET_WORLD !== '1') {
  console.error(
    'run this inside a throwaway world: make bench, or scripts/in-world.sh tsx bench/compare/main.ts',
  );
  process.exit(2);
}

const quick = args.quick === true;
const UNITS = ['attach', 'scale', 'concurrency', 'publish', 'ipam', 'cni'] as const;
type UnitName = (typeof UNITS)[number];
const units = new Set<string>(args.units ? args.units.split(',') : UNITS);
const wanted = new Set<string>(args.subjects ? args.subjects.split(',') : SUBJECT_ORDER);
const outDir =
  args.out ?? (quick ? mkdtempSync(join(tmpdir(), 'dnet-bench-quick-')) : join(ROOT, 'bench/results'));

/** Iterations. Peers cost ~100× more per attach: fewer samples for them (p99 with n < 100 is the top sample). */
const plan = quick
  ? {
      attach: { floor: 10, dnet: 10, daemon: 10, netavark: 4, cni: 4, docker: 4 },
      warmup: 2,
      scale: { checkpoints: [1, 10], rounds: { fast: 3, peer: 2 } },
      concurrency: { levels: [1, 8], attaches: 8 },
      publish: { checkpoints: [1, 10], rounds: { fast: 2, peer: 1 } },
      memory: { endpoints: 20 },
      ipam: { fill: 20, pairs: 200, hostLocalPairs: 4 },
      spawn: 10,
      fillBudgetMin: 2,
      cni: { n: 3, warmup: 0, podman: 1 },
    }
  : {
      attach: { floor: 300, dnet: 300, daemon: 300, netavark: 150, cni: 150, docker: 150 },
      warmup: 5,
      scale: { checkpoints: [1, 100, 1000], rounds: { fast: 40, peer: 15 } },
      concurrency: { levels: [1, 8, 64], attaches: 128 },
      publish: { checkpoints: [1, 1000], rounds: { fast: 30, peer: 10 } },
      memory: { endpoints: 1000 },
      ipam: { fill: 1000, pairs: 20000, hostLocalPairs: 200 },
      spawn: 100,
      fillBudgetMin: 30,
      cni: { n: 100, warmup: 3, podman: 15 },
    };

const started = new Date();
const t0 = Date.now();
const log = (line: string) =>
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

const base = mkdtempSync('/run/dnet-bench-');
const tmp = mkdtempSync(join(tmpdir(), 'dnet-bench-'));
/** The daemon's data dirs (its LMDB store): on disk by default, as /var/lib/dnet is. */
const daemonData = mkdtempSync(join(process.env.DNET_BENCH_DAEMON_DATA ?? tmpdir(), 'dnet-bench-daemon-'));
const dirs = {
  dnet: join(base, 'dnet'),
  daemon: join(base, 'daemon'),
  peers: join(base, 'peers'),
  floor: join(base, 'floor'),
};
const env: Env = {
  quick,
  netnsDirs: Object.values(dirs),
  log,
  fillBudgetMs: Number(args['fill-budget-min'] ?? plan.fillBudgetMin) * 60_000,
};

// --- what can run here ---------------------------------------------------------------------------

const floorBuild = await buildFloor(join(tmp, 'floor-build'));
let daemonRuns = 0;
const factories: Record<SubjectKey, () => Subject> = {
  floor: () => new Floor(floorBuild, dirs.floor),
  dnet: () => new DnetLibrary(dirs.dnet),
  daemon: () => new DnetDaemon(join(dirs.daemon, String(daemonRuns)), join(daemonData, String(daemonRuns++))),
  netavark: () => new Netavark(dirs.peers, join(tmp, 'netavark-config')),
  cni: () => new Cni(dirs.peers, join(tmp, 'cni-data')),
  docker: () => new DockerEngine(),
};
const missing: Partial<Record<SubjectKey, string>> = {
  daemon: daemonAvailable() === undefined ? undefined : `daemon: not measured yet (${daemonAvailable()})`,
  netavark: netavarkMissing(),
  cni: cniMissing(),
  docker: dockerMissing(),
};
const subjects: Results['subjects'] = {};
for (const k of SUBJECT_ORDER) {
  if (!wanted.has(k)) continue;
  const s = factories[k]();
  const info: SubjectInfo = { label: s.label, version: s.version, does: s.does, measured: !missing[k] };
  if (missing[k]) info.reason = missing[k];
  subjects[k] = info;
}
const labels = labelsOf(subjects);
const active = SUBJECT_ORDER.filter((k) => subjects[k]?.measured);

// a process spawn, for scale
const spawnUs: number[] = [];
for (let i = 0; i < plan.spawn; i++) {
  const s = performance.now();
  await run('/bin/true', []);
  spawnUs.push((performance.now() - s) * 1000);
}

const results: Results = {
  schema: 'dnet-bench-compare/1',
  startedAt: started.toISOString(),
  finishedAt: '',
  durationSec: 0,
  quick,
  machine: machine(),
  plan: { ...plan, daemonDataDir: daemonData, fillBudgetMs: env.fillBudgetMs },
  subjects,
  floor: floorBuild,
  spawn: summarize(spawnUs),
  units: {
    attach: {},
    scale: { checkpoints: plan.scale.checkpoints, subjects: {} },
    concurrency: { levels: plan.concurrency.levels, attaches: plan.concurrency.attaches, subjects: {} },
    publish10: { checkpoints: plan.publish.checkpoints, subjects: {} },
    ipamMemory: {
      ipam: { netavark: 'n/a: podman allocates addresses in its own process before it calls netavark' },
      memory: { endpoints: plan.memory.endpoints },
    },
  },
  goals: [],
};

console.log(printHeader(results, labels));
for (const line of notMeasured(subjects)) log(line);
await sweep(env);

const isPeer = (k: SubjectKey) => k === 'netavark' || k === 'cni';
/** Docker Engine is measured in unit 1 only (its containers are made outside the timing, one by one). */
const filling = active.filter((k) => k !== 'docker');
const section = (text: string) => console.log(`\n${text}`);
const want = (u: UnitName) => units.has(u);

if (want('attach')) {
  for (const k of active)
    results.units.attach[k] = await unitAttach(env, factories[k](), plan.attach[k], plan.warmup);
  section(printAttach(results, labels));
}

if (want('scale')) {
  for (const k of filling) {
    results.units.scale.subjects[k] = await unitScale(env, factories[k](), {
      checkpoints: plan.scale.checkpoints,
      fillPorts: 1,
      probes: [{ kind: 'attach', ports: 1 }],
      rounds: isPeer(k) ? plan.scale.rounds.peer : plan.scale.rounds.fast,
      warmup: plan.warmup,
    });
  }
  section(printScale(results, labels));
}

if (want('concurrency')) {
  for (const k of active) {
    const s = factories[k]();
    if (!s.concurrent) continue;
    results.units.concurrency.subjects[k] = await unitConcurrency(env, s, {
      levels: plan.concurrency.levels,
      attaches: plan.concurrency.attaches,
      warmup: plan.warmup,
    });
  }
  section(printConcurrency(results, labels));
}

if (want('publish')) {
  for (const k of filling) {
    results.units.publish10.subjects[k] = await unitScale(env, factories[k](), {
      checkpoints: plan.publish.checkpoints,
      fillPorts: 10,
      probes: [
        { kind: 'with10', ports: 10 },
        { kind: 'with0', ports: 0 },
      ],
      rounds: isPeer(k) ? plan.publish.rounds.peer : plan.publish.rounds.fast,
      warmup: plan.warmup,
    });
  }
  section(printPublish(results, labels));
}

if (want('ipam')) {
  const im = results.units.ipamMemory;
  log(`5. IPAM: dnet DefaultIpam, ${plan.ipam.pairs} pairs`);
  im.ipam.dnet = await ipamDnet(plan.ipam.fill, plan.ipam.pairs);
  if (subjects.cni?.measured) {
    log(`5. IPAM: CNI host-local, ${plan.ipam.fill} fill + ${plan.ipam.hostLocalPairs} pairs`);
    im.ipam.hostLocal = await ipamHostLocal(
      join(tmp, 'host-local'),
      plan.ipam.fill,
      plan.ipam.hostLocalPairs,
    );
  }
  const mem: MemoryResult = { endpoints: plan.memory.endpoints };
  if (subjects.dnet?.measured)
    await memoryLibrary(env, new DnetLibrary(dirs.dnet), plan.memory.endpoints, mem);
  if (subjects.daemon?.measured) {
    await memoryDaemon(
      env,
      new DnetDaemon(join(dirs.daemon, String(daemonRuns)), join(daemonData, String(daemonRuns++))),
      plan.memory.endpoints,
      mem,
    );
  } else mem.daemonError = subjects.daemon?.reason ?? 'not selected';
  im.memory = mem;
  section(printIpamMemory(results));
}

if (want('cni')) {
  results.units.cni = await unitCni(join(base, 'cni'), plan.cni, log, join(daemonData, 'cni'));
  // The bridges the reference plugin, podman's CNI chain and dnet's default network leave, and the rules.
  await sweep(env);
  section(printCni(results.units.cni));
}

results.goals = [...goals(results), ...cniGoals(results.units.cni)];
for (const text of printEnd(results, labels)) section(text);

// --- files -------------------------------------------------------------------------------------

results.finishedAt = new Date().toISOString();
results.durationSec = Math.round((Date.now() - t0) / 1000);
await mkdir(outDir, { recursive: true });
const stamp = started.toISOString().slice(0, 10);
const jsonPath = join(outDir, quick ? 'compare-quick.json' : `compare-${stamp}.json`);
writeFileSync(jsonPath, `${JSON.stringify(results, null, 1)}\n`);
const svgs = charts(results, labels);
for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(outDir, name), svg);
console.log(`\nraw figures: ${jsonPath}`);
console.log(
  `charts: ${Object.keys(svgs)
    .map((n) => join(outDir, n))
    .join(', ')}`,
);
console.log(`(${results.durationSec} s)`);

await rm(tmp, { recursive: true, force: true });
await rm(daemonData, { recursive: true, force: true });
await rm(base, { recursive: true, force: true }).catch(() => {});
// Handles (the daemon's agent, netlink sockets) must not keep a finished benchmark alive.
process.exit(0);
