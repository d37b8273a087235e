import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { HostPortInUseError, type Network, NetworkController } from '../../src/index.ts';
import { sctpSupported } from '../../src/os/host-port.ts';
import { holdPorts } from '../../src/portmapper/index.ts';
import { LmdbStore } from '../../src/store/index.ts';
import { world } from '../harness/world.ts';
import { request, startServer } from '../helpers/traffic.ts';

// Published host ports are held by a bound socket each (src/os/host-port.ts): no other program in
// the daemon's namespace (here: the world's root namespace) can bind them, and a port another
// program holds is refused. Checked with plain Node servers, in this process and in a child.

const run = promisify(execFile);

/** What binding hostIP:port gives a plain Node server in this process: 'OK' or the errno code. */
async function tryListen(proto: 'tcp' | 'udp', host: string, port: number): Promise<string> {
  if (proto === 'tcp') {
    const srv = net.createServer();
    return new Promise((resolve) => {
      srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
      srv.listen({ host, port, ipv6Only: host.includes(':') }, () => srv.close(() => resolve('OK')));
    });
  }
  const s = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: host.includes(':') });
  return new Promise((resolve) => {
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      resolve(e.code ?? String(e));
    });
    s.bind({ address: host, port }, () => s.close(() => resolve('OK')));
  });
}

/** The same from another process (a child node), as another program on the host would see it. */
async function tryListenChild(host: string, port: number): Promise<string> {
  const script = `const s = require('net').createServer();
s.on('error', (e) => { console.log(e.code); process.exit(0); });
s.listen(${port}, ${JSON.stringify(host)}, () => { console.log('OK'); s.close(); });`;
  const { stdout } = await run(process.execPath, ['-e', script]);
  return stdout.trim();
}

/** A server that holds a port, as another program would. */
async function listener(host: string, port: number): Promise<net.Server> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ host, port }, () => resolve());
  });
  return srv;
}

const openFds = () => readdirSync('/proc/self/fd').length;

let store: LmdbStore;
let ctl: NetworkController;
let n: Network;
const runDir = join(world.runDir, 'hold');
const dataDir = join(world.runDir, 'hold-data');

before(async () => {
  store = await LmdbStore.open({ dir: dataDir });
  ctl = await NetworkController.create({ runDir, store });
  n = await ctl.newNetwork('bridge', 'held', {
    enableIPv6: true,
    ipam: { config: [{ subnet: '10.77.0.0/24' }, { subnet: 'fd77::/64' }] },
  });
});

after(async () => {
  await ctl.close();
  await store.close();
});

