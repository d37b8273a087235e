/**
 * Names across hosts: on the multi-host harness (a real etcd, three "hosts" each running its own
 * `dnet daemon`), containers on an overlay network resolve the names and aliases of containers on
 * other hosts with `dig` against their embedded resolver (127.0.0.11), PTR included; a name of a
 * container on another overlay network does not resolve (scoping); a disconnect on one host
 * removes the name on the others; a restart of a daemon keeps its names published.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { type ClusterHost, startCluster, type TestCluster } from '../harness/cluster.ts';
import { world } from '../harness/world.ts';

const run = promisify(execFile);

interface Container {
  id: string;
  key: string;
  ip: string;
  host: ClusterHost;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function connect(
  h: ClusterHost,
  net: string,
  name: string,
  aliases: string[] = [],
): Promise<Container> {
  const s = await h.api('POST', '/sandboxes', { Name: name });
  assert.equal(s.status, 201, s.text);
  const sb = s.json as { Id: string; SandboxKey: string };
  const r = await h.api('POST', `/networks/${net}/connect`, {
    Container: sb.Id,
    EndpointConfig: { Aliases: aliases },
  });
  assert.equal(r.status, 200, r.text);
  const ins = (await h.api('GET', `/networks/${net}`)).json as {
    Containers: Record<string, { IPv4Address: string }>;
  };
  const ip = ins.Containers[sb.Id]?.IPv4Address.split('/')[0];
  assert.ok(ip, `${name} has no address on ${net}`);
  return { id: sb.Id, key: sb.SandboxKey, ip, host: h };
}

/**
 * `dig +short` inside a container's namespace against its embedded resolver: the addresses (or
 * names) answered; none when the answer is empty or none came (names the resolver does not own
 * are forwarded to the host's servers, which the test world cannot reach).
 */
async function dig(c: Container, ...args: string[]): Promise<string[]> {
  const argv = [`--net=${c.key}`, 'dig', '@127.0.0.11', '+short', '+time=1', '+tries=1', ...args];
  const stdout = await run('nsenter', argv).then(
    (r) => r.stdout,
    (err: { code?: number; stdout?: string }) => {
      // 9: no answer in time (a forwarded query); anything else is the test's problem.
      if (err.code !== 9) throw err;
      return '';
    },
  );
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith(';'));
}

describe('embedded DNS across hosts (overlay)', () => {
  let cl: TestCluster;
  let A: ClusterHost;
  let B: ClusterHost;
  let C: ClusterHost;
  let netId = '';

  before(async () => {
    cl = await startCluster(world.root, 3);
    [A, B, C] = cl.hosts as [ClusterHost, ClusterHost, ClusterHost];
    for (const [name, subnet] of [
      ['ovd', '10.98.0.0/24'],
      ['ovx', '10.97.0.0/24'],
    ] as const) {
      const r = await A.api('POST', '/networks/create', {
        Name: name,
        Driver: 'overlay',
        IPAM: { Config: [{ Subnet: subnet }] },
      });
      assert.equal(r.status, 201, r.text);
      if (name === 'ovd') netId = (r.json as { Id: string }).Id;
      for (const h of [B, C])
        await until(`${name} on ${h.name}`, async () =>
          (await h.api('GET', `/networks/${name}`)).status === 200 ? true : undefined,
        );
    }
  });
  after(async () => {
    await cl?.stop();
  });

  test('names and aliases of containers on other hosts answer; PTR; other networks out of scope', async () => {
    const a = await connect(A, 'ovd', 'alpha', ['db']);
    const b = await connect(B, 'ovd', 'bravo', ['db', 'cache']);
    const c = await connect(C, 'ovd', 'charlie');
    const x = await connect(B, 'ovx', 'xray');
    // Other hosts' names come through etcd: they may take a moment after connect returned there.
    await until('alpha from C', async () => ((await dig(c, 'alpha'))[0] === a.ip ? true : undefined));
    assert.deepEqual(await dig(c, 'bravo'), [b.ip]);
    assert.deepEqual(await dig(c, 'cache.ovd'), [b.ip]);
    assert.deepEqual((await dig(c, 'db')).sort(), [a.ip, b.ip].sort(), 'an alias on two hosts: both');
    assert.deepEqual(await dig(a, 'charlie'), [c.ip]);
    assert.deepEqual(await dig(c, '-x', a.ip), ['alpha.ovd.']);
    // xray is on ovx only (on B): charlie is not on ovx.
    assert.ok(!(await dig(c, 'xray.ovx')).includes(x.ip), 'xray is out of charlie’s scope');
    assert.ok(!(await dig(x, 'alpha')).includes(a.ip), 'alpha is out of xray’s scope');
    // The daemon's own container stays answered from its own table.
    assert.deepEqual(await dig(b, 'bravo'), [b.ip]);
  });

  test('a disconnect on one host removes the name on the others', async () => {
    const d = await connect(A, 'ovd', 'delta');
    const c = await connect(C, 'ovd', 'charlie2');
    await until('delta from C', async () => ((await dig(c, 'delta'))[0] === d.ip ? true : undefined));
    const r = await A.api('POST', '/networks/ovd/disconnect', { Container: d.id });
    assert.equal(r.status, 200, r.text);
    await until('delta gone on C', async () => (!(await dig(c, 'delta')).includes(d.ip) ? true : undefined));
  });

  test('a daemon restart keeps its containers’ names published', async () => {
    const e = await connect(B, 'ovd', 'echo');
    const c = await connect(C, 'ovd', 'charlie3');
    await until('echo from C', async () => ((await dig(c, 'echo'))[0] === e.ip ? true : undefined));
    // While B restarts, C keeps answering echo: the entry outlives the process (lease TTL) and is
    // published again with its names.
    let polling = true;
    const misses: string[][] = [];
    const poll = (async () => {
      while (polling) {
        const got = await dig(c, '+time=3', 'echo');
        if (got[0] !== e.ip) misses.push(got);
        await sleep(100);
      }
    })();
    // Every publication of echo's entry during the restart carries its names.
    const epId = (await B.api('GET', '/networks/ovd')).json as {
      Containers: Record<string, { EndpointID: string }>;
    };
    const key = `dnet/endpoints/${netId}/${epId.Containers[e.id]?.EndpointID}`;
    const etcd = new Etcd3({ hosts: cl.etcd.hosts });
    const published: unknown[] = [];
    const watcher = await etcd.watch().key(key).create();
    watcher.on('put', (kv) => published.push(JSON.parse(kv.value.toString())));
    try {
      await B.stop();
      await B.start();
      await sleep(1000);
    } finally {
      polling = false;
      await poll;
      await watcher.cancel();
      etcd.close();
    }
    assert.ok(published.length > 0, 'B published echo again');
    for (const v of published)
      assert.ok((v as { dnsNames?: string[] }).dnsNames?.includes('echo'), JSON.stringify(v));
    assert.deepEqual(misses, [], 'echo did not answer from C during or after B’s restart');
    const ins = (await B.api('GET', '/networks/ovd')).json as { Containers: Record<string, unknown> };
    assert.ok(ins.Containers[e.id], 'echo is still on ovd on B');
    // And B's restored containers resolve the others again.
    await until('charlie3 from echo', async () =>
      (await dig(e, 'charlie3'))[0] === c.ip ? true : undefined,
    );
  });
});
