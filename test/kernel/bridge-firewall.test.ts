// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
// (world first: the rest of this file only runs inside the throwaway network + mount namespace)
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Firewall, type FwEndpoint, type FwNetwork, type FwPort } from '../../src/drivers/bridge/firewall.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../../src/os/netns/index.ts';
import { listNft } from '../../src/os/nftables/index.ts';
import { sysctlGet, sysctlSet } from '../../src/os/sysctl.ts';

// Topology (all inside the world; its root namespace plays the host):
//
//   remote ns  eth0 192.0.2.2/24 2001:db8:1::2/64 ── rh0 192.0.2.1/24 2001:db8:1::1/64 (host)
//   net A  fwa 10.88.1.1/24 fd00:88:1::1/64  ICC on, masquerade   a1 .2 / ::2   a2 .3 / ::3
//   net B  fwb 10.88.2.1/24                  ICC off              b1 .2         b2 .3
//   net C  fwc 10.88.3.1/24                  internal             c1 .2
//   net D  fwd 10.88.4.1/24                  masquerade off       d1 .2   (remote routes 10.88.4.0/24 to the host)
//
// Every namespace runs a small node agent (servers and clients, driven over stdin): servers answer
// with "<client address as seen> <local port>", so a test sees both NAT directions.

void world; // imported for its effect: this file runs inside the world

const AGENT = String.raw`
const net = require('node:net');
const dgram = require('node:dgram');
const rl = require('node:readline').createInterface({ input: process.stdin });
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const norm = (a) => String(a).replace(/^::ffff:/, '');
rl.on('line', (line) => {
  const m = JSON.parse(line);
  const done = (ok, data) => out({ id: m.id, ok, data: data === undefined ? '' : String(data) });
  if (m.op === 'serve' && m.proto === 'tcp') {
    const s = net.createServer((c) => { c.on('error', () => {}); c.end(norm(c.remoteAddress) + ' ' + c.localPort); });
    s.on('error', (e) => done(false, e.code));
    s.listen({ port: m.port, host: '::', ipv6Only: false }, () => done(true));
  } else if (m.op === 'serve' && m.proto === 'udp') {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    s.on('message', (_msg, r) => s.send(norm(r.address) + ' ' + s.address().port, r.port, r.address));
    s.on('error', (e) => done(false, e.code));
    s.bind(m.port, '::', () => done(true));
  } else if (m.op === 'tcp') {
    const c = net.connect({ host: m.host, port: m.port });
    let buf = '';
    let fin = false;
    const end = (ok, d) => { if (!fin) { fin = true; clearTimeout(t); c.destroy(); done(ok, d); } };
    const t = setTimeout(() => end(false, 'timeout'), m.timeout);
    c.on('data', (d) => { buf += d; });
    c.on('end', () => end(true, buf));
    c.on('error', (e) => end(false, e.code || e.message));
  } else if (m.op === 'udp') {
    const s = dgram.createSocket(net.isIPv6(m.host) ? 'udp6' : 'udp4');
    let fin = false;
    const end = (ok, d) => { if (!fin) { fin = true; clearTimeout(t); s.close(); done(ok, d); } };
    const t = setTimeout(() => end(false, 'timeout'), m.timeout);
    s.on('message', (msg) => end(true, msg.toString()));
    s.on('error', (e) => end(false, e.code || e.message));
    s.send('x', m.port, m.host);
  }
});
`;

/** How long a client waits before calling a connection blocked (everything here is local: ms). */
const BLOCKED_MS = 400;

class Agent {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, (r: { ok: boolean; data: string }) => void>();
  private seq = 0;
  private buf = '';

