import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatEventTime, prettyEvent } from '../../src/cli/events.ts';
import { parseFilters } from '../../src/daemon/api/filters.ts';
import { eventsContentType } from '../../src/daemon/api/routes/events.ts';
import {
  EVENTS_LIMIT,
  EventLog,
  type EventMessage,
  encodeEvent,
  eventFilter,
} from '../../src/daemon/events.ts';
import { getTimestamp, parseGoDuration, parseUnixTimestamp } from '../../src/timestamp.ts';

const msg = (over: Partial<EventMessage> = {}): EventMessage => ({
  Type: 'network',
  Action: 'connect',
  Actor: { ID: 'abc123', Attributes: { type: 'bridge', name: 'web', container: 'c0ffee' } },
  scope: 'local',
  time: 1700000000,
  timeNano: 1700000000123456789n,
  ...over,
});

const filter = (json: string) => eventFilter(parseFilters(json));

describe('event encoding', () => {
  test("Go's field order, sorted attributes, an exact timeNano, a newline", () => {
    assert.equal(
      encodeEvent(msg()),
      '{"Type":"network","Action":"connect","Actor":{"ID":"abc123","Attributes":' +
        '{"container":"c0ffee","name":"web","type":"bridge"}},"scope":"local","time":1700000000,' +
        '"timeNano":1700000000123456789}\n',
    );
  });

  test('the docker CLI text: local time with nanoseconds, type, action, ID, sorted attributes', () => {
    const line = encodeEvent(msg()).trim();
    const t = formatEventTime(1700000000123456789n);
    assert.match(t, /^2023-11-1[45]T\d\d:\d\d:20\.123456789(Z|[+-]\d\d:\d\d)$/);
    assert.equal(
      prettyEvent(line),
      `${t} network connect abc123 (container=c0ffee, name=web, type=bridge)\n`,
    );
  });

  test('Accept picks a stream type as moby does, else application/json', () => {
    assert.equal(eventsContentType(undefined), 'application/json');
    assert.equal(eventsContentType('*/*'), 'application/json');
    assert.equal(
      eventsContentType('application/jsonl, application/x-ndjson;q=0.9, application/json-seq;q=0.5'),
      'application/jsonl',
    );
    assert.equal(eventsContentType('application/json-seq'), 'application/json-seq');
    assert.equal(
      eventsContentType('application/jsonl;q=0, application/x-ndjson;q=0.2'),
      'application/x-ndjson',
    );
  });
});

describe("moby's event filters", () => {
  test('type, event and scope are exact', () => {
    assert.ok(filter('{"type":{"network":true}}')(msg()));
    assert.ok(!filter('{"type":{"container":true}}')(msg()));
    assert.ok(filter('{"event":{"connect":true,"disconnect":true}}')(msg()));
    assert.ok(!filter('{"event":{"conn":true}}')(msg()));
    assert.ok(filter('{"scope":{"local":true}}')(msg()));
    assert.ok(!filter('{"scope":{"swarm":true}}')(msg()));
  });

  test('network matches the actor ID or name, exactly or as a prefix', () => {
    for (const v of ['abc123', 'abc', 'web', 'we']) assert.ok(filter(`{"network":{"${v}":true}}`)(msg()), v);
    assert.ok(!filter('{"network":{"db":true}}')(msg()));
  });

  test('container matches the actor, as in Docker: not the container a network event names', () => {
    assert.ok(!filter('{"container":{"c0ffee":true}}')(msg()));
    assert.ok(!filter('{"image":{"x":true}}')(msg()));
  });

  test('label matches the attributes (key, or key=value; all of them)', () => {
    assert.ok(filter('{"label":{"container=c0ffee":true}}')(msg()));
    assert.ok(filter('{"label":{"name":true,"type=bridge":true}}')(msg()));
    assert.ok(!filter('{"label":{"type=macvlan":true}}')(msg()));
    assert.ok(!filter('{"label":{"nope":true}}')(msg({ Actor: { ID: '', Attributes: {} } })));
  });
});

