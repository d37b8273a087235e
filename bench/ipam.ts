/**
 * The built-in IPAM under load: what a requestAddress + releaseAddress pair costs when the pool is
 * empty, half full and 95% full (it must not grow with the fill: 95% full within 3x of empty), and
 * what a /8 pool weighs in memory (it must not depend on how much of it is used).
 *
 * (a) IPv4 /16 through DefaultIpam (the dense allocator, src/ipam/dense.ts). The pool is filled with
 *     requestAddress first, two ways: "contiguous" (requests only: the allocated addresses are one
 *     run from the start, the free ones one run at the end, so the round-robin search wraps over
 *     the full part) and "scattered" (every address requested, then every 2nd (50%) or every 20th
 *     (95%) released: the free addresses spread evenly, one run per free address, the sparse
 *     allocator's worst case). Then timed: a loop of request + release pairs (serial allocation,
 *     the default). The fills are measured in alternating rounds, so that noise from the machine
 *     hits them alike; the median round is reported.
 * (b) The same for IPv6 (the sparse allocator, src/ipam/bitmap.ts). A /64 cannot be half full, so
 *     the pool is a /64 with a /112 ip-range (65,536 addresses) that is filled and allocated from:
 *     the allocator is the /64's (2^64 offsets). Plus the whole /64 with 100,000 addresses
 *     allocated, fragmented.
 * (c) (measured first, on a fresh heap) Memory of a /8 (2^24 addresses): process heap + arrayBuffers (process.memoryUsage(), after a
 *     full GC) before and after DefaultIpam.requestPool('10.0.0.0/8'). Filling 16 million addresses
 *     through the driver takes a minute, so the fills of (c) are made on the allocator directly:
 *     the one createAllocator(2^24) returns, which is what requestPool creates for a /8. Filled
 *     50% (every other address: the most fragmented) and 95% (all but every 20th), with the
 *     allocateNext + release cost at each fill. Also (not with --quick) a /8 pool 95% full through
 *     DefaultIpam (filled by requestAddress in about 25 s: one allocated run) for its request +
 *     release cost.
 *
 * Pure code, no kernel: `npx tsx bench/ipam.ts` (`--quick` for a short run, as the tests do).
 * Exits 1 if a 95%/empty ratio is 3 or more.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Bitmap } from '../src/ipam/bitmap.ts';
import { DENSE_MAX_SIZE, DenseBitmap } from '../src/ipam/dense.ts';
import { createAllocator, DefaultIpam, type OffsetAllocator } from '../src/ipam/index.ts';

const quick = process.argv.includes('--quick');
/** request + release pairs per timed round, and rounds (median reported) */
const PAIRS = quick ? 1_000 : 20_000;
const ROUNDS = quick ? 5 : 15;
const LIMIT = 3;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const plain = (cidr: string) => cidr.slice(0, cidr.indexOf('/'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function table(head: string[], rows: string[][], right = new Set<number>()): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((l) => (l[i] ?? '').length)));
  const fmt = (cols: string[]) =>
    cols.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log(fmt(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of rows) console.log(fmt(l));
}

console.log(
  `IPAM: memory of a /8, and request + release cost by pool fill (node ${process.version}` +
    `${quick ? '; --quick' : ''})`,
);

// --- (c) memory of a /8, first: on a fresh heap ----------------------------------------------------

interface Mem {
  heap: number;
  buffers: number;
}

function mem(): Mem {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

/** allocateNext + release pairs on the allocator directly; µs per pair (median of 5 rounds). */
function allocatorCost(a: OffsetAllocator): number {
  const n = quick ? 20_000 : 200_000;
  const xs: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) a.release(a.allocateNext()!);
    if (r > 0) xs.push(Number(process.hrtime.bigint() - t0) / 1000 / n);
  }
  return median(xs);
}

