/**
 * A multi-host world on one machine, for overlay tests: an underlay bridge `ul0` (192.168.77.1/24)
 * in the test's world, a real etcd listening on it (test/harness/etcd.ts), and "hosts": network
 * namespaces on the underlay (192.168.77.11, .12, ...), each running its own `dnet daemon`
 * (bin/dnet.js, own run and data directories, its API on a unix socket) joined to the cluster.
 *
 *   import { world } from '../harness/world.ts';   // first
 *   import { startCluster } from '../harness/cluster.ts';
 *   const c = await startCluster(3);
 *   await c.hosts[0].api('POST', '/networks/create', {...});
 *   await c.stop();
 *
 * The kernel objects live in the world's namespaces, which go with the test process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, type RawReply, waitForPing } from '../helpers/http.ts';
import { type EtcdServer, startEtcd } from './etcd.ts';

const UNDERLAY = 'ul0';
const UNDERLAY_NET = '192.168.77';

/**
 * The compiled CLI (dist/, built by scripts/run-tests.mjs before the tests) when present: a daemon
 * restart must fit in the lease TTL, and compiling TypeScript at start takes seconds on a busy
 * machine. Otherwise the sources through tsx.
 */
function dnetEntry(root: string): string[] {
  const dist = join(root, 'dist/cli/bin.js');
  return existsSync(dist) ? [dist] : ['--import', 'tsx', join(root, 'bin/dnet.js')];
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

export class ClusterHost {
  child: ChildProcess | undefined;
  stderr = '';
  readonly sock: string;
  readonly ns: string;

  constructor(
    readonly name: string,
    /** Underlay address (the VTEP). */
    readonly addr: string,
    readonly runDir: string,
    readonly dataDir: string,
    private readonly root: string,
    private readonly etcd: () => EtcdServer,
  ) {
    this.sock = join(runDir, 'dnet.sock');
    this.ns = `/run/netns/${name}`;
  }

  /** Starts (or restarts) the host's daemon and waits until its API answers. */
  async start(): Promise<void> {
    const args = [
      `--net=${this.ns}`,
      '--',
      process.execPath,
      ...dnetEntry(this.root),
      'daemon',
      '--run-dir',
      this.runDir,
      '--data-dir',
      this.dataDir,
      '-H',
      `unix://${this.sock}`,
      '--plugin-socket',
      '',
      '--cluster-store',
      `etcd://${new URL(this.etcd().endpoint).host}`,
      '--cluster-advertise',
      this.addr,
    ];
    this.stderr = '';
    const child = spawn('nsenter', args, { cwd: this.root, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20000);
    });
    this.child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`${this.name}: daemon exited (${code}):\n${this.stderr}`)),
      ),
    );
    exited.catch(() => undefined); // an unwatched exit is not an unhandled rejection; waits race it
    await Promise.race([waitForPing(this.sock, 60_000), exited]);
  }

  /** kill -9: the daemon dies without closing anything. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }

  /** SIGTERM and wait. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }

  api(method: string, path: string, body?: unknown): Promise<RawReply> {
    return call(this.sock, method, path, body);
  }

  /** `ip -n <host> ...` */
  ipn(...args: string[]): string {
    return ip('-n', this.name, ...args);
  }
}

export interface TestCluster {
  etcd: EtcdServer;
  hosts: ClusterHost[];
  /** Stops every daemon and etcd, removes the namespaces, the underlay and the directories. */
  stop(): Promise<void>;
}

