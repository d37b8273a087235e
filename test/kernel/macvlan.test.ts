import assert from 'node:assert/strict';
import { closeSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { VlanDriver } from '../../src/drivers/macvlan/index.ts';
import {
  type Endpoint,
  KernelModuleMissingError,
  type Network,
  NetworkController,
  VlanParentConflictError,
  VlanParentMissingError,
} from '../../src/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../../src/os/netns/index.ts';
import { LmdbStore } from '../../src/store/index.ts';
import { world } from '../harness/world.ts';
import { request, type Server, startServer } from '../helpers/traffic.ts';

// The macvlan driver with real traffic: containers on a parent link whose segment ends in a
// "remote host" namespace (the parent is a veth of this world; its peer is the remote host's NIC).

const nl = NetlinkHandle.open();
const runDir = join(world.runDir, 'mv-run');
const dataDir = join(world.runDir, 'mv-data');
let remote: string;
const servers: Server[] = [];
const hostLinks = () =>
  nl
    .linkList()
    .map((l) => l.name)
    .sort();
let linksBefore: string[];

/** One segment: `parent` here, its peer `peer` in the remote namespace with `remoteIp`. */
function segment(parent: string, peer: string, remoteIp: string): void {
  const fd = openNetns(remote);
  try {
    nl.linkAdd({ kind: 'veth', name: parent, up: true, peer: { name: peer, netns: { fd } } });
  } finally {
    closeSync(fd);
  }
  const r = NetlinkHandle.open({ netns: { path: remote } });
  try {
    r.addrAdd(peer, remoteIp);
    r.linkSet(peer, { up: true });
  } finally {
    r.close();
  }
}

async function open() {
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

const plain = (cidr: string | undefined) => (cidr ?? '').split('/')[0] ?? '';

/** The interfaces of a sandbox, as the kernel has them. */
function linksIn(key: string) {
  const h = NetlinkHandle.open({ netns: { path: key } });
  try {
    return h.linkList();
  } finally {
    h.close();
  }
}

async function serve(ep: Endpoint): Promise<string> {
  const info = await ep.info();
  assert.ok(info.sandboxKey);
  servers.push(await startServer(info.sandboxKey, 'tcp', '0.0.0.0', 80));
  return plain(info.ipv4Address);
}

before(() => {
  linksBefore = hostLinks();
  remote = createNetns('mv-remote', { runDir: world.runDir });
  const r = NetlinkHandle.open({ netns: { path: remote } });
  r.linkSet('lo', { up: true });
  r.close();
  segment('mvpar0', 'mvrem0', '10.80.0.100/24');
  segment('mvpar1', 'mvrem1', '10.81.0.100/24');
  segment('mvpar2', 'mvrem2', '10.82.0.100/24');
});

after(() => {
  for (const s of servers) s.stop();
  for (const l of ['mvpar0', 'mvpar1', 'mvpar2']) nl.linkDelIfExists(l);
  deleteNetns(remote);
});

describe('macvlan driver', () => {
  let a: Awaited<ReturnType<typeof open>>;
  let net: Network;
  let c1: Endpoint;
  let c2: Endpoint;
  let ip1: string;

  test('bridge mode (from a configuration-only network): containers reach each other and the remote host', async () => {
    a = await open();
    await a.ctl.newNetwork('bridge', 'mvcfg', {
      configOnly: true,
      ipam: { config: [{ subnet: '10.80.0.0/24', gateway: '10.80.0.100', ipRange: '10.80.0.0/25' }] },
      options: { parent: 'mvpar0' },
    });
    net = await a.ctl.newNetwork('macvlan', 'mv', { configFrom: 'mvcfg' });
    // The gateway is the user's router, outside the network: no other address is reserved for it.
    assert.deepEqual(
      net.pools.map((p) => [p.subnet, p.gateway]),
      [['10.80.0.0/24', '10.80.0.100/24']],
    );
    c1 = await net.connect('c1');
    c2 = await net.connect('c2');
    const [i1, i2] = [await c1.info(), await c2.info()];
    assert.equal(i1.ipv4Address, '10.80.0.1/24');
    assert.equal(i2.ipv4Address, '10.80.0.2/24');
    // The container's interface: a macvlan slave of the parent, in bridge mode, with the endpoint's MAC.
    const eth0 = linksIn(i1.sandboxKey ?? '').find((l) => l.name === 'eth0');
    assert.deepEqual(eth0?.info, { kind: 'macvlan', mode: 'bridge' });
    assert.equal(eth0?.mac, i1.macAddress);
    assert.ok(eth0?.up);
    // Its default route goes through the remote host (the gateway given).
    const h = NetlinkHandle.open({ netns: { path: i1.sandboxKey ?? '' } });
    try {
      assert.equal(h.routeList().find((r) => r.dst === 'default')?.gateway, '10.80.0.100');
    } finally {
      h.close();
    }

    ip1 = await serve(c1);
    const ip2 = await serve(c2);
    assert.equal(await request(i2.sandboxKey, 'tcp', ip1, 80), `from ${ip2}`, 'container to container');
    assert.equal(await request(i1.sandboxKey, 'tcp', ip2, 80), `from ${ip1}`, 'and back');
    assert.equal(await request(remote, 'tcp', ip1, 80), 'from 10.80.0.100', 'remote host to container');
    // Nothing of it in the host's namespace: the slaves were made inside the sandboxes.
    assert.ok(!hostLinks().some((n) => n.startsWith('mv') && !n.startsWith('mvpar')));
  });

  test('private mode blocks container to container, vepa goes through the switch; the remote host reaches all', async () => {
    const priv = await a.ctl.newNetwork('macvlan', 'mvpriv', {
      ipam: { config: [{ subnet: '10.81.0.0/24', ipRange: '10.81.0.0/25' }] },
      options: { parent: 'mvpar1', macvlan_mode: 'private' },
    });
    assert.equal(priv.pools[0]?.gateway, undefined, 'no gateway given: none reserved');
    const p1 = await priv.connect('p1');
    const p2 = await priv.connect('p2');
    const [i1, i2] = [await p1.info(), await p2.info()];
    assert.equal(i1.gateway, undefined);
    assert.equal(linksIn(i1.sandboxKey ?? '').find((l) => l.name === 'eth0')?.info.kind, 'macvlan');
    const a1 = await serve(p1);
    const a2 = await serve(p2);
    assert.match(
      await request(i2.sandboxKey, 'tcp', a1, 80, 1000),
      /^FAIL/,
      'private: no container to container',
    );
    assert.equal(await request(remote, 'tcp', a1, 80), 'from 10.81.0.100');
    assert.equal(await request(remote, 'tcp', a2, 80), 'from 10.81.0.100');
    // The remote end becomes a switch that hairpins (a bridge port with hairpin on): private
    // still blocks container to container (the kernel drops frames from its own slaves), vepa
    // now works through the switch, and only through it.
    const r = NetlinkHandle.open({ netns: { path: remote } });
    try {
      r.addrDel('mvrem1', '10.81.0.100/24');
      r.linkAdd({ kind: 'bridge', name: 'rbr1' });
      r.linkSet('mvrem1', { master: 'rbr1' });
      r.bridgePortSet('mvrem1', { hairpin: true });
      r.addrAdd('rbr1', '10.81.0.100/24');
      r.linkSet('rbr1', { up: true });
    } finally {
      r.close();
    }
    assert.match(await request(i2.sandboxKey, 'tcp', a1, 80, 1000), /^FAIL/, 'private, even with a hairpin');
    assert.equal(await request(remote, 'tcp', a1, 80), 'from 10.81.0.100');
    await p1.leaveAndDelete();
    await p2.leaveAndDelete();
    await priv.delete();

    const vepa = await a.ctl.newNetwork('macvlan', 'mvvepa', {
      ipam: { config: [{ subnet: '10.81.0.0/24', ipRange: '10.81.0.128/25' }] },
      options: { parent: 'mvpar1', macvlan_mode: 'vepa' },
    });
    const v1 = await vepa.connect('v1');
    const v2 = await vepa.connect('v2');
    const [j1, j2] = [await v1.info(), await v2.info()];
    assert.deepEqual(linksIn(j1.sandboxKey ?? '').find((l) => l.name === 'eth0')?.info, {
      kind: 'macvlan',
      mode: 'vepa',
    });
    const b1 = await serve(v1);
    const b2 = plain(j2.ipv4Address);
    assert.equal(await request(j2.sandboxKey, 'tcp', b1, 80), `from ${b2}`, 'vepa: through the hairpin');
    const r2 = NetlinkHandle.open({ netns: { path: remote } });
    try {
      r2.bridgePortSet('mvrem1', { hairpin: false });
    } finally {
      r2.close();
    }
    assert.match(await request(j2.sandboxKey, 'tcp', b1, 80, 1000), /^FAIL/, 'vepa: not without it');
    await v1.leaveAndDelete();
    await v2.leaveAndDelete();
    await vepa.delete();
  });

  test('passthru holds its parent alone; modes and parents are checked', async () => {
    const pt = await a.ctl.newNetwork('macvlan', 'mvpt', {
      ipam: { config: [{ subnet: '10.82.0.0/24' }] },
      options: { parent: 'mvpar2', macvlan_mode: 'passthru' },
    });
    await assert.rejects(
      a.ctl.newNetwork('macvlan', 'mvpt2', {
        ipam: { config: [{ subnet: '10.83.0.0/24' }] },
        options: { parent: 'mvpar2' },
      }),
      (err: Error) =>
        err instanceof VlanParentConflictError &&
        /already using parent interface mvpar2 in mode passthru/.test(err.message),
    );
    await assert.rejects(
      a.ctl.newNetwork('macvlan', 'mvpt3', {
        ipam: { config: [{ subnet: '10.84.0.0/24' }] },
        options: { parent: 'mvpar0', macvlan_mode: 'passthru' },
      }),
      /cannot use mode passthru, macvlan network [0-9a-f]{12} is already using parent interface mvpar0/,
    );
    // An internal network on a parent: no default route, even with a gateway given.
    const inner = await a.ctl.newNetwork('macvlan', 'mvin', {
      internal: true,
      ipam: { config: [{ subnet: '10.89.0.0/24', gateway: '10.89.0.1' }] },
      options: { parent: 'mvpar0' },
    });
    const in1 = await inner.connect('in1');
    const inKey = (await in1.info()).sandboxKey ?? '';
    const ih = NetlinkHandle.open({ netns: { path: inKey } });
    try {
      assert.equal(
        ih.routeList().find((r) => r.dst === 'default'),
        undefined,
      );
    } finally {
      ih.close();
    }
    await in1.leaveAndDelete();
    await inner.delete();
    const t1 = await pt.connect('t1');
    const addr = await serve(t1);
    assert.equal(await request(remote, 'tcp', addr, 80), 'from 10.82.0.100');
    await t1.leaveAndDelete();
    await pt.delete();
    // A parent deleted under the network: a connect says so (409), and the network still goes.
    nl.linkAdd({ kind: 'veth', name: 'mvtmp0', peer: { name: 'mvtmp1' } });
    const gone = await a.ctl.newNetwork('macvlan', 'mvgone', {
      ipam: { config: [{ subnet: '10.79.0.0/24' }] },
      options: { parent: 'mvtmp0' },
    });
    nl.linkDel('mvtmp0');
    await assert.rejects(
      gone.connect('g1'),
      (err: Error) =>
        err instanceof VlanParentMissingError &&
        err.kind === 'conflict' &&
        /the requested parent interface mvtmp0 was not found on the host/.test(err.message),
    );
    assert.equal(gone.endpoints().length, 0, 'the failed connect left no endpoint');
    await gone.delete();
    for (const [opts, message] of [
      [{ parent: 'nosuchlink' }, /the requested parent interface nosuchlink was not found/],
      [{ parent: 'lo' }, /loopback interface is not a valid macvlan parent link/],
      [{ parent: 'mvpar0', macvlan_mode: 'source' }, /requested macvlan mode 'source' is not valid/],
      [{ parent: 'mvpar0.5000' }, /vlan id must be between 1-4094/],
      [{ parent: 'nosuch.10' }, /-o parent interface was not found on the host: nosuch/],
    ] as const) {
      await assert.rejects(
        a.ctl.newNetwork('macvlan', 'bad', { ipam: { config: [{ subnet: '10.85.0.0/24' }] }, options: opts }),
        message,
      );
    }
  });

  test('802.1q parents, parent-less networks and ipvlan: made where the kernel has the module, a typed error naming it where not', async () => {
    const cases: { module: string; type: string; options: Record<string, string>; made?: string }[] = [
      { module: '8021q', type: 'macvlan', options: { parent: 'mvpar1.10' }, made: 'mvpar1.10' },
      { module: 'dummy', type: 'macvlan', options: {}, made: 'dm-' },
      { module: 'ipvlan', type: 'ipvlan', options: { parent: 'mvpar1' }, made: undefined },
    ];
    for (const c of cases) {
      const attempt = a.ctl.newNetwork(c.type, `mod-${c.module}`, {
        ipam: { config: [{ subnet: '10.86.0.0/24' }] },
        options: c.options,
      });
      // Asked of the kernel, not assumed: the same request succeeds where the module is there.
      const made = await attempt.then(
        (n) => n,
        (err: unknown) => err,
      );
      if (made instanceof KernelModuleMissingError) {
        assert.equal(made.module, c.module);
        assert.match(made.message, new RegExp(`the ${c.module} kernel module is not loaded`));
        assert.match(made.message, new RegExp(`modprobe ${c.module}`));
        console.log(`# ${c.type} ${JSON.stringify(c.options)}: ${made.message}`);
        assert.deepEqual(hostLinks(), [...linksBefore, 'mvpar0', 'mvpar1', 'mvpar2'].sort(), 'nothing left');
        continue;
      }
      assert.ok(!(made instanceof Error), String(made));
      const n = made as Network;
      const link = c.made;
      if (link)
        assert.ok(
          hostLinks().some((l) => l.startsWith(link)),
          `${link} was made`,
        );
      await n.delete();
      if (link) assert.ok(!hostLinks().some((l) => l.startsWith(link)), `${link} was removed`);
    }
  });

  test('a restart adopts the slaves; a leave after it removes the slave from a sandbox that stays', async () => {
    const br = await a.ctl.newNetwork('bridge', 'mvside', { ipam: { config: [{ subnet: '10.87.0.0/24' }] } });
    await br.connect('c1'); // c1 keeps a sandbox after it leaves the macvlan network
    const before1 = await c1.info();
    const slaveBefore = linksIn(before1.sandboxKey ?? '').find((l) => l.name === before1.interfaceName);
    await a.close();

    const b = await open();
    assert.deepEqual(b.ctl.lastRestore?.problems, []);
    const net2 = b.ctl.networkByName('mv');
    assert.equal(net2?.id, net.id);
    const e1 = net2?.endpointByName('c1');
    const info = await e1?.info();
    assert.equal(info?.ipv4Address, '10.80.0.1/24');
    assert.equal(await request(remote, 'tcp', ip1, 80), 'from 10.80.0.100', 'still reachable');
    const key = info?.sandboxKey ?? '';
    const ifName = info?.interfaceName ?? '';
    const slaveAfter = linksIn(key).find((l) => l.name === ifName);
    assert.equal(slaveAfter?.info.kind, 'macvlan');
    assert.equal(
      slaveAfter?.index,
      slaveBefore?.index,
      'the slave was adopted (found by its mark), not made again',
    );
    await e1?.leaveAndDelete();
    assert.ok(existsSync(key), 'the sandbox stays (it is on the bridge network too)');
    assert.equal(
      linksIn(key).find((l) => l.info.kind === 'macvlan'),
      undefined,
      'the slave is gone',
    );

    // Delete everything: nothing is left behind.
    for (const s of servers.splice(0)) s.stop();
    await net2?.endpointByName('c2')?.leaveAndDelete();
    await b.ctl.networkByName('mvside')?.endpointByName('c1')?.leaveAndDelete();
    await b.ctl.networkByName('mvside')?.delete();
    await net2?.delete();
    await b.ctl.networkByName('mvcfg')?.delete();
    await b.close();
    assert.deepEqual(hostLinks(), [...linksBefore, 'mvpar0', 'mvpar1', 'mvpar2'].sort());
    assert.ok(!nl.linkList().some((l) => l.alias?.startsWith('dnet')), 'no marked link left');
    const nsDir = join(runDir, 'netns');
    assert.deepEqual(existsSync(nsDir) ? readdirSync(nsDir) : [], [], 'no sandbox namespace left');
  });
});

describe("macvlan driver, interface left in the host (Docker's plugin path: Docker moves it)", () => {
  test("join makes a marked slave in the host; leave and a restore's orphan sweep remove it", async () => {
    const d = new VlanDriver('macvlan');
    const networkId = 'a'.repeat(64);
    const endpointId = 'b'.repeat(64);
    const req = {
      networkId,
      options: {
        generic: { parent: 'mvpar1' },
        enableIPv6: false,
        internal: false,
        labels: {},
        name: 'plug',
      },
      ipv4Data: [{ addressSpace: 'LocalDefault', pool: '10.88.0.0/24', auxAddresses: {} }],
      ipv6Data: [],
    };
    const { data } = await d.createNetwork(req);
    const ep = {
      networkId,
      endpointId,
      iface: { address: '10.88.0.2/24' },
      options: { exposedPorts: [], portBindings: [], generic: {} },
    };
    const made = await d.createEndpoint(ep);
    const mac = made.iface?.macAddress;
    assert.match(mac ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const info = await d.join({
      networkId,
      endpointId,
      sandboxKey: '/nonexistent',
      options: {},
      interfaceInHost: true,
    });
    assert.equal(info.interfaceName?.inSandbox, undefined);
    const slave = nl.linkGet(info.interfaceName?.srcName ?? '');
    assert.deepEqual(slave?.info, { kind: 'macvlan', mode: 'bridge' });
    assert.equal(slave?.mac, mac);
    assert.equal(slave?.alias, `dnet-macvlan:${endpointId}`);
    await d.leave(networkId, endpointId);
    assert.equal(nl.linkGet(info.interfaceName?.srcName ?? ''), undefined);
    // A slave left by a crash (joined, then the daemon lost it): a new driver that restores the
    // network without the endpoint removes it at restoreDone, by its mark.
    await d.join({ networkId, endpointId, sandboxKey: '/nonexistent', options: {}, interfaceInHost: true });
    const d2 = new VlanDriver('macvlan');
    await d2.restoreNetwork(req, data);
    await d2.restoreDone();
    assert.equal(nl.linkGet(info.interfaceName?.srcName ?? ''), undefined, 'the orphan is gone');
    assert.ok(nl.linkGet('mvpar1'), "the parent (the host's) stays");
    await d2.deleteNetwork(networkId);
  });
});
