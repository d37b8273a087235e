import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { world } from '../harness/world.ts';
import { type CliRun, runCli, runProgram } from '../helpers/cli.ts';
import { waitForPing } from '../helpers/http.ts';

// The dnet CLI against a daemon started as `dnet daemon` in a child process. The world has a
// private /run, so the daemon uses the defaults (/run/dnet, socket /run/dnet/dnet.sock) as the
// docs show. Most commands run through main() in this process (fast); a few through bin/dnet.js
// for the real exit codes and signals.

const SOCK = '/run/dnet/dnet.sock';
const BIN = join(world.root, 'bin/dnet.js');
let daemon: ChildProcess;
let daemonErr = '';
let daemonExit: Promise<number | null>;

type Run = CliRun;

const dnet = runCli;

/** The real binary, as a user runs it. */
function dnetBin(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runProgram(process.execPath, [BIN, ...args], { cwd: world.root, env });
}

before(async () => {
  daemon = spawn(
    process.execPath,
    // The build (dist/, as the package runs it): it starts in a fraction of tsx's time on a busy machine.
    [join(world.root, 'dist/cli/bin.js'), 'daemon', '--data-dir', join(world.runDir, 'data')],
    { cwd: world.root, stdio: ['ignore', 'inherit', 'pipe'] },
  );
  daemon.stderr?.on('data', (d: Buffer) => {
    daemonErr += d.toString();
  });
  daemonExit = new Promise((resolve) => daemon.once('exit', (code) => resolve(code)));
  await waitForPing(SOCK);
});

after(async () => {
  if (daemon.exitCode === null) daemon.kill('SIGKILL');
});

/** IDs, timestamps: what changes from run to run. */
function normalise(text: string): string[] {
  return text
    .replace(/[0-9a-f]{64}/g, '<ID>')
    .replace(/[0-9a-f]{12}/g, '<SHORT>')
    .replace(/\d{4}-\d\d-\d\dT[0-9:.]+Z/g, '<TIME>')
    .split('\n')
    .map((l) => l.trimEnd());
}

/** The commands of the CLI session in docs/daemon.md, each with the output it shows. */
function docSession(): { args: string[]; expected: string[] }[] {
  const doc = readFileSync(join(world.root, 'docs', 'daemon.md'), 'utf8');
  const block = /<!-- cli-session:start -->\n```console\n([\s\S]*?)```\n<!-- cli-session:end -->/.exec(
    doc,
  )?.[1];
  assert.ok(block, 'docs/daemon.md has the cli-session block');
  const steps: { args: string[]; expected: string[] }[] = [];
  for (const line of block.trimEnd().split('\n')) {
    if (line.startsWith('$ dnet '))
      steps.push({ args: line.slice('$ dnet '.length).split(' '), expected: [] });
    else steps.at(-1)?.expected.push(line);
  }
  return steps;
}

/** Every expected line appears in `actual`, in order; `...` skips any number of lines. */
function assertShows(actual: string[], expected: string[], what: string): void {
  let at = 0;
  let skipping = false;
  for (const want of normalise(expected.join('\n'))) {
    if (want === '...') {
      skipping = true;
      continue;
    }
    const found = actual.indexOf(want, at);
    assert.ok(
      found >= 0 && (skipping || found === at),
      `${what}: expected line ${JSON.stringify(want)} at line ${at + 1}\n--- actual:\n${actual.join('\n')}`,
    );
    at = found + 1;
    skipping = false;
  }
  if (!skipping) {
    const rest = actual.slice(at).filter((l) => l !== '');
    assert.deepEqual(rest, [], `${what}: unexpected trailing output`);
  }
}

describe('the CLI session in docs/daemon.md', () => {
  test('runs as shown', async () => {
    for (const step of docSession()) {
      const r = await dnet(step.args);
      const isError = step.expected.some((l) => l.startsWith('Error response from daemon:'));
      const what = `dnet ${step.args.join(' ')}`;
      assert.equal(r.code, isError ? 1 : 0, `${what}: exit ${r.code}\n${r.err}`);
      assertShows(normalise(isError ? r.err : r.out), step.expected, what);
    }
    const left = await dnet(['network', 'ls', '--format', 'json']);
    assert.deepEqual(
      (JSON.parse(left.out) as { Name: string }[]).map((n) => n.Name),
      ['bridge', 'host', 'none'],
    );
  });
});

