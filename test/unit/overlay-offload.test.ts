/** The overlay driver's TX checksum offload option (src/drivers/overlay/offload.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OPT_TX_CHECKSUM_OFFLOAD, txChecksumOffload } from '../../src/drivers/overlay/offload.ts';

const opt = (v: string) => ({ [OPT_TX_CHECKSUM_OFFLOAD]: v });

describe('TX checksum offload of VXLAN devices', () => {
  test('auto (the default): off before Linux 5.7, on from 5.7', () => {
    assert.equal(txChecksumOffload({}, '5.4.0-150-generic'), false);
    assert.equal(txChecksumOffload({}, '4.19.0-27-amd64'), false);
    assert.equal(txChecksumOffload({}, '5.6.19'), false);
    assert.equal(txChecksumOffload(opt('auto'), '5.7.0'), true);
    assert.equal(txChecksumOffload({}, '5.10.0-30-amd64'), true);
    assert.equal(txChecksumOffload({}, '6.18.44-fc-v1045'), true);
    assert.equal(txChecksumOffload({}, 'unparsable'), false, 'an unknown kernel: the safe side');
  });

  test('on and off force it, whatever the kernel', () => {
    assert.equal(txChecksumOffload(opt('off'), '6.1.0'), false);
    assert.equal(txChecksumOffload(opt('false'), '6.1.0'), false);
    assert.equal(txChecksumOffload(opt('on'), '4.19.0'), true);
    assert.equal(txChecksumOffload(opt('true'), '4.19.0'), true);
  });

  test('another value is refused, naming the option and the values', () => {
    assert.throws(
      () => txChecksumOffload(opt('maybe'), '6.1.0'),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_INVALID_OPTION');
        assert.match(err.message, /tx_checksum_offload/);
        assert.match(err.message, /auto, on or off/);
        return true;
      },
    );
  });
});
