// The world first: everything below runs in a throwaway network namespace (loopback only). A bare
// import, so organizing imports keeps it above the others (it re-executes this file in the world).
import '../harness/world.ts';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, describe, test } from 'node:test';
import {
  InvalidPortBindingError,
  ProxyAddressInUseError,
  ProxyAddressNotAvailableError,
  type ProxyHandle,
  ProxyProtocolUnsupportedError,
  startProxy,
} from '../../src/portmapper/index.ts';

// The "container" listens on 127.0.0.2, the proxy on 127.0.0.1 (all of 127/8 is local on lo).
const CONTAINER = '127.0.0.2';
const HOST = '127.0.0.1';

const openFds = () => readdirSync('/proc/self/fd').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const servers: { close(): unknown }[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function tcpServer(port: number, onConn: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, onConn);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: CONTAINER, port }, () => resolve());
  });
  servers.push(server);
  return server;
}

function connect(port: number, host = HOST): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Everything the socket sends until its FIN (or close). */
function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

function readN(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const on = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        s.off('data', on);
        resolve(Buffer.concat(chunks));
      }
    };
    s.on('data', on);
  });
}

function closed(s: net.Socket | dgram.Socket): Promise<void> {
  return new Promise((r) => s.once('close', () => r()));
}

/** A server that echoes everything and ends when the client does. */
const echo = (s: net.Socket) => {
  s.on('error', () => {});
  s.pipe(s);
};

async function proxy(hostPort: number, containerPort: number, extra = {}): Promise<ProxyHandle> {
  return startProxy({
    proto: 'tcp',
    hostIP: HOST,
    hostPort,
    containerIP: CONTAINER,
    containerPort,
    ...extra,
  });
}