describe('commands', () => {
  test('network ls: table, -q, --no-trunc, --format json, filters', async () => {
    assert.equal((await dnet(['network', 'create', '-d', 'bridge', '--label', 'k=v', 'n-1'])).code, 0);
    assert.equal(
      (await dnet(['network', 'create', '--internal', '--subnet', '10.71.0.0/24', 'n-2'])).code,
      0,
    );
    const table = await dnet(['network', 'ls']);
    assert.equal(table.code, 0);
    const lines = table.out.trimEnd().split('\n');
    assert.equal(lines[0], 'NETWORK ID     NAME      DRIVER    SCOPE');
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s+/)[1]),
      ['bridge', 'host', 'n-1', 'n-2', 'none'],
    );
    const quiet = await dnet(['network', 'ls', '-q', '--filter', 'label=k=v']);
    assert.match(quiet.out, /^[0-9a-f]{12}\n$/);
    const full = await dnet(['network', 'ls', '--no-trunc', '-q', '--filter', 'name=n-1']);
    assert.match(full.out, /^[0-9a-f]{64}\n$/);
    const js = JSON.parse((await dnet(['network', 'ls', '--format', 'json', '-f', 'type=custom'])).out) as {
      Name: string;
      Internal: boolean;
    }[];
    assert.deepEqual(
      js.map((n) => [n.Name, n.Internal]),
      [
        ['n-1', false],
        ['n-2', true],
      ],
    );
  });

  test('network create maps --subnet, --ip-range, --gateway and --aux-address to IPAM config', async () => {
    const r = await dnet([
      'network',
      'create',
      '--subnet',
      '10.72.0.0/24',
      '--ip-range',
      '10.72.0.128/25',
      '--gateway',
      '10.72.0.254',
      '--aux-address',
      'r=10.72.0.3',
      '-o',
      'com.docker.network.driver.mtu=1400',
      'n-3',
    ]);
    assert.equal(r.code, 0, r.err);
    const [n] = JSON.parse((await dnet(['network', 'inspect', 'n-3'])).out) as {
      IPAM: { Config: unknown[] };
      Options: Record<string, string>;
    }[];
    assert.deepEqual(n?.IPAM.Config, [
      {
        Subnet: '10.72.0.0/24',
        IPRange: '10.72.0.128/25',
        Gateway: '10.72.0.254',
        AuxiliaryAddresses: { r: '10.72.0.3' },
      },
    ]);
    assert.deepEqual(n?.Options, { 'com.docker.network.driver.mtu': '1400' });
    const bad = await dnet(['network', 'create', '--gateway', '10.9.9.9', 'n-4']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /no matching subnet for gateway 10\.9\.9\.9/);
  });

  test('network create --config-only, then --config-from: the settings are taken, the source is refused while used', async () => {
    const cfg = await dnet([
      'network',
      'create',
      '--config-only',
      '--subnet',
      '10.74.0.0/24',
      '-o',
      'com.docker.network.driver.mtu=1300',
      'n-cfg',
    ]);
    assert.equal(cfg.code, 0, cfg.err);
    const made = await dnet(['network', 'create', '--config-from', 'n-cfg', 'n-from']);
    assert.equal(made.code, 0, made.err);
    const [c, m] = JSON.parse((await dnet(['network', 'inspect', 'n-cfg', 'n-from'])).out) as {
      Driver: string;
      ConfigOnly: boolean;
      ConfigFrom: { Network: string };
      IPAM: { Config: { Subnet: string }[] };
      Options: Record<string, string>;
    }[];
    assert.deepEqual([c?.Driver, c?.ConfigOnly], ['null', true]);
    assert.deepEqual(
      [m?.Driver, m?.ConfigFrom.Network, m?.IPAM.Config[0]?.Subnet],
      ['bridge', 'n-cfg', '10.74.0.0/24'],
    );
    assert.deepEqual(m?.Options, { 'com.docker.network.driver.mtu': '1300' });
    const own = await dnet([
      'network',
      'create',
      '--config-from',
      'n-cfg',
      '--subnet',
      '10.75.0.0/24',
      'n-own',
    ]);
    assert.equal(own.code, 1);
    assert.match(own.err, /Error response from daemon: user-specified configurations are not supported/);
    const rm = await dnet(['network', 'rm', 'n-cfg']);
    assert.equal(rm.code, 1);
    assert.match(rm.err, /configuration network "n-cfg" is in use/);
    assert.equal((await dnet(['network', 'rm', 'n-from', 'n-cfg'])).code, 0);
  });

  test('network connect -p, sandbox inspect shows the ports; disconnect; inspect with a missing name', async () => {
    const r = await dnet([
      'network',
      'connect',
      '-p',
      '8081:80',
      '-p',
      '19100-19101:9000-9001',
      '-p',
      '127.0.0.1::53/udp',
      'n-3',
      'pc',
    ]);
    assert.equal(r.code, 0, r.err);
    const [sb] = JSON.parse((await dnet(['sandbox', 'inspect', 'pc'])).out) as {
      Ports: Record<string, { HostIp: string; HostPort: string }[]>;
    }[];
    assert.equal(sb?.Ports['80/tcp']?.[0]?.HostPort, '8081');
    assert.equal(sb?.Ports['9001/tcp']?.[0]?.HostPort, '19101');
    assert.equal(sb?.Ports['53/udp']?.[0]?.HostIp, '127.0.0.1');
    const ls = await dnet(['sandbox', 'ls']);
    assert.match(
      ls.out,
      /^CONTAINER ID {3}NAME {6}NETWORKS {3}SANDBOX KEY\n[0-9a-f]{12} {3}pc {8}n-3 {8}\/run\/dnet\/netns\/[0-9a-f]{12}\n$/,
    );
    const two = await dnet(['network', 'inspect', 'n-3', 'nope']);
    assert.equal(two.code, 1);
    assert.equal((JSON.parse(two.out) as unknown[]).length, 1, 'the found ones are printed');
    // dockerd's text from the daemon, then the dnet CLI's own hint.
    assert.match(
      two.err,
      /^Error response from daemon: network nope not found: list the networks with dnet network ls\n$/,
    );
    assert.equal((await dnet(['network', 'disconnect', 'n-3', 'pc'])).code, 0);
    const again = await dnet(['network', 'disconnect', 'n-3', 'pc']);
    assert.equal(again.code, 1);
    assert.match(again.err, /Error response from daemon: No such container: pc/);
  });

  test('sandbox create, ls --format json, rm; a bad --add-host', async () => {
    const created = await dnet([
      'sandbox',
      'create',
      '--name',
      's1',
      '--dns',
      '10.0.0.53',
      '--add-host',
      'db:10.0.0.5',
    ]);
    assert.equal(created.code, 0, created.err);
    const id = created.out.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const list = JSON.parse((await dnet(['sandbox', 'ls', '--format', 'json'])).out) as {
      Id: string;
      DNS: string[];
    }[];
    assert.deepEqual(list.find((s) => s.Id === id)?.DNS, ['10.0.0.53']);
    assert.equal((await dnet(['sandbox', 'ls', '-q'])).out, `${id.slice(0, 12)}\n`);
    const bad = await dnet(['sandbox', 'create', '--add-host', 'nohost']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /expected "name:ip"/);
    const rm = await dnet(['sandbox', 'rm', 's1', 'nope']);
    assert.equal(rm.code, 1);
    assert.equal(rm.out, 's1\n');
    assert.match(rm.err, /No such container: nope/);
  });

  test('network prune asks first; rm -f ignores missing networks', async () => {
    const no = await dnet(['network', 'prune'], { answer: 'n' });
    assert.equal(no.code, 1);
    assert.match(no.err, /Are you sure you want to continue\? \[y\/N\]/);
    assert.ok((await dnet(['network', 'ls', '-q', '--filter', 'name=n-1'])).out !== '', 'nothing pruned');
    const yes = await dnet(['network', 'prune', '--filter', 'label=k=v'], { answer: 'y' });
    assert.equal(yes.code, 0);
    assert.equal(yes.out, 'Deleted Networks:\nn-1\n');
    const rm = await dnet(['network', 'rm', '-f', 'n-2', 'n-3', 'gone-already']);
    assert.equal(rm.code, 0, rm.err);
    assert.equal(rm.out, 'n-2\nn-3\n');
  });

  test('usage errors exit 2 with the usage; help exits 0', async () => {
    const cases: [string[], RegExp][] = [
      [['network', 'create'], /"dnet network create" requires exactly 1 argument/],
      [['network', 'connect', 'x'], /"dnet network connect" requires exactly 2 arguments/],
      [['network', 'ls', '--bogus'], /Unknown option '--bogus'/],
      [['network', 'ls', '--format', 'yaml'], /unsupported --format "yaml"/],
      [['network', 'ls', '--filter', 'novalue'], /bad format of filter/],
      [['network', 'connect', '-p', '80:http', 'n', 'c'], /invalid port specification "80:http"/],
      [['network', 'frob'], /unknown command "network frob"/],
      [['frob'], /unknown command "frob"/],
      [['--bogus'], /unknown option "--bogus"/],
    ];
    for (const [args, message] of cases) {
      const r = await dnet(args);
      assert.equal(r.code, 2, `dnet ${args.join(' ')}`);
      assert.match(r.err, message);
      assert.match(r.err, /Usage: dnet/);
    }
    for (const args of [['--help'], ['network', 'create', '--help'], ['sandbox'], ['daemon', '--help']]) {
      const r = await dnet(args);
      assert.equal(r.code, 0);
      assert.match(r.out, /^Usage: dnet/);
    }
  });

  test('--host and DNET_HOST choose the daemon; an unreachable one is exit 1', async () => {
    const env = { DNET_HOST: 'unix:///run/nobody.sock' };
    const down = await dnet(['network', 'ls'], { env });
    assert.equal(down.code, 1);
    assert.match(down.err, /Cannot connect to the dnet daemon at unix:\/\/\/run\/nobody\.sock/);
    assert.equal((await dnet(['--host', `unix://${SOCK}`, 'network', 'ls', '-q'], { env })).code, 0);
    const bad = await dnet(['network', 'ls'], { env: { DNET_HOST: 'http://x' } });
    assert.equal(bad.code, 2);
    const v = JSON.parse((await dnet(['version', '--format', 'json'])).out) as {
      Server: { ApiVersion: string };
    };
    assert.equal(v.Server.ApiVersion, '1.48');
  });
});

