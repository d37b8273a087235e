import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Bitmap } from '../../src/ipam/bitmap.ts';

const runs = (b: Bitmap) => [...b.runs()].map(([s, e]) => [Number(s), Number(e)]);

describe('Bitmap: construction and bounds', () => {
  test('size must be a bigint >= 1', () => {
    assert.throws(() => new Bitmap(0n), RangeError);
    assert.throws(() => new Bitmap(-5n), RangeError);
    assert.throws(() => new Bitmap(10 as unknown as bigint), RangeError);
    const b = new Bitmap(1n);
    assert.equal(b.size, 1n);
    assert.equal(b.count, 0n);
    assert.equal(b.free, 1n);
  });

  test('offsets outside [0, size) are a RangeError on every operation', () => {
    const b = new Bitmap(8n);
    for (const bad of [-1n, 8n, 100n]) {
      assert.throws(() => b.allocate(bad), RangeError);
      assert.throws(() => b.release(bad), RangeError);
      assert.throws(() => b.isAllocated(bad), RangeError);
      assert.throws(() => b.nextFree(bad), RangeError);
      assert.throws(() => {
        b.cursor = bad;
      }, RangeError);
      assert.throws(() => b.allocateNext({ start: bad }), RangeError);
      assert.throws(() => b.allocateNext({ end: bad }), RangeError);
    }
    assert.throws(() => b.allocateNext({ start: 5n, end: 4n }), RangeError);
  });
});

describe('Bitmap: specific offsets', () => {
  test('allocate, isAllocated, release, count', () => {
    const b = new Bitmap(16n);
    assert.equal(b.allocate(3n), true);
    assert.equal(b.allocate(3n), false, 'twice');
    assert.equal(b.isAllocated(3n), true);
    assert.equal(b.isAllocated(4n), false);
    assert.equal(b.count, 1n);
    assert.equal(b.free, 15n);
    assert.equal(b.release(4n), false, 'free offset');
    assert.equal(b.release(3n), true);
    assert.equal(b.release(3n), false, 'twice');
    assert.equal(b.count, 0n);
  });

  test('runs stay maximal: adjacent offsets merge, releases split', () => {
    const b = new Bitmap(32n);
    for (const o of [5n, 7n, 6n, 3n, 4n, 8n]) b.allocate(o);
    assert.deepEqual(runs(b), [[3, 8]]);
    assert.equal(b.runCount, 1);
    b.release(5n);
    assert.deepEqual(runs(b), [
      [3, 4],
      [6, 8],
    ]);
    b.release(3n);
    b.release(8n);
    assert.deepEqual(runs(b), [
      [4, 4],
      [6, 7],
    ]);
    b.release(4n);
    assert.deepEqual(runs(b), [[6, 7]]);
    b.allocate(5n);
    b.allocate(4n);
    assert.deepEqual(runs(b), [[4, 7]]);
    assert.equal(b.count, 4n);
    assert.equal(b.countIn(0n, 5n), 2n);
    assert.equal(b.countIn(5n, 31n), 3n);
  });

  test('nextFree jumps over a whole run in one step', () => {
    const b = new Bitmap(100n);
    for (let i = 10n; i < 60n; i++) b.allocate(i);
    assert.equal(b.nextFree(0n), 0n);
    assert.equal(b.nextFree(10n), 60n);
    assert.equal(b.nextFree(35n), 60n);
    assert.equal(b.nextFree(35n, 59n), undefined);
    assert.equal(b.nextFree(99n), 99n);
    assert.equal(b.count, 50n, 'nextFree allocates nothing');
  });
});

