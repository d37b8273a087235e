import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePublish, UsageError } from '../../src/cli/args.ts';
import { table } from '../../src/cli/output.ts';
import { BadRequestError } from '../../src/daemon/api/errors.ts';
import { exactMatch, match, matchKVList, parseFilters, parseUntil } from '../../src/daemon/api/filters.ts';
import { parsePortBindings, portMapOf } from '../../src/daemon/api/ports.ts';
import { DaemonRegistry } from '../../src/daemon/registry.ts';
import { compareVersions } from '../../src/dotted-version.ts';
import {
  formatRfc3339Nano,
  nowNs,
  nowRfc3339Nano,
  parseRfc3339Nano,
  restoredTime,
} from '../../src/timestamp.ts';

describe('filters', () => {
  test('both JSON forms; null and empty are no filter; anything else is a 400', () => {
    assert.deepEqual(
      [...(parseFilters('{"name":{"a":true,"b":false}}').get('name') ?? [])],
      [
        ['a', true],
        ['b', false],
      ],
    );
    assert.deepEqual([...(parseFilters('{"name":["a"]}').get('name') ?? [])], [['a', true]]);
    assert.equal(parseFilters(null).size, 0);
    assert.equal(parseFilters('').size, 0);
    assert.equal(parseFilters('null').size, 0);
    for (const bad of ['x', '[]', '{"a":1}', '{"a":{"b":1}}', '{"a":[1]}']) {
      assert.throws(() => parseFilters(bad), BadRequestError, bad);
    }
  });

  test("moby's matching: exact, regular expression, key/value lists", () => {
    const f = parseFilters('{"driver":["bridge"],"name":["^we"],"label":["a","b=2"]}');
    assert.ok(exactMatch(f, 'driver', 'bridge'));
    assert.ok(!exactMatch(f, 'driver', 'bridge2'));
    assert.ok(exactMatch(f, 'scope', 'anything'), 'no values: everything matches');
    assert.ok(match(f, 'name', 'web'));
    assert.ok(!match(f, 'name', 'aweb'));
    assert.ok(matchKVList(f, 'label', { a: '', b: '2' }));
    assert.ok(!matchKVList(f, 'label', { a: '', b: '3' }));
    assert.ok(!matchKVList(f, 'label', {}));
    assert.ok(!match(parseFilters('{"name":["("]}'), 'name', 'x'), 'a bad expression matches nothing');
  });

  test('until: Go durations, Unix timestamps, RFC 3339', () => {
    const now = 1_700_000_000_000;
    assert.equal(parseUntil('1h', now), now - 3_600_000);
    assert.equal(parseUntil('1h30m', now), now - 5_400_000);
    assert.equal(parseUntil('1.5s', now), now - 1500);
    assert.equal(parseUntil('1600000000', now), 1_600_000_000_000);
    assert.equal(parseUntil('1600000000.5', now), 1_600_000_000_500);
    assert.equal(parseUntil('2024-01-02T03:04:05Z', now), Date.UTC(2024, 0, 2, 3, 4, 5));
    assert.throws(() => parseUntil('soon', now), /failed to parse value as time or duration/);
  });
});

describe('ports', () => {
  test('PortBindings: ports, ranges, protocols, host ranges, ephemeral ports, exposed-only keys', () => {
    const r = parsePortBindings('PB', {
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
      '9000-9001/udp': [{ HostIp: '[::1]', HostPort: '19000-19001' }],
      '53': [{ HostPort: '' }],
      '443': null,
    });
    // Integer-like keys ("53") come first in a JS object, as JSON.parse builds it.
    assert.deepEqual(r.portBindings, [
      { proto: 'tcp', port: 53 },
      { proto: 'tcp', port: 80, hostPort: 8080 },
      { proto: 'udp', port: 9000, portEnd: 9001, hostIP: '::1', hostPort: 19000, hostPortEnd: 19001 },
    ]);
    assert.deepEqual(
      r.exposedPorts.map((p) => `${p.port}/${p.proto}`),
      ['53/tcp', '443/tcp', '80/tcp', '9000/udp', '9001/udp'],
    );
    for (const bad of [
      { x: [] },
      { '0/tcp': [] },
      { '80/icmp': [] },
      { '80': [{ HostPort: 80 }] },
      { '80': {} },
    ]) {
      assert.throws(() => parsePortBindings('PB', bad), BadRequestError, JSON.stringify(bad));
    }
  });

  test('port mappings in effect, one key per port', () => {
    assert.deepEqual(
      portMapOf([
        {
          proto: 'tcp',
          port: 9000,
          portEnd: 9001,
          containerIP: '10.0.0.2',
          hostIP: '0.0.0.0',
          hostPort: 19000,
          hostPortEnd: 19001,
        },
      ]),
      {
        '9000/tcp': [{ HostIp: '0.0.0.0', HostPort: '19000' }],
        '9001/tcp': [{ HostIp: '0.0.0.0', HostPort: '19001' }],
      },
    );
  });

  test("-p in the docker CLI's syntax", () => {
    const p = (s: string) => parsePublish(s, 'usage');
    assert.deepEqual(p('80'), { key: '80/tcp', binding: { HostIp: '', HostPort: '' } });
    assert.deepEqual(p('8080:80/udp'), { key: '80/udp', binding: { HostIp: '', HostPort: '8080' } });
    assert.deepEqual(p('127.0.0.1::53'), { key: '53/tcp', binding: { HostIp: '127.0.0.1', HostPort: '' } });
    assert.deepEqual(p('[::1]:8080:80'), { key: '80/tcp', binding: { HostIp: '::1', HostPort: '8080' } });
    assert.deepEqual(p('8000-8010:8000-8010'), {
      key: '8000-8010/tcp',
      binding: { HostIp: '', HostPort: '8000-8010' },
    });
    for (const bad of ['', 'a:80', '80/icmp', '80:']) assert.throws(() => p(bad), UsageError, bad);
  });
});

