/** `dnet daemon --cluster-store/--cluster-advertise`: parsing and checking, without etcd. */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { ClusterAdvertiseError } from '../../src/cluster/index.ts';
import { advertiseAddress, etcdHosts, joinCluster } from '../../src/daemon/cluster.ts';
import { InvalidOptionError } from '../../src/errors/cnm.ts';

test('etcd://a:2379,b:2379 gives the client URLs (https with TLS)', () => {
  assert.deepEqual(etcdHosts('etcd://10.0.0.5:2379', false), ['http://10.0.0.5:2379']);
  assert.deepEqual(etcdHosts('etcd://a:2379,b.example:2380', true), [
    'https://a:2379',
    'https://b.example:2380',
  ]);
  for (const bad of ['http://a:2379', 'etcd://a', 'etcd://a:2379,', 'etcd://a:b', 'consul://a:8500']) {
    assert.throws(() => etcdHosts(bad, false), InvalidOptionError, bad);
  }
});

test("--cluster-advertise: an IPv4 address (Docker's :port ignored) or an interface with one", () => {
  assert.equal(advertiseAddress('192.168.77.11'), '192.168.77.11');
  assert.equal(advertiseAddress('192.168.77.11:2376'), '192.168.77.11');
  const lo = Object.entries(networkInterfaces()).find(([, a]) => a?.some((x) => x.family === 'IPv4'));
  if (lo) assert.equal(advertiseAddress(lo[0]), lo[1]!.find((x) => x.family === 'IPv4')!.address);
  assert.throws(
    () => advertiseAddress('nosuchif0'),
    (e: unknown) => {
      assert.ok(e instanceof ClusterAdvertiseError);
      assert.match(e.message, /no interface named "nosuchif0"/);
      return true;
    },
  );
  assert.throws(() => advertiseAddress('fd00::1'), /only IPv4/);
});

test('bad --vxlan-port and --cluster-store-opt are refused before etcd is contacted', async () => {
  const flags = { store: 'etcd://127.0.0.1:1', advertise: '127.0.0.1' };
  await assert.rejects(
    joinCluster({ ...flags, vxlanPort: 70000 }, '/nonexistent', () => {}),
    InvalidOptionError,
  );
  await assert.rejects(
    joinCluster({ ...flags, storeOpts: ['kv.nonsense=1'] }, '/nonexistent', () => {}),
    /kv.cacertfile/,
  );
  await assert.rejects(
    joinCluster({ ...flags, storeOpts: ['kv.certfile=/a'] }, '/nonexistent', () => {}),
    /kv.cacertfile/,
  );
});
