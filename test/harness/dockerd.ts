/**
 * A real Docker Engine for tests (Debian's docker.io 20.10: dockerd, containerd, runc and the
 * `docker` CLI, installed by scripts/install-deps.sh), run INSIDE the throwaway world:
 *
 *   import { world } from '../harness/world.ts';   // first: /run, the network and iptables are the world's
 *   import { startDockerd } from '../harness/dockerd.ts';
 *   const dockerd = await startDockerd();          // ~1-2 s; image bb:latest imported (busybox)
 *   await dockerd.docker('run', '--rm', 'bb', 'echo', 'hi');
 *   await dockerd.stop();                          // containers removed, dockerd and containerd gone
 *
 * Everything dockerd writes is under one directory on the world's /run (data root with the vfs
 * storage driver, exec root with containerd's state and the containers' namespaces, its socket,
 * pidfile and a config file naming its key file there: dockerd 20.10 would otherwise write
 * /etc/docker/key.json on the machine). Its firewall is the default (`--iptables=true`): the
 * world's iptables FORWARD policy becomes DROP, as on a machine running Docker. Plugins are
 * discovered where dockerd always looks, /run/docker/plugins, which is the world's.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const DOCKERD_BIN = process.env.DOCKERD_BIN ?? '/usr/sbin/dockerd';
/** Debian's CLI (20.10), not whatever newer client may be first on PATH. */
export const DOCKER_BIN = process.env.DOCKER_BIN ?? '/usr/bin/docker';
export const BUSYBOX_BIN = process.env.BUSYBOX_BIN ?? '/bin/busybox';
/** The image every test container runs: busybox and its applets, made offline. */
export const BUSYBOX_IMAGE = 'bb:latest';
const START_TIMEOUT_MS = 30_000;

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Dockerd {
  /** The directory holding everything of this dockerd. */
  readonly dir: string;
  /** Its API socket. */
  readonly socket: string;
  /** Its log (stderr and stdout). */
  readonly logFile: string;
  /** Runs the docker CLI against this dockerd; rejects (with stderr) when it exits non-zero. */
  docker(...args: string[]): Promise<string>;
  /** Runs the docker CLI; resolves with its exit code and output, whatever it is. */
  dockerResult(...args: string[]): Promise<DockerResult>;
  /** Stops dockerd (SIGTERM, containers keep running: live-restore is off, so they stop) and starts it again. */
  restart(): Promise<void>;
  /** Removes every container and network it made, stops dockerd and containerd, removes its files. Idempotent. */
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** `--iptables` (default true, as Docker's default). */
  iptables?: boolean;
  /** Extra dockerd flags. */
  args?: string[];
}

function runCli(socket: string, args: string[], timeoutMs = 60_000): Promise<DockerResult> {
  return new Promise((resolve) => {
    execFile(
      DOCKER_BIN,
      ['-H', `unix://${socket}`, ...args],
      {
        timeout: timeoutMs,
        maxBuffer: 16 << 20,
        env: { ...process.env, DOCKER_CONFIG: join(socket, '..', 'cli') },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: stderr || (err && code !== 0 ? err.message : '') });
      },
    );
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The busybox root filesystem as a tar stream's source directory: /bin/busybox and its applet links. */
function makeBusyboxRoot(dir: string): void {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'busybox'), readFileSync(BUSYBOX_BIN), { mode: 0o755 });
  const list = spawnSyncText(BUSYBOX_BIN, ['--list']);
  for (const applet of list.split('\n')) {
    if (applet && applet !== 'busybox' && !existsSync(join(bin, applet)))
      symlinkSync('busybox', join(bin, applet));
  }
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'var/www'])
    mkdirSync(join(dir, d), { recursive: true });
}

function spawnSyncText(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  if (process.env.DNET_WORLD !== '1') {
    throw new Error(
      'startDockerd runs only inside a throwaway world (scripts/in-world.sh): import ../harness/world.ts first',
    );
  }
  for (const bin of [DOCKERD_BIN, DOCKER_BIN, BUSYBOX_BIN]) {
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} not found: install Debian's docker.io and busybox-static (scripts/install-deps.sh does)`,
      );
    }
  }
  const dir = mkdtempSync('/run/dnet-dockerd-');
  const socket = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const config = join(dir, 'daemon.json');
  writeFileSync(config, JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));
  const args = [
    '--data-root',
    dataRoot,
    '--exec-root',
    execRoot,
    '--pidfile',
    join(dir, 'docker.pid'),
    '--config-file',
    config,
    '-H',
    `unix://${socket}`,
    '--storage-driver',
    'vfs',
    `--iptables=${options.iptables ?? true}`,
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const fd = openSync(logFile, 'a');
    const c = spawn(DOCKERD_BIN, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child = c;
    let failure: Error | undefined;
    c.once('error', (e) => {
      failure = e;
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (failure) throw new Error(`cannot run ${DOCKERD_BIN}: ${failure.message}`);
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`dockerd exited (${c.exitCode ?? c.signalCode}):\n${tail(logFile)}`);
      }
      if (
        existsSync(socket) &&
        (await runCli(socket, ['version', '--format', '{{.Server.Version}}'], 5000)).code === 0
      )
        return;
      if (Date.now() > deadline)
        throw new Error(`dockerd did not answer within ${START_TIMEOUT_MS} ms:\n${tail(logFile)}`);
      await sleep(50);
    }
  };

  const halt = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      const killer = setTimeout(() => c.kill('SIGKILL'), 15_000);
      await exited(c);
      clearTimeout(killer);
    }
    child = undefined;
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (child && child.exitCode === null) {
        const ids = (await runCli(socket, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await runCli(socket, ['rm', '-f', ...ids]);
        await runCli(socket, ['network', 'prune', '-f']);
      }
      await halt();
      // containerd (started by dockerd) and its shims follow dockerd down; make sure of it.
      killPidFile(join(execRoot, 'containerd', 'containerd.pid'));
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    await launch();
    const root = join(dir, 'image-root');
    makeBusyboxRoot(root);
    await importDir(socket, root, BUSYBOX_IMAGE);
    rmSync(root, { recursive: true, force: true });
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    socket,
    logFile,
    async docker(...a: string[]) {
      const r = await runCli(socket, a);
      if (r.code !== 0) throw new Error(`docker ${a.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
      return r.stdout;
    },
    dockerResult: (...a: string[]) => runCli(socket, a),
    async restart() {
      await halt();
      await launch();
    },
    stop,
  };
}

function killPidFile(path: string): void {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // not there, or already gone
  }
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

/** `tar -C dir -c . | docker import - tag`. */
function importDir(socket: string, dir: string, tag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const imp = spawn(DOCKER_BIN, ['-H', `unix://${socket}`, 'import', '-', tag], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    tar.stdout.pipe(imp.stdin);
    let err = '';
    imp.stderr.on('data', (d) => {
      err += String(d);
    });
    imp.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`docker import exited ${code}: ${err}`)),
    );
  });
}
