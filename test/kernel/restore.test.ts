import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Network, NetworkController } from '../../src/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { deleteNetns, listNetns } from '../../src/os/netns/index.ts';
import { applyNft, listNft, NftPlan } from '../../src/os/nftables/index.ts';
import { LmdbStore } from '../../src/store/index.ts';
import { world } from '../harness/world.ts';
import { request, startServer } from '../helpers/traffic.ts';
import { VethTestDriver } from '../helpers/veth-driver.ts';

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

describe('recovery never lies', () => {
  test('a delete the driver refuses keeps the endpoint and its record; each start retries it until it works', async () => {
    const runDir = join(world.runDir, 'r3');
    const dataDir = join(world.runDir, 'd3');
    const start = async (drv: VethTestDriver) => {
      const store = await LmdbStore.open({ dir: dataDir });
      const ctl = await NetworkController.create({ runDir, store, drivers: [drv] });
      return { ctl, store };
    };
    const drv = new VethTestDriver('veth-keep');
    let s = await start(drv);
    const net = await s.ctl.newNetwork('veth-keep', 'keepnet', {
      ipam: { config: [{ subnet: '10.79.0.0/24' }] },
    });
    const ep = await net.createEndpoint('stuck');
    const key = `dnet/endpoints/${net.id}/${ep.id}`;
    drv.failAt = 'deleteEndpoint';
    await assert.rejects(ep.delete(), /deleteEndpoint fails on purpose/);
    assert.equal(net.endpointByName('stuck'), ep, 'the endpoint stays: the delete can be retried');
    assert.equal(((await s.store.get(key))?.value as { state: string }).state, 'deleting');
    await assert.rejects(net.delete(), /active endpoints/);
    await s.ctl.close();
    await s.store.close();

    // The driver still refuses at the next start: reported, record kept, address still taken.
    const still = new VethTestDriver('veth-keep');
    still.failAt = 'deleteEndpoint';
    s = await start(still);
    assert.equal(s.ctl.lastRestore?.problems.length, 1);
    assert.match(
      s.ctl.lastRestore?.problems[0] ?? '',
      /endpoint stuck \(deleting\).*fails on purpose.*kept on record/,
    );
    assert.deepEqual(s.ctl.lastRestore?.rolledBack, []);
    assert.ok(await s.store.get(key), 'the record is kept');
    const other = await s.ctl.networkByName('keepnet')?.createEndpoint('other');
    assert.notEqual(
      (await other?.info())?.ipv4Address,
      (await ep.info()).ipv4Address,
      'its address is not handed out',
    );
    still.failAt = undefined;
    await other?.delete();
    await s.ctl.close();
    await s.store.close();

    // Now it works: the start finishes the delete and says so.
    s = await start(new VethTestDriver('veth-keep'));
    assert.deepEqual(s.ctl.lastRestore?.problems, []);
    assert.deepEqual(s.ctl.lastRestore?.rolledBack, ['endpoint stuck (deleting)']);
    assert.equal(await s.store.get(key), undefined);
    await s.ctl.networkByName('keepnet')?.delete();
    await s.ctl.close();
    await s.store.close();
  });

  test('the default route comes back through the same network: joins are restored in join order', async () => {
    const runDir = join(world.runDir, 'r4');
    const dataDir = join(world.runDir, 'd4');
    const drv = () => new VethTestDriver('veth-gw');
    let store = await LmdbStore.open({ dir: dataDir });
    let ctl = await NetworkController.create({ runDir, store, drivers: [drv()] });
    const nets: Network[] = [];
    for (let i = 0; i < 5; i++) {
      const n = await ctl.newNetwork('veth-gw', `gw${i}`, {
        ipam: { config: [{ subnet: `10.8${i}.0.0/24` }] },
      });
      nets.push(n);
      await n.connect('multi', { endpointName: 'multi' });
    }
    const key = ctl.sandboxByContainer('multi')?.key ?? '';
    const defaultVia = () => {
      const h = NetlinkHandle.open({ netns: { path: key } });
      try {
        return h.routeList().find((r) => r.dst === 'default' && r.family === 4)?.gateway;
      } finally {
        h.close();
      }
    };
    assert.equal(defaultVia(), '10.80.0.1');
    const names = async () =>
      Promise.all(
        nets.map(
          async (n) => (await ctl.networkByName(n.name)?.endpointByName('multi')?.info())?.interfaceName,
        ),
      );
    const before = await names();
    await ctl.close();
    await store.close();
    store = await LmdbStore.open({ dir: dataDir });
    ctl = await NetworkController.create({ runDir, store, drivers: [drv()] });
    assert.deepEqual(ctl.lastRestore?.problems, []);
    assert.deepEqual(await names(), before, 'each network keeps its interface name');
    // The first network in join order still gives the default route: taking the others away one
    // by one (newest first) never moves it.
    for (const n of [...nets].reverse().slice(0, 4)) {
      await ctl.networkByName(n.name)?.endpointByName('multi')?.leaveAndDelete();
      assert.equal(defaultVia(), '10.80.0.1', `after leaving ${n.name}`);
    }
    await ctl.networkByName('gw0')?.endpointByName('multi')?.leaveAndDelete();
    for (const n of nets) await ctl.networkByName(n.name)?.delete();
    await ctl.close();
    await store.close();
  });
});
