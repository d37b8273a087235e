// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
import { type CliRun, runCli } from '../helpers/cli.ts';
// (world first: the rest of this file only runs inside the throwaway network + mount namespace)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type DaemonProcess, startDaemonProcess } from '../helpers/daemon-process.ts';

// `--format` with Go templates against a real daemon: the session in docs/cli-format.md as it
// stands, and what a bad template answers.

const sock = join(world.runDir, 'fmt.sock');
let d: DaemonProcess;

before(async () => {
  d = await startDaemonProcess(world.root, [
    '--run-dir',
    join(world.runDir, 'fmt-run'),
    '--data-dir',
    join(world.runDir, 'fmt-data'),
    '--plugin-socket',
    '',
    '-H',
    `unix://${sock}`,
  ]);
});
after(async () => {
  await d?.stop();
});

function dnet(args: string[]): Promise<CliRun> {
  return runCli(['-H', `unix://${sock}`, ...args]);
}

/** A shell command line's words: spaces split, single quotes keep (as the docs' examples are written). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

/** IDs and times vary: 64- and 12-hex IDs and CreatedAt values become placeholders. */
const normalise = (text: string): string[] =>
  text
    .replace(/\b[0-9a-f]{64}\b/g, '<id>')
    .replace(/\b[0-9a-f]{12}\b/g, '<short-id>')
    .replace(/"CreatedAt":"[^"]*"/g, '"CreatedAt":"..."')
    .trimEnd()
    .split('\n')
    .map((l) => l.trimEnd());

test('the session in docs/cli-format.md runs as shown', async () => {
  const doc = readFileSync(join(world.root, 'docs/cli-format.md'), 'utf8');
  const block = /<!-- format-session:start -->\n```console\n([\s\S]*?)```\n<!-- format-session:end -->/.exec(
    doc,
  )?.[1];
  assert.ok(block, 'docs/cli-format.md has the format-session block');
  const steps: { args: string[]; expected: string[] }[] = [];
  for (const line of block.trimEnd().split('\n')) {
    if (line.startsWith('$ dnet ')) steps.push({ args: words(line.slice('$ dnet '.length)), expected: [] });
    else steps.at(-1)?.expected.push(line);
  }
  assert.ok(steps.length >= 10);
  for (const s of steps) {
    const r = await dnet(s.args);
    const what = `dnet ${s.args.join(' ')}`;
    assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.err}`);
    assert.deepEqual(normalise(r.out), normalise(s.expected.join('\n')), what);
  }
});

test('a template that does not parse: exit 2 with the reason; one that fails on an object: exit 1; dnet info', async () => {
  const bad = await dnet(['network', 'ls', '--format', '{{.Name | nosuch}}']);
  assert.equal(bad.code, 2);
  assert.match(
    bad.err,
    /^dnet: invalid --format "\{\{\.Name \| nosuch\}\}": template: function "nosuch" not defined/,
  );
  const unsupported = await dnet(['network', 'inspect', 'bridge', '--format', '{{template "x" .}}']);
  assert.equal(unsupported.code, 2);
  assert.match(unsupported.err, /\{\{template\}\} is not supported by dnet's --format/);
  const fails = await dnet(['network', 'inspect', 'bridge', '--format', '{{index .IPAM.Config 7}}']);
  assert.equal(fails.code, 1);
  assert.match(fails.err, /^dnet: template: error calling index: index out of range: 7/);
  const info = await dnet(['info']);
  assert.equal(info.code, 0, info.err);
  assert.match(info.out, /^Server:\n Server Version: /);
  assert.match(info.out, /\n Default Address Pools:\n {3}Base: \S+, Size: \d+\n/);
  assert.match(
    info.out,
    /\n Network Settings:\n {3}bip: \S+\/\d+\n[\s\S]*\n {3}mtu: 1500\n[\s\S]*\n {3}iptables: true\n/,
  );
  const infoJson = await dnet(['info', '--format', 'json']);
  assert.equal(
    (JSON.parse(infoJson.out) as { DnetNetworkSettings: { icc: boolean } }).DnetNetworkSettings.icc,
    true,
  );
  const version = await dnet(['version', '--format', '{{.Client.Version}} {{.Server.ApiVersion}}']);
  assert.equal(version.code, 0, version.err);
  assert.match(version.out, /^\S+ 1\.\d+\n$/);
});
