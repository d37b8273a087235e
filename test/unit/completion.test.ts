import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { bashScript, commandTree, parseHelp } from '../../src/cli/completion.ts';
import { main } from '../../src/cli/main.ts';
import type { Io } from '../../src/cli/output.ts';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    env: {},
    readLine: async () => undefined,
  };
  const code = await main(args, io);
  return { code, out: out.join(''), err: err.join('') };
}

test('parseHelp reads commands, options and which options take a value', () => {
  const node = parseHelp(
    ['x'],
    'Usage: x\n\nCommands:\n  ls          List\n  rm          Remove\n\nOptions:\n  -f, --filter k=v   A filter\n      --ipv6         Flag\n',
  );
  assert.deepEqual(node.commands, ['ls', 'rm']);
  assert.deepEqual(node.options, ['-f', '--filter', '--ipv6', '-h', '--help']);
  assert.deepEqual(node.valueOptions, ['-f', '--filter']);
});

test("the command tree is the CLI's own: every command of every --help", async () => {
  const nodes = await commandTree(async (argv) => (await run(argv)).out);
  const paths = nodes.map((n) => n.path.join(' '));
  for (const p of [
    '',
    'daemon',
    'network',
    'network create',
    'network connect',
    'sandbox ls',
    'version',
    'completion',
  ])
    assert.ok(paths.includes(p), `${p} in ${paths}`);
  const create = nodes.find((n) => n.path.join(' ') === 'network create')!;
  assert.ok(create.valueOptions.includes('--subnet') && !create.valueOptions.includes('--internal'));
  assert.ok(nodes.find((n) => n.path.join(' ') === 'daemon')!.options.includes('--config-file'));
});

test('dnet completion bash: complete -p, and completing through COMP_WORDS in bash', async () => {
  const r = await run(['completion', 'bash']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, bashScript(await commandTree(async (argv) => (await run(argv)).out)));
  const out = execFileSync(
    'bash',
    [
      '-c',
      `eval "$SCRIPT"
complete -p dnet
t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _dnet; echo "[$*] \${COMPREPLY[*]}"; }
t dnet net
t dnet network connect -p 80:80 --a
t dnet version --format j`,
    ],
    { encoding: 'utf8', env: { ...process.env, SCRIPT: r.out } },
  );
  assert.match(out, /^complete -F _dnet dnet$/m);
  assert.match(out, /^\[dnet net\] network$/m);
  assert.match(out, /^\[dnet network connect -p 80:80 --a\] --alias$/m);
  assert.match(out, /^\[dnet version --format j\] json$/m);
  const zsh = await run(['completion', 'zsh']);
  assert.match(zsh.out, /^#compdef dnet\n.*bashcompinit/s);
  const bad = await run(['completion', 'fish']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unsupported shell "fish": use bash or zsh/);
});
