import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import type { Io } from '../../src/cli/output.ts';
import { listenUnixSocket } from '../../src/daemon/api/unix-socket.ts';
import { startDaemon } from '../../src/daemon/daemon.ts';
import { world } from '../harness/world.ts';
import { startDaemonProcess } from '../helpers/daemon-process.ts';

// Who may use dnet's unix sockets: mode, owner and group (checked with stat), and a user that is
// not root (a uid and gid that exist nowhere: setpriv, no account is made) trying to connect.

// The world's run directory is 0700 (mkdtemp): the other user must be able to walk to the sockets.
chmodSync(world.runDir, 0o755);
const UID = 12345;
const GID = 12346; // in no /etc/group

/** `stat` of a path: mode (octal), uid, gid. */
function stat(path: string): string {
  return execFileSync('stat', ['-c', '%a %u %g', path], { encoding: 'utf8' }).trim();
}

const PING = `require('http').get({ socketPath: process.argv[1], path: '/_ping' }, (res) => {
  let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => console.log(res.statusCode + ' ' + b));
}).on('error', (e) => console.log(e.code));`;

/** GET /_ping on the socket as uid 12345, with these supplementary groups: "200 OK" or an errno. */
function pingAs(path: string, groups: number[]): Promise<string> {
  const who = ['--reuid', String(UID), '--regid', String(UID)];
  const g = groups.length > 0 ? ['--groups', groups.join(',')] : ['--clear-groups'];
  return new Promise((resolve, reject) => {
    // Asynchronous: a daemon may run in this process.
    execFile(
      'setpriv',
      [...who, ...g, process.execPath, '-e', PING, path],
      { cwd: '/', encoding: 'utf8' },
      (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out.trim())),
    );
  });
}

async function dnet(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const io: Io = {
    out: () => {},
    err: (t) => {
      err += t;
    },
    env: {},
    readLine: async () => undefined,
  };
  return { code: await main(args, io), err };
}

const runDir = join(world.runDir, 'run');
const dataDir = join(world.runDir, 'data');
const sock = join(runDir, 'dnet.sock');

describe("the API socket's owner, group and mode", () => {
  test('default: 0660 root:root (no group "dnet" here), and the start line says why', async () => {
    const lines: string[] = [];
    const d = await startDaemon({ runDir, dataDir, log: (l) => lines.push(l) });
    try {
      assert.equal(stat(sock), '660 0 0');
      const start = lines.map((l) => JSON.parse(l)).find((e) => e.event === 'start');
      assert.deepEqual(start.socketGroup, { gid: 0 });
      assert.match(
        start.note,
        /^group "dnet" does not exist: the socket's group is the daemon's \(gid 0\); create it \(groupadd dnet\)/,
      );
      assert.equal(await pingAs(sock, []), 'EACCES', 'a user that is not root cannot connect');
      assert.equal(await pingAs(sock, [GID]), 'EACCES', 'nor with a group that is not the socket’s');
      assert.equal(await pingAs(sock, [0]), '200 OK', "a member of the socket's group can");
    } finally {
      await d.close();
    }
  });

  test('dnet daemon --group GID: root:GID 0660; the user gets in only with that group', async () => {
    const d = await startDaemonProcess(world.root, [
      '--run-dir',
      runDir,
      '--data-dir',
      dataDir,
      '--group',
      String(GID),
    ]);
    try {
      assert.equal(stat(sock), `660 0 ${GID}`);
      assert.equal(await pingAs(sock, []), 'EACCES');
      assert.equal(await pingAs(sock, [GID]), '200 OK');
      const warning = d.entries().find((e) => e.event === 'warning');
      assert.match(
        warning?.msg ?? '',
        new RegExp(`group ID ${GID} is not in /etc/group: the socket gets it anyway`),
      );
      assert.deepEqual(d.entries().find((e) => e.event === 'start')?.socketGroup, { gid: GID });
    } finally {
      assert.equal(await d.stop(), 0);
    }
    assert.ok(!existsSync(sock), 'the socket is removed at stop');
  });

  test('a group name: found in /etc/group, or refused before anything starts', async () => {
    const lines: string[] = [];
    const d = await startDaemon({ runDir, dataDir, group: 'root', log: (l) => lines.push(l) });
    try {
      assert.equal(stat(sock), '660 0 0');
    } finally {
      await d.close();
    }
    const r = await dnet([
      'daemon',
      '--run-dir',
      runDir,
      '--data-dir',
      join(world.runDir, 'unused'),
      '-G',
      'no-such-group-here',
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /cannot start: invalid value \\"no-such-group-here\\" for option \\"group\\": no such group in \/etc\/group: create it \(groupadd no-such-group-here\), give a numeric group ID, or leave --group out/,
    );
    assert.ok(!existsSync(join(world.runDir, 'unused')), 'nothing was started');
  });
});

describe('listenUnixSocket (the API socket, and the Docker plugin socket: 0600 root)', () => {
  const dir = join(world.runDir, 'sockets');
  mkdirSync(dir, { mode: 0o1777 });
  chmodSync(dir, 0o1777); // as /tmp: anyone may make a socket here
  const servers: Server[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
  const serve = () => {
    const s = createServer((c) => {
      c.on('error', () => {}); // the liveness check of listenUnixSocket connects and hangs up at once
      c.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK');
    });
    servers.push(s);
    return s;
  };

  test('0600 root: not even a member of root’s group gets in', async () => {
    const path = join(dir, 'plugin.sock');
    const server = serve();
    // Bound under umask 0777: until it is chmodded, nobody but root can connect.
    let born = -1;
    server.once('listening', () => {
      born = statSync(path).mode & 0o777;
    });
    await listenUnixSocket(server, path, { mode: 0o600, uid: 0, gid: 0 });
    assert.equal(born, 0);
    assert.equal(stat(path), '600 0 0');
    assert.equal(await pingAs(path, [0]), 'EACCES');
  });

  test('a stale socket of another user is refused and left alone; one of ours is reused; a live one is refused', async () => {
    // A socket uid 12345 made, then died without removing it.
    const theirs = join(dir, 'theirs.sock');
    spawnSync(
      'setpriv',
      [
        '--reuid',
        String(UID),
        '--regid',
        String(UID),
        '--clear-groups',
        process.execPath,
        '-e',
        `require('net').createServer().listen(${JSON.stringify(theirs)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ],
      { cwd: '/' },
    );
    assert.equal(stat(theirs).split(' ')[1], String(UID), 'the other user left its socket');
    await assert.rejects(
      listenUnixSocket(serve(), theirs, { mode: 0o660 }),
      /invalid value "unix:\/\/.*theirs\.sock" for option "host": a stale socket owned by uid 12345 \(not this daemon's user, uid 0\) is in the way: find out who made it, then remove it \(rm\) or choose another path/,
    );
    assert.equal(stat(theirs).split(' ')[1], String(UID), 'it is still there');

    const ours = join(dir, 'ours.sock');
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(ours)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    assert.ok(existsSync(ours));
    await listenUnixSocket(serve(), ours, { mode: 0o660 });
    assert.equal(stat(ours), '660 0 0');

    await assert.rejects(
      listenUnixSocket(serve(), ours, { mode: 0o660 }),
      /another daemon is listening on this socket/,
    );
  });
});
