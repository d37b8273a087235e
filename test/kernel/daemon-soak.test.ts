/**
 * The daemon under kill -9: random Docker-API operations (connect with a published port,
 * disconnect, sandbox create and remove) at a random concurrency of 1 to 8, and the daemon
 * killed -9 at random moments, many of them mid-request; then restarted. After every restart:
 * - every acknowledged operation is there (durability), operations in flight are all or nothing
 *   (never an endpoint without its container), restore reports no problem;
 * - no address and no host port is handed out twice;
 * - the kernel matches the records: one host veth per joined endpoint, one namespace and one
 *   directory per sandbox, nothing else;
 * and after the last round everything is removed through the API and nothing is left.
 * The seed is printed (SOAK_SEED=<seed> replays the same choices; the kill times still vary).
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { listNetns } from '../../src/os/netns/index.ts';
import { world } from '../harness/world.ts';
import { call } from '../helpers/http.ts';

const MIN_OPS = 1000;
const MIN_KILLS = 25;
const CONTAINERS = 16;
const NETWORKS = ['soak-a', 'soak-b'];

const runDir = join(world.runDir, 'soak-run');
const dataDir = join(world.runDir, 'soak-data');
const sock = join(world.runDir, 'soak.sock');
const nl = NetlinkHandle.open();

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Restore {
  problems: string[];
  rolledBack: string[];
}

/** Every daemon started: a failing assertion must not leave one running (the file would never end). */
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function startChild(): Promise<{ child: ChildProcess; restore: Restore }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(world.root, 'test/helpers/daemon-child.ts'), runDir, dataDir, sock],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the daemon did not start: ${out}`)), 60_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    child.once('exit', (code) => reject(new Error(`the daemon exited (${code}): ${out}`)));
  });
  return { child, restore: (JSON.parse(line) as { restore: Restore }).restore };
}

/** What the test knows for sure of each container: explicit sandbox or not, networks it is on. */
interface Known {
  explicit: boolean;
  nets: Set<string>;
}

type State = Map<string, Known>;

interface SandboxJson {
  Name: string;
  Networks: Record<string, { EndpointID: string; IPAddress: string }>;
  Ports: Record<string, { HostPort: string }[] | null>;
}

async function actualState(): Promise<{ state: Map<string, Set<string>>; sandboxes: SandboxJson[] }> {
  const r = await call(sock, 'GET', '/sandboxes');
  assert.equal(r.status, 200);
  const sandboxes = r.json as SandboxJson[];
  return { state: new Map(sandboxes.map((s) => [s.Name, new Set(Object.keys(s.Networks))])), sandboxes };
}

/** The checks after a restart; returns the actual state, which the next round starts from. */
async function check(model: State, doubtful: Set<string>, round: string): Promise<State> {
  const { state, sandboxes } = await actualState();
  // durability: what was acknowledged is there, exactly; in-doubt containers are whatever they are
  for (const c of new Set([...model.keys(), ...state.keys()])) {
    if (doubtful.has(c)) continue;
    const want = model.get(c);
    const have = state.get(c);
    const wantPresent = want !== undefined && (want.explicit || want.nets.size > 0);
    assert.equal(have !== undefined, wantPresent, `${round}: container ${c} present`);
    if (want && have) assert.deepEqual([...have].sort(), [...want.nets].sort(), `${round}: networks of ${c}`);
  }
  // atomicity and no double allocation, network by network
  const endpointIds = new Set<string>();
  for (const name of NETWORKS) {
    const n = await call(sock, 'GET', `/networks/${name}`);
    assert.equal(n.status, 200);
    const containers = (n.json as { Containers: Record<string, { EndpointID: string; IPv4Address: string }> })
      .Containers;
    for (const k of Object.keys(containers)) {
      assert.ok(!k.startsWith('ep-'), `${round}: ${name} holds an endpoint no container has joined (${k})`);
    }
    const ips = Object.values(containers).map((c) => c.IPv4Address);
    assert.equal(
      new Set(ips).size,
      ips.length,
      `${round}: an address of ${name} is handed out twice: ${ips}`,
    );
    for (const c of Object.values(containers)) endpointIds.add(c.EndpointID);
  }
  const ports = sandboxes.flatMap((s) =>
    Object.values(s.Ports).flatMap((b) => (b ?? []).map((x) => x.HostPort)),
  );
  assert.equal(new Set(ports).size, ports.length, `${round}: a host port is handed out twice: ${ports}`);
  // the kernel and the run directory match the records
  const veths = nl
    .linkList()
    .map((l) => l.name)
    .filter((n) => /^dv[0-9a-f]{10}$/.test(n))
    .sort();
  assert.deepEqual(
    veths,
    [...endpointIds].map((id) => `dv${id.slice(0, 10)}`).sort(),
    `${round}: host veths`,
  );
  const namespaces = listNetns({ runDir }).filter((n) => n !== 'default');
  assert.equal(namespaces.length, sandboxes.length, `${round}: one namespace per sandbox`);
  const dirs = existsSync(join(runDir, 'sandboxes')) ? readdirSync(join(runDir, 'sandboxes')) : [];
  assert.equal(dirs.length, sandboxes.length, `${round}: one directory per sandbox`);
  // The next round starts from what is there. A container the model had absent (never made, or
  // removed: its entry may stay with no networks) and that is there now was made by an operation
  // in flight at the kill: by a connect (implicit, on a network) or a sandbox create (explicit, on
  // none). A container the model had present keeps its kind.
  const next: State = new Map();
  for (const [c, nets] of state) {
    const prev = model.get(c);
    const wasPresent = prev !== undefined && (prev.explicit || prev.nets.size > 0);
    next.set(c, { explicit: wasPresent ? prev.explicit : nets.size === 0, nets });
  }
  return next;
}

test(
  `kill -9 soak: at least ${MIN_OPS} operations and ${MIN_KILLS} kills`,
  { timeout: 600_000 },
  async () => {
    const seed = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`# soak seed ${seed} (SOAK_SEED=${seed} to replay)`);
    const rand = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

    let { child, restore } = await startChild();
    for (const [i, name] of NETWORKS.entries()) {
      const r = await call(sock, 'POST', '/networks/create', {
        Name: name,
        IPAM: { Config: [{ Subnet: `10.7${i}.0.0/24` }] },
      });
      assert.equal(r.status, 201);
    }
    let model: State = new Map();
    let ops = 0;
    let kills = 0;
    let inDoubt = 0;
    const statuses = new Map<number, number>();
    const started = Date.now();

    for (let round = 0; kills < MIN_KILLS || ops < MIN_OPS; round++) {
      const label = `seed ${seed} round ${round}`;
      assert.deepEqual(restore.problems, [], `${label}: restore problems`);
      const workers = 1 + Math.floor(rand() * 8);
      const target = 20 + Math.floor(rand() * 40); // acknowledged operations before the kill
      const doubtful = new Set<string>();
      let done = 0;
      let killed = false;
      const kill = () => {
        if (killed) return;
        killed = true;
        child.kill('SIGKILL');
      };
      const worker = async (w: number) => {
        const mine = Array.from({ length: CONTAINERS }, (_, i) => `c${i}`).filter(
          (_, i) => i % workers === w,
        );
        while (!killed) {
          const c = pick(mine);
          const k = model.get(c);
          const present = k !== undefined && (k.explicit || k.nets.size > 0);
          let method: string;
          let path: string;
          let body: unknown;
          let apply: () => void;
          const connect = (net: string) => {
            method = 'POST';
            path = `/networks/${net}/connect`;
            body = { Container: c, EndpointConfig: { PortBindings: { '80/tcp': [{ HostPort: '' }] } } };
            apply = () => {
              const cur = model.get(c) ?? { explicit: false, nets: new Set<string>() };
              cur.nets.add(net);
              model.set(c, cur);
            };
          };
          if (!present) {
            if (rand() < 0.5) connect(pick(NETWORKS));
            else {
              method = 'POST';
              path = '/sandboxes';
              body = { Name: c };
              apply = () => model.set(c, { explicit: true, nets: new Set() });
            }
          } else {
            const off = NETWORKS.filter((n) => !k.nets.has(n));
            const r = rand();
            if (r < 0.45 && off.length > 0) connect(pick(off));
            else if (r < 0.85 && k.nets.size > 0) {
              const net = pick([...k.nets]);
              method = 'POST';
              path = `/networks/${net}/disconnect`;
              body = { Container: c };
              apply = () => k.nets.delete(net);
            } else {
              method = 'DELETE';
              path = `/sandboxes/${c}`;
              body = undefined;
              apply = () => model.delete(c);
            }
          }
          try {
            const r = await call(sock, method!, path!, body);
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            assert.ok(r.status < 500, `${label}: ${method!} ${path!} answered ${r.status}: ${r.text}`);
            if (r.status < 300) {
              apply!();
              ops++;
              if (++done >= target) setTimeout(kill, Math.floor(rand() * 15));
            }
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            // No answer: the daemon was killed while the request was in flight.
            doubtful.add(c);
            inDoubt++;
            return;
          }
        }
      };
      const exited = new Promise((r) => child.once('exit', r));
      const safety = setTimeout(kill, 30_000);
      await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
      kill();
      clearTimeout(safety);
      await exited;
      kills++;
      ({ child, restore } = await startChild());
      assert.deepEqual(restore.problems, [], `${label}: restore problems`);
      model = await check(model, doubtful, label);
    }

    // Everything goes through the API; nothing may be left.
    const { sandboxes } = await actualState();
    for (const s of sandboxes) assert.equal((await call(sock, 'DELETE', `/sandboxes/${s.Name}`)).status, 204);
    for (const n of NETWORKS) assert.equal((await call(sock, 'DELETE', `/networks/${n}`)).status, 204);
    const stopped = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await stopped;
    assert.deepEqual(
      nl
        .linkList()
        .map((l) => l.name)
        .filter((n) => n !== 'lo'),
      [],
      'no link left',
    );
    assert.deepEqual(
      listNetns({ runDir }).filter((n) => n !== 'default'),
      [],
      'no namespace left',
    );
    const dirs = existsSync(join(runDir, 'sandboxes')) ? readdirSync(join(runDir, 'sandboxes')) : [];
    assert.deepEqual(dirs, [], 'no sandbox directory left');
    console.log(
      `# soak: ${ops} acknowledged operations, ${kills} kills, ${inDoubt} requests in flight at a kill, ` +
        `statuses ${JSON.stringify(Object.fromEntries(statuses))}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    await sleep(0);
  },
);
