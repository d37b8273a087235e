/**
 * The scale part of the overlay benchmark (issue #17), on the multi-host harness:
 *
 * - Fill: `perHost` containers on each of the three hosts (the hosts in parallel, each one's
 *   connects one after another), connect p50/p99 during the fill; then the time until every host
 *   has one FDB and one neighbour entry per remote endpoint, the kernel entries per host (FDB and
 *   neighbour entries of the VXLAN device, links, nftables set/map elements) and the daemons' RSS
 *   (idle, filled, after everything was removed again).
 * - Concurrent: `concurrent` connects per host, all at once on the three hosts: every address
 *   distinct, every host programmed with the others' endpoints exactly.
 * - Churn: `churn` connect/disconnect cycles spread over the hosts (one container per host,
 *   connected again and again with an address from a small per-host set: addresses reused, new
 *   MACs); afterwards each host's entries are exactly those of the remote anchors (one container
 *   per host kept connected): no stale FDB or neighbour entry.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import {
  type ClusterHost,
  type Container,
  remove,
  sandbox,
  type TestCluster,
  vxlanEntries,
} from '../test/harness/cluster.ts';

export interface ScaleOptions {
  perHost: number;
  concurrent: number;
  churn: number;
  log: (m: string) => void;
}

export interface HostCounts {
  host: string;
  fdb: number;
  neigh: number;
  links: number;
  nftElements: number;
}

export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

const NET = 'ovscale';

const entries = vxlanEntries;

/** Elements of every nftables set and map in the host's namespace. */
function nftElements(h: ClusterHost): number {
  const out = execFileSync('ip', ['netns', 'exec', h.name, 'nft', '-j', 'list', 'ruleset'], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const items = (JSON.parse(out) as { nftables: Record<string, { elem?: unknown[] }>[] }).nftables;
  return items.reduce((n, o) => n + (o.set?.elem?.length ?? 0) + (o.map?.elem?.length ?? 0), 0);
}

function counts(h: ClusterHost, vx: string): HostCounts {
  const e = entries(h, vx);
  const links = h.ipn('-o', 'link', 'show').split('\n').filter(Boolean).length;
  return { host: h.name, fdb: e.fdb.length, neigh: e.neigh.length, links, nftElements: nftElements(h) };
}

/** A process's resident memory in MiB (nsenter execs the daemon: its PID is the child's). */
function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'nsenter') {
    const task = readdirSync(`/proc/${pid}/task`)[0];
    pid = Number(readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(' ')[0]);
  }
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : Number.NaN;
}

const rss = (hosts: ClusterHost[]) => hosts.map((h) => rssMiB(h.child?.pid));