describe('TCP proxy', () => {
  test('data both ways, and a half-close from the client', async () => {
    let received = '';
    await tcpServer(7001, (s) => {
      s.write('hello\n');
      s.on('data', (c: Buffer) => {
        received += c.toString();
      });
      // After the client's FIN the container still answers: the proxy must carry it back.
      s.on('end', () => s.end(`got ${received.length} bytes`));
    });
    const p = await proxy(8001, 7001);
    assert.deepEqual(
      [p.proto, p.hostIP, p.hostPort, p.containerIP, p.containerPort],
      ['tcp', HOST, 8001, CONTAINER, 7001],
    );
    const c = await connect(8001);
    const gone = closed(c);
    const all = readAll(c);
    c.write('abc');
    c.end('def');
    assert.equal((await all).toString(), 'hello\ngot 6 bytes');
    assert.equal(received, 'abcdef');
    await gone;
    await until('the pair to go', () => p.active() === 0);
    await p.close();
  });

  test('a half-close from the container: the client may still send', async () => {
    let late: Promise<string> | undefined;
    await tcpServer(7002, (s) => {
      late = new Promise((resolve) => {
        let got = '';
        s.on('data', (c: Buffer) => {
          got += c.toString();
        });
        s.on('end', () => {
          resolve(got);
          s.destroy();
        });
      });
      s.end('early');
    });
    const p = await proxy(8002, 7002);
    const c = await connect(8002);
    const gone = closed(c);
    assert.equal((await readAll(c)).toString(), 'early');
    assert.ok(!c.destroyed && c.writable, 'the client half is still open after the FIN');
    c.end('late data');
    assert.equal(await late, 'late data');
    await gone;
    await p.close();
  });

  test('8 MiB through the proxy and back (backpressure both ways)', async () => {
    await tcpServer(7003, echo);
    const p = await proxy(8003, 7003);
    const data = randomBytes(8 << 20);
    const c = await connect(8003);
    const back = readAll(c);
    c.end(data);
    const got = await back;
    assert.equal(got.length, data.length);
    assert.ok(got.equals(data));
    await p.close();
  });

  test('many concurrent connections, each with its own data', async () => {
    await tcpServer(7004, echo);
    const p = await proxy(8004, 7004);
    const N = 200;
    const conns = await Promise.all(Array.from({ length: N }, () => connect(8004)));
    // One round trip each, so every pair is up.
    await Promise.all(
      conns.map(async (c, i) => {
        const msg = Buffer.from(`conn ${i}\n`);
        const r = readN(c, msg.length);
        c.write(msg);
        assert.equal((await r).toString(), msg.toString());
      }),
    );
    assert.equal(p.active(), N);
    const results = await Promise.all(
      conns.map(async (c, i) => {
        const payload = Buffer.concat([Buffer.from(`#${i}#`), randomBytes(20_000)]);
        const r = readAll(c);
        c.end(payload);
        return (await r).equals(payload);
      }),
    );
    assert.ok(results.every(Boolean));
    await until('every pair to close', () => p.active() === 0);
    await p.close();
  });

  test('close() tears down the listener and every connection, and frees the port', async () => {
    const server = await tcpServer(7005, echo);
    const p = await proxy(8005, 7005);
    const conns = await Promise.all(Array.from({ length: 10 }, () => connect(8005)));
    await Promise.all(
      conns.map(async (c) => {
        const r = readN(c, 2);
        c.write('hi');
        await r;
      }),
    );
    const count = () => new Promise<number>((resolve) => server.getConnections((_err, n) => resolve(n)));
    assert.equal(await count(), 10);
    // The clients are half-open sockets: the proxy's FIN shows as 'end' (or a reset as an error).
    const allEnded = Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.once('end', resolve);
            c.once('error', () => resolve());
          }),
      ),
    );
    const first = p.close();
    assert.equal(p.close(), first, 'close is idempotent');
    await first;
    await allEnded;
    for (const c of conns) c.destroy();
    assert.equal(p.active(), 0);
    const end = Date.now() + 3000;
    while ((await count()) !== 0) {
      assert.ok(Date.now() < end, 'the container side closes');
      await sleep(5);
    }
    await assert.rejects(connect(8005), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
    // The port is free: anyone may listen there now.
    const again = net.createServer();
    await new Promise<void>((resolve) => again.listen({ host: HOST, port: 8005 }, () => resolve()));
    await new Promise((r) => again.close(r));
  });

  test('a container that refuses: the client is reset, nothing stays open', async () => {
    const p = await proxy(8006, 7999);
    const c = await connect(8006);
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      c.once('error', resolve);
      c.once('close', () => resolve(undefined));
    });
    assert.equal(err?.code, 'ECONNRESET');
    await until('the pair to go', () => p.active() === 0);
    await p.close();
  });

  test('EADDRINUSE is ProxyAddressInUseError naming the address; nothing is left open', async () => {
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen({ host: HOST, port: 8007 }, () => resolve()));
    const fds = openFds();
    await assert.rejects(proxy(8007, 7001), (err: unknown) => {
      assert.ok(err instanceof ProxyAddressInUseError);
      assert.equal(err.code, 'ERR_PROXY_ADDRESS_IN_USE');
      assert.equal(err.kind, 'conflict');
      assert.deepEqual([err.proto, err.hostIP, err.hostPort], ['tcp', HOST, 8007]);
      assert.match(err.message, /listen tcp 127\.0\.0\.1:8007: bind: address already in use/);
      return true;
    });
    assert.equal(openFds(), fds);
    await new Promise((r) => other.close(r));
    // A second proxy on a port a proxy holds.
    const p = await proxy(8007, 7001);
    await assert.rejects(proxy(8007, 7001), ProxyAddressInUseError);
    await p.close();
  });

  test('an address that is not on this host is ProxyAddressNotAvailableError', async () => {
    const fds = openFds();
    await assert.rejects(
      startProxy({
        proto: 'tcp',
        hostIP: '10.255.0.1',
        hostPort: 8008,
        containerIP: CONTAINER,
        containerPort: 1,
      }),
      (err: unknown) =>
        err instanceof ProxyAddressNotAvailableError &&
        err.kind === 'invalid' &&
        /10\.255\.0\.1:8008/.test(err.message),
    );
    assert.equal(openFds(), fds);
  });

  test('IPv6: :: and 0.0.0.0 on the same port are independent; v6 host to v4 container', async (t) => {
    const hasV6 = (networkInterfaces().lo ?? []).some((a) => a.address === '::1');
    if (!hasV6) {
      t.skip('no ::1 on lo in this world');
      return;
    }
    await tcpServer(7009, echo);
    const v4 = await startProxy({
      proto: 'tcp',
      hostIP: '0.0.0.0',
      hostPort: 8009,
      containerIP: CONTAINER,
      containerPort: 7009,
    });
    const v6 = await startProxy({
      proto: 'tcp',
      hostIP: '::',
      hostPort: 8009,
      containerIP: CONTAINER,
      containerPort: 7009,
    });
    for (const host of ['127.0.0.1', '::1']) {
      const c = await connect(8009, host);
      const r = readAll(c);
      c.end(host);
      assert.equal((await r).toString(), host);
    }
    await v4.close();
    await v6.close();
  });

  test('invalid specs and SCTP are refused with typed errors', async () => {
    await assert.rejects(
      startProxy({ proto: 'sctp', hostIP: HOST, hostPort: 1, containerIP: CONTAINER, containerPort: 1 }),
      (err: unknown) =>
        err instanceof ProxyProtocolUnsupportedError &&
        err.code === 'ERR_PROXY_PROTO_UNSUPPORTED' &&
        /kernel DNAT/.test(err.message),
    );
    const base = {
      proto: 'tcp' as const,
      hostIP: HOST,
      hostPort: 1,
      containerIP: CONTAINER,
      containerPort: 1,
    };
    const cases: [Record<string, unknown>, string][] = [
      [{ proto: 'icmp' }, 'proto'],
      [{ hostIP: 'nope' }, 'hostIP'],
      [{ hostPort: 0 }, 'hostPort'],
      [{ hostPort: 65536 }, 'hostPort'],
      [{ containerIP: '0.0.0.0' }, 'containerIP'],
      [{ containerIP: '1.2.3' }, 'containerIP'],
      [{ containerPort: 1.5 }, 'containerPort'],
      [{ udpIdleTimeoutMs: 0 }, 'udpIdleTimeoutMs'],
      [{ udpMaxFlows: -1 }, 'udpMaxFlows'],
    ];
    for (const [patch, field] of cases) {
      await assert.rejects(
        startProxy({ ...base, ...patch } as Parameters<typeof startProxy>[0]),
        (err: unknown) => err instanceof InvalidPortBindingError && err.field === field,
        field,
      );
    }
  });
});

