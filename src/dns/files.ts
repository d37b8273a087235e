/**
 * Writing a container's /etc/hosts and /etc/resolv.conf (no child process). The files are a few
 * hundred bytes: they are written with synchronous calls (tens of microseconds) rather than
 * through libuv's thread pool (a hop per call: ~1.5 ms for a container's two files), behind
 * promise-returning functions that keep a per-path queue.
 *
 * Two ways to replace a file's content:
 * - writeFileAtomic: a temporary file in the same directory, then rename(2) over the target. A
 *   reader sees the old file or the new one, never a mix. Used when a file is (re)built, before
 *   the container uses it.
 * - rewriteFileInPlace: the same inode, new bytes written over the old, then truncated. Used for
 *   updates to a file a running container may have bind-mounted (as Docker mounts HostsPath and
 *   ResolvConfPath): a bind mount pins the inode, so a rename would never reach the container.
 *   This is what Docker's etchosts.Add/Delete and resolvconf.WriteFile do.
 *
 * Changes to one path are serialised in this process (a per-path queue), so two endpoints
 * joining at once cannot lose each other's records between read and write.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { readFile, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  addHostsRecords,
  buildHosts,
  type HostsOptions,
  type HostsRecord,
  removeHostsRecords,
} from './hosts.ts';
import {
  buildResolvConf,
  parseResolvConf,
  type ResolvConfOptions,
  type ResolvConfResult,
} from './resolv-conf.ts';

/** Mode of the generated files (world-readable: processes in the container run as any user). */
export const FILE_MODE = 0o644;
/** Mode of directories created for them. */
export const DIR_MODE = 0o755;

/** The host's resolv.conf, and where systemd-resolved keeps the real upstream servers. */
export const HOST_RESOLV_CONF = '/etc/resolv.conf';
export const SYSTEMD_RESOLV_CONF = '/run/systemd/resolve/resolv.conf';

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` after every earlier call for the same path has settled, then the next one. */
export function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const key = resolve(path);
  const prev = queues.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return run;
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

function writeAtomicUnlocked(path: string, content: string, mode: number, fsync: boolean): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      writeAll(fd, Buffer.from(content, 'utf8'), 0);
      fchmodSync(fd, mode); // the umask may have taken bits away at open
      if (fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
}

function writeAll(fd: number, buf: Buffer, at: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, at + off);
}

/**
 * Replaces `path`'s content atomically: writes a temporary file next to it (mode 0644 unless
 * told), then renames it over `path`. Creates the parent directories (0755). `fsync` flushes the
 * data first (off by default: these files are rebuilt from the store after a crash anyway).
 */
export function writeFileAtomic(
  path: string,
  content: string,
  opts: { mode?: number; fsync?: boolean } = {},
): Promise<void> {
  return withFileLock(path, async () =>
    writeAtomicUnlocked(path, content, opts.mode ?? FILE_MODE, opts.fsync === true),
  );
}

function rewriteInPlaceUnlocked(path: string, content: string): void {
  const fd = openSync(path, 'r+');
  try {
    // New bytes first, then cut the tail: a reader never finds the file empty.
    const buf = Buffer.from(content, 'utf8');
    writeAll(fd, buf, 0);
    ftruncateSync(fd, buf.length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the content of the existing file `path`, keeping its inode (so bind mounts of it see
 * the change). Fails with ENOENT when the file does not exist.
 */
export function rewriteFileInPlace(path: string, content: string): Promise<void> {
  return withFileLock(path, async () => rewriteInPlaceUnlocked(path, content));
}

/** Removes `path`; true if it existed. */
export function removeFile(path: string): Promise<boolean> {
  return withFileLock(path, async () => {
    try {
      unlinkSync(path);
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  });
}

/** Removes the directory `dir` if it is empty (or missing); true if it is gone. */
export async function removeDirIfEmpty(dir: string): Promise<boolean> {
  try {
    await rmdir(dir);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return true;
    if (isErrno(err, 'ENOTEMPTY') || isErrno(err, 'EEXIST')) return false;
    throw err;
  }
}

/** Removes a container's files directory (`hosts`, `resolv.conf` and anything else in it). */
export async function removeContainerFilesDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

// --- hosts ---------------------------------------------------------------------------------

/** Builds a container's hosts file (src/dns/hosts.ts) and writes it atomically. Returns the content. */
export async function writeHostsFile(path: string, opts: HostsOptions = {}): Promise<string> {
  const content = buildHosts(opts);
  await writeFileAtomic(path, content);
  return content;
}

/**
 * Adds records to an existing hosts file, in place (records already present are skipped). For the
 * addresses of endpoints that join later.
 */
export function addHostsFileRecords(
  path: string,
  records: readonly HostsRecord[],
  opts: { ipv6?: boolean } = {},
): Promise<void> {
  if (records.length === 0) return Promise.resolve();
  return withFileLock(path, async () => {
    const old = readFileSync(path, 'utf8');
    const next = addHostsRecords(old, records, opts);
    if (next !== old) rewriteInPlaceUnlocked(path, next);
  });
}

/** Removes records (same address, same names) from an existing hosts file, in place. */
export function removeHostsFileRecords(path: string, records: readonly HostsRecord[]): Promise<void> {
  if (records.length === 0) return Promise.resolve();
  return withFileLock(path, async () => {
    const old = readFileSync(path, 'utf8');
    const next = removeHostsRecords(old, records);
    if (next !== old) rewriteInPlaceUnlocked(path, next);
  });
}

// --- resolv.conf ---------------------------------------------------------------------------

/**
 * The host resolv.conf to derive containers' from, as Docker's resolvconf.Path: when
 * /etc/resolv.conf lists only systemd-resolved's stub (127.0.0.53), which a container cannot
 * reach, the file with resolved's upstream servers, if it exists.
 */
export async function hostResolvConfPath(
  candidates: { path?: string; systemdPath?: string } = {},
): Promise<string> {
  const path = candidates.path ?? HOST_RESOLV_CONF;
  const systemdPath = candidates.systemdPath ?? SYSTEMD_RESOLV_CONF;
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch {
    return path;
  }
  const ns = parseResolvConf(content).nameservers;
  if (ns.length === 1 && ns[0] === '127.0.0.53') {
    try {
      if ((await stat(systemdPath)).isFile()) return systemdPath;
    } catch {
      // not there: keep the stub file (its loopback server is then replaced by the defaults)
    }
  }
  return path;
}

/** The content of a host resolv.conf, or '' when it does not exist (then the defaults apply). */
export async function readHostResolvConf(path: string = HOST_RESOLV_CONF): Promise<string> {
  return readFileIfExists(path);
}

/** A small text file's content (one read(2), no thread-pool hop), or '' when it does not exist. */
export function readFileIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return '';
    throw err;
  }
}

/**
 * Builds a container's resolv.conf from the host's (`hostPath`, default: hostResolvConfPath())
 * and writes it: atomically, or in place with `inPlace` (for a file a running container has
 * mounted; it must exist).
 */
export async function writeResolvConfFile(
  path: string,
  opts: ResolvConfOptions & { hostPath?: string; inPlace?: boolean } = {},
): Promise<ResolvConfResult> {
  const hostPath = opts.hostPath ?? (await hostResolvConfPath());
  const host = await readHostResolvConf(hostPath);
  const result = buildResolvConf(host, { ...opts, sourcePath: opts.sourcePath ?? hostPath });
  if (opts.inPlace) await rewriteFileInPlace(path, result.content);
  else await writeFileAtomic(path, result.content);
  return result;
}
