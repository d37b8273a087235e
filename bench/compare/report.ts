/**
 * The comparison's output: the results' shape (written as JSON), the machine description, a
 * table per work unit for the terminal, an SVG chart per work unit, and the goals read against
 * the run.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import type { CniUnitResult } from './cni-report.ts';
import type { FloorBuild } from './floor.ts';
import { fmtBytes, fmtRatio, fmtUs, ratio, type Summary, table } from './stats.ts';
import { SUBJECT_ORDER, type SubjectKey } from './subject.ts';

export { goals } from './goals.ts';

import { PROBE_EVERY_MS } from './subject.ts';
import { barChart, lineChart } from './svg.ts';
import type {
  AttachResult,
  ConcurrencyResult,
  IpamResult,
  MemoryResult,
  ScaleResult,
  SubjectResults,
} from './units.ts';

export interface SubjectInfo {
  label: string;
  version: string;
  does: string;
  measured: boolean;
  /** Why it was not measured. */
  reason?: string;
}

export interface Goal {
  goal: string;
  value: string;
  met: boolean | undefined;
}

export interface Results {
  schema: 'dnet-bench-compare/1';
  startedAt: string;
  finishedAt: string;
  durationSec: number;
  quick: boolean;
  machine: Record<string, string | number>;
  /** What was run, how many times. */
  plan: Record<string, unknown>;
  subjects: Partial<Record<SubjectKey, SubjectInfo>>;
  floor: FloorBuild;
  /** Spawning /bin/true from this process (µs): the cost of one process, the peers' unit of work. */
  spawn: Summary;
  units: {
    attach: SubjectResults<AttachResult>;
    scale: { checkpoints: number[]; subjects: SubjectResults<ScaleResult> };
    concurrency: { levels: number[]; attaches: number; subjects: SubjectResults<ConcurrencyResult> };
    publish10: { checkpoints: number[]; subjects: SubjectResults<ScaleResult> };
    ipamMemory: {
      ipam: { dnet?: IpamResult; hostLocal?: IpamResult; netavark: string };
      memory: MemoryResult;
    };
    /** Unit 7, CNI (bench/compare/cni-report.ts); absent in runs from before it. */
    cni?: CniUnitResult;
  };
  goals: Goal[];
}

// --- the machine ---------------------------------------------------------------------------------

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return '';
  }
}

export function machine(): Record<string, string | number> {
  const c = cpus();
  const osr = (() => {
    try {
      return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
    } catch {
      return '';
    }
  })();
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const pkgs = [
    'netavark',
    'containernetworking-plugins',
    'nftables',
    'libnftables1',
    'iptables',
    'iproute2',
  ];
  // dpkg-query's default format: "<package>\t<version>" per line
  const versions = sh('dpkg-query', ['-W', ...pkgs]).replaceAll('\t', '=');
  return {
    hostname: hostname(),
    cpu: c[0]?.model ?? 'unknown',
    cpus: c.length,
    hypervisor: /^flags.*\bhypervisor\b/m.test(cpuinfo) ? 'yes (virtual machine)' : 'no',
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: release(),
    os: osr,
    node: process.version,
    iptables: sh('iptables', ['--version']),
    packages: versions.split('\n').join(', '),
  };
}

// --- helpers ------------------------------------------------------------------------------------

export type Labels = Partial<Record<SubjectKey, string>>;

/** How subjects are named in tables and charts (the peers with their Debian version). */
export function labelsOf(subjects: Results['subjects']): Labels {
  const out: Labels = {};
  for (const k of SUBJECT_ORDER) {
    const s = subjects[k];
    const peer = k === 'netavark' || k === 'cni' || k === 'docker';
    if (s) out[k] = peer ? `${s.label} ${s.version.split('+')[0]}` : s.label;
  }
  return out;
}

