import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NftablesError } from '../../src/errors/index.ts';
import {
  applyNft,
  NftPlan,
  type NftTransaction,
  observeNftTransactions,
} from '../../src/os/nftables/index.ts';
import { world } from '../harness/world.ts';

// The observer hook the daemon's metrics use (in the world: its own network namespace).
void world;

test('each transaction is reported (commands, duration, result); none once the observer is removed', async () => {
  const seen: NftTransaction[] = [];
  const stop = observeNftTransactions((t) => seen.push(t));
  const t = { family: 'inet', table: 'obs' } as const;
  try {
    applyNft(new NftPlan().addTable(t).addChain(t, 'c'));
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.ok, true);
    assert.equal(seen[0]!.commands, 2);
    assert.ok(seen[0]!.seconds > 0 && seen[0]!.seconds < 5);
    // A transaction the kernel refuses (the table exists): reported as failed, the error unchanged.
    assert.throws(() => applyNft(new NftPlan().createTable(t)), NftablesError);
    assert.equal(seen.length, 2);
    assert.equal(seen[1]!.ok, false);
    // An observer that throws does not change the transaction's outcome.
    const stopBad = observeNftTransactions(() => {
      throw new Error('observer bug');
    });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      applyNft(new NftPlan().deleteTable(t));
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      stopBad();
      process.off('warning', onWarning);
    }
    assert.ok(
      warnings.some((w) => w.includes('observer bug')),
      warnings.join('; '),
    );
    assert.equal(seen.length, 3);
    assert.equal(seen[2]!.ok, true);
  } finally {
    stop();
  }
  applyNft(new NftPlan().addTable(t).deleteTable(t));
  assert.equal(seen.length, 3);
});
