/**
 * Named network namespaces, as `ip netns` keeps them: a bind mount of a namespace file at
 * `<runDir>/netns/<name>` (default runDir `/run`, so `ip netns exec <name>` works).
 *
 * Switching namespaces only ever happens inside one synchronous call (runInNetns): JavaScript
 * runs on one thread, so no other code can observe the switch, provided nothing awaits while
 * switched. If switching back fails the process aborts: carrying on in the wrong namespace
 * would silently corrupt everything after.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DnetError, SyscallError } from '../../errors/index.ts';
import {
  CLONE_NEWNET,
  close,
  MNT_DETACH,
  MS_BIND,
  MS_REC,
  MS_SHARED,
  mount,
  openReadOnly,
  setns,
  umount2,
  unshare,
} from '../ffi/libc.ts';

const EINVAL = 22;
const ENOENT = 2;

/** A namespace name that cannot be used as a file name under <runDir>/netns. */
export class InvalidNetnsNameError extends DnetError {
  readonly code = 'ERR_INVALID_NETNS_NAME';
  readonly kind = 'invalid';
  constructor(name: string) {
    super(`invalid network namespace name ${JSON.stringify(name)}: use 1-255 characters without '/' or NUL`);
  }
}

/** A namespace of that name exists already. */
export class NetnsExistsError extends DnetError {
  readonly code = 'ERR_NETNS_EXISTS';
  readonly kind = 'conflict';
  constructor(path: string) {
    super(`network namespace ${path} exists already: delete it first or pick another name`);
  }
}

/** A reference to a namespace: an open fd, or the path of a namespace file. */
export type NetnsRef = { fd: number } | { path: string };

let hostFd = -1;

/** The fd of the namespace this process started in (opened once, on first use, never closed). */
export function hostNetnsFd(): number {
  if (hostFd < 0) hostFd = openReadOnly('/proc/thread-self/ns/net');
  return hostFd;
}

export function netnsDir(runDir = '/run'): string {
  return join(runDir, 'netns');
}

function validName(name: string): void {
  if (
    name.length === 0 ||
    name.length > 255 ||
    name.includes('/') ||
    name.includes('\0') ||
    name === '.' ||
    name === '..'
  ) {
    throw new InvalidNetnsNameError(name);
  }
}

/**
 * Makes <runDir>/netns a shared mount point, as iproute2 does, so namespace mounts made here
 * propagate to mount namespaces created later (containers started by a runtime).
 */
function prepareDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  try {
    mount('', dir, 'none', MS_SHARED | MS_REC);
  } catch (err) {
    if (!(err instanceof SyscallError) || err.errno !== EINVAL) throw err;
    // Not a mount point yet: bind it onto itself, then make it shared.
    mount(dir, dir, 'none', MS_BIND | MS_REC);
    mount('', dir, 'none', MS_SHARED | MS_REC);
  }
}

const prepared = new Set<string>();

/** `<runDir>/netns/<name>`, the directory made a shared mount point on first use. */
function entryPath(name: string, runDir: string | undefined): string {
  validName(name);
  const dir = netnsDir(runDir);
  if (!prepared.has(dir)) {
    prepareDir(dir);
    prepared.add(dir);
  }
  return join(dir, name);
}

function switchBack(op: string): void {
  try {
    setns(hostNetnsFd(), CLONE_NEWNET);
  } catch (err) {
    // We cannot tell what runs next in which namespace: stop now rather than corrupt state.
    process.stderr.write(`fatal: ${op}: cannot switch back to the host network namespace: ${String(err)}\n`);
    process.abort();
  }
}

/**
 * Creates a named network namespace and returns its path.
 * Equivalent to: `ip netns add <name>`.
 */
export function createNetns(name: string, opts: { runDir?: string } = {}): string {
  const path = entryPath(name, opts.runDir);
  try {
    closeSync(openSync(path, 'wx', 0o444));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NetnsExistsError(path);
    throw err;
  }
  hostNetnsFd();
  let made = false;
  try {
    unshare(CLONE_NEWNET);
    try {
      mount('/proc/thread-self/ns/net', path, 'none', MS_BIND);
      made = true;
    } finally {
      switchBack('create netns');
    }
  } finally {
    if (!made) unlinkSync(path);
  }
  return path;
}

/**
 * Gives the namespace this process runs in a name (a bind mount, like Docker's
 * `/var/run/docker/netns/default`), so it has a path like any other sandbox's. Idempotent.
 */
export function pinCurrentNetns(name: string, opts: { runDir?: string } = {}): string {
  const path = entryPath(name, opts.runDir);
  if (existsSync(path)) {
    const want = statSync('/proc/thread-self/ns/net');
    const have = statSync(path);
    if (have.ino === want.ino && have.dev === want.dev) return path;
    throw new NetnsExistsError(path);
  }
  closeSync(openSync(path, 'wx', 0o444));
  try {
    mount('/proc/thread-self/ns/net', path, 'none', MS_BIND);
  } catch (err) {
    unlinkSync(path);
    throw err;
  }
  return path;
}

/** Opens a namespace (by name under runDir, or by absolute path); the caller closes the fd. */
export function openNetns(nameOrPath: string, opts: { runDir?: string } = {}): number {
  return openReadOnly(resolveNetnsPath(nameOrPath, opts));
}

export function resolveNetnsPath(nameOrPath: string, opts: { runDir?: string } = {}): string {
  if (nameOrPath.startsWith('/')) return nameOrPath;
  validName(nameOrPath);
  return join(netnsDir(opts.runDir), nameOrPath);
}

/**
 * Deletes a named namespace: unmount and remove the file. Returns false when it did not exist
 * (deleting something never created succeeds). Equivalent to: `ip netns del <name>`.
 */
export function deleteNetns(nameOrPath: string, opts: { runDir?: string } = {}): boolean {
  const path = resolveNetnsPath(nameOrPath, opts);
  if (!existsSync(path)) return false;
  try {
    umount2(path, MNT_DETACH);
  } catch (err) {
    // EINVAL: not a mount point (a leftover file of a failed create): just remove it.
    if (!(err instanceof SyscallError) || (err.errno !== EINVAL && err.errno !== ENOENT)) throw err;
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return true;
}

/** The names of the namespaces under runDir. Equivalent to: `ip netns list`. */
export function listNetns(opts: { runDir?: string } = {}): string[] {
  const dir = netnsDir(opts.runDir);
  try {
    return readdirSync(dir).filter((n) => statSync(join(dir, n)).isFile());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Runs `fn` with the calling thread inside the given namespace and switches back before
 * returning, also on exceptions. `fn` must be synchronous: a returned promise is refused,
 * because code after an await would run in whatever namespace the thread is in then.
 * Equivalent to: `ip netns exec <name> ...` for one synchronous function.
 */
export function runInNetns<T>(ns: NetnsRef, fn: () => T): T {
  const fd = 'fd' in ns ? ns.fd : openReadOnly(ns.path);
  hostNetnsFd();
  try {
    setns(fd, CLONE_NEWNET);
    let result: T;
    try {
      result = fn();
    } finally {
      switchBack('runInNetns');
    }
    if (
      result !== null &&
      typeof result === 'object' &&
      typeof (result as { then?: unknown }).then === 'function'
    ) {
      throw new TypeError('runInNetns: the function must be synchronous (it returned a promise)');
    }
    return result;
  } finally {
    if ('path' in ns) close(fd);
  }
}
