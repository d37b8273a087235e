import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDaemon } from '../../src/daemon/daemon.ts';
import { HEAL_CHANNEL, type HealReport, LINK_MARK } from '../../src/drivers/bridge/index.ts';
import { InvalidOptionError, type Network, NetworkController } from '../../src/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../../src/os/netns/index.ts';
import { applyNft, type NftBatch, nftRuleCounts } from '../../src/os/nftables/index.ts';
import { LmdbStore } from '../../src/store/index.ts';
import { world } from '../harness/world.ts';
import { call } from '../helpers/http.ts';
import { request, type Server, startServer } from '../helpers/traffic.ts';

// Someone else changes what dnet made (`nft flush ruleset`, `ip link del`); dnet notices and
// repairs. The world's root namespace plays the host; a "remote" namespace hangs off it through a
// veth and probes a published port with real TCP connections, one every ~10 ms, so the outage
// after each tamper is measured, not assumed.
const HOST_IP = '203.0.113.1';
const REMOTE = '/run/netns/tremote';

const nl = NetlinkHandle.open();
let ctl: NetworkController;
const servers: Server[] = [];
const reports: HealReport[] = [];
const onReport = (m: unknown) => reports.push(m as HealReport);

before(async () => {
  createNetns('tremote');
  const fd = openNetns('tremote');
  nl.linkAdd({ kind: 'veth', name: 'trh0', up: true, peer: { name: 'eth0', netns: { fd } } });
  closeSync(fd);
  const rnl = NetlinkHandle.open({ netns: { path: REMOTE } });
  rnl.linkSet('lo', { up: true });
  rnl.linkSet('eth0', { up: true });
  rnl.addrAdd('eth0', '203.0.113.2/24');
  rnl.close();
  nl.addrAdd('trh0', `${HOST_IP}/24`);
  subscribe(HEAL_CHANNEL, onReport);
  ctl = await NetworkController.create({ runDir: join(world.runDir, 'tamper') });
});

