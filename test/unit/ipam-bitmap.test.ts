import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createAllocator, type OffsetAllocator } from '../../src/ipam/allocator.ts';
import { Bitmap } from '../../src/ipam/bitmap.ts';
import { DENSE_MAX_SIZE, DenseBitmap } from '../../src/ipam/dense.ts';

const runs = (b: OffsetAllocator) => [...b.runs()].map(([s, e]) => [Number(s), Number(e)]);

/** The two allocators; every behavioural test below runs against both. */
const IMPLS: { name: string; make: (size: bigint) => OffsetAllocator }[] = [
  { name: 'Bitmap (sparse)', make: (size) => new Bitmap(size) },
  { name: 'DenseBitmap', make: (size) => new DenseBitmap(size) },
];

/** A small deterministic PRNG (LCG): the same sequence on every run. */
function prng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
}

/**
 * Random operations on `n` offsets, checked against a Set: allocate, release, allocateNext (serial
 * and first-free) within random ranges. `checkEvery` steps, every offset and the runs are compared.
 */
function againstModel(make: (size: bigint) => OffsetAllocator, n: number, steps: number, seed: number): void {
  const rnd = prng(seed);
  const b = make(BigInt(n));
  const model = new Set<number>();
  let cursor = 0;
  const modelNext = (start: number, end: number, serial: boolean): number | undefined => {
    let from = serial ? cursor : start;
    if (from < start || from > end) from = start;
    for (let i = from; i <= end; i++) if (!model.has(i)) return i;
    for (let i = start; i < from; i++) if (!model.has(i)) return i;
    return undefined;
  };
  const checkEvery = Math.max(97, Math.floor(steps / 40));
  for (let step = 0; step < steps; step++) {
    const op = rnd(4);
    const o = rnd(n);
    if (op === 0) {
      assert.equal(b.allocate(BigInt(o)), !model.has(o));
      model.add(o);
    } else if (op === 1) {
      assert.equal(b.release(BigInt(o)), model.has(o));
      model.delete(o);
    } else {
      const start = rnd(n);
      const end = start + rnd(n - start);
      const serial = op === 2;
      const want = modelNext(start, end, serial);
      const got = b.allocateNext({ start: BigInt(start), end: BigInt(end), serial });
      assert.equal(got === undefined ? undefined : Number(got), want, `step ${step}`);
      if (want !== undefined) {
        model.add(want);
        cursor = (want + 1) % n; // without `from`, every allocateNext moves the cursor
      }
    }
    assert.equal(b.count, BigInt(model.size));
    if (step % checkEvery === 0 || step === steps - 1) {
      for (let i = 0; i < n; i++) assert.equal(b.isAllocated(BigInt(i)), model.has(i));
      // runs are maximal, sorted, and cover exactly the model
      const rs = [...b.runs()];
      for (let i = 1; i < rs.length; i++) assert.ok(rs[i]![0] > rs[i - 1]![1] + 1n, 'runs are merged');
      assert.equal(b.runCount, rs.length);
      let covered = 0n;
      for (const [s, e] of rs) covered += e - s + 1n;
      assert.equal(covered, b.count);
      const q = rnd(n);
      const r = q + rnd(n - q);
      let want = 0;
      for (let i = q; i <= r; i++) if (model.has(i)) want++;
      assert.equal(b.countIn(BigInt(q), BigInt(r)), BigInt(want));
      let nf: number | undefined;
      for (let i = q; i <= r && nf === undefined; i++) if (!model.has(i)) nf = i;
      assert.equal(b.nextFree(BigInt(q), BigInt(r)), nf === undefined ? undefined : BigInt(nf));
    }
  }
}

