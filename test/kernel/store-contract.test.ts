/**
 * The KV store contract (src/store/types.ts), run unchanged against both implementations: LMDB in a
 * temporary data directory and a real etcd (test/harness/etcd.ts) on the world's private loopback.
 * Then what is particular to each: LMDB's data-directory lock and on-disk checks, etcd's
 * unavailability and cross-client watches.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Etcd3 } from 'etcd3';
import { open as openLmdb } from 'lmdb';
import { DnetError } from '../../src/errors/base.ts';
import { httpStatus } from '../../src/errors/http.ts';
import {
  EtcdStore,
  InvalidKeyError,
  InvalidTransactionError,
  InvalidValueError,
  InvalidVersionError,
  KeyExistsError,
  type KvEvent,
  type KvStore,
  type KvTxnResult,
  LmdbStore,
  LOCK_FILE,
  MAX_KEY_BYTES,
  MAX_TXN_OPS,
  MAX_VALUE_BYTES,
  STORE_FILE,
  StoreClosedError,
  StoreCorruptError,
  StoreLockedError,
  StoreUnavailableError,
  VersionMismatchError,
} from '../../src/store/index.ts';
import { type EtcdServer, startEtcd } from '../harness/etcd.ts';
import { world } from '../harness/world.ts';

/** Waits until `cond()` holds (polling), or fails with `what`. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Asserts `p` rejects with an instance of `cls`, and returns the error. */
async function rejectsWith<E extends Error>(p: Promise<unknown>, cls: new (...a: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${cls.name}, but it resolved`);
}

/** UTF-8 byte order, the order both stores list in. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

interface Backend {
  /** Opens a store on the same backing data every time (a reopen sees what was written before). */
  open(): Promise<KvStore>;
}

/**
 * The contract, against the stores `backend` opens. Every test works under its own key prefix, so
 * the tests share one store (and one LMDB lock) without seeing each other's keys.
 */
function describeStore(name: string, setup: () => Promise<Backend>, teardown: () => Promise<void>): void {
  describe(`KvStore contract: ${name}`, () => {
    let backend: Backend;
    let store: KvStore;
    let n = 0;
    /** A fresh key prefix for one test. */
    const ns = (): string => `t${++n}/`;

    before(async () => {
      backend = await setup();
      store = await backend.open();
    });
    after(async () => {
      await store?.close();
      await teardown();
    });

    test('get, put, and JSON values', async () => {
      const p = ns();
      assert.equal(await store.get(`${p}missing`), undefined);
      const value = {
        name: 'net1',
        n: 3,
        ok: true,
        nil: null,
        list: [1, 'two', { three: 3 }],
        when: new Date(0),
      };
      const e = await store.put(`${p}a`, value);
      assert.equal(e.key, `${p}a`);
      assert.ok(Number.isSafeInteger(e.version) && e.version > 0);
      const stored = { ...value, when: '1970-01-01T00:00:00.000Z' };
      assert.deepEqual(e.value, stored, 'put returns the value as reads will return it (JSON)');
      assert.deepEqual(await store.get(`${p}a`), { key: `${p}a`, value: stored, version: e.version });
      for (const v of ['text', 42, -1.5, false, null, [], {}, 'é𝄞']) {
        assert.deepEqual((await store.put(`${p}v`, v)).value, v);
        assert.deepEqual((await store.get(`${p}v`))?.value, v);
      }
      assert.deepEqual((await store.put(`${p}u`, { a: 1, gone: undefined })).value, { a: 1 });
      assert.deepEqual((await store.get(`${p}u`))?.value, { a: 1 });
    });

    test('versions are store revisions: they only grow, across keys', async () => {
      const p = ns();
      const a1 = await store.put(`${p}a`, 1);
      const b1 = await store.put(`${p}b`, 1);
      const a2 = await store.put(`${p}a`, 1); // same value: still a new version
      assert.ok(b1.version > a1.version);
      assert.ok(a2.version > b1.version);
      assert.equal((await store.get(`${p}a`))?.version, a2.version);
      assert.equal((await store.get(`${p}b`))?.version, b1.version, 'other keys keep their version');
    });

    test('create: only if absent; KeyExistsError carries the existing version', async () => {
      const p = ns();
      const e = await store.create(`${p}k`, { v: 1 });
      assert.deepEqual(await store.get(`${p}k`), e);
      const err = await rejectsWith(store.create(`${p}k`, { v: 2 }), KeyExistsError);
      assert.equal(err.code, 'ERR_STORE_KEY_EXISTS');
      assert.equal(err.key, `${p}k`);
      assert.equal(err.actual, e.version);
      assert.equal(httpStatus(err), 409);
      assert.deepEqual((await store.get(`${p}k`))?.value, { v: 1 }, 'nothing changed');
      await store.delete(`${p}k`);
      const again = await store.create(`${p}k`, { v: 3 });
      assert.ok(again.version > e.version);
    });

    test('compareAndSwap: right version wins; wrong or missing is VersionMismatchError with the actual version', async () => {
      const p = ns();
      const e1 = await store.put(`${p}k`, 'one');
      const e2 = await store.compareAndSwap(`${p}k`, 'two', e1.version);
      assert.ok(e2.version > e1.version);
      assert.equal(e2.value, 'two');
      const err = await rejectsWith(store.compareAndSwap(`${p}k`, 'three', e1.version), VersionMismatchError);
      assert.equal(err.code, 'ERR_STORE_VERSION_MISMATCH');
      assert.equal(err.key, `${p}k`);
      assert.equal(err.expected, e1.version);
      assert.equal(err.actual, e2.version);
      assert.equal(httpStatus(err), 409);
      assert.match(
        err.message,
        /changed concurrently: expected version \d+, but it is at version \d+; re-read/,
      );
      assert.equal((await store.get(`${p}k`))?.value, 'two');
      const missing = await rejectsWith(
        store.compareAndSwap(`${p}nope`, 'x', e1.version),
        VersionMismatchError,
      );
      assert.equal(missing.actual, undefined);
      assert.match(missing.message, /it does not exist/);
      assert.equal(await store.get(`${p}nope`), undefined);
    });

    test('no ABA: a deleted and re-created key never gets an old version back', async () => {
      const p = ns();
      const old = await store.put(`${p}k`, 'first');
      await store.delete(`${p}k`);
      const fresh = await store.put(`${p}k`, 'second');
      assert.ok(fresh.version > old.version);
      const err = await rejectsWith(
        store.compareAndSwap(`${p}k`, 'stale', old.version),
        VersionMismatchError,
      );
      assert.equal(err.actual, fresh.version);
    });

    test('delete and compareAndDelete', async () => {
      const p = ns();
      await store.put(`${p}a`, 1);
      assert.equal(await store.delete(`${p}a`), true);
      assert.equal(await store.get(`${p}a`), undefined);
      assert.equal(await store.delete(`${p}a`), false, 'deleting a missing key says false');

      const b = await store.put(`${p}b`, 1);
      const b2 = await store.put(`${p}b`, 2);
      const err = await rejectsWith(store.compareAndDelete(`${p}b`, b.version), VersionMismatchError);
      assert.equal(err.actual, b2.version);
      assert.equal((await store.get(`${p}b`))?.value, 2, 'still there');
      assert.equal(await store.compareAndDelete(`${p}b`, b2.version), true);
      assert.equal(await store.get(`${p}b`), undefined);
      assert.equal(await store.compareAndDelete(`${p}b`, b2.version), false, 'gone already: false');
    });

    test('list: by plain prefix, sorted by UTF-8 bytes', async () => {
      const p = ns();
      const keys = [
        'net/b',
        'net/a',
        'net/a/x',
        'net/é',
        'net/ｚ',
        'net/𝄞',
        'net/Z',
        'net0',
        'neta',
        'other/a',
      ];
      for (const [i, k] of keys.entries()) await store.put(`${p}${k}`, i);
      const listed = await store.list(`${p}net/`);
      const want = keys.filter((k) => k.startsWith('net/')).sort(byteOrder);
      assert.deepEqual(
        listed.map((e) => e.key),
        want.map((k) => `${p}${k}`),
      );
      assert.deepEqual(want, ['net/Z', 'net/a', 'net/a/x', 'net/b', 'net/é', 'net/ｚ', 'net/𝄞']);
      for (const e of listed) assert.deepEqual(await store.get(e.key), e);
      assert.deepEqual(
        (await store.list(`${p}net`)).map((e) => e.key),
        keys
          .filter((k) => k.startsWith('net'))
          .sort(byteOrder)
          .map((k) => `${p}${k}`),
        'a prefix without "/" matches across parts',
      );
      assert.deepEqual(
        (await store.list(`${p}net/a`)).map((e) => e.key),
        [`${p}net/a`, `${p}net/a/x`],
      );
      assert.deepEqual(await store.list(`${p}none/`), []);
      const all = await store.list('');
      const mine = all.filter((e) => e.key.startsWith(p)).map((e) => e.key);
      assert.deepEqual(mine, keys.map((k) => `${p}${k}`).sort(byteOrder));
      assert.deepEqual(
        all.map((e) => e.key),
        all.map((e) => e.key).sort(byteOrder),
        'list("") is sorted too',
      );
    });

    test('list of many entries (pages) at one revision', async () => {
      const p = ns();
      const ops = Array.from({ length: 120 }, (_, i) => ({
        type: 'put' as const,
        key: `${p}e/${String(i).padStart(4, '0')}`,
        value: i,
      }));
      await store.transaction(ops);
      await store.transaction(
        ops.map((o) => ({ ...o, key: o.key.replace('/e/', '/f/'), value: o.value + 1000 })).slice(0, 100),
      );
      const listed = await store.list(`${p}`);
      assert.equal(listed.length, 220);
      assert.deepEqual(
        listed.slice(0, 120).map((e) => e.value),
        ops.map((o) => o.value),
      );
    });

    test('keys, prefixes, values and versions are validated before anything is stored', async () => {
      const p = ns();
      const bad: [unknown, RegExp][] = [
        ['', /it is empty/],
        ['/a', /starts with "\/"/],
        ['a/', /ends with "\/"/],
        ['a//b', /empty part/],
        ['a\0b', /control character \(U\+0000\) at character 2/],
        ['a\nb', /control character \(U\+000A\)/],
        ['a\u007f', /control character \(U\+007F\)/],
        ['a\ud800b', /lone UTF-16 surrogate/],
        ['x'.repeat(MAX_KEY_BYTES + 1), /1025 bytes long; the limit is 1024/],
        ['é'.repeat(MAX_KEY_BYTES / 2 + 1), /bytes long; the limit is 1024/],
        [42, /not a string \(got number\)/],
        [undefined, /not a string/],
      ];
      for (const [key, why] of bad) {
        const err = await rejectsWith(store.put(key as string, 1), InvalidKeyError);
        assert.match(err.message, why, String(key));
        assert.equal(err.code, 'ERR_STORE_INVALID_KEY');
        assert.equal(httpStatus(err), 400);
        await rejectsWith(store.get(key as string), InvalidKeyError);
      }
      await store.put('x'.repeat(MAX_KEY_BYTES), 'longest');
      assert.equal((await store.get('x'.repeat(MAX_KEY_BYTES)))?.value, 'longest');
      await store.delete('x'.repeat(MAX_KEY_BYTES));
      for (const prefix of ['/a', 'a//', 'a\0', 7]) {
        await rejectsWith(store.list(prefix as string), InvalidKeyError);
        await rejectsWith(
          store.watch(prefix as string, () => {}),
          InvalidKeyError,
        );
      }

      const cycle: { self?: unknown } = {};
      cycle.self = cycle;
      const values: [unknown, RegExp][] = [
        [undefined, /top-level undefined/],
        [() => 1, /top-level function/],
        [Symbol('s'), /top-level symbol/],
        [10n, /JSON cannot represent it/],
        [cycle, /JSON cannot represent it/],
        ['x'.repeat(MAX_VALUE_BYTES), /bytes as JSON; the limit is 1048576/],
      ];
      for (const [v, why] of values) {
        const err = await rejectsWith(store.put(`${p}v`, v), InvalidValueError);
        assert.match(err.message, why);
        assert.equal(httpStatus(err), 400);
        await rejectsWith(store.create(`${p}v`, v), InvalidValueError);
      }
      assert.equal(await store.get(`${p}v`), undefined);

      const e = await store.put(`${p}k`, 1);
      for (const v of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2, '1', null]) {
        const err = await rejectsWith(store.compareAndSwap(`${p}k`, 2, v as number), InvalidVersionError);
        assert.equal(httpStatus(err), 400);
        await rejectsWith(store.compareAndDelete(`${p}k`, v as number), InvalidVersionError);
      }
      assert.equal((await store.get(`${p}k`))?.version, e.version);
    });

    test('transaction: all writes at one version, in one step', async () => {
      const p = ns();
      const a = await store.put(`${p}a`, 'a0');
      const gone = await store.put(`${p}gone`, 'g');
      const c = await store.put(`${p}c`, 'c0');
      const r = await store.transaction([
        { type: 'put', key: `${p}a`, value: 'a1', ifVersion: a.version },
        { type: 'create', key: `${p}b`, value: 'b1' },
        { type: 'delete', key: `${p}gone`, ifVersion: gone.version },
        { type: 'check', key: `${p}c`, ifVersion: c.version },
        { type: 'check', key: `${p}absent`, ifVersion: null },
        { type: 'put', key: `${p}d`, value: { n: 1 } },
        { type: 'delete', key: `${p}never` },
      ]);
      assert.ok(r.version > c.version);
      assert.deepEqual(
        (await store.list(p)).map((e) => [e.key, e.value, e.version]),
        [
          [`${p}a`, 'a1', r.version],
          [`${p}b`, 'b1', r.version],
          [`${p}c`, 'c0', c.version],
          [`${p}d`, { n: 1 }, r.version],
        ],
      );
      const checksOnly = await store.transaction([{ type: 'check', key: `${p}c`, ifVersion: c.version }]);
      assert.ok(checksOnly.version >= r.version, 'a transaction without writes reports the current revision');
      assert.ok((await store.transaction([])).version >= r.version);
    });

    test('transaction atomicity: one failed condition applies nothing, and is the error thrown', async () => {
      const p = ns();
      const a = await store.put(`${p}a`, 'a0');
      const b = await store.put(`${p}b`, 'b0');
      await store.put(`${p}b`, 'b1'); // b moves on
      const before = await store.list(p);
      const err = await rejectsWith(
        store.transaction([
          { type: 'put', key: `${p}a`, value: 'a1', ifVersion: a.version },
          { type: 'create', key: `${p}new`, value: 'n' },
          { type: 'put', key: `${p}b`, value: 'b2', ifVersion: b.version },
          { type: 'delete', key: `${p}a2` },
        ]),
        VersionMismatchError,
      );
      assert.equal(err.key, `${p}b`);
      assert.equal(err.expected, b.version);
      assert.deepEqual(await store.list(p), before, 'nothing applied');

      const exists = await rejectsWith(
        store.transaction([
          { type: 'put', key: `${p}x`, value: 1 },
          { type: 'create', key: `${p}a`, value: 'again' },
        ]),
        KeyExistsError,
      );
      assert.equal(exists.key, `${p}a`);
      assert.equal(exists.actual, a.version);

      const absent = await rejectsWith(
        store.transaction([
          { type: 'put', key: `${p}y`, value: 1 },
          { type: 'check', key: `${p}a`, ifVersion: null },
        ]),
        VersionMismatchError,
      );
      assert.equal(absent.expected, null);
      assert.equal(absent.actual, a.version);
      assert.match(absent.message, /expected it to be absent/);

      const missing = await rejectsWith(
        store.transaction([{ type: 'delete', key: `${p}nope`, ifVersion: a.version }]),
        VersionMismatchError,
      );
      assert.equal(missing.actual, undefined);

      // Several failed conditions: the first in operation order is reported.
      const first = await rejectsWith(
        store.transaction([
          { type: 'check', key: `${p}a`, ifVersion: a.version },
          { type: 'check', key: `${p}zz`, ifVersion: 1 },
          { type: 'check', key: `${p}b`, ifVersion: b.version },
        ]),
        VersionMismatchError,
      );
      assert.equal(first.key, `${p}zz`);
      assert.deepEqual(await store.list(p), before, 'still nothing applied');
    });

    test('transaction validation', async () => {
      const p = ns();
      const dup = await rejectsWith(
        store.transaction([
          { type: 'put', key: `${p}a`, value: 1 },
          { type: 'check', key: `${p}a`, ifVersion: null },
        ]),
        InvalidTransactionError,
      );
      assert.match(dup.message, /operation 2 names ".*a" again/);
      assert.equal(httpStatus(dup), 400);
      const many = Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({
        type: 'put' as const,
        key: `${p}${i}`,
        value: i,
      }));
      assert.match(
        (await rejectsWith(store.transaction(many), InvalidTransactionError)).message,
        /129 operations/,
      );
      await store.transaction(many.slice(0, MAX_TXN_OPS)); // the limit itself is fine
      await rejectsWith(
        store.transaction([{ type: 'nope', key: `${p}a` } as never]),
        InvalidTransactionError,
      );
      await rejectsWith(store.transaction([{ type: 'put', key: `${p}/`, value: 1 }]), InvalidKeyError);
      await rejectsWith(
        store.transaction([{ type: 'put', key: `${p}q`, value: undefined }]),
        InvalidValueError,
      );
      await rejectsWith(
        store.transaction([{ type: 'check', key: `${p}q`, ifVersion: 0 }]),
        InvalidVersionError,
      );
      assert.equal(await store.get(`${p}q`), undefined);
    });

    test('concurrent compareAndSwap: exactly one of N with the same expected version wins', async () => {
      const p = ns();
      const base = await store.put(`${p}k`, { owner: 'none' });
      const N = 16;
      const results = await Promise.allSettled(
        Array.from({ length: N }, (_, i) => store.compareAndSwap(`${p}k`, { owner: i }, base.version)),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, 'exactly one winner');
      const winner = won[0]!.value;
      for (const r of results) {
        if (r.status === 'fulfilled') continue;
        assert.ok(r.reason instanceof VersionMismatchError, String(r.reason));
        assert.equal(r.reason.actual, winner.version);
      }
      assert.deepEqual(await store.get(`${p}k`), winner);

      const creates = await Promise.allSettled(
        Array.from({ length: N }, (_, i) => store.create(`${p}once`, i)),
      );
      assert.equal(creates.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one create');
      assert.ok(creates.every((r) => r.status === 'fulfilled' || r.reason instanceof KeyExistsError));
    });

    test('concurrent read-modify-write loops lose no update', async () => {
      const p = ns();
      await store.put(`${p}counter`, 0);
      const inc = async (): Promise<void> => {
        for (;;) {
          const e = (await store.get(`${p}counter`))!;
          try {
            await store.compareAndSwap(`${p}counter`, (e.value as number) + 1, e.version);
            return;
          } catch (err) {
            if (!(err instanceof VersionMismatchError)) throw err;
          }
        }
      };
      await Promise.all(Array.from({ length: 10 }, inc));
      assert.equal((await store.get(`${p}counter`))?.value, 10);
    });

    test('watch: puts and deletes under the prefix, in commit order, from when it resolves', async () => {
      const p = ns();
      await store.put(`${p}w/before`, 0);
      const events: KvEvent[] = [];
      const w = await store.watch(`${p}w/`, (ev) => events.push(ev));
      const a1 = await store.put(`${p}w/a`, 1);
      await store.put(`${p}other`, 'not watched');
      await store.put(`${p}wx`, 'not watched either');
      const a2 = await store.compareAndSwap(`${p}w/a`, 2, a1.version);
      const b = await store.create(`${p}w/b`, 'b');
      await store.delete(`${p}w/a`);
      await store.delete(`${p}w/never`); // nothing happened: no event
      const t = await store.transaction([
        { type: 'put', key: `${p}w/c`, value: 'c' },
        { type: 'delete', key: `${p}w/b`, ifVersion: b.version },
        { type: 'put', key: `${p}w/before`, value: 'changed' },
      ]);
      await until(() => events.length >= 7, '7 events');
      const seen = events.map((e) =>
        e.type === 'put' ? ['put', e.key, e.entry.value, e.entry.version] : ['delete', e.key, e.version],
      );
      const del = seen[3]![2] as number;
      assert.deepEqual(seen, [
        ['put', `${p}w/a`, 1, a1.version],
        ['put', `${p}w/a`, 2, a2.version],
        ['put', `${p}w/b`, 'b', b.version],
        ['delete', `${p}w/a`, del],
        ['put', `${p}w/c`, 'c', t.version],
        ['delete', `${p}w/b`, t.version],
        ['put', `${p}w/before`, 'changed', t.version],
      ]);
      assert.ok(del > b.version && del < t.version, 'a delete event carries the revision of the deletion');
      for (const e of events) if (e.type === 'put') assert.equal(e.entry.key, e.key);

      await w.close();
      await w.close(); // idempotent
      await store.put(`${p}w/after`, 1);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(events.length, 7, 'nothing after close');
    });

    test('watch: a throwing callback goes to onError; other watchers carry on', async () => {
      const p = ns();
      const errors: Error[] = [];
      const good: string[] = [];
      const w1 = await store.watch(
        p,
        () => {
          throw new Error('callback bug');
        },
        { onError: (e) => errors.push(e) },
      );
      const w2 = await store.watch(p, (e) => good.push(e.key));
      await store.put(`${p}a`, 1);
      await store.put(`${p}b`, 1);
      await until(() => good.length === 2 && errors.length === 2, 'both events');
      assert.match(errors[0]!.message, /callback bug/);
      await w1.close();
      await w2.close();
    });

    test('reopen after close keeps the data, and versions keep growing', async () => {
      const p = ns();
      const a = await store.put(`${p}a`, { kept: true });
      await store.transaction([
        { type: 'put', key: `${p}b`, value: 'b' },
        { type: 'delete', key: `${p}a2` },
      ]);
      const last = await store.put(`${p}gone`, 1);
      await store.delete(`${p}gone`);
      await store.close();
      await store.close(); // idempotent
      const err = await rejectsWith(store.get(`${p}a`), StoreClosedError);
      assert.equal(err.code, 'ERR_STORE_CLOSED');
      assert.equal(httpStatus(err), 503);
      await rejectsWith(store.put(`${p}a`, 1), StoreClosedError);
      await rejectsWith(
        store.watch(p, () => {}),
        StoreClosedError,
      );

      store = await backend.open();
      assert.deepEqual(await store.get(`${p}a`), a);
      assert.deepEqual(
        (await store.list(p)).map((e) => e.key),
        [`${p}a`, `${p}b`],
      );
      const next = await store.put(`${p}c`, 1);
      assert.ok(next.version > last.version + 1, 'the revision survived the restart (including the delete)');
    });
  });
}

// --- LMDB --------------------------------------------------------------------------------------

const lmdbDir = mkdtempSync(join(tmpdir(), 'dnet-store-'));
after(() => rmSync(lmdbDir, { recursive: true, force: true }));

describeStore(
  'lmdb',
  async () => ({ open: () => LmdbStore.open({ dir: join(lmdbDir, 'contract') }) }),
  async () => {},
);

/** A child process holding the store in `dir` until killed; it has written its pid at `written-by`. */
async function holder(dir: string): Promise<ChildProcess> {
  const url = pathToFileURL(join(world.root, 'src/store/lmdb.ts')).href;
  const code = `const { LmdbStore } = await import(${JSON.stringify(url)});
    const s = await LmdbStore.open({ dir: ${JSON.stringify(dir)} });
    await s.put('written-by', process.pid);
    await s.transaction([{ type: 'put', key: 'intent', value: process.pid }], { durable: false });
    process.stdout.write('open\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: world.root,
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('open')) resolve();
    });
    child.once('exit', (c) => reject(new Error(`the holder exited (${c}) before opening the store`)));
  });
  return child;
}

