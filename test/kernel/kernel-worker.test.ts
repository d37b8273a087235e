import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetlinkError } from '../../src/errors/index.ts';
import { KernelWorker, kernelWorker } from '../../src/os/kernel-worker/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { createNetns } from '../../src/os/netns/index.ts';
import { OsSandbox } from '../../src/os/sandbox.ts';
import { world } from '../harness/world.ts';

const nl = NetlinkHandle.open();
const N = 16;

function addVeths(prefix: string, n: number): string[] {
  const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  for (const name of names) nl.linkAdd({ kind: 'veth', name, peer: { name: `${name}p` } });
  return names;
}

/** The longest gap between turns of a 1 ms timer while `work` runs, and the work's wall time (ms). */
async function loopGaps(work: () => Promise<unknown>): Promise<{ maxGap: number; wall: number }> {
  let last = performance.now();
  let maxGap = 0;
  const tick = setInterval(() => {
    const t = performance.now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
  }, 1);
  const t0 = performance.now();
  try {
    await work();
  } finally {
    clearInterval(tick);
  }
  maxGap = Math.max(maxGap, performance.now() - last);
  return { maxGap, wall: performance.now() - t0 };
}

describe('kernel worker', () => {
  after(async () => {
    await kernelWorker().close();
    nl.close();
  });

  test('veth deletions run off the event loop: timers keep turning, an HTTP request is answered', async () => {
    const kw = kernelWorker();
    await kw.linksPresent([]); // the thread is up before timing
    // The same deletions on the main thread, for reference: the loop stops for each.
    const inline = addVeths('nlwa', 4);
    const onMain = await loopGaps(async () => {
      for (const v of inline) nl.linkDel(v);
    });
    const veths = addVeths('nlwb', N);
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    let pendingAtAnswer = -1;
    try {
      const offMain = await loopGaps(async () => {
        const deletions = veths.map((v) => kw.linkDel(v));
        const answered = new Promise<void>((resolve, reject) => {
          request({ host: '127.0.0.1', port, path: '/' }, (res) => {
            res.resume();
            res.on('end', () => {
              pendingAtAnswer = kw.inFlight;
              resolve();
            });
          })
            .on('error', reject)
            .end();
        });
        await Promise.all([answered, ...deletions]);
      });
      console.log(
        `main thread: 4 deletions ${onMain.wall.toFixed(1)} ms, longest loop gap ${onMain.maxGap.toFixed(1)} ms; ` +
          `worker: ${N} deletions ${offMain.wall.toFixed(1)} ms, longest loop gap ${offMain.maxGap.toFixed(1)} ms; ` +
          `deletions pending when the HTTP answer came: ${pendingAtAnswer}`,
      );
      for (const v of veths) assert.equal(nl.linkGet(v), undefined, `${v} was deleted`);
      // On the main thread the loop waits for the deletions; on the worker it does not.
      assert.ok(onMain.maxGap >= onMain.wall * 0.9, 'the main-thread deletions block the loop');
      assert.ok(
        offMain.maxGap * 3 < offMain.wall,
        `the loop kept turning (longest gap ${offMain.maxGap} ms of ${offMain.wall} ms)`,
      );
      assert.ok(pendingAtAnswer > 0, 'the request was answered while deletions were pending');
    } finally {
      server.close();
    }
  });

  test('errors come back typed: a missing link is NetlinkError ENODEV with its op', async () => {
    const kw = kernelWorker();
    await assert.rejects(kw.linkDel('nlwmissing'), (err: unknown) => {
      assert.ok(err instanceof NetlinkError);
      assert.equal(err.code, 'ERR_NETLINK');
      assert.equal(err.errnoName, 'ENODEV');
      assert.equal(err.errno, 19);
      assert.equal(err.op, 'link del nlwmissing');
      return true;
    });
    assert.equal(await kw.linkDelIfExists('nlwmissing'), false);
    assert.deepEqual(await kw.linksPresent(['lo', 'nlwmissing']), ['lo']);
    assert.equal(await kw.deleteNetns('/run/netns/nlw-none'), false);
    // An invalid name is refused by the codec in the thread: the same RangeError, and the thread lives on.
    await assert.rejects(kw.linkDel('x'.repeat(40)), RangeError);
    assert.equal(await kw.linkDelIfExists('nlwmissing'), false, 'the thread still answers');
  });

  test('a namespace is deleted on the worker', async () => {
    const path = createNetns('nlw-ns', { runDir: world.runDir });
    assert.equal(await kernelWorker().deleteNetns(path), true);
    assert.equal(existsSync(path), false);
  });

  test('close waits for pending calls and ends the thread; a later call starts a new one', async () => {
    const kw = new KernelWorker();
    const [v] = addVeths('nlwc', 1);
    const pending = kw.linkDel(v as string);
    await kw.close();
    await pending; // answered before the thread ended
    assert.equal(kw.inFlight, 0);
    assert.equal(nl.linkGet(v as string), undefined);
    assert.equal(await kw.linkDelIfExists('nlwmissing'), false);
    await kw.close();
  });

  test('an idle worker does not keep the process alive', () => {
    const mod = fileURLToPath(new URL('../../src/os/kernel-worker/index.ts', import.meta.url));
    const code = `import(${JSON.stringify(mod)}).then(async (m) => {
      console.log(await m.kernelWorker().linkDelIfExists('nlwmissing'));
    });`;
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'false');
    assert.ok(performance.now() - t0 < 20_000, 'the process exited by itself');
  });

  test("a sandbox's interface is configured in one worker call; on failure it is given back to the host", async () => {
    const sb = OsSandbox.create('nlw-sb', `${world.runDir}/nlw`);
    try {
      const [bad, good] = addVeths('nlwi', 2) as [string, string];
      // The same address twice: the kernel refuses the second (EEXIST) inside the sandbox.
      const refused = { srcName: bad, dstName: 'eth0', addresses: ['10.77.0.2/24', '10.77.0.2/24'] };
      await assert.rejects(
        sb.addInterface(refused),
        (err: unknown) => err instanceof NetlinkError && err.errnoName === 'EEXIST',
      );
      assert.ok(nl.linkGet(bad), `${bad} is back in the host under its name`);
      await sb.addInterface({ srcName: good, dstName: 'eth0', addresses: ['10.77.0.3/24', 'fd77::3/64'] });
      const eth0 = sb.interfaces().find((i) => i.name === 'eth0');
      assert.deepEqual(eth0?.addresses.sort(), ['10.77.0.3/24', 'fd77::3/64']);
      assert.equal(nl.linkGet(good), undefined, 'moved out of the host');
      nl.linkDel(bad);
    } finally {
      sb.destroy();
    }
  });
});