describe('published ports hold their host port', () => {
  test('TCP, UDP, IPv4 and IPv6, wildcard and specific addresses, ranges: nobody else can bind them', async () => {
    const ep = await n.createEndpoint('web', {
      portBindings: [
        { proto: 'tcp', port: 80, hostPort: 18080 }, // 0.0.0.0 and :: (the endpoint has IPv6)
        { proto: 'udp', port: 53, hostPort: 15353 },
        { proto: 'tcp', port: 9000, portEnd: 9002, hostPort: 19000, hostPortEnd: 19002 },
        { proto: 'tcp', port: 81, hostIP: '127.0.0.1', hostPort: 18081 },
        { proto: 'udp', port: 54, hostIP: '::1', hostPort: 15354 },
      ],
    });
    const { sandboxKey } = await ep.join('web');
    const server = await startServer(sandboxKey, 'tcp', '0.0.0.0', 80);
    try {
      assert.equal(await tryListen('tcp', '0.0.0.0', 18080), 'EADDRINUSE');
      assert.equal(await tryListen('tcp', '127.0.0.1', 18080), 'EADDRINUSE', '0.0.0.0 covers 127.0.0.1');
      assert.equal(await tryListen('tcp', '::', 18080), 'EADDRINUSE', 'published on :: too');
      assert.equal(await tryListenChild('0.0.0.0', 18080), 'EADDRINUSE', 'another process is refused');
      assert.equal(await tryListen('udp', '0.0.0.0', 15353), 'EADDRINUSE');
      assert.equal(await tryListen('udp', '::', 15353), 'EADDRINUSE');
      for (const p of [19000, 19001, 19002]) assert.equal(await tryListen('tcp', '0.0.0.0', p), 'EADDRINUSE');
      assert.equal(await tryListen('tcp', '127.0.0.1', 18081), 'EADDRINUSE');
      assert.equal(await tryListen('tcp', '0.0.0.0', 18081), 'EADDRINUSE', 'a wildcard over a held address');
      assert.equal(await tryListen('udp', '::1', 15354), 'EADDRINUSE');
      // ports not published stay free; the UDP port is not held for TCP
      assert.equal(await tryListen('tcp', '0.0.0.0', 19003), 'OK');
      assert.equal(await tryListen('tcp', '0.0.0.0', 15353), 'OK');
      // and the published port still takes its traffic (the held socket does not listen)
      assert.match(await request(undefined, 'tcp', '127.0.0.1', 18080), /^from /);

      await ep.leave('web');
      for (const [proto, host, port] of [
        ['tcp', '0.0.0.0', 18080],
        ['tcp', '::', 18080],
        ['udp', '0.0.0.0', 15353],
        ['tcp', '0.0.0.0', 19001],
        ['tcp', '127.0.0.1', 18081],
        ['udp', '::1', 15354],
      ] as const) {
        assert.equal(
          await tryListen(proto, host, port),
          'OK',
          `${proto} ${host}:${port} is free after leave`,
        );
      }
      await ep.delete();
    } finally {
      server.stop();
    }
  });

  test('a port another program holds is refused with ERR_PORT_IN_USE, and nothing is left allocated', async () => {
    const other = await listener('0.0.0.0', 18090);
    const ep = await n.createEndpoint('clash', {
      portBindings: [
        { proto: 'tcp', port: 80, hostPort: 18091 },
        { proto: 'udp', port: 53, hostPort: 18091 },
        { proto: 'tcp', port: 81, hostPort: 18090 },
      ],
    });
    try {
      await assert.rejects(ep.join('clash'), (err: unknown) => {
        assert.ok(err instanceof HostPortInUseError, String(err));
        assert.equal(err.code, 'ERR_PORT_IN_USE');
        assert.deepEqual([err.proto, err.hostIP, err.hostPort], ['tcp', '0.0.0.0', 18090]);
        assert.match(err.message, /0\.0\.0\.0:18090.*another program/);
        return true;
      });
      assert.equal(ctl.sandboxByContainer('clash'), undefined);
      assert.equal(await tryListen('tcp', '0.0.0.0', 18091), 'OK', 'all or nothing: 18091 was let go');
      assert.equal(await tryListen('udp', '0.0.0.0', 18091), 'OK');
      // the allocator let them go too: the same ports can be published at once
      const ok = await n.createEndpoint('noclash', {
        portBindings: [
          { proto: 'tcp', port: 80, hostPort: 18091 },
          { proto: 'udp', port: 53, hostPort: 18091 },
        ],
      });
      await ok.join('noclash');
      assert.equal(await tryListen('tcp', '0.0.0.0', 18091), 'EADDRINUSE');
      await ok.leave('noclash');
      await ok.delete();
    } finally {
      await ep.delete();
      await new Promise((r) => other.close(r));
    }
    // once the other program is gone, the port can be published
    const later = await n.createEndpoint('later', {
      portBindings: [{ proto: 'tcp', port: 81, hostPort: 18090 }],
    });
    await later.join('later');
    assert.equal(await tryListen('tcp', '0.0.0.0', 18090), 'EADDRINUSE');
    await later.leave('later');
    await later.delete();
  });

  test('with the userland proxy its listener holds the port (no second socket)', async () => {
    await ctl.configureNetworkDriver('bridge', { userlandProxy: true });
    try {
      const ep = await n.createEndpoint('px', {
        portBindings: [{ proto: 'tcp', port: 80, hostPort: 18095 }],
      });
      await ep.join('px');
      assert.equal(await tryListen('tcp', '0.0.0.0', 18095), 'EADDRINUSE');
      await ep.leave('px');
      assert.equal(await tryListen('tcp', '0.0.0.0', 18095), 'OK');
      await ep.delete();
    } finally {
      await ctl.configureNetworkDriver('bridge', { userlandProxy: false });
    }
  });

  test('SCTP is held when the kernel has SCTP sockets, and published either way', async () => {
    const ep = await n.createEndpoint('sctp', {
      portBindings: [{ proto: 'sctp', port: 80, hostPort: 18096 }],
    });
    await ep.join('sctp');
    assert.equal((await ep.info()).portMappings[0]?.proto, 'sctp');
    const probe = await run(process.execPath, [
      '-e',
      // Node has no SCTP sockets; the kernel's answer is read from /proc instead.
      `console.log(require('fs').existsSync('/proc/net/sctp') ? 'yes' : 'no')`,
    ]);
    if (probe.stdout.trim() === 'yes') assert.equal(sctpSupported(), true);
    await ep.leave('sctp');
    await ep.delete();
  });

  test('a restart holds the published ports again; closing the controller lets them go', async () => {
    const ep = await n.createEndpoint('keep', {
      portBindings: [{ proto: 'tcp', port: 80, hostPort: 18097 }],
    });
    await ep.join('keep');
    assert.equal(await tryListen('tcp', '0.0.0.0', 18097), 'EADDRINUSE');
    await ctl.close();
    // As when the daemon process exits: the mapping stays (records, firewall), the socket goes.
    assert.equal(await tryListen('tcp', '0.0.0.0', 18097), 'OK');
    ctl = await NetworkController.create({ runDir, store });
    assert.deepEqual(ctl.lastRestore?.problems, []);
    assert.equal(await tryListen('tcp', '0.0.0.0', 18097), 'EADDRINUSE', 'held again after restore');
    assert.equal(await tryListen('tcp', '::', 18097), 'EADDRINUSE');
    const again = ctl.networkByName('held')?.endpointByName('keep');
    assert.ok(again);
    await again.leave('keep');
    assert.equal(await tryListen('tcp', '0.0.0.0', 18097), 'OK');
    await again.delete();
    n = ctl.networkByName('held') as Network;
  });

  test('a port another program took while dnet was down stays published, unheld, with a warning', async () => {
    const ep = await n.createEndpoint('taken', {
      portBindings: [{ proto: 'tcp', port: 80, hostPort: 18098 }],
    });
    await ep.join('taken');
    await ctl.close();
    const thief = await listener('0.0.0.0', 18098);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => {
      if (w.name === 'DnetPortWarning') warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      ctl = await NetworkController.create({ runDir, store });
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.deepEqual(ctl.lastRestore?.problems, []);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]?.message ?? '', /0\.0\.0\.0:18098 failed: port is already in use/);
      const again = ctl.networkByName('held')?.endpointByName('taken');
      assert.equal((await again?.info())?.portMappings[0]?.hostPort, 18098, 'the mapping is kept');
      assert.equal(await tryListen('tcp', '::', 18098), 'EADDRINUSE', 'the IPv6 side is held');
      await again?.leave('taken');
      await again?.delete();
      n = ctl.networkByName('held') as Network;
    } finally {
      process.off('warning', onWarning);
      await new Promise((r) => thief.close(r));
    }
  });

  test('cost: one socket and one bind per port', (t) => {
    const allocs = [{ proto: 'tcp' as const, hostIP: '0.0.0.0', hostPort: 30000, hostPortEnd: 30999 }];
    const fds = openFds();
    const t0 = performance.now();
    const held = holdPorts(allocs);
    const ms = performance.now() - t0;
    assert.equal(held.size, 1000);
    assert.equal(openFds(), fds + 1000);
    held.release();
    held.release(); // idempotent
    assert.equal(openFds(), fds);
    t.diagnostic(`holding 1000 TCP ports: ${ms.toFixed(2)} ms (${ms.toFixed(1)} µs per port)`);
  });

  test('the network goes, nothing is left', async () => {
    await n.delete();
    // Detached sandboxes' namespaces and dying veths are reclaimed in the background: wait for it.
    await ctl.settled();
    const { stdout } = await run('ip', ['-j', 'link']);
    assert.deepEqual(
      (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname),
      ['lo'],
    );
  });
});
