/**
 * The throwaway world for kernel tests. Import this module FIRST in any test file that
 * creates kernel objects:
 *
 *   import { world } from '../harness/world.ts';
 *
 * On import, if the process is not already inside a world, it re-executes the same test file
 * under scripts/in-world.sh (new network + mount namespace, private tmpfs on /run, loopback up)
 * and exits with the child's status, so the code below the import only ever runs inside the
 * world. node:test's reporting goes through the inherited stdout unchanged.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const MARK = 'DNET_TEST_WORLD';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

if (process.env[MARK] !== '1') {
  if (process.getuid?.() !== 0) {
    console.error('kernel tests need root (they run in their own network namespace)');
    process.exit(1);
  }
  const r = spawnSync(
    join(root, 'scripts/in-world.sh'),
    [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [MARK]: '1' } },
  );
  process.exit(r.status ?? 1);
}

export const world = {
  /** The project's root directory. */
  root,
  /** A private run directory (on the world's tmpfs /run). */
  runDir: mkdtempSync('/run/dnet-test-'),
};