for (const { name, make } of IMPLS) {
  describe(`${name}: construction and bounds`, () => {
    test('size must be a bigint >= 1', () => {
      assert.throws(() => make(0n), RangeError);
      assert.throws(() => make(-5n), RangeError);
      assert.throws(() => make(10 as unknown as bigint), RangeError);
      const b = make(1n);
      assert.equal(b.size, 1n);
      assert.equal(b.count, 0n);
      assert.equal(b.free, 1n);
      assert.equal(b.allocateNext(), 0n);
      assert.equal(b.allocateNext(), undefined);
    });

    test('offsets outside [0, size) are a RangeError on every operation', () => {
      const b = make(8n);
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

  describe(`${name}: specific offsets`, () => {
    test('allocate, isAllocated, release, count', () => {
      const b = make(16n);
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
      const b = make(32n);
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
      assert.equal(b.runCount, 2);
      b.release(4n);
      assert.deepEqual(runs(b), [[6, 7]]);
      b.allocate(5n);
      b.allocate(4n);
      assert.deepEqual(runs(b), [[4, 7]]);
      assert.equal(b.runCount, 1);
      assert.equal(b.count, 4n);
      assert.equal(b.countIn(0n, 5n), 2n);
      assert.equal(b.countIn(5n, 31n), 3n);
      b.allocate(31n);
      b.allocate(0n);
      assert.deepEqual(runs(b), [
        [0, 0],
        [4, 7],
        [31, 31],
      ]);
      assert.equal(b.runCount, 3);
    });

    test('nextFree jumps over a whole run in one step', () => {
      const b = make(100n);
      for (let i = 10n; i < 60n; i++) b.allocate(i);
      assert.equal(b.nextFree(0n), 0n);
      assert.equal(b.nextFree(10n), 60n);
      assert.equal(b.nextFree(35n), 60n);
      assert.equal(b.nextFree(35n, 59n), undefined);
      assert.equal(b.nextFree(99n), 99n);
      assert.equal(b.count, 50n, 'nextFree allocates nothing');
    });
  });

  describe(`${name}: allocateNext`, () => {
    test('serial: continues after the last one handed out, a released offset comes back only after a wrap', () => {
      const b = make(6n);
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
      const b = make(10n);
      b.allocate(0n);
      assert.equal(b.allocateNext(), 1n);
      b.allocate(5n);
      assert.equal(b.allocateNext(), 2n);
      assert.equal(b.cursor, 3n);
    });

    test('first free (serial: false) reuses the lowest free offset', () => {
      const b = make(6n);
      for (let i = 0; i < 4; i++) b.allocateNext({ serial: false });
      b.release(1n);
      assert.equal(b.allocateNext({ serial: false }), 1n);
      assert.equal(b.allocateNext({ serial: false }), 4n);
    });

    test('within a range, from a given cursor, wrapping inside the range', () => {
      const b = make(256n);
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
      const b = make(1000n);
      for (let i = 0; i < 1000; i++) b.allocateNext();
      b.release(17n);
      b.cursor = 500n;
      assert.equal(b.allocateNext(), 17n);
      assert.equal(b.allocateNext(), undefined);
    });
  });

  describe(`${name}: against a reference model`, () => {
    test('random operations on 64 offsets agree with a Set', () => {
      againstModel(make, 64, 20_000, 12345);
    });

    test('random operations on odd sizes (1, 31, 33, 1025, 5003 offsets) agree with a Set', () => {
      againstModel(make, 1, 500, 1);
      againstModel(make, 31, 3_000, 2);
      againstModel(make, 33, 3_000, 3);
      againstModel(make, 1025, 6_000, 4);
      // 5003 offsets: two summary levels above the bits in the dense one (157 words, 5, 1)
      againstModel(make, 5003, 6_000, 5);
    });
  });

  describe(`${name}: addRuns`, () => {
    test('addRuns merges touching runs in any order', () => {
      const b = make(100n);
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
      assert.equal(b.runCount, 2);
      assert.equal(b.count, 21n);
      assert.throws(() => b.addRuns([[25n, 35n]]), RangeError);
      assert.throws(() => b.addRuns([[19n, 19n]]), RangeError);
      b.addRuns([[20n, 29n]]);
      assert.deepEqual(runs(b), [[0, 30]]);
      assert.equal(b.runCount, 1);
      assert.equal(b.nextFree(0n), 31n);
    });
  });
}

describe('Bitmap (sparse): huge ranges are sparse', () => {
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

describe('DenseBitmap: a /8 (2^24 offsets)', () => {
  const SIZE = DENSE_MAX_SIZE;
  const TOP = SIZE - 1n;

  test('at most 2^24 offsets; fixed memory of 2.07 MiB whatever the fill', () => {
    assert.throws(() => new DenseBitmap(SIZE + 1n), RangeError);
    const b = new DenseBitmap(SIZE);
    const bytes = b.byteLength;
    assert.equal(bytes, (1 << 21) + (1 << 16) + (1 << 11) + 64 + 4);
    b.addRuns([[0n, TOP]]);
    assert.equal(b.count, SIZE);
    assert.equal(b.runCount, 1);
    assert.equal(b.allocateNext(), undefined, 'full');
    // the sparse allocator's worst case: every other offset
    for (let i = 1n; i < SIZE; i += 2n) b.release(i);
    assert.equal(b.runCount, 1 << 23);
    assert.equal(b.count, SIZE / 2n);
    assert.equal(b.byteLength, bytes);
    assert.equal(new DenseBitmap(1n << 16n).byteLength, 8192 + 256 + 8 + 4, 'a /16: 8.3 KiB');
  });

  test('allocate near the end, serial allocation wraps around to the start', () => {
    const b = new DenseBitmap(SIZE);
    assert.equal(b.allocate(TOP), true);
    assert.equal(b.allocate(TOP - 1n), true);
    assert.equal(b.isAllocated(TOP), true);
    assert.equal(b.runCount, 1);
    assert.deepEqual([...b.runs()], [[TOP - 1n, TOP]]);
    b.cursor = TOP - 3n;
    assert.equal(b.allocateNext(), TOP - 3n);
    assert.equal(b.allocateNext(), TOP - 2n);
    assert.equal(b.cursor, TOP - 1n);
    assert.equal(b.allocateNext(), 0n, 'skips the allocated end and wraps');
    assert.equal(b.cursor, 1n);
    assert.equal(b.nextFree(TOP - 5n), TOP - 5n);
    assert.equal(b.nextFree(TOP - 3n), undefined);
    // within a range at the top, from a cursor inside it
    const r = { start: TOP - 9n, end: TOP, from: TOP - 3n };
    assert.equal(b.allocateNext(r), TOP - 9n, 'wraps inside the range');
    assert.equal(b.cursor, 1n, 'an explicit from leaves the cursor alone');
  });

  test('95% full: next free is right, from anywhere, with wrap-around', () => {
    const b = new DenseBitmap(SIZE);
    b.addRuns([[0n, TOP]]);
    // every 20th offset free: 95% full, the free ones spread evenly
    for (let i = 7n; i < SIZE; i += 20n) b.release(i);
    const free = (SIZE - 7n + 19n) / 20n;
    assert.equal(b.free, free);
    const rnd = prng(99);
    for (let k = 0; k < 2_000; k++) {
      const p = BigInt(rnd(Number(SIZE)));
      const r = p % 20n;
      const want = r <= 7n ? p - r + 7n : p - r + 27n;
      assert.equal(b.nextFree(p), want < SIZE ? want : undefined, `from ${p}`);
    }
    // serial: 100 in a row from the cursor, 20 apart
    b.cursor = 1_000_000n;
    for (let k = 0n; k < 100n; k++) assert.equal(b.allocateNext(), 1_000_007n + 20n * k);
    // full again, then three holes far apart: found across whole full summary words, never a scan
    for (let i = 7n; i < SIZE; i += 20n) if (!b.isAllocated(i)) b.allocate(i);
    const holes = [3n, 5_000_001n, TOP - 12n];
    assert.equal(b.count, SIZE);
    for (const h of holes) b.release(h);
    b.cursor = TOP - 11n;
    assert.equal(b.allocateNext(), 3n, 'wraps over 2^24 - 12 allocated offsets');
    assert.equal(b.allocateNext(), 5_000_001n);
    assert.equal(b.allocateNext(), TOP - 12n);
    assert.equal(b.allocateNext(), undefined, 'full');
    assert.equal(b.nextFree(0n), undefined);
  });

  test('the same random operations on a /8 as the sparse allocator', () => {
    const dense = new DenseBitmap(SIZE);
    const sparse = new Bitmap(SIZE);
    const rnd = prng(7);
    // clustered offsets (a few thousand around a few centres) so words and summary words fill up
    const centres = [0, 4096, 1 << 20, (1 << 24) - 2048];
    const pick = () => Math.min(Number(TOP), centres[rnd(centres.length)]! + rnd(2048));
    for (let step = 0; step < 30_000; step++) {
      const op = rnd(5);
      if (op === 0) {
        const o = BigInt(pick());
        assert.equal(dense.allocate(o), sparse.allocate(o));
      } else if (op === 1) {
        const o = BigInt(pick());
        assert.equal(dense.release(o), sparse.release(o));
      } else {
        const start = BigInt(pick());
        const end = start + BigInt(rnd(4096));
        const opts = { start, end: end > TOP ? TOP : end, serial: op !== 4 };
        assert.equal(dense.allocateNext(opts), sparse.allocateNext(opts), `step ${step}`);
      }
    }
    assert.equal(dense.count, sparse.count);
    assert.equal(dense.runCount, sparse.runCount);
    assert.deepEqual(runs(dense), runs(sparse));
    assert.equal(dense.cursor, sparse.cursor);
  });
});

describe('the allocator for a size', () => {
  test('createAllocator: dense up to 2^24 offsets, sparse above', () => {
    assert.ok(createAllocator(1n) instanceof DenseBitmap);
    assert.ok(createAllocator(1n << 16n) instanceof DenseBitmap);
    assert.ok(createAllocator(1n << 24n) instanceof DenseBitmap);
    assert.ok(createAllocator((1n << 24n) + 1n) instanceof Bitmap);
    assert.ok(createAllocator(1n << 64n) instanceof Bitmap);
    assert.throws(() => createAllocator(0n), RangeError);
  });
});
