// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
// (world first: the rest of this file only runs inside the throwaway network + mount namespace)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

// `make demo` (the first part of `make start`), examples/walkthrough-cli.sh, as it stands: `dnet
// daemon` in the background, the CLI walkthrough, SIGTERM. Here in this test's world, with its
// state under the test's run directory. `make start`'s last part, examples/serve.sh: serve.test.ts.

test('make demo runs the CLI walkthrough; make start runs it, then serves (examples/serve.sh)', () => {
  const makefile = readFileSync(join(world.root, 'Makefile'), 'utf8');
  const recipe = (target: string) => new RegExp(`^${target}:(.*)\n((?:\t.*\n)+)`, 'm').exec(makefile);
  assert.match(recipe('demo')?.[2] ?? '', /scripts\/in-world\.sh bash examples\/walkthrough-cli\.sh/);
  assert.match(recipe('start')?.[1] ?? '', /\bdemo\b/);
  assert.match(recipe('start')?.[2] ?? '', /scripts\/in-world\.sh bash examples\/serve\.sh/);
});

test('the CLI walkthrough: network, two sandboxes, traffic both ways, a published port, SIGTERM', async () => {
  const dir = join(world.runDir, 'walkthrough');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      'bash',
      [join(world.root, 'examples/walkthrough-cli.sh')],
      {
        cwd: world.root,
        env: { ...process.env, DNET_WORLD: '1', DNET_WALKTHROUGH_DIR: dir },
        timeout: 120_000,
      },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`${err.message}\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}`))
          : resolve(stdout),
    ),
  );
  const shows = (re: RegExp) => assert.match(out, re, out);
  shows(/^\$ dnet network create --subnet 10\.89\.0\.0\/24 web\n[0-9a-f]{64}$/m);
  shows(/^\$ dnet sandbox create --name a --hostname a\n[0-9a-f]{64}$/m);
  shows(/^\$ dnet sandbox create --name b --hostname b\n[0-9a-f]{64}$/m);
  // --alias parses (the API keeps no aliases without DNS) and -p publishes.
  shows(/^\$ dnet network connect --alias app-a web a\n\$ dnet network connect -p 8080:80 web b\n/m);
  shows(/"IPv4Address": "10\.89\.0\.2\/24"/);
  shows(/"IPv4Address": "10\.89\.0\.3\/24"/);
  shows(/^eth0@\S+ +UP +10\.89\.0\.2\/24/m);
  shows(/^default via 10\.89\.0\.1 dev eth0/m);
  shows(/^a -> b 10\.89\.0\.3:80: +hello from b, you are 10\.89\.0\.2$/m);
  shows(/^b -> a 10\.89\.0\.2:80: +hello from a, you are 10\.89\.0\.3$/m);
  shows(/^host -> 127\.0\.0\.1:8080 \(published\): +hello from b, you are \S+$/m);
  shows(/^\$ dnet network rm web\nweb\n\$ dnet sandbox rm a b\na\nb\n/m);
  shows(/^\$ dnet network ls\nNETWORK ID +NAME +DRIVER +SCOPE\n.* bridge .*\n.* host .*\n.* none .*\n\n/m);
  shows(/^daemon stopped: exit 0; socket left: no$/m);
  // The daemon's log, summarised from its JSON lines.
  shows(/^ {2}info +start +dnet daemon \S+: listening on unix:\/\/.*\/walkthrough\/run\/dnet\.sock$/m);
  shows(/^ {2}info +request +POST \/v1\.48\/networks\/web\/connect 200 [0-9.]+ ms \[[0-9a-f]{8}\]$/m);
  shows(/^ {2}info +signal +SIGTERM: shutting down$/m);
  shows(/^ {2}info +stop +dnet daemon: stopped/m);
  assert.ok(!existsSync(join(dir, 'run/dnet.sock')));
});
