/**
 * `dnet daemon` in a child process, as a user starts it (bin/dnet.js with the given flags): its
 * JSON log lines, the hosts its `start` line names, and how it ended.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export interface LogEntry {
  level: string;
  event?: string;
  msg: string;
  [k: string]: unknown;
}

export interface DaemonProcess {
  child: ChildProcess;
  /** The log lines so far, parsed. */
  entries(): LogEntry[];
  /** stderr so far, as is. */
  stderr(): string;
  /** The hosts of the `start` line (tcp://127.0.0.1:0 resolved to the port bound). */
  hosts: string[];
  /** SIGTERM, then waits for the exit status. */
  stop(): Promise<number | null>;
}

function parse(text: string): LogEntry[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEntry);
}

/** Runs `dnet daemon ARGS` to its end: exit status and stderr (for starts that must fail). */
export function runDaemon(
  root: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin/dnet.js'), 'daemon', ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** Starts `dnet daemon ARGS` and waits for its `start` line (or fails with its stderr). */
export function startDaemonProcess(
  root: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<DaemonProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bin/dnet.js'), 'daemon', ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dnet daemon did not start within 60 s:\n${stderr}`));
    }, 60_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const start = parse(stderr).find((e) => e.event === 'start');
      if (!start) return;
      clearTimeout(timer);
      child.stderr?.removeAllListeners('data');
      child.stderr?.on('data', (more: Buffer) => {
        stderr += more.toString();
      });
      resolve({
        child,
        entries: () => parse(stderr),
        stderr: () => stderr,
        hosts: start.hosts as string[],
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`dnet daemon exited (${code}) before starting:\n${stderr}`));
    });
  });
}
