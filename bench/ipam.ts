/**
 * The cost of the built-in IPAM's requestAddress / releaseAddress, with few or many addresses
 * already allocated in the pool: it must not grow with the number allocated (the allocator keeps
 * runs of allocated addresses in a balanced tree: O(log runs) per operation, never a scan).
 *
 * Pure code, no kernel: `npx tsx bench/ipam.ts` (`--quick` for a short run).
 */
import { DefaultIpam } from '../src/ipam/index.ts';

const quick = process.argv.includes('--quick');
const BATCH = quick ? 500 : 2_000;
const ROUNDS = quick ? 8 : 20;

interface Row {
  scenario: string;
  allocated: number;
  runs: number;
  reqUs: number;
  relUs: number;
}

/**
 * A pool with `before` addresses allocated (fragmented: every other one of 2 x before released
 * again, so the allocator holds `before` separate runs), then rounds of BATCH requests followed by
 * BATCH releases of those; the median round's time per operation.
 */
async function scenario(name: string, subnet: string, before: number, fragmented: boolean): Promise<Row> {
  const ipam = new DefaultIpam();
  const { poolId } = await ipam.requestPool({ addressSpace: 'LocalDefault', pool: subnet, v6: false });
  if (fragmented) {
    const got: string[] = [];
    for (let i = 0; i < 2 * before; i++) got.push((await ipam.requestAddress(poolId)).address.split('/')[0]!);
    for (let i = 1; i < got.length; i += 2) await ipam.releaseAddress(poolId, got[i]!);
  } else {
    for (let i = 0; i < before; i++) await ipam.requestAddress(poolId);
  }
  // runs of allocated addresses (the allocator's tree size), as the snapshot lists them
  const runs = ipam.snapshot().pools[0]!.allocated.length;
  const req: number[] = [];
  const rel: number[] = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    const batch: string[] = new Array(BATCH);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) batch[i] = (await ipam.requestAddress(poolId)).address;
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) {
      const a = batch[i]!;
      await ipam.releaseAddress(poolId, a.slice(0, a.indexOf('/')));
    }
    const t2 = process.hrtime.bigint();
    if (r === 0) continue; // warm-up
    req.push(Number(t1 - t0) / 1000 / BATCH);
    rel.push(Number(t2 - t1) / 1000 / BATCH);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { scenario: name, allocated: before, runs, reqUs: median(req), relUs: median(rel) };
}

// JIT warm-up on both families, not reported
await scenario('warm-up', '10.0.0.0/16', 2_000, true);
await scenario('warm-up', 'fd00:2::/64', 2_000, true);

const rows: Row[] = [];
rows.push(await scenario('IPv4 /16: the 1st address', '172.18.0.0/16', 0, false));
rows.push(await scenario('IPv4 /16: the 10,000th address', '172.18.0.0/16', 9_999, false));
rows.push(await scenario('IPv4 /16: 10,000 allocated, fragmented', '172.18.0.0/16', 10_000, true));
rows.push(await scenario('IPv4 /16: the 60,000th address', '172.18.0.0/16', 59_999, false));
rows.push(await scenario('IPv6 /64: the 1st address', 'fd00:1::/64', 0, false));
rows.push(await scenario('IPv6 /64: the 10,000th address', 'fd00:1::/64', 9_999, false));
rows.push(await scenario('IPv6 /64: 10,000 allocated, fragmented', 'fd00:1::/64', 10_000, true));
if (!quick)
  rows.push(await scenario('IPv6 /64: 100,000 allocated, fragmented', 'fd00:1::/64', 100_000, true));

const head = [
  'scenario',
  'allocated',
  'runs',
  'request µs/op',
  'request ops/s',
  'release µs/op',
  'release ops/s',
];
const lines = rows.map((r) => [
  r.scenario,
  r.allocated.toLocaleString('en-US'),
  r.runs.toLocaleString('en-US'),
  r.reqUs.toFixed(2),
  Math.round(1e6 / r.reqUs).toLocaleString('en-US'),
  r.relUs.toFixed(2),
  Math.round(1e6 / r.relUs).toLocaleString('en-US'),
]);
const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
const fmt = (cols: string[]) =>
  cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(
  `\nDefaultIpam requestAddress / releaseAddress (${ROUNDS} rounds of ${BATCH}, median; node ${process.version})`,
);
console.log(fmt(head));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const l of lines) console.log(fmt(l));
for (const fam of ['IPv4', 'IPv6']) {
  const rs = rows.filter((r) => r.scenario.startsWith(fam));
  const ratio = (f: (r: Row) => number) => (Math.max(...rs.map(f)) / Math.min(...rs.map(f))).toFixed(2);
  console.log(
    `${fam}: slowest / fastest scenario: request ${ratio((r) => r.reqUs)}x, release ${ratio((r) => r.relUs)}x`,
  );
}