/** The commands of the README's shell blocks marked to run here, one word list each (comments dropped). */
function readmeCommands(): string[][] {
  const readme = readFileSync(join(world.root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/<!-- run: test\/kernel\/cli\.test\.ts -->\n```sh\n([\s\S]*?)```/g)];
  assert.ok(blocks.length >= 2, 'README.md has the daemon and the names blocks marked to run here');
  return blocks.flatMap((b) =>
    b[1]!
      .split('\n')
      .map((l) => l.replace(/\s#.*$/, '').trim())
      .filter((l) => l !== '')
      .map((l) => l.split(/\s+/)),
  );
}

/** A program other than dnet (the docker CLI), with `VAR=value` words before it as its environment. */
function runOther(words: string[]): Promise<Run> {
  const env: Record<string, string> = {};
  let i = 0;
  for (; /^[A-Z_]+=/.test(words[i] ?? ''); i++) {
    const [k, ...v] = words[i]!.split('=');
    env[k!] = v.join('=');
  }
  return runProgram(words[i]!, words.slice(i + 1), { env });
}

describe("the README's CLI examples", () => {
  test('run as shown against the daemon', async () => {
    for (const words of readmeCommands()) {
      const what = words.join(' ');
      if (words[0] === 'dnet' && words[1] === 'daemon') {
        // The daemon this file started: the README's defaults, its data directory in the world.
        assert.deepEqual(words, ['dnet', 'daemon', '&'], what);
        continue;
      }
      const r = words[0] === 'dnet' ? await dnet(words.slice(1)) : await runOther(words);
      assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.err}`);
      if (words.includes('inspect')) {
        const shown = JSON.parse(r.out) as { Name: string; Containers: Record<string, unknown> }[];
        assert.equal(shown[0]?.Name, words.at(-1), what);
        assert.equal(Object.keys(shown[0]?.Containers ?? {}).length, 1, `${what}: the sandbox connected`);
      }
    }
    // What the examples made goes again: the sandboxes (their endpoints leave), then the networks.
    const sandboxes = JSON.parse((await dnet(['sandbox', 'ls', '--format', 'json'])).out) as {
      Name: string;
    }[];
    for (const sb of sandboxes) assert.equal((await dnet(['sandbox', 'rm', sb.Name])).code, 0, sb.Name);
    for (const n of ['web', 'app']) assert.equal((await dnet(['network', 'rm', n])).code, 0, n);
  });
});

describe('bin/dnet.js', () => {
  test('exit codes: 0, 1 with the daemon error, 2 with the usage', async () => {
    const ok = await dnetBin(['network', 'ls']);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /^NETWORK ID/);
    const err = await dnetBin(['network', 'rm', 'bridge']);
    assert.equal(err.code, 1);
    assert.match(err.err, /^Error response from daemon: bridge is a pre-defined network/);
    const usage = await dnetBin(['network', 'inspect']);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /requires at least 1 argument/);
  });

  test('SIGTERM: the daemon shuts down gracefully and removes its socket', async () => {
    daemon.kill('SIGTERM');
    assert.equal(await daemonExit, 0, daemonErr);
    assert.match(daemonErr, /SIGTERM: shutting down/);
    assert.ok(!existsSync(SOCK), 'the socket is gone');
  });
});