describe('Bitmap: allocateNext', () => {
  test('serial: continues after the last one handed out, a released offset comes back only after a wrap', () => {
    const b = new Bitmap(6n);
    assert.equal(b.allocateNext(), 0n);
    assert.equal(b.allocateNext(), 1n);
    assert.equal(b.allocateNext(), 2n);
    b.release(1n);
    assert.equal(b.allocateNext(), 3n, 'not the just-released 1');
    assert.equal(b.allocateNext(), 4n);
    assert.equal(b.allocateNext(), 5n);
    assert.equal(b.cursor, 0n, 'cursor wraps past the end');
    assert.equal(b.allocateNext(), 1n, 'after the wrap');
    assert.equal(b.allocateNext(), undefined, 'full');
    assert.equal(b.count, 6n);
  });

  test('serial: specific allocations do not move the cursor (moby)', () => {
    const b = new Bitmap(10n);
    b.allocate(0n);
    assert.equal(b.allocateNext(), 1n);
    b.allocate(5n);
    assert.equal(b.allocateNext(), 2n);
    assert.equal(b.cursor, 3n);
  });

  test('first free (serial: false) reuses the lowest free offset', () => {
    const b = new Bitmap(6n);
    for (let i = 0; i < 4; i++) b.allocateNext({ serial: false });
    b.release(1n);
    assert.equal(b.allocateNext({ serial: false }), 1n);
    assert.equal(b.allocateNext({ serial: false }), 4n);
  });

  test('within a range, from a given cursor, wrapping inside the range', () => {
    const b = new Bitmap(256n);
    const r = { start: 100n, end: 103n };
    assert.equal(b.allocateNext({ ...r, from: 102n }), 102n);
    assert.equal(b.cursor, 0n, 'an explicit from leaves the bitmap cursor alone');
    assert.equal(b.allocateNext({ ...r, from: 103n }), 103n);
    assert.equal(
      b.allocateNext({ ...r, from: 104n % 256n }),
      100n,
      'a cursor outside the range starts at its start',
    );
    assert.equal(b.allocateNext({ ...r, from: 101n }), 101n);
    assert.equal(b.allocateNext({ ...r, from: 102n }), undefined, 'range full');
    assert.equal(b.allocateNext(), 0n, 'the rest is still free');
  });

  test('wrap-around finds a hole before the cursor', () => {
    const b = new Bitmap(1000n);
    for (let i = 0; i < 1000; i++) b.allocateNext();
    b.release(17n);
    b.cursor = 500n;
    assert.equal(b.allocateNext(), 17n);
    assert.equal(b.allocateNext(), undefined);
  });
});

describe('Bitmap: huge ranges are sparse', () => {
  test('2^64 offsets (an IPv6 /64)', () => {
    const b = new Bitmap(1n << 64n);
    const top = (1n << 64n) - 1n;
    assert.equal(b.allocate(top), true);
    assert.equal(b.isAllocated(top), true);
    b.cursor = top;
    assert.equal(b.allocateNext(), 0n, 'wraps from the very end');
    for (let i = 0; i < 10_000; i++) b.allocateNext();
    assert.equal(b.runCount, 2);
    assert.equal(b.count, 10_002n);
    assert.equal(b.free, (1n << 64n) - 10_002n);
  });

  test('2^128 offsets (the whole IPv6 space)', () => {
    const size = 1n << 128n;
    const b = new Bitmap(size);
    assert.equal(b.allocate(size - 2n), true);
    assert.equal(b.allocateNext({ from: size - 2n, start: 0n, end: size - 1n }), size - 1n);
    assert.equal(b.allocateNext({ from: size - 2n, start: 0n, end: size - 1n }), 0n);
    assert.deepEqual(
      [...b.runs()],
      [
        [0n, 0n],
        [size - 2n, size - 1n],
      ],
    );
  });

  test('fragmentation keeps O(runs) memory: every other offset of 20,000', () => {
    const b = new Bitmap(1n << 64n);
    for (let i = 0n; i < 20_000n; i++) b.allocate(i);
    for (let i = 1n; i < 20_000n; i += 2n) b.release(i);
    assert.equal(b.runCount, 10_000);
    assert.equal(b.nextFree(0n), 1n);
    b.cursor = 0n;
    assert.equal(b.allocateNext(), 1n);
    assert.equal(b.allocateNext(), 3n);
  });
});

