/**
 * Listening on a unix socket with a given mode, owner and group, as Docker does for its API
 * socket (go-connections' sockets.NewUnixSocket): the socket is bound under umask 0777 (mode
 * 0000, so nobody but root can connect before it is ready), then chowned and chmodded. A stale
 * socket (nobody listening) left by this daemon's user is removed first; anything else in the way
 * is refused: a file that is not a socket, a socket another daemon answers on, a socket owned by
 * another user (someone else made it: reusing its path could hand them the API).
 *
 * Used for the API socket (`0660 root:<--group>`) and meant for the Docker plugin socket
 * (`/run/docker/plugins/dnet.sock`, `0600` root).
 */
import { readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, rm } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { dirname } from 'node:path';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { DEFAULT_SOCKET_GROUP } from '../defaults.ts';

export interface UnixSocketOptions {
  /** Permission bits of the socket file, e.g. 0o660 (API socket) or 0o600 (plugin socket). */
  mode: number;
  /** The socket's owner. Default: the process's effective uid. */
  uid?: number;
  /** The socket's group. Default: the process's effective gid. */
  gid?: number;
  /** The option name shown in errors (`host`, `plugin-socket`). Default `host`. */
  option?: string;
}

/**
 * Makes `server` (a net, http or https server) listen on the unix socket `path` with the given
 * mode, owner and group; creates the parent directory (0755) if missing. Throws
 * InvalidOptionError when the path is in use or is not this daemon's to take. Main thread only
 * (process.umask cannot be set from a worker).
 */
export async function listenUnixSocket(server: Server, path: string, opts: UnixSocketOptions): Promise<void> {
  const option = opts.option ?? 'host';
  if (!path.startsWith('/'))
    throw new InvalidOptionError(option, path, 'a unix socket needs an absolute path');
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await removeStaleSocket(path, option);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // server.listen binds synchronously (the 'listening' event comes on the next tick): the umask
    // is restored before any other code runs, and the file is born with mode 0000.
    const old = process.umask(0o777);
    try {
      server.listen({ path }, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
  try {
    const uid = opts.uid ?? process.geteuid?.() ?? 0;
    const gid = opts.gid ?? process.getegid?.() ?? 0;
    await chown(path, uid, gid);
    await chmod(path, opts.mode);
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(path, { force: true });
    throw err;
  }
}

/** Removes a socket nobody listens on, if this process's user owns it; refuses anything else. */
async function removeStaleSocket(path: string, option: string): Promise<void> {
  const shown = `unix://${path}`;
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st) return;
  if (!st.isSocket()) {
    throw new InvalidOptionError(
      option,
      shown,
      'the path exists and is not a socket; remove it or choose another',
    );
  }
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new InvalidOptionError(option, shown, 'another daemon is listening on this socket');
  const me = process.geteuid?.() ?? 0;
  if (st.uid !== me) {
    throw new InvalidOptionError(
      option,
      shown,
      `a stale socket owned by uid ${st.uid} (not this daemon's user, uid ${me}) is in the way: ` +
        'find out who made it, then remove it (rm) or choose another path',
    );
  }
  await rm(path, { force: true });
}

/** What `--group` resolved to. */
export interface SocketGroup {
  /** The group ID given to the socket. */
  gid: number;
  /** The group's name in /etc/group, if it has one. */
  name?: string;
  /** Why the socket did not get the group asked for (the default group does not exist). */
  note?: string;
  /** A numeric group that /etc/group does not list (used anyway, as dockerd does). */
  warning?: string;
}

/**
 * Resolves `--group` as dockerd does (daemon/listeners lookupGID): a name or a numeric ID listed
 * in /etc/group; a number /etc/group does not list is used as is (with a warning); a name that
 * does not exist is an error, except the default `dnet`, which then falls back to the process's
 * group (root) with a note; `''` means the process's group.
 */
export function resolveSocketGroup(
  group: string = DEFAULT_SOCKET_GROUP,
  groupFile = '/etc/group',
): SocketGroup {
  const own = process.getegid?.() ?? 0;
  if (group === '') return { gid: own };
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const line of text.split('\n')) {
    const [name, , gidText] = line.split(':');
    if (name === undefined || gidText === undefined || !/^[0-9]+$/.test(gidText)) continue;
    if (name === group || gidText === group) return { gid: Number(gidText), name };
  }
  if (/^[0-9]+$/.test(group)) {
    const gid = Number(group);
    if (gid > 0xfffffffe) throw new InvalidOptionError('group', group, 'a group ID is at most 4294967294');
    return { gid, warning: `group ID ${gid} is not in ${groupFile}: the socket gets it anyway` };
  }
  if (group === DEFAULT_SOCKET_GROUP) {
    return {
      gid: own,
      note: `group ${JSON.stringify(group)} does not exist: the socket's group is the daemon's (gid ${own}); create it (groupadd ${group}) to let its members use dnet`,
    };
  }
  throw new InvalidOptionError(
    'group',
    group,
    `no such group in ${groupFile}: create it (groupadd ${group}), give a numeric group ID, or leave --group out`,
  );
}
