/**
 * dnet, measured two ways: as a library in this process (NetworkController, bridge driver, state
 * in memory), and through its daemon (`dnet daemon`, a separate process) over the Docker network
 * API on a unix socket: POST /networks/{id}/connect and /disconnect.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BridgeDriver } from '../../src/drivers/bridge/driver.ts';
import { type Endpoint, type Network, NetworkController } from '../../src/index.ts';
import { type UnixReply, unixCall } from '../lib.ts';
import type { Container, Subject } from './subject.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * Times the bridge driver's publishing step (host port allocation + one nftables transaction) as it
 * runs inside an attach: programExternalConnectivity, wrapped once on the prototype. Only this
 * process's library calls are seen (not the daemon's).
 */
let lastPublishUs: number | undefined;
let publishTimed = false;
function timePublishing(): void {
  if (publishTimed) return;
  publishTimed = true;
  const proto = BridgeDriver.prototype;
  const orig = proto.programExternalConnectivity;
  if (typeof orig !== 'function') return;
  proto.programExternalConnectivity = async function (this: BridgeDriver, ...args) {
    const t0 = performance.now();
    try {
      return await orig.apply(this, args);
    } finally {
      lastPublishUs = (performance.now() - t0) * 1000;
    }
  };
}

const bindings = (c: Container) =>
  c.hostPorts.map((hostPort, k) => ({ proto: 'tcp' as const, port: 80 + k, hostPort }));

export class DnetLibrary implements Subject {
  readonly key = 'dnet';
  readonly label = 'dnet (library)';
  readonly version = VERSION;
  readonly does =
    'createEndpoint (IPAM, port bindings) + join (sandbox netns with lo up, veth on the bridge with its peer made in the sandbox as eth0, ' +
    'address, default route, hosts/resolv.conf, NAT map elements for the ports, the embedded DNS resolver: its sockets ' +
    'and DNAT in the sandbox, the name registered), in this process; ' +
    'detach: leave + delete (the sandbox goes; its namespace and veth are removed in the background)';
  readonly concurrent = true;
  readonly resident = 0;
  private ctl: NetworkController | undefined;
  private net: Network | undefined;
  private readonly eps = new Map<string, Endpoint>();

  constructor(
    private readonly runDir: string,
    private readonly subnet = '10.71.0.0/16',
    private readonly bridge = 'dnlbr0',
  ) {
    timePublishing();
  }

  publishUs(): number | undefined {
    return lastPublishUs;
  }

  async setup(): Promise<void> {
    this.ctl = await NetworkController.create({ runDir: this.runDir });
    this.net = await this.ctl.newNetwork('bridge', 'bench', {
      ipam: { config: [{ subnet: this.subnet }] },
      options: { 'com.docker.network.bridge.name': this.bridge },
    });
  }

  async attach(c: Container): Promise<undefined> {
    if (!this.net) throw new Error('dnet: not set up');
    lastPublishUs = undefined;
    const ep = await this.net.createEndpoint(`c${c.serial}`, { portBindings: bindings(c) });
    try {
      await ep.join(c.id, { hostname: c.id.slice(0, 12) });
    } catch (err) {
      await ep.delete().catch(() => {});
      throw err;
    }
    this.eps.set(c.id, ep);
    return undefined;
  }

  async detach(c: Container): Promise<undefined> {
    const ep = this.eps.get(c.id);
    if (!ep) throw new Error(`dnet: container ${c.serial} is not attached`);
    await ep.leave(c.id);
    await ep.delete();
    this.eps.delete(c.id);
    return undefined;
  }

  async teardown(): Promise<void> {
    for (const [id, ep] of this.eps) {
      await ep.leave(id).catch(() => {});
      await ep.delete().catch(() => {});
    }
    this.eps.clear();
    await this.net?.delete();
    await this.ctl?.close();
    this.net = undefined;
    this.ctl = undefined;
  }
}

type Reply = UnixReply;

/** The daemon's memory, from /proc/<pid>/status (bytes). */
export interface ProcMemory {
  rss: number;
  hwm: number;
}

