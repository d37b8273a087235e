import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { world } from '../harness/world.ts';
import {
  attachments,
  cid,
  cni,
  conf,
  daemonProcess,
  hostLinks,
  inspectContainers,
  install,
  ipIn,
  killDnet,
  netnsAdd,
  netnsCleanup,
  netnsDel,
  publishedHostPorts,
  SOCK,
  startDnet,
  until,
} from '../helpers/cni-runtime.ts';
import { call } from '../helpers/http.ts';
import { request, startServer } from '../helpers/traffic.ts';

// DEL of the `dnet` plugin leaves the veth's removal to the background (a veth delete waits for
// RCU grace periods): the runtime keeps its namespace, so the interface in it is set down and
// renamed `dx<12 hex>` there, its host end too, and a reclaim entry deletes the pair. What DEL
// owes the runtime is done before it answers: address, ports and records released, and the
// interface's name free in the namespace. The launcher (the daemon's POST /cni) drives it.

/** Links of a namespace (or the host's, with undefined), by name, with whether they are up. */
function links(ns: string | undefined): { name: string; up: boolean }[] {
  const out = ns === undefined ? hostLinks() : ipIn(ns, '-o', 'link', 'show');
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const m = /^\d+: ([^:@]+)[^<]*<([^>]*)>/.exec(l);
      assert.ok(m, l);
      return { name: m[1]!, up: m[2]!.split(',').includes('UP') };
    });
}
const dying = (ns: string | undefined) => links(ns).filter((l) => l.name.startsWith('dx'));
const ports = (hostPort: number, ip?: string) => ({
  runtimeConfig: {
    portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }],
    ...(ip ? { ips: [ip] } : {}),
  },
});

before(async () => {
  await startDnet();
  const r = await call(SOCK, 'POST', '/networks/create', {
    Name: 'dn',
    IPAM: { Config: [{ Subnet: '10.79.0.0/24' }] },
  });
  assert.equal(r.status, 201, r.text);
  await install(join(world.runDir, 'cni-bin'), false);
});

after(async () => {
  if (daemonProcess()) await call(SOCK, 'DELETE', '/networks/dn').catch(() => undefined);
  await killDnet();
  netnsCleanup();
});

describe('CNI DEL: the veth goes in the background', () => {
  test('ADD again at once: same namespace, name, address and port; DEL twice; the dying pair goes', async () => {
    const ns = netnsAdd();
    const env = { CNI_CONTAINERID: cid(800), CNI_NETNS: ns.path, CNI_IFNAME: 'eth0' };
    const cfg = conf('1.1.0', ports(18090, '10.79.0.50/24'));
    const first = await cni('ADD', env, cfg);
    assert.equal(first.code, 0, first.raw);
    const host1 = (await attachments())[0]!.HostInterface;
    assert.equal((await cni('DEL', env, cfg)).code, 0);
    // Released before the answer: records, address, port; the name is free in the namespace.
    assert.deepEqual(await attachments(), []);
    assert.deepEqual(await inspectContainers(), {});
    assert.deepEqual(publishedHostPorts(), []);
    assert.ok(!links(ns.name).some((l) => l.name === 'eth0'), 'eth0 is free at once');
    assert.ok(!links(undefined).some((l) => l.name === host1), 'the host end has left its name');
    const again = await cni('ADD', env, cfg);
    assert.equal(again.code, 0, again.raw);
    assert.equal((again.out as { ips: { address: string }[] }).ips[0]?.address, '10.79.0.50/24');
    assert.match(ipIn(ns.name, '-o', 'addr', 'show', 'dev', 'eth0'), /10\.79\.0\.50\/24/);
    // Whatever of the old pair is still dying is down, on both sides: it never meets the new one.
    for (const l of [...dying(ns.name), ...dying(undefined)]) assert.equal(l.up, false, l.name);
    const srv = await startServer(ns.path, 'tcp', '0.0.0.0', 80);
    try {
      assert.match(await request(undefined, 'tcp', '127.0.0.1', 18090), /^from /, 'the new port answers');
    } finally {
      srv.stop();
    }
    await until(
      'the dying pair is gone',
      () => dying(ns.name).length + dying(undefined).length === 0,
      10_000,
    );
    for (const round of [1, 2]) assert.equal((await cni('DEL', env, cfg)).code, 0, `DEL #${round}`);
    assert.deepEqual(await attachments(), []);
    await until('the last pair is gone', () => dying(ns.name).length === 0, 10_000);
    assert.deepEqual(
      links(ns.name).map((l) => l.name),
      ['lo'],
      'the namespace is left as the runtime made it',
    );
    netnsDel(ns.name);
  });

  test('DEL after the namespace is deleted: all released, the pair goes with the namespace', async () => {
    const ns = netnsAdd();
    const env = { CNI_CONTAINERID: cid(801), CNI_NETNS: ns.path, CNI_IFNAME: 'eth0' };
    const cfg = conf('1.0.0', ports(18091));
    assert.equal((await cni('ADD', env, cfg)).code, 0);
    const host = (await attachments())[0]!.HostInterface;
    netnsDel(ns.name);
    for (const round of [1, 2]) assert.equal((await cni('DEL', env, cfg)).code, 0, `DEL #${round}`);
    assert.deepEqual(await attachments(), []);
    assert.deepEqual(await inspectContainers(), {});
    assert.deepEqual(publishedHostPorts(), []);
    assert.ok(!links(undefined).some((l) => l.name === host));
    await until('no dying link is left on the host', () => dying(undefined).length === 0, 10_000);
  });

  test('kill -9 with the removal pending: the restart removes the pair', async () => {
    const ns = netnsAdd();
    const env = { CNI_CONTAINERID: cid(802), CNI_NETNS: ns.path, CNI_IFNAME: 'eth0' };
    const cfg = conf('1.1.0', ports(18092));
    assert.equal((await cni('ADD', env, cfg)).code, 0);
    assert.equal((await cni('DEL', env, cfg)).code, 0);
    // Stopped at once (the background removal waits a second): the pair is still there.
    daemonProcess()?.kill('SIGSTOP');
    assert.equal(dying(ns.name).length, 1, 'the renamed interface is in the namespace');
    assert.equal(dying(undefined).length, 1, 'the renamed host end is on the host');
    await killDnet();
    await startDnet();
    assert.deepEqual(dying(ns.name), [], 'restart: the pair is gone');
    assert.deepEqual(dying(undefined), []);
    assert.deepEqual(await attachments(), []);
    const add = await cni('ADD', env, cfg);
    assert.equal(add.code, 0, add.raw);
    assert.equal((await cni('DEL', env, cfg)).code, 0);
    netnsDel(ns.name);
  });
});