{
  const rows: string[][] = [];
  const delta = (what: string, from: Mem, to: Mem, more: string[] = ['', '', '']) =>
    rows.push([
      what,
      mib(to.heap - from.heap),
      mib(to.buffers - from.buffers),
      mib(to.heap + to.buffers - from.heap - from.buffers),
      ...more,
    ]);
  {
    // warm-up (code, shapes), not reported: the baseline is taken after it
    const w = new DefaultIpam();
    const { poolId } = await w.requestPool({ addressSpace: 'LocalDefault', pool: '10.0.0.0/24', v6: false });
    await w.releaseAddress(poolId, plain((await w.requestAddress(poolId)).address));
  }
  const base = mem();
  const ipam = new DefaultIpam();
  delta('new DefaultIpam()', base, mem());
  await ipam.requestPool({ addressSpace: 'LocalDefault', pool: '10.0.0.0/8', v6: false });
  delta("  + requestPool('10.0.0.0/8')", base, mem());

  allocatorCost(new DenseBitmap(1n << 16n)); // JIT warm-up, not reported
  // the fills: on the allocator directly (see the module comment)
  const before = mem();
  const a8 = createAllocator(DENSE_MAX_SIZE);
  const kind =
    a8 instanceof DenseBitmap ? `DenseBitmap, ${int(a8.byteLength)} bytes of typed arrays` : 'sparse';
  const created = mem();
  const emptyCost = allocatorCost(a8);
  const more = (cost: number) => [int(a8.runCount), cost.toFixed(3), `${(cost / emptyCost).toFixed(2)}x`];
  delta('createAllocator(2^24): empty', before, created, more(emptyCost));
  for (let i = 0n; i < DENSE_MAX_SIZE; i += 2n) a8.allocate(i);
  const half = mem();
  delta('  50% allocated (every other address)', before, half, more(allocatorCost(a8)));
  for (let i = 1n; i < DENSE_MAX_SIZE; i += 2n) if (i % 20n !== 1n) a8.allocate(i);
  const full = mem();
  const pct = ((Number(a8.count) / 2 ** 24) * 100).toFixed(1);
  delta(`  ${pct}% allocated (all but every 20th)`, before, full, more(allocatorCost(a8)));

  console.log(`\n(c) Memory of a /8 (2^24 addresses), after a full GC; the allocator is ${kind}`);
  table(
    ['state', 'heap Δ', 'arrayBuffers Δ', 'total Δ', 'runs', 'allocateNext+release µs/op', 'vs empty'],
    rows,
    new Set([1, 2, 3, 4, 5, 6]),
  );
  console.log(
    'heap Δ moves by about ±0.1 MiB from run to run (GC of unrelated objects): the pool is its arrayBuffers',
  );
  // for scale: the sparse run tree on a /16 at 50% scattered (one run per two addresses)
  const b0 = mem();
  const sparse = new Bitmap(1n << 16n);
  for (let i = 0n; i < 1n << 16n; i += 2n) sparse.allocate(i);
  const b1 = mem();
  console.log(
    `for scale, a /16 with every other address allocated: the sparse run tree takes ` +
      `${mib(b1.heap - b0.heap)} (${int(sparse.runCount)} runs), the dense bitmap ` +
      `${int(new DenseBitmap(1n << 16n).byteLength)} bytes at any fill`,
  );
  // keep them alive until measured
  if (ipam.defaultPools('LocalDefault', 4).length === 0 || a8.count === 0n) throw new Error('unreachable');
}

// --- (a) and (b): request + release through DefaultIpam ----------------------------------------

interface Setup {
  pool: string;
  fill: string;
  ipam: DefaultIpam;
  poolId: string;
  allocated: number;
  runs: number;
}

function fillName(fraction: number, pattern: string): string {
  return fraction === 0 ? 'empty' : `${Math.round(fraction * 100)}% ${pattern}`;
}

function ipOffset(ip: string): bigint {
  if (!ip.includes(':')) return ip.split('.').reduce((v, x) => (v << 8n) | BigInt(x), 0n);
  const [h, t] = ip.split('::') as [string, string | undefined];
  const head = h === '' ? [] : h.split(':');
  const tail = t === undefined || t === '' ? [] : t.split(':');
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.reduce((v, g) => (v << 16n) | BigInt(`0x${g}`), 0n);
}

/**
 * A pool `subnet` (with ip-range `range` if given) filled through requestAddress: `fraction` of
 * its addresses, contiguous or scattered (see the module comment).
 */
async function setup(
  subnet: string,
  range: string | undefined,
  fraction: number,
  pattern: 'contiguous' | 'scattered',
): Promise<Setup> {
  const ipam = new DefaultIpam();
  const { poolId } = await ipam.requestPool({
    addressSpace: 'LocalDefault',
    pool: subnet,
    ...(range === undefined ? {} : { subPool: range }),
    v6: subnet.includes(':'),
  });
  // host addresses of the /16 or of the /112 range
  const hosts = subnet.includes(':') ? 65_536 : 65_534;
  let allocated = 0;
  let runs = 0;
  if (fraction > 0 && pattern === 'contiguous') {
    allocated = Math.round(hosts * fraction);
    runs = 1;
    for (let i = allocated; i > 0; i--) await ipam.requestAddress(poolId);
  } else if (fraction > 0) {
    const all: string[] = [];
    for (;;) {
      const a = await ipam.requestAddress(poolId).catch(() => undefined);
      if (a === undefined) break;
      all.push(plain(a.address));
    }
    const every = Math.round(1 / (1 - fraction)); // 2 for 50%, 20 for 95%
    for (let i = 0; i < all.length; i += every) await ipam.releaseAddress(poolId, all[i]!);
    // the addresses came out in order, one after the other: every `every`th is free again
    const kept = (i: number) => i >= 0 && i < all.length && i % every !== 0;
    for (let i = 0; i < all.length; i++) {
      if (!kept(i)) continue;
      allocated++;
      if (!kept(i - 1) || ipOffset(all[i - 1]!) + 1n !== ipOffset(all[i]!)) runs++;
    }
  }
  return {
    pool: range === undefined ? subnet : `${subnet} range ${range}`,
    fill: fillName(fraction, pattern),
    ipam,
    poolId,
    allocated,
    runs,
  };
}

