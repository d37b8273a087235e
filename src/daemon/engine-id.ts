/**
 * The daemon's engine ID, as dockerd's (daemon/id.go LoadOrCreateID): a random UUID written once
 * to `<dataDir>/engine-id` (mode 0600) and read back at every start. `/info` reports it as `ID`,
 * and the built-in IPAM derives the host's IPv6 ULA /48 from it (src/ipam/pools.ts deriveUlaPool),
 * so networks created with `--ipv6` and no subnet get the same prefix across restarts.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidOptionError } from '../errors/cnm.ts';

export const ENGINE_ID_FILE = 'engine-id';

/** Reads `<dataDir>/engine-id`, or creates it (atomically: a temporary file renamed into place). */
export async function loadOrCreateEngineId(dataDir: string): Promise<string> {
  const path = join(dataDir, ENGINE_ID_FILE);
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (id === '' || id.length > 256 || /[\s\0]/.test(id)) {
      throw new InvalidOptionError(
        'engine-id',
        id,
        `${path} must hold one ID (a UUID) on one line: remove the file to have a new one made ` +
          '(the default IPv6 prefix of new networks changes with it)',
      );
    }
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, id, { mode: 0o600 });
  await rename(tmp, path);
  return id;
}