describe('LmdbStore: the data directory', () => {
  test('one opener at a time: the lock file refuses a second, in this process or another', async () => {
    const dir = join(lmdbDir, 'lock');
    const s = await LmdbStore.open({ dir });
    const lockPath = join(dir, LOCK_FILE);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(lockPath, 'utf8'))), ['pid', 'start']);
    const err = await rejectsWith(LmdbStore.open({ dir }), StoreLockedError);
    assert.equal(err.code, 'ERR_STORE_LOCKED');
    assert.equal(err.holderPid, process.pid);
    assert.equal(err.lockFile, lockPath);
    assert.equal(httpStatus(err), 409);
    assert.match(
      err.message,
      /in use by another dnet \(pid \d+, lock file .*dnet\.lock\): stop that daemon first/,
    );
    await s.close();
    assert.throws(() => readFileSync(lockPath), /ENOENT/, 'close releases the lock');

    const child = await holder(dir);
    try {
      const other = await rejectsWith(LmdbStore.open({ dir }), StoreLockedError);
      assert.equal(other.holderPid, child.pid);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // The holder died without releasing it: the lock is stale and is taken over.
    assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, child.pid);
    const s2 = await LmdbStore.open({ dir });
    assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, process.pid);
    assert.equal((await s2.get('written-by'))?.value, child.pid, 'a write that resolved survives a SIGKILL');
    // An intent (committed, not waited for on disk) survives the process too: the machine kept it.
    assert.equal((await s2.get('intent'))?.value, child.pid, 'a durable: false commit survives a SIGKILL');
    await s2.close();
  });

  test('a stale or malformed lock file is taken over; a reused pid does not count as the holder', async () => {
    const dir = join(lmdbDir, 'stale');
    for (const content of [
      '',
      'garbage',
      JSON.stringify({ pid: 2 ** 22 + 12345, start: '1' }), // above pid_max: never alive
      JSON.stringify({ pid: process.pid, start: '0' }), // our pid, another start time: pid reuse
      JSON.stringify({ pid: 1, start: 'x' }),
    ]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, LOCK_FILE), content);
      const s = await LmdbStore.open({ dir });
      await s.put('k', content);
      await s.close();
    }
  });

  test('concurrent opens of one directory: exactly one wins', async () => {
    const dir = join(lmdbDir, 'race');
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => LmdbStore.open({ dir })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof StoreLockedError);
    await won[0]!.value.close();
  });

  test('durable and non-durable writes interleaved: events in revision order, conditions hold', async () => {
    const dir = join(lmdbDir, 'mixed');
    const s = await LmdbStore.open({ dir });
    const events: KvEvent[] = [];
    const w = await s.watch('m/', (ev) => events.push(ev));
    // Durable writes queued to the write thread; non-durable ones committed at once meanwhile,
    // at every turn of the event loop, so that some commit between a queued write's commit (on
    // the write thread) and its promise's resolution (here).
    const queued = Array.from({ length: 20 }, (_, i) =>
      s.transaction([{ type: 'put', key: `m/${i}`, value: i }]),
    );
    let pending = true;
    const all = Promise.all(queued).finally(() => {
      pending = false;
    });
    const atOnce: Promise<KvTxnResult>[] = [];
    for (let i = 20; pending || i < 40; i++) {
      atOnce.push(s.transaction([{ type: 'put', key: `m/${i}`, value: i }], { durable: false }));
      await new Promise((r) => setImmediate(r));
    }
    const versions = [...(await all), ...(await Promise.all(atOnce))].map((r) => r.version);
    assert.equal(new Set(versions).size, versions.length, 'every write has its own revision');
    const seen = events.map((e) => (e.type === 'put' ? e.entry.version : e.version));
    assert.equal(seen.length, versions.length);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
      'events come in revision order',
    );
    // A non-durable write is checked like any other: a failed condition writes nothing.
    const before = await s.revision();
    const err = await rejectsWith(
      s.transaction(
        [
          { type: 'put', key: 'm/new', value: 1 },
          { type: 'create', key: 'm/0', value: 'again' },
        ],
        { durable: false },
      ),
      KeyExistsError,
    );
    assert.equal(err.key, 'm/0');
    assert.equal(await s.get('m/new'), undefined);
    assert.equal(await s.revision(), before);
    // Its value and revision are read back at once, and after a reopen.
    const r = await s.transaction([{ type: 'delete', key: 'm/1' }], { durable: false });
    assert.equal(await s.get('m/1'), undefined);
    assert.equal(await s.revision(), r.version);
    await w.close();
    await s.close();
    const s2 = await LmdbStore.open({ dir });
    assert.equal(await s2.revision(), r.version);
    assert.equal((await s2.list('m/')).length, versions.length - 1);
    await s2.close();
  });

  test('stored data it cannot read is StoreCorruptError, not a crash', async () => {
    const dir = join(lmdbDir, 'corrupt');
    const s = await LmdbStore.open({ dir });
    await s.put('good', 1);
    await s.close();
    // Write behind its back, with lmdb directly: a value that is not JSON, an entry with no version.
    const root = openLmdb({ path: join(dir, STORE_FILE), maxDbs: 4 });
    const kv = root.openDB<Buffer, string>({ name: 'kv', encoding: 'binary', useVersions: true });
    await kv.put('bad', Buffer.from('{not json'), 7);
    await root.close();
    const s2 = await LmdbStore.open({ dir });
    const err = await rejectsWith(s2.get('bad'), StoreCorruptError);
    assert.equal(err.code, 'ERR_STORE_CORRUPT');
    assert.equal(httpStatus(err), 500);
    assert.match(err.message, /store\.mdb key "bad" cannot be read: the value is not JSON/);
    await rejectsWith(s2.list(''), StoreCorruptError);
    assert.equal((await s2.get('good'))?.value, 1);
    await s2.close();

    const root2 = openLmdb({ path: join(dir, STORE_FILE), maxDbs: 4 });
    await root2.openDB<number, string>({ name: 'meta', encoding: 'json' }).put('format', 99);
    await root2.close();
    const fmt = await rejectsWith(LmdbStore.open({ dir }), StoreCorruptError);
    assert.match(fmt.message, /its format is 99, this dnet reads format 1/);
    // Refusing to open released the lock.
    assert.throws(() => readFileSync(join(dir, LOCK_FILE)), /ENOENT/);
  });
});