  constructor(readonly ns: string | undefined) {
    const argv = ['-e', AGENT];
    this.proc = ns
      ? spawn('ip', ['netns', 'exec', ns, process.execPath, ...argv], { stdio: 'pipe' })
      : spawn(process.execPath, argv, { stdio: 'pipe' });
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(`[agent ${ns ?? 'host'}] ${d}`));
    this.proc.stdout.on('data', (d: Buffer) => {
      this.buf += d.toString();
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const r = JSON.parse(this.buf.slice(0, i)) as { id: number; ok: boolean; data: string };
        this.buf = this.buf.slice(i + 1);
        this.pending.get(r.id)?.(r);
        this.pending.delete(r.id);
      }
    });
  }

  private call(msg: Record<string, unknown>): Promise<{ ok: boolean; data: string }> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.proc.stdin.write(`${JSON.stringify({ ...msg, id })}\n`);
    });
  }

  async serve(proto: 'tcp' | 'udp', ...ports: number[]): Promise<void> {
    for (const port of ports) {
      const r = await this.call({ op: 'serve', proto, port });
      assert.ok(r.ok, `${this.ns ?? 'host'}: serve ${proto} ${port}: ${r.data}`);
    }
  }

  /** The server's answer ("<source seen> <port>"), or "!<error>" ("!timeout": dropped). */
  async tcp(host: string, port: number, timeout = BLOCKED_MS): Promise<string> {
    const r = await this.call({ op: 'tcp', host, port, timeout });
    return r.ok ? r.data : `!${r.data}`;
  }

  async udp(host: string, port: number, timeout = BLOCKED_MS): Promise<string> {
    const r = await this.call({ op: 'udp', host, port, timeout });
    return r.ok ? r.data : `!${r.data}`;
  }

  stop(): void {
    this.proc.kill();
  }
}

const nft = (...args: string[]) => execFileSync('nft', args, { encoding: 'utf8' });
/** The ICC-off ports in the bridge table (read with the nft CLI: an independent check). */
const iccOff = (): unknown => {
  const doc = JSON.parse(nft('-j', 'list', 'set', 'bridge', 'dnet', 'icc_off')) as {
    nftables: { set?: { elem?: unknown[] } }[];
  };
  return doc.nftables.find((o) => o.set)?.set?.elem ?? [];
};

const h = NetlinkHandle.open();
const namespaces: string[] = [];
const agents = new Map<string, Agent>();
const agent = (name: string): Agent => {
  const a = agents.get(name);
  assert.ok(a, name);
  return a;
};

function bridge(name: string, addrs: string[]): void {
  h.linkAdd({ kind: 'bridge', name, up: true });
  for (const a of addrs) h.addrAdd(name, a, { noDad: true });
}

/** A container namespace on a bridge: veth dv<name> on the host side, eth0 inside. */
function container(name: string, br: string, addrs: string[], gateways: string[]): FwEndpoint {
  createNetns(name);
  namespaces.push(name);
  const fd = openNetns(name);
  try {
    const veth = `dv${name}`;
    h.linkAdd({ kind: 'veth', name: veth, peer: { name: 'eth0', netns: { fd } } });
    h.linkSet(veth, { master: br, up: true });
    const c = NetlinkHandle.open({ netns: { fd } });
    try {
      c.linkSet('lo', { up: true });
      c.linkSet('eth0', { up: true });
      for (const a of addrs) c.addrAdd('eth0', a, { noDad: true });
      for (const g of gateways) c.routeAdd({ dst: 'default', gateway: g, oif: 'eth0' });
    } finally {
      c.close();
    }
    return { bridge: br, ifname: veth };
  } finally {
    closeSync(fd);
  }
}

const netA: FwNetwork = {
  id: 'a'.repeat(64),
  bridge: 'fwa',
  subnets4: ['10.88.1.0/24'],
  subnets6: ['fd00:88:1::/64'],
  icc: true,
  masquerade: true,
  internal: false,
};
const netB: FwNetwork = {
  ...netA,
  id: 'b'.repeat(64),
  bridge: 'fwb',
  subnets4: ['10.88.2.0/24'],
  subnets6: [],
  icc: false,
};
const netC: FwNetwork = {
  ...netA,
  id: 'c'.repeat(64),
  bridge: 'fwc',
  subnets4: ['10.88.3.0/24'],
  subnets6: [],
  internal: true,
};
const netD: FwNetwork = {
  ...netA,
  id: 'd'.repeat(64),
  bridge: 'fwd',
  subnets4: ['10.88.4.0/24'],
  subnets6: [],
  masquerade: false,
};
const networks = [netA, netB, netC, netD];
const endpoints: FwEndpoint[] = [];

