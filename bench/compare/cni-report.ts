/**
 * Unit 7 (issue 15), CNI: its results, its tables and its goal (ADD and DEL with a port each at
 * least 20× faster than bridge+portmap). Figures are read with the floor and the load beside
 * them: the machine is shared, so ratios measured in the same interleaved rounds carry further
 * than absolute times.
 */
import { cpus } from 'node:os';
import {
  CNI_PLUGIN_LABELS,
  CNI_PLUGIN_SUBJECTS,
  type CniPluginsResult,
  unitCniPlugins,
} from './cni-plugins.ts';
import { PODMAN_BACKENDS, PODMAN_LABELS, type PodmanResult, unitPodman } from './cni-podman.ts';
import type { Goal } from './report.ts';
import { fmtRatio, fmtUs, ratio, table } from './stats.ts';

export interface CniUnitResult {
  plugins?: CniPluginsResult;
  podman?: PodmanResult;
}

export async function unitCni(
  dir: string,
  plan: { n: number; warmup: number; podman: number },
  log: (l: string) => void,
  /** Where the daemons' data dirs go (on disk, as /var/lib/dnet is; the harness's daemonData). */
  dataDir: string,
): Promise<CniUnitResult> {
  log(`7. CNI plugins: ADD/DEL with one port, ${plan.n} rounds`);
  const plugins = await unitCniPlugins(`${dir}/plugins`, `${dataDir}/plugins`, plan.n, plan.warmup, log);
  log(`7. podman start-to-ready: ${plan.podman} rounds`);
  const podman = await unitPodman(
    `${dir}/podman`,
    `${dataDir}/podman`,
    plan.podman,
    Math.min(1, plan.warmup),
    log,
  );
  return { plugins, podman };
}

const load = (l: [number, number]) => `load ${l[0].toFixed(2)} → ${l[1].toFixed(2)} on ${cpus().length} CPUs`;

/** The goal's factor: ADD and DEL each at least this much faster than bridge+portmap. */
export const CNI_GOAL = 20;

/**
 * The goals, each with the bound beside it: an exec'd plugin costs at least an exec, so no plugin
 * can be faster than bridge+portmap by more than the exec floor is (bridge+portmap ÷ the floor of
 * the same rounds). When that bound is under the goal, the line says so ("bounded by exec") and
 * reads the launcher against it: its multiple of the floor.
 */
export function cniGoals(r: CniUnitResult | undefined): Goal[] {
  const p = r?.plugins;
  return (['add', 'del'] as const).map((v) => {
    const chain = p?.[v].bridgePortmap?.p50;
    const launcher = p?.[v].launcher?.p50;
    const floor = p?.[v].execFloor?.p50;
    const x = ratio(chain, launcher);
    const bound = ratio(chain, floor);
    const against = `${fmtUs(launcher)} against ${fmtUs(chain)}`;
    const times = `the launcher is ${fmtRatio(ratio(launcher, floor))} the floor`;
    let exec = 'exec floor not measured';
    if (bound !== undefined && bound < CNI_GOAL) {
      exec = `bounded by exec: the exec floor (${fmtUs(floor)}) alone is only ${fmtRatio(bound)} faster, no exec'd plugin can meet ${CNI_GOAL}× here; ${times}`;
    } else if (bound !== undefined && chain !== undefined) {
      const need = chain / CNI_GOAL;
      exec = `bound: the exec floor (${fmtUs(floor)}) is ${fmtRatio(bound)} faster; ${CNI_GOAL}× needs ≤ ${fmtUs(need)} (${fmtRatio(ratio(need, floor))} the floor); ${times}`;
    }
    return {
      goal: `CNI ${v.toUpperCase()} with one port at least ${CNI_GOAL}× faster than bridge+portmap (launcher, p50)`,
      value: x === undefined ? 'not measured' : `${fmtRatio(x)} faster (${against}); ${exec}`,
      met: x === undefined ? undefined : x >= CNI_GOAL,
    };
  });
}

export function printCni(r: CniUnitResult | undefined): string {
  const out: string[] = [];
  const p = r?.plugins;
  if (p) {
    out.push(
      `7. CNI plugin ADD and DEL with one published TCP port (one exec per call, interleaved, n=${p.n}, ${load(p.load)})`,
    );
    const rows = CNI_PLUGIN_SUBJECTS.map((k) =>
      p.add[k]
        ? [
            CNI_PLUGIN_LABELS[k],
            fmtUs(p.add[k]?.p50),
            fmtUs(p.add[k]?.p95),
            fmtUs(p.del[k]?.p50),
            fmtUs(p.del[k]?.p95),
            fmtRatio(ratio(p.add.bridgePortmap?.p50, p.add[k]?.p50)),
            fmtRatio(ratio(p.del.bridgePortmap?.p50, p.del[k]?.p50)),
          ]
        : [CNI_PLUGIN_LABELS[k], `NOT MEASURED: ${p.missing[k] ?? 'not selected'}`, '', '', '', '', ''],
    );
    out.push(table(['plugin', 'ADD p50', 'ADD p95', 'DEL p50', 'DEL p95', 'b+p/it ADD', 'b+p/it DEL'], rows));
    const over = (v: 'add' | 'del') =>
      fmtUs((p[v].launcher?.p50 ?? Number.NaN) - (p[v].execFloor?.p50 ?? Number.NaN));
    out.push(`launcher above the exec floor (p50): ADD ${over('add')}, DEL ${over('del')}`);
    const bound = (v: 'add' | 'del') => fmtRatio(ratio(p[v].bridgePortmap?.p50, p[v].execFloor?.p50));
    out.push(
      `bridge+portmap ÷ exec floor (p50; the most any exec'd plugin can gain, the goal is ${CNI_GOAL}×): ADD ${bound('add')}, DEL ${bound('del')}`,
    );
  }
  const pm = r?.podman;
  if (pm) {
    out.push(
      '',
      `7. podman start-to-ready: \`podman run -d -p\` of busybox to its first successful HTTP request (n=${pm.n}, ${load(pm.load)})`,
    );
    const rows = PODMAN_BACKENDS.map((b) =>
      pm.ready[b]
        ? [PODMAN_LABELS[b], fmtUs(pm.ready[b]?.p50), fmtUs(pm.ready[b]?.p95), fmtUs(pm.ready[b]?.min)]
        : [PODMAN_LABELS[b], `NOT MEASURED: ${pm.missing[b] ?? 'not selected'}`, '', ''],
    );
    out.push(table(['backend', 'p50', 'p95', 'min'], rows));
  }
  return out.join('\n');
}
