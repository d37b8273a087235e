/**
 * Unit 7a (issue 15): a CNI plugin's ADD and DEL with one published port, one process per call as
 * a runtime execs them, in the same world and the same run, interleaved (one of each per round,
 * so the machine's load drifts over all of them alike):
 *
 * - dnet launcher: DIR/dnet, the C program `dnet cni install` writes; the daemon runs the verb
 *   (POST /cni) against its attachments.
 * - dnet Node plugin: DIR/dnet-node (the fallback without a C compiler, and for tcp:// hosts).
 * - bridge+host-local+portmap: the reference chain, as libcni runs a conflist (bridge ADD, then
 *   portmap ADD with its prevResult; DEL in reverse order with the result).
 * - exec floor: /bin/true, exec'd the same way (what any plugin's exec costs from Node here).
 *
 * The namespace is made before ADD and removed after DEL, untimed, for every subject (a runtime
 * makes it). Times in µs.
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createNetns, deleteNetns } from '../../src/os/netns/index.ts';
import { call } from '../../test/helpers/http.ts';
import { installDnetCni, startDnetDaemon, stopDaemon } from './cni-daemon.ts';
import { CNI_DIR, cniMissing } from './peers.ts';
import { type Summary, summarize } from './stats.ts';
import { mustRun, newId } from './subject.ts';

export const CNI_PLUGIN_SUBJECTS = ['launcher', 'node', 'bridgePortmap', 'execFloor'] as const;
export type CniPluginSubject = (typeof CNI_PLUGIN_SUBJECTS)[number];

export const CNI_PLUGIN_LABELS: Record<CniPluginSubject, string> = {
  launcher: 'dnet launcher (C)',
  node: 'dnet Node plugin',
  bridgePortmap: 'bridge+host-local+portmap',
  execFloor: 'exec floor (/bin/true)',
};

export interface CniPluginsResult {
  n: number;
  /** 1-minute load average before and after (the machine is shared). */
  load: [number, number];
  add: Partial<Record<CniPluginSubject, Summary>>;
  del: Partial<Record<CniPluginSubject, Summary>>;
  /** Why a subject was not measured. */
  missing: Partial<Record<CniPluginSubject, string>>;
}

const cniEnv = (cmd: string, id: string, netns: string, binDir: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: id,
  CNI_NETNS: netns,
  CNI_IFNAME: 'eth0',
  CNI_PATH: binDir,
});

const portMappings = (hostPort: number) => [{ hostPort, containerPort: 80, protocol: 'tcp' }];

/** One ADD and one DEL of `plugin` (dnet's, either form); [addUs, delUs]. */
async function dnetRound(plugin: string, sock: string, binDir: string, netns: string, port: number) {
  const id = newId();
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'cnibench',
    type: 'dnet',
    network: 'cnibench',
    host: `unix://${sock}`,
    runtimeConfig: { portMappings: portMappings(port) },
  });
  let t = performance.now();
  await mustRun('dnet ADD', plugin, [], { input: conf, env: cniEnv('ADD', id, netns, binDir) });
  const add = (performance.now() - t) * 1000;
  t = performance.now();
  await mustRun('dnet DEL', plugin, [], { input: conf, env: cniEnv('DEL', id, netns, binDir) });
  return [add, (performance.now() - t) * 1000] as const;
}

