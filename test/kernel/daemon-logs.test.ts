// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
// (world first: the rest of this file only runs inside the throwaway network + mount namespace)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import type { Io } from '../../src/cli/output.ts';
import { DNET_VERSION, startDaemon } from '../../src/daemon/daemon.ts';
import { createLogger } from '../../src/daemon/log.ts';
import { call, waitForPing } from '../helpers/http.ts';

// The daemon's structured logs: JSON lines with a request ID (also the X-Request-Id header), and
// a graceful stop on SIGTERM that keeps the state.

interface LogEntry {
  level: string;
  time: string;
  pid: number;
  msg: string;
  event: string;
  version?: string;
  hosts?: string[];
  runDir?: string;
  dataDir?: string;
  restore?: { restoredNetworks: number; restoredEndpoints: number; rolledBack: string[]; problems: string[] };
  requestId?: string;
  method?: string;
  path?: string;
  status?: number;
  durationMs?: number;
  error?: { code?: string; message: string; stack?: string };
  signal?: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function parseLines(lines: string[]): LogEntry[] {
  return lines.map((l) => {
    const e = JSON.parse(l) as LogEntry;
    assert.equal(typeof e.level, 'string', l);
    assert.match(e.time, /^\d{4}-\d\d-\d\dT[0-9:.]+Z$/, l);
    assert.equal(typeof e.msg, 'string', l);
    assert.equal(typeof e.event, 'string', l);
    return e;
  });
}

/** A GET with request headers; resolves with the status and the X-Request-Id answered. */
function get(
  socketPath: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; requestId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'GET', path, headers }, (res) => {
      res.resume();
      res.on('end', () => {
        const id = res.headers['x-request-id'];
        resolve({ status: res.statusCode ?? 0, requestId: typeof id === 'string' ? id : undefined });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('start, each request (id also in X-Request-Id) and stop are JSON lines', async () => {
  const runDir = join(world.runDir, 'r1');
  const dataDir = join(world.runDir, 'd1');
  const sock = join(world.runDir, 'l1.sock');
  const lines: string[] = [];
  // Its own default bridge: the `dnet daemon` below makes dnet0 in this same world.
  const d = await startDaemon({
    runDir,
    dataDir,
    hosts: [`unix://${sock}`],
    bridgeName: 'dnetlog0',
    log: (l) => lines.push(l),
  });
  let closed = false;
  try {
    const start = parseLines(lines).find((e) => e.event === 'start');
    assert.ok(start, lines.join('\n'));
    assert.equal(start.level, 'info');
    assert.equal(start.pid, process.pid);
    assert.equal(start.version, DNET_VERSION);
    assert.deepEqual(start.hosts, [`unix://${sock}`]);
    assert.equal(start.runDir, runDir);
    assert.equal(start.dataDir, dataDir);
    assert.deepEqual(start.restore, {
      restoredNetworks: 0,
      restoredEndpoints: 0,
      rolledBack: [],
      problems: [],
    });

    const byId = (id: string | undefined) => parseLines(lines).filter((e) => e.requestId === id);

    // No ID from the client: one is made, answered in the header and logged with the request.
    const plain = await get(sock, '/v1.48/networks?filters=%7B%7D');
    assert.equal(plain.status, 200);
    assert.match(plain.requestId ?? '', UUID_RE);
    const [line, ...more] = byId(plain.requestId);
    assert.ok(line);
    assert.deepEqual(more, []);
    assert.equal(line.event, 'request');
    assert.equal(line.level, 'info');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/v1.48/networks?filters=%7B%7D');
    assert.equal(line.status, 200);
    assert.equal(typeof line.durationMs, 'number');
    assert.ok((line.durationMs ?? -1) >= 0);
    assert.equal(line.error, undefined);

    // The client's ID is kept; an unusable one (spaces, too long) is replaced.
    const mine = await get(sock, '/_ping', { 'X-Request-Id': 'trace-7f3a:1' });
    assert.equal(mine.requestId, 'trace-7f3a:1');
    assert.equal(byId('trace-7f3a:1')[0]?.path, '/_ping');
    for (const bad of ['has space', 'x'.repeat(129)]) {
      const r = await get(sock, '/_ping', { 'X-Request-Id': bad });
      assert.match(r.requestId ?? '', UUID_RE);
      assert.equal(byId(r.requestId).length, 1);
    }

    // Errors: the status and the error's code.
    const missing = await get(sock, '/networks/nope', { 'X-Request-Id': 'err-1' });
    assert.equal(missing.status, 404);
    const e404 = byId('err-1')[0];
    assert.equal(e404?.status, 404);
    assert.equal(e404?.error?.code, 'ERR_UNKNOWN_NETWORK');
    assert.match(e404?.error?.message ?? '', /network "nope" not found/);
    assert.equal(e404?.error?.stack, undefined, 'no stack for an answer to a bad request');
    const page = await get(sock, '/nowhere', { 'X-Request-Id': 'err-2' });
    assert.equal(page.status, 404);
    assert.equal(byId('err-2')[0]?.error?.code, 'ERR_PAGE_NOT_FOUND');
    const created = await call(sock, 'POST', '/networks/create', {
      Name: 'x',
      Driver: 'bridge',
      Internal: 'no',
    });
    assert.equal(created.status, 400);
    const last = parseLines(lines).at(-1);
    assert.equal(last?.path, '/networks/create');
    assert.equal(last?.error?.code, 'ERR_BAD_REQUEST');

    await d.close();
    closed = true;
    const all = parseLines(lines);
    assert.equal(all.at(-1)?.event, 'stop');
    assert.equal(all.at(-1)?.level, 'info');
  } finally {
    if (!closed) await d.close();
  }
});

test('the log level: lines under it are not written', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', sink: (l) => lines.push(l) });
  log.info({ event: 'request' }, 'not written');
  log.warn({ event: 'warning' }, 'written');
  assert.deepEqual(
    parseLines(lines).map((e) => [e.level, e.msg]),
    [['warn', 'written']],
  );
});

test('dnet daemon --log-level takes a level', async () => {
  let err = '';
  const io: Io = {
    out: () => {},
    err: (t) => {
      err += t;
    },
    env: {},
    readLine: async () => undefined,
  };
  assert.equal(await main(['daemon', '--log-level', 'loud'], io), 2);
  assert.match(err, /invalid --log-level "loud": use one of trace, debug, info, warn, error, fatal, silent/);
});

test('SIGTERM on `dnet daemon`: a stop line, the socket removed, exit 0, and the state kept', async () => {
  const runDir = join(world.runDir, 'r2');
  const dataDir = join(world.runDir, 'd2');
  const sock = join(world.runDir, 'l2.sock');
  const child = spawn(
    process.execPath,
    [
      // The build (dist/, as the package runs it): it starts in a fraction of tsx's time on a busy machine.
      join(world.root, 'dist/cli/bin.js'),
      'daemon',
      '--run-dir',
      runDir,
      '--data-dir',
      dataDir,
      '--host',
      `unix://${sock}`,
      '--log-level',
      'info',
    ],
    { cwd: world.root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let created: Awaited<ReturnType<typeof call>>;
  try {
    await Promise.race([
      waitForPing(sock),
      exited.then((code) => assert.fail(`dnet daemon exited (${code}) before answering:\n${stderr}`)),
    ]);
    created = await call(sock, 'POST', '/networks/create', {
      Name: 'kept',
      IPAM: { Config: [{ Subnet: '10.66.0.0/24' }] },
    });
    assert.equal(created.status, 201);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  assert.equal(stdout, '', 'the daemon writes nothing on stdout');
  assert.ok(!existsSync(sock), 'the socket is gone');
  const entries = parseLines(stderr.trimEnd().split('\n'));
  assert.equal(entries[0]?.event, 'start');
  assert.equal(entries[0]?.pid, child.pid);
  const create = entries.find((e) => e.event === 'request' && e.method === 'POST');
  assert.equal(create?.path, '/networks/create');
  assert.equal(create?.status, 201);
  const signal = entries.find((e) => e.event === 'signal');
  assert.equal(signal?.signal, 'SIGTERM');
  assert.match(signal?.msg ?? '', /SIGTERM: shutting down/);
  assert.equal(entries.at(-1)?.event, 'stop', stderr);

  // The state survived: a new daemon on the same directories has the network, and says what it
  // restored.
  const lines: string[] = [];
  const d = await startDaemon({ runDir, dataDir, hosts: [`unix://${sock}`], log: (l) => lines.push(l) });
  try {
    const got = await call(sock, 'GET', '/networks/kept');
    assert.equal(got.status, 200);
    assert.equal((got.json as { Id: string }).Id, (created.json as { Id: string }).Id);
    const start = parseLines(lines).find((e) => e.event === 'start');
    assert.equal(start?.restore?.restoredNetworks, 4, 'bridge, host, none and kept');
    assert.deepEqual(start?.restore?.problems, []);
  } finally {
    await d.close();
  }

  // logLevel: lines under it are not written.
  const quiet: string[] = [];
  const q = await startDaemon({
    runDir,
    dataDir,
    hosts: [`unix://${sock}`],
    logLevel: 'warn',
    log: (l) => quiet.push(l),
  });
  try {
    assert.equal((await call(sock, 'GET', '/networks/kept')).status, 200);
  } finally {
    await q.close();
  }
  assert.deepEqual(quiet, [], 'logLevel warn: no start, request or stop line');
});
