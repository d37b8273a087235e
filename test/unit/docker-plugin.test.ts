/**
 * dnet's Docker plugin server without the kernel: request parsing (wire.ts), the IPAM ledger
 * (ipam.ts) on dnet's real built-in allocator, and the DOCKER-USER rule plan (pure).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DockerPluginRequestError } from '../../src/daemon/plugin/errors.ts';
import { DockerIpam } from '../../src/daemon/plugin/ipam.ts';
import { ipamData, portBindings, portMapOut, Req } from '../../src/daemon/plugin/wire.ts';
import { dnetRules, planDockerUser } from '../../src/drivers/bridge/docker-user.ts';
import { DefaultIpam } from '../../src/ipam/index.ts';
import type { NftRuleset } from '../../src/os/nftables/index.ts';

const GATEWAY = { RequestAddressType: 'com.docker.network.gateway' };

describe('requests', () => {
  test("Docker's port map becomes port bindings (6 tcp, 17 udp, 132 sctp; host port 0 = ephemeral)", () => {
    const r = Req.of('NetworkDriver.CreateEndpoint', {
      pm: [
        { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
        { Proto: 17, Port: 53, HostIP: '127.0.0.1', HostPort: 0, HostPortEnd: 0 },
        { Proto: 132, Port: 9, HostPort: 9000, HostPortEnd: 9005 },
      ],
    });
    assert.deepEqual(portBindings(r, 'pm'), [
      { proto: 'tcp', port: 80, hostPort: 8080 },
      { proto: 'udp', port: 53, hostIP: '127.0.0.1' },
      { proto: 'sctp', port: 9, hostPort: 9000, hostPortEnd: 9005 },
    ]);
    assert.deepEqual(
      portMapOut({
        proto: 'udp',
        port: 53,
        containerIP: '10.0.0.2',
        hostIP: '0.0.0.0',
        hostPort: 5353,
        hostPortEnd: 5353,
      }),
      { Proto: 17, IP: '10.0.0.2', Port: 53, HostIP: '0.0.0.0', HostPort: 5353, HostPortEnd: 5353 },
    );
  });

  test('a field of the wrong type is an error naming the field and the value', () => {
    const cases: [unknown, RegExp][] = [
      [
        { pm: [{ Proto: 1, Port: 80 }] },
        /"pm\[0\]\.Proto" is not 6 \(tcp\), 17 \(udp\) or 132 \(sctp\) \(got 1\)/,
      ],
      [{ pm: [{ Proto: 6, Port: 70000 }] }, /"pm\[0\]\.Port" is not an integer from 1 to 65535/],
      [{ pm: [{ Proto: 6, Port: 80, HostIP: 'x' }] }, /"pm\[0\]\.HostIP" is not an IPv4\/IPv6 address/],
      [{ pm: 'no' }, /"pm" is not an array/],
      [{ pm: [7] }, /"pm\[0\]" is not an object/],
    ];
    for (const [body, re] of cases) {
      assert.throws(
        () => portBindings(Req.of('M', body), 'pm'),
        (e: unknown) => e instanceof DockerPluginRequestError && re.test(e.message),
        JSON.stringify(body),
      );
    }
    assert.throws(() => Req.of('M', [1]), /the body is not a JSON object/);
    assert.throws(() => Req.of('M', { NetworkID: '../x' }).id('NetworkID'), /is not an ID/);
  });

  test('IPAM data: pools, gateways and auxiliary addresses checked by family', () => {
    const r = Req.of('NetworkDriver.CreateNetwork', {
      IPv4Data: [
        {
          AddressSpace: 'LocalDefault',
          Pool: '10.66.0.0/24',
          Gateway: '10.66.0.1/24',
          AuxAddresses: { a: '10.66.0.9/24' },
        },
      ],
      IPv6Data: [{ Pool: '10.1.0.0/24' }],
    });
    assert.deepEqual(ipamData(r, 'IPv4Data', 4), [
      {
        addressSpace: 'LocalDefault',
        pool: '10.66.0.0/24',
        gateway: '10.66.0.1/24',
        auxAddresses: { a: '10.66.0.9/24' },
      },
    ]);
    assert.throws(() => ipamData(r, 'IPv6Data', 6), /"IPv6Data\[0\]\.Pool" is not an IPv6 CIDR/);
  });

  test("generic options: Docker's strings, numbers and booleans become strings", () => {
    const r = Req.of('M', { o: { a: 'x', b: 1400, c: false } });
    assert.deepEqual(r.scalarMap('o'), { a: 'x', b: '1400', c: 'false' });
    assert.throws(() => Req.of('M', { o: { a: {} } }).scalarMap('o'), /"o\.a" is not a string/);
  });
});

describe("IPAM dnet: Docker's allocations held in dnet's allocator", () => {
  test('pool, gateway and addresses are real allocations until the network takes them over', async () => {
    const base = new DefaultIpam({ hostRoutes: () => [] });
    const ipam = new DockerIpam(async () => base);
    const pool = await ipam.requestPool({
      addressSpace: 'LocalDefault',
      pool: '10.66.0.0/24',
      options: {},
      v6: false,
    });
    assert.deepEqual(pool, { poolId: 'LocalDefault/10.66.0.0/24', pool: '10.66.0.0/24' });
    // Held: nobody else gets it, Docker's replay of the same request neither.
    await assert.rejects(base.requestPool({ addressSpace: 'LocalDefault', pool: '10.66.0.0/25', v6: false }));
    await assert.rejects(
      ipam.requestPool({ addressSpace: 'LocalDefault', pool: '10.66.0.0/24', options: {}, v6: false }),
    );
    assert.equal(await ipam.requestAddress(pool.poolId, undefined, GATEWAY), '10.66.0.1/24');
    assert.equal(ipam.heldCount(), 2);
    // CreateNetwork: handed over; the network (here: the base allocator directly) takes them again.
    assert.deepEqual(await ipam.handOverPool('10.66.0.0/24'), {});
    assert.equal(ipam.heldCount(), 0);
    const again = await base.requestPool({ addressSpace: 'LocalDefault', pool: '10.66.0.0/24', v6: false });
    assert.equal(again.poolId, pool.poolId, 'the same pool ID Docker keeps using');
    await base.requestAddress(again.poolId, { address: '10.66.0.1' });
    // An endpoint's address: held, then handed over to the endpoint.
    assert.equal(await ipam.requestAddress(pool.poolId, undefined, {}), '10.66.0.2/24');
    await ipam.handOverAddress('10.66.0.2');
    assert.equal(ipam.heldCount(), 0);
    await base.requestAddress(pool.poolId, { address: '10.66.0.2' });
    // Docker's releases after the endpoint and network went: nothing held, nothing released twice.
    await ipam.releaseAddress(pool.poolId, '10.66.0.2');
    await ipam.releasePool(pool.poolId);
    await assert.rejects(base.requestAddress(pool.poolId, { address: '10.66.0.2' }), "still the endpoint's");
  });

  test('a network never created: ReleaseAddress and ReleasePool give everything back', async () => {
    const base = new DefaultIpam({ hostRoutes: () => [] });
    const ipam = new DockerIpam(async () => base);
    const p = await ipam.requestPool({ addressSpace: '', options: {}, v6: false });
    const gw = await ipam.requestAddress(p.poolId, undefined, GATEWAY);
    await ipam.releaseAddress(p.poolId, gw.split('/')[0]!);
    await ipam.releasePool(p.poolId);
    assert.equal(ipam.heldCount(), 0);
    const same = await base.requestPool({ addressSpace: 'LocalDefault', pool: p.pool, v6: false });
    assert.equal(same.pool, p.pool, 'free again');
  });
});

describe('DOCKER-USER rules (plan)', () => {
  const listing = (rules: NftRuleset['rules'], chain = true): NftRuleset => ({
    version: '1.0.6',
    tables: [{ family: 'ip', name: 'filter', handle: 1 }],
    chains: chain ? [{ family: 'ip', table: 'filter', name: 'DOCKER-USER', handle: 2 }] : [],
    rules,
    sets: [],
    maps: [],
    other: [],
  });
  const rule = (handle: number, dir: string, name: string, comment?: string) => ({
    family: 'ip' as const,
    table: 'filter',
    chain: 'DOCKER-USER',
    handle,
    ...(comment ? { comment } : {}),
    expr: [{ match: { op: '==', left: { meta: { key: dir } }, right: name } }, { accept: null }],
  });

  test("only rules with dnet's comment are dnet's; no chain, no Docker", () => {
    assert.equal(dnetRules(listing([], false)), undefined);
    const have = dnetRules(
      listing([
        rule(5, 'iifname', 'br-a', 'dnet'),
        rule(6, 'oifname', 'br-a', 'dnet'),
        rule(7, 'iifname', 'br-a'),
        { ...rule(8, 'iifname', 'x', 'dnet'), chain: 'FORWARD' },
      ]),
    );
    assert.deepEqual(
      [...(have ?? [])],
      [
        ['iifname br-a', 5],
        ['oifname br-a', 6],
      ],
    );
  });

  test('missing rules inserted, stale ones deleted by handle, nothing when in place', () => {
    const have = new Map([
      ['iifname br-a', 5],
      ['oifname br-a', 6],
      ['iifname old', 9],
      ['oifname old', 10],
    ]);
    const cmds = planDockerUser('ip', have, { add: ['br-a', 'br-b'], remove: 'others' });
    assert.deepEqual(cmds, [
      {
        insert: {
          rule: {
            family: 'ip',
            table: 'filter',
            chain: 'DOCKER-USER',
            comment: 'dnet',
            expr: [
              { match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'br-b' } },
              { accept: null },
            ],
          },
        },
      },
      {
        insert: {
          rule: {
            family: 'ip',
            table: 'filter',
            chain: 'DOCKER-USER',
            comment: 'dnet',
            expr: [
              { match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'br-b' } },
              { accept: null },
            ],
          },
        },
      },
      { delete: { rule: { family: 'ip', table: 'filter', chain: 'DOCKER-USER', handle: 9 } } },
      { delete: { rule: { family: 'ip', table: 'filter', chain: 'DOCKER-USER', handle: 10 } } },
    ]);
    assert.deepEqual(planDockerUser('ip', have, { add: ['br-a'], remove: [] }), []);
    assert.deepEqual(
      planDockerUser('ip', have, { add: [], remove: ['br-a'] }).map((c) => ('delete' in c ? c.delete : c)),
      [
        { rule: { family: 'ip', table: 'filter', chain: 'DOCKER-USER', handle: 5 } },
        { rule: { family: 'ip', table: 'filter', chain: 'DOCKER-USER', handle: 6 } },
      ],
    );
  });
});
