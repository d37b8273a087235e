import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NetlinkError, SyscallError } from '../../src/errors/index.ts';
import { fromWire, toWire } from '../../src/os/kernel-worker/protocol.ts';

/** What crosses the thread boundary: structured clone, as postMessage does. */
const across = (err: unknown) => fromWire(structuredClone(toWire(err)));

test('a NetlinkError comes back with its class, op, errno, extack and message', () => {
  const sent = new NetlinkError('link del dv1', 19, 'no such device');
  const got = across(sent);
  assert.ok(got instanceof NetlinkError);
  assert.equal(got.code, 'ERR_NETLINK');
  assert.equal(got.op, 'link del dv1');
  assert.equal(got.errno, 19);
  assert.equal(got.errnoName, 'ENODEV');
  assert.equal(got.extack, 'no such device');
  assert.equal(got.message, sent.message);
});

test('a SyscallError comes back with its class, op, errno and message', () => {
  const sent = new SyscallError('umount2', 16, '/run/netns/x');
  const got = across(sent);
  assert.ok(got instanceof SyscallError);
  assert.equal(got.op, 'umount2');
  assert.equal(got.errnoName, 'EBUSY');
  assert.equal(got.message, sent.message);
});

test('fs errors keep their code; RangeError and TypeError their class; others their name and code', () => {
  const fsErr = Object.assign(new Error('ENOENT: no such file'), {
    code: 'ENOENT',
    errno: -2,
    syscall: 'unlink',
    path: '/run/netns/x',
  });
  const got = across(fsErr) as NodeJS.ErrnoException;
  assert.equal(got.code, 'ENOENT');
  assert.equal(got.syscall, 'unlink');
  assert.equal(got.path, '/run/netns/x');
  assert.ok(across(new RangeError('bad name')) instanceof RangeError);
  assert.ok(across(new TypeError('bad type')) instanceof TypeError);
  const other = across(
    Object.assign(new Error('exists'), { name: 'NetnsExistsError', code: 'ERR_NETNS_EXISTS' }),
  );
  assert.equal(other.name, 'NetnsExistsError');
  assert.equal((other as { code?: string }).code, 'ERR_NETNS_EXISTS');
  assert.equal(across('plain').message, 'plain');
});
