import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { NftablesError } from '../../src/errors/index.ts';
import { isOwnTask, kernelWorker } from '../../src/os/kernel-worker/index.ts';
import { NftEvents } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns } from '../../src/os/netns/index.ts';
import {
  applyNftAsync,
  listNft,
  NftPlan,
  type NftTransaction,
  nftElements,
  nftSet,
  observeNftTransactions,
  type TableRef,
} from '../../src/os/nftables/index.ts';
import { FD_SETSIZE } from '../../src/os/nftables/low-fds.ts';
import { world } from '../harness/world.ts';

// applyNftAsync: libnftables transactions on the kernel worker thread (in the world's own
// network namespace; the nft CLI only cross-checks).

const nft = (...args: string[]) => execFileSync('nft', args, { encoding: 'utf8' });
const t: TableRef = { family: 'inet', table: 'nwasync' };
const ports = nftSet({ ...t, name: 'ports', type: 'inet_service' });

describe('nftables on the kernel worker', () => {
  after(async () => {
    await applyNftAsync(new NftPlan().deleteTable(t, { ifExists: true }));
    await kernelWorker().close();
  });

  test('a transaction applies in the host namespace; the main thread and the CLI see it', async () => {
    await applyNftAsync(new NftPlan().addTable(t).addSet(ports).addElements(ports, [80, 443]));
    assert.deepEqual(nftElements(ports), [80, 443]);
    assert.match(nft('list', 'set', 'inet', 'nwasync', 'ports'), /elements = \{ 80, 443 \}/);
  });

  test('a failing transaction applies nothing and throws NftablesError with libnftables text', async () => {
    const before = nft('list', 'ruleset');
    const missing = nftSet({ ...t, name: 'no_such_set', type: 'inet_service' });
    // Refused by libnftables (a missing set), and by the kernel at commit (a table that exists).
    for (const doomed of [
      new NftPlan().addElements(ports, [8080]).addElements(missing, [1]),
      new NftPlan().addElements(ports, [8081]).createTable(t),
    ]) {
      await assert.rejects(
        applyNftAsync(doomed),
        (err: unknown) =>
          err instanceof NftablesError &&
          err.code === 'ERR_NFTABLES' &&
          /apply \(2 commands\)/.test(err.op) &&
          /No such file or directory|File exists/.test(err.detail),
      );
    }
    assert.equal(nft('list', 'ruleset'), before);
  });

  test('inside another namespace: a context made there by the worker', async () => {
    const path = createNetns('nw-async', { runDir: `${world.runDir}/nw` });
    try {
      const inner: TableRef = { family: 'inet', table: 'nwinner' };
      await applyNftAsync(new NftPlan().addTable(inner).addChain(inner, 'c'), { netns: { path } });
      assert.deepEqual(
        listNft({ tables: null }, { netns: { path } }).tables.map((x) => x.name),
        ['nwinner'],
      );
      assert.ok(!listNft({ tables: null }).tables.some((x) => x.name === 'nwinner'), 'not in the host');
      // By an fd of this process, as the sandboxes pass it.
      const fd = openSync(path, 'r');
      try {
        await applyNftAsync(new NftPlan().addChain(inner, 'd'), { netns: { fd } });
      } finally {
        closeSync(fd);
      }
      assert.deepEqual(
        listNft({ table: { family: 'inet', name: 'nwinner' } }, { netns: { path } }).chains.map(
          (c) => c.name,
        ),
        ['c', 'd'],
      );
    } finally {
      deleteNetns(path);
    }
  });

  test('with over 1024 fds open in the process, the worker still makes contexts (select() guard)', async () => {
    const path = createNetns('nw-many', { runDir: `${world.runDir}/nw` });
    const filler: number[] = [];
    try {
      await applyNftAsync(new NftPlan().addTable(t)); // the worker's first context: its low fds held
      while ((filler.at(-1) ?? 0) < FD_SETSIZE + 50) filler.push(openSync('/dev/null', 'r'));
      const inner: TableRef = { family: 'inet', table: 'nwmany' };
      // Each call makes a new context in the worker; a socket at 1024+ would abort the process.
      for (let i = 0; i < 3; i++) {
        await applyNftAsync(new NftPlan().addTable(inner).addChain(inner, `c${i}`), { netns: { path } });
      }
      assert.deepEqual(
        listNft({ table: { family: 'inet', name: 'nwmany' } }, { netns: { path } }).chains.map((c) => c.name),
        ['c0', 'c1', 'c2'],
      );
    } finally {
      for (const fd of filler) closeSync(fd);
      deleteNetns(path);
    }
  });

  test('the event loop turns while a large transaction runs; observers are told on this thread', async () => {
    const seen: NftTransaction[] = [];
    const stop = observeNftTransactions((x) => seen.push(x));
    const big = new NftPlan().addElements(
      ports,
      Array.from({ length: 20000 }, (_, i) => 10000 + i),
    );
    let ticks = 0;
    const tick = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    try {
      await applyNftAsync(big);
    } finally {
      clearInterval(tick);
      stop();
    }
    const wall = performance.now() - t0;
    assert.ok(wall > 5, `the transaction took ${wall.toFixed(1)} ms: too short to tell`);
    assert.ok(ticks >= 2, `a 1 ms timer fired ${ticks} times during ${wall.toFixed(1)} ms`);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.ok, true);
    assert.equal(seen[0]?.commands, 1);
    assert.equal(nftElements(ports).length, 20002);
  });

  test("the kernel reports the worker's thread as the committer: isOwnTask knows it (heal.ts)", async () => {
    const events = NftEvents.open();
    try {
      await applyNftAsync(new NftPlan().deleteElements(ports, [80]));
      await new Promise((resolve) => setTimeout(resolve, 20));
      const ours = events.drain().transactions.filter((x) => x.changes.some((c) => c.table === 'nwasync'));
      assert.equal(ours.length, 1);
      const pid = ours[0]?.pid;
      assert.ok(
        pid !== undefined && pid !== process.pid,
        `the worker thread's id, not the process's: ${pid}`,
      );
      assert.ok(isOwnTask(pid), `${pid} is known as this process's`);
      assert.ok(isOwnTask(process.pid));
      assert.ok(!isOwnTask(1));
    } finally {
      events.close();
    }
  });
});