after(async () => {
  for (const s of servers) s.stop();
  unsubscribe(HEAL_CHANNEL, onReport);
  for (const n of ctl.networks()) {
    for (const e of n.endpoints()) {
      if (e.containerId) await e.leave(e.containerId).catch(() => undefined);
      await e.delete();
    }
    if (n.type === 'bridge') await n.delete();
  }
  await ctl.close();
  nl.linkDelIfExists('trh0');
  deleteNetns('tremote');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function container(n: Network, name: string, opts: Parameters<Network['createEndpoint']>[1] = {}) {
  const ep = await n.createEndpoint(name, opts);
  const { sandboxKey } = await ep.join(name, { hostname: name });
  const info = await ep.info();
  return { ep, key: sandboxKey, ip: (info.ipv4Address ?? '').split('/')[0] ?? '', info };
}

/**
 * A TCP prober in the remote namespace: connects to host:port again and again (200 ms timeout,
 * 10 ms apart), one line per attempt: `<start ms> <end ms> ok|fail <why>`.
 */
const PROBER = `
const net = require('net');
const [host, port] = process.argv.slice(1);
const once = () => {
  const t0 = Date.now();
  const c = net.connect(Number(port), host);
  let done = false;
  const fin = (ok, why) => {
    if (done) return;
    done = true;
    c.destroy();
    console.log(t0 + ' ' + Date.now() + ' ' + (ok ? 'ok' : 'fail') + ' ' + why);
    setTimeout(once, 10);
  };
  c.setTimeout(200, () => fin(false, 'timeout'));
  c.on('data', () => fin(true, ''));
  c.on('error', (e) => fin(false, e.code));
};
once();`;

interface Probe {
  start: number;
  ok: boolean;
}

class Prober {
  readonly probes: Probe[] = [];
  private readonly child: ChildProcess;
  private buf = '';

  constructor(port: number) {
    this.child = spawn(
      'nsenter',
      [`--net=${REMOTE}`, process.execPath, '-e', PROBER, HOST_IP, String(port)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    this.child.stdout?.on('data', (d: Buffer) => {
      this.buf += d.toString();
      const lines = this.buf.split('\n');
      this.buf = lines.pop() ?? '';
      for (const l of lines) {
        const [start, , res] = l.split(' ');
        this.probes.push({ start: Number(start), ok: res === 'ok' });
      }
    });
  }

  /** Waits until a probe that started after `t` succeeded. */
  async okAfter(t: number, ms = 5000): Promise<void> {
    await waitFor(`a successful probe after ${t}`, () => this.probes.some((p) => p.start > t && p.ok), ms);
  }

  /**
   * The outage a tamper at `t` caused: from `t` to the start of the first successful probe after
   * the first failed one (0 when no probe failed: the repair came between two probes). An upper
   * bound: a probe whose SYN was dropped during the outage only gives up at its 200 ms timeout.
   */
  outage(t: number): { ms: number; failed: number } {
    const after = this.probes.filter((p) => p.start >= t);
    const firstFail = after.findIndex((p) => !p.ok);
    if (firstFail < 0) return { ms: 0, failed: 0 };
    const back = after.slice(firstFail).find((p) => p.ok);
    if (!back) throw new Error('the port never came back');
    return { ms: back.start - t, failed: after.filter((p) => !p.ok && p.start < back.start).length };
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

const nft = (...args: string[]) => execFileSync('nft', args, { encoding: 'utf8' });
const intact = () =>
  (nftRuleCounts('inet', 'dnet').get('forward') ?? 0) > 0 && nftRuleCounts('bridge', 'dnet').size > 0;

/** Tampers, waits for the port to work again, prints and returns the outage. */
async function measured(p: Prober, what: string, tamper: () => void): Promise<number> {
  await p.okAfter(Date.now()); // it works before
  const t = Date.now();
  tamper();
  await p.okAfter(t + 50);
  await sleep(300); // a few more probes: it stays up
  const o = p.outage(t);
  console.log(`# outage after ${what}: ${o.ms} ms (${o.failed} failed probe(s))`);
  assert.ok(
    p.probes.filter((x) => x.start > t + o.ms + 50).every((x) => x.ok),
    `${what}: it stays up`,
  );
  return o.ms;
}

describe('self-healing bridge driver', () => {
  let net: Network;
  let web: Awaited<ReturnType<typeof container>>;
  let peer: Awaited<ReturnType<typeof container>>;
  let hostPort: number;
  let prober: Prober;

  before(async () => {
    net = await ctl.newNetwork('bridge', 'tamper', { ipam: { config: [{ subnet: '10.77.0.0/24' }] } });
    web = await container(net, 'tweb', { portBindings: [{ proto: 'tcp', port: 80 }] });
    peer = await container(net, 'tpeer');
    hostPort = web.info.portMappings[0]?.hostPort ?? 0;
    servers.push(await startServer(web.key, 'tcp', '0.0.0.0', 80));
    servers.push(await startServer(peer.key, 'tcp', '0.0.0.0', 81));
    prober = new Prober(hostPort);
  });

  after(() => prober.stop());

  test('links and bridges dnet makes carry its mark', () => {
    const bridge = nl.linkGet(`br-${net.id.slice(0, 12)}`);
    assert.equal(bridge?.alias, `${LINK_MARK}${net.id}`);
    assert.equal(nl.linkGet(`dv${web.ep.id.slice(0, 10)}`)?.alias, `${LINK_MARK}${web.ep.id}`);
  });

  test('nft flush ruleset: the published port works again within 1 s; the next connect and create succeed', async () => {
    const ms = await measured(prober, 'nft flush ruleset', () => nft('flush', 'ruleset'));
    assert.ok(ms <= 1000, `outage ${ms} ms`);
    assert.ok(intact());
    const r = reports.find((x) => /nft .*deleted/.test(x.reason));
    assert.ok(r, 'a heal report names what was seen');
    assert.ok(r.repaired.some((x) => /firewall rebuilt/.test(x)));
    // the next operations work
    const c3 = await container(net, 'tc3');
    const n2 = await ctl.newNetwork('bridge', 'after-flush', {
      ipam: { config: [{ subnet: '10.78.0.0/24' }] },
    });
    await c3.ep.leave('tc3');
    await c3.ep.delete();
    await n2.delete();
  });

  test('nft delete table inet dnet: restored', async () => {
    const ms = await measured(prober, 'nft delete table inet dnet', () =>
      nft('delete', 'table', 'inet', 'dnet'),
    );
    assert.ok(ms <= 1000, `outage ${ms} ms`);
    assert.ok(intact());
  });

  test('a deleted published-port element is put back', async () => {
    const ms = await measured(prober, 'nft delete element (the published port)', () =>
      nft('delete', 'element', 'inet', 'dnet', 'pub4any_addr', `{ tcp . ${hostPort} }`),
    );
    assert.ok(ms <= 1000, `outage ${ms} ms`);
  });

  test('ip link del of the bridge: re-created with its ports; containers reach each other again', async () => {
    const name = `br-${net.id.slice(0, 12)}`;
    const ms = await measured(prober, `ip link del ${name}`, () => execFileSync('ip', ['link', 'del', name]));
    assert.ok(ms <= 1000, `outage ${ms} ms`);
    const br = await waitFor('the bridge', () => nl.linkGet(name));
    assert.equal(br.alias, `${LINK_MARK}${net.id}`, 'with its mark');
    assert.deepEqual(
      nl.addrList(name, 4).map((a) => a.cidr),
      ['10.77.0.1/24'],
    );
    for (const c of [web, peer]) assert.equal(nl.linkGet(`dv${c.ep.id.slice(0, 10)}`)?.master, br.index);
    assert.match(await request(web.key, 'tcp', peer.ip, 81), /^from 10\.77\.0\./);
    assert.ok(
      reports.some((r) => r.repaired.some((x) => x.startsWith(`bridge ${name} re-created (2 veth(s)`))),
    );
    // the next connect works too
    const c4 = await container(net, 'tc4');
    await c4.ep.leave('tc4');
    await c4.ep.delete();
  });

  test('a connect right after ip link del of the bridge succeeds (repair before use)', async () => {
    await ctl.configureNetworkDriver('bridge', { selfHeal: false });
    try {
      const name = `br-${net.id.slice(0, 12)}`;
      execFileSync('ip', ['link', 'del', name]);
      const c5 = await container(net, 'tc5');
      assert.equal(nl.linkGet(`dv${c5.ep.id.slice(0, 10)}`)?.master, nl.linkGet(name)?.index);
      assert.match(await request(c5.key, 'tcp', peer.ip, 81), /^from 10\.77\.0\./);
      await c5.ep.leave('tc5');
      await c5.ep.delete();
    } finally {
      await ctl.configureNetworkDriver('bridge', { selfHeal: true });
    }
    await prober.okAfter(Date.now());
  });

  test('a connect or create right after a flush succeeds (repair before use), even with no watch', async () => {
    await ctl.configureNetworkDriver('bridge', { selfHeal: false });
    try {
      nft('flush', 'ruleset');
      const c6 = await container(net, 'tc6', { portBindings: [{ proto: 'tcp', port: 80 }] });
      assert.ok(intact(), 'the tables were rebuilt before the ports were added');
      nft('flush', 'ruleset');
      const n3 = await ctl.newNetwork('bridge', 'after-flush2', {
        ipam: { config: [{ subnet: '10.79.0.0/24' }] },
      });
      assert.ok(intact());
      await c6.ep.leave('tc6');
      await c6.ep.delete();
      await n3.delete();
    } finally {
      await ctl.configureNetworkDriver('bridge', { selfHeal: true });
    }
    await prober.okAfter(Date.now());
  });

  test('the watch options are checked', async () => {
    for (const bad of [{ healCheckInterval: 50 }, { healCheckInterval: -1 }, { selfHeal: 'maybe' }]) {
      await assert.rejects(ctl.configureNetworkDriver('bridge', bad), InvalidOptionError);
    }
  });

  test('the periodic check repairs what no notification showed', async () => {
    await ctl.configureNetworkDriver('bridge', { healCheckInterval: 200 });
    try {
      // Deleted from this process: the notification carries our own pid and is ignored, as
      // dnet's own transactions are, so only the periodic check can see it.
      const before = reports.length;
      const t = Date.now();
      applyNft({
        nftables: [{ delete: { table: { family: 'bridge', name: 'dnet' } } }],
      } as unknown as NftBatch);
      assert.ok(!intact());
      await waitFor('the bridge table', () => intact());
      console.log(`# the periodic check (every 200 ms) restored bridge dnet in ${Date.now() - t} ms`);
      assert.ok(reports.slice(before).some((r) => r.reason === 'periodic check' && r.repaired.length > 0));
    } finally {
      await ctl.configureNetworkDriver('bridge', { healCheckInterval: 5000 });
    }
  });

  test('ip link del of a joined veth is reported; the endpoint can leave and join again', async () => {
    const veth = `dv${peer.ep.id.slice(0, 10)}`;
    const before = reports.length;
    execFileSync('ip', ['link', 'del', veth]);
    const r = await waitFor('a report', () =>
      reports.slice(before).find((x) => x.problems.some((p) => p.includes(veth))),
    );
    assert.match(r.problems.join('\n'), /disconnect the container from the network and connect it again/);
    await peer.ep.leave('tpeer');
    const { sandboxKey } = await peer.ep.join('tpeer', { hostname: 'tpeer' });
    servers.push(await startServer(sandboxKey, 'tcp', '0.0.0.0', 81));
    assert.match(await request(web.key, 'tcp', peer.ip, 81), /^from 10\.77\.0\./);
  });
});

describe('only our own links', () => {
  test("a restart keeps other software's links named like dnet's, removes dnet's own orphans", async () => {
    const runDir = join(world.runDir, 'own-r');
    const dataDir = join(world.runDir, 'own-d');
    const openCtl = async () => {
      const store = await LmdbStore.open({ dir: dataDir });
      const c = await NetworkController.create({ runDir, store });
      const close = async () => {
        await c.close();
        await store.close();
      };
      return { c, close };
    };
    const a = await openCtl();
    const n = await a.c.newNetwork('bridge', 'own', { ipam: { config: [{ subnet: '10.88.0.0/24' }] } });
    const idle = await n.createEndpoint('idle'); // recorded, never joined
    await a.close();

    // Docker's bridge and a veth named like dnet's host-side veths: not dnet's (no mark, no record).
    nl.linkAdd({ kind: 'bridge', name: 'br-0123456789ab' });
    nl.linkAdd({ kind: 'veth', name: 'dv0123456789', peer: { name: 'dv0123456789c' } });
    // dnet's own orphans (a crash after making them, before recording them): marked, no record.
    nl.linkAdd({ kind: 'bridge', name: 'br-feedfeedfeed' });
    nl.linkSet('br-feedfeedfeed', { alias: `${LINK_MARK}${'feed'.repeat(16)}` });
    nl.linkAdd({ kind: 'veth', name: 'dvfeedfeed00', peer: { name: 'dvfeedfeed00c' } });
    nl.linkSet('dvfeedfeed00', { alias: `${LINK_MARK}${'fe'.repeat(32)}` });
    // The veth of an endpoint that is not joined (a join dnet's plugin server restores after the
    // core, or one a dnet without marks left): its record names it, so it is the endpoint's.
    const legacy = `dv${idle.id.slice(0, 10)}`;
    nl.linkAdd({ kind: 'veth', name: legacy, peer: { name: `${legacy}c` } });

    const b = await openCtl();
    try {
      assert.ok(nl.linkGet('br-0123456789ab'), "Docker's bridge survives");
      assert.ok(nl.linkGet('dv0123456789'), 'the foreign veth survives');
      assert.equal(nl.linkGet('br-feedfeedfeed'), undefined, "dnet's marked orphan bridge is removed");
      assert.equal(nl.linkGet('dvfeedfeed00'), undefined, "dnet's marked orphan veth is removed");
      assert.ok(nl.linkGet(legacy), 'a veth a record names stays with its endpoint');
      assert.ok(nl.linkGet(`br-${n.id.slice(0, 12)}`), "the network's bridge stays");
      assert.equal(nl.linkGet(`br-${n.id.slice(0, 12)}`)?.alias, `${LINK_MARK}${n.id}`);
      const n2 = b.c.networkByName('own');
      await n2?.endpointByName('idle')?.delete();
      assert.equal(nl.linkGet(legacy), undefined, 'and goes with it');
      await n2?.delete();
    } finally {
      await b.close();
      nl.linkDelIfExists('br-0123456789ab');
      nl.linkDelIfExists('dv0123456789');
    }
  });
});

describe('through the daemon (Docker API)', () => {
  test('after nft flush ruleset and ip link del of the bridge, connect and create answer 2xx, and the daemon logs the repairs', async () => {
    // One dnet per host: the controller of the tests above (same process, same table names)
    // must not repair the tables from its own state meanwhile.
    await ctl.configureNetworkDriver('bridge', { selfHeal: false });
    const sock = join(world.runDir, 'tamper-api.sock');
    const lines: string[] = [];
    const d = await startDaemon({
      runDir: join(world.runDir, 'tamper-api'),
      dataDir: join(world.runDir, 'tamper-api-data'),
      hosts: [`unix://${sock}`],
      defaultBridge: false,
      log: (l) => lines.push(l),
    });
    try {
      // The watch off: the operations themselves must find and repair the damage.
      await d.controller.configureNetworkDriver('bridge', { selfHeal: false });
      const api = (method: string, path: string, body?: unknown) => call(sock, method, path, body);
      const created = await api('POST', '/networks/create', {
        Name: 'tn1',
        IPAM: { Config: [{ Subnet: '10.93.0.0/24' }] },
      });
      assert.equal(created.status, 201, created.text);
      const id = (created.json as { Id: string }).Id;
      nft('flush', 'ruleset');
      const c1 = await api('POST', `/networks/${id}/connect`, { Container: 'tapi1' });
      assert.equal(c1.status, 200, c1.text);
      nft('flush', 'ruleset');
      const n2 = await api('POST', '/networks/create', {
        Name: 'tn2',
        IPAM: { Config: [{ Subnet: '10.94.0.0/24' }] },
      });
      assert.equal(n2.status, 201, n2.text);
      execFileSync('ip', ['link', 'del', `br-${id.slice(0, 12)}`]);
      const c2 = await api('POST', `/networks/${id}/connect`, { Container: 'tapi2' });
      assert.equal(c2.status, 200, c2.text);
      assert.ok(intact());
      const heals = lines
        .map((l) => JSON.parse(l) as { event?: string; reason?: string })
        .filter((l) => l.event === 'heal');
      assert.ok(
        heals.some((h) => /were not intact/.test(h.reason ?? '')),
        'the firewall repair is logged',
      );
      assert.ok(
        heals.some((h) => /was missing at a join/.test(h.reason ?? '')),
        'the bridge repair is logged',
      );
      for (const c of ['tapi1', 'tapi2']) {
        const r = await api('POST', `/networks/${id}/disconnect`, { Container: c });
        assert.equal(r.status, 200, r.text);
      }
      for (const n of [id, (n2.json as { Id: string }).Id])
        assert.equal((await api('DELETE', `/networks/${n}`)).status, 204);
    } finally {
      await d.close();
    }
  });
});