describe('small things', () => {
  test('API versions compare numerically', () => {
    assert.ok(compareVersions('1.9', '1.40') < 0);
    assert.equal(compareVersions('1.40', '1.40'), 0);
    assert.ok(compareVersions('1.48', '1.41') > 0);
  });

  test('RFC 3339 with nanoseconds, the fraction trimmed, as Go writes it', () => {
    const at = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;
    assert.equal(
      formatRfc3339Nano(at('2024-01-02T03:04:05.000Z') + 123456789n),
      '2024-01-02T03:04:05.123456789Z',
    );
    assert.equal(formatRfc3339Nano(at('2024-01-02T03:04:05.120Z')), '2024-01-02T03:04:05.12Z');
    assert.equal(formatRfc3339Nano(at('2024-01-02T03:04:05.000Z')), '2024-01-02T03:04:05Z');
    assert.equal(formatRfc3339Nano(at('2024-01-02T03:04:05.000Z') + 1n), '2024-01-02T03:04:05.000000001Z');
    assert.equal(parseRfc3339Nano('2024-01-02T03:04:05.000000001Z'), at('2024-01-02T03:04:05.000Z') + 1n);
    assert.equal(parseRfc3339Nano('2024-01-02T05:04:05.5+02:00'), at('2024-01-02T03:04:05.500Z'));
    assert.equal(parseRfc3339Nano('yesterday'), undefined);
    assert.equal(parseRfc3339Nano('2024-01-02T03:04:05.1234567890Z'), undefined, 'ten digits');
    // a record of an older version (milliseconds) reads as it was reported; a damaged one, the epoch
    assert.equal(restoredTime('2024-01-02T03:04:05.120Z'), '2024-01-02T03:04:05.12Z');
    assert.equal(restoredTime('2024-01-02T03:04:05.123456789Z'), '2024-01-02T03:04:05.123456789Z');
    assert.equal(restoredTime(undefined), '1970-01-01T00:00:00Z');
  });

  test('now has nanoseconds, stays within a millisecond of Date.now() and does not go back', () => {
    let prev = 0n;
    for (let i = 0; i < 1000; i++) {
      const before = BigInt(Date.now()) * 1_000_000n;
      const ns = nowNs();
      const after = BigInt(Date.now()) * 1_000_000n;
      assert.ok(ns >= before - 1_000_000n && ns <= after + 2_000_000n, `${ns} vs [${before}, ${after}]`);
      assert.ok(ns >= prev);
      prev = ns;
    }
    assert.match(nowRfc3339Nano(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  });

  test('tables as the docker CLI aligns them', () => {
    assert.equal(
      table(['NETWORK ID', 'NAME'], [['0123456789ab', 'bridge']]),
      'NETWORK ID     NAME\n0123456789ab   bridge\n',
    );
  });

  test('the registry: lookups by ID, name and 12+ character prefix; names unique while held', () => {
    // No sandboxes: every container here is held (a connect or sandbox create under way).
    const r = new DaemonRegistry({
      sandboxByContainer: () => undefined,
      sandboxByName: () => undefined,
      allSandboxes: () => [],
    });
    const a = r.holdRecord({ id: 'ab'.repeat(32), name: 'db', created: 'x' });
    r.holdRecord({ id: `${'ab'.repeat(6)}cd${'0'.repeat(50)}`, name: 'other', created: 'x' });
    assert.deepEqual(r.resolve('db'), a);
    assert.deepEqual(r.resolve('/db'), a);
    assert.deepEqual(r.resolve(a.id), a);
    assert.equal(r.resolve('abab'), undefined, 'short prefixes are names');
    assert.throws(() => r.resolve('ab'.repeat(6)), /ambiguous/);
    assert.deepEqual(r.resolve(`${'ab'.repeat(6)}ab`), a);
    assert.throws(() => r.holdRecord({ id: 'ef'.repeat(32), name: 'db', created: 'x' }), /already in use/);
    // hold(name) of a held container is that container; a new name is a new container
    assert.equal(r.hold('db').id, a.id);
    const c = r.hold('cache');
    assert.match(c.id, /^[0-9a-f]{64}$/);
    assert.equal(c.name, 'cache');
    const byId = r.hold('12'.repeat(32));
    assert.equal(byId.name, '121212121212', 'a new container given by ID is named by its short ID');
    assert.throws(() => r.hold('bad name'), /invalid container name/);
    // holds are counted: the name is free once every hold is released
    r.release(a.id);
    assert.deepEqual(r.resolve('db'), a);
    r.release(a.id);
    assert.equal(r.resolve('db'), undefined);
  });

  test('the registry: an unknown full ID is not looked for among the sandboxes (no walk per connect)', () => {
    let walks = 0;
    const r = new DaemonRegistry({
      sandboxByContainer: () => undefined,
      sandboxByName: () => undefined,
      allSandboxes: () => {
        walks++;
        return [];
      },
    });
    assert.equal(r.resolve('cd'.repeat(32)), undefined);
    assert.equal(r.hold('cd'.repeat(32)).name, 'cdcdcdcdcdcd');
    assert.equal(walks, 0, 'a full ID is itself or nothing');
    assert.equal(r.resolve(`${'cd'.repeat(6)}c`), r.container('cd'.repeat(32)), 'a prefix still walks');
    assert.equal(walks, 1);
  });
});