/** The header: the machine and what each subject does. */
export function printHeader(r: Results, labels: Labels): string {
  const m = r.machine;
  const lines = [
    `dnet side by side: ${m.cpu}, ${m.cpus} CPUs, ${m.memory}, Linux ${m.kernel}, ${m.os}, node ${m.node}` +
      `${r.quick ? ' -- QUICK run: too few samples to mean anything, checks that the benchmark works' : ''}`,
  ];
  for (const k of SUBJECT_ORDER) {
    const s = r.subjects[k];
    if (s)
      lines.push(
        `  ${(labels[k] ?? k).padEnd(26)} ${s.measured ? s.does : `NOT MEASURED: ${s.reason ?? ''}`}`,
      );
  }
  return lines.join('\n');
}

/** Every section, in order (the units that ran). */
export function printAll(r: Results): string[] {
  const labels = labelsOf(r.subjects);
  const u = r.units;
  const has = <T>(x: SubjectResults<T>) => Object.keys(x).length > 0;
  return [
    printHeader(r, labels),
    ...(has(u.attach) ? [printAttach(r, labels)] : []),
    ...(has(u.scale.subjects) ? [printScale(r, labels)] : []),
    ...(has(u.concurrency.subjects) ? [printConcurrency(r, labels)] : []),
    ...(has(u.publish10.subjects) ? [printPublish(r, labels)] : []),
    ...(u.ipamMemory.ipam.dnet ? [printIpamMemory(r)] : []),
    ...printEnd(r, labels),
  ];
}

/** The closing sections: the floor, the bridge driver's figures, the goals, what was not measured. */
export function printEnd(r: Results, labels: Labels): string[] {
  const todo = notMeasured(r.subjects).map((l) => `TODO ${l}`);
  return [
    printFloor(r, labels),
    printBridgeFigures(r),
    printGoals(r),
    ...(todo.length ? [todo.join('\n')] : []),
  ];
}

const keysOf = <T>(r: SubjectResults<T>): SubjectKey[] => SUBJECT_ORDER.filter((k) => r[k] !== undefined);

function p50(s: Summary | undefined): number | undefined {
  return s?.p50;
}

const ordinal = (n: number) =>
  `${n}${n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th')}`;

export function notMeasured(subjects: Results['subjects']): string[] {
  return SUBJECT_ORDER.flatMap((k) => {
    const s = subjects[k];
    return s && !s.measured ? [`${s.label}: not measured (${s.reason ?? ''})`] : [];
  });
}

// --- 1. attach ----------------------------------------------------------------------------------

export function printAttach(r: Results, labels: Labels): string {
  const u = r.units.attach;
  const dnet = u.dnet;
  const daemon = u.daemon;
  const floor = u.floor;
  const rows = keysOf(u).map((k) => {
    const x = u[k]!;
    if (x.error || !x.attach || !x.detach) return [labels[k] ?? k, 'error', x.error ?? ''];
    return [
      labels[k] ?? k,
      String(x.attach.n),
      fmtUs(x.attach.p50),
      fmtUs(x.attach.p95),
      fmtUs(x.attach.p99),
      fmtRatio(ratio(x.attach.p50, p50(dnet?.attach))),
      fmtRatio(ratio(x.attach.p50, p50(daemon?.attach))),
      fmtRatio(ratio(x.attach.p50, p50(floor?.attach))),
      fmtUs(x.detach.p50),
      fmtUs(x.detach.p95),
      fmtUs(x.detach.p99),
      fmtRatio(ratio(x.detach.p50, p50(dnet?.detach))),
      fmtRatio(ratio(x.detach.p50, p50(daemon?.detach))),
    ];
  });
  return [
    '1. attach: namespace + interface + address + NAT + one published TCP port; then detach (per container)',
    table(
      [
        'subject',
        'n',
        'attach p50',
        'p95',
        'p99',
        'vs dnet',
        'vs daemon',
        '× floor',
        'detach p50',
        'p95',
        'p99',
        'vs dnet',
        'vs daemon',
      ],
      rows,
    ),
    "   vs dnet / vs daemon: the p50 over dnet (library)'s / dnet (daemon API)'s p50 in this run; × floor: the attach p50 over the kernel floor's.",
    '   Docker Engine: connect/disconnect of a running container (no published port); netavark 1.4 and the CNI plugins use iptables.',
  ].join('\n');
}

