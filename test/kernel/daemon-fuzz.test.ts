import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { type Daemon, startDaemon } from '../../src/daemon/daemon.ts';
import { world } from '../harness/world.ts';

// A property-based fuzz of the daemon's HTTP API (Docker's network routes and dnet's sandbox
// routes), in-process as the other daemon tests run it: random and hostile methods, paths, query
// strings and bodies (valid-ish Docker bodies with mutated fields, wrong types, huge strings,
// unicode, nested garbage). Every request must get an HTTP answer below 500. Afterwards the API
// still answers and the kernel matches what it lists (no leaked link or namespace).
//
// Replay: the seed is printed (`FC_SEED=<seed>`); FC_RUNS sets the number of runs (default 3000,
// one request each), FC_PARALLEL=N sends up to N requests at once per run, FC_SHRINK=1 shrinks a
// failure to a smaller request (the daemon's state differs between runs, so a shrunk request may
// need the ones before it).

const sock = join(world.runDir, 'fuzz.sock');
const runDir = join(world.runDir, 'dnet');
const logLines: string[] = [];
let daemon: Daemon;

before(async () => {
  daemon = await startDaemon({
    runDir,
    dataDir: join(world.runDir, 'data'),
    hosts: [`unix://${sock}`],
    bodyLimit: 256 * 1024,
    log: (line) => {
      logLines.push(line);
    },
  });
});

after(async () => {
  await daemon.close();
});

interface RawAnswer {
  status?: number;
  raw: string;
  error?: string;
}

/**
 * One HTTP/1.1 request written by hand on the unix socket (so any method, any target), read until
 * the daemon closes the connection (`Connection: close`). `declaredLength` sends a Content-Length
 * larger than the body (an oversized upload cut short).
 */
function rawRequest(
  method: string,
  target: string,
  headers: [string, string][],
  body?: Buffer,
  declaredLength?: number,
  timeoutMs = 30_000,
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(raw);
      resolve({ ...(m ? { status: Number(m[1]) } : {}), raw, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => finish());
    s.on('close', () => finish());
    // EPIPE when the daemon answered (and closed) before reading all of an oversized body: what
    // it answered was read already.
    s.on('error', (e: NodeJS.ErrnoException) => setImmediate(() => finish(e.code)));
    s.on('connect', () => {
      let head = `${method} ${target} HTTP/1.1\r\nHost: dnet\r\nConnection: close\r\n`;
      for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
      if (body !== undefined || declaredLength !== undefined) {
        head += `Content-Length: ${declaredLength ?? body?.length ?? 0}\r\n`;
      }
      s.write(`${head}\r\n`);
      if (body !== undefined) s.write(body);
    });
  });
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const r = await rawRequest(
    method,
    path,
    body === undefined ? [] : [['Content-Type', 'application/json']],
    body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
  );
  assert.ok(r.status !== undefined, `${method} ${path}: no answer (${r.error ?? 'closed'})`);
  const i = r.raw.indexOf('\r\n\r\n');
  const text = Buffer.from(r.raw.slice(i + 4), 'latin1').toString('utf8');
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

// --- targeted checks (issue 11, item 10) --------------------------------------------------------

