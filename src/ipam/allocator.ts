/**
 * What DefaultIpam needs from an allocator of the offsets `0 .. size-1` of an address range, and
 * the choice between the two that implement it:
 *
 * - DenseBitmap (dense.ts): a fixed bit array with a summary hierarchy, for ranges of up to 2^24
 *   offsets (an IPv4 /8, an IPv6 /104). Its memory is fixed when it is created (2.07 MiB for a /8,
 *   8 KiB for a /16) and does not depend on how many offsets are allocated nor how they are spread;
 *   every operation is O(log32 size).
 * - Bitmap (bitmap.ts): a sparse treap of allocated runs, for larger ranges (an IPv6 /64). Its
 *   memory is O(runs): it is the only one that can hold 2^64 offsets, and those pools are never
 *   more than sparsely used.
 */
import { type AllocateNextOptions, Bitmap } from './bitmap.ts';
import { DENSE_MAX_SIZE, DenseBitmap } from './dense.ts';

export type { AllocateNextOptions };
export { DENSE_MAX_SIZE };

export interface OffsetAllocator {
  /** The number of offsets, `0 .. size-1`. */
  readonly size: bigint;
  /** How many offsets are allocated. */
  readonly count: bigint;
  /** How many offsets are free. */
  readonly free: bigint;
  /** How many maximal runs of allocated offsets there are. */
  readonly runCount: number;
  /** Where the next serial `allocateNext` without `from` starts searching. RangeError outside the range. */
  cursor: bigint;
  isAllocated(offset: bigint): boolean;
  /** Allocates this offset. False if it was already allocated. */
  allocate(offset: bigint): boolean;
  /** Releases this offset. False if it was not allocated. */
  release(offset: bigint): boolean;
  /**
   * Allocates a free offset of `[start, end]` and returns it, or `undefined` when all of them are
   * allocated: round-robin from the cursor (or `from`) with wrap-around, or lowest first (`serial: false`).
   */
  allocateNext(opts?: AllocateNextOptions): bigint | undefined;
  /** The lowest free offset of `[from, end]` (end defaults to size-1), or undefined. Allocates nothing. */
  nextFree(from: bigint, end?: bigint): bigint | undefined;
  /** The offset after `offset`, wrapping to 0 past the end: what a cursor becomes. */
  after(offset: bigint): bigint;
  /** The allocated runs `[start, end]` (inclusive), in order. */
  runs(): Generator<[bigint, bigint]>;
  /** The number of allocated offsets in `[start, end]`. */
  countIn(start: bigint, end: bigint): bigint;
  /** Marks runs allocated (any order, may touch, must not overlap each other or what is allocated). */
  addRuns(runs: Iterable<[bigint, bigint]>): void;
}

/** The allocator for `size` offsets: dense up to DENSE_MAX_SIZE (2^24), sparse above. */
export function createAllocator(size: bigint): OffsetAllocator {
  if (typeof size === 'bigint' && size >= 1n && size <= DENSE_MAX_SIZE) return new DenseBitmap(size);
  return new Bitmap(size);
}
