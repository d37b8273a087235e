import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));

test(
  'bench/ipam.ts --quick: 95% full within 3x of empty, fixed memory for a /8',
  { timeout: 120_000 },
  async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'bench/ipam.ts', '--quick'],
      { cwd: root, maxBuffer: 1 << 22 },
    );
    const ratios = [...stdout.matchAll(/^ratio 95% full \/ empty \((.+?)\): ([0-9.]+)x/gm)].map((m) => ({
      what: m[1]!,
      ratio: Number(m[2]),
    }));
    assert.deepEqual(
      ratios.map((r) => r.what),
      ['IPv4 /16 and /8, dense', 'IPv6 /64, sparse'],
      stdout,
    );
    for (const r of ratios) assert.ok(r.ratio > 0 && r.ratio < 3, `${r.what}: ${r.ratio}x\n${stdout}`);
    // the /8 table is there, and its allocator is the dense one of fixed size
    assert.match(stdout, /\(c\) Memory of a \/8 .* DenseBitmap, 2,164,804 bytes of typed arrays/);
    assert.match(stdout, /95\.0% allocated \(all but every 20th\)/);
  },
);
