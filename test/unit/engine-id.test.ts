import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ENGINE_ID_FILE, loadOrCreateEngineId } from '../../src/daemon/engine-id.ts';
import { InvalidOptionError } from '../../src/errors/cnm.ts';
import { deriveUlaPool } from '../../src/ipam/pools.ts';

const dir = mkdtempSync(join(tmpdir(), 'parity-a-engine-id-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('made once (a UUID, mode 0600), then read back; the ULA /48 follows it', async () => {
  const id = await loadOrCreateEngineId(dir);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const path = join(dir, ENGINE_ID_FILE);
  assert.equal(readFileSync(path, 'utf8'), id);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(await loadOrCreateEngineId(dir), id, 'the same at the next start');
  assert.deepEqual(deriveUlaPool(id), deriveUlaPool(await loadOrCreateEngineId(dir)));
});

test("moby's derivation: sha256 of the ID, 40 bits of Global ID under fd00::/8, /64s", () => {
  // sha256("x") = 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881: low 40 bits of
  // its first 64 (0x2d711642b726b044) are 0x42b726b044
  assert.deepEqual(deriveUlaPool('x'), { base: 'fd42:b726:b044::/48', size: 64 });
});

test('a damaged file is refused with what to do, not replaced', async () => {
  const bad = mkdtempSync(join(tmpdir(), 'parity-a-engine-id-bad-'));
  try {
    writeFileSync(join(bad, ENGINE_ID_FILE), 'two words\n');
    await assert.rejects(loadOrCreateEngineId(bad), (e: unknown) => {
      assert.ok(e instanceof InvalidOptionError);
      assert.match(e.message, /remove the file to have a new one made/);
      return true;
    });
    assert.equal(readFileSync(join(bad, ENGINE_ID_FILE), 'utf8'), 'two words\n');
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});