export function procMemory(pid: number): ProcMemory | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) =>
      Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Whether the daemon can be measured: `src/daemon/daemon.ts` exports startDaemon (the CLI runs it). */
export function daemonAvailable(): string | undefined {
  const f = join(ROOT, 'src/daemon/daemon.ts');
  if (!existsSync(f)) return 'src/daemon/daemon.ts does not exist yet';
  if (!/export (async )?function startDaemon\b/.test(readFileSync(f, 'utf8')))
    return 'src/daemon/daemon.ts does not export startDaemon yet';
  return undefined;
}

export class DnetDaemon implements Subject {
  readonly key = 'daemon';
  readonly label = 'dnet (daemon API)';
  readonly version = VERSION;
  readonly does =
    'POST /networks/{id}/connect {Container, EndpointConfig:{PortBindings}} to `dnet daemon` (a separate process) ' +
    'over its unix socket: the library work plus HTTP, the container registry and its state committed to ' +
    'LMDB in its data dir (one fsync per call, on disk); detach: POST /networks/{id}/disconnect';
  readonly concurrent = true;
  readonly resident = 0;
  private child: ChildProcess | undefined;
  private netId = '';
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 128 });
  /** The prober's own connection: its requests never queue behind the attaches'. */
  private readonly probeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  private stderr = '';

  constructor(
    private readonly runDir: string,
    private readonly dataDir: string,
    private readonly subnet = '10.72.0.0/16',
    private readonly bridge = 'ddbr0',
  ) {}

  get socket(): string {
    return join(this.runDir, 'dnet.sock');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private call(method: string, path: string, body?: unknown, agent = this.agent): Promise<Reply> {
    return unixCall(this.socket, agent, method, path, body);
  }

  private async ok(what: string, r: Promise<Reply>): Promise<Reply> {
    const reply = await r;
    if (reply.status >= 300) throw new Error(`daemon: ${what}: HTTP ${reply.status}: ${reply.body.trim()}`);
    return reply;
  }

  async setup(): Promise<void> {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'dist/cli/bin.js'), 'daemon', '--run-dir', this.runDir, '--data-dir', this.dataDir],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString('utf8')).slice(-4000);
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`daemon exited (${child.exitCode}): ${this.stderr.trim()}`);
      const up = await this.call('GET', '/_ping').then(
        (r) => r.status === 200,
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline) throw new Error(`daemon did not answer within 30 s: ${this.stderr.trim()}`);
      await sleep(50);
    }
    const r = await this.ok(
      'create network',
      this.call('POST', '/networks/create', {
        Name: 'bench',
        Driver: 'bridge',
        IPAM: { Config: [{ Subnet: this.subnet }] },
        Options: { 'com.docker.network.bridge.name': this.bridge },
      }),
    );
    this.netId = (JSON.parse(r.body) as { Id: string }).Id;
  }

  async attach(c: Container): Promise<undefined> {
    const PortBindings: Record<string, { HostPort: string }[]> = {};
    c.hostPorts.forEach((hp, k) => {
      PortBindings[`${80 + k}/tcp`] = [{ HostPort: String(hp) }];
    });
    await this.ok(
      'connect',
      this.call('POST', `/networks/${this.netId}/connect`, {
        Container: c.id,
        EndpointConfig: { PortBindings },
      }),
    );
    return undefined;
  }

  async detach(c: Container): Promise<undefined> {
    await this.ok('disconnect', this.call('POST', `/networks/${this.netId}/disconnect`, { Container: c.id }));
    return undefined;
  }

  async probe(): Promise<void> {
    await this.ok('list networks', this.call('GET', '/networks', undefined, this.probeAgent));
  }

  async teardown(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    try {
      if (child && child.exitCode === null && this.netId)
        await this.ok('remove network', this.call('DELETE', `/networks/${this.netId}`));
    } finally {
      this.agent.destroy();
      this.probeAgent.destroy();
      if (child && child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(10_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(this.dataDir, { recursive: true, force: true });
    }
  }
}
