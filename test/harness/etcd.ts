/**
 * A real etcd for tests (Debian's etcd-server: /usr/bin/etcd, installed by scripts/install-deps.sh):
 * one member on loopback, random free ports, a temporary data directory, removed on stop.
 *
 *   import { world } from '../harness/world.ts';   // first: loopback is then the world's own
 *   import { startEtcd } from '../harness/etcd.ts';
 *   const etcd = await startEtcd();
 *   ... EtcdStore.open({ hosts: etcd.hosts }) ...
 *   await etcd.stop();
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const START_TIMEOUT_MS = 15_000;

export interface EtcdServer {
  /** The client URL, e.g. http://127.0.0.1:40123. */
  readonly endpoint: string;
  /** [endpoint], as EtcdStore.open takes it. */
  readonly hosts: string[];
  readonly dataDir: string;
  readonly pid: number;
  /** Kills etcd (SIGTERM, then SIGKILL after 5 s), waits for it to exit, removes its data. Idempotent. */
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: unknown };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

async function startOnce(dataDir: string, host: string): Promise<EtcdServer> {
  const [clientPort, peerPort] = [await freePort(host), await freePort(host)];
  const endpoint = `http://${host}:${clientPort}`;
  const peer = `http://${host}:${peerPort}`;
  const child = spawn(
    ETCD_BIN,
    [
      '--name=dnet-test',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=dnet-test=${peer}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-8000);
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  let failure: Error | undefined;
  void spawnError.then((e) => {
    failure = e;
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited(child);
        clearTimeout(killer);
      }
    })();
    return stopped;
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await healthy(endpoint))) {
    if (failure !== undefined) throw new Error(`cannot run ${ETCD_BIN}: ${failure.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `etcd exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${stderr}`,
      );
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd was not healthy at ${endpoint} within ${START_TIMEOUT_MS} ms:\n${stderr}`);
    }
    await sleep(50);
  }
  return { endpoint, hosts: [endpoint], dataDir, pid: child.pid!, stop };
}

/**
 * Starts etcd and waits until /health says true. Retries (new ports) if a port was taken meanwhile.
 * `host`: the address it listens on (default 127.0.0.1; the multi-host harness uses its underlay's).
 */
export async function startEtcd(options: { host?: string } = {}): Promise<EtcdServer> {
  const host = options.host ?? '127.0.0.1';
  if (!existsSync(ETCD_BIN)) {
    throw new Error(`${ETCD_BIN} not found: install Debian's etcd-server (scripts/install-deps.sh does)`);
  }
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'dnet-etcd-'));
    try {
      const server = await startOnce(dataDir, host);
      return {
        ...server,
        stop: async () => {
          await server.stop();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      last = err;
    }
  }
  throw last;
}