/** One timed round: PAIRS request + release pairs; µs per pair. */
async function round(s: Setup): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < PAIRS; i++) {
    const a = await s.ipam.requestAddress(s.poolId);
    await s.ipam.releaseAddress(s.poolId, plain(a.address));
  }
  return Number(process.hrtime.bigint() - t0) / 1000 / PAIRS;
}

/** Times the setups in alternating rounds (one warm-up round each); the median µs per pair of each. */
async function timeAll(setups: Setup[]): Promise<number[]> {
  const samples: number[][] = setups.map(() => []);
  for (let r = 0; r <= ROUNDS; r++) {
    for (const [i, s] of setups.entries()) {
      const us = await round(s);
      if (r > 0) samples[i]!.push(us);
    }
  }
  return samples.map(median);
}

/** Prints the table of one family; returns the worst 95%-full time over the empty one. */
async function costs(title: string, subnet: string, range: string | undefined, extra: Setup[] = []) {
  const setups = [
    await setup(subnet, range, 0, 'contiguous'),
    await setup(subnet, range, 0.5, 'contiguous'),
    await setup(subnet, range, 0.5, 'scattered'),
    await setup(subnet, range, 0.95, 'contiguous'),
    await setup(subnet, range, 0.95, 'scattered'),
    ...extra,
  ];
  const us = await timeAll(setups);
  const empty = us[0]!;
  console.log(`\n${title} (${ROUNDS} alternating rounds of ${int(PAIRS)} pairs, median)`);
  table(
    ['pool', 'fill', 'allocated', 'runs', 'request+release µs/op', 'pairs/s', 'vs empty'],
    setups.map((s, i) => [
      s.pool,
      s.fill,
      int(s.allocated),
      int(s.runs),
      us[i]!.toFixed(2),
      int(1e6 / us[i]!),
      `${(us[i]! / empty).toFixed(2)}x`,
    ]),
    new Set([2, 3, 4, 5, 6]),
  );
  return Math.max(...setups.map((s, i) => (s.fill.startsWith('95%') ? us[i]! : 0))) / empty;
}

/** A /8 pool `fraction` full through requestAddress (one run from the start, the cursor after it). */
async function filled8(fraction: number): Promise<Setup> {
  const ipam = new DefaultIpam();
  const { poolId } = await ipam.requestPool({ addressSpace: 'LocalDefault', pool: '10.0.0.0/8', v6: false });
  const n = Math.round((2 ** 24 - 2) * fraction);
  for (let i = 0; i < n; i++) await ipam.requestAddress(poolId);
  return {
    pool: '10.0.0.0/8',
    fill: fillName(fraction, 'contiguous'),
    ipam,
    poolId,
    allocated: n,
    runs: n > 0 ? 1 : 0,
  };
}

// JIT warm-up, not reported
await timeAll([await setup('10.9.0.0/16', undefined, 0.5, 'scattered')]);

const ratios: { what: string; ratio: number }[] = [];
ratios.push({
  what: 'IPv4 /16 and /8, dense',
  ratio: await costs('(a) IPv4 /16 through DefaultIpam (dense allocator)', '172.18.0.0/16', undefined, [
    ...(quick ? [] : [await filled8(0.95)]),
  ]),
});

const frag64 = await (async (): Promise<Setup> => {
  const ipam = new DefaultIpam();
  const { poolId } = await ipam.requestPool({ addressSpace: 'LocalDefault', pool: 'fd00:2::/64', v6: true });
  const n = quick ? 10_000 : 100_000;
  const got: string[] = [];
  for (let i = 0; i < 2 * n; i++) got.push(plain((await ipam.requestAddress(poolId)).address));
  for (let i = 1; i < got.length; i += 2) await ipam.releaseAddress(poolId, got[i]!);
  return { pool: 'fd00:2::/64', fill: `${int(n)} fragmented`, ipam, poolId, allocated: n, runs: n };
})();
ratios.push({
  what: 'IPv6 /64, sparse',
  ratio: await costs(
    '(b) IPv6 /64 through DefaultIpam (sparse allocator), its /112 ip-range filled',
    'fd00:1::/64',
    'fd00:1::/112',
    [frag64],
  ),
});

console.log('');
for (const r of ratios) {
  const ok = r.ratio < LIMIT;
  if (!ok) process.exitCode = 1;
  console.log(
    `ratio 95% full / empty (${r.what}): ${r.ratio.toFixed(2)}x (limit ${LIMIT}x) ${ok ? 'ok' : 'OVER LIMIT'}`,
  );
}