describe('Bitmap: against a reference model', () => {
  test('random operations on 64 offsets agree with a Set', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const N = 64;
    const b = new Bitmap(BigInt(N));
    const model = new Set<number>();
    let cursor = 0;
    const modelNext = (start: number, end: number, serial: boolean): number | undefined => {
      let from = serial ? cursor : start;
      if (from < start || from > end) from = start;
      for (let i = from; i <= end; i++) if (!model.has(i)) return i;
      for (let i = start; i < from; i++) if (!model.has(i)) return i;
      return undefined;
    };
    for (let step = 0; step < 20_000; step++) {
      const op = rnd(4);
      const o = rnd(N);
      if (op === 0) {
        assert.equal(b.allocate(BigInt(o)), !model.has(o));
        model.add(o);
      } else if (op === 1) {
        assert.equal(b.release(BigInt(o)), model.has(o));
        model.delete(o);
      } else {
        const start = rnd(N);
        const end = start + rnd(N - start);
        const serial = op === 2;
        const want = modelNext(start, end, serial);
        const got = b.allocateNext({ start: BigInt(start), end: BigInt(end), serial });
        assert.equal(got === undefined ? undefined : Number(got), want, `step ${step}`);
        if (want !== undefined) {
          model.add(want);
          cursor = (want + 1) % N; // without `from`, every allocateNext moves the cursor
        }
      }
      assert.equal(b.count, BigInt(model.size));
      if (step % 97 === 0) {
        for (let i = 0; i < N; i++) assert.equal(b.isAllocated(BigInt(i)), model.has(i));
        // runs are maximal and sorted
        const rs = [...b.runs()];
        for (let i = 1; i < rs.length; i++) assert.ok(rs[i]![0] > rs[i - 1]![1] + 1n, 'runs are merged');
      }
    }
  });
});

describe('Bitmap: snapshot and restore', () => {
  test('round trip through JSON keeps runs, count and cursor', () => {
    const b = new Bitmap(1n << 64n);
    for (let i = 0; i < 50; i++) b.allocateNext();
    b.release(7n);
    b.release(20n);
    b.allocate((1n << 64n) - 1n);
    const json = JSON.parse(JSON.stringify(b.snapshot()));
    const r = Bitmap.restore(json);
    assert.deepEqual(r.snapshot(), b.snapshot());
    assert.equal(r.count, b.count);
    assert.equal(r.runCount, b.runCount);
    for (let i = 0; i < 5; i++) assert.equal(r.allocateNext(), b.allocateNext());
  });

  test('restore refuses malformed snapshots', () => {
    const ok = { size: '16', cursor: '0', runs: [['1', '2']] as [string, string][] };
    assert.equal(Bitmap.restore(ok).count, 2n);
    const bad: unknown[] = [
      { ...ok, size: '0' },
      { ...ok, size: 'x' },
      { ...ok, size: '-1' },
      { ...ok, cursor: '16' },
      { ...ok, cursor: '01' },
      { ...ok, runs: [['3', '2']] },
      { ...ok, runs: [['15', '16']] },
      {
        ...ok,
        runs: [
          ['1', '5'],
          ['5', '6'],
        ],
      },
      { ...ok, runs: 'nope' },
      { ...ok, runs: [[1, 2]] },
    ];
    for (const s of bad) assert.throws(() => Bitmap.restore(s as typeof ok), RangeError, JSON.stringify(s));
  });

  test('addRuns merges touching runs in any order', () => {
    const b = new Bitmap(100n);
    b.addRuns([
      [10n, 19n],
      [0n, 4n],
      [5n, 9n],
      [30n, 30n],
    ]);
    assert.deepEqual(runs(b), [
      [0, 19],
      [30, 30],
    ]);
    assert.equal(b.count, 21n);
    assert.throws(() => b.addRuns([[25n, 35n]]), RangeError);
    assert.throws(() => b.addRuns([[19n, 19n]]), RangeError);
  });
});
