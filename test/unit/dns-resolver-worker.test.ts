/**
 * The resolver with its worker thread, on loopback sockets of the test's own (made with the same
 * libc calls as a sandbox's, on 127.0.0.1 here): a join answers once settled() resolved, over UDP
 * and TCP; names added directly (other hosts' endpoints) answer too; the last leave closes the
 * sockets; a join whose sockets cannot be made changes nothing; close() stops the worker.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { Resolver, type ResolverEndpoint } from '../../src/dns/resolver/resolver.ts';
import {
  AF_INET,
  bind,
  getsockname,
  listen,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  socket,
} from '../../src/os/ffi/libc.ts';

function loopbackSockets() {
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(AF_INET, 0);
  Buffer.from([127, 0, 0, 1]).copy(addr, 4);
  const udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  bind(udp, addr);
  const tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  bind(tcp, addr);
  listen(tcp, 16);
  const port = (fd: number) => getsockname(fd, 16).readUInt16BE(2);
  return { udp, tcp, udpPort: port(udp), tcpPort: port(tcp) };
}

type Reply = DecodedPacket & { rcode?: string };

const q = (name: string) =>
  dnsPacket.encode({
    type: 'query',
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'A', name }],
  });

/** The answer over UDP, or undefined when none came in `ms`. */
function askUdp(port: number, name: string, ms = 1000): Promise<Reply | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (p: Reply | undefined) => {
      clearTimeout(t);
      s.close();
      resolve(p);
    };
    const t = setTimeout(() => done(undefined), ms);
    s.on('error', () => done(undefined));
    s.on('message', (m) => done(dnsPacket.decode(m) as Reply));
    s.send(q(name), port, '127.0.0.1');
  });
}

function askTcp(port: number, name: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const msg = q(name);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(msg.length);
    const c = net.connect(port, '127.0.0.1', () => c.write(Buffer.concat([len, msg])));
    let buf = Buffer.alloc(0);
    c.on('error', reject);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        c.destroy();
        resolve(dnsPacket.decode(buf.subarray(2)) as Reply);
      }
    });
  });
}

const addresses = (p: Reply | undefined) =>
  (p?.answers ?? []).map((a) => (a as { data: unknown }).data as string);

const ep = (key: string, names: string[], ipv4: string): ResolverEndpoint => ({
  networkId: 'n1',
  networkName: 'front',
  key,
  internal: false,
  record: { names, ipv4 },
});

describe('resolver with its worker thread', () => {
  const r = new Resolver();
  after(() => r.close());
  let ports = { udpPort: 0, tcpPort: 0 };

  test('a join answers once settled, over UDP and TCP; stats come from the worker', async () => {
    r.join(
      'sb1',
      ep('e1', ['web'], '10.0.0.2'),
      () => {
        const s = loopbackSockets();
        ports = s;
        return s;
      },
      [],
    );
    assert.equal(r.serves('sb1'), true);
    await r.settled();
    assert.deepEqual(addresses(await askUdp(ports.udpPort, 'web')), ['10.0.0.2']);
    assert.deepEqual(addresses(await askTcp(ports.tcpPort, 'web')), ['10.0.0.2']);
    const st = r.stats();
    assert.equal(st.answered, 2);
    assert.equal(st.sandboxes, 1);
  });

  test('names added directly (other hosts) answer on their network; removed, they are gone', async () => {
    r.names.add('n1', 'front', 'remote1', { names: ['far'], ipv4: '10.0.0.9' });
    await r.settled();
    assert.deepEqual(addresses(await askUdp(ports.udpPort, 'far')), ['10.0.0.9']);
    r.names.remove('n1', 'remote1');
    await r.settled();
    const p = await askUdp(ports.udpPort, 'far');
    assert.equal(p?.rcode, 'NXDOMAIN', 'no upstream: a single label not known is NXDOMAIN');
  });

  test('a join whose sockets cannot be made changes nothing', async () => {
    assert.throws(
      () =>
        r.join(
          'sb2',
          ep('e2', ['api'], '10.0.0.3'),
          () => {
            throw new Error('no sockets');
          },
          [],
        ),
      /no sockets/,
    );
    assert.equal(r.serves('sb2'), false);
    await r.settled();
    assert.equal((await askUdp(ports.udpPort, 'api'))?.rcode, 'NXDOMAIN');
  });

  test('the last leave closes the sockets: no answer any more', async () => {
    r.leave('sb1', 'n1', 'e1');
    assert.equal(r.serves('sb1'), false);
    await r.settled();
    assert.equal(await askUdp(ports.udpPort, 'web', 300), undefined);
    assert.equal(r.stats().sandboxes, 0);
  });

  test('close stops the worker; later changes are ignored and settle at once', async () => {
    await r.close();
    await r.close();
    r.names.add('n1', 'front', 'late', { names: ['late'], ipv4: '10.0.0.7' });
    await r.settled();
    assert.equal(r.serves('sb1'), false);
  });
});
