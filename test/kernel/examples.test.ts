import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { world } from '../harness/world.ts';

// The walkthrough (`make start`) and the benchmarks keep working: they run here, in this
// test's throwaway world, with short iteration counts.
const run = (file: string, ...args: string[]) =>
  execFileSync(process.execPath, ['--import', 'tsx', join(world.root, file), ...args], {
    cwd: world.root,
    env: { ...process.env, DNET_WORLD: '1' },
    timeout: 120_000,
  }).toString();

test('examples/walkthrough.ts runs and cleans up after itself', () => {
  const out = run('examples/walkthrough.ts');
  assert.match(out, /db -> app:80 directly: +hello from app, you are (::ffff:)?172\.30\.0\.3/);
  assert.match(out, /remote host -> 192\.0\.2\.1:8080: +hello from app, you are (::ffff:)?192\.0\.2\.2/);
  assert.match(out, /this host -> 127\.0\.0\.1:8080: +hello from app/);
  assert.match(out, /app -> remote 192\.0\.2\.2:9000: +remote sees (::ffff:)?192\.0\.2\.1/);
  assert.match(out, /links left in this world: lo$/m);
  const links = JSON.parse(execFileSync('ip', ['-j', 'link']).toString()) as { ifname: string }[];
  assert.deepEqual(
    links.map((l) => l.ifname),
    ['lo'],
  );
});

test('bench/os-ops.ts --quick reports in-process against child processes', () => {
  const out = run('bench/os-ops.ts', '--quick');
  assert.match(out, /netns create\+delete .*x faster/);
  assert.match(out, /endpoint: veth\+move\+rename\+address\+route .*x faster/);
  assert.match(out, /nft map element add .*x faster/);
});

test("the README's usage example (examples/readme.mjs) runs unchanged, with plain node", () => {
  // `import 'libnetwork'` is the package's own name: node resolves it to the build (dist/).
  const out = execFileSync(process.execPath, [join(world.root, 'examples/readme.mjs')], {
    cwd: world.root,
    env: { ...process.env, DNET_RUN_DIR: join(world.runDir, 'readme') },
    timeout: 60_000,
  }).toString();
  assert.match(out, /^network network1: [0-9a-f]{12} \(null\)$/m);
  assert.match(out, /container1's network namespace: .*\/readme\/netns\/[0-9a-f]{12}$/m);
  assert.match(out, /^true$/m);
  assert.match(out, /^undefined$/m);
});