const port = (p: Partial<FwPort> & Pick<FwPort, 'hostPort' | 'containerIP' | 'containerPort'>): FwPort => ({
  family: 4,
  proto: 'tcp',
  hostPortEnd: p.hostPort,
  bridge: 'fwa',
  ...p,
});
// Published ports of the tests below.
const P = {
  tcp: port({ hostPort: 8080, containerIP: '10.88.1.2', containerPort: 5000 }),
  udp: port({ proto: 'udp', hostPort: 8081, containerIP: '10.88.1.2', containerPort: 5001 }),
  range: port({ hostPort: 9000, hostPortEnd: 9002, containerIP: '10.88.1.3', containerPort: 9000 }),
  shifted: port({ hostPort: 19000, hostPortEnd: 19002, containerIP: '10.88.1.3', containerPort: 9000 }),
  specific: port({ hostIP: '192.0.2.1', hostPort: 8090, containerIP: '10.88.1.3', containerPort: 5000 }),
  v6: port({ family: 6, hostPort: 8080, containerIP: 'fd00:88:1::2', containerPort: 5000 }),
  netB: port({ hostPort: 8082, containerIP: '10.88.2.3', containerPort: 5000, bridge: 'fwb' }),
};
const allPorts = Object.values(P);

const fw = new Firewall();
/** br_netfilter is there (built in, or its module loaded): then it is tested both off and on. */
const BR_NETFILTER = existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables');

/** A table made with the nft CLI, shaped like iptables-nft's: it must stay byte-identical. */
const OTHER = `table ip filter {
  chain INPUT { type filter hook input priority filter; policy accept; ip saddr 198.51.100.7 drop; }
  chain FORWARD { type filter hook forward priority filter; policy accept; ip daddr 198.51.100.8 drop; }
}
table ip nat {
  chain POSTROUTING { type nat hook postrouting priority srcnat; policy accept; ip saddr 198.51.100.0/24 oifname "nope0" masquerade; }
}`;
let otherBefore = '';
const otherNow = () => nft('list', 'table', 'ip', 'filter') + nft('list', 'table', 'ip', 'nat');

before(async () => {
  sysctlSet('net.ipv4.ip_forward', 1);
  sysctlSet('net.ipv6.conf.all.forwarding', 1);
  // Do not rely on br_netfilter (built into this kernel, on by default in every namespace).
  if (BR_NETFILTER) {
    sysctlSet('net.bridge.bridge-nf-call-iptables', 0);
    sysctlSet('net.bridge.bridge-nf-call-ip6tables', 0);
  }
  execFileSync('nft', ['-f', '-'], { input: OTHER });
  otherBefore = otherNow();

  createNetns('remote');
  namespaces.push('remote');
  const rfd = openNetns('remote');
  try {
    h.linkAdd({ kind: 'veth', name: 'rh0', peer: { name: 'eth0', netns: { fd: rfd } } });
    h.linkSet('rh0', { up: true });
    h.addrAdd('rh0', '192.0.2.1/24');
    h.addrAdd('rh0', '2001:db8:1::1/64', { noDad: true });
    const r = NetlinkHandle.open({ netns: { fd: rfd } });
    try {
      r.linkSet('lo', { up: true });
      r.linkSet('eth0', { up: true });
      r.addrAdd('eth0', '192.0.2.2/24');
      r.addrAdd('eth0', '2001:db8:1::2/64', { noDad: true });
      r.routeAdd({ dst: '10.88.4.0/24', gateway: '192.0.2.1' }); // net D is routed, not NATed
    } finally {
      r.close();
    }
  } finally {
    closeSync(rfd);
  }
  bridge('fwa', ['10.88.1.1/24', 'fd00:88:1::1/64']);
  bridge('fwb', ['10.88.2.1/24']);
  bridge('fwc', ['10.88.3.1/24']);
  bridge('fwd', ['10.88.4.1/24']);
  endpoints.push(
    container('a1', 'fwa', ['10.88.1.2/24', 'fd00:88:1::2/64'], ['10.88.1.1', 'fd00:88:1::1']),
    container('a2', 'fwa', ['10.88.1.3/24', 'fd00:88:1::3/64'], ['10.88.1.1', 'fd00:88:1::1']),
    container('b1', 'fwb', ['10.88.2.2/24'], ['10.88.2.1']),
    container('b2', 'fwb', ['10.88.2.3/24'], ['10.88.2.1']),
    container('c1', 'fwc', ['10.88.3.2/24'], ['10.88.3.1']),
    container('d1', 'fwd', ['10.88.4.2/24'], ['10.88.4.1']),
  );
  for (const ns of [undefined, ...namespaces]) agents.set(ns ?? 'host', new Agent(ns));
  await Promise.all([
    agent('host').serve('tcp', 5000, 5555),
    agent('remote').serve('tcp', 5000),
    agent('a1').serve('tcp', 5000),
    agent('a1').serve('udp', 5001),
    agent('a2').serve('tcp', 5000, 9000, 9001, 9002),
    agent('b1').serve('tcp', 5000),
    agent('b2').serve('tcp', 5000),
    agent('c1').serve('tcp', 5000),
    agent('d1').serve('tcp', 5000),
  ]);
});

