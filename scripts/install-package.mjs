#!/usr/bin/env node
// Installs a packed libnetwork tarball (npm pack) into DIR, a project of its own, with the
// dependency versions of this checkout's package-lock.json: DIR gets a package.json depending on
// the tarball and a package-lock.json made of the lockfile's runtime entries, then `npm install`.
// So npm resolves nothing: it needs only its cache (the packages `npm ci` put there) or the
// registry for what the cache lacks (none with --offline, as the package test runs it).
//   node scripts/install-package.mjs TARBALL DIR [npm install options...]
// `make install` installs this way under $(PREFIX)/lib/dnet; test/kernel/package.test.ts too.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [tarball, dir, ...npmArgs] = process.argv.slice(2);
if (!tarball || !dir) {
  console.error('usage: install-package.mjs TARBALL DIR [npm install options...]');
  process.exit(2);
}
const root = new URL('..', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8'));
const spec = `file:${resolve(tarball)}`;
const packages = {
  '': { name: 'dnet-install', dependencies: { [pkg.name]: spec } },
  [`node_modules/${pkg.name}`]: {
    version: pkg.version,
    resolved: spec,
    license: pkg.license,
    dependencies: pkg.dependencies,
    bin: pkg.bin,
    engines: pkg.engines,
  },
};
// The runtime dependencies: every locked package that is not dev-only (they sit at the same
// node_modules paths under DIR as in the checkout).
for (const [path, entry] of Object.entries(lock.packages)) {
  if (path !== '' && !entry.dev) packages[path] = entry;
}
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, 'package.json'),
  `${JSON.stringify({ name: 'dnet-install', private: true, type: 'module', dependencies: { [pkg.name]: spec } }, null, 2)}\n`,
);
writeFileSync(
  join(dir, 'package-lock.json'),
  `${JSON.stringify({ name: 'dnet-install', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
);
const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...npmArgs], {
  cwd: dir,
  stdio: 'inherit',
  env: { ...process.env, npm_config_update_notifier: 'false' },
});
process.exit(r.status ?? 1);
