/**
 * Overlay containers and the world beyond their network (issue #17), on the three-host harness:
 * the gateway service gives a container on an overlay network a second interface on its host's
 * `dnet_gwbridge` (a bridge network with NAT) and its default route through it, so it reaches
 * the host's outside (here the underlay's 192.168.77.1, the test's own namespace) masqueraded to
 * its host's address; its published ports answer on the host where it runs. `--internal` overlay
 * networks get no gateway; containers of different overlay networks, and of bridge networks,
 * stay apart; the gateway endpoint goes with the container's last overlay endpoint, is not made
 * when a bridge network gives the way out, and comes back after a daemon restart.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  type ClusterHost,
  type Container,
  connect,
  connectSandbox,
  remove,
  sandbox,
  startCluster,
  type TestCluster,
  until,
} from '../harness/cluster.ts';
import { world } from '../harness/world.ts';
import { request, type Server, startServer } from '../helpers/traffic.ts';

const OUTSIDE = '192.168.77.1';
const GW = 'dnet_gwbridge';

/** `ip <args>` inside a container's namespace. */
function ipIn(c: { key: string }, ...args: string[]): string {
  return execFileSync('nsenter', [`--net=${c.key}`, 'ip', ...args], { encoding: 'utf8' });
}

/** The containers on the host's gateway network: sandbox ID → IPv4 address. */
async function gatewayed(h: ClusterHost): Promise<Record<string, string>> {
  const r = await h.api('GET', `/networks/${GW}`);
  if (r.status === 404) return {};
  const n = r.json as { Containers: Record<string, { IPv4Address: string; Name: string }> };
  return Object.fromEntries(
    Object.entries(n.Containers).map(([id, c]) => [id, c.IPv4Address.split('/')[0]!]),
  );
}

/** The MAC of the host's dnet_gwbridge. */
function bridgeMac(h: ClusterHost): string {
  return /link\/ether (\S+)/.exec(h.ipn('link', 'show', GW))?.[1] ?? '';
}

async function overlay(h: ClusterHost, name: string, subnet: string, internal = false): Promise<void> {
  const r = await h.api('POST', '/networks/create', {
    Name: name,
    Driver: 'overlay',
    Internal: internal,
    IPAM: { Config: [{ Subnet: subnet }] },
  });
  assert.equal(r.status, 201, r.text);
}