// --- 2. and 4. the Nth container ----------------------------------------------------------------

export function printScale(r: Results, labels: Labels): string {
  const u = r.units.scale;
  const at = (k: SubjectKey, n: number) => u.subjects[k]?.points.find((p) => p.n === n)?.attach.attach;
  const rows: string[][] = [];
  for (const k of keysOf(u.subjects)) {
    const x = u.subjects[k]!;
    const first = at(k, u.checkpoints[0] ?? 1);
    u.checkpoints.forEach((n, i) => {
      const s = at(k, n);
      const name = i === 0 ? (labels[k] ?? k) : '';
      if (!s) {
        rows.push([
          name,
          ordinal(n),
          i === 0 && x.error ? `error: ${x.error}` : (x.notReached ?? x.error ?? '-'),
        ]);
        return;
      }
      const d = x.points.find((p) => p.n === n)?.detach.attach;
      rows.push([
        name,
        ordinal(n),
        String(s.n),
        fmtUs(s.p50),
        fmtUs(s.p95),
        fmtUs(s.p99),
        fmtRatio(ratio(s.p50, first?.p50)),
        fmtRatio(ratio(s.p50, at('dnet', n)?.p50)),
        fmtRatio(ratio(s.p50, at('floor', n)?.p50)),
        fmtUs(d?.p50),
      ]);
    });
  }
  const last = u.checkpoints[u.checkpoints.length - 1] ?? 0;
  const rules = keysOf(u.subjects)
    .map((k) => `${labels[k] ?? k} ${u.subjects[k]?.rulesetLines ?? '-'}`)
    .join(', ');
  return [
    `2. the Nth container on the host: attach with one port while N-1 containers (one port each) are attached`,
    table(
      ['subject', 'N', 'n', 'attach p50', 'p95', 'p99', 'vs 1st', 'vs dnet', '× floor', 'detach p50'],
      rows,
      2,
    ),
    `   firewall state with ${last} containers (lines of nft list ruleset, iptables-nft included): ${rules}`,
  ].join('\n');
}

export function printPublish(r: Results, labels: Labels): string {
  const u = r.units.publish10;
  const point = (k: SubjectKey, n: number) => u.subjects[k]?.points.find((p) => p.n === n);
  const diff = (k: SubjectKey, n: number) => {
    const p = point(k, n);
    const a = p?.attach.with10?.p50;
    const b = p?.attach.with0?.p50;
    return a === undefined || b === undefined ? undefined : a - b;
  };
  const step = (k: SubjectKey, n: number) => point(k, n)?.publish?.with10;
  const rows: string[][] = [];
  for (const k of keysOf(u.subjects)) {
    const x = u.subjects[k]!;
    const first = u.checkpoints[0] ?? 1;
    u.checkpoints.forEach((n, i) => {
      const p = point(k, n);
      const name = i === 0 ? (labels[k] ?? k) : '';
      const w = p?.attach.with10;
      if (!p || !w) {
        rows.push([
          name,
          ordinal(n),
          i === 0 && x.error ? `error: ${x.error}` : (x.notReached ?? x.error ?? '-'),
        ]);
        return;
      }
      const st = step(k, n);
      rows.push([
        name,
        ordinal(n),
        String(w.n),
        fmtUs(w.p50),
        fmtUs(w.p95),
        fmtUs(w.p99),
        fmtRatio(ratio(w.p50, point(k, first)?.attach.with10?.p50)),
        fmtRatio(ratio(w.p50, point('dnet', n)?.attach.with10?.p50)),
        fmtRatio(ratio(w.p50, point('floor', n)?.attach.with10?.p50)),
        fmtUs(p.attach.with0?.p50),
        fmtUs(diff(k, n)),
        st ? fmtUs(st.p50) : 'n/a',
        st ? fmtUs(st.p99) : '',
        st ? fmtRatio(ratio(st.p50, step(k, first)?.p50)) : '',
      ]);
    });
  }
  return [
    '4. publishing 10 ports: attach with 10 published ports while N-1 containers with 10 ports each are attached',
    table(
      [
        'subject',
        'N',
        'n',
        '10 ports p50',
        'p95',
        'p99',
        'vs 1st',
        'vs dnet',
        '× floor',
        '0 ports p50',
        'difference',
        'publish step p50',
        'p99',
        'vs 1st',
      ],
      rows,
      2,
    ),
    '   difference: attach with 10 ports - attach with 0 ports (medians; probes alternate), for everyone;',
    "   publish step: the publishing alone, timed inside the attach: dnet (library) its bridge driver's",
    '   programExternalConnectivity (host ports + one nftables transaction), the floor its libnftables call.',
  ].join('\n');
}