describe('bad input is refused before the kernel', () => {
  test('CONNECT and other odd methods get an HTTP answer', async () => {
    const c = await rawRequest('CONNECT', 'example.com:443', []);
    assert.equal(c.status, 404, c.raw);
    assert.match(c.raw, /\{"message":"page not found"\}/);
    for (const m of ['FOO', 'TRACE', 'OPTIONS', 'PATCH', 'PUT', 'M-SEARCH', 'PROPFIND']) {
      const r = await rawRequest(m, '/networks', []);
      assert.ok(r.status !== undefined && r.status < 500, `${m}: ${r.raw || r.error}`);
    }
  });

  test('a broadcast, multicast or all-zero MAC is a 400 naming the MAC', async () => {
    const create = await api('POST', '/networks/create', {
      Name: 'macs',
      IPAM: { Config: [{ Subnet: '10.91.0.0/24' }] },
    });
    assert.equal(create.status, 201, JSON.stringify(create.json));
    for (const mac of [
      'ff:ff:ff:ff:ff:ff',
      '01:00:5e:00:00:01',
      '33:33:00:00:00:01',
      '03:00:00:00:00:00',
      '00:00:00:00:00:00',
    ]) {
      const r = await api('POST', '/networks/macs/connect', {
        Container: 'm1',
        EndpointConfig: { MacAddress: mac },
      });
      assert.equal(r.status, 400, `${mac}: ${JSON.stringify(r.json)}`);
      assert.match((r.json as { message: string }).message, /macAddress.*(multicast|broadcast|all-zero)/);
    }
    const ok = await api('POST', '/networks/macs/connect', {
      Container: 'm1',
      EndpointConfig: { MacAddress: '02:42:0a:5b:00:09' },
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal((await api('DELETE', '/sandboxes/m1')).status, 204);
    assert.equal((await api('DELETE', '/networks/macs')).status, 204);
  });

  test('a bridge name that is not a sane interface name is a 400', async () => {
    for (const name of ['-rf', 'a/b', 'a b', '.', '..', 'x'.repeat(16), 'br%d', 'tab\tx', 'é', '_x', '']) {
      const r = await api('POST', '/networks/create', {
        Name: 'badbr',
        Options: { 'com.docker.network.bridge.name': name },
      });
      assert.equal(r.status, 400, `${JSON.stringify(name)}: ${JSON.stringify(r.json)}`);
    }
    const r = await api('POST', '/networks/create', {
      Name: 'v6mtu',
      EnableIPv6: true,
      Options: { 'com.docker.network.driver.mtu': '1000' },
    });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.deepEqual(((await api('GET', '/networks')).json as { Name: string }[]).map((n) => n.Name).sort(), [
      'bridge',
      'host',
      'none',
    ]);
  });

  test('text that would add lines to /etc/hosts or resolv.conf is a 400', async () => {
    const bad: Record<string, unknown>[] = [
      { DNSOptions: ['ndots:1\nnameserver 6.6.6.6'] },
      { DNSOptions: ['ndots:1 rotate'] },
      { DNSSearch: ['corp\nnameserver 6.6.6.6'] },
      { DNS: ['1.2.3.4\nnameserver 6.6.6.6'] },
      { ExtraHosts: ['h:1.2.3.4\n6.6.6.6 evil'] },
      { ExtraHosts: ['h\nx:1.2.3.4'] },
      { Hostname: 'a\n6.6.6.6 evil' },
      { Hostname: 'x'.repeat(300) },
      { Domainname: 'example.com\nsearch evil' },
    ];
    for (const body of bad) {
      const r = await api('POST', '/sandboxes', { Name: 'inj', ...body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(r.json)}`);
    }
    assert.equal((await api('GET', '/sandboxes/inj')).status, 404);
  });

  test('odd subnets, gateways and MTUs are refused or work, never a 5xx', async () => {
    const cases: Record<string, unknown>[] = [
      ...[
        '0.0.0.0/0',
        '127.0.0.0/8',
        '224.0.0.0/4',
        '240.0.0.0/4',
        '255.255.255.255/32',
        '169.254.0.0/16',
        '10.0.0.0/31',
        '10.0.0.0/30',
        '10.0.0.0/32',
        '100.64.0.0/10',
      ].map((Subnet) => ({ IPAM: { Config: [{ Subnet }] } })),
      ...[
        '::/0',
        'fe80::/64',
        'ff00::/8',
        '::1/128',
        'fd00::/127',
        'fd00::/128',
        '::ffff:0:0/96',
        '2001:db8::/32',
      ].map((Subnet) => ({ EnableIPv6: true, IPAM: { Config: [{ Subnet: '10.93.0.0/24' }, { Subnet }] } })),
      { IPAM: { Config: [{ Subnet: '10.94.0.0/24', Gateway: '10.94.0.255' }] } },
      { IPAM: { Config: [{ Subnet: '10.94.0.0/24', Gateway: '10.94.0.0' }] } },
      { IPAM: { Config: [{ Subnet: '10.94.0.0/24', IPRange: '10.94.0.255/32' }] } },
      ...['68', '1279', '65535', '9000'].map((mtu) => ({
        Options: { 'com.docker.network.driver.mtu': mtu },
      })),
    ];
    for (const c of cases) {
      const r = await api('POST', '/networks/create', { Name: 'odd', ...c });
      assert.ok(r.status < 500, `${JSON.stringify(c)}: ${r.status} ${JSON.stringify(r.json)}`);
      if (r.status !== 201) continue;
      const j = await api('POST', '/networks/odd/connect', {
        Container: 'oddc',
        EndpointConfig: { PortBindings: { '80/tcp': [{ HostPort: '18333' }] } },
      });
      assert.ok(j.status < 500, `connect on ${JSON.stringify(c)}: ${j.status} ${JSON.stringify(j.json)}`);
      if (j.status === 200) assert.equal((await api('DELETE', '/sandboxes/oddc')).status, 204);
      const d = await api('DELETE', '/networks/odd');
      assert.equal(d.status, 204, `${JSON.stringify(c)}: ${JSON.stringify(d.json)}`);
    }
  });

  test('a published port another program holds is a 409 naming the address and port', async () => {
    const other = net.createServer();
    await new Promise<void>((r) => other.listen(18222, '0.0.0.0', () => r()));
    try {
      const create = await api('POST', '/networks/create', {
        Name: 'pub',
        IPAM: { Config: [{ Subnet: '10.92.0.0/24' }] },
      });
      assert.equal(create.status, 201);
      const r = await api('POST', '/networks/pub/connect', {
        Container: 'p1',
        EndpointConfig: { PortBindings: { '22/tcp': [{ HostPort: '18222' }] } },
      });
      assert.equal(r.status, 409, JSON.stringify(r.json));
      assert.match(
        (r.json as { message: string }).message,
        /0\.0\.0\.0:18222 failed: port is already in use/,
      );
      assert.equal((await api('GET', '/sandboxes/p1')).status, 404, 'nothing is left of the container');
      assert.equal((await api('DELETE', '/networks/pub')).status, 204);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  test('a client that closes the connection before the answer is logged as such, not as a 500', async () => {
    const create = await api('POST', '/networks/create', { Name: 'abort' });
    assert.equal(create.status, 201);
    logLines.length = 0;
    // A body cut short: 100 bytes announced, 10 sent, then the connection closed.
    await new Promise<void>((resolve) => {
      const s = net.connect(sock, () => {
        s.write(
          'POST /networks/abort/connect HTTP/1.1\r\nHost: dnet\r\nContent-Type: application/json\r\n' +
            'Content-Length: 100\r\n\r\n{"Containe',
        );
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 50);
      });
    });
    const deadline = Date.now() + 5000;
    while (!logLines.some((l) => l.includes('"clientClosed":true')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const line = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.clientClosed);
    assert.ok(line, logLines.join('\n'));
    assert.equal(line.status, 499);
    assert.notEqual(line.level, 50, 'not an error line');
    assert.equal((line.error as { stack?: string } | undefined)?.stack, undefined, 'no stack');
    assert.match(String(line.msg), /client closed the connection before the answer/);
    assert.equal((await api('DELETE', '/networks/abort')).status, 204);
  });
});

// --- the fuzz ----------------------------------------------------------------------------------

const NETS = ['fz0', 'fz1', 'fz2', 'fz3', 'fz4'];
const CONTAINERS = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'];

const hostile = fc.constantFrom(
  '',
  ' ',
  '-rf',
  '--help',
  '.',
  '..',
  '../../etc/passwd',
  '/',
  'a/b',
  'a b',
  'a\nb',
  'a\r\nX-Injected: 1',
  'line\nnameserver 6.6.6.6',
  'x\n127.0.0.1 evil',
  '%',
  '%00',
  '%zz',
  '\u0000',
  '\u202e',
  'é',
  '😀',
  '\ud800',
  '$(id)',
  '`id`',
  '; rm -rf /',
  'null',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  '{}',
  '[]',
  'lo',
  'eth0',
  'bridge',
  'host',
  'none',
);
const huge = fc
  .tuple(fc.integer({ min: 200, max: 70_000 }), fc.constantFrom('x', 'é', '😀', '\n', 'a.'))
  .map(([n, c]) => c.repeat(n));
const deep: fc.Arbitrary<unknown> = fc.integer({ min: 50, max: 3000 }).map((n) => {
  let v: unknown = 'leaf';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
  return v;
});
const garbage: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostile },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 1, arbitrary: huge },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: deep },
);

/** Mostly the valid-ish value, sometimes garbage in its place. */
const mut = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 40, arbitrary: good }, { weight: 1, arbitrary: garbage });

/** Every path (keys and indexes) to a value inside a JSON-ish value. */
function pathsOf(
  v: unknown,
  at: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (at.length > 0) out.push(at);
  if (at.length < 6 && typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, Array.isArray(v) ? Number(k) : k], out);
  }
  return out;
}

/**
 * A valid-ish body with, some of the time, one field mutated: replaced by garbage, or removed.
 * (Mutating many fields at once mostly exercises the first type check.)
 */
const mutateOne = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc
    .tuple(
      valid,
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.option(garbage, { freq: 5 })) },
      ),
    )
    .map(([v, m]) => {
      if (m === null) return v;
      const paths = pathsOf(v);
      if (paths.length === 0) return v;
      const path = paths[m[0] % paths.length]!;
      // Copied along the path only (the value may nest thousands deep).
      const shallow = (x: unknown) =>
        (Array.isArray(x) ? [...x] : { ...(x as object) }) as Record<string | number, unknown>;
      const copy = shallow(v);
      let o = copy;
      for (const k of path.slice(0, -1)) {
        o[k] = shallow(o[k]);
        o = o[k] as Record<string | number, unknown>;
      }
      const last = path[path.length - 1]!;
      if (m[1] === null) delete o[last];
      else o[last] = m[1];
      return copy;
    });

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.oneof(
  fc.tuple(octet, octet).map(([a, b]) => `10.${a}.${b}.${((a + b) % 250) + 2}`),
  fc.constantFrom(
    '0.0.0.0',
    '127.0.0.1',
    '255.255.255.255',
    '224.0.0.1',
    '203.0.113.9',
    '10.0.0.1',
    '1.2.3',
    '01.2.3.4',
  ),
);
const ipv6 = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((h) => `fd${(h & 0xff).toString(16)}::${h.toString(16)}`),
  fc.constantFrom('::', '::1', 'fe80::1', 'ff02::1', '::ffff:10.0.0.1', 'fe80::1%eth0', '2001:db8::1'),
);
const subnet = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        octet,
        octet,
        fc.oneof(
          { weight: 6, arbitrary: fc.constant(24) },
          { weight: 1, arbitrary: fc.integer({ min: 8, max: 32 }) },
        ),
      )
      .map(([a, b, len]) => `10.${a}.${b}.0/${len}`),
  },
  {
    weight: 2,
    arbitrary: fc
      .integer({ min: 0, max: 0xffff })
      .map((h) => `fd${(h & 0xff).toString(16).padStart(2, '0')}:${h.toString(16)}::/64`),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '0.0.0.0/0',
      '127.0.0.0/8',
      '224.0.0.0/4',
      '255.255.255.255/32',
      '169.254.0.0/16',
      '::/0',
      'fe80::/64',
      'ff00::/8',
      '::1/128',
      '10.0.0.1/33',
      '10.0.0.0/-1',
      '10.1.2.3/24',
      '1.2.3.4',
      '10.0.0.0/31',
      '10.0.0.0/30',
    ),
  },
);
const ifname = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/),
  fc.constantFrom(
    '-rf',
    'a/b',
    'a b',
    '.',
    '..',
    'x'.repeat(16),
    'br%d',
    'lo',
    'eth0',
    'dv0123456789',
    'br-0123456789ab',
  ),
);
const optionMap = fc.record(
  {
    'com.docker.network.bridge.name': mut(ifname),
    'com.docker.network.driver.mtu': mut(
      fc.oneof(
        fc.integer({ min: 0, max: 70_000 }).map(String),
        fc.constantFrom('1280', '68', '1500', '9000', '65536', ''),
      ),
    ),
    'com.docker.network.bridge.enable_icc': mut(fc.constantFrom('true', 'false', 'maybe')),
    'com.docker.network.bridge.enable_ip_masquerade': mut(fc.constantFrom('true', 'false', '1')),
    'com.docker.network.bridge.host_binding_ipv4': mut(ipv4),
    'com.docker.network.enable_ipv6': mut(fc.constantFrom('true', 'false', 'x')),
  },
  { requiredKeys: [] },
);
const networkCreate = fc.record(
  {
    Name: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...NETS) }, { weight: 1, arbitrary: garbage }),
    Driver: mut(
      fc.oneof(
        { weight: 12, arbitrary: fc.constantFrom('bridge', '') },
        { weight: 1, arbitrary: fc.constantFrom('null', 'host', 'macvlan', 'overlay') },
      ),
    ),
    CheckDuplicate: mut(fc.boolean()),
    Internal: mut(fc.boolean()),
    Attachable: mut(fc.boolean()),
    EnableIPv6: mut(fc.boolean()),
    EnableIPv4: mut(
      fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    ),
    Scope: mut(fc.constantFrom('local', 'local', 'local', 'local', 'swarm', '')),
    IPAM: mut(
      fc.record(
        {
          Driver: mut(fc.constantFrom('default', 'null', 'nope')),
          Config: mut(
            fc.array(
              fc.record(
                {
                  Subnet: mut(subnet),
                  Gateway: mut(fc.oneof(ipv4, ipv6)),
                  IPRange: mut(subnet),
                  AuxiliaryAddresses: mut(
                    fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(ipv4, ipv6), { maxKeys: 2 }),
                  ),
                },
                { requiredKeys: [] },
              ),
              { maxLength: 3 },
            ),
          ),
          Options: mut(
            fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 2 }),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
    Options: mut(optionMap),
    Labels: mut(
      fc.dictionary(
        fc.string({ unit: 'binary', maxLength: 10 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        { maxKeys: 3 },
      ),
    ),
  },
  { requiredKeys: ['Name', 'Driver'] },
);
const mac = fc.oneof(
  fc.constantFrom(
    'ff:ff:ff:ff:ff:ff',
    '01:00:5e:00:00:01',
    '00:00:00:00:00:00',
    '33:33:00:00:00:01',
    '02:42:ac:11:00:02',
    'FF:FF:FF:FF:FF:FF',
    '02-42-ac-11-00-02',
  ),
  fc
    .uint8Array({ minLength: 6, maxLength: 6 })
    .map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')),
);
const portKey = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 70_000 }), fc.constantFrom('/tcp', '/udp', '/sctp', '', '/TCP', '/icmp'))
    .map(([p, s]) => `${p}${s}`),
  fc
    .tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 40 }))
    .map(([p, n]) => `${p}-${p + n}/tcp`),
  fc.string({ maxLength: 10 }),
);
const hostPort = fc.oneof(
  fc.integer({ min: 0, max: 70_000 }).map(String),
  fc
    .tuple(fc.integer({ min: 1024, max: 65535 }), fc.integer({ min: 0, max: 20 }))
    .map(([p, n]) => `${p}-${p + n}`),
  fc.constantFrom('', '0', '65535', '65536', '-1', 'x', '1-', '20-10', '1-65535'),
);
const portBindings = fc.dictionary(
  portKey,
  mut(
    fc.array(
      fc.record(
        { HostIp: mut(fc.oneof(fc.constant(''), ipv4, ipv6)), HostPort: mut(hostPort) },
        { requiredKeys: [] },
      ),
      { maxLength: 3 },
    ),
  ),
  { maxKeys: 3 },
);
const connect = fc.record(
  {
    Container: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...CONTAINERS) },
      { weight: 2, arbitrary: garbage },
    ),
    EndpointConfig: mut(
      fc.record(
        {
          IPAMConfig: mut(
            fc.record(
              {
                IPv4Address: mut(ipv4),
                IPv6Address: mut(ipv6),
                LinkLocalIPs: mut(fc.array(ipv4, { maxLength: 1 })),
              },
              { requiredKeys: [] },
            ),
          ),
          Aliases: mut(fc.array(fc.oneof(fc.string({ maxLength: 10 }), hostile), { maxLength: 3 })),
          Links: mut(fc.array(fc.string({ maxLength: 5 }), { maxLength: 1 })),
          MacAddress: mut(mac),
          PortBindings: mut(portBindings),
          DriverOpts: mut(
            fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 2 }),
          ),
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);
const disconnect = fc.record(
  {
    Container: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...CONTAINERS) },
      { weight: 2, arbitrary: garbage },
    ),
    Force: mut(fc.boolean()),
  },
  { requiredKeys: [] },
);
const textList = (good: fc.Arbitrary<string>) =>
  mut(
    fc.array(fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: hostile }), { maxLength: 3 }),
  );
const sandboxCreate = fc.record(
  {
    ContainerID: mut(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
    ),
    Name: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...CONTAINERS) },
      { weight: 2, arbitrary: garbage },
    ),
    Hostname: mut(fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), hostile)),
    Domainname: mut(fc.oneof(fc.constantFrom('example.com', 'a..b', '-x.com'), hostile)),
    DNS: textList(fc.oneof(ipv4, ipv6)),
    DNSSearch: textList(fc.constantFrom('example.com', 'corp', 'a..b')),
    DNSOptions: textList(fc.constantFrom('ndots:2', 'timeout:1', 'rotate', 'ndots:x', 'edns0')),
    ExtraHosts: textList(
      fc.oneof(
        fc.tuple(fc.stringMatching(/^[a-z]{1,8}$/), fc.oneof(ipv4, ipv6)).map(([h, ip]) => `${h}:${ip}`),
        fc.constantFrom('host-gateway:x', 'h=host-gateway', 'h:[::1]', ':1.2.3.4', 'h:', 'a b:1.2.3.4'),
      ),
    ),
    UseHostNetwork: mut(fc.boolean()),
  },
  { requiredKeys: [] },
);

/** A path segment for an object reference: a known name mostly, else something hostile, encoded or not. */
const ref = (known: string[]) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...known) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map(encodeURIComponent) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '%zz',
        '%2e%2e',
        '..',
        '.',
        '%00',
        '%2F',
        'a%20b',
        '%F0%9F%98%80',
        'x'.repeat(300),
      ),
    },
    { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{1,64}$/) },
  );
const filters = fc.oneof(
  fc.dictionary(
    fc.oneof(
      fc.constantFrom('name', 'id', 'driver', 'label', 'label!', 'dangling', 'type', 'scope', 'until'),
      fc.string({ maxLength: 5 }),
    ),
    fc.oneof(
      fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), hostile), fc.oneof(fc.constant(true), garbage), {
        maxKeys: 2,
      }),
      fc.array(fc.string({ maxLength: 8 }), { maxLength: 2 }),
      garbage,
    ),
    { maxKeys: 3 },
  ),
  garbage,
);
const query = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 3, arbitrary: filters.map((f) => `?filters=${encodeURIComponent(JSON.stringify(f) ?? 'x')}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '?verbose=true',
      '?verbose=x',
      '?scope=swarm',
      '?force=1',
      '?filters=%7B',
      '?filters=',
      '?&&=&',
      '?filters=%zz',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: 'binary', maxLength: 20 })
      .map((s) => `?${encodeURIComponent(s)}=${encodeURIComponent(s)}`),
  },
);
const version = fc.oneof(
  { weight: 20, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.constantFrom('/v1.48', '/v1.44', '/v1.24') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '/v1.12',
      '/v9.99',
      '/v1',
      '/v',
      '/vabc',
      '/v1.48.1',
      '/v1..2',
      '/v99999999999999999999',
    ),
  },
);
const method = fc.oneof(
  { weight: 4, arbitrary: fc.constant('POST') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'GET',
      'DELETE',
      'HEAD',
      'PUT',
      'PATCH',
      'OPTIONS',
      'CONNECT',
      'TRACE',
      'FOO',
      'M-SEARCH',
    ),
  },
);

interface FuzzRequest {
  method: string;
  target: string;
  contentType?: string;
  body?: string;
  /** Announce this many bytes and send fewer (an oversized or cut-short upload). */
  declared?: number;
}

const bodyOf = (obj: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 12, arbitrary: mutateOne(obj).map((o) => JSON.stringify(o) ?? '') },
    { weight: 1, arbitrary: obj.map((o) => (JSON.stringify(o) ?? '').slice(0, -1)) },
    { weight: 1, arbitrary: garbage.map((g) => JSON.stringify(g) ?? '') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        'null',
        '[]',
        '"x"',
        '{',
        '{"Name":}',
        '\u0000',
        '{"Name":"a","Name":"b"}',
        '[[[[[[[[[[',
      ),
    },
  );
