import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseNetworkOptions } from '../../src/drivers/bridge/options.ts';
import { InvalidOptionError } from '../../src/index.ts';
import { macProblem } from '../../src/ip/mac.ts';
import { parseCidr, specialPurposeOverlap } from '../../src/ipam/pools.ts';
import { parseHostIp } from '../../src/portmapper/index.ts';

// Input that would otherwise reach the kernel and fail there (a 500): refused where it enters.

describe('input checks', () => {
  test('MAC addresses: unicast only, not all-zero, aa:bb:cc:dd:ee:ff', () => {
    for (const ok of ['02:42:ac:11:00:02', '00:16:3e:00:00:01', 'FE:FF:FF:FF:FF:FF']) {
      assert.equal(macProblem(ok), undefined, ok);
    }
    const bad: [string, RegExp][] = [
      ['ff:ff:ff:ff:ff:ff', /broadcast/],
      ['FF:FF:FF:FF:FF:FF', /broadcast/],
      ['01:00:5e:00:00:01', /multicast/],
      ['33:33:00:00:00:01', /multicast/],
      ['03:00:00:00:00:00', /multicast/],
      ['00:00:00:00:00:00', /all-zero/],
      ['02-42-ac-11-00-02', /aa:bb/],
      ['02:42:ac:11:00', /aa:bb/],
      ['', /aa:bb/],
    ];
    for (const [mac, why] of bad) assert.match(macProblem(mac) ?? '', why, mac);
  });

  test('subnets that overlap special-purpose ranges are named', () => {
    const p = (s: string) => parseCidr(s)!.prefix;
    for (const ok of [
      '10.0.0.0/8',
      '172.18.0.0/16',
      '192.168.1.0/24',
      '100.64.0.0/10',
      'fd00::/64',
      '2001:db8::/64',
    ]) {
      assert.equal(specialPurposeOverlap(p(ok)), undefined, ok);
    }
    for (const [cidr, what] of [
      ['127.0.0.0/8', /loopback/],
      ['127.0.0.1/32', /loopback/],
      ['0.0.0.0/8', /this network/],
      ['224.0.0.0/24', /multicast/],
      ['255.255.255.255/32', /broadcast/],
      ['240.0.0.0/4', /reserved/],
      ['::1/128', /loopback/],
      ['::ffff:0:0/96', /IPv4-mapped/],
      ['fe80::/64', /link-local/],
      ['ff02::/16', /multicast/],
    ] as const) {
      assert.match(specialPurposeOverlap(p(cidr)) ?? '', what, cidr);
    }
  });

  test('bridge names: 1-15 bytes, a letter or digit first, then [A-Za-z0-9_.-]', () => {
    const opts = (name: string) =>
      parseNetworkOptions(
        '0123456789abcdef',
        { 'com.docker.network.bridge.name': name },
        { internal: false, enableIPv6: false },
      );
    for (const ok of ['docker0', 'br-0123456789ab', 'a', 'x'.repeat(15), 'B_r.1'])
      assert.equal(opts(ok).bridgeName, ok);
    for (const bad of [
      '-rf',
      '.',
      '..',
      'a/b',
      'a b',
      'a\tb',
      'x'.repeat(16),
      'br%d',
      '_x',
      '',
      'é',
      'a:b',
    ]) {
      assert.throws(() => opts(bad), InvalidOptionError, JSON.stringify(bad));
    }
  });

  test('an IPv6 network needs an MTU of at least 1280', () => {
    const mtu = (m: string, enableIPv6: boolean) =>
      parseNetworkOptions(
        '0123456789abcdef',
        { 'com.docker.network.driver.mtu': m },
        { internal: false, enableIPv6 },
      );
    assert.equal(mtu('1000', false).mtu, 1000);
    assert.equal(mtu('1280', true).mtu, 1280);
    assert.throws(() => mtu('1279', true), /at least 1280/);
  });

  test('published host addresses: unicast or a wildcard', () => {
    for (const ok of ['0.0.0.0', '127.0.0.1', '10.1.2.3', '::', '::1', 'fd00::1']) {
      assert.equal(typeof parseHostIp(ok), 'object', ok);
    }
    for (const bad of ['224.0.0.1', '239.255.255.250', '255.255.255.255', 'ff02::1', 'ff05::2']) {
      assert.match(String(parseHostIp(bad)), /multicast|broadcast/, bad);
    }
  });
});
