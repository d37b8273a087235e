import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { type IncomingHttpHeaders, request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.ts';
import { world } from '../harness/world.ts';
import { dockerCli } from '../helpers/docker-cli.ts';
import { call } from '../helpers/http.ts';

// GET /events against a daemon in the world: a plain HTTP client, dockerode, the docker CLI
// and `dnet events`, with the network operations done through the API.

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
const sock = join(world.runDir, 'events.sock');
let daemon: Daemon;
let closed = false;

before(async () => {
  daemon = await startDaemon({
    runDir: join(world.runDir, 'dnet'),
    dataDir: join(world.runDir, 'data'),
    hosts: [`unix://${sock}`],
    pluginSocket: '',
    log: () => {},
  });
});

after(async () => {
  if (!closed) await daemon.close();
});

const api = async (method: string, path: string, body?: unknown) => {
  const r = await call(sock, method, path, body);
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r;
};

/** A GET /events stream: its lines as they come, its headers, its end. */
interface Stream {
  lines: string[];
  headers: Promise<{ status: number; headers: IncomingHttpHeaders }>;
  ended: Promise<string>;
  waitFor(n: number, ms?: number): Promise<string[]>;
  close(): void;
}

function openEvents(query: Record<string, string>, accept?: string): Stream {
  const lines: string[] = [];
  let text = '';
  const path = `/v1.48/events?${new URLSearchParams(query)}`;
  let resolveHeaders!: (h: { status: number; headers: IncomingHttpHeaders }) => void;
  let resolveEnd!: (t: string) => void;
  const headers = new Promise<{ status: number; headers: IncomingHttpHeaders }>((r) => {
    resolveHeaders = r;
  });
  const ended = new Promise<string>((r) => {
    resolveEnd = r;
  });
  const req = request({ socketPath: sock, path, headers: accept ? { Accept: accept } : {} }, (res) => {
    resolveHeaders({ status: res.statusCode ?? 0, headers: res.headers });
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
      const parts = text.split('\n');
      text = parts.pop() ?? '';
      lines.push(...parts.filter((l) => l !== ''));
    });
    res.on('end', () => resolveEnd(text));
    res.on('error', () => resolveEnd(text));
  });
  req.on('error', () => resolveEnd(text));
  req.end();
  return {
    lines,
    headers,
    ended,
    async waitFor(n, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (lines.length < n && Date.now() < deadline) await sleep(20);
      assert.ok(lines.length >= n, `expected ${n} events, got ${lines.length}: ${lines.join('\n')}`);
      return lines;
    },
    close: () => req.destroy(),
  };
}

/** The events of a finished range (since..until), as parsed objects. */
async function range(query: Record<string, string>): Promise<Ev[]> {
  const s = openEvents(query);
  await s.ended;
  return s.lines.map((l) => JSON.parse(l) as Ev);
}

interface Ev {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
  time: number;
  timeNano: number;
}

const nowTs = () => (Date.now() / 1000).toFixed(3);
// An `until` after everything logged so far: the daemon stamps events with nanoseconds kept within
// 1 ms of the wall clock, and `nowTs` has milliseconds, so the last event can be a fraction of a
// millisecond past it.
const untilTs = () => ((Date.now() + 2) / 1000).toFixed(3);
const filters = (f: Record<string, string[]>) =>
  JSON.stringify(
    Object.fromEntries(Object.entries(f).map(([k, vs]) => [k, Object.fromEntries(vs.map((v) => [v, true]))])),
  );

/** The ID of the container the daemon made for a name (by its first connect). */
async function containerId(network: string, name: string): Promise<string> {
  const n = (await api('GET', `/networks/${network}`)).json as {
    Containers: Record<string, { Name: string }>;
  };
  const id = Object.entries(n.Containers).find(([, c]) => c.Name === name)?.[0];
  assert.ok(id, `${name} is on ${network}`);
  return id;
}