const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'text/plain',
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'application/x-www-form-urlencoded',
      '',
    ),
  },
);

// Plain valid requests too, so that networks and containers exist for the hostile ones to meet.
const plainCreate = fc
  .record(
    {
      Name: fc.constantFrom(...NETS),
      IPAM: fc.record({
        Config: fc.oneof(
          fc.constant([]),
          fc.tuple(octet, octet).map(([a, b]) => [{ Subnet: `10.${a}.${b}.0/24` }]),
          fc
            .tuple(octet, octet)
            .map(([a, b]) => [
              { Subnet: `10.${a}.${b}.0/24` },
              { Subnet: `fd${a.toString(16)}:${b.toString(16)}::/64` },
            ]),
        ),
      }),
      EnableIPv6: fc.boolean(),
      Internal: fc.boolean(),
      Options: fc.record(
        {
          'com.docker.network.bridge.name': fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/),
          'com.docker.network.driver.mtu': fc.constantFrom('1280', '1400', '1500', '9000', '576'),
          'com.docker.network.bridge.enable_icc': fc.constantFrom('true', 'false'),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['Name', 'IPAM'] },
  )
  .map((b) => ({ ...b, EnableIPv6: b.EnableIPv6 && b.IPAM.Config.length === 2 }));
const plainConnect = fc.record(
  {
    Container: fc.constantFrom(...CONTAINERS),
    EndpointConfig: fc.record(
      {
        MacAddress: mac,
        PortBindings: fc.dictionary(
          fc
            .tuple(fc.integer({ min: 1, max: 65535 }), fc.constantFrom('tcp', 'udp', 'sctp'))
            .map(([p, x]) => `${p}/${x}`),
          fc.array(
            fc.record({
              HostIp: fc.constantFrom(
                '',
                '0.0.0.0',
                '127.0.0.1',
                '::',
                '::1',
                '203.0.113.9',
                'fe80::1',
                '224.0.0.1',
              ),
              HostPort: fc.oneof(fc.constant(''), fc.integer({ min: 1024, max: 65535 }).map(String)),
            }),
            { maxLength: 2 },
          ),
          { maxKeys: 2 },
        ),
        Aliases: fc.array(fc.stringMatching(/^[a-z]{1,8}$/), { maxLength: 2 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['Container'] },
);

const requestArb: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({ id: fc.constantFrom(...NETS), c: fc.constantFrom(...CONTAINERS), f: fc.boolean() })
      .map(({ id, c, f }) => ({
        method: 'POST',
        target: `/networks/${id}/disconnect`,
        contentType: 'application/json',
        body: JSON.stringify({ Container: c, Force: f }),
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(...CONTAINERS).map((c) => `/sandboxes/${c}`),
        fc.constantFrom(...NETS).map((n) => `/networks/${n}`),
      )
      .map((target) => ({ method: 'DELETE', target })),
  },
  {
    weight: 3,
    arbitrary: plainCreate.map((b) => ({
      method: 'POST',
      target: '/networks/create',
      contentType: 'application/json',
      body: JSON.stringify(b),
    })),
  },
  {
    weight: 4,
    arbitrary: fc.record({ id: fc.constantFrom(...NETS), b: plainConnect }).map(({ id, b }) => ({
      method: 'POST',
      target: `/networks/${id}/connect`,
      contentType: 'application/json',
      body: JSON.stringify(b),
    })),
  },
  {
    weight: 4,
    arbitrary: fc
      .record({ v: version, q: query, b: bodyOf(networkCreate), ct: contentType })
      .map(({ v, q, b, ct }) => ({
        method: 'POST',
        target: `${v}/networks/create${q}`,
        contentType: ct,
        body: b,
      })),
  },
  {
    weight: 5,
    arbitrary: fc
      .record({
        v: version,
        m: method,
        id: ref([...NETS, 'bridge', 'none', 'host']),
        b: bodyOf(connect),
        ct: contentType,
      })
      .map(({ v, m, id, b, ct }) => ({
        method: m,
        target: `${v}/networks/${id}/connect`,
        contentType: ct,
        body: b,
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ v: version, id: ref([...NETS, 'bridge', 'none', 'host']), b: bodyOf(disconnect) })
      .map(({ v, id, b }) => ({
        method: 'POST',
        target: `${v}/networks/${id}/disconnect`,
        contentType: 'application/json',
        body: b,
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        v: version,
        id: ref([...NETS, 'bridge', 'none', 'host']),
        q: query,
        m: fc.constantFrom('DELETE', 'GET', 'HEAD'),
      })
      .map(({ v, id, q, m }) => ({
        method: m,
        target: `${v}/networks/${id}${q}`,
      })),
  },
  {
    weight: 2,
    arbitrary: fc.record({ v: version, b: bodyOf(sandboxCreate), ct: contentType }).map(({ v, b, ct }) => ({
      method: 'POST',
      target: `${v}/sandboxes`,
      contentType: ct,
      body: b,
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ v: version, id: ref(CONTAINERS), m: fc.constantFrom('DELETE', 'GET') })
      .map(({ v, id, m }) => ({
        method: m,
        target: `${v}/sandboxes/${id}`,
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        v: version,
        q: query,
        p: fc.constantFrom('/networks', '/sandboxes', '/_ping', '/version', '/networks/prune'),
        m: method,
      })
      .map(({ v, q, p, m }) => ({
        method: p === '/networks/prune' ? 'POST' : m === 'POST' ? 'GET' : m,
        target: `${v}${p}${q}`,
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        m: method,
        segs: fc.array(
          fc.oneof(
            fc.constantFrom(
              'networks',
              'sandboxes',
              'create',
              'connect',
              'disconnect',
              'prune',
              '_ping',
              'v1.48',
              '',
              '..',
              '%zz',
            ),
            fc.string({ unit: 'binary', maxLength: 12 }).map(encodeURIComponent),
          ),
          { maxLength: 5 },
        ),
        b: fc.option(bodyOf(garbage), { nil: undefined }),
      })
      .map(({ m, segs, b }) => ({
        method: m,
        target: `/${segs.join('/')}`,
        contentType: 'application/json',
        ...(b !== undefined ? { body: b } : {}),
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ id: ref(NETS), n: fc.integer({ min: 300 * 1024, max: 4 * 1024 * 1024 }) })
      .map(({ id, n }) => ({
        method: 'POST',
        target: `/networks/${id}/connect`,
        contentType: 'application/json',
        body: '{"Container":"',
        declared: n,
      })),
  },
);

const showRequest = (r: FuzzRequest): string => {
  const s = JSON.stringify(r);
  return s.length > 600 ? `${s.slice(0, 600)}... (${s.length} characters)` : s;
};

describe('API fuzz', () => {
  test(
    'random and hostile requests never get a 5xx or a dropped connection',
    { timeout: 15 * 60_000 },
    async (t) => {
      const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : Date.now() % 2 ** 31;
      const numRuns = Number(process.env.FC_RUNS ?? 3000);
      const shrink = process.env.FC_SHRINK === '1';
      // FC_PARALLEL=N: up to N requests at once per run (default 1: one after the other).
      const parallel = Math.max(1, Number(process.env.FC_PARALLEL ?? 1));
      const batches =
        parallel > 1
          ? fc.array(requestArb, { minLength: 1, maxLength: parallel })
          : requestArb.map((r) => [r]);
      t.diagnostic(`fuzz seed ${seed} (replay: FC_SEED=${seed} FC_RUNS=${numRuns} FC_PARALLEL=${parallel})`);
      console.log(`# daemon fuzz: FC_SEED=${seed} FC_RUNS=${numRuns} FC_PARALLEL=${parallel}`);
      const statuses = new Map<number, number>();
      const started = Date.now();
      logLines.length = 0;
      await fc.assert(
        fc.asyncProperty(batches, async (rs) => {
          await Promise.all(
            rs.map(async (r) => {
              const headers: [string, string][] = r.contentType ? [['Content-Type', r.contentType]] : [];
              const body = r.body === undefined ? undefined : Buffer.from(r.body);
              const a = await rawRequest(r.method, r.target, headers, body, r.declared);
              if (a.status === undefined) {
                throw new Error(`no HTTP answer (${a.error ?? 'connection closed'}): ${showRequest(r)}`);
              }
              statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
              if (process.env.FC_DEBUG === '1') {
                const msg = /"message":"(.{0,90})/.exec(a.raw)?.[1] ?? '';
                console.log(`# ${a.status} ${r.method} ${r.target.slice(0, 40)} ${msg}`);
              }
              // 501 is no failure: a route of Docker's API that dnet does not serve (NotServedError)
              if (a.status >= 500 && a.status !== 501)
                throw new Error(`status ${a.status}: ${a.raw.slice(0, 800)}\nrequest: ${showRequest(r)}`);
            }),
          );
        }),
        { seed, numRuns, endOnFailure: !shrink, verbose: shrink ? 1 : 0 },
      );
      const secs = (Date.now() - started) / 1000;
      t.diagnostic(
        `${[...statuses.values()].reduce((x, y) => x + y, 0)} requests in ${secs.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`,
      );
      const errors = logLines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
      assert.deepEqual(errors, [], 'no error logged');
    },
  );

  test('afterwards the API answers and the kernel matches the records', async () => {
    const list = await api('GET', '/networks');
    assert.equal(list.status, 200);
    const nets = list.json as { Id: string; Name: string; Driver: string; Options: Record<string, string> }[];
    const expected = new Set(['lo']);
    for (const n of nets) {
      if (n.Driver !== 'bridge') continue;
      expected.add(n.Options['com.docker.network.bridge.name'] ?? `br-${n.Id.slice(0, 12)}`);
      const full = await api('GET', `/networks/${n.Id}`);
      assert.equal(full.status, 200);
      for (const c of Object.values(
        (full.json as { Containers: Record<string, { EndpointID: string }> }).Containers,
      )) {
        expected.add(`dv${c.EndpointID.slice(0, 10)}`);
      }
    }
    const links = (JSON.parse(execFileSync('ip', ['-j', 'link']).toString()) as { ifname: string }[]).map(
      (l) => l.ifname,
    );
    assert.deepEqual(
      links.sort(),
      [...expected].sort(),
      'links = bridges of the networks + veths of their containers',
    );
    const sbs = await api('GET', '/sandboxes');
    assert.equal(sbs.status, 200);
    const keys = (sbs.json as { SandboxKey: string; HostNetwork: boolean }[])
      .filter((s) => !s.HostNetwork)
      .map((s) => s.SandboxKey)
      .sort();
    const nsDir = join(runDir, 'netns');
    const onDisk = readdirSync(nsDir)
      .filter((n) => n !== 'default')
      .map((n) => join(nsDir, n))
      .sort();
    assert.deepEqual(onDisk, keys, 'namespaces = the sandboxes the API lists');

    // Everything can be taken down through the API, and nothing is left.
    for (const s of sbs.json as { Id: string }[]) {
      const r = await api('DELETE', `/sandboxes/${s.Id}`);
      assert.equal(r.status, 204, JSON.stringify(r.json));
    }
    for (const n of nets) {
      if (['bridge', 'host', 'none'].includes(n.Name)) continue;
      const r = await api('DELETE', `/networks/${n.Id}`);
      assert.equal(r.status, 204, `${n.Name}: ${JSON.stringify(r.json)}`);
    }
    const left = (JSON.parse(execFileSync('ip', ['-j', 'link']).toString()) as { ifname: string }[]).map(
      (l) => l.ifname,
    );
    const bridge = nets.find((n) => n.Name === 'bridge');
    assert.deepEqual(
      left.sort(),
      ['lo', ...(bridge ? [bridge.Options['com.docker.network.bridge.name'] ?? ''] : [])].sort(),
    );
    assert.deepEqual(
      readdirSync(nsDir).filter((n) => n !== 'default'),
      [],
    );
  });
});