/** Builds the underlay, starts etcd on it and `n` hosts with their daemons. */
export async function startCluster(root: string, n = 3): Promise<TestCluster> {
  const base = mkdtempSync(join(tmpdir(), 'dnet-overlay-cluster-'));
  ip('link', 'add', UNDERLAY, 'type', 'bridge');
  ip('addr', 'add', `${UNDERLAY_NET}.1/24`, 'dev', UNDERLAY);
  ip('link', 'set', UNDERLAY, 'up');
  const hosts: ClusterHost[] = [];
  let etcd: EtcdServer | undefined;
  const stop = async () => {
    await Promise.allSettled(hosts.map((h) => h.stop()));
    await etcd?.stop();
    for (const h of hosts) {
      try {
        ip('netns', 'del', h.name);
      } catch {} // gone already (a test removed the host)
    }
    try {
      ip('link', 'del', UNDERLAY);
    } catch {} // gone already (the world's namespace goes with it anyway)
    rmSync(base, { recursive: true, force: true });
  };
  try {
    etcd = await startEtcd({ host: `${UNDERLAY_NET}.1` });
    const e = etcd;
    for (let i = 0; i < n; i++) {
      const name = `dnet-h${String.fromCharCode(97 + i)}`;
      const addr = `${UNDERLAY_NET}.${11 + i}`;
      ip('netns', 'add', name);
      ip('link', 'add', `ul-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
      ip('link', 'set', `ul-${name}`, 'master', UNDERLAY, 'up');
      ip('-n', name, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
      ip('-n', name, 'link', 'set', 'eth0', 'up');
      ip('-n', name, 'link', 'set', 'lo', 'up');
      const runDir = join('/run', `dnet-ov-${name}`);
      const dataDir = join(base, name);
      mkdirSync(runDir, { recursive: true });
      hosts.push(new ClusterHost(name, addr, runDir, dataDir, root, () => e));
    }
    await Promise.all(hosts.map((h) => h.start()));
    return { etcd, hosts, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Permanent FDB entries (MAC → VTEP, `bridge fdb`) and neighbour entries (IP → MAC, `ip neigh`)
 * of a host's VXLAN device.
 */
export function vxlanEntries(h: ClusterHost, vx: string): { fdb: string[]; neigh: string[] } {
  const fdb = execFileSync('bridge', ['-n', h.name, 'fdb', 'show', 'dev', vx], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(' dst '));
  const neigh = h
    .ipn('neigh', 'show', 'nud', 'permanent', 'dev', vx)
    .split('\n')
    .filter((l) => l.trim() !== '');
  return { fdb, neigh };
}

/** A container (a sandbox made through a host's API) joined to a network. */
export interface Container {
  id: string;
  key: string;
  ip: string;
  mac: string;
  host: ClusterHost;
}

/** Polls `fn` every 100 ms until it returns a value; fails the test after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Makes a sandbox on the host (its API's `POST /sandboxes`). */
export async function sandbox(h: ClusterHost, name: string): Promise<{ id: string; key: string }> {
  const r = await h.api('POST', '/sandboxes', { Name: name });
  assert.equal(r.status, 201, r.text);
  const b = r.json as { Id: string; SandboxKey: string };
  return { id: b.Id, key: b.SandboxKey };
}

/** Connects a sandbox to a network (Docker's connect, with an optional EndpointConfig). */
export async function connectSandbox(
  h: ClusterHost,
  net: string,
  sb: { id: string; key: string },
  endpointConfig?: Record<string, unknown>,
): Promise<Container> {
  const r = await h.api('POST', `/networks/${net}/connect`, {
    Container: sb.id,
    ...(endpointConfig ? { EndpointConfig: endpointConfig } : {}),
  });
  assert.equal(r.status, 200, r.text);
  const ins = (await h.api('GET', `/networks/${net}`)).json as {
    Containers: Record<string, { IPv4Address: string; MacAddress: string }>;
  };
  const c = ins.Containers[sb.id];
  assert.ok(c, `${sb.id} is not in the containers of ${net}`);
  return { ...sb, ip: c.IPv4Address.split('/')[0]!, mac: c.MacAddress, host: h };
}

/** A new sandbox named `name`, connected to a network. */
export async function connect(
  h: ClusterHost,
  net: string,
  name: string,
  endpointConfig?: Record<string, unknown>,
): Promise<Container> {
  return connectSandbox(h, net, await sandbox(h, name), endpointConfig);
}

/** Removes a container's sandbox (and the endpoints its connects made). */
export async function remove(c: { id: string; host: ClusterHost }): Promise<void> {
  const r = await c.host.api('DELETE', `/sandboxes/${c.id}`);
  assert.ok(r.status === 204 || r.status === 200, r.text);
}
