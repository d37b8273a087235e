import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { world } from '../harness/world.ts';

// `make bench-startup` keeps working: bench/startup.ts --quick runs here, in this test's throwaway
// world. Only that it runs and reports is checked, never a timing or a size.
test('bench/startup.ts --quick times the CLI, the library import, the daemon memory, and reads the goals', () => {
  const out = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(world.root, 'bench/startup.ts'), '--quick'],
    {
      cwd: world.root,
      env: { ...process.env, DNET_WORLD: '1' },
      timeout: 240_000,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  ).toString();
  for (const row of [
    'node -e 1',
    'dnet --help',
    'dnet version \\(no daemon\\)',
    'dnet network ls \\(daemon\\)',
  ])
    assert.match(out, new RegExp(`^${row} +[0-9.]+ ms +[0-9.]+ ms +[0-9.]+x$`, 'm'), out);
  assert.match(out, /^import\('libnetwork'\) +[0-9.]+ ms/m, out);
  assert.match(out, /^ {2}idle \(after start-up and 20 requests\): +[0-9.]+ MiB$/m, out);
  assert.match(out, /^ {2}with 50 endpoints .*: [0-9.]+ MiB: [0-9.]+ KiB per endpoint$/m, out);
  assert.equal(out.match(/^ {2}(met {4}|NOT met) {2}/gm)?.length, 6, out);
});
