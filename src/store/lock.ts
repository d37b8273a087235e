/**
 * One dnet per data directory. LMDB itself lets several processes share an environment, but dnet
 * keeps watches and the revision counter in-process, so a second writer would silently break
 * them: the data directory is locked with `<dir>/dnet.lock`.
 *
 * Node has no flock(2), so the lock is a pid file created atomically (written to a temporary file,
 * then link(2)ed into place, which fails if the lock exists) holding the owner's pid and its start
 * time (field 22 of /proc/<pid>/stat). The lock is held while a process with that pid and that
 * start time runs; otherwise it is stale (the owner crashed or was killed: SIGKILL leaves the
 * file) and is taken over. The start time guards against pid reuse, for example a restarted
 * container whose dnet is pid 1 again.
 *
 * Taking over a stale lock is serialised by a second exclusive file, `dnet.lock.takeover`, so two
 * dnets starting at once after a crash cannot both remove the stale lock and both believe they
 * hold it: the one that gets the takeover file re-reads the lock, removes it only if it is still
 * the same stale content, and both then race on link(2), which exactly one wins.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreLockedError, StoreUnavailableError } from './errors.ts';

export const LOCK_FILE = 'dnet.lock';
const TAKEOVER_FILE = 'dnet.lock.takeover';
/** A takeover file older than this was left by a process that died while taking over. */
const TAKEOVER_STALE_MS = 10_000;

interface LockContent {
  pid: number;
  /** The owner's start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  start: string;
}

export interface DirLock {
  /** The lock file's path. */
  readonly path: string;
  /** Removes the lock file if it is still this process's. Idempotent. */
  release(): Promise<void>;
}

/** The start time of process `pid`, or undefined if there is no such process. */
async function processStart(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields resume after the last ")".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19]; // field 22 overall; fields[0] is field 3 (state)
}

function parseLock(text: string): LockContent | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null) return undefined;
    const { pid, start } = v as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid < 1 || typeof start !== 'string') {
      return undefined;
    }
    return { pid, start };
  } catch {
    return undefined;
  }
}

async function readLock(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether the lock's owner still runs (a malformed lock, never written by dnet's link(2), is stale). */
async function isHeld(content: LockContent | undefined): Promise<boolean> {
  if (content === undefined) return false;
  const start = await processStart(content.pid);
  return start !== undefined && start === content.start;
}

async function removeIfUnchanged(dir: string, path: string, staleText: string): Promise<void> {
  const takeover = join(dir, TAKEOVER_FILE);
  try {
    await writeFile(takeover, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Someone else is taking over; if they died doing it, clear their file and try again later.
    const age = await stat(takeover).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > TAKEOVER_STALE_MS) await unlink(takeover).catch(() => undefined);
    return;
  }
  try {
    if ((await readLock(path)) === staleText) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(takeover).catch(() => undefined);
  }
}

/**
 * Takes `<dir>/dnet.lock` (creating `dir`, mode 0700, if needed); StoreLockedError if another live
 * process (or this one, through another store) holds it.
 */
export async function lockDataDir(dir: string): Promise<DirLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOCK_FILE);
  const start = await processStart(process.pid);
  if (start === undefined) {
    throw new StoreUnavailableError(
      'lmdb',
      `lock ${path}`,
      'cannot read /proc/self/stat (is /proc mounted?)',
    );
  }
  const mine = `${JSON.stringify({ pid: process.pid, start } satisfies LockContent)}\n`;
  const tmp = join(dir, `.${LOCK_FILE}.${process.pid}.${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, mine, { mode: 0o644 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, path); // atomic: fails with EEXIST if a lock exists
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = await readLock(path);
      if (text === undefined) continue; // released meanwhile: try again
      const content = parseLock(text);
      if (await isHeld(content)) throw new StoreLockedError(dir, path, content!.pid);
      if (attempt >= 50) {
        throw new StoreUnavailableError(
          'lmdb',
          `lock ${path}`,
          'the stale lock keeps being replaced by another process',
        );
      }
      await removeIfUnchanged(dir, path, text);
      if (attempt > 0) await sleep(20);
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }

  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      if ((await readLock(path)) === mine) await unlink(path).catch(() => undefined);
    },
  };
}
