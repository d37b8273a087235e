/**
 * A dense allocator over the offsets `0 .. size-1` of an address range of up to 2^24 offsets (an
 * IPv4 /8, an IPv6 /104): the same contract as the sparse Bitmap (allocator.ts OffsetAllocator),
 * with memory that is fixed when it is created and never depends on how many offsets are allocated
 * nor how they are spread (the sparse Bitmap's grows with fragmentation, up to one run per two
 * offsets).
 *
 * Layout: one bit per offset (1 = allocated) in a Uint32Array, 2 MiB for a /8, 8 KiB for a /16,
 * with the bits past `size` in the last word set (so they are never free). Above it a summary
 * hierarchy: in level k >= 1, bit i says "word i of level k-1 has a free offset below it" (for
 * level 1: word i of the bit array is not all ones). Each level is 32 times smaller than the one
 * below; the top one is a single word. For a /8: 2 MiB + 64 KiB + 2 KiB + 64 B + 4 B.
 *
 * - allocate/release change one bit, and walk up only while a word turns full (or stops being
 *   full): O(levels), at most 5 for a /8.
 * - "first free offset at or after x" looks in x's word; failing that it climbs to the first
 *   level whose word has a set bit after x's position, and descends taking the lowest set bit at
 *   each level: O(levels) whatever the fill. A full region is skipped 32^k offsets at a time,
 *   never scanned word by word, so allocation stays as fast at 95% or 100% full as when empty.
 *
 * Serial (round-robin) and first-free allocation, cursors, `from` and ranges behave
 * exactly as Bitmap's; see bitmap.ts. Offsets cross the API as bigints and are plain numbers inside.
 */
import type { OffsetAllocator } from './allocator.ts';
import type { AllocateNextOptions } from './bitmap.ts';

/** The largest size a DenseBitmap takes: 2^24 offsets (an IPv4 /8). */
export const DENSE_MAX_SIZE = 1n << 24n;

const FULL = 0xffffffff;

/** Index of the lowest set bit of a non-zero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Bits lo..hi (0 <= lo <= hi <= 31) of a word. */
function mask(lo: number, hi: number): number {
  return (-1 >>> (31 - hi)) & (-1 << lo);
}

export class DenseBitmap implements OffsetAllocator {
  readonly size: bigint;
  readonly #n: number;
  /** Level 0: one bit per offset, 1 = allocated; bits past the end are 1. */
  readonly #bits: Uint32Array;
  /** Levels 1..: bit i of level k = word i of level k-1 has a free offset (for level 1: is not all ones). */
  readonly #sum: Uint32Array[];
  #count = 0;
  #runs = 0;
  #cursor = 0;

  constructor(size: bigint) {
    if (typeof size !== 'bigint' || size < 1n)
      throw new RangeError(`bitmap size must be a bigint >= 1, got ${size}`);
    if (size > DENSE_MAX_SIZE)
      throw new RangeError(`a dense bitmap holds at most ${DENSE_MAX_SIZE} offsets (a /8), got ${size}`);
    this.size = size;
    const n = Number(size);
    this.#n = n;
    let len = Math.ceil(n / 32);
    this.#bits = new Uint32Array(len);
    if (n % 32 !== 0) this.#bits[len - 1] = -1 << (n % 32);
    this.#sum = [];
    while (len > 1) {
      // every word below has a free offset: set bits 0 .. len-1
      const upper = Math.ceil(len / 32);
      const level = new Uint32Array(upper).fill(FULL);
      if (len % 32 !== 0) level[upper - 1] = -1 >>> (32 - (len % 32));
      this.#sum.push(level);
      len = upper;
    }
  }