describe('overlay containers and the outside', { timeout: 180_000 }, () => {
  let cl: TestCluster;
  let A: ClusterHost;
  let B: ClusterHost;
  let ca: Container;
  /** dnet_gwbridge's MAC on A when the first container joined. */
  let gwMac = '';
  const servers: Server[] = [];

  before(async () => {
    cl = await startCluster(world.root, 3);
    [A, B] = cl.hosts as [ClusterHost, ClusterHost];
    servers.push(await startServer(undefined, 'tcp', OUTSIDE, 7100));
    await overlay(A, 'ov', '10.97.0.0/24');
  });
  after(async () => {
    for (const s of servers) s.stop();
    await cl?.stop();
  });

  test('a container on an overlay network reaches the outside through its host NAT', async () => {
    ca = await connect(A, 'ov', 'ca', { PortBindings: { '7001/tcp': [{ HostPort: '8081' }] } });
    const gw = await gatewayed(A);
    assert.ok(gw[ca.id], `${ca.id} is not on ${GW}: ${JSON.stringify(gw)}`);
    assert.match(ipIn(ca, '-o', 'link', 'show'), /eth1/);
    assert.match(ipIn(ca, '-4', 'route', 'show', 'default'), /^default via \S+ dev eth1/);
    assert.match(A.ipn('link', 'show', GW), /state UP/);
    gwMac = bridgeMac(A);
    // Masqueraded: the outside sees the host's address.
    assert.equal(await request(ca.key, 'tcp', OUTSIDE, 7100), `from ${A.addr}`);
    // The overlay still carries traffic between hosts.
    const cb = await connect(B, 'ov', 'cb');
    servers.push(await startServer(cb.key, 'tcp', '0.0.0.0', 7002));
    await until('A reaches B over the overlay', async () =>
      (await request(ca.key, 'tcp', cb.ip, 7002, 1000)) === `from ${ca.ip}` ? true : undefined,
    );
  });

  test('its published port answers on the host where it runs', async () => {
    servers.push(await startServer(ca.key, 'tcp', '0.0.0.0', 7001));
    assert.equal(await request(undefined, 'tcp', A.addr, 8081), `from ${OUTSIDE}`);
    assert.match(await request(undefined, 'tcp', B.addr, 8081, 800), /^FAIL/);
  });

  test('an internal overlay network gets no gateway', async () => {
    await overlay(A, 'ovi', '10.96.0.0/24', true);
    const ci = await connect(A, 'ovi', 'ci');
    assert.equal((await gatewayed(A))[ci.id], undefined);
    assert.doesNotMatch(ipIn(ci, '-o', 'link', 'show'), /eth1/);
    assert.equal(ipIn(ci, '-4', 'route', 'show', 'default').trim(), '');
    assert.match(await request(ci.key, 'tcp', OUTSIDE, 7100, 800), /^FAIL/);
    await remove(ci);
  });

  test('containers of other overlay networks and of bridge networks stay apart', async () => {
    await overlay(A, 'ov2', '10.95.0.0/24');
    const c2 = await connect(A, 'ov2', 'c2');
    servers.push(await startServer(c2.key, 'tcp', '0.0.0.0', 7003));
    const br = await A.api('POST', '/networks/create', { Name: 'br', Driver: 'bridge' });
    assert.equal(br.status, 201, br.text);
    const cbr = await connect(A, 'br', 'cbr');
    servers.push(await startServer(cbr.key, 'tcp', '0.0.0.0', 7004));
    const c2gw = (await gatewayed(A))[c2.id];
    assert.ok(c2gw);
    // The servers answer (from host A itself), so a failure below is the isolation.
    assert.match(await request(A.ns, 'tcp', c2gw, 7003), /^from /);
    assert.match(await request(A.ns, 'tcp', (await gatewayed(A))[ca.id]!, 7001), /^from /);
    // The other overlay's address, its address on the gateway bridge (ICC off there), a bridge network.
    for (const to of [c2.ip, c2gw]) assert.match(await request(ca.key, 'tcp', to, 7003, 800), /^FAIL/);
    assert.match(await request(ca.key, 'tcp', cbr.ip, 7004, 800), /^FAIL/);
    // ... and from the bridge network's container to either of ca's addresses (bridge isolation).
    const caGw = (await gatewayed(A))[ca.id]!;
    for (const to of [ca.ip, caGw]) assert.match(await request(cbr.key, 'tcp', to, 7001, 800), /^FAIL/);
    // Both still reach the outside.
    assert.equal(await request(c2.key, 'tcp', OUTSIDE, 7100), `from ${A.addr}`);
    await remove(c2);
    await remove(cbr);
  });

  test('a bridge network gives the way out: no gateway endpoint; the gateway goes with the overlay', async () => {
    const both = await sandbox(A, 'both');
    await connectSandbox(A, 'br', both);
    await connectSandbox(A, 'ov', both);
    assert.equal((await gatewayed(A))[both.id], undefined);
    assert.match(ipIn(both, '-4', 'route', 'show', 'default'), /dev eth0/);
    await remove({ ...both, host: A });
    // Leaving the overlay takes the gateway endpoint (and its interface) away.
    const sb = await sandbox(A, 'leaver');
    await connectSandbox(A, 'ov', sb);
    assert.ok((await gatewayed(A))[sb.id]);
    const d = await A.api('POST', '/networks/ov/disconnect', { Container: sb.id });
    assert.equal(d.status, 200, d.text);
    assert.equal((await gatewayed(A))[sb.id], undefined);
    assert.doesNotMatch(ipIn(sb, '-o', 'link', 'show'), /eth\d/);
    await remove({ ...sb, host: A });
  });

  test('a dnet_gwbridge of another driver: the connect fails, clearly, and is undone whole', async () => {
    const C = cl.hosts[2]!;
    const mv = await C.api('POST', '/networks/create', {
      Name: GW,
      Driver: 'macvlan',
      Options: { parent: 'eth0' },
      IPAM: { Config: [{ Subnet: '192.168.88.0/24' }] },
    });
    assert.equal(mv.status, 201, mv.text);
    const sb = await sandbox(C, 'nogw');
    const r = await C.api('POST', '/networks/ov/connect', { Container: sb.id });
    assert.equal(r.status, 400, r.text);
    assert.match(r.text, /dnet_gwbridge.*macvlan network: remove it/);
    const ov = (await C.api('GET', '/networks/ov')).json as { Containers: Record<string, unknown> };
    assert.equal(ov.Containers[sb.id], undefined, 'the overlay endpoint is not left behind');
    assert.doesNotMatch(ipIn(sb, '-o', 'link', 'show'), /eth\d/);
    await remove({ ...sb, host: C });
    assert.equal((await C.api('DELETE', `/networks/${GW}`)).status, 204);
  });

  test('after a daemon restart the gateway, the NAT and the published port are there', async () => {
    const before = (await gatewayed(A))[ca.id];
    await A.stop();
    await A.start();
    assert.equal((await gatewayed(A))[ca.id], before, 'the same gateway endpoint, kept');
    // The gateway's MAC never changed (containers came and went): ca's ARP entry is still right.
    assert.equal(bridgeMac(A), gwMac);
    // Eventually: in ~3 of 15 runs at load 13-18 the first request after the restart timed out
    // (the gateway endpoint, its MAC and the firewall unchanged; cause not found). The time is printed.
    const t0 = Date.now();
    await until(
      'the outside from ca after the restart',
      async () =>
        (await request(ca.key, 'tcp', OUTSIDE, 7100, 1000)) === `from ${A.addr}` ? true : undefined,
      10_000,
    );
    console.log(`# the outside reached ${Date.now() - t0} ms after the restart`);
    assert.equal(await request(undefined, 'tcp', A.addr, 8081), `from ${OUTSIDE}`);
  });

  test('nothing is left on the gateway network when the containers go', async () => {
    await remove(ca);
    for (const h of cl.hosts) {
      const r = await h.api('GET', '/sandboxes');
      for (const sb of r.json as { Id: string }[]) await remove({ id: sb.Id, host: h });
    }
    assert.deepEqual(await gatewayed(A), {});
    assert.doesNotMatch(A.ipn('-o', 'link', 'show'), /\bve[0-9a-f]{6}/);
  });
});