// --- etcd --------------------------------------------------------------------------------------

let etcd: EtcdServer | undefined;
let etcdStarted: Promise<EtcdServer> | undefined;
/** One etcd for the whole file (started on first use, stopped at the end). */
function sharedEtcd(): Promise<EtcdServer> {
  etcdStarted ??= startEtcd().then((s) => {
    etcd = s;
    return s;
  });
  return etcdStarted;
}
after(async () => {
  await etcd?.stop();
});

let prefixes = 0;
describeStore(
  'etcd',
  async () => {
    const server = await sharedEtcd();
    const prefix = `dnet-contract-${++prefixes}/`;
    // Small list pages, so listing exercises paging.
    return { open: () => EtcdStore.open({ hosts: server.hosts, prefix, listPageSize: 50 }) };
  },
  async () => {},
);

describe('EtcdStore: etcd particulars', () => {
  test('keys live under the prefix; other clients see them and their watches fire', async () => {
    const server = await sharedEtcd();
    const a = await EtcdStore.open({ hosts: server.hosts, prefix: 'hostA/' });
    const b = await EtcdStore.open({ hosts: server.hosts, prefix: 'hostA/' });
    const other = await EtcdStore.open({ hosts: server.hosts, prefix: 'hostB/' });
    try {
      const seen: KvEvent[] = [];
      const w = await b.watch('net/', (e) => seen.push(e));
      const e = await a.put('net/1', { subnet: '10.0.0.0/24' });
      assert.deepEqual(await b.get('net/1'), e);
      assert.equal(await other.get('net/1'), undefined, 'another prefix is another keyspace');
      await a.delete('net/1');
      await until(() => seen.length === 2, 'events from the other client');
      assert.deepEqual(seen[0], { type: 'put', key: 'net/1', entry: e });
      assert.equal(seen[1]!.type, 'delete');
      await w.close();

      const raw = new Etcd3({ hosts: server.hosts });
      try {
        await a.put('k', 'v');
        assert.equal(await raw.get('hostA/k').string(), '"v"', 'stored as JSON text under the prefix');
        // A value dnet did not write: corrupt for get/list, skipped and reported by a watch.
        const errors: Error[] = [];
        const events: KvEvent[] = [];
        const w2 = await a.watch('', (ev) => events.push(ev), { onError: (er) => errors.push(er) });
        await raw.put('hostA/bad').value('{nope');
        await a.put('after', 1);
        await until(() => events.length === 1 && errors.length === 1, 'the bad event reported');
        assert.ok(errors[0] instanceof StoreCorruptError);
        assert.equal(events[0]!.key, 'after');
        await w2.close();
        const err = await rejectsWith(a.get('bad'), StoreCorruptError);
        assert.match(err.message, /etcd .* key "hostA\/bad" cannot be read: the value is not JSON/);
      } finally {
        raw.close();
      }
    } finally {
      await a.close();
      await b.close();
      await other.close();
    }
  });

  test('a bad prefix or no hosts is refused', async () => {
    const server = await sharedEtcd();
    for (const prefix of ['', 'dnet', '/dnet/', 'a//']) {
      await rejectsWith(EtcdStore.open({ hosts: server.hosts, prefix }), InvalidKeyError);
    }
    await rejectsWith(EtcdStore.open({ hosts: [] }), StoreUnavailableError);
  });

  test('etcd down: StoreUnavailableError (kind unavailable, 503) that says what to do', async () => {
    const server = await sharedEtcd();
    assert.notEqual(new URL(server.endpoint).port, '1');
    const noOne = 'http://127.0.0.1:1'; // nothing listens there in the world
    const t0 = Date.now();
    const err = await rejectsWith(EtcdStore.open({ hosts: [noOne], timeoutMs: 2000 }), StoreUnavailableError);
    assert.ok(Date.now() - t0 < 5000, 'fails fast when nothing listens');
    assert.equal(err.code, 'ERR_STORE_UNAVAILABLE');
    assert.equal(err.kind, 'unavailable');
    assert.equal(httpStatus(err), 503);
    assert.ok(err instanceof DnetError);
    assert.match(
      err.message,
      /the etcd store is unavailable \(connect: .*127\.0\.0\.1:\d+.*check that it is running/,
    );

    // A store whose etcd goes away.
    const own = await startEtcd();
    const s = await EtcdStore.open({ hosts: own.hosts, timeoutMs: 1500 });
    await s.put('k', 1);
    await own.stop();
    const e1 = await rejectsWith(s.get('k'), StoreUnavailableError);
    assert.match(e1.message, /\(get k: /);
    await rejectsWith(s.put('k', 2), StoreUnavailableError);
    await rejectsWith(s.transaction([{ type: 'put', key: 'k', value: 3 }]), StoreUnavailableError);
    await rejectsWith(
      s.watch('', () => {}),
      StoreUnavailableError,
    );
    await s.close();
  });
});