after(() => {
  for (const a of agents.values()) a.stop();
  fw.destroy();
  for (const ns of namespaces) deleteNetns(ns);
  h.close();
  // The other tables are exactly as they were, whatever we applied or deleted meanwhile.
  assert.equal(otherNow(), otherBefore);
});

describe('bridge firewall (real traffic, br_netfilter off)', () => {
  test('without the firewall everything flows (the baseline the rules below restrict)', async () => {
    assert.equal(await agent('a1').tcp('10.88.2.2', 5000), '10.88.1.2 5000');
    assert.equal(await agent('b1').tcp('10.88.2.3', 5000), '10.88.2.2 5000');
  });

  test('init builds both tables in one transaction; again is a no-op; route_localnet is set', () => {
    fw.init(networks, [], endpoints);
    const once = nft('list', 'ruleset');
    fw.init(networks, [], endpoints);
    assert.equal(nft('list', 'ruleset'), once);
    assert.deepEqual(
      listNft({ tables: null })
        .tables.map((t) => `${t.family} ${t.name}`)
        .sort(),
      ['bridge dnet', 'inet dnet', 'ip filter', 'ip nat'],
    );
    assert.equal(sysctlGet('net.ipv4.conf.fwa.route_localnet'), '1');
    assert.equal(sysctlGet('net.ipv4.conf.fwc.route_localnet'), '0', 'internal: no published ports');
    // ICC off: the endpoints of net B are in the bridge table's set, those of net A are not.
    assert.deepEqual(iccOff(), ['dvb1', 'dvb2']);
  });

  test('ICC on: containers of one network reach each other; ICC off: only the gateway', async () => {
    const [ab, ba, bb, b2b1, bgw] = await Promise.all([
      agent('a1').tcp('10.88.1.3', 5000),
      agent('a2').tcp('fd00:88:1::2', 5000),
      agent('b1').tcp('10.88.2.3', 5000),
      agent('b2').tcp('10.88.2.2', 5000),
      agent('b1').tcp('10.88.2.1', 5000),
    ]);
    assert.equal(ab, '10.88.1.2 5000');
    assert.equal(ba, 'fd00:88:1::3 5000');
    assert.equal(bb, '!timeout');
    assert.equal(b2b1, '!timeout');
    assert.equal(bgw, '10.88.2.2 5000', 'the host (gateway) still answers');
  });

  test('isolation: no traffic between two networks, either direction', async () => {
    const r = await Promise.all([
      agent('a1').tcp('10.88.2.2', 5000),
      agent('b1').tcp('10.88.1.2', 5000),
      agent('a1').tcp('10.88.4.2', 5000),
      agent('d1').tcp('10.88.1.3', 5000),
    ]);
    assert.deepEqual(r, ['!timeout', '!timeout', '!timeout', '!timeout']);
  });

  test('internal: only the gateway; not the remote host, not other networks, not other host addresses', async () => {
    const r = await Promise.all([
      agent('c1').tcp('10.88.3.1', 5000),
      agent('c1').tcp('192.0.2.2', 5000),
      agent('c1').tcp('10.88.1.2', 5000),
      agent('c1').tcp('192.0.2.1', 5000),
      agent('a1').tcp('10.88.3.2', 5000),
    ]);
    assert.deepEqual(r, ['10.88.3.2 5000', '!timeout', '!timeout', '!timeout', '!timeout']);
  });

  test("route_localnet does not open the host's loopback services to containers (the guard chain)", async () => {
    // Make a1 send 127.0.0.0/8 (but its own 127.0.0.1) to its gateway (CVE-2020-8558's setup):
    // with route_localnet=1 on fwa, the host would deliver it to whatever listens on loopback.
    const ip = (...args: string[]) => execFileSync('ip', ['-n', 'a1', ...args]);
    ip('route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local');
    sysctlSet('net.ipv4.conf.eth0.route_localnet', 1, { netns: { path: '/run/netns/a1' } });
    ip('route', 'add', '127.0.0.0/8', 'via', '10.88.1.1', 'dev', 'eth0');
    try {
      assert.equal(await agent('a1').tcp('127.0.0.2', 5555), '!timeout');
      nft('flush', 'chain', 'inet', 'dnet', 'guard');
      assert.equal(
        await agent('a1').tcp('127.0.0.2', 5555),
        '10.88.1.2 5555',
        'without the guard it gets in',
      );
    } finally {
      fw.init(networks, [], endpoints);
      ip('route', 'del', '127.0.0.0/8', 'via', '10.88.1.1', 'dev', 'eth0');
      ip('route', 'add', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local');
    }
  });

  test('masquerade: the remote host sees the host address; not with masquerade off; no way in', async () => {
    const r = await Promise.all([
      agent('a1').tcp('192.0.2.2', 5000),
      agent('a1').tcp('2001:db8:1::2', 5000),
      agent('b2').tcp('192.0.2.2', 5000),
      agent('d1').tcp('192.0.2.2', 5000),
      agent('remote').tcp('10.88.4.2', 5000),
      agent('a1').tcp('192.0.2.1', 5000),
    ]);
    assert.deepEqual(r, [
      '192.0.2.1 5000',
      '2001:db8:1::1 5000',
      '192.0.2.1 5000',
      '10.88.4.2 5000', // masquerade off: the remote host routes back to the subnet
      '!timeout', // ... but from outside into a bridge only DNATed (or established) traffic
      '10.88.1.2 5000', // the host itself, by its other address: no NAT (input, not forward)
    ]);
  });

  test('published ports: TCP, UDP, a 1:1 range, a shifted range, a given host address, IPv6', async () => {
    await fw.addPorts(allPorts);
    const remote = agent('remote');
    const host = agent('host');
    const r = await Promise.all([
      remote.tcp('192.0.2.1', 8080),
      remote.udp('192.0.2.1', 8081),
      remote.tcp('192.0.2.1', 9000),
      remote.tcp('192.0.2.1', 9002),
      remote.tcp('192.0.2.1', 19001),
      remote.tcp('192.0.2.1', 8090),
      remote.tcp('2001:db8:1::1', 8080),
      remote.tcp('192.0.2.1', 8082),
    ]);
    assert.deepEqual(r, [
      '192.0.2.2 5000',
      '192.0.2.2 5001',
      '192.0.2.2 9000',
      '192.0.2.2 9002',
      '192.0.2.2 9001', // 19000-19002 -> 9000-9002: port N -> 9000 + (N - 19000)
      '192.0.2.2 5000',
      '2001:db8:1::2 5000',
      '192.0.2.2 5000', // net B (ICC off): published ports are reachable all the same
    ]);
    // From the host itself: 127.0.0.1 (route_localnet + masquerade) and its own address.
    const l = await Promise.all([
      host.tcp('127.0.0.1', 8080),
      host.udp('127.0.0.1', 8081),
      host.tcp('127.0.0.1', 9001),
      host.tcp('127.0.0.1', 19002),
      host.tcp('192.0.2.1', 8080),
      host.tcp('192.0.2.1', 8090),
      host.tcp('127.0.0.1', 8090), // published on 192.0.2.1 only: nothing listens on the host
      host.tcp('2001:db8:1::1', 8080),
      // ::1 is never DNATed (the kernel does not route ::1 out of lo): a userland proxy's job.
      host.tcp('::1', 8080),
    ]);
    assert.deepEqual(l, [
      '10.88.1.1 5000',
      '10.88.1.1 5001',
      '10.88.1.1 9001',
      '10.88.1.1 9002',
      '192.0.2.1 5000',
      '192.0.2.1 5000',
      '!ECONNREFUSED',
      '2001:db8:1::1 5000',
      '!ECONNREFUSED',
    ]);
  });

  test('hairpin: containers reach published ports through the host address (and themselves)', async () => {
    const r = await Promise.all([
      agent('a2').tcp('192.0.2.1', 8080),
      agent('a2').tcp('10.88.1.1', 8080),
      agent('a1').tcp('192.0.2.1', 9001),
      agent('a1').tcp('192.0.2.1', 8080), // itself
      agent('a1').udp('192.0.2.1', 8081), // itself, UDP
      agent('a2').tcp('2001:db8:1::1', 8080),
      agent('b1').tcp('192.0.2.1', 8082), // ICC off, but published: through the host
      agent('a1').tcp('192.0.2.1', 8082), // another network's published port
      agent('c1').tcp('10.88.3.1', 8080), // internal: not even published ports elsewhere
    ]);
    assert.deepEqual(r, [
      '10.88.1.1 5000',
      '10.88.1.1 5000',
      '10.88.1.1 9001',
      '10.88.1.1 5000',
      '10.88.1.1 5001',
      'fd00:88:1::1 5000',
      '10.88.2.1 5000',
      '10.88.1.2 5000',
      '!timeout',
    ]);
  });

  test('removing ports removes their elements, and the traffic', async () => {
    await fw.removePorts([P.tcp, P.range, P.shifted, P.v6]);
    await fw.removePorts([P.tcp]); // idempotent
    const rs = fw.list();
    const elems = Object.fromEntries(rs.maps.map((m) => [m.name, m.elem ?? []]));
    assert.deepEqual(elems.pub4any_addr, [
      [{ concat: ['udp', 8081] }, '10.88.1.2'],
      [{ concat: ['tcp', 8082] }, '10.88.2.3'],
    ]);
    assert.deepEqual(elems.pub4any_port, [
      [{ concat: ['udp', 8081] }, 5001],
      [{ concat: ['tcp', 8082] }, 5000],
    ]);
    assert.deepEqual(elems.pub4any_range, []);
    assert.deepEqual(elems.pub6any_addr, []);
    assert.deepEqual(elems.pub4_addr, [[{ concat: ['192.0.2.1', 'tcp', 8090] }, '10.88.1.3']]);
    const r = await Promise.all([
      agent('remote').tcp('192.0.2.1', 8080),
      agent('remote').tcp('192.0.2.1', 9001),
      agent('remote').udp('192.0.2.1', 8081),
    ]);
    assert.deepEqual(r, ['!ECONNREFUSED', '!ECONNREFUSED', '192.0.2.2 5001']);
    await fw.removePorts([P.udp, P.specific, P.netB]);
    for (const m of fw.list().maps) assert.deepEqual(m.elem ?? [], [], m.name);
  });

  test('removing an endpoint and a network removes their elements', () => {
    const b2 = endpoints.find((e) => e.ifname === 'dvb2');
    assert.ok(b2);
    fw.removeEndpoints(netB, [b2]);
    assert.deepEqual(iccOff(), ['dvb1']);
    fw.removeNetwork(netD);
    fw.removeNetwork(netD); // idempotent
    const sets = Object.fromEntries(fw.list().sets.map((s) => [s.name, JSON.stringify(s.elem ?? [])]));
    for (const [name, elems] of Object.entries(sets)) assert.ok(!elems.includes('fwd'), `${name}: ${elems}`);
    assert.ok(!(sets.masq4 ?? '').includes('10.88.4.0'));
    fw.addNetwork(netD);
    fw.addEndpoints(netB, [b2]);
  });

  test('a firewall bound to another namespace works there only', () => {
    const path = '/run/netns/remote';
    const other = new Firewall({ netns: { path }, table: 'dnet_remote' });
    other.init([], []);
    const tables = () =>
      execFileSync('ip', ['netns', 'exec', 'remote', 'nft', 'list', 'tables'], { encoding: 'utf8' }).trim();
    assert.equal(tables(), 'table inet dnet_remote\ntable bridge dnet_remote');
    assert.equal(other.list().tables[0]?.name, 'dnet_remote');
    assert.ok(!nft('list', 'tables').includes('dnet_remote'));
    other.destroy();
    assert.equal(tables(), '');
  });

  test('destroy removes everything of dnet; the other tables are untouched', () => {
    assert.equal(otherNow(), otherBefore);
    fw.destroy();
    fw.destroy(); // idempotent
    assert.deepEqual(
      listNft({ tables: null })
        .tables.map((t) => `${t.family} ${t.name}`)
        .sort(),
      ['ip filter', 'ip nat'],
    );
    assert.equal(otherNow(), otherBefore);
  });
});

describe(
  'bridge firewall with br_netfilter on (bridged traffic also crosses the inet hooks)',
  {
    skip: BR_NETFILTER ? false : 'no br_netfilter in this kernel',
  },
  () => {
    before(() => {
      sysctlSet('net.bridge.bridge-nf-call-iptables', 1);
      sysctlSet('net.bridge.bridge-nf-call-ip6tables', 1);
      fw.init(networks, allPorts, endpoints);
    });

    test('ICC, isolation, published ports and hairpin between two containers still hold', async () => {
      const r = await Promise.all([
        agent('a1').tcp('10.88.1.3', 5000),
        agent('b1').tcp('10.88.2.3', 5000),
        agent('b1').tcp('10.88.2.1', 5000),
        agent('a1').tcp('10.88.2.2', 5000),
        agent('remote').tcp('192.0.2.1', 8080),
        agent('a2').tcp('192.0.2.1', 8080),
        agent('host').tcp('127.0.0.1', 8080),
        agent('b1').tcp('192.0.2.1', 8082),
      ]);
      assert.deepEqual(r, [
        '10.88.1.2 5000',
        '!timeout',
        '10.88.2.2 5000',
        '!timeout',
        '192.0.2.2 5000',
        '10.88.1.1 5000',
        '10.88.1.1 5000',
        // Known limit: br_netfilter DNATs b1 -> b2 inside the bridge (bridged, not routed), and
        // the ICC-off port drop cannot tell it from direct traffic (no conntrack in the bridge
        // family here). Docker with icc=false and no userland proxy drops it too.
        '!timeout',
      ]);
    });

    test('a container reaching itself through its published port needs hairpin mode on its bridge port', async () => {
      assert.equal(await agent('a1').tcp('192.0.2.1', 8080), '!timeout');
      execFileSync('ip', ['link', 'set', 'dva1', 'type', 'bridge_slave', 'hairpin', 'on']);
      assert.equal(await agent('a1').tcp('192.0.2.1', 8080), '10.88.1.1 5000');
    });
  },
);

describe('bridge firewall: cost of published ports', () => {
  test('measure: addPorts of 10 ports with 0 and with 10,000 ports already mapped', async (t) => {
    fw.init(networks, [], endpoints);
    const batch = (base: number, n: number): FwPort[] =>
      Array.from({ length: n }, (_, i) =>
        port({ hostPort: base + i, containerIP: '10.88.1.2', containerPort: 5000 }),
      );
    const time = async (fn: () => Promise<void>): Promise<number> => {
      const t0 = process.hrtime.bigint();
      await fn();
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const runs = Array.from({ length: 15 }, (_, k) => k);
    const at0: number[] = [];
    for (const k of runs) at0.push(await time(() => fw.addPorts(batch(20000 + k * 10, 10))));
    const bulk = await time(() => fw.addPorts(batch(30000, 10000)));
    const at10k: number[] = [];
    for (const k of runs) at10k.push(await time(() => fw.addPorts(batch(45000 + k * 10, 10))));
    const rm10k = await time(() => fw.removePorts(batch(45000, 10)));
    const n = fw.list().maps.find((m) => m.name === 'pub4any_addr')?.elem?.length;
    assert.equal(n, 150 + 10000 + 150 - 10);
    assert.equal(await agent('remote').tcp('192.0.2.1', 35000), '192.0.2.2 5000', 'one of the 10,000');
    t.diagnostic(
      `addPorts(10): median ${median(at0).toFixed(2)} ms with ~0 mapped, ${median(at10k).toFixed(2)} ms with 10,000 ` +
        `mapped; removePorts(10) at 10,000: ${rm10k.toFixed(2)} ms; addPorts(10,000) in one call: ${bulk.toFixed(0)} ms`,
    );
    // Flat, not linear: generous bound against a noisy machine.
    assert.ok(median(at10k) < 10 * median(at0) + 5, `${median(at10k)} vs ${median(at0)}`);
  });
});
