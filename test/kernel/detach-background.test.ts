/**
 * Detach off the caller's path (issue 18, goal 1): a disconnect returns once the container is
 * disconnected and its address and ports are released; the namespace and the veth are removed in
 * the background (src/core/reclaim.ts). Checked here with real netlink, namespaces and traffic:
 * the background really removes them, a namespace kept alive by a process still running in it
 * does not keep the veth, and an address handed out again never meets the dying interface.
 * (kill -9 with removals pending: test/kernel/durability.test.ts, `committed:2` of a disconnect.)
 */
import '../harness/world.ts';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ReclaimRecord } from '../../src/core/reclaim.ts';
import { type Network, NetworkController } from '../../src/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { world } from '../harness/world.ts';
import { request, type Server, startServer } from '../helpers/traffic.ts';

const nl = NetlinkHandle.open();
let ctl: NetworkController;
let net: Network;
const servers: Server[] = [];

before(async () => {
  ctl = await NetworkController.create({ runDir: join(world.runDir, 'dnet-bg') });
  net = await ctl.newNetwork('bridge', 'bg', {
    ipam: { config: [{ subnet: '10.79.0.0/24' }] },
    options: { 'com.docker.network.bridge.name': 'dnetbg0' },
  });
});

after(async () => {
  for (const s of servers) s.stop();
  await ctl.settled();
  await net.delete();
  await ctl.close();
});

const hostVeth = (endpointId: string) => `dv${endpointId.slice(0, 10)}`;

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('detach returns first; the kernel objects go in the background', () => {
  test('the namespace and the veth are removed without anyone waiting for them', async () => {
    const ep = await net.connect('bg-one', { endpointName: 'bg-one' });
    const key = (await ep.info()).sandboxKey ?? '';
    const veth = hostVeth(ep.id);
    assert.ok(existsSync(key) && nl.linkGet(veth));
    await ep.leaveAndDelete();
    // Disconnected: no sandbox, no endpoint, the address free again.
    assert.equal(ctl.sandboxByContainer('bg-one'), undefined);
    assert.equal(net.endpointByName('bg-one'), undefined);
    await until(
      'the background removes the namespace and the veth',
      () => !existsSync(key) && !nl.linkGet(veth),
    );
    await until('no removal is pending', () => ctl.reclaimer.pending === 0);
  });

  test('a reused address and MAC never meet the dying interface; a namespace kept alive does not keep the veth', async () => {
    const addr = '10.79.0.50';
    const a = await net.connect('bg-a', { endpointName: 'bg-a', endpoint: { ipv4Address: addr } });
    const c = await net.connect('bg-c', { endpointName: 'bg-c' });
    const aKey = (await a.info()).sandboxKey ?? '';
    const cKey = (await c.info()).sandboxKey ?? '';
    // A process still runs in A's namespace (it holds it: the kernel cannot remove it), on port 81.
    const srvA = await startServer(aKey, 'tcp', '0.0.0.0', 81);
    servers.push(srvA);
    // The neighbour and the host talk to A: the bridge learns A's MAC on A's port.
    assert.match(await request(cKey, 'tcp', addr, 81), /^from 10\.79\.0\./);
    assert.match(await request(undefined, 'tcp', addr, 81), /^from /);

    // Hold the background removal, so that A's interface is certainly still there meanwhile.
    const held: ReclaimRecord[] = [];
    const schedule = ctl.reclaimer.schedule.bind(ctl.reclaimer);
    ctl.reclaimer.schedule = (r) => void held.push(r);
    let aVeth = hostVeth(a.id);
    try {
      await a.leaveAndDelete();
      assert.equal(nl.linkGet(aVeth), undefined, 'the dying veth is renamed out of the way');
      aVeth = held[0]?.links[0] ?? '';
      assert.match(aVeth, /^dx[0-9a-f]{12}$/);
      const dying = nl.linkGet(aVeth);
      assert.ok(dying, 'the dying veth is still there');
      assert.notEqual(dying.operState, 'up', 'it has no carrier: its bridge port forwards nothing');

      // B gets the same address, and so the same MAC (derived from it), on port 80.
      const b = await net.connect('bg-b', { endpointName: 'bg-b', endpoint: { ipv4Address: addr } });
      assert.equal((await b.info()).macAddress, '02:42:0a:4f:00:32');
      servers.push(await startServer((await b.info()).sandboxKey ?? '', 'tcp', '0.0.0.0', 80));
      for (const from of [cKey, undefined]) {
        assert.match(await request(from, 'tcp', addr, 80), /^from /, 'B answers at the address');
        assert.match(await request(from, 'tcp', addr, 81), /^FAIL/, 'A is not reachable any more');
      }
      assert.ok(nl.linkGet(aVeth), 'all of it while the dying veth was still there');
      await b.leaveAndDelete();
    } finally {
      ctl.reclaimer.schedule = schedule;
      for (const r of held) schedule(r);
    }
    // A's namespace is unmounted but its process keeps it alive: the background deletes the veth
    // itself once it has outlived the namespace by LINK_DEADLINE_MS (10 s).
    await until('the veth of a namespace kept alive is deleted', () => !nl.linkGet(aVeth), 20_000);
    assert.equal(existsSync(aKey), false);
    srvA.stop();
    await c.leaveAndDelete();
    await until('no removal is pending', () => ctl.reclaimer.pending === 0);
  });
});