  /** How many offsets are allocated. */
  get count(): bigint {
    return BigInt(this.#count);
  }

  /** How many offsets are free. */
  get free(): bigint {
    return BigInt(this.#n - this.#count);
  }

  /** How many maximal runs of allocated offsets there are (kept up to date, O(1)). */
  get runCount(): number {
    return this.#runs;
  }

  /** The bytes its arrays take: fixed at creation (2,164,804 for a /8). */
  get byteLength(): number {
    return this.#sum.reduce((s, l) => s + l.byteLength, this.#bits.byteLength);
  }

  /** Where the next serial `allocateNext` without `from` starts searching. */
  get cursor(): bigint {
    return BigInt(this.#cursor);
  }

  set cursor(value: bigint) {
    this.#cursor = this.#check(value);
  }

  isAllocated(offset: bigint): boolean {
    return this.#isSet(this.#check(offset));
  }

  /** Allocates this offset. False if it was already allocated. */
  allocate(offset: bigint): boolean {
    const o = this.#check(offset);
    if (this.#isSet(o)) return false;
    this.#set(o);
    return true;
  }

  /**
   * Allocates a free offset of `[start, end]` and returns it, or `undefined` when all of them are
   * allocated. Serial by default, as Bitmap.allocateNext.
   */
  allocateNext(opts: AllocateNextOptions = {}): bigint | undefined {
    const start = opts.start === undefined ? 0 : this.#check(opts.start);
    const end = opts.end === undefined ? this.#n - 1 : this.#check(opts.end);
    if (start > end) throw new RangeError(`empty range: start ${start} > end ${end}`);
    if (this.#count === this.#n) return undefined;
    let from =
      opts.serial === false ? start : opts.from === undefined ? this.#cursor : this.#check(opts.from);
    if (from < start || from > end) from = start;
    let found = this.#nextFree(from);
    if (found < 0 || found > end) {
      found = from > start ? this.#nextFree(start) : -1;
      if (found >= from) found = -1;
    }
    if (found < 0) return undefined;
    this.#set(found);
    if (opts.from === undefined) this.#cursor = found + 1 === this.#n ? 0 : found + 1;
    return BigInt(found);
  }

  /** Releases this offset. False if it was not allocated. */
  release(offset: bigint): boolean {
    const o = this.#check(offset);
    const w = o >>> 5;
    const bit = 1 << (o & 31);
    const old = this.#bits[w]!;
    if ((old & bit) === 0) return false;
    this.#bits[w] = old & ~bit;
    if (old === FULL) this.#markHasFree(w);
    const left = o > 0 && this.#isSet(o - 1) ? 1 : 0;
    const right = o + 1 < this.#n && this.#isSet(o + 1) ? 1 : 0;
    this.#runs += left + right - 1;
    this.#count--;
    return true;
  }

  /** The lowest free offset of `[from, end]` (end defaults to size-1), or undefined. Allocates nothing. */
  nextFree(from: bigint, end: bigint = this.size - 1n): bigint | undefined {
    const f = this.#check(from);
    const e = this.#check(end);
    const x = this.#nextFree(f);
    return x >= 0 && x <= e ? BigInt(x) : undefined;
  }

  /** The offset after `offset`, wrapping to 0 past the end: what a cursor becomes. */
  after(offset: bigint): bigint {
    return offset + 1n === this.size ? 0n : offset + 1n;
  }

  /** The allocated runs `[start, end]` (inclusive), in order. O(size / 32) to walk them all. */
  *runs(): Generator<[bigint, bigint]> {
    let p = 0;
    while (p < this.#n) {
      const s = this.#nextAllocated(p, this.#n - 1);
      if (s < 0) return;
      const f = this.#nextFree(s);
      const e = f < 0 ? this.#n : f;
      yield [BigInt(s), BigInt(e - 1)];
      p = e;
    }
  }

  /** The number of allocated offsets in `[start, end]`. O((end - start) / 32). */
  countIn(start: bigint, end: bigint): bigint {
    const s = this.#check(start);
    const e = this.#check(end);
    if (s > e) return 0n;
    let c = 0;
    const ws = s >>> 5;
    const we = e >>> 5;
    for (let w = ws; w <= we; w++) {
      const m = mask(w === ws ? s & 31 : 0, w === we ? e & 31 : 31);
      c += popcount(this.#bits[w]! & m);
    }
    return BigInt(c);
  }

  /**
   * Marks runs `[start, end]` (inclusive) allocated at once: runs may come in any order and
   * touch each other, but must not overlap each other or what is allocated. O(length / 32) per run.
   */
  addRuns(runs: Iterable<[bigint, bigint]>): void {
    const sorted = [...runs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [start, end] of sorted) {
      const s = this.#check(start);
      const e = this.#check(end);
      if (s > e) throw new RangeError(`bad run [${s}, ${e}]: start after end`);
      if (this.#nextAllocated(s, e) >= 0) throw new RangeError(`run [${s}, ${e}] overlaps allocated offsets`);
      const left = s > 0 && this.#isSet(s - 1) ? 1 : 0;
      const right = e + 1 < this.#n && this.#isSet(e + 1) ? 1 : 0;
      const ws = s >>> 5;
      const we = e >>> 5;
      for (let w = ws; w <= we; w++) {
        const v = (this.#bits[w]! | mask(w === ws ? s & 31 : 0, w === we ? e & 31 : 31)) >>> 0;
        this.#bits[w] = v;
        if (v === FULL) this.#markFull(w);
      }
      this.#runs += 1 - left - right;
      this.#count += e - s + 1;
    }
  }

  // --- internals ----------------------------------------------------------------------------

  #check(offset: bigint): number {
    if (typeof offset !== 'bigint' || offset < 0n || offset >= this.size) {
      throw new RangeError(`offset ${String(offset)} outside [0, ${this.size - 1n}]`);
    }
    return Number(offset);
  }

  #isSet(o: number): boolean {
    return (this.#bits[o >>> 5]! & (1 << (o & 31))) !== 0;
  }

  /** Allocates the free offset `o`. */
  #set(o: number): void {
    const w = o >>> 5;
    const v = (this.#bits[w]! | (1 << (o & 31))) >>> 0;
    this.#bits[w] = v;
    if (v === FULL) this.#markFull(w);
    const left = o > 0 && this.#isSet(o - 1) ? 1 : 0;
    const right = o + 1 < this.#n && this.#isSet(o + 1) ? 1 : 0;
    this.#runs += 1 - left - right;
    this.#count++;
  }

  /** Word `w` of the bit array just became full: clear its summary bit, and upwards while words empty. */
  #markFull(w: number): void {
    let i = w;
    for (const level of this.#sum) {
      const j = i >>> 5;
      const v = level[j]! & ~(1 << (i & 31));
      level[j] = v;
      if (v !== 0) return;
      i = j;
    }
  }

  /** Word `w` of the bit array was full and is not any more: set its summary bit, and upwards. */
  #markHasFree(w: number): void {
    let i = w;
    for (const level of this.#sum) {
      const j = i >>> 5;
      const old = level[j]!;
      level[j] = old | (1 << (i & 31));
      if (old !== 0) return;
      i = j;
    }
  }

  /** The lowest free offset >= p, or -1. O(levels). */
  #nextFree(p: number): number {
    if (p >= this.#n) return -1;
    const bits = this.#bits;
    const w = p >>> 5;
    const m = ~bits[w]! & (-1 << (p & 31));
    if (m !== 0) return (w << 5) + ctz(m); // bits past the end are set: never returned
    // climb: the first word index after `pos` (at the level below) whose summary bit is set
    const sum = this.#sum;
    let pos = w + 1;
    let k = 0;
    let found = -1;
    for (; k < sum.length; k++) {
      const level = sum[k]!;
      const j = pos >>> 5;
      if (j >= level.length) return -1;
      const mm = level[j]! & (-1 << (pos & 31));
      if (mm !== 0) {
        found = (j << 5) + ctz(mm);
        break;
      }
      pos = j + 1;
    }
    if (found < 0) return -1;
    // descend: `found` indexes a word of level k-1 (of the bit array when k = 0) with a free offset
    for (let d = k - 1; d >= 0; d--) found = (found << 5) + ctz(sum[d]![found]!);
    return (found << 5) + ctz(~bits[found]!);
  }

  /** The lowest allocated offset of [p, e], or -1. O((e - p) / 32): only for addRuns. */
  #nextAllocated(p: number, e: number): number {
    const bits = this.#bits;
    const we = e >>> 5;
    let w = p >>> 5;
    let m = bits[w]! & (-1 << (p & 31));
    while (m === 0) {
      if (++w > we) return -1;
      m = bits[w]!;
    }
    const x = (w << 5) + ctz(m);
    return x <= e ? x : -1;
  }
}