describe('the event log', () => {
  test(`keeps the last ${EVENTS_LIMIT}, replays only with since or until, streams the rest`, () => {
    const log = new EventLog();
    for (let i = 0; i < EVENTS_LIMIT + 44; i++) log.log('create', `n${i}`, { name: `n${i}`, type: 'bridge' });
    assert.equal(log.total, EVENTS_LIMIT + 44);
    const all = log.subscribe(
      { since: 1n, until: 0n, filter: () => true },
      () => {},
      () => {},
    );
    assert.equal(all.buffered.length, EVENTS_LIMIT);
    assert.equal(all.buffered[0]?.Actor.ID, 'n44');
    all.cancel();
    const none = log.subscribe(
      { since: 0n, until: 0n, filter: () => true },
      () => {},
      () => {},
    );
    assert.equal(none.buffered.length, 0);
    none.cancel();
    // Timestamps strictly increase: since/until select a slice.
    const ts = log
      .subscribe(
        { since: 1n, until: 0n, filter: () => true },
        () => {},
        () => {},
      )
      .buffered.map((e) => e.timeNano);
    for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! > ts[i - 1]!);
    const mid = ts[100]!;
    const slice = log.subscribe(
      { since: mid, until: ts[109]!, filter: () => true },
      () => {},
      () => {},
    );
    assert.deepEqual(
      slice.buffered.map((e) => e.Actor.ID),
      Array.from({ length: 10 }, (_, i) => `n${144 + i}`),
    );
  });

  test('a stream gets what passes its filter; close ends it, and later ones at once', () => {
    const log = new EventLog();
    const got: string[] = [];
    let ended = 0;
    const sub = log.subscribe(
      { since: 0n, until: 0n, filter: (e) => e.Action === 'destroy' },
      (e) => got.push(e.Actor.ID),
      () => ended++,
    );
    assert.equal(log.subscriberCount, 1);
    log.log('create', 'a', {});
    log.log('destroy', 'a', {});
    assert.deepEqual(got, ['a']);
    log.close();
    assert.equal(ended, 1);
    assert.equal(log.subscriberCount, 0);
    log.subscribe(
      { since: 0n, until: 0n, filter: () => true },
      () => {},
      () => ended++,
    );
    assert.equal(ended, 2);
    sub.cancel();
  });

  test('the network events of the controller get their Docker attributes', () => {
    const log = new EventLog();
    const network = { id: 'f00', name: 'web', type: 'bridge' };
    log.fromController({ kind: 'network', action: 'create', network });
    log.fromController({ kind: 'network', action: 'connect', network, containerId: 'c1', endpointId: 'e1' });
    log.fromController({ kind: 'operation', operation: 'create', ok: true, seconds: 0.001 });
    const evs = log.subscribe(
      { since: 1n, until: 0n, filter: () => true },
      () => {},
      () => {},
    ).buffered;
    assert.deepEqual(
      evs.map((e) => [e.Action, e.Actor.ID, e.Actor.Attributes]),
      [
        ['create', 'f00', { name: 'web', type: 'bridge' }],
        ['connect', 'f00', { name: 'web', type: 'bridge', container: 'c1' }],
      ],
    );
  });
});

describe("Docker's event timestamps", () => {
  test('seconds[.fraction] into nanoseconds (fraction cut or padded to 9 digits)', () => {
    assert.equal(parseUnixTimestamp('1700000000'), 1700000000000000000n);
    assert.equal(parseUnixTimestamp('1700000000.5'), 1700000000500000000n);
    assert.equal(parseUnixTimestamp('1700000000.1234567891234'), 1700000000123456789n);
    assert.throws(() => parseUnixTimestamp('abc'), /invalid seconds "abc"/);
    assert.throws(() => parseUnixTimestamp('1.2x'), /invalid character 'x' at position 1/);
    assert.throws(() => parseUnixTimestamp(`1.${'1'.repeat(21)}`), /exceeds maximum 20/);
  });

  test('what the docker CLI sends for durations, dates and timestamps', () => {
    const now = Date.UTC(2024, 0, 2, 15, 4, 5, 500);
    assert.equal(parseGoDuration('1h30m'), 5400e9);
    assert.equal(parseGoDuration('0'), undefined);
    assert.equal(getTimestamp('10m', now), String(Math.floor(now / 1000) - 600));
    assert.equal(getTimestamp('2024-01-02T15:04:05Z', now), '1704207845.000000000');
    assert.equal(getTimestamp('2024-01-02T15:04:05.25+01:00', now), '1704204245.250000000');
    assert.equal(getTimestamp('1704207845.5', now), '1704207845.5');
    assert.throws(() => getTimestamp('yesterday', now), /failed to parse value as time or duration/);
    assert.throws(() => getTimestamp('2024-13-45', now), /cannot parse/);
  });
});
