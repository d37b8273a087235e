import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PoolRequest } from '../../src/driver-api/ipam.ts';
import { DnetError } from '../../src/errors/base.ts';
import { InvalidOptionError } from '../../src/errors/cnm.ts';
import {
  AddressInUseError,
  AddressNotAllocatedError,
  DEFAULT_LOCAL_POOLS,
  DefaultIpam,
  deriveUlaPool,
  InvalidAddressError,
  InvalidAddressSpaceError,
  InvalidGatewayError,
  InvalidIpRangeError,
  InvalidPoolIdError,
  InvalidSubnetError,
  NoDefaultPoolError,
  NoMoreSubnetsError,
  normalizePoolSpecs,
  PoolExhaustedError,
  PoolOverlapError,
  pickSubnet,
  splitPool,
  UnknownPoolError,
} from '../../src/ipam/index.ts';

const L = 'LocalDefault';
const G = 'GlobalDefault';
const GW = { RequestAddressType: 'com.docker.network.gateway' };
/** Lowest free address instead of round robin. */
const LOWEST = { 'com.docker.network.ipam.serial': 'false' };

type ErrorClass = abstract new (...args: never[]) => DnetError;

/** Asserts a promise (or function) fails with this class, code and kind. */
async function fails(
  p: Promise<unknown> | (() => unknown),
  cls: ErrorClass,
  code: string,
  kind: string,
  msg?: RegExp,
): Promise<void> {
  const check = (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.ok(e instanceof DnetError);
    assert.equal(e.code, code);
    assert.equal(e.kind, kind);
    assert.equal(e.name, cls.name);
    if (msg) assert.match(e.message, msg);
    assert.deepEqual(e.toJSON(), { code, message: e.message });
    return true;
  };
  if (typeof p === 'function') assert.throws(p, check);
  else await assert.rejects(p, check);
}

const pool = (ipam: DefaultIpam, req: Partial<PoolRequest> = {}) =>
  ipam.requestPool({ addressSpace: L, v6: false, ...req });

async function addrs(ipam: DefaultIpam, poolId: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await ipam.requestAddress(poolId)).address);
  return out;
}

describe('DefaultIpam: driver basics', () => {
  test('name, capabilities, address spaces', async () => {
    const ipam = new DefaultIpam();
    assert.equal(ipam.name, 'default');
    assert.deepEqual(await ipam.defaultAddressSpaces(), { local: L, global: G });
    assert.deepEqual(await ipam.capabilities(), { requiresMacAddress: false, requiresRequestReplay: false });
  });

  test('unknown address space', async () => {
    const ipam = new DefaultIpam();
    await fails(
      ipam.requestPool({ addressSpace: 'Nope', v6: false }),
      InvalidAddressSpaceError,
      'ERR_IPAM_INVALID_ADDRESS_SPACE',
      'invalid',
      /"Nope".*LocalDefault/,
    );
    await fails(
      ipam.requestPool({ addressSpace: '', pool: '10.0.0.0/8', v6: false }),
      InvalidAddressSpaceError,
      'ERR_IPAM_INVALID_ADDRESS_SPACE',
      'invalid',
    );
  });
});