// --- 3. concurrency -----------------------------------------------------------------------------

export function printConcurrency(r: Results, labels: Labels): string {
  const u = r.units.concurrency;
  const dnetAt = (k: number) => u.subjects.dnet?.levels.find((l) => l.inFlight === k);
  const rows: string[][] = [];
  for (const key of keysOf(u.subjects)) {
    const x = u.subjects[key]!;
    if (x.error && x.levels.length === 0) {
      rows.push([labels[key] ?? key, 'error', x.error]);
      continue;
    }
    x.levels.forEach((l, i) => {
      rows.push([
        i === 0 ? (labels[key] ?? key) : '',
        String(l.inFlight),
        String(l.attaches),
        String(l.errors + l.detachErrors),
        l.throughput.toFixed(l.throughput >= 100 ? 0 : 1),
        fmtRatio(ratio(dnetAt(l.inFlight)?.throughput, l.throughput)),
        fmtUs(l.latency.p50),
        fmtUs(l.latency.p95),
        fmtUs(l.latency.p99),
        l.probe ? `${fmtUs(l.probe.p50)} / ${fmtUs(l.probe.p99)}` : '–',
      ]);
    });
    if (x.error) rows.push(['', 'error', x.error]);
  }
  const errs = keysOf(u.subjects).flatMap((k) =>
    (u.subjects[k]?.levels ?? []).flatMap((l) =>
      l.firstError ? [`   ${labels[k] ?? k}, ${l.inFlight} in flight: ${l.firstError}`] : [],
    ),
  );
  return [
    '3. concurrency: attaches in flight at once (library: concurrent calls; daemon: concurrent requests; peers: parallel processes)',
    table(
      [
        'subject',
        'in flight',
        'attaches',
        'errors',
        'attaches/s',
        'dnet ×',
        'latency p50',
        'p95',
        'p99',
        'GET /networks p50 / p99',
      ],
      rows,
      1,
    ),
    "   dnet ×: dnet (library)'s throughput over this one's at the same level; errors: failed attaches + failed detaches.",
    `   GET /networks: the daemon's answer time to a list request issued every ${PROBE_EVERY_MS} ms on a connection of its own while the level's attaches and detaches ran (goal 2).`,
    ...(errs.length ? ['   first error:', ...errs] : []),
  ].join('\n');
}

// --- 5. IPAM and memory --------------------------------------------------------------------------

