// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
// (world first: the rest of this file only runs inside the throwaway network + mount namespace)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitForPing } from '../helpers/http.ts';

// `make start` runs the walkthroughs (make demo: start.test.ts, examples.test.ts), then this:
// examples/serve.sh, `dnet daemon` in the foreground in its world, serving a socket that clients
// outside the world reach, until Ctrl-C (SIGINT).
test("make start's last part (examples/serve.sh): the daemon in the foreground, serving a socket; SIGINT stops it", async () => {
  const sock = join(world.runDir, 'serve/dnet.sock');
  const child = spawn('bash', [join(world.root, 'examples/serve.sh')], {
    cwd: world.root,
    env: { ...process.env, DNET_WORLD: '1', DNET_SERVE_SOCKET: sock },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await waitForPing(sock, 60_000);
    // What to type in another terminal: a client on the socket, and nsenter through the daemon's pid.
    assert.match(out, new RegExp(`serving unix://${sock}\\n`));
    assert.match(out, new RegExp(`export DNET_HOST=unix://${sock}`));
    assert.match(out, new RegExp(`DOCKER_HOST=unix://${sock} docker network ls`));
    assert.match(out, new RegExp(`nsenter -t ${child.pid} -m -n ip link`));
    const r = spawnSync(join(world.root, 'bin/dnet'), ['-H', `unix://${sock}`, 'network', 'ls'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, / bridge +bridge +local\n/);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- stdout:\n${out}\n--- stderr:\n${err}`);
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0, err);
  assert.ok(!existsSync(sock));
  assert.match(err, /"event":"signal","signal":"SIGINT"/);
  // What the daemon leaves by design (containers keep their network): its default bridge and its
  // nftables tables.
  spawnSync('ip', ['link', 'del', 'dnet0']);
  spawnSync('nft', ['delete', 'table', 'inet', 'dnet']);
  spawnSync('nft', ['delete', 'table', 'bridge', 'dnet']);
});
