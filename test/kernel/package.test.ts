// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
// (world first: the rest of this file only runs inside the throwaway network + mount namespace)
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { waitForPing } from '../helpers/http.ts';

// The package as a user gets it: `make install DESTDIR=<tmp> PREFIX=/usr` packs it (npm pack:
// the build, what `files` lists) and installs the tarball with npm into an empty project
// (<tmp>/usr/lib/dnet, runtime dependencies only, offline from npm's cache: the world has no
// network), links `dnet` into <tmp>/usr/bin, and puts the systemd unit and the bash completion in
// place. Everything below runs that install with plain `node`: no tsx, no loader.

const tmp = mkdtempSync('/tmp/dnet-package-');
const usr = join(tmp, 'usr');
const project = join(usr, 'lib/dnet');
const pkgDir = join(project, 'node_modules/libnetwork');
const dnet = join(usr, 'bin/dnet');
const version = (JSON.parse(readFileSync(join(world.root, 'package.json'), 'utf8')) as { version: string })
  .version;

before(() => {
  const r = spawnSync(
    'make',
    // -o deps: not scripts/install-deps.sh (make test has run it; the world has no network).
    ['--no-print-directory', '-o', 'deps', 'install', `DESTDIR=${tmp}`, 'PREFIX=/usr', 'NPM_FLAGS=--offline'],
    { cwd: world.root, encoding: 'utf8', timeout: 300_000 },
  );
  assert.equal(r.status, 0, `make install failed:\n${r.stdout}\n${r.stderr}`);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the installed dnet (its `#!/usr/bin/env node` line: plain node). */
function run(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync(dnet, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('make install', () => {
  test('installs the build with its runtime dependencies, not the sources nor the dev tools', () => {
    assert.equal(readlinkSync(dnet), '../lib/dnet/node_modules/libnetwork/dist/cli/bin.js');
    assert.equal(realpathSync(dnet), join(pkgDir, 'dist/cli/bin.js'));
    for (const f of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/daemon/daemon.js',
      'README.md',
      'docs/daemon.md',
      'systemd/dnet.service',
    ])
      assert.ok(existsSync(join(pkgDir, f)), f);
    for (const f of ['src', 'test', 'bench', 'examples', 'tsconfig.json', 'dist/.tsbuildinfo'])
      assert.ok(!existsSync(join(pkgDir, f)), `${f} is not shipped`);
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      exports: Record<string, { types: string; import: string }>;
      bin: Record<string, string>;
    };
    assert.ok(!('tsx' in pkg.dependencies), 'tsx is a dev dependency');
    assert.deepEqual(pkg.exports['.'], { types: './dist/index.d.ts', import: './dist/index.js' });
    assert.deepEqual(pkg.bin, { dnet: './dist/cli/bin.js' });
    for (const dev of ['tsx', 'typescript', '@biomejs/biome', 'dockerode', 'esbuild'])
      assert.ok(!existsSync(join(project, 'node_modules', dev)), `${dev} is not installed`);
    for (const dep of Object.keys(pkg.dependencies))
      assert.ok(existsSync(join(project, 'node_modules', dep)), `${dep} is installed`);
  });

  test('dnet runs with plain node: --help, version, completion', () => {
    const help = run(['--help']);
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /^Usage: dnet \[OPTIONS\] COMMAND\n/);
    const v = run(['--version']);
    assert.equal(v.out, `dnet ${version}\n`);
    const ver = run(['version', '--format', 'json'], { DNET_HOST: `unix://${tmp}/none.sock` });
    assert.equal(ver.code, 1); // no daemon there
    assert.equal((JSON.parse(ver.out) as { Client: { Version: string } }).Client.Version, version);
    assert.match(ver.err, /Cannot connect to the dnet daemon/);
  });

  test('the systemd unit runs the installed dnet; reload is SIGHUP', () => {
    const unit = readFileSync(join(usr, 'lib/systemd/system/dnet.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/bin\/dnet daemon$/m);
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(unit, /^WantedBy=multi-user\.target$/m);
    assert.doesNotMatch(unit, /\/usr\/local\//);
  });

  test('the bash completion: complete -p, and dnet net<TAB>, network c<TAB>, --log-level d<TAB>', () => {
    const script = join(usr, 'share/bash-completion/completions/dnet');
    const out = execFileSync(
      'bash',
      [
        '-c',
        `source ${script}
complete -p dnet
t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _dnet; echo "[$*] ${'$'}{COMPREPLY[*]}"; }
t dnet net
t dnet network c
t dnet -H unix:///x sandbox ""
t dnet daemon --log-level d
t dnet network create --i`,
      ],
      { encoding: 'utf8' },
    );
    assert.match(out, /^complete -F _dnet dnet$/m);
    assert.match(out, /^\[dnet net\] network$/m);
    assert.match(out, /^\[dnet network c\] connect create$/m);
    assert.match(out, /^\[dnet -H unix:\/\/\/x sandbox \] create inspect ls rm$/m);
    assert.match(out, /^\[dnet daemon --log-level d\] debug$/m);
    assert.match(
      out,
      /^\[dnet network create --i\] --internal --ip-range --ipam-driver --ipam-opt --ipv4 --ipv6$/m,
    );
  });
});

describe('imports on demand', () => {
  // A module-loading hook that only records what is loaded (ESM imports, and CommonJS packages
  // imported from ESM), to a file.
  const hooks = join(tmp, 'record-hooks.mjs');
  const register = join(tmp, 'record.mjs');
  before(() => {
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.RECORD_TO, url + '\\n');
  return next(url, context);
}
`,
    );
    writeFileSync(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`,
    );
  });

  function loaded(args: string[]): string[] {
    const log = join(tmp, `loaded-${Math.random().toString(36).slice(2)}`);
    writeFileSync(log, '');
    spawnSync(process.execPath, ['--import', register, ...args], {
      cwd: project,
      env: { ...process.env, RECORD_TO: log, DNET_HOST: `unix://${tmp}/none.sock` },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return readFileSync(log, 'utf8')
      .split('\n')
      .filter((u) => u.startsWith('file:'))
      .map((u) => u.slice(u.indexOf('/lib/dnet/') + '/lib/dnet/'.length));
  }

  const heavy =
    /dist\/daemon\/(daemon\.js|log\.js|api\/)|node_modules\/(etcd3|lmdb|koffi|pino)\/|dist\/(core|os|store)\//;

  test('the CLI client commands load neither the daemon nor etcd3, lmdb, koffi, pino', () => {
    const bin = join(pkgDir, 'dist/cli/bin.js');
    for (const args of [
      ['--help'],
      ['version'],
      ['network', 'ls'],
      ['sandbox', 'ls'],
      ['daemon', '--help'],
    ]) {
      const mods = loaded([bin, ...args]);
      assert.ok(mods.includes('node_modules/libnetwork/dist/cli/main.js'), `${args}: ${mods}`);
      assert.deepEqual(
        mods.filter((m) => heavy.test(m)),
        [],
        `dnet ${args.join(' ')} loads only the CLI`,
      );
    }
  });

  test("import('libnetwork') loads neither etcd3 nor lmdb (a store loads its client when opened), nor the daemon", () => {
    const mods = loaded(['--input-type=module', '-e', "await import('libnetwork')"]);
    assert.ok(mods.includes('node_modules/libnetwork/dist/index.js'), String(mods));
    assert.ok(mods.includes('node_modules/libnetwork/dist/core/controller.js'));
    assert.deepEqual(
      mods.filter((m) => /node_modules\/(etcd3|lmdb|pino)\/|dist\/daemon\//.test(m)),
      [],
    );
  });
});

describe('the library from the installed package', () => {
  test("the README's example (examples/readme.mjs) runs with plain node", () => {
    copyFileSync(join(world.root, 'examples/readme.mjs'), join(project, 'readme.mjs'));
    const out = execFileSync(process.execPath, [join(project, 'readme.mjs')], {
      cwd: project,
      env: { ...process.env, DNET_RUN_DIR: join(world.runDir, 'package-readme') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.match(out, /^network network1: [0-9a-f]{12} \(null\)$/m);
    assert.match(out, /container1's network namespace: .*\/package-readme\/netns\/[0-9a-f]{12}$/m);
    assert.match(out, /^true\nundefined$/m);
  });

  test("the README's example type-checks against the installed declarations", () => {
    copyFileSync(join(world.root, 'examples/readme.mjs'), join(project, 'readme.ts'));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          types: ['node'],
          typeRoots: [join(world.root, 'node_modules/@types')],
        },
        files: ['readme.ts'],
      }),
    );
    const r = spawnSync(
      process.execPath,
      [join(world.root, 'node_modules/typescript/bin/tsc'), '-p', project],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

describe('dnet daemon from the installed package', () => {
  const sock = join(tmp, 'dnet.sock');
  const config = join(tmp, 'daemon.json');
  let daemon: ChildProcess;
  let log = '';
  const lines = () =>
    log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 20_000;
    while (!ok()) {
      if (Date.now() > deadline) assert.fail(`${what}: not seen within 20 s; the log:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    writeFileSync(
      config,
      JSON.stringify({ 'log-level': 'info', 'data-dir': join(world.runDir, 'pkg-data') }),
    );
    daemon = spawn(
      dnet,
      ['daemon', '--config-file', config, '--run-dir', join(world.runDir, 'pkg-run'), '-H', `unix://${sock}`],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    daemon.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
    });
    await waitForPing(sock, 60_000);
  });

  after(() => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
  });

  test('serves the CLI', () => {
    const ls = run(['-H', `unix://${sock}`, 'network', 'ls']);
    assert.equal(ls.code, 0, ls.err);
    assert.match(
      ls.out,
      /^NETWORK ID +NAME +DRIVER +SCOPE\n.* bridge +bridge +local\n.* host +host +local\n.* none +null +local\n$/,
    );
    const start = lines().find((e) => e.event === 'start');
    assert.equal(start?.dataDir, join(world.runDir, 'pkg-data'), 'data-dir from the configuration file');
  });

  test('SIGHUP re-reads the configuration file: log-level, logged; a bad file changes nothing', async () => {
    const requests = () => lines().filter((e) => e.event === 'request').length;
    run(['-H', `unix://${sock}`, 'network', 'ls']);
    await until('a request logged at info', () => requests() > 0);

    writeFileSync(
      config,
      JSON.stringify({ 'log-level': 'warn', 'data-dir': join(world.runDir, 'pkg-data') }),
    );
    daemon.kill('SIGHUP');
    await until('the reload', () => lines().some((e) => e.event === 'reload'));
    const reload = lines().find((e) => e.event === 'reload')!;
    assert.equal(reload.level, 'info');
    assert.equal(reload.logLevel, 'warn');
    assert.equal(reload.previousLogLevel, 'info');
    assert.equal(reload.configFile, config);
    assert.deepEqual(reload.needsRestart, []);
    // Requests are logged at info: not any more.
    const before = requests();
    assert.equal(run(['-H', `unix://${sock}`, 'network', 'ls']).code, 0);
    assert.equal(run(['-H', `unix://${sock}`, 'sandbox', 'ls']).code, 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(requests(), before);

    // A broken file: an error logged (at error, shown under warn), the level kept.
    writeFileSync(config, '{"log-level": "loud"}');
    daemon.kill('SIGHUP');
    await until('the failed reload', () => lines().some((e) => e.event === 'reload' && e.level === 'error'));
    const failed = lines().find((e) => e.event === 'reload' && e.level === 'error')!;
    assert.match(
      String(failed.msg),
      /configuration file .*daemon\.json: "log-level" must be one of .*; nothing changed/,
    );

    // Back to debug, and a setting that needs a restart: reported, the level applied.
    writeFileSync(
      config,
      JSON.stringify({ 'log-level': 'debug', 'data-dir': join(world.runDir, 'elsewhere') }),
    );
    daemon.kill('SIGHUP');
    await until(
      'the second reload',
      () => lines().filter((e) => e.event === 'reload' && e.level === 'info').length === 2,
    );
    const second = lines().filter((e) => e.event === 'reload' && e.level === 'info')[1]!;
    assert.equal(second.logLevel, 'debug');
    assert.deepEqual(second.needsRestart, ['data-dir']);
    const n = requests();
    assert.equal(run(['-H', `unix://${sock}`, 'network', 'ls']).code, 0);
    await until('requests logged again', () => requests() > n);
  });

  test('SIGTERM: exit 0, socket removed', async () => {
    const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!existsSync(sock));
    assert.ok(existsSync(dirname(sock)));
  });
});
