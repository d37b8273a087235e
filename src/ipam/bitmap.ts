/**
 * A pure allocator over the offsets `0 .. size-1` of an address range, of any size: an IPv4 /8
 * (2^24 offsets) as well as an IPv6 /64 or /8 (2^64, 2^120). Offsets are bigints.
 *
 * It is sparse: it stores the allocated offsets as maximal runs `[start, end]` (adjacent runs are
 * always merged), in a treap (a randomised balanced binary search tree) keyed by run start. So its
 * memory is O(runs) whatever the range's size, and every operation is O(log runs):
 *
 * - the run containing (or just before) an offset is one descent;
 * - because runs are maximal, the first free offset at or after `x` is `x` itself or the end of
 *   the run containing `x`, plus one: "next free" is one descent too, never a scan.
 *
 * Allocation of "any" offset is serial (round-robin), as libnetwork's bitmap with serial=true: the
 * search starts at a cursor (one past the last offset handed out), goes to the end of the range and
 * wraps around to its start. So a just-released offset is handed out again only after the rest of
 * the range has been used. `serial: false` searches from the range's start instead (first free).
 *
 * DefaultIpam uses it for ranges above 2^24 offsets (an IPv6 /64); smaller ones get the dense
 * DenseBitmap (dense.ts), whose memory does not grow with fragmentation. See allocator.ts.
 */

import type { OffsetAllocator } from './allocator.ts';

interface Run {
  start: bigint;
  end: bigint;
  prio: number;
  left: Run | null;
  right: Run | null;
}

export interface AllocateNextOptions {
  /** First offset of the range to allocate from (default 0). */
  start?: bigint;
  /** Last offset of the range to allocate from, inclusive (default size-1). */
  end?: bigint;
  /**
   * Where a serial search starts (default: this bitmap's cursor). A caller that keeps its own
   * cursor per range passes it here; the bitmap's cursor then stays as it is.
   */
  from?: bigint;
  /** Round-robin from the cursor (default true), or first free from `start` (false). */
  serial?: boolean;
}

function split(t: Run | null, key: bigint): [Run | null, Run | null] {
  // [runs with start < key, runs with start >= key]
  if (t === null) return [null, null];
  if (t.start < key) {
    const [l, r] = split(t.right, key);
    t.right = l;
    return [t, r];
  }
  const [l, r] = split(t.left, key);
  t.left = r;
  return [l, t];
}

function merge(a: Run | null, b: Run | null): Run | null {
  // every start in a < every start in b
  if (a === null) return b;
  if (b === null) return a;
  if (a.prio > b.prio) {
    a.right = merge(a.right, b);
    return a;
  }
  b.left = merge(a, b.left);
  return b;
}

export class Bitmap implements OffsetAllocator {
  readonly size: bigint;
  #root: Run | null = null;
  #count = 0n;
  #runs = 0;
  #cursor = 0n;
  #seed: number;

  constructor(size: bigint) {
    if (typeof size !== 'bigint' || size < 1n)
      throw new RangeError(`bitmap size must be a bigint >= 1, got ${size}`);
    this.size = size;
    // A fixed seed: the tree's shape (never its contents) depends on it; fixed keeps runs reproducible.
    this.#seed = 0x9e3779b9;
  }

  /** How many offsets are allocated. */
  get count(): bigint {
    return this.#count;
  }

  /** How many offsets are free. */
  get free(): bigint {
    return this.size - this.#count;
  }

  /** How many maximal runs of allocated offsets there are (the structure's size). */
  get runCount(): number {
    return this.#runs;
  }

  /** Where the next serial `allocateNext` without `from` starts searching. */
  get cursor(): bigint {
    return this.#cursor;
  }

  set cursor(value: bigint) {
    this.#check(value);
    this.#cursor = value;
  }

  isAllocated(offset: bigint): boolean {
    this.#check(offset);
    const r = this.#floor(offset);
    return r !== null && r.end >= offset;
  }

  /** Allocates this offset. False if it was already allocated. */
  allocate(offset: bigint): boolean {
    this.#check(offset);
    const l = this.#floor(offset);
    if (l !== null && l.end >= offset) return false;
    this.#insertFree(offset, l);
    return true;
  }

