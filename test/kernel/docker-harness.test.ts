import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BUSYBOX_IMAGE, type Dockerd, startDockerd } from '../harness/dockerd.ts';
import { world } from '../harness/world.ts';

void world;
let dockerd: Dockerd;
before(async () => {
  dockerd = await startDockerd();
});
after(async () => {
  await dockerd?.stop();
});

test('dockerd runs in the world with its default firewall, and a busybox container runs', async () => {
  const out = await dockerd.docker(
    'run',
    '--rm',
    '--network',
    'none',
    BUSYBOX_IMAGE,
    'sh',
    '-c',
    'echo hi; ip -o link',
  );
  assert.match(out, /^hi\n/);
  assert.match(out, /lo:/);
  assert.doesNotMatch(out, /eth0/, '--network none: only loopback');
});
