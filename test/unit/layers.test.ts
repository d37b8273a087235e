/**
 * The layer rules of DESIGN.md, checked on every import under src/ (static and dynamic):
 * imports point down the layer map; a driver never imports another driver; only the driver
 * registry (core/drivers.ts) names concrete drivers in the core; nothing above os/ imports
 * os/ffi; the public entry exports nothing from os/; the CLI loads no daemon code except the
 * `dnet daemon` command itself.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = join(root, 'src');

/** Lower numbers are lower layers; a module may import its own layer or lower ones. */
const RANK: Record<string, number> = {
  'version.ts': 0,
  'dotted-version.ts': 0,
  'timestamp.ts': 0,
  errors: 0,
  ip: 0,
  'driver-api': 1,
  'cni-spec': 1,
  os: 2,
  store: 2,
  plugins: 3,
  dns: 3,
  ipam: 4,
  portmapper: 4,
  drivers: 5,
  cluster: 5,
  core: 6,
  'index.ts': 7,
  daemon: 8,
  cni: 9,
  cli: 9,
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return files(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

// Static and dynamic imports; `import type` is erased at compile time and loads nothing.
const IMPORT_RE =
  /(?:^|\n)\s*(?:import|export)\s+(?!type\s)[^'"`;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Edge {
  from: string; // path under src/
  to: string; // path under src/
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const f of files(src)) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2];
      if (!spec?.startsWith('.')) continue;
      const to = relative(src, resolve(dirname(f), spec));
      if (to.startsWith('..')) continue; // package.json and the like
      out.push({ from: relative(src, f), to });
    }
  }
  return out;
}

const layerOf = (p: string): string => (p.includes('/') ? p.slice(0, p.indexOf('/')) : p);

test('every module under src/ belongs to a layer of DESIGN.md', () => {
  for (const f of files(src)) {
    const layer = layerOf(relative(src, f));
    assert.ok(layer in RANK, `src/${relative(src, f)} is in no layer of DESIGN.md's map (${layer})`);
  }
});

test('imports point down the layer map', () => {
  const bad = edges()
    .filter((e) => (RANK[layerOf(e.to)] ?? 99) > (RANK[layerOf(e.from)] ?? -1))
    .map((e) => `${e.from} -> ${e.to}`);
  assert.deepEqual(bad, []);
});

test('a driver never imports another driver; only core/drivers.ts names concrete drivers', () => {
  const bad = edges()
    .filter((e) => e.to.startsWith('drivers/'))
    .filter((e) => {
      if (e.from.startsWith('drivers/')) return e.from.split('/')[1] !== e.to.split('/')[1];
      return e.from.startsWith('core/') && e.from !== 'core/drivers.ts';
    })
    .map((e) => `${e.from} -> ${e.to}`);
  assert.deepEqual(bad, []);
});

test('only os/ imports os/ffi; the public entry exports nothing from os/', () => {
  const all = edges();
  assert.deepEqual(
    all
      .filter((e) => e.to.startsWith('os/ffi/') && !e.from.startsWith('os/'))
      .map((e) => `${e.from} -> ${e.to}`),
    [],
  );
  assert.deepEqual(
    all.filter((e) => e.from === 'index.ts' && e.to.startsWith('os/')).map((e) => e.to),
    [],
  );
});

test('the CLI loads no daemon code, except the `dnet daemon` command', () => {
  // Modules of constants that import nothing (defaults, log levels) are not daemon code. The
  // daemon command's own modules (cli/daemon-*.ts: its configuration file and flags) are loaded
  // only with it.
  const all = edges();
  const importsNothing = (p: string) => !all.some((e) => e.from === p);
  const daemonCommand = (p: string) => p === 'cli/daemon.ts' || p.startsWith('cli/daemon-');
  const bad = all
    .filter((e) => e.from.startsWith('cli/') && e.to.startsWith('daemon/') && !daemonCommand(e.from))
    .filter((e) => !importsNothing(e.to))
    .map((e) => `${e.from} -> ${e.to}`);
  assert.deepEqual(bad, []);
});
