import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  cidrContains,
  familyOf,
  formatIp,
  isIp,
  networkOf,
  parseCidr,
  parseIp,
  plain,
} from '../../src/ip/index.ts';
import { macProblem, parseMac, randomMac } from '../../src/ip/mac.ts';

describe('src/ip: addresses', () => {
  test('IPv4 only in four-part decimal, canonical text and value', () => {
    const ip = parseIp('10.1.2.3');
    assert.ok(typeof ip !== 'string');
    assert.equal(ip.family, 4);
    assert.equal(ip.text, '10.1.2.3');
    assert.equal(ip.value, 0x0a010203n);
    for (const bad of ['10.1', '010.1.2.3', '0x0a.1.2.3', '1.2.3.256', '1.2.3.4.5', '', ' 1.2.3.4']) {
      assert.equal(typeof parseIp(bad), 'string', bad);
    }
    assert.equal((parseIp('127.0.0.9') as { loopback: boolean }).loopback, true);
  });

  test('IPv6: RFC 5952 text, zones only when allowed, IPv4-mapped as ::ffff:a.b.c.d', () => {
    assert.equal((parseIp('2001:DB8:0:0:0:0:0:1') as { text: string }).text, '2001:db8::1');
    assert.match(String(parseIp('fe80::1%eth0')), /zone/);
    const z = parseIp('fe80::1%eth0', { allowZone: true });
    assert.ok(typeof z !== 'string');
    assert.equal(z.zone, 'eth0');
    assert.equal(z.text, 'fe80::1%eth0');
    const m = parseIp('::FFFF:10.0.0.1');
    assert.ok(typeof m !== 'string');
    assert.equal(m.mapped, true);
    assert.equal(m.text, '::ffff:10.0.0.1');
    assert.equal(typeof parseIp('::1.2.3.4'), 'string', 'the deprecated IPv4-compatible form');
    assert.equal((parseIp('::1') as { loopback: boolean }).loopback, true);
    assert.match(String(parseIp('10.0.0.1', { family: 6 })), /not an IPv6 address/);
    assert.equal(isIp('::1', 6), true);
    assert.equal(isIp('::1', 4), false);
  });

  test('formatIp is the inverse of parseIp', () => {
    for (const s of [
      '0.0.0.0',
      '255.255.255.255',
      '192.168.7.1',
      '::',
      '2001:db8::ff00:42:8329',
      'fe80::1',
    ]) {
      const ip = parseIp(s);
      assert.ok(typeof ip !== 'string');
      assert.equal(formatIp(ip.family, ip.value), s);
    }
  });
});

describe('src/ip: prefixes', () => {
  test('parseCidr: strict length, host bits noted, network cleared', () => {
    const c = parseCidr('10.0.0.5/24');
    assert.ok(typeof c !== 'string');
    assert.equal(c.len, 24);
    assert.equal(c.canonical, false);
    assert.equal(c.text, '10.0.0.5/24');
    assert.equal(networkOf('10.0.0.5/24'), '10.0.0.0/24');
    assert.equal(networkOf('2001:db8::1/64'), '2001:db8::/64');
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/024', '10.0.0.0/', '::/129', '10.0.0.0/x']) {
      assert.equal(typeof parseCidr(bad), 'string', bad);
    }
  });

  test('cidrContains, plain, familyOf', () => {
    assert.equal(cidrContains('10.0.0.0/24', '10.0.0.200'), true);
    assert.equal(cidrContains('10.0.0.0/24', '10.0.1.1'), false);
    assert.equal(cidrContains('10.0.0.0/24', '::1'), false);
    assert.equal(cidrContains('2001:db8::/32', '2001:db8:1::1'), true);
    assert.equal(cidrContains('not', '10.0.0.1'), false);
    assert.equal(plain('10.0.0.1/24'), '10.0.0.1');
    assert.equal(plain('10.0.0.1'), '10.0.0.1');
    assert.equal(familyOf('fd00::/8'), 6);
    assert.equal(familyOf('10.0.0.0/8'), 4);
  });
});

describe('src/ip: MAC addresses', () => {
  test('unicast only; normalised; made-up ones are unicast and locally administered', () => {
    assert.equal(parseMac('02:42:AC:11:00:02'), '02:42:ac:11:00:02');
    assert.equal(parseMac('02-42-ac-11-00-02'), '02:42:ac:11:00:02');
    for (const bad of [
      'ff:ff:ff:ff:ff:ff',
      '01:00:5e:00:00:01',
      '00:00:00:00:00:00',
      '02:42:ac:11:00',
      '02-42:ac:11:00:02',
    ]) {
      assert.equal(parseMac(bad), undefined, bad);
    }
    assert.match(macProblem('ff:ff:ff:ff:ff:ff') ?? '', /broadcast/);
    for (let i = 0; i < 50; i++) {
      const m = randomMac();
      assert.equal(macProblem(m), undefined, m);
      assert.equal(Number.parseInt(m.slice(0, 2), 16) & 2, 2, 'locally administered');
    }
  });
});
