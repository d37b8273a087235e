/**
 * Names through the daemon and the CLI, as docs/dns.md shows them: `dnet network connect --alias`,
 * then `dig` inside a container's namespace; a daemon restart (SIGTERM, start again) keeps
 * every name. The daemon runs as `dnet daemon` (dist/) in a child process.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { world } from '../harness/world.ts';
import { runCli } from '../helpers/cli.ts';
import { waitForPing } from '../helpers/http.ts';

const SOCK = '/run/dnet/dnet.sock';
let daemon: ChildProcess;

function start(): Promise<void> {
  daemon = spawn(
    process.execPath,
    [join(world.root, 'dist/cli/bin.js'), 'daemon', '--data-dir', join(world.runDir, 'dns-data')],
    { cwd: world.root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return waitForPing(SOCK);
}

async function stop(): Promise<void> {
  const exited = new Promise((resolve) => daemon.once('exit', resolve));
  daemon.kill('SIGTERM');
  await exited;
}

async function dnet(args: string[]): Promise<string> {
  const { code, out, err } = await runCli(args);
  assert.equal(code, 0, `dnet ${args.join(' ')}: ${err}`);
  return out;
}

interface Inspected {
  SandboxKey: string;
  ResolvConfPath: string;
  Networks: Record<string, { Aliases: string[] | null; DNSNames: string[] | null }>;
}

async function sandbox(name: string): Promise<Inspected> {
  const j = JSON.parse(await dnet(['sandbox', 'inspect', name, '--format', 'json'])) as unknown;
  return (Array.isArray(j) ? j[0] : j) as Inspected;
}

function dig(nsPath: string, name: string): Promise<string[]> {
  return new Promise((resolve) => {
    execFile(
      'nsenter',
      [`--net=${nsPath}`, 'dig', '@127.0.0.11', '+short', '+tries=1', '+time=3', name],
      { encoding: 'utf8' },
      (_e, stdout) => resolve(stdout.split('\n').filter((l) => l !== '')),
    );
  });
}

before(start);
after(async () => {
  if (daemon.exitCode === null) daemon.kill('SIGKILL');
});

test('docs/dns.md: an alias through the CLI answers in another container; a restart keeps it', async () => {
  await dnet(['network', 'create', '-d', 'bridge', '--subnet', '10.50.0.0/24', 'app']);
  await dnet(['network', 'connect', '--alias', 'db', 'app', 'pg1']);
  await dnet(['network', 'connect', 'app', 'web1']);
  const web1 = await sandbox('web1');
  assert.match(readFileSync(web1.ResolvConfPath, 'utf8'), /^nameserver 127\.0\.0\.11$/m);
  const [ip] = await dig(web1.SandboxKey, 'db');
  assert.match(ip ?? '', /^10\.50\.0\.\d+$/);
  assert.deepEqual(await dig(web1.SandboxKey, 'pg1'), [ip]);
  // Inspect shows the names as dockerd's NetworkSettings.Networks does: Aliases and DNSNames.
  const pg1 = (await sandbox('pg1')).Networks.app;
  assert.deepEqual(pg1?.Aliases, ['db']);
  assert.ok(pg1?.DNSNames?.includes('pg1') && pg1.DNSNames.includes('db'), JSON.stringify(pg1));
  assert.equal(web1.Networks.app?.Aliases, null);

  await stop();
  await start();
  assert.deepEqual(await dig(web1.SandboxKey, 'db'), [ip]);
  await dnet(['network', 'disconnect', 'app', 'pg1']);
  // Now forwarded to the host's servers (unreachable from the test world): not pg1's address.
  assert.ok(!(await dig(web1.SandboxKey, 'db')).includes(ip ?? ''));
});