// --- UDP -----------------------------------------------------------------------------------------

interface UdpContainer {
  sock: dgram.Socket;
  /** Source ports the container has seen, in order (one per flow of the proxy). */
  sources: number[];
}

async function udpContainer(port: number): Promise<UdpContainer> {
  const sock = dgram.createSocket('udp4');
  const sources: number[] = [];
  sock.on('message', (msg, rinfo) => {
    sources.push(rinfo.port);
    sock.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind({ address: CONTAINER, port }, () => resolve()));
  servers.push(sock);
  return { sock, sources };
}

async function udpClient(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind({ address: HOST, port: 0 }, () => resolve()));
  servers.push(s);
  return s;
}

function ask(c: dgram.Socket, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${text}`)), 2000);
    c.once('message', (m: Buffer) => {
      clearTimeout(timer);
      resolve(m.toString());
    });
    c.send(text, port, HOST);
  });
}

describe('UDP proxy', () => {
  test('two clients, each gets its own replies through its own flow', async () => {
    const ct = await udpContainer(7101);
    const p = await startProxy({
      proto: 'udp',
      hostIP: HOST,
      hostPort: 9101,
      containerIP: CONTAINER,
      containerPort: 7101,
    });
    const [a, b] = [await udpClient(), await udpClient()];
    const [ra, rb] = await Promise.all([ask(a, 9101, 'a1'), ask(b, 9101, 'b1')]);
    assert.equal(ra, 'echo:a1');
    assert.equal(rb, 'echo:b1');
    assert.equal(p.active(), 2);
    assert.equal(await ask(a, 9101, 'a2'), 'echo:a2');
    assert.equal(await ask(b, 9101, 'b2'), 'echo:b2');
    assert.equal(p.active(), 2, 'the same flows carry later datagrams');
    assert.equal(new Set(ct.sources).size, 2);
    // Many datagrams in a burst, before the flow's socket is connected: queued, all delivered.
    const c = await udpClient();
    const got: string[] = [];
    c.on('message', (m: Buffer) => got.push(m.toString()));
    for (let i = 0; i < 20; i++) c.send(`c${i}`, 9101, HOST);
    await until('20 replies', () => got.length === 20);
    assert.deepEqual(new Set(got), new Set(Array.from({ length: 20 }, (_, i) => `echo:c${i}`)));
    await p.close();
  });

  test('idle flows expire; the next datagram opens a new one', async () => {
    await udpContainer(7102);
    const p = await startProxy({
      proto: 'udp',
      hostIP: HOST,
      hostPort: 9102,
      containerIP: CONTAINER,
      containerPort: 7102,
      udpIdleTimeoutMs: 150,
    });
    const a = await udpClient();
    assert.equal(await ask(a, 9102, 'x'), 'echo:x');
    assert.equal(p.active(), 1);
    // Traffic keeps it alive.
    for (let i = 0; i < 4; i++) {
      await sleep(60);
      assert.equal(await ask(a, 9102, `k${i}`), `echo:k${i}`);
      assert.equal(p.active(), 1);
    }
    await until('the flow to expire', () => p.active() === 0, 2000);
    assert.equal(await ask(a, 9102, 'y'), 'echo:y');
    assert.equal(p.active(), 1);
    await p.close();
  });

  test('at most udpMaxFlows flows: the idlest is evicted', async () => {
    const ct = await udpContainer(7103);
    const p = await startProxy({
      proto: 'udp',
      hostIP: HOST,
      hostPort: 9103,
      containerIP: CONTAINER,
      containerPort: 7103,
      udpMaxFlows: 2,
    });
    const [a, b, c] = [await udpClient(), await udpClient(), await udpClient()];
    await ask(a, 9103, 'a');
    await ask(b, 9103, 'b');
    const bPort = ct.sources.at(-1);
    await ask(c, 9103, 'c'); // evicts a's flow
    assert.equal(p.active(), 2);
    await ask(b, 9103, 'b again'); // b becomes the most recent
    assert.equal(ct.sources.at(-1), bPort, "b's flow was kept");
    await ask(a, 9103, 'a again'); // evicts c's flow, not b's
    assert.equal(p.active(), 2);
    await ask(b, 9103, 'b third');
    assert.equal(ct.sources.at(-1), bPort, "b's flow is still there");
    await p.close();
  });

  test('close() closes the socket and every flow, and frees the port', async () => {
    await udpContainer(7104);
    const fds = openFds();
    const p = await startProxy({
      proto: 'udp',
      hostIP: HOST,
      hostPort: 9104,
      containerIP: CONTAINER,
      containerPort: 7104,
    });
    assert.equal(openFds(), fds + 1, 'one socket for the listener');
    const clients = await Promise.all([udpClient(), udpClient(), udpClient()]);
    await Promise.all(clients.map((c, i) => ask(c, 9104, `m${i}`)));
    assert.equal(p.active(), 3);
    await p.close();
    assert.equal(p.active(), 0);
    assert.equal(openFds(), fds + clients.length, 'only the clients remain open');
    const again = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind({ address: HOST, port: 9104 }, () => resolve());
    });
    again.close();
  });

  test('EADDRINUSE is ProxyAddressInUseError; nothing is left open', async () => {
    const other = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => other.bind({ address: HOST, port: 9105 }, () => resolve()));
    const fds = openFds();
    await assert.rejects(
      startProxy({ proto: 'udp', hostIP: HOST, hostPort: 9105, containerIP: CONTAINER, containerPort: 1 }),
      (err: unknown) =>
        err instanceof ProxyAddressInUseError &&
        err.proto === 'udp' &&
        /listen udp 127\.0\.0\.1:9105: bind: address already in use/.test(err.message),
    );
    await sleep(20);
    assert.equal(openFds(), fds);
    other.close();
    await assert.rejects(
      startProxy({
        proto: 'udp',
        hostIP: '10.255.0.1',
        hostPort: 9105,
        containerIP: CONTAINER,
        containerPort: 1,
      }),
      ProxyAddressNotAvailableError,
    );
  });
});