  /**
   * Allocates a free offset of `[start, end]` and returns it, or `undefined` when all of them are
   * allocated. Serial by default: see the module comment.
   */
  allocateNext(opts: AllocateNextOptions = {}): bigint | undefined {
    const start = opts.start ?? 0n;
    const end = opts.end ?? this.size - 1n;
    this.#check(start);
    this.#check(end);
    if (start > end) throw new RangeError(`empty range: start ${start} > end ${end}`);
    if (this.#count === this.size) return undefined;
    let from = opts.serial === false ? start : (opts.from ?? this.#cursor);
    if (from < start || from > end) from = start;
    let found = this.nextFree(from, end);
    if (found === undefined && from > start) found = this.nextFree(start, from - 1n);
    if (found === undefined) return undefined;
    this.#insertFree(found, this.#floor(found));
    if (opts.from === undefined) this.#cursor = this.after(found);
    return found;
  }

  /** Releases this offset. False if it was not allocated. */
  release(offset: bigint): boolean {
    this.#check(offset);
    const r = this.#floor(offset);
    if (r === null || r.end < offset) return false;
    if (r.start === r.end) {
      this.#remove(r.start);
    } else if (offset === r.start) {
      r.start = offset + 1n; // still below the next run's start: the tree's order holds
    } else if (offset === r.end) {
      r.end = offset - 1n;
    } else {
      const end = r.end;
      r.end = offset - 1n;
      this.#insert(offset + 1n, end);
    }
    this.#count -= 1n;
    return true;
  }

  /** The lowest free offset of `[from, end]` (end defaults to size-1), or undefined. Allocates nothing. */
  nextFree(from: bigint, end: bigint = this.size - 1n): bigint | undefined {
    this.#check(from);
    this.#check(end);
    const r = this.#floor(from);
    const x = r !== null && r.end >= from ? r.end + 1n : from;
    return x <= end ? x : undefined;
  }

  /** The offset after `offset`, wrapping to 0 past the end: what a cursor becomes. */
  after(offset: bigint): bigint {
    return offset + 1n === this.size ? 0n : offset + 1n;
  }

  /** The allocated runs `[start, end]` (inclusive), in order. */
  *runs(): Generator<[bigint, bigint]> {
    const stack: Run[] = [];
    let n = this.#root;
    while (n !== null || stack.length > 0) {
      while (n !== null) {
        stack.push(n);
        n = n.left;
      }
      const top = stack.pop() as Run;
      yield [top.start, top.end];
      n = top.right;
    }
  }

  /** The number of allocated offsets in `[start, end]`. O(runs). */
  countIn(start: bigint, end: bigint): bigint {
    let c = 0n;
    for (const [s, e] of this.runs()) {
      if (s > end) break;
      if (e < start) continue;
      c += (e < end ? e : end) - (s > start ? s : start) + 1n;
    }
    return c;
  }

  /**
   * Marks runs `[start, end]` (inclusive) allocated at once: runs may come in any order and
   * touch each other (they are merged), but must not overlap each other or what is allocated.
   */
  addRuns(runs: Iterable<[bigint, bigint]>): void {
    const sorted = [...runs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [s, e] of sorted) {
      this.#check(s);
      this.#check(e);
      if (s > e) throw new RangeError(`bad run [${s}, ${e}]: start after end`);
      if (this.#firstAllocatedIn(s, e) !== undefined) {
        throw new RangeError(`run [${s}, ${e}] overlaps allocated offsets`);
      }
      const l = this.#floor(s);
      const r = this.#ceil(e + 1n);
      const joinL = l !== null && l.end + 1n === s;
      const joinR = r !== null && r.start === e + 1n;
      if (joinL && joinR) {
        l.end = r.end;
        this.#remove(r.start);
      } else if (joinL) {
        l.end = e;
      } else if (joinR) {
        r.start = s;
      } else {
        this.#insert(s, e);
      }
      this.#count += e - s + 1n;
    }
  }

  // --- internals ----------------------------------------------------------------------------

  #check(offset: bigint): void {
    if (typeof offset !== 'bigint' || offset < 0n || offset >= this.size) {
      throw new RangeError(`offset ${String(offset)} outside [0, ${this.size - 1n}]`);
    }
  }

  #firstAllocatedIn(s: bigint, e: bigint): bigint | undefined {
    const l = this.#floor(s);
    if (l !== null && l.end >= s) return s;
    const r = this.#ceil(s);
    return r !== null && r.start <= e ? r.start : undefined;
  }

  /** Allocates a free offset whose floor run (largest start <= offset) is `l`. */
  #insertFree(offset: bigint, l: Run | null): void {
    const r = this.#ceil(offset + 1n);
    const joinL = l !== null && l.end + 1n === offset;
    const joinR = r !== null && r.start === offset + 1n;
    if (joinL && joinR) {
      l.end = r.end;
      this.#remove(r.start);
    } else if (joinL) {
      l.end = offset;
    } else if (joinR) {
      r.start = offset; // no run lies between l and r: the tree's order holds
    } else {
      this.#insert(offset, offset);
    }
    this.#count += 1n;
  }

  /** The run with the largest start <= x. */
  #floor(x: bigint): Run | null {
    let n = this.#root;
    let best: Run | null = null;
    while (n !== null) {
      if (n.start <= x) {
        best = n;
        n = n.right;
      } else {
        n = n.left;
      }
    }
    return best;
  }

  /** The run with the smallest start >= x. */
  #ceil(x: bigint): Run | null {
    let n = this.#root;
    let best: Run | null = null;
    while (n !== null) {
      if (n.start >= x) {
        best = n;
        n = n.left;
      } else {
        n = n.right;
      }
    }
    return best;
  }

  #insert(start: bigint, end: bigint): void {
    // xorshift32: priorities only shape the tree
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x >>> 0;
    const node: Run = { start, end, prio: this.#seed, left: null, right: null };
    const [l, r] = split(this.#root, start);
    this.#root = merge(merge(l, node), r);
    this.#runs++;
  }

  #remove(start: bigint): void {
    const [l, r] = split(this.#root, start);
    const [, rest] = split(r, start + 1n);
    this.#root = merge(l, rest);
    this.#runs--;
  }
}
