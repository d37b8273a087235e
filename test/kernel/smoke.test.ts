import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { world } from '../harness/world.ts';

test('the world has only loopback', () => {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link']).toString()) as { ifname: string }[];
  assert.deepEqual(
    links.map((l) => l.ifname),
    ['lo'],
  );
  assert.match(world.runDir, /^\/run\/dnet-test-/);
});
