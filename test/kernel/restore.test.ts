import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NetworkController } from '../../src/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { deleteNetns, listNetns } from '../../src/os/netns/index.ts';
import { applyNft, listNft, NftPlan } from '../../src/os/nftables/index.ts';
import { LmdbStore } from '../../src/store/index.ts';
import { world } from '../harness/world.ts';
import { request, startServer } from '../helpers/traffic.ts';

const nl = NetlinkHandle.open();
const links = () =>
  nl
    .linkList()
    .map((l) => l.name)
    .sort();
const dnetTable = () => {
  try {
    return listNft({ table: { family: 'inet', name: 'dnet' } });
  } catch {
    return undefined;
  }
};

async function open(runDir: string, dataDir: string) {
  const store = await LmdbStore.open({ dir: dataDir });
  const ctl = await NetworkController.create({ runDir, store });
  return {
    ctl,
    async close() {
      await ctl.close();
      await store.close();
    },
  };
}

describe('restart recovery', () => {
  const runDir = join(world.runDir, 'r1');
  const dataDir = join(world.runDir, 'd1');

  test('a restart restores networks, endpoints, sandboxes, addresses and ports, adopting the kernel objects', async () => {
    const a = await open(runDir, dataDir);
    const net = await a.ctl.newNetwork('bridge', 'keep', { ipam: { config: [{ subnet: '10.66.0.0/24' }] } });
    const none = await a.ctl.newNetwork('null', 'nothing');
    const web = await net.createEndpoint('web', { portBindings: [{ proto: 'tcp', port: 80 }] });
    const { sandboxKey } = await web.join('web', { hostname: 'web' });
    const idle = await net.createEndpoint('idle');
    const n2 = await none.createEndpoint('n2');
    await n2.join('lonely');
    const before = await web.info();
    const hostPort = before.portMappings[0]?.hostPort ?? 0;
    assert.ok(hostPort >= 49153);
    const inode = statSync(sandboxKey).ino;
    const server = await startServer(sandboxKey, 'tcp', '0.0.0.0', 80);
    try {
      await a.close();
      assert.ok(existsSync(sandboxKey), 'closing the controller leaves the containers connected');

      const b = await open(runDir, dataDir);
      assert.deepEqual(b.ctl.lastRestore?.problems, []);
      const net2 = b.ctl.networkByName('keep');
      assert.equal(net2?.id, net.id);
      assert.equal(b.ctl.networkByName('nothing')?.id, none.id);
      const web2 = net2?.endpointByName('web');
      assert.equal(web2?.id, web.id);
      const after = await web2?.info();
      assert.equal(after?.ipv4Address, before.ipv4Address);
      assert.equal(after?.macAddress, before.macAddress);
      assert.equal(after?.sandboxKey, sandboxKey);
      assert.equal(after?.portMappings[0]?.hostPort, hostPort, 'the same host port');
      assert.equal(statSync(sandboxKey).ino, inode, 'the namespace was adopted, not made again');
      assert.equal(net2?.endpointByName('idle')?.id, idle.id);
      assert.equal(b.ctl.sandboxByContainer('lonely')?.endpoints().length, 1);
      assert.match(
        await request(undefined, 'tcp', '127.0.0.1', hostPort),
        /^from /,
        'the published port still works',
      );
      // no address is handed out twice after a restart
      const fresh = await net2?.createEndpoint('fresh');
      const freshIp = (await fresh?.info())?.ipv4Address;
      assert.notEqual(freshIp, before.ipv4Address);
      assert.notEqual(freshIp, (await idle.info()).ipv4Address);
      await fresh?.delete();
      await b.close();
    } finally {
      server.stop();
    }
  });

  test('after a "reboot" (kernel state gone) everything is made again with the same addresses and ports', async () => {
    // What a reboot does to dnet's kernel state: namespaces, links and the firewall are gone.
    for (const ns of listNetns({ runDir })) deleteNetns(ns, { runDir });
    for (const l of nl.linkList()) if (l.name !== 'lo') nl.linkDelIfExists(l.index);
    applyNft(new NftPlan().deleteTable({ family: 'inet', table: 'dnet' }, { ifExists: true }));
    const c = await open(runDir, dataDir);
    assert.deepEqual(c.ctl.lastRestore?.problems, []);
    const web = c.ctl.networkByName('keep')?.endpointByName('web');
    const info = await web?.info();
    assert.ok(info?.sandboxKey && existsSync(info.sandboxKey), 'the sandbox namespace is back');
    const hostPort = info.portMappings[0]?.hostPort ?? 0;
    const server = await startServer(info.sandboxKey, 'tcp', '0.0.0.0', 80);
    try {
      assert.match(await request(undefined, 'tcp', '127.0.0.1', hostPort), /^from /);
    } finally {
      server.stop();
    }
    // clean up everything through the API: nothing may be left
    for (const n of c.ctl.networks()) {
      for (const e of n.endpoints()) {
        if (e.containerId) await e.leave(e.containerId);
        await e.delete();
      }
      await n.delete();
    }
    await c.close();
    assert.deepEqual(links(), ['lo']);
    assert.deepEqual(
      listNetns({ runDir }).filter((n) => n !== 'default'),
      [],
    );
    assert.equal(dnetTable(), undefined);
  });
});

describe('crash safety', () => {
  test('kill -9 at random moments: the next start leaks nothing and hands nothing out twice', async () => {
    const runDir = join(world.runDir, 'r2');
    const dataDir = join(world.runDir, 'd2');
    for (let round = 0; round < 6; round++) {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(world.root, 'test/helpers/crash-child.ts'), runDir, dataDir],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise((r) => child.stdout?.once('data', r));
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 400));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      const s = await open(runDir, dataDir);
      assert.deepEqual(s.ctl.lastRestore?.problems, [], `round ${round}`);
      const net = s.ctl.networkByName('crashnet');
      assert.ok(net);
      const eps = net.endpoints();
      const addrs = await Promise.all(eps.map(async (e) => (await e.info()).ipv4Address));
      assert.equal(new Set(addrs).size, addrs.length, 'no address twice');
      const ports = (await Promise.all(eps.map(async (e) => (await e.info()).portMappings))).flat();
      assert.equal(new Set(ports.map((p) => p.hostPort)).size, ports.length, 'no host port twice');
      // kernel state matches the records exactly
      const joined = eps.filter((e) => e.containerId);
      const veths = links().filter((l) => /^dv[0-9a-f]{10}c?$/.test(l));
      assert.deepEqual(
        veths.sort(),
        joined.map((e) => `dv${e.id.slice(0, 10)}`).sort(),
        `round ${round}: veths`,
      );
      const sandboxes = s.ctl.allSandboxes().map((x) => x.key);
      assert.deepEqual(
        listNetns({ runDir })
          .filter((n) => n !== 'default')
          .map((n) => join(runDir, 'netns', n))
          .sort(),
        sandboxes.sort(),
        `round ${round}: namespaces`,
      );
      for (const e of joined) {
        const k = (await e.info()).sandboxKey ?? '';
        const inNs = NetlinkHandle.open({ netns: { path: k } });
        assert.ok(inNs.linkGet('eth0'), `round ${round}: ${e.name} has eth0`);
        inNs.close();
      }
      await s.close();
    }
    // and everything can be taken down cleanly
    const s = await open(runDir, dataDir);
    for (const n of s.ctl.networks()) {
      for (const e of n.endpoints()) {
        if (e.containerId) await e.leave(e.containerId);
        await e.delete();
      }
      await n.delete();
    }
    await s.close();
    assert.deepEqual(links(), ['lo']);
    assert.equal(dnetTable(), undefined);
  });
});
