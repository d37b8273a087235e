import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { world } from '../harness/world.ts';

// bench/overlay.ts --quick runs here, in this test's world, on the multi-host harness (etcd and
// three daemons): convergence, throughput and the scale part with small counts (10 containers and
// 10 concurrent connects per host, 30 churn cycles). Timings are not asserted (they depend on the
// machine's load); the counts are: distinct addresses, one FDB and one neighbour entry per remote
// endpoint when filled, none stale after the churn.
const out = mkdtempSync(join(tmpdir(), 'dnet-bench-overlay-test-'));
after(() => rmSync(out, { recursive: true, force: true }));

interface Counts {
  host: string;
  fdb: number;
  neigh: number;
  links: number;
  nftElements: number;
}

test('bench/overlay.ts --quick measures convergence, throughput and scale, and writes its JSON', async () => {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', join(world.root, 'bench/overlay.ts'), '--quick', '--out', out],
      { cwd: world.root, timeout: 300_000, encoding: 'utf8' },
      (err, so, se) => (err ? reject(new Error(`${err.message}\n${so}\n${se}`)) : resolve(so)),
    ),
  );
  assert.match(stdout, /^scale fill: 3 hosts x 10 containers: connect p50 [\d.]+ ms, p99 [\d.]+ ms;/m);
  assert.match(
    stdout,
    /^ {2}dnet-ha: fdb 22, neigh 22, links \d+, nft elements \d+; daemon RSS [\d.]+ MiB idle/m,
  );
  assert.match(stdout, /^scale concurrent: 30 connects \(10 per host at once\): 30 distinct addresses/m);
  assert.match(stdout, /^scale churn: 30 connect\/disconnect cycles: .* stale entries 0 /m);
  assert.match(stdout, /^convergence over 10 joins \(0 timeouts\)/m);
  assert.match(stdout, /^iperf3 A->B over VXLAN: [\d.]+ Gbit\/s/m);
  const file = join(out, `overlay-${new Date().toISOString().slice(0, 10)}-quick.json`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as {
    scale: {
      fill: { perHostCounts: Counts[] };
      rssMiB: { idle: number[]; filled: number[] };
      concurrent: { connects: number; distinctAddresses: number };
      churn: { cycles: number; perHostCounts: Counts[] };
    };
    throughput: { vxlanGbps: number };
  };
  const s = json.scale;
  // Each host: 2 remote anchors + 20 remote fill containers.
  for (const c of s.fill.perHostCounts) assert.deepEqual([c.fdb, c.neigh], [22, 22], c.host);
  for (const c of s.churn.perHostCounts) assert.deepEqual([c.fdb, c.neigh], [2, 2], c.host);
  assert.equal(s.concurrent.distinctAddresses, s.concurrent.connects);
  assert.equal(s.churn.cycles, 30);
  for (const m of [...s.rssMiB.idle, ...s.rssMiB.filled]) assert.ok(m > 0);
  assert.ok(json.throughput.vxlanGbps > 0);
});
