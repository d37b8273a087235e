import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { world } from '../harness/world.ts';

// `make bench QUICK=1`'s DNS part keeps working: bench/dns runs here, in this test's world, with 50
// names and short runs. Only that it runs and reports is checked, and that dnet's resolver gave no
// wrong answer and left no new name unanswered (5 s) during the churn; how many background
// queries took over 1 s depends on the machine's load, so it is not asserted.
const out = mkdtempSync(join(tmpdir(), 'dnet-bench-dns-test-'));
after(() => rmSync(out, { recursive: true, force: true }));

test('bench/dns --quick measures dnet (and aardvark-dns when installed) and writes its JSON', async () => {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', join(world.root, 'bench/dns/main.ts'), '--quick', '--out', out],
      { cwd: world.root, env: { ...process.env, DNET_WORLD: '1' }, timeout: 240_000, encoding: 'utf8' },
      (err, so, se) => (err ? reject(new Error(`${err.message}\n${so}\n${se}`)) : resolve(so)),
    ),
  );
  assert.match(stdout, /^dnet +\d+ +\d+ \| +\d+ +\d+ µs +\d+ µs +\d+$/m);
  assert.match(stdout, /^(aardvark-dns +\d+ | {2}aardvark-dns: NOT MEASURED)/m);
  assert.match(
    stdout,
    /^dnet +[\d.]+ ms \/ [\d.]+ ms \/ [\d.]+ ms; never answered 0; background \d+ queries, lost \d+, wrong 0;/m,
  );
  assert.match(stdout, /^goals$/m);
  const file = join(out, `dns-${new Date().toISOString().slice(0, 10)}.json`);
  assert.ok(existsSync(file));
  const json = JSON.parse(readFileSync(file, 'utf8')) as {
    results: { dnet: { churn: { wrong: number; failed: number }; throughput: { qps: number } } };
  };
  assert.equal(json.results.dnet.churn.wrong, 0);
  assert.equal(json.results.dnet.churn.failed, 0);
  assert.ok(json.results.dnet.throughput.qps > 0);
});
