import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetricsAddr } from '../../src/daemon/metrics.ts';
import { InvalidOptionError } from '../../src/errors/cnm.ts';

test("--metrics-addr takes dockerd's addr:port forms and refuses the rest with the reason", () => {
  assert.deepEqual(parseMetricsAddr('127.0.0.1:9323'), { host: '127.0.0.1', port: 9323 });
  assert.deepEqual(parseMetricsAddr('[::1]:9323'), { host: '::1', port: 9323 });
  assert.deepEqual(parseMetricsAddr('localhost:0'), { host: 'localhost', port: 0 });
  assert.deepEqual(parseMetricsAddr(':9323'), { host: '', port: 9323 });
  for (const bad of ['localhost', '127.0.0.1', '127.0.0.1:99999', '::1:9323', 'http://127.0.0.1:9323', '']) {
    assert.throws(
      () => parseMetricsAddr(bad),
      (err: unknown) => err instanceof InvalidOptionError && /expected addr:port/.test(err.message),
      bad,
    );
  }
});
