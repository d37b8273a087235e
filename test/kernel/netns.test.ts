import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  createNetns,
  deleteNetns,
  InvalidNetnsNameError,
  listNetns,
  NetnsExistsError,
  openNetns,
  runInNetns,
} from '../../src/os/netns/index.ts';
import { InvalidSysctlError, sysctlEnsure, sysctlGet, sysctlSet } from '../../src/os/sysctl.ts';
import { world } from '../harness/world.ts';

const nsInode = () => readlinkSync('/proc/thread-self/ns/net');

describe('named network namespaces', () => {
  test('create under the default /run/netns so `ip netns exec` works, list, delete', () => {
    const path = createNetns('ns-a');
    assert.equal(path, '/run/netns/ns-a');
    assert.ok(listNetns().includes('ns-a'));
    const out = execFileSync('ip', ['netns', 'list']).toString();
    assert.match(out, /ns-a/);
    const links = execFileSync('ip', ['netns', 'exec', 'ns-a', 'ip', '-j', 'link']).toString();
    assert.deepEqual(
      (JSON.parse(links) as { ifname: string }[]).map((l) => l.ifname),
      ['lo'],
    );
    assert.equal(deleteNetns('ns-a'), true);
    assert.equal(existsSync(path), false);
    assert.equal(deleteNetns('ns-a'), false, 'deleting twice succeeds and says nothing was there');
  });

  test('a private run dir', () => {
    const runDir = join(world.runDir, 'r1');
    const path = createNetns('c1', { runDir });
    assert.equal(path, join(runDir, 'netns', 'c1'));
    assert.deepEqual(listNetns({ runDir }), ['c1']);
    assert.ok(deleteNetns('c1', { runDir }));
    assert.deepEqual(listNetns({ runDir }), []);
    assert.deepEqual(listNetns({ runDir: join(world.runDir, 'never') }), []);
  });

  test('runInNetns runs inside and always switches back, also on exceptions', () => {
    createNetns('ns-b');
    const fd = openNetns('ns-b');
    const host = nsInode();
    try {
      const inside = runInNetns({ fd }, () => nsInode());
      assert.notEqual(inside, host);
      assert.equal(nsInode(), host);
      assert.throws(() =>
        runInNetns({ path: '/run/netns/ns-b' }, () => {
          throw new Error('boom');
        }),
      );
      assert.equal(nsInode(), host);
      assert.throws(() => runInNetns({ fd }, () => Promise.resolve(1)), /synchronous/);
      assert.equal(nsInode(), host);
    } finally {
      closeSync(fd);
      deleteNetns('ns-b');
    }
  });

  test('bad names and duplicates are refused with typed errors, leaving nothing behind', () => {
    for (const bad of ['', 'a/b', '..', '.', 'x\0y', 'x'.repeat(300)]) {
      assert.throws(() => createNetns(bad), InvalidNetnsNameError, JSON.stringify(bad));
    }
    createNetns('dup');
    assert.throws(() => createNetns('dup'), NetnsExistsError);
    assert.ok(deleteNetns('dup'));
    assert.throws(
      () => openNetns('missing'),
      (e: unknown) => (e as { errnoName?: string }).errnoName === 'ENOENT',
    );
  });
});

describe('sysctl', () => {
  test('read and write, in this namespace and inside another one', () => {
    sysctlSet('net.ipv4.ip_forward', 1);
    assert.equal(sysctlGet('net.ipv4.ip_forward'), '1');
    createNetns('ns-s');
    try {
      const ref = { path: '/run/netns/ns-s' };
      assert.equal(sysctlGet('net.ipv4.ip_forward', { netns: ref }), '0', 'a new namespace has its own');
      assert.equal(sysctlEnsure('net.ipv4.ip_forward', 1, { netns: ref }), '0');
      assert.equal(sysctlGet('net.ipv4.ip_forward', { netns: ref }), '1');
    } finally {
      deleteNetns('ns-s');
    }
    assert.throws(() => sysctlGet('../../etc/passwd'), InvalidSysctlError);
    assert.throws(() => sysctlSet('net.ipv4.ip_forward', '1\n0'), InvalidSysctlError);
  });
});