export function printIpamMemory(r: Results): string {
  const { ipam, memory } = r.units.ipamMemory;
  const row = (label: string, how: string, x: IpamResult | undefined) =>
    x?.pairs
      ? [
          label,
          how,
          String(x.pairs.n),
          fmtUs(x.pairs.p50),
          fmtUs(x.pairs.p95),
          fmtUs(x.pairs.p99),
          fmtRatio(ratio(x.pairs.p50, ipam.dnet?.pairs?.p50)),
        ]
      : [label, how, x?.error ? `error: ${x.error}` : 'not measured'];
  const fill = ipam.dnet?.fill ?? 0;
  const lines = [
    `5. IPAM: allocate + release one address on a /16 already holding ${fill} addresses`,
    table(
      ['subject', 'how', 'n', 'p50', 'p95', 'p99', 'vs dnet'],
      [
        row('dnet', "DefaultIpam (the controller's IPAM driver), in-process", ipam.dnet),
        row('CNI host-local', 'exec ADD + exec DEL, state in files', ipam.hostLocal),
        ['netavark', ipam.netavark],
      ],
      2,
    ),
    '',
    `5. memory with ${memory.endpoints} endpoints (one published port each)`,
  ];
  const d = memory.daemon;
  if (d) {
    lines.push(
      `   dnet (daemon API), its process's RSS: ${fmtBytes(d.idle.rss)} idle (after start-up and a warm-up), ` +
        `${fmtBytes(d.with.rss)} with ${memory.endpoints} endpoints (${fmtBytes(d.with.rss - d.idle.rss)}, ` +
        `${fmtBytes(d.perEndpoint)} per endpoint), ${fmtBytes(d.after.rss)} after detaching them all; ` +
        `peak (VmHWM) ${fmtBytes(d.after.hwm)}`,
    );
  } else lines.push(`   dnet (daemon API): ${memory.daemonError ?? 'not measured'}`);
  const l = memory.library;
  if (l) {
    lines.push(
      `   dnet (library), JS heap + external after a full GC: +${fmtBytes(l.with - l.before)} with ` +
        `${memory.endpoints} endpoints (${fmtBytes(l.perEndpoint)} per endpoint), ` +
        `${fmtBytes(l.after - l.before)} left after detaching them all; process RSS +${fmtBytes(l.rssDelta)}`,
    );
  } else lines.push(`   dnet (library): ${memory.libraryError ?? 'not measured'}`);
  lines.push(
    '   netavark, CNI: no resident process (a process per call; their state is kernel rules and files on disk)',
  );
  return lines.join('\n');
}

// --- 6. the floor -------------------------------------------------------------------------------

export function printFloor(r: Results, labels: Labels): string {
  const f = r.units.attach.floor;
  const method =
    r.floor.method === 'c'
      ? `a C program compiled here (${r.floor.compiler ?? 'cc'}): bench/compare/floor.c`
      : `the cheapest in-process path (dnet's src/os alone): ${r.floor.reason ?? ''}`;
  const lines = [`6. the kernel floor: ${method}`, `   does: ${r.subjects.floor?.does ?? ''}`];
  if (f?.attach && f.detach) {
    lines.push(
      `   attach p50 ${fmtUs(f.attach.p50)}, p95 ${fmtUs(f.attach.p95)}, p99 ${fmtUs(f.attach.p99)}; ` +
        `detach p50 ${fmtUs(f.detach.p50)} (the kernel's veth removal waits for RCU grace periods, whoever asks)`,
    );
    const times = SUBJECT_ORDER.filter((k) => k !== 'floor' && r.units.attach[k]?.attach).map(
      (k) => `${labels[k] ?? k} ${fmtRatio(ratio(r.units.attach[k]?.attach?.p50, f.attach?.p50))}`,
    );
    lines.push(`   attach p50 × floor: ${times.join(', ')}`);
  } else lines.push(`   not measured: ${f?.error ?? 'no result'}`);
  lines.push(
    `   one process spawn from this harness (/bin/true): p50 ${fmtUs(r.spawn.p50)}, p99 ${fmtUs(r.spawn.p99)} ` +
      '(netavark: one per attach plus its iptables children; CNI: two plugins plus their iptables children)',
  );
  return lines.join('\n');
}

// --- the bridge driver's figures (issue #4) -----------------------------------------------------