/** One ADD and one DEL of the bridge → portmap chain. */
async function chainRound(dataDir: string, netns: string, port: number) {
  const id = newId();
  const bridge = {
    cniVersion: '1.0.0',
    name: 'cnibench',
    type: 'bridge',
    bridge: 'cnibench0',
    isGateway: true,
    ipMasq: true,
    hairpinMode: true,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '10.73.0.0/16' }]],
      routes: [{ dst: '0.0.0.0/0' }],
      dataDir,
    },
  };
  const portmap = (prevResult: unknown) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'cnibench',
      type: 'portmap',
      capabilities: { portMappings: true },
      snat: true,
      runtimeConfig: { portMappings: portMappings(port) },
      prevResult,
    });
  const env = (cmd: string) => cniEnv(cmd, id, netns, CNI_DIR);
  let t = performance.now();
  const out = await mustRun('bridge ADD', `${CNI_DIR}/bridge`, [], {
    input: JSON.stringify(bridge),
    env: env('ADD'),
  });
  const prev = JSON.parse(out) as unknown;
  const result = JSON.parse(
    await mustRun('portmap ADD', `${CNI_DIR}/portmap`, [], { input: portmap(prev), env: env('ADD') }),
  ) as unknown;
  const add = (performance.now() - t) * 1000;
  t = performance.now();
  await mustRun('portmap DEL', `${CNI_DIR}/portmap`, [], { input: portmap(result), env: env('DEL') });
  await mustRun('bridge DEL', `${CNI_DIR}/bridge`, [], {
    input: JSON.stringify({ ...bridge, prevResult: result }),
    env: env('DEL'),
  });
  return [add, (performance.now() - t) * 1000] as const;
}

async function floorRound() {
  let t = performance.now();
  await mustRun('/bin/true', '/bin/true', []);
  const a = (performance.now() - t) * 1000;
  t = performance.now();
  await mustRun('/bin/true', '/bin/true', []);
  return [a, (performance.now() - t) * 1000] as const;
}

/** The unit: `n` interleaved rounds (after `warmup` unrecorded ones) in `dir` (the world's /run). */
export async function unitCniPlugins(
  dir: string,
  dataDir: string,
  n: number,
  warmup: number,
  log: (l: string) => void,
): Promise<CniPluginsResult> {
  const binDir = join(dir, 'bin');
  mkdirSync(join(dir, 'netns'), { recursive: true });
  const load0 = loadavg()[0] ?? 0;
  await installDnetCni(binDir);
  const missing: CniPluginsResult['missing'] = {};
  const chainMissing = cniMissing();
  if (chainMissing) missing.bridgePortmap = chainMissing;
  const samples: Record<CniPluginSubject, { add: number[]; del: number[] }> = {
    launcher: { add: [], del: [] },
    node: { add: [], del: [] },
    bridgePortmap: { add: [], del: [] },
    execFloor: { add: [], del: [] },
  };
  const { child, sock } = await startDnetDaemon(
    join(dir, 'daemon-run'),
    dataDir,
    'cnibench',
    '10.76.0.0/16',
    'dnetcni0',
  );
  try {
    for (let i = 0; i < warmup + n; i++) {
      if (i % 10 === 0) log(`7. CNI plugins: round ${i + 1}/${warmup + n}`);
      const rounds: [CniPluginSubject, (netns: string) => Promise<readonly [number, number]>][] = [
        ['launcher', (ns) => dnetRound(join(binDir, 'dnet'), sock, binDir, ns, 21000 + i)],
        ['node', (ns) => dnetRound(join(binDir, 'dnet-node'), sock, binDir, ns, 22000 + i)],
        ['execFloor', () => floorRound()],
      ];
      if (!chainMissing)
        rounds.push(['bridgePortmap', (ns) => chainRound(join(dir, 'host-local'), ns, 23000 + i)]);
      for (const [k, fn] of rounds) {
        const netns = createNetns(`cb${i}${k.slice(0, 3)}`, { runDir: join(dir, 'netns') });
        try {
          const [a, d] = await fn(netns);
          if (i >= warmup) {
            samples[k].add.push(a);
            samples[k].del.push(d);
          }
        } finally {
          deleteNetns(netns);
        }
      }
    }
    await call(sock, 'DELETE', '/networks/cnibench');
  } finally {
    await stopDaemon(child);
  }
  const add: CniPluginsResult['add'] = {};
  const del: CniPluginsResult['del'] = {};
  for (const k of CNI_PLUGIN_SUBJECTS) {
    if (samples[k].add.length === 0) continue;
    add[k] = summarize(samples[k].add);
    del[k] = summarize(samples[k].del);
  }
  return { n, load: [load0, loadavg()[0] ?? 0], add, del, missing };
}
