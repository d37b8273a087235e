/**
 * The embedded resolver's pure parts: answers (answer.ts) against a name table, reverse names,
 * the internal-resolver resolv.conf, and the forwarder's bounds against loopback UDP servers of
 * the test's own. A fuzz run checks that no input makes answerQuery throw.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, test } from 'node:test';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import fc from 'fast-check';
import { buildResolvConf } from '../../src/dns/resolv-conf.ts';
import {
  addressOfReverseName,
  answerQuery,
  type Outcome,
  type QueryScope,
  RESPONSE_TTL,
} from '../../src/dns/resolver/answer.ts';
import { Forwarder, parseUpstream } from '../../src/dns/resolver/forwarder.ts';
import { NameTable } from '../../src/dns/resolver/names.ts';

function table(): NameTable {
  const t = new NameTable();
  t.add('n1', 'front', 'e1', {
    names: ['web', 'www', 'Pool'],
    ipv4: '10.0.0.2',
    ipv6: 'fd00::2',
    ptrName: 'web',
  });
  t.add('n1', 'front', 'e2', { names: ['api', 'pool'], ipv4: '10.0.0.3' });
  t.add('n1', 'front', 'e3', { names: ['pool'], ipv4: '10.0.0.4' });
  t.add('n2', 'back', 'e4', { names: ['db'], ipv4: '10.1.0.2' });
  return t;
}

const scope1: QueryScope = { networks: ['n1'], canForward: true };

function query(name: string, type: string, opts: { edns?: number; flags?: number } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 4242,
    flags: opts.flags ?? dnsPacket.RECURSION_DESIRED,
    questions: [{ type: type as 'A', name, class: 'IN' }],
    ...(opts.edns
      ? {
          additionals: [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: opts.edns,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
        }
      : {}),
  });
}

function replyOf(o: Outcome): DecodedPacket & { rcode?: string } {
  assert.equal(o.kind, 'reply');
  return dnsPacket.decode((o as { packet: Buffer }).packet) as DecodedPacket & { rcode?: string };
}

const ask = (name: string, type: string, scope = scope1, t = table(), proto: 'udp' | 'tcp' = 'udp') =>
  answerQuery(query(name, type), scope, t, { proto });

describe('answers', () => {
  test('A, AAAA, ANY for a name on the client’s network, TTL 600, AA and RA set, question echoed', () => {
    const r = replyOf(ask('WEB.', 'A'));
    assert.equal(r.id, 4242);
    assert.equal(r.rcode, 'NOERROR');
    assert.ok(r.flag_aa && r.flag_ra && r.flag_rd);
    assert.deepEqual(r.questions, [{ name: 'WEB', type: 'A', class: 'IN' }]);
    assert.deepEqual(
      r.answers?.map((a) => [a.type, (a as { data: string }).data, (a as { ttl: number }).ttl]),
      [['A', '10.0.0.2', RESPONSE_TTL]],
    );
    assert.deepEqual(
      replyOf(ask('web', 'AAAA')).answers?.map((a) => (a as { data: string }).data),
      ['fd00::2'],
    );
    assert.equal(replyOf(ask('web', 'ANY')).answers?.length, 2);
  });

  test('NODATA: a known name without an address of the family, or another type', () => {
    for (const [n, t] of [
      ['api', 'AAAA'],
      ['web', 'MX'],
      ['web', 'TXT'],
    ] as const) {
      const r = replyOf(ask(n, t));
      assert.equal(r.rcode, 'NOERROR', `${n} ${t}`);
      assert.deepEqual(r.answers, []);
    }
  });

  test('name.network: that network only; NXDOMAIN when it lacks the name; other networks out of scope', () => {
    assert.equal(replyOf(ask('web.front', 'A')).answers?.length, 1);
    assert.equal(replyOf(ask('nope.front', 'A')).rcode, 'NXDOMAIN');
    assert.equal(ask('db', 'A').kind, 'forward', 'db is on n2 only: not answered here');
    assert.equal(ask('db.back', 'A').kind, 'forward');
    const both: QueryScope = { networks: ['n1', 'n2'], canForward: true };
    assert.equal(replyOf(ask('db', 'A', both)).answers?.length, 1);
  });

  test('an alias shared by several endpoints: every address, rotated by turn', () => {
    const t = table();
    const first = new Set<string>();
    for (let turn = 0; turn < 3; turn++) {
      const r = replyOf(answerQuery(query('pool', 'A'), scope1, t, { proto: 'udp', turn }));
      const ips = r.answers?.map((a) => (a as { data: string }).data) ?? [];
      assert.deepEqual([...ips].sort(), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
      first.add(ips[0] ?? '');
    }
    assert.equal(first.size, 3);
  });

  test('PTR for v4 and v6 addresses: <name>.<network>.', () => {
    const v4 = replyOf(ask('2.0.0.10.in-addr.arpa', 'PTR'));
    assert.equal((v4.answers?.[0] as { data: string }).data, 'web.front');
    const nib = '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa';
    assert.equal((replyOf(ask(nib, 'PTR')).answers?.[0] as { data: string }).data, 'web.front');
    assert.equal(ask('9.9.9.9.in-addr.arpa', 'PTR').kind, 'forward');
    assert.equal(addressOfReverseName('1.2.3.4.in-addr.arpa.'), '4.3.2.1');
    assert.equal(addressOfReverseName('256.2.3.4.in-addr.arpa'), undefined);
    assert.equal(addressOfReverseName('1.2.3.in-addr.arpa'), undefined);
    assert.equal(addressOfReverseName('x.ip6.arpa'), undefined);
  });

  test('without upstreams (internal networks): single labels NXDOMAIN, others SERVFAIL', () => {
    const closed: QueryScope = { networks: ['n1'], canForward: false };
    assert.equal(replyOf(ask('unknown', 'A', closed)).rcode, 'NXDOMAIN');
    assert.equal(replyOf(ask('example.com', 'A', closed)).rcode, 'SERVFAIL');
  });

  test('bad input: short and response messages dropped, FORMERR, NOTIMP', () => {
    assert.equal(answerQuery(Buffer.alloc(5), scope1, table(), { proto: 'udp' }).kind, 'drop');
    const resp = query('web', 'A', { flags: 0x8000 });
    resp.writeUInt16BE(0x8100, 2);
    assert.equal(answerQuery(resp, scope1, table(), { proto: 'udp' }).kind, 'drop');
    const garbage = Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff]);
    const fe = (answerQuery(garbage, scope1, table(), { proto: 'udp' }) as { packet: Buffer }).packet;
    assert.equal(fe.readUInt16BE(0), 7);
    assert.equal(fe.readUInt16BE(2) & 0xf, 1);
    const update = query('web', 'A');
    update.writeUInt16BE(0x2800, 2);
    const ni = (answerQuery(update, scope1, table(), { proto: 'udp' }) as { packet: Buffer }).packet;
    assert.equal(ni.readUInt16BE(2) & 0xf, 4);
    const two = dnsPacket.encode({
      type: 'query',
      id: 9,
      questions: [
        { type: 'A', name: 'web' },
        { type: 'A', name: 'api' },
      ],
    });
    assert.equal(replyOf(answerQuery(two, scope1, table(), { proto: 'udp' })).rcode, 'FORMERR');
  });

  test('truncation: 512 bytes without EDNS, the EDNS size with it, no limit over TCP', () => {
    const t = new NameTable();
    for (let i = 0; i < 60; i++)
      t.add('n1', 'front', `e${i}`, { names: ['many'], ipv4: `10.0.${i >> 8}.${i & 255}` });
    const udp = answerQuery(query('many', 'A'), scope1, t, { proto: 'udp' }) as { packet: Buffer };
    assert.ok(udp.packet.length <= 512);
    const d = dnsPacket.decode(udp.packet);
    assert.ok(d.flag_tc);
    assert.ok((d.answers?.length ?? 0) > 0 && (d.answers?.length ?? 0) < 60);
    const edns = answerQuery(query('many', 'A', { edns: 4096 }), scope1, t, { proto: 'udp' }) as {
      packet: Buffer;
    };
    const de = dnsPacket.decode(edns.packet);
    assert.equal(de.flag_tc, false);
    assert.equal(de.answers?.length, 60);
    assert.ok(de.additionals?.some((a) => a.type === 'OPT'));
    const tcp = answerQuery(query('many', 'A'), scope1, t, { proto: 'tcp' }) as { packet: Buffer };
    assert.equal(dnsPacket.decode(tcp.packet).answers?.length, 60);
  });

  test('fuzz: no input makes answerQuery throw; every reply decodes and keeps the query ID', () => {
    const t = table();
    const valid = query('web', 'A');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 600 }).map((a) => Buffer.from(a)),
          fc
            .tuple(fc.nat(valid.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 }))
            .map(([at, bytes]) => {
              const b = Buffer.from(valid);
              Buffer.from(bytes).copy(b, at);
              return b;
            }),
        ),
        fc.constantFrom<'udp' | 'tcp'>('udp', 'tcp'),
        (msg, proto) => {
          const o = answerQuery(msg, { networks: ['n1', 'n2'], canForward: false }, t, { proto });
          assert.notEqual(o.kind, 'forward');
          if (o.kind === 'reply') {
            assert.equal(o.packet.readUInt16BE(0), msg.readUInt16BE(0));
            assert.ok(o.packet.readUInt16BE(2) & 0x8000, 'QR set');
            if (proto === 'udp') assert.ok(o.packet.length <= 4096);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('name table', () => {
  test('replace and remove keep the indexes right', () => {
    const t = table();
    t.add('n1', 'front', 'e1', { names: ['web2'], ipv4: '10.0.0.9' });
    assert.equal(t.lookup('n1', 'web'), undefined);
    assert.deepEqual(t.lookup('n1', 'web2'), { v4: ['10.0.0.9'], v6: [] });
    assert.equal(t.reverse('n1', '10.0.0.2'), undefined);
    assert.equal(t.reverse('n1', '10.0.0.9'), 'web2.front');
    assert.ok(t.remove('n1', 'e2'));
    assert.equal(t.remove('n1', 'e2'), false);
    assert.deepEqual(t.lookup('n1', 'pool'), { v4: ['10.0.0.4'], v6: [] });
    assert.equal(t.size, 3);
  });
});

describe('resolv.conf for the internal resolver', () => {
  test('127.0.0.11 only, host servers as ExtServers (loopback marked host()), ndots:0 added', () => {
    const r = buildResolvConf('nameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp.example\n', {
      internalResolver: '127.0.0.11',
      header: null,
    });
    assert.equal(
      r.content,
      'nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n\n' +
        "# Based on host file: '/etc/resolv.conf' (internal resolver)\n" +
        '# ExtServers: [host(127.0.0.53) 10.1.1.1]\n# Overrides: []\n# Option ndots from: internal\n',
    );
    assert.deepEqual(r.extServers, ['127.0.0.53', '10.1.1.1']);
  });

  test('--dns overrides the upstreams; a host ndots is kept; no servers at all: the defaults', () => {
    const r = buildResolvConf('nameserver 10.1.1.1\noptions ndots:2 edns0\n', {
      internalResolver: '127.0.0.11',
      dns: ['192.0.2.1'],
    });
    assert.deepEqual(r.extServers, ['192.0.2.1']);
    assert.deepEqual(r.nameservers, ['127.0.0.11']);
    assert.deepEqual(r.options, ['ndots:2', 'edns0']);
    assert.match(r.content, /# Overrides: \[nameservers\]/);
    const empty = buildResolvConf('', { internalResolver: '127.0.0.11' });
    assert.deepEqual(empty.extServers, ['8.8.8.8', '8.8.4.4']);
    assert.ok(empty.usedDefaultNameservers);
  });
});

describe('forwarder', () => {
  async function server(answer: boolean): Promise<{ port: number; close: () => void; got: number[] }> {
    const s = dgram.createSocket('udp4');
    const got: number[] = [];
    s.on('message', (m, r) => {
      got.push(m.readUInt16BE(0));
      if (!answer) return;
      const out = Buffer.from(m);
      out.writeUInt16BE(out.readUInt16BE(2) | 0x8000, 2);
      s.send(out, r.port, r.address);
    });
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
    return { port: s.address().port, close: () => s.close(), got };
  }

  test('parseUpstream', () => {
    assert.deepEqual(parseUpstream('10.0.0.1'), { address: '10.0.0.1', port: 53 });
    assert.deepEqual(parseUpstream('[::1]:5353'), { address: '::1', port: 5353 });
    assert.deepEqual(parseUpstream('127.0.0.1:5353'), { address: '127.0.0.1', port: 5353 });
    assert.equal(parseUpstream('nope'), undefined);
    assert.equal(parseUpstream('1.2.3.4:0'), undefined);
  });

  test('the answer comes back with the client’s ID (a random one went upstream)', async () => {
    const up = await server(true);
    const f = new Forwarder({ timeoutMs: 1000 });
    const r = await f.forward(query('example.com', 'A'), [{ address: '127.0.0.1', port: up.port }], 'udp');
    assert.ok(r instanceof Buffer);
    assert.equal(r.readUInt16BE(0), 4242);
    assert.equal(f.inFlight, 0);
    up.close();
  });

  test('a silent upstream times out; the next one answers; beyond maxInFlight: busy at once', async () => {
    const silent = await server(false);
    const ok = await server(true);
    const f = new Forwarder({ timeoutMs: 100, maxInFlight: 2 });
    const ups = [
      { address: '127.0.0.1', port: silent.port },
      { address: '127.0.0.1', port: ok.port },
    ];
    const a = f.forward(query('a.example', 'A'), ups, 'udp');
    const b = f.forward(query('b.example', 'A'), ups, 'udp');
    assert.equal(await f.forward(query('c.example', 'A'), ups, 'udp'), 'busy');
    assert.ok((await a) instanceof Buffer);
    assert.ok((await b) instanceof Buffer);
    assert.equal(f.refused, 1);
    assert.equal(await f.forward(query('d.example', 'A'), [ups[0] as (typeof ups)[0]], 'udp'), undefined);
    assert.equal(f.failed, 1);
    silent.close();
    ok.close();
  });
});