export function printBridgeFigures(r: Results): string {
  const a = r.units.attach.dnet?.attach;
  const pu = r.units.publish10;
  const point = (n: number) => pu.subjects.dnet?.points.find((p) => p.n === n);
  const step = (n: number) => point(n)?.publish?.with10;
  const first = pu.checkpoints[0] ?? 1;
  const last = pu.checkpoints[pu.checkpoints.length - 1] ?? first;
  const f = step(first);
  const l = step(last);
  return [
    "dnet's bridge driver, the figures its issue asks for (dnet library):",
    `   full attach (sandbox + endpoint + join + NAT + one port): p50 ${fmtUs(a?.p50)}, p95 ${fmtUs(a?.p95)}, p99 ${fmtUs(a?.p99)}`,
    `   publishing 10 ports (the driver's programExternalConnectivity inside the attach): ` +
      `${ordinal(first)} container p50 ${fmtUs(f?.p50)} (p99 ${fmtUs(f?.p99)}), ` +
      `${ordinal(last)} container p50 ${fmtUs(l?.p50)} (p99 ${fmtUs(l?.p99)}), ratio ${fmtRatio(ratio(l?.p50, f?.p50))}`,
    `   attach with 10 ports: ${ordinal(first)} p50 ${fmtUs(point(first)?.attach.with10?.p50)}, ` +
      `${ordinal(last)} p50 ${fmtUs(point(last)?.attach.with10?.p50)}, ratio ` +
      `${fmtRatio(ratio(point(last)?.attach.with10?.p50, point(first)?.attach.with10?.p50))}`,
  ].join('\n');
}

// --- goals ----------------------------------------------------------------------------------------

export function printGoals(r: Results): string {
  const mark = (m: boolean | undefined) => (m === undefined ? 'n/a' : m ? 'met' : 'NOT MET');
  return [
    'goals (dnet library; read against this run, on this machine):',
    table(
      ['goal', 'this run', ''],
      r.goals.map((g) => [g.goal, g.value, mark(g.met)]),
      99,
    ),
  ].join('\n');
}

// --- charts -------------------------------------------------------------------------------------

const us = (v: number) => fmtUs(v);

