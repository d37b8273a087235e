import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  InvalidKeyError,
  InvalidTransactionError,
  InvalidValueError,
  InvalidVersionError,
  StoreCorruptError,
} from '../../src/store/errors.ts';
import {
  checkOps,
  decodeValue,
  encodeValue,
  MAX_KEY_BYTES,
  validateKey,
  validatePrefix,
} from '../../src/store/keys.ts';

// The pure checks both stores run first. The stores themselves: test/kernel/store-contract.test.ts.

describe('store keys, values and transactions (pure)', () => {
  test('keys: "/"-separated paths of non-empty parts', () => {
    for (const k of [
      'a',
      'network/0123',
      'a/b/c',
      'ip/10.0.0.0/24',
      'ipv6/fd00::1',
      'é/𝄞',
      'x'.repeat(MAX_KEY_BYTES),
    ]) {
      validateKey(k);
    }
    for (const k of [
      '',
      '/a',
      'a/',
      'a//b',
      'a\tb',
      'a\u0000',
      '\ud83d',
      'x'.repeat(MAX_KEY_BYTES + 1),
      1,
      null,
    ]) {
      assert.throws(() => validateKey(k), InvalidKeyError, String(k));
    }
  });

  test('prefixes: "" or the start of a key, "/" at the end allowed', () => {
    for (const p of ['', 'a', 'a/', 'network/ab']) validatePrefix(p);
    for (const p of ['/', '/a', 'a//', 'a\n', 3])
      assert.throws(() => validatePrefix(p), InvalidKeyError, String(p));
  });

  test('values: JSON text out, what reads will return alongside', () => {
    const e = encodeValue('k', { a: 1, d: new Date(0), u: undefined });
    assert.equal(e.bytes.toString(), '{"a":1,"d":"1970-01-01T00:00:00.000Z"}');
    assert.deepEqual(e.value, { a: 1, d: '1970-01-01T00:00:00.000Z' });
    assert.deepEqual(decodeValue('here', e.bytes), e.value);
    assert.deepEqual(decodeValue('here', new Uint8Array(Buffer.from('[1]'))), [1]);
    assert.throws(() => decodeValue('here', Buffer.from('{')), StoreCorruptError);
    assert.throws(() => encodeValue('k', undefined), InvalidValueError);
    assert.throws(() => encodeValue('k', 1n), InvalidValueError);
  });

  test('transactions: one operation per key, known types, valid versions, at most 128', () => {
    const ops = checkOps([
      { type: 'put', key: 'a', value: 1, ifVersion: 3 },
      { type: 'create', key: 'b', value: [] },
      { type: 'delete', key: 'c' },
      { type: 'check', key: 'd', ifVersion: null },
    ]);
    assert.deepEqual(
      ops.map((o) => [o.type, o.key]),
      [
        ['put', 'a'],
        ['create', 'b'],
        ['delete', 'c'],
        ['check', 'd'],
      ],
    );
    assert.throws(
      () =>
        checkOps([
          { type: 'delete', key: 'a' },
          { type: 'delete', key: 'a' },
        ]),
      InvalidTransactionError,
    );
    assert.throws(() => checkOps([{ type: 'check', key: 'a', ifVersion: 0 }]), InvalidVersionError);
    assert.throws(() => checkOps([{ type: 'get', key: 'a' } as never]), InvalidTransactionError);
    assert.throws(() => checkOps('x' as never), InvalidTransactionError);
    const many = Array.from({ length: 129 }, (_, i) => ({ type: 'delete' as const, key: `k${i}` }));
    assert.throws(() => checkOps(many), InvalidTransactionError);
    checkOps(many.slice(1));
  });
});