/** create, connect, disconnect, rm, prune of one network: its ID and the container's. */
async function lifecycle(
  name: string,
  container: string,
  subnet: string,
): Promise<{ id: string; cid: string }> {
  const create = await api('POST', '/networks/create', {
    Name: name,
    IPAM: { Config: [{ Subnet: subnet }] },
  });
  const id = (create.json as { Id: string }).Id;
  await api('POST', `/networks/${name}/connect`, { Container: container });
  const cid = await containerId(name, container);
  await api('POST', `/networks/${name}/disconnect`, { Container: container });
  await api('DELETE', `/networks/${name}`);
  await api('POST', '/networks/prune');
  return { id, cid };
}

describe('GET /events', () => {
  test("a live stream gets create, connect, disconnect, destroy and prune in Docker's shape", async () => {
    const s = openEvents({ filters: filters({ type: ['network'] }) });
    const { status, headers } = await s.headers;
    assert.equal(status, 200);
    assert.equal(headers['content-type'], 'application/json');
    const { id, cid } = await lifecycle('ev-live', 'ev-c1', '10.71.0.0/24');
    const lines = await s.waitFor(5);
    s.close();
    const evs = lines.map((l) => JSON.parse(l) as Ev);
    assert.deepEqual(
      evs.map((e) => [e.Action, e.Actor.ID]),
      [
        ['create', id],
        ['connect', id],
        ['disconnect', id],
        ['destroy', id],
        ['prune', ''],
      ],
    );
    const attrs = { name: 'ev-live', type: 'bridge' };
    assert.deepEqual(evs[0]!.Actor.Attributes, attrs);
    // The container's ID, as dockerd names it (dnet made one for the name on its first connect).
    assert.match(cid, /^[0-9a-f]{64}$/);
    assert.deepEqual(evs[1]!.Actor.Attributes, { ...attrs, container: cid });
    assert.deepEqual(evs[2]!.Actor.Attributes, { ...attrs, container: cid });
    assert.deepEqual(evs[3]!.Actor.Attributes, attrs);
    assert.deepEqual(evs[4]!.Actor.Attributes, { reclaimed: '0' });
    for (const [i, l] of lines.entries()) {
      // Go's field order and an exact nanosecond timestamp whose seconds are `time`.
      assert.deepEqual(Object.keys(JSON.parse(l)), ['Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
      const nano = /"timeNano":(\d+)\}$/.exec(l)?.[1];
      assert.ok(nano && nano.length === 19, l);
      assert.equal(BigInt(evs[i]!.time), BigInt(nano) / 1_000_000_000n);
      assert.equal(evs[i]!.Type, 'network');
      assert.equal(evs[i]!.scope, 'local');
      assert.ok(Math.abs(evs[i]!.time * 1000 - Date.now()) < 60_000);
    }
  });

  test('since and until replay the kept events and end; filters as Docker applies them', async () => {
    const since = nowTs();
    const { id, cid } = await lifecycle('ev-range', 'ev-c2', '10.72.0.0/24');
    const other = await lifecycle('ev-other', 'ev-c3', '10.73.0.0/24');
    const until = untilTs();
    const all = await range({ since, until });
    assert.deepEqual(
      all.map((e) => e.Action),
      [
        'create',
        'connect',
        'disconnect',
        'destroy',
        'prune',
        'create',
        'connect',
        'disconnect',
        'destroy',
        'prune',
      ],
    );
    const byNetwork = await range({ since, until, filters: filters({ network: ['ev-range'] }) });
    assert.deepEqual(
      byNetwork.map((e) => [e.Action, e.Actor.ID]),
      ['create', 'connect', 'disconnect', 'destroy'].map((a) => [a, id]),
    );
    // A prefix of the ID matches too (moby's FuzzyMatch).
    assert.equal((await range({ since, until, filters: filters({ network: [id.slice(0, 12)] }) })).length, 4);
    const connects = await range({ since, until, filters: filters({ event: ['connect', 'disconnect'] }) });
    assert.deepEqual(
      connects.map((e) => [e.Action, e.Actor.Attributes.container]),
      [
        ['connect', cid],
        ['disconnect', cid],
        ['connect', other.cid],
        ['disconnect', other.cid],
      ],
    );
    // label matches Actor.Attributes: the container of a connect is one of them.
    const byLabel = await range({ since, until, filters: filters({ label: [`container=${other.cid}`] }) });
    assert.deepEqual(
      byLabel.map((e) => e.Action),
      ['connect', 'disconnect'],
    );
    // As in Docker: `container=` matches the actor, which for a network event is the network.
    assert.deepEqual(await range({ since, until, filters: filters({ container: [cid, 'ev-c2'] }) }), []);
    assert.deepEqual(await range({ since, until, filters: filters({ type: ['container'] }) }), []);
    // until alone replays everything kept up to it.
    const upTo = await range({ until });
    assert.ok(upTo.length >= all.length);
    assert.deepEqual(upTo.slice(-all.length), all);
    // Without since or until nothing is replayed (the stream starts now).
    const live = openEvents({});
    await live.headers;
    await sleep(100);
    live.close();
    assert.deepEqual(live.lines, []);
  });

  test('until in the future: the stream ends then', async () => {
    const started = Date.now();
    // (until alone would replay every kept event first, as dockerd does)
    const s = openEvents({ since: nowTs(), until: ((Date.now() + 700) / 1000).toFixed(3) });
    await api('POST', '/networks/create', { Name: 'ev-until' });
    await s.ended;
    const took = Date.now() - started;
    assert.ok(took >= 600 && took < 5000, `ended after ${took} ms`);
    assert.deepEqual(
      s.lines.map((l) => (JSON.parse(l) as Ev).Actor.Attributes.name),
      ['ev-until'],
    );
    await api('DELETE', '/networks/ev-until');
  });

  test('until a month away: the stream stays open (beyond the longest timer)', async () => {
    const month = ((Date.now() + 30 * 24 * 3600_000) / 1000).toFixed(3);
    const s = openEvents({ since: nowTs(), until: month });
    let ended = false;
    void s.ended.then(() => {
      ended = true;
    });
    await s.headers;
    await api('POST', '/networks/create', { Name: 'ev-month' });
    await s.waitFor(1);
    await sleep(200);
    assert.equal(ended, false);
    s.close();
    await api('DELETE', '/networks/ev-month');
  });

  test('Accept: application/jsonl and application/json-seq (RS before each message)', async () => {
    const since = nowTs();
    await api('POST', '/networks/create', { Name: 'ev-accept' });
    await api('DELETE', '/networks/ev-accept');
    const until = untilTs();
    const jsonl = openEvents({ since, until }, 'application/jsonl, application/x-ndjson;q=0.9');
    assert.equal((await jsonl.headers).headers['content-type'], 'application/jsonl');
    await jsonl.ended;
    assert.equal(jsonl.lines.length, 2);
    const seq = openEvents({ since, until }, 'application/json-seq');
    assert.equal((await seq.headers).headers['content-type'], 'application/json-seq');
    await seq.ended;
    assert.equal(seq.lines.length, 2);
    for (const l of seq.lines) {
      assert.equal(l.charCodeAt(0), 0x1e);
      assert.equal((JSON.parse(l.slice(1)) as Ev).Type, 'network');
    }
  });

  test("bad since, until or filters: 400 with dockerd's messages", async () => {
    const bad = async (q: string) => call(sock, 'GET', `/v1.48/events?${q}`);
    let r = await bad('since=yesterday');
    assert.equal(r.status, 400);
    assert.match(
      (r.json as { message: string }).message,
      /^invalid value for 'since': invalid timestamp "yesterday"/,
    );
    r = await bad('until=12.x');
    assert.equal(r.status, 400);
    assert.match((r.json as { message: string }).message, /^invalid value for 'until'/);
    r = await bad('since=200&until=100');
    assert.equal(r.status, 400);
    assert.equal(
      (r.json as { message: string }).message,
      '`since` time (200) cannot be after `until` time (100)',
    );
    r = await bad('filters=notjson');
    assert.equal(r.status, 400);
  });
});

describe('clients of GET /events', () => {
  let since = '';
  let until = '';
  let id = '';
  let cid = '';
  before(async () => {
    since = nowTs();
    ({ id, cid } = await lifecycle('ev-clients', 'ev-c4', '10.74.0.0/24'));
    until = untilTs();
  });

  test('dockerode getEvents with since, until and filters', async () => {
    const docker = new Docker({ socketPath: sock });
    const stream = (await docker.getEvents({
      since: Number(since),
      until: Number(until),
      filters: { type: ['network'], network: ['ev-clients'] },
    })) as NodeJS.ReadableStream;
    let text = '';
    for await (const c of stream) text += String(c);
    const evs = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Ev);
    assert.deepEqual(
      evs.map((e) => [e.Action, e.Actor.ID]),
      ['create', 'connect', 'disconnect', 'destroy'].map((a) => [a, id]),
    );
  });

  const run = (bin: string, args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      // Asynchronous: the daemon runs in this process.
      execFile(bin, args, { env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ status: err ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
      });
    });
  const dnet = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', join(root, 'bin/dnet.js'), '-H', `unix://${sock}`, ...args], {
      ...process.env,
      TZ: 'UTC',
    });

  test('dnet events prints them as docker events does (text, and --format json)', async () => {
    const r = await dnet('events', '--since', since, '--until', until, '--filter', 'network=ev-clients');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 4);
    assert.match(
      lines[1]!,
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z network connect ${id} \\(container=${cid}, name=ev-clients, type=bridge\\)$`,
      ),
    );
    const j = await dnet(
      'events',
      '--since',
      since,
      '--until',
      until,
      '-f',
      'event=destroy',
      '--format',
      'json',
    );
    assert.equal(j.status, 0, j.stderr);
    assert.deepEqual(
      j.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Ev).Actor.Attributes.name),
      ['ev-clients'],
    );
    const bad = await dnet('events', '--since', 'tomorrow');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /invalid --since "tomorrow"/);
  });

  const bin = dockerCli() ?? '';
  const skip = bin === '' ? 'the docker CLI is not installed' : false;

  test(
    'docker events --filter type=network: the same events, the same text as dnet events',
    { skip },
    async () => {
      const home = join(world.runDir, 'docker-home-events');
      mkdirSync(home, { recursive: true });
      const env = {
        ...process.env,
        DOCKER_HOST: `unix://${sock}`,
        DOCKER_CONFIG: home,
        HOME: home,
        TZ: 'UTC',
      };
      const args = ['events', '--since', since, '--until', until, '--filter', 'type=network'];
      const json = await run(bin, [...args, '--filter', 'network=ev-clients', '--format', '{{json .}}'], env);
      assert.equal(json.status, 0, json.stderr);
      const evs = json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Ev);
      assert.deepEqual(
        evs.map((e) => [e.Type, e.Action, e.Actor.ID, e.scope]),
        ['create', 'connect', 'disconnect', 'destroy'].map((a) => ['network', a, id, 'local']),
      );
      assert.deepEqual(evs[1]!.Actor.Attributes, { container: cid, name: 'ev-clients', type: 'bridge' });
      const text = await run(bin, args, env);
      assert.equal(text.status, 0, text.stderr);
      const ours = await dnet('events', '--since', since, '--until', until, '--filter', 'type=network');
      assert.equal(ours.status, 0, ours.stderr);
      assert.equal(text.stdout, ours.stdout);
      assert.match(text.stdout, / network prune {2}\(reclaimed=0\)\n$/);
    },
  );

  test('a live docker events stream sees a connect as it happens', { skip }, async () => {
    const home = join(world.runDir, 'docker-home-events');
    const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: home, HOME: home };
    const child = execFile(
      bin,
      ['events', '--filter', 'event=connect', '--format', '{{.Actor.Attributes.container}}'],
      {
        env,
      },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await sleep(500); // the CLI connects (no replay without --since)
      await api('POST', '/networks/create', { Name: 'ev-docker-live' });
      await api('POST', '/networks/ev-docker-live/connect', { Container: 'ev-c5' });
      const deadline = Date.now() + 10_000;
      while (out === '' && Date.now() < deadline) await sleep(50);
      assert.equal(out.trim(), await containerId('ev-docker-live', 'ev-c5'));
    } finally {
      child.kill();
      await api('POST', '/networks/ev-docker-live/disconnect', { Container: 'ev-c5' });
      await api('DELETE', '/networks/ev-docker-live');
    }
  });
});

describe('daemon stop', () => {
  test('open streams end when the daemon stops (its close does not wait for them)', async () => {
    const s = openEvents({});
    await s.headers;
    const started = Date.now();
    await daemon.close();
    closed = true;
    await s.ended;
    assert.ok(Date.now() - started < 4000, `close took ${Date.now() - started} ms`);
  });
});