/** Polls until every host's VXLAN device holds exactly `want(h)` remote entries; the time it took. */
async function settle(
  hosts: ClusterHost[],
  vx: string,
  want: (h: ClusterHost) => Container[],
  ms = 120_000,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const ok = hosts.every((h) => {
      const e = entries(h, vx);
      const w = want(h);
      return (
        e.fdb.length === w.length &&
        e.neigh.length === w.length &&
        w.every(
          (c) =>
            e.fdb.some((l) => l.startsWith(`${c.mac} `)) &&
            e.neigh.some((l) => l.startsWith(`${c.ip} `) && l.includes(c.mac)),
        )
      );
    });
    if (ok) return performance.now() - t0;
    if (performance.now() - t0 > ms) {
      const got = hosts.map((h) => `${h.name}: ${entries(h, vx).fdb.length}/${want(h).length}`);
      throw new Error(`entries did not settle in ${ms} ms (${got.join(', ')})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const remoteOf = (all: Container[]) => (h: ClusterHost) => all.filter((c) => c.host !== h);

/** Connects a container to the network (Docker's connect). */
async function connectOne(h: ClusterHost, id: string, endpointConfig?: Record<string, unknown>) {
  const r = await h.api('POST', `/networks/${NET}/connect`, {
    Container: id,
    ...(endpointConfig ? { EndpointConfig: endpointConfig } : {}),
  });
  if (r.status !== 200) throw new Error(`connect on ${h.name}: ${r.status} ${r.text}`);
}

/** The containers of the network on a host, with their addresses (one inspect). */
async function containersOf(h: ClusterHost, ids: string[]): Promise<Container[]> {
  const ins = (await h.api('GET', `/networks/${NET}`)).json as {
    Containers: Record<string, { IPv4Address: string; MacAddress: string }>;
  };
  return ids.map((id) => {
    const c = ins.Containers[id];
    if (!c) throw new Error(`${id} is not in ${NET} on ${h.name}`);
    return { id, key: '', ip: c.IPv4Address.split('/')[0]!, mac: c.MacAddress, host: h };
  });
}

/**
 * Each host connects `n` new containers one after another (the hosts in parallel); the connect
 * calls' durations (the API's answer, the sandbox made before).
 */
async function fill(hosts: ClusterHost[], n: number, tag: string) {
  const ms: number[] = [];
  const perHost = await Promise.all(
    hosts.map(async (h) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const sb = await sandbox(h, `${tag}-${h.name}-${i}`);
        const t0 = performance.now();
        await connectOne(h, sb.id);
        ms.push(performance.now() - t0);
        ids.push(sb.id);
      }
      return containersOf(h, ids);
    }),
  );
  return { made: perHost.flat(), ms };
}

/** `n` connects per host, all started at once on every host. */
async function concurrent(hosts: ClusterHost[], n: number) {
  const sbs = await Promise.all(
    hosts.flatMap((h) => Array.from({ length: n }, (_, i) => sandbox(h, `cc-${h.name}-${i}`))),
  );
  const t0 = performance.now();
  await Promise.all(sbs.map((sb, i) => connectOne(hosts[Math.floor(i / n)]!, sb.id)));
  const wallMs = performance.now() - t0;
  const made = (
    await Promise.all(
      hosts.map((h, i) =>
        containersOf(
          h,
          sbs.slice(i * n, (i + 1) * n).map((sb) => sb.id),
        ),
      ),
    )
  ).flat();
  const distinct = new Set(made.map((c) => c.ip)).size;
  return { made, wallMs, distinct };
}

/** `cycles` connect/disconnect cycles spread over the hosts, addresses reused from a small set. */
async function churn(hosts: ClusterHost[], cycles: number) {
  const ms: number[] = [];
  await Promise.all(
    hosts.map(async (h, hi) => {
      const sb = await sandbox(h, `churn-${h.name}`);
      for (let i = hi; i < cycles; i += hosts.length) {
        const ip = `10.96.250.${hi * 10 + (Math.floor(i / hosts.length) % 5) + 2}`;
        const t0 = performance.now();
        await connectOne(h, sb.id, { IPAMConfig: { IPv4Address: ip } });
        const r = await h.api('POST', `/networks/${NET}/disconnect`, { Container: sb.id });
        if (r.status !== 200) throw new Error(`disconnect on ${h.name}: ${r.status} ${r.text}`);
        ms.push(performance.now() - t0);
      }
      await remove({ id: sb.id, host: h });
    }),
  );
  return ms;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

export async function runScale(cl: TestCluster, o: ScaleOptions) {
  const hosts = cl.hosts;
  const idleRss = rss(hosts);
  const r = await hosts[0]!.api('POST', '/networks/create', {
    Name: NET,
    Driver: 'overlay',
    IPAM: { Config: [{ Subnet: '10.96.0.0/16', IPRange: '10.96.0.0/17' }] },
  });
  if (r.status !== 201) throw new Error(`network create: ${r.text}`);
  const vx = `vx-${(r.json as { Id: string }).Id.slice(0, 12)}`;
  const anchors = (await fill(hosts, 1, 'anchor')).made;
  await settle(hosts, vx, remoteOf(anchors));

  o.log(`fill: ${o.perHost} containers per host`);
  const f = await fill(hosts, o.perHost, 'fill');
  const settleMs = await settle(hosts, vx, remoteOf([...anchors, ...f.made]));
  const filled = hosts.map((h) => counts(h, vx));
  const filledRss = rss(hosts);
  const etcdFilledRss = rssMiB(cl.etcd.pid);
  await Promise.all(f.made.map(remove));
  await settle(hosts, vx, remoteOf(anchors));

  o.log(`concurrent: ${o.concurrent} connects per host at once`);
  const cc = await concurrent(hosts, o.concurrent);
  const ccSettleMs = await settle(hosts, vx, remoteOf([...anchors, ...cc.made]));
  await Promise.all(cc.made.map(remove));
  await settle(hosts, vx, remoteOf(anchors));

  o.log(`churn: ${o.churn} connect/disconnect cycles`);
  const ch = await churn(hosts, o.churn);
  // No stale entry: exactly the remote anchors are left (settle fails after its bound otherwise).
  const churnSettleMs = await settle(hosts, vx, remoteOf(anchors), 30_000);
  const afterChurn = hosts.map((h) => counts(h, vx));
  await Promise.all(anchors.map(remove));
  const emptyRss = rss(hosts);
  return {
    hosts: hosts.length,
    fill: {
      perHost: o.perHost,
      connectP50Ms: r1(pct(f.ms, 50)),
      connectP99Ms: r1(pct(f.ms, 99)),
      settleMs: r1(settleMs),
      perHostCounts: filled,
    },
    rssMiB: { idle: idleRss, filled: filledRss, emptiedAgain: emptyRss, etcdFilled: etcdFilledRss },
    concurrent: {
      perHost: o.concurrent,
      connects: cc.made.length,
      distinctAddresses: cc.distinct,
      wallMs: r1(cc.wallMs),
      settleMs: r1(ccSettleMs),
    },
    churn: {
      cycles: ch.length,
      cycleP50Ms: r1(pct(ch, 50)),
      cycleP99Ms: r1(pct(ch, 99)),
      settleMs: r1(churnSettleMs),
      perHostCounts: afterChurn,
    },
  };
}

export type ScaleResult = Awaited<ReturnType<typeof runScale>>;

export function printScale(s: ScaleResult): void {
  const f = s.fill;
  console.log(
    `scale fill: ${s.hosts} hosts x ${f.perHost} containers: connect p50 ${f.connectP50Ms} ms, ` +
      `p99 ${f.connectP99Ms} ms; all hosts programmed ${f.settleMs} ms after the last connect`,
  );
  for (const [i, c] of f.perHostCounts.entries())
    console.log(
      `  ${c.host}: fdb ${c.fdb}, neigh ${c.neigh}, links ${c.links}, nft elements ${c.nftElements}; ` +
        `daemon RSS ${s.rssMiB.idle[i]} MiB idle, ${s.rssMiB.filled[i]} MiB filled, ` +
        `${s.rssMiB.emptiedAgain[i]} MiB emptied again`,
    );
  console.log(`  etcd RSS filled: ${s.rssMiB.etcdFilled} MiB`);
  const cc = s.concurrent;
  console.log(
    `scale concurrent: ${cc.connects} connects (${cc.perHost} per host at once): ${cc.distinctAddresses} ` +
      `distinct addresses in ${cc.wallMs} ms; programmed ${cc.settleMs} ms later`,
  );
  const ch = s.churn;
  const stale = ch.perHostCounts.reduce((n, c) => n + c.fdb + c.neigh - 2 * (s.hosts - 1), 0);
  console.log(
    `scale churn: ${ch.cycles} connect/disconnect cycles: p50 ${ch.cycleP50Ms} ms, p99 ${ch.cycleP99Ms} ms; ` +
      `stale entries ${stale} (${ch.perHostCounts.map((c) => `${c.host} fdb ${c.fdb} neigh ${c.neigh}`).join(', ')})`,
  );
}
