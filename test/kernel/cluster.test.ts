/**
 * Global scope on a real etcd (test/harness/etcd.ts): the global IPAM's CAS allocations under
 * concurrency from several clients, the VNI allocator, the host lease (taken back after a restart,
 * replaced and re-published when lost, revoked on leave), the table mirror (list at a revision,
 * watch from the next, the difference after a re-list) and the store's watch from a compacted
 * revision.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { Cluster, TableMirror } from '../../src/cluster/index.ts';
import { GLOBAL_ADDRESS_SPACE } from '../../src/driver-api/ipam.ts';
import { GlobalIpam } from '../../src/ipam/global.ts';
import { AddressInUseError, PoolOverlapError } from '../../src/ipam/index.ts';
import { EtcdStore, StoreUnavailableError } from '../../src/store/index.ts';
import { type EtcdServer, startEtcd } from '../harness/etcd.ts';
import { world } from '../harness/world.ts';

void world;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('global scope on etcd', () => {
  let etcd: EtcdServer;
  const stores: EtcdStore[] = [];
  const dirs: string[] = [];
  const open = async (prefix: string) => {
    const s = await EtcdStore.open({ hosts: etcd.hosts, prefix });
    stores.push(s);
    return s;
  };
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'dnet-overlay-cluster-test-'));
    dirs.push(d);
    return d;
  };

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const s of stores) await s.close();
    await etcd?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('global IPAM: three hosts allocating at once never hand out one address twice', async () => {
    const ipams = await Promise.all(['t1/', 't1/', 't1/'].map(async (p) => new GlobalIpam(await open(p))));
    const [a, b, c] = ipams as [GlobalIpam, GlobalIpam, GlobalIpam];
    const pool = await a.requestPool({ addressSpace: GLOBAL_ADDRESS_SPACE, pool: '10.20.0.0/23', v6: false });
    assert.equal(pool.poolId, 'GlobalDefault/10.20.0.0/23');
    const got = await Promise.all(
      [a, b, c].flatMap((ipam) => Array.from({ length: 60 }, () => ipam.requestAddress(pool.poolId))),
    );
    const addrs = got.map((g) => g.address);
    assert.equal(new Set(addrs).size, 180, 'an address was handed out twice');
    assert.ok(addrs.every((x) => x.endsWith('/23') && x !== '10.20.0.0/23'));
    // A specific address taken elsewhere is refused; released, it can be taken again.
    const first = addrs[0]!.split('/')[0]!;
    await assert.rejects(b.requestAddress(pool.poolId, { address: first }), AddressInUseError);
    await a.releaseAddress(pool.poolId, first);
    assert.equal((await b.requestAddress(pool.poolId, { address: first })).address, addrs[0]);
    // Overlapping pools are refused, whoever asks.
    await assert.rejects(
      b.requestPool({ addressSpace: GLOBAL_ADDRESS_SPACE, pool: '10.20.1.0/24', v6: false }),
      PoolOverlapError,
    );
    await a.releasePool(pool.poolId);
    assert.deepEqual(await stores[0]!.list('ipam/addr/'), []);
  });

  test('global IPAM: racing overlapping pools, exactly one wins', async () => {
    const [a, b] = [new GlobalIpam(await open('t2/')), new GlobalIpam(await open('t2/'))];
    const res = await Promise.allSettled([
      a.requestPool({ addressSpace: GLOBAL_ADDRESS_SPACE, pool: '10.30.0.0/16', v6: false }),
      b.requestPool({ addressSpace: GLOBAL_ADDRESS_SPACE, pool: '10.30.5.0/24', v6: false }),
    ]);
    assert.equal(res.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(res));
    const lost = res.find((r) => r.status === 'rejected');
    assert.ok(lost?.reason instanceof PoolOverlapError);
    // Default pools: the first free /24 of 10.0.0.0/8.
    const d = await a.requestPool({ addressSpace: GLOBAL_ADDRESS_SPACE, v6: false });
    assert.equal(d.pool, '10.0.0.0/24');
  });

  test('VNIs: distinct under concurrency, released with the network record', async () => {
    const s = await open('t3/');
    const hosts = await Promise.all(
      ['192.0.2.1', '192.0.2.2'].map((ip) => Cluster.join({ store: s, advertise: ip, stateDir: dir() })),
    );
    const [h1, h2] = hosts as [Cluster, Cluster];
    const vnis = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? h1 : h2).allocateVni(`n${i}`)),
    );
    assert.equal(new Set(vnis).size, 10);
    assert.ok(vnis.every((v) => v >= 4096));
    await h1.publishNetwork('n0', 'net0', { id: 'n0' });
    await h1.unpublishNetwork('n0', 'net0');
    const left = (await s.list('vni/')).map((e) => (e.value as { network: string }).network);
    assert.ok(!left.includes('n0'));
    for (const h of hosts) await h.close({ leave: true });
  });

  test('host lease: taken back after a restart, replaced and re-published when lost, revoked on leave', async () => {
    const s = await open('t4/');
    const stateDir = dir();
    const c1 = await Cluster.join({ store: s, advertise: '192.0.2.9', stateDir, leaseTtl: 2 });
    await c1.publishEndpoint('net', 'ep1', { mac: '02:00:00:00:00:01', ip: '10.1.0.2' });
    const id1 = c1.lease.id;
    await c1.close(); // a restart: the lease is not revoked
    const c2 = await Cluster.join({ store: s, advertise: '192.0.2.9', stateDir, leaseTtl: 2 });
    assert.equal(c2.lease.id, id1, 'the lease of the last run was not taken back');
    assert.equal(c2.hostId, c1.hostId);
    await c2.publishEndpoint('net', 'ep1', { mac: '02:00:00:00:00:01', ip: '10.1.0.2' });
    // Someone revokes the lease (or it expired while cut off): a new one, everything published again.
    await s.leaseRevoke(id1);
    assert.equal((await c2.endpoints('net')).length, 0);
    await until('re-published under a new lease', async () => (await c2.endpoints('net')).length === 1);
    assert.notEqual(c2.lease.id, id1);
    assert.equal((await c2.hosts()).length, 1);
    await c2.close({ leave: true });
    assert.equal((await c2.endpoints('net')).length, 0);
    assert.equal((await c2.hosts()).length, 0);
  });

  test('mirror: list at a revision, watch from the next, and the difference after a re-list', async () => {
    const s = await open('t5/');
    await s.put('tbl/a', 1);
    await s.put('tbl/b', 2);
    const seen = new Map<string, unknown>();
    const handler = {
      put: (k: string, v: unknown) => void seen.set(k, v),
      delete: (k: string) => void seen.delete(k),
    };
    const m = await TableMirror.start(s, 'tbl/', handler);
    assert.deepEqual(Object.fromEntries(seen), { 'tbl/a': 1, 'tbl/b': 2 });
    await s.put('tbl/c', 3);
    await s.delete('tbl/a');
    await until('watched changes', () => seen.has('tbl/c') && !seen.has('tbl/a'));
    await m.close();
    // A second mirror with the first's memory would report what went meanwhile: a fresh one lists.
    await s.delete('tbl/b');
    const fresh = new Map<string, unknown>();
    const m2 = await TableMirror.start(s, 'tbl/', {
      put: (k, v) => void fresh.set(k, v),
      delete: (k) => void fresh.delete(k),
    });
    assert.deepEqual(Object.fromEntries(fresh), { 'tbl/c': 3 });
    await m2.close();
  });

  test('a watch from a compacted revision is cancelled by etcd, and the owner is told', async () => {
    const s = await open('t6/');
    const { revision } = await s.listAt('x/');
    await s.put('x/1', 1);
    await s.put('x/1', 2);
    const raw = new Etcd3({ hosts: etcd.hosts });
    try {
      const now = await raw.get('t6/x/1').exec();
      await raw.maintenance.status(); // connected
      await raw.kv.compact({ revision: now.header.revision, physical: true });
    } finally {
      raw.close();
    }
    let cancelled: Error | undefined;
    const w = await s
      .watch('x/', () => {}, {
        fromVersion: revision + 1,
        onCancelled: (e) => {
          cancelled = e;
        },
      })
      .catch((e: Error) => {
        cancelled = e;
        return undefined;
      });
    await until('the cancellation', () => cancelled !== undefined);
    // etcd ends the watch (it reports the compact revision, no reason text): the owner lists again.
    assert.ok(cancelled instanceof StoreUnavailableError, String(cancelled));
    assert.match(String(cancelled), /canceled/);
    await w?.close();
  });
});