export function charts(r: Results, labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  const sub = `${r.machine.cpu}, ${r.machine.cpus} CPUs, Linux ${r.machine.kernel}${r.quick ? ' (QUICK run)' : ''}`;
  const a = r.units.attach;
  out['attach.svg'] = barChart({
    title: '1. attach (namespace + interface + address + NAT + one published port), per container',
    subtitle: `${sub}; log scale`,
    format: us,
    log: true,
    groups: keysOf(a).map((k) => ({
      label: labels[k] ?? k,
      bars: [
        { series: 'attach p50', value: a[k]?.attach?.p50 },
        { series: 'attach p99', value: a[k]?.attach?.p99 },
        { series: 'detach p50', value: a[k]?.detach?.p50 },
      ],
    })),
  });
  const sc = r.units.scale;
  out['scale.svg'] = barChart({
    title: '2. attach of the Nth container on the host (p50)',
    subtitle: `${sub}; log scale`,
    format: us,
    log: true,
    groups: keysOf(sc.subjects).map((k) => ({
      label: labels[k] ?? k,
      bars: sc.checkpoints.map((n) => {
        const s = sc.subjects[k]?.points.find((p) => p.n === n)?.attach.attach;
        return { series: `${ordinal(n)} container`, value: s?.p50, ...(s ? {} : { text: 'not reached' }) };
      }),
    })),
  });
  const fillCurve = (res: SubjectResults<ScaleResult>, title: string) =>
    lineChart({
      title,
      subtitle: `${sub}; log scale`,
      xLabel: 'containers on the host',
      format: us,
      log: true,
      series: keysOf(res).map((k) => {
        const f = res[k]?.fill ?? [];
        const pts: [number, number][] = [];
        for (let i = 0; i < f.length; i += 25) {
          const b = f.slice(i, i + 25).sort((x, y) => x - y);
          pts.push([i + b.length, b[Math.floor(b.length / 2)] ?? 0]);
        }
        return { name: labels[k] ?? k, points: pts };
      }),
    });
  out['scale-fill.svg'] = fillCurve(
    sc.subjects,
    '2. attach time of each container (one port) while the host fills up, median of each 25',
  );
  const cc = r.units.concurrency;
  out['concurrency.svg'] = barChart({
    title: '3. throughput with 1, 8 and 64 attaches in flight (attaches per second)',
    subtitle: `${sub}; log scale; longer is better`,
    format: (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)),
    log: true,
    groups: keysOf(cc.subjects).map((k) => ({
      label: labels[k] ?? k,
      bars: cc.levels.map((lvl) => {
        const l = cc.subjects[k]?.levels.find((x) => x.inFlight === lvl);
        return {
          series: `${lvl} in flight`,
          value: l?.throughput,
          ...(l
            ? {
                text: `${l.throughput.toFixed(l.throughput >= 100 ? 0 : 1)}/s, p99 ${fmtUs(l.latency.p99)}${l.errors ? `, ${l.errors} errors` : ''}`,
              }
            : {}),
        };
      }),
    })),
  });
  const pu = r.units.publish10;
  out['publish10.svg'] = barChart({
    title: '4. attach with 10 published ports, Nth container (N-1 with 10 ports each attached), p50',
    subtitle: `${sub}; log scale`,
    format: us,
    log: true,
    groups: keysOf(pu.subjects).map((k) => ({
      label: labels[k] ?? k,
      bars: pu.checkpoints.map((n) => {
        const s = pu.subjects[k]?.points.find((p) => p.n === n)?.attach.with10;
        return { series: `${ordinal(n)} container`, value: s?.p50, ...(s ? {} : { text: 'not reached' }) };
      }),
    })),
  });
  out['publish10-fill.svg'] = fillCurve(
    pu.subjects,
    '4. attach time of each container (10 ports) while the host fills up, median of each 25',
  );
  const { ipam, memory } = r.units.ipamMemory;
  out['ipam.svg'] = barChart({
    title: `5. IPAM: allocate + release one address, /16 holding ${ipam.dnet?.fill ?? 0} (p50)`,
    subtitle: `${sub}; log scale`,
    format: us,
    log: true,
    groups: [
      {
        label: 'dnet DefaultIpam',
        bars: [
          { series: 'p50', value: ipam.dnet?.pairs?.p50 },
          { series: 'p99', value: ipam.dnet?.pairs?.p99 },
        ],
      },
      {
        label: 'CNI host-local',
        bars: [
          { series: 'p50', value: ipam.hostLocal?.pairs?.p50 },
          { series: 'p99', value: ipam.hostLocal?.pairs?.p99 },
        ],
      },
      {
        label: 'netavark',
        bars: [{ series: 'p50', value: undefined, text: 'n/a: podman allocates addresses' }],
      },
    ],
  });
  out['memory.svg'] = barChart({
    title: `5. dnet daemon memory (RSS) with ${memory.endpoints} endpoints`,
    subtitle: sub,
    format: fmtBytes,
    groups: memory.daemon
      ? [
          { label: 'idle', bars: [{ series: 'RSS', value: memory.daemon.idle.rss }] },
          {
            label: `${memory.endpoints} endpoints`,
            bars: [{ series: 'RSS', value: memory.daemon.with.rss }],
          },
          { label: 'after detaching all', bars: [{ series: 'RSS', value: memory.daemon.after.rss }] },
        ]
      : [
          {
            label: 'daemon',
            bars: [{ series: 'RSS', value: undefined, text: memory.daemonError ?? 'not measured' }],
          },
        ],
    note: 'netavark and CNI keep no resident process.',
  });
  const f = a.floor?.attach?.p50;
  out['floor.svg'] = barChart({
    title: '6. attach p50 as a multiple of the kernel floor (the same syscalls with nothing around them)',
    subtitle: `${sub}; floor: ${r.floor.method === 'c' ? 'C program' : 'in-process'} ${fmtUs(f)}; log scale`,
    format: (v) => fmtRatio(v),
    log: true,
    refs: [{ value: 3, label: 'goal: 3×' }],
    groups: keysOf(a)
      .filter((k) => k !== 'floor')
      .map((k) => ({
        label: labels[k] ?? k,
        bars: [{ series: '× floor', value: ratio(a[k]?.attach?.p50, f) }],
      })),
  });
  return out;
}