describe('DefaultIpam: default pools', () => {
  test("local scope: Docker's 31 pools in order, then NoMoreSubnetsError (conflict)", async () => {
    const ipam = new DefaultIpam();
    const got: string[] = [];
    for (let i = 0; i < 31; i++) got.push((await pool(ipam)).pool);
    const want = [
      ...Array.from({ length: 15 }, (_, i) => `172.${17 + i}.0.0/16`),
      ...Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`),
    ];
    assert.deepEqual(got, want);
    await fails(pool(ipam), NoMoreSubnetsError, 'ERR_IPAM_NO_MORE_SUBNETS', 'conflict', /fully subnetted/);
  });

  test('the documented lists match splitPool', () => {
    const all = DEFAULT_LOCAL_POOLS.flatMap((s) => [...splitPool(s)]);
    assert.equal(all.length, 31);
    assert.equal(all[0], '172.17.0.0/16');
    assert.equal(all[14], '172.31.0.0/16');
    assert.equal(all[30], '192.168.240.0/20');
    let n = 0;
    for (const _ of splitPool({ base: '10.0.0.0/8', size: 24 })) n++;
    assert.equal(n, 65536);
  });

  test('global scope: 10.0.0.0/8 in /24s', async () => {
    const ipam = new DefaultIpam();
    assert.equal((await ipam.requestPool({ addressSpace: G, v6: false })).pool, '10.0.0.0/24');
    assert.equal((await ipam.requestPool({ addressSpace: G, v6: false })).pool, '10.0.1.0/24');
    const gl = new DefaultIpam({ globalPools: [], localPools: [] });
    assert.equal(
      (await gl.requestPool({ addressSpace: G, v6: false })).pool,
      '10.0.0.0/24',
      'empty: defaults',
    );
    assert.equal((await pool(gl)).pool, '172.17.0.0/16', 'empty: the defaults');
  });

  test('a released pool is the lowest free again (first fit, as moby)', async () => {
    const ipam = new DefaultIpam();
    const a = await pool(ipam);
    await pool(ipam);
    await ipam.releasePool(a.poolId);
    assert.equal((await pool(ipam)).pool, '172.17.0.0/16');
  });

  test('default picks skip explicitly allocated pools, wholly or partly overlapping', async () => {
    const ipam = new DefaultIpam();
    await pool(ipam, { pool: '172.17.5.0/24' });
    await fails(pool(ipam, { pool: '172.16.0.0/15' }), PoolOverlapError, 'ERR_IPAM_POOL_OVERLAP', 'conflict');
    // a /24 inside 172.17.0.0/16 takes the whole /16 out of the default picks
    assert.equal((await pool(ipam)).pool, '172.18.0.0/16');
    await pool(ipam, { pool: '172.20.0.0/15', subPool: '172.21.1.0/24' });
    assert.equal((await pool(ipam)).pool, '172.19.0.0/16');
    assert.equal((await pool(ipam)).pool, '172.22.0.0/16', 'a /15 spans two default /16s');
  });

  test('host routes are skipped: sync and async, /0 and garbage ignored, plain addresses as /32', async () => {
    const routes = [
      '172.17.0.0/16',
      '172.18.5.0/24',
      '172.19.0.1',
      '0.0.0.0/0',
      'garbage',
      'fd00::/8',
      '172.20.0.0/14',
    ];
    for (const hostRoutes of [() => routes, async () => routes]) {
      const ipam = new DefaultIpam({ hostRoutes });
      assert.equal((await pool(ipam)).pool, '172.24.0.0/16');
    }
    const calls: number[] = [];
    const ipam = new DefaultIpam({
      hostRoutes: () => {
        calls.push(1);
        return ['192.168.1.0/24', '172.16.0.0/12'];
      },
    });
    assert.equal((await pool(ipam)).pool, '192.168.16.0/20', 'a /24 route blocks only its /20');
    assert.equal(calls.length, 1);
    await pool(ipam, { pool: '10.9.0.0/16' });
    assert.equal(calls.length, 1, 'not consulted for an explicit subnet');
    // explicit subnets may overlap host routes (as Docker): the routes only steer default picks
    await pool(ipam, { pool: '172.17.0.0/16' });
  });

  test('all pools blocked by host routes: NoMoreSubnetsError', async () => {
    const ipam = new DefaultIpam({ hostRoutes: () => ['172.16.0.0/12', '192.168.0.0/16'] });
    await fails(pool(ipam), NoMoreSubnetsError, 'ERR_IPAM_NO_MORE_SUBNETS', 'conflict');
  });

  test('a default subnet of a given size: 0.0.0.0/24, and sizes no pool fits', async () => {
    const ipam = new DefaultIpam();
    assert.equal((await pool(ipam, { pool: '0.0.0.0/24' })).pool, '172.17.0.0/24');
    assert.equal((await pool(ipam, { pool: '0.0.0.0/24' })).pool, '172.17.1.0/24');
    assert.equal((await pool(ipam, { pool: '0.0.0.0/16' })).pool, '172.18.0.0/16');
    assert.equal((await pool(ipam, { pool: '0.0.0.0/0' })).pool, '172.19.0.0/16', '/0: the pools own size');
    await fails(
      pool(ipam, { pool: '0.0.0.0/8' }),
      NoDefaultPoolError,
      'ERR_IPAM_NO_DEFAULT_POOL',
      'invalid',
      /\/8/,
    );
    await fails(
      pool(ipam, { pool: '0.0.0.0/24', subPool: '0.0.0.0/25' }),
      InvalidIpRangeError,
      'ERR_IPAM_INVALID_IP_RANGE',
      'invalid',
    );
  });

  test('configured pools (default-address-pools): sorted, overlaps dropped, validated', async () => {
    const ipam = new DefaultIpam({
      localPools: [
        { base: '10.20.0.0/16', size: 24 },
        { base: '10.10.0.0/16', size: 24 },
        { base: '10.10.128.0/17', size: 28 },
      ],
    });
    assert.deepEqual(ipam.defaultPools(L, 4), [
      { base: '10.10.0.0/16', size: 24 },
      { base: '10.20.0.0/16', size: 24 },
    ]);
    assert.equal((await pool(ipam)).pool, '10.10.0.0/24');
    assert.equal((await pool(ipam)).pool, '10.10.1.0/24');
    for (const bad of [
      [{ base: 'nope', size: 24 }],
      [{ base: '10.0.0.1/8', size: 24 }],
      [{ base: '10.0.0.0/16', size: 8 }],
      [{ base: '10.0.0.0/16', size: 33 }],
      [{ base: '10.0.0.0/16', size: 24.5 }],
    ]) {
      await fails(
        () => new DefaultIpam({ localPools: bad }),
        InvalidOptionError,
        'ERR_INVALID_OPTION',
        'invalid',
        /option "default-address-pools": entry 0: /,
      );
    }
  });

  test('pickSubnet: nested and unsorted blockers', () => {
    const { 4: bases } = normalizePoolSpecs([{ base: '10.0.0.0/16', size: 24 }]);
    const p = (s: string) => normalizePoolSpecs([{ base: s, size: Number(s.split('/')[1]) }])[4][0]!.base;
    const blockers = [p('10.0.2.0/24'), p('10.0.0.0/23'), p('10.0.0.128/25'), p('10.0.4.0/22')];
    assert.deepEqual(pickSubnet(bases, blockers), p('10.0.3.0/24'));
    assert.deepEqual(pickSubnet(bases, [...blockers, p('10.0.3.7/32')]), p('10.0.8.0/24'));
    assert.equal(pickSubnet(bases, [p('10.0.0.0/8')]), undefined);
  });
});

describe('DefaultIpam: IPv6 default pools', () => {
  test('without a host id (moby: no built-in IPv6 pool): NoDefaultPoolError', async () => {
    const ipam = new DefaultIpam();
    await fails(
      pool(ipam, { v6: true }),
      NoDefaultPoolError,
      'ERR_IPAM_NO_DEFAULT_POOL',
      'invalid',
      /IPv6.*subnet/,
    );
    await fails(pool(ipam, { pool: '::/64' }), NoDefaultPoolError, 'ERR_IPAM_NO_DEFAULT_POOL', 'invalid');
    await fails(
      ipam.requestPool({ addressSpace: G, v6: true }),
      NoDefaultPoolError,
      'ERR_IPAM_NO_DEFAULT_POOL',
      'invalid',
    );
  });

  test("with a host id: dockerd's ULA /48 in /64s (same derivation as moby's tests)", async () => {
    assert.deepEqual(deriveUlaPool(''), { base: 'fd42:98fc:1c14::/48', size: 64 });
    assert.deepEqual(deriveUlaPool('499d4bc0-b0b3-416f-b1ee-cf6486315593'), {
      base: 'fd62:fb69:18af::/48',
      size: 64,
    });
    const ipam = new DefaultIpam({ hostId: '499d4bc0-b0b3-416f-b1ee-cf6486315593' });
    const a = await pool(ipam, { v6: true });
    assert.deepEqual(a, { poolId: `${L}/fd62:fb69:18af::/64`, pool: 'fd62:fb69:18af::/64', data: {} });
    assert.equal((await pool(ipam, { v6: true })).pool, 'fd62:fb69:18af:1::/64');
    assert.equal((await pool(ipam, { pool: '::/56' })).pool, 'fd62:fb69:18af:100::/56');
    assert.equal((await pool(ipam)).pool, '172.17.0.0/16', 'IPv4 unaffected');
  });

  test('configured IPv6 pools win over the host id', async () => {
    const ipam = new DefaultIpam({ hostId: 'x', localPools: [{ base: '2001:db8::/56', size: 64 }] });
    assert.equal((await pool(ipam, { v6: true })).pool, '2001:db8::/64');
    await fails(pool(ipam), NoDefaultPoolError, 'ERR_IPAM_NO_DEFAULT_POOL', 'invalid', /IPv4/);
  });
});

describe('DefaultIpam: explicit pools, ip-ranges, overlap', () => {
  test('pool IDs encode address space, subnet and ip-range', async () => {
    const ipam = new DefaultIpam();
    assert.deepEqual(await pool(ipam, { pool: '172.18.0.0/16', subPool: '172.18.5.0/24' }), {
      poolId: 'LocalDefault/172.18.0.0/16/172.18.5.0/24',
      pool: '172.18.0.0/16',
      data: {},
    });
    assert.deepEqual(await pool(ipam, { pool: '2001:DB8:0:0::/64' }), {
      poolId: 'LocalDefault/2001:db8::/64',
      pool: '2001:db8::/64',
      data: {},
    });
    // a spelling of the same ID still designates the pool
    assert.equal((await ipam.requestAddress('LocalDefault/2001:DB8::/64')).address, '2001:db8::1/64');
  });

  test('overlap within an address space, in all shapes; other spaces and families are independent', async () => {
    const ipam = new DefaultIpam();
    await pool(ipam, { pool: '10.0.0.0/8' });
    for (const s of [
      '10.0.0.0/8',
      '10.128.0.0/9',
      '10.20.2.0/24',
      '8.0.0.0/6',
      '10.0.0.0/7',
      '10.255.255.255/32',
    ]) {
      await fails(pool(ipam, { pool: s }), PoolOverlapError, 'ERR_IPAM_POOL_OVERLAP', 'conflict');
    }
    await fails(
      pool(ipam, { pool: '10.0.0.0/8' }),
      PoolOverlapError,
      'ERR_IPAM_POOL_OVERLAP',
      'conflict',
      /already allocated/,
    );
    await fails(
      pool(ipam, { pool: '10.20.2.0/24' }),
      PoolOverlapError,
      'ERR_IPAM_POOL_OVERLAP',
      'conflict',
      /overlaps "10.0.0.0\/8"/,
    );
    await pool(ipam, { pool: '11.0.0.0/8' });
    await pool(ipam, { pool: '9.255.255.252/30' });
    await ipam.requestPool({ addressSpace: G, pool: '10.0.0.0/8', v6: false });
    await pool(ipam, { pool: '1003:1:2:3:4:5:6::/112' });
    await fails(
      pool(ipam, { pool: '1003:1:2:3::/64' }),
      PoolOverlapError,
      'ERR_IPAM_POOL_OVERLAP',
      'conflict',
    );
  });

  test('one subnet shared through different ip-ranges (moby), but not twice the same', async () => {
    const ipam = new DefaultIpam();
    const a = await pool(ipam, { pool: '10.0.0.0/8', subPool: '10.10.0.0/16' });
    await fails(
      pool(ipam, { pool: '10.0.0.0/8', subPool: '10.10.0.0/16' }),
      PoolOverlapError,
      'ERR_IPAM_POOL_OVERLAP',
      'conflict',
    );
    const b = await pool(ipam, { pool: '10.0.0.0/8', subPool: '10.10.0.0/17' });
    const c = await pool(ipam, { pool: '10.0.0.0/8', subPool: '10.11.0.0/16' });
    assert.equal(new Set([a.poolId, b.poolId, c.poolId]).size, 3);
    // the subnet without an ip-range, while ip-ranges hold it: overlap (moby)
    await fails(pool(ipam, { pool: '10.0.0.0/8' }), PoolOverlapError, 'ERR_IPAM_POOL_OVERLAP', 'conflict');
    // a new subnet with an ip-range is checked for overlap too (moby is not: moby/moby#46756)
    await fails(
      pool(ipam, { pool: '10.0.0.0/16', subPool: '10.0.0.0/24' }),
      PoolOverlapError,
      'ERR_IPAM_POOL_OVERLAP',
      'conflict',
    );
    // the shared subnet's addresses are shared: no duplicates across ip-ranges
    const x = await ipam.requestAddress(b.poolId);
    const y = await ipam.requestAddress(a.poolId);
    assert.notEqual(x.address, y.address);
    assert.equal(x.address, '10.10.0.0/8');
    assert.equal(y.address, '10.10.0.1/8');
  });

  test('a subnet held explicitly can take ip-ranges too, and lives until every holder released it', async () => {
    const ipam = new DefaultIpam();
    const whole = await pool(ipam, { pool: '172.20.0.0/16' });
    const part = await pool(ipam, { pool: '172.20.0.0/16', subPool: '172.20.1.0/24' });
    await ipam.requestAddress(whole.poolId, { address: '172.20.9.9' });
    await ipam.releasePool(whole.poolId);
    await fails(ipam.releasePool(whole.poolId), UnknownPoolError, 'ERR_IPAM_UNKNOWN_POOL', 'not-found');
    await fails(ipam.requestAddress(whole.poolId), UnknownPoolError, 'ERR_IPAM_UNKNOWN_POOL', 'not-found');
    await fails(
      ipam.requestAddress(part.poolId, { address: '172.20.9.9' }),
      AddressInUseError,
      'ERR_IPAM_ADDRESS_IN_USE',
      'conflict',
    );
    await ipam.releasePool(part.poolId);
    await fails(ipam.releasePool(part.poolId), UnknownPoolError, 'ERR_IPAM_UNKNOWN_POOL', 'not-found');
    // gone with its addresses: the subnet can be requested afresh
    const again = await pool(ipam, { pool: '172.20.0.0/16' });
    assert.equal(
      (await ipam.requestAddress(again.poolId, { address: '172.20.9.9' })).address,
      '172.20.9.9/16',
    );
  });

  test('invalid subnets', async () => {
    const ipam = new DefaultIpam();
    const cases: [string, RegExp][] = [
      ['172.18.0.0', /not a CIDR/],
      ['172.18.0.0/33', /not a CIDR/],
      ['172.18.0/16', /not a CIDR/],
      ['0x10.1.0.0/16', /not a CIDR/],
      ['172.18.0.0/016', /not a CIDR/],
      ['fe80::%eth0/64', /not a CIDR/],
      ['hello', /not a CIDR/],
      ['172.18.0.5/16', /host bits are set: did you mean 172\.18\.0\.0\/16/],
      ['2001:db8::1/64', /did you mean 2001:db8::\/64/],
    ];
    for (const [s, re] of cases) {
      await fails(pool(ipam, { pool: s }), InvalidSubnetError, 'ERR_IPAM_INVALID_SUBNET', 'invalid', re);
    }
  });

  test('invalid ip-ranges', async () => {
    const ipam = new DefaultIpam();
    const cases: [Partial<PoolRequest>, RegExp][] = [
      [{ subPool: '172.18.5.0/24' }, /needs a subnet/],
      [{ pool: '172.18.0.0/16', subPool: 'nope' }, /not a CIDR/],
      [{ pool: '172.18.0.0/16', subPool: '172.19.0.0/24' }, /not inside the subnet/],
      [{ pool: '172.18.0.0/16', subPool: '172.18.0.0/15' }, /not inside the subnet/],
      [{ pool: '172.18.0.0/16', subPool: '172.18.5.7/24' }, /did you mean 172\.18\.5\.0\/24/],
      [{ pool: '172.18.0.0/16', subPool: 'fd00::/64' }, /IPv6 and the subnet IPv4/],
    ];
    for (const [req, re] of cases) {
      await fails(pool(ipam, req), InvalidIpRangeError, 'ERR_IPAM_INVALID_IP_RANGE', 'invalid', re);
    }
    // nothing allocated by failed requests: the subnet is free
    await ipam.releasePool((await pool(ipam, { pool: '172.18.0.0/16' })).poolId);
  });

  test('releasePool: unknown and malformed IDs', async () => {
    const ipam = new DefaultIpam();
    await fails(
      ipam.releasePool('LocalDefault/172.18.0.0/16'),
      UnknownPoolError,
      'ERR_IPAM_UNKNOWN_POOL',
      'not-found',
    );
    await fails(
      ipam.releasePool('Other/172.18.0.0/16'),
      UnknownPoolError,
      'ERR_IPAM_UNKNOWN_POOL',
      'not-found',
    );
    for (const id of [
      '',
      'LocalDefault',
      'LocalDefault/172.18.0.0',
      'LocalDefault/172.18.0.5/16',
      'a/b/c/d',
      '/1.2.3.0/24',
    ]) {
      await fails(ipam.releasePool(id), InvalidPoolIdError, 'ERR_IPAM_INVALID_POOL_ID', 'invalid');
    }
    const a = await pool(ipam, { pool: '172.18.0.0/16' });
    await fails(
      ipam.releasePool(`${a.poolId}/172.18.1.0/24`),
      UnknownPoolError,
      'ERR_IPAM_UNKNOWN_POOL',
      'not-found',
      /not allocated/,
    );
    await fails(
      ipam.releasePool(`${a.poolId}/172.19.1.0/24`),
      InvalidPoolIdError,
      'ERR_IPAM_INVALID_POOL_ID',
      'invalid',
    );
  });
});

describe('DefaultIpam: addresses', () => {
  test('IPv4 /24: .1 to .254, never network or broadcast, then "no available addresses on this pool"', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '192.168.50.0/24' });
    const got = await addrs(ipam, poolId, 254);
    assert.equal(got[0], '192.168.50.1/24');
    assert.equal(got[253], '192.168.50.254/24');
    assert.equal(new Set(got).size, 254);
    await fails(
      ipam.requestAddress(poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
      /no available addresses on this pool/,
    );
  });

  test('network and broadcast addresses are refused by value, as address or gateway', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '10.1.0.0/16' });
    await fails(
      ipam.requestAddress(poolId, { address: '10.1.0.0' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /network address/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: '10.1.255.255' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /broadcast address/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: '10.1.255.255', options: GW }),
      InvalidGatewayError,
      'ERR_IPAM_INVALID_GATEWAY',
      'invalid',
      /broadcast/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: '10.2.0.1', options: GW }),
      InvalidGatewayError,
      'ERR_IPAM_INVALID_GATEWAY',
      'invalid',
      /outside the subnet/,
    );
    await fails(
      ipam.releaseAddress(poolId, '10.1.0.0'),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
    );
    await fails(
      ipam.releaseAddress(poolId, '10.1.255.255'),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
    );
  });

  test('/30: two hosts; /31: both addresses (RFC 3021); /32: the one address', async () => {
    const ipam = new DefaultIpam();
    const p30 = await pool(ipam, { pool: '10.9.0.0/30' });
    assert.deepEqual(await addrs(ipam, p30.poolId, 2), ['10.9.0.1/30', '10.9.0.2/30']);
    await fails(
      ipam.requestAddress(p30.poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
    await fails(
      ipam.requestAddress(p30.poolId, { address: '10.9.0.3' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
    );

    const p31 = await pool(ipam, { pool: '10.9.0.4/31' });
    assert.deepEqual(await addrs(ipam, p31.poolId, 2), ['10.9.0.4/31', '10.9.0.5/31']);
    await fails(
      ipam.requestAddress(p31.poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
    await ipam.releaseAddress(p31.poolId, '10.9.0.4');
    assert.equal(
      (await ipam.requestAddress(p31.poolId, { address: '10.9.0.4', options: GW })).address,
      '10.9.0.4/31',
    );

    const p32 = await pool(ipam, { pool: '10.9.0.6/32' });
    assert.deepEqual(await addrs(ipam, p32.poolId, 1), ['10.9.0.6/32']);
    await fails(
      ipam.requestAddress(p32.poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
    await ipam.releaseAddress(p32.poolId, '10.9.0.6');
    assert.equal((await ipam.requestAddress(p32.poolId, { address: '10.9.0.6' })).address, '10.9.0.6/32');
  });

  test('round robin: a released address comes back only after the others, with a wrap', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '10.3.0.0/29' }); // .1 - .6
    assert.deepEqual(await addrs(ipam, poolId, 3), ['10.3.0.1/29', '10.3.0.2/29', '10.3.0.3/29']);
    await ipam.releaseAddress(poolId, '10.3.0.2');
    assert.deepEqual(await addrs(ipam, poolId, 3), ['10.3.0.4/29', '10.3.0.5/29', '10.3.0.6/29']);
    assert.deepEqual(await addrs(ipam, poolId, 1), ['10.3.0.2/29'], 'after the wrap');
    await ipam.releaseAddress(poolId, '10.3.0.5');
    await ipam.releaseAddress(poolId, '10.3.0.1');
    assert.deepEqual(await addrs(ipam, poolId, 2), ['10.3.0.5/29', '10.3.0.1/29']);
  });

  test('serial option "false" (and serial: false) hands out the lowest free address; bad values refused', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '10.3.0.0/24' });
    await addrs(ipam, poolId, 5);
    await ipam.releaseAddress(poolId, '10.3.0.2');
    const lowest = await ipam.requestAddress(poolId, {
      options: { 'com.docker.network.ipam.serial': 'false' },
    });
    assert.equal(lowest.address, '10.3.0.2/24');
    assert.equal((await ipam.requestAddress(poolId)).address, '10.3.0.6/24', 'the cursor did not move');
    await assert.rejects(
      ipam.requestAddress(poolId, { options: { 'com.docker.network.ipam.serial': 'yes' } }),
      InvalidOptionError,
    );

    const ff = new DefaultIpam({ serial: false });
    const p = await pool(ff, { pool: '10.4.0.0/24' });
    await addrs(ff, p.poolId, 3);
    await ff.releaseAddress(p.poolId, '10.4.0.1');
    assert.equal((await ff.requestAddress(p.poolId)).address, '10.4.0.1/24');
    await ff.releaseAddress(p.poolId, '10.4.0.1');
    const rr = await ff.requestAddress(p.poolId, { options: { 'com.docker.network.ipam.serial': 'true' } });
    assert.equal(rr.address, '10.4.0.1/24', 'a serial request starts at the pool cursor (the start)');
  });

  test('specific addresses: in use, outside, not an IP, a CIDR, another family, IPv4-mapped', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '192.168.100.0/24' });
    assert.equal(
      (await ipam.requestAddress(poolId, { address: '192.168.100.250' })).address,
      '192.168.100.250/24',
    );
    await fails(
      ipam.requestAddress(poolId, { address: '192.168.100.250' }),
      AddressInUseError,
      'ERR_IPAM_ADDRESS_IN_USE',
      'conflict',
      /192\.168\.100\.250 is already in use/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: '172.17.0.23' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /outside/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: 'nope' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /not an IP/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: '192.168.100' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
    );
    await fails(
      ipam.requestAddress(poolId, { address: '192.168.100.7/24' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /without a prefix length/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: 'fd00::7' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /outside/,
    );
    assert.equal(
      (await ipam.requestAddress(poolId, { address: '::ffff:192.168.100.9' })).address,
      '192.168.100.9/24',
    );
    assert.equal(
      (await ipam.requestAddress(poolId, { address: '' })).address,
      '192.168.100.1/24',
      'empty: the next free one',
    );
  });

  test('releaseAddress errors', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '192.168.0.0/16', subPool: '192.168.0.0/24' });
    await fails(
      ipam.releaseAddress(poolId, '192.168.0.50'),
      AddressNotAllocatedError,
      'ERR_IPAM_ADDRESS_NOT_ALLOCATED',
      'not-found',
      /not allocated/,
    );
    await fails(
      ipam.releaseAddress(poolId, '10.0.0.1'),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /outside/,
    );
    await fails(ipam.releaseAddress(poolId, 'x'), InvalidAddressError, 'ERR_IPAM_INVALID_ADDRESS', 'invalid');
    await fails(
      ipam.releaseAddress('LocalDefault/10.0.0.0/8', '10.0.0.1'),
      UnknownPoolError,
      'ERR_IPAM_UNKNOWN_POOL',
      'not-found',
    );
    await fails(
      ipam.releaseAddress('junk', '10.0.0.1'),
      InvalidPoolIdError,
      'ERR_IPAM_INVALID_POOL_ID',
      'invalid',
    );
    await fails(ipam.requestAddress('junk'), InvalidPoolIdError, 'ERR_IPAM_INVALID_POOL_ID', 'invalid');
    await fails(ipam.requestAddress(''), InvalidPoolIdError, 'ERR_IPAM_INVALID_POOL_ID', 'invalid');
    await ipam.requestAddress(poolId, { address: '192.168.0.50' });
    await ipam.releaseAddress(poolId, '192.168.0.50');
    await fails(
      ipam.releaseAddress(poolId, '192.168.0.50'),
      AddressNotAllocatedError,
      'ERR_IPAM_ADDRESS_NOT_ALLOCATED',
      'not-found',
    );
  });

  test("ip-range: dynamic addresses only from it (its own first and last included, as moby's)", async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '172.28.0.0/16', subPool: '172.28.30.0/24' });
    const got = await addrs(ipam, poolId, 256);
    assert.equal(got[0], '172.28.30.0/16');
    assert.equal(got[255], '172.28.30.255/16');
    assert.ok(got.every((a) => a.startsWith('172.28.30.')));
    await fails(
      ipam.requestAddress(poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
      /172\.28\.30\.0\/24/,
    );
    await ipam.releaseAddress(poolId, '172.28.30.97');
    assert.equal((await ipam.requestAddress(poolId)).address, '172.28.30.97/16');
    // a specific address may be outside the range, inside the subnet (the gateway)
    assert.equal(
      (await ipam.requestAddress(poolId, { address: '172.28.0.1', options: GW })).address,
      '172.28.0.1/16',
    );
  });

  test('ip-range at the start of the subnet skips the network address', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '10.0.0.0/16', subPool: '10.0.0.0/24' });
    const got = await addrs(ipam, poolId, 255);
    assert.equal(got[0], '10.0.0.1/16');
    assert.equal(got[254], '10.0.0.255/16');
    await fails(
      ipam.requestAddress(poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
    const end = await pool(ipam, { pool: '10.1.0.0/16', subPool: '10.1.255.255/32' });
    await fails(
      ipam.requestAddress(end.poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
  });

  test('the gateway: next free, or a given one anywhere in the subnet; released as any address', async () => {
    const ipam = new DefaultIpam();
    const a = await pool(ipam, { pool: '172.18.0.0/16' });
    assert.equal((await ipam.requestAddress(a.poolId, { options: GW })).address, '172.18.0.1/16');
    assert.equal((await ipam.requestAddress(a.poolId)).address, '172.18.0.2/16');
    const b = await pool(ipam, { pool: '172.19.0.0/16', subPool: '172.19.5.0/24' });
    assert.equal(
      (await ipam.requestAddress(b.poolId, { address: '172.19.0.254', options: GW })).address,
      '172.19.0.254/16',
    );
    await ipam.releaseAddress(b.poolId, '172.19.0.254');
    assert.equal(
      (await ipam.requestAddress(b.poolId, { address: '172.19.0.254' })).address,
      '172.19.0.254/16',
    );
  });

  test("auxiliary addresses (Docker's aux-address): reserved by value, then skipped", async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '192.168.1.0/24', subPool: '192.168.1.0/29' });
    // as the controller does on network create: the gateway, then each aux address by value
    await ipam.requestAddress(poolId, { address: '192.168.1.1', options: GW });
    for (const aux of ['192.168.1.2', '192.168.1.4', '192.168.1.200']) {
      assert.equal((await ipam.requestAddress(poolId, { address: aux })).address, `${aux}/24`);
    }
    await fails(
      ipam.requestAddress(poolId, { address: '192.168.2.5' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
    );
    await fails(
      ipam.requestAddress(poolId, { address: '192.168.1.4' }),
      AddressInUseError,
      'ERR_IPAM_ADDRESS_IN_USE',
      'conflict',
    );
    // the ip-range's .0 is the subnet's network address: never handed out
    assert.deepEqual(await addrs(ipam, poolId, 4), [
      '192.168.1.3/24',
      '192.168.1.5/24',
      '192.168.1.6/24',
      '192.168.1.7/24',
    ]);
    await fails(
      ipam.requestAddress(poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
  });
});

describe('DefaultIpam: IPv6', () => {
  test('/64: ::1 first, no broadcast (the last address is a host), the first is reserved', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: 'fd00:1::/64' });
    assert.deepEqual(await addrs(ipam, poolId, 3), ['fd00:1::1/64', 'fd00:1::2/64', 'fd00:1::3/64']);
    const last = 'fd00:1::ffff:ffff:ffff:ffff';
    assert.equal((await ipam.requestAddress(poolId, { address: last })).address, `${last}/64`);
    await fails(
      ipam.requestAddress(poolId, { address: 'fd00:1::' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /subnet-router anycast/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: '10.0.0.1' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
    );
    await ipam.releaseAddress(poolId, 'fd00:1:0:0::2');
    assert.equal((await ipam.requestAddress(poolId)).address, 'fd00:1::4/64');
  });

  test('/120: ::1 to ::ff, then exhausted', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '2001:db8::100/120' });
    const got = await addrs(ipam, poolId, 255);
    assert.equal(got[0], '2001:db8::101/120');
    assert.equal(got[254], '2001:db8::1ff/120');
    await fails(
      ipam.requestAddress(poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
  });

  test('/127 and /128 use every address (RFC 6164)', async () => {
    const ipam = new DefaultIpam();
    const a = await pool(ipam, { pool: '2001:db8::/127' });
    assert.deepEqual(await addrs(ipam, a.poolId, 2), ['2001:db8::/127', '2001:db8::1/127']);
    const b = await pool(ipam, { pool: '2001:db8::5/128' });
    assert.deepEqual(await addrs(ipam, b.poolId, 1), ['2001:db8::5/128']);
    await fails(
      ipam.requestAddress(b.poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
  });

  test('huge pools (/8, /3) stay sparse and exact', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '2000::/3', subPool: '3fff:ffff:ffff:ffff::/64' });
    assert.equal((await ipam.requestAddress(poolId)).address, '3fff:ffff:ffff:ffff::/3');
    assert.equal(
      (await ipam.requestAddress(poolId, { address: '3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' })).address,
      '3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/3',
    );
    const big = await pool(ipam, { pool: 'fd00::/8' });
    for (let i = 0; i < 1000; i++) await ipam.requestAddress(big.poolId);
    assert.equal((await ipam.requestAddress(big.poolId)).address, 'fd00::3e9/8');
    await ipam.releaseAddress(big.poolId, 'fd00::1');
    assert.equal((await ipam.requestAddress(big.poolId, { options: LOWEST })).address, 'fd00::1/8');
    assert.equal((await ipam.requestAddress(big.poolId, { options: LOWEST })).address, 'fd00::3ea/8');
  });
});

describe('DefaultIpam: large pools (dense up to 2^24 addresses, sparse above)', () => {
  test('a /8: gateway, next addresses, the last host, reserved ends', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '10.0.0.0/8' });
    assert.equal((await ipam.requestAddress(poolId, { options: GW })).address, '10.0.0.1/8');
    assert.equal((await ipam.requestAddress(poolId)).address, '10.0.0.2/8');
    assert.equal(
      (await ipam.requestAddress(poolId, { address: '10.255.255.254' })).address,
      '10.255.255.254/8',
    );
    await fails(
      ipam.requestAddress(poolId, { address: '10.255.255.255' }),
      InvalidAddressError,
      'ERR_IPAM_INVALID_ADDRESS',
      'invalid',
      /broadcast/,
    );
    await fails(
      ipam.requestAddress(poolId, { address: '10.255.255.254' }),
      AddressInUseError,
      'ERR_IPAM_ADDRESS_IN_USE',
      'conflict',
    );
    assert.equal((await ipam.requestAddress(poolId)).address, '10.0.0.3/8');
  });

  test('a /16 filled through the API: the last free addresses, wrap-around, exhaustion', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '10.0.0.0/16' });
    for (let i = 0; i < 65_529; i++) await ipam.requestAddress(poolId);
    const got = await addrs(ipam, poolId, 5);
    assert.deepEqual(got, [
      '10.0.255.250/16',
      '10.0.255.251/16',
      '10.0.255.252/16',
      '10.0.255.253/16',
      '10.0.255.254/16',
    ]);
    await fails(
      ipam.requestAddress(poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
    await ipam.releaseAddress(poolId, '10.0.1.3');
    assert.equal(
      (await ipam.requestAddress(poolId)).address,
      '10.0.1.3/16',
      'found after wrapping over the whole subnet',
    );
    await fails(
      ipam.requestAddress(poolId),
      PoolExhaustedError,
      'ERR_IPAM_NO_AVAILABLE_ADDRESSES',
      'conflict',
    );
  });

  test('pools above 2^24 addresses (IPv4 /7, IPv6 /103 and /64) and at it (IPv6 /104) behave alike', async () => {
    const ipam = new DefaultIpam();
    for (const [subnet, v6, first, last] of [
      ['10.0.0.0/7', false, '10.0.0.1/7', '11.255.255.254'],
      ['fd00:7::/103', true, 'fd00:7::1/103', 'fd00:7::1ff:ffff'],
      ['fd00:8::/104', true, 'fd00:8::1/104', 'fd00:8::ff:ffff'],
      ['fd00:9::/64', true, 'fd00:9::1/64', 'fd00:9::ffff:ffff:ffff:ffff'],
    ] as const) {
      const { poolId } = await pool(ipam, { pool: subnet, v6 });
      assert.equal((await ipam.requestAddress(poolId)).address, first);
      await ipam.requestAddress(poolId, { address: last });
      assert.equal((await ipam.requestAddress(poolId)).address, first.replace(/1\//, '2/'));
      await ipam.releaseAddress(poolId, first.split('/')[0]!);
      await fails(
        ipam.requestAddress(poolId, { address: last }),
        AddressInUseError,
        'ERR_IPAM_ADDRESS_IN_USE',
        'conflict',
      );
      assert.equal((await ipam.requestAddress(poolId, { options: LOWEST })).address, first, subnet);
    }
  });
});

describe('DefaultIpam: concurrency', () => {
  test('1,000 concurrent requestAddress calls never duplicate', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '10.20.0.0/22' });
    const got = await Promise.all(Array.from({ length: 1000 }, () => ipam.requestAddress(poolId)));
    assert.equal(new Set(got.map((g) => g.address)).size, 1000);
  });

  test('concurrent requests and releases: no duplicates, exhaustion exact', async () => {
    const ipam = new DefaultIpam();
    const { poolId } = await pool(ipam, { pool: '10.21.0.0/24' });
    const results = await Promise.allSettled(Array.from({ length: 300 }, () => ipam.requestAddress(poolId)));
    const ok = results
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<{ address: string }>).value.address);
    const ko = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    assert.equal(ok.length, 254);
    assert.equal(new Set(ok).size, 254);
    assert.equal(ko.length, 46);
    assert.ok(ko.every((r) => r.reason instanceof PoolExhaustedError));
    const mixed = await Promise.all([
      ...ok.slice(0, 50).map((a) => ipam.releaseAddress(poolId, a.split('/')[0]!)),
      ...Array.from({ length: 50 }, () => ipam.requestAddress(poolId)),
    ]);
    const again = mixed.slice(50).map((m) => (m as { address: string }).address);
    assert.equal(new Set([...again, ...ok.slice(50)]).size, 254);
  });

  test('concurrent default pool requests with async host routes get distinct subnets', async () => {
    const ipam = new DefaultIpam({
      hostRoutes: async () => {
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        return ['172.17.0.0/16'];
      },
    });
    const got = await Promise.all(Array.from({ length: 20 }, () => pool(ipam)));
    const subnets = got.map((g) => g.pool);
    assert.equal(new Set(subnets).size, 20);
    assert.ok(!subnets.includes('172.17.0.0/16'));
  });
});
