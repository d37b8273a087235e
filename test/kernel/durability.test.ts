/**
 * A connect (endpoint + join, sandbox made) and a disconnect (leave + delete) are each one
 * operation across a crash: a process killed -9 at any step leaves, after the next start,
 * either all of it or none of it, nothing half done, nothing leaked. Each step is reached
 * exactly (test/helpers/crash-point-child.ts stops there), with the real bridge driver, netlink,
 * nftables and LMDB.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NetworkController } from '../../src/index.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { listNetns } from '../../src/os/netns/index.ts';
import { LmdbStore } from '../../src/store/index.ts';
import { world } from '../harness/world.ts';
import { request, startServer } from '../helpers/traffic.ts';

const nl = NetlinkHandle.open();
// Each case gets its own run and data directories (a run directory's netns/ is a mount point).
let runDir = '';
let dataDir = '';
let n = 0;
function fresh(): void {
  n++;
  runDir = join(world.runDir, `cp-run-${n}`);
  dataDir = join(world.runDir, `cp-data-${n}`);
}

async function crashAt(op: 'connect' | 'disconnect', point: string): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(world.root, 'test/helpers/crash-point-child.ts'), runDir, dataDir, op, point],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let out = '';
  const reached = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes(`at ${point}`)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    void exited.then(() => resolve(false));
  });
  child.kill('SIGKILL');
  await exited;
  assert.ok(reached, `${op} never reached ${point}: ${out}`);
}

async function open() {
  const store = await LmdbStore.open({ dir: dataDir });
  const ctl = await NetworkController.create({ runDir, store });
  return { ctl, store };
}

/** 'none' or 'all' of the connect, checked against the kernel and the run directory; else throws. */
async function connectState(ctl: NetworkController): Promise<'none' | 'all'> {
  const net = ctl.networkByName('cp');
  assert.ok(net, 'the network is restored');
  const eps = net.endpoints();
  const namespaces = listNetns({ runDir }).filter((n) => n !== 'default');
  const sandboxDirs = existsSync(join(runDir, 'sandboxes')) ? readdirSync(join(runDir, 'sandboxes')) : [];
  const veths = nl
    .linkList()
    .map((l) => l.name)
    .filter((n) => n.startsWith('dv'));
  if (eps.length === 0) {
    assert.equal(ctl.sandboxByContainer('c1'), undefined, 'no sandbox without its endpoint');
    assert.deepEqual(namespaces, [], 'no namespace left');
    assert.deepEqual(sandboxDirs, [], 'no sandbox directory left');
    assert.deepEqual(veths, [], 'no veth left');
    return 'none';
  }
  assert.equal(eps.length, 1);
  const info = await eps[0]!.info();
  assert.equal(info.containerId, 'c1', 'the endpoint is joined: never an endpoint without its join');
  assert.equal(info.ipv4Address, '10.78.0.2/24');
  assert.equal(info.portMappings[0]?.hostPort, 8081);
  assert.equal(namespaces.length, 1);
  assert.equal(sandboxDirs.length, 1);
  const inNs = NetlinkHandle.open({ netns: { path: info.sandboxKey ?? '' } });
  try {
    assert.deepEqual(
      inNs
        .addrList('eth0')
        .map((a) => a.cidr)
        .filter((c) => !c.includes(':')),
      ['10.78.0.2/24'],
    );
  } finally {
    inNs.close();
  }
  const srv = await startServer(info.sandboxKey, 'tcp', '0.0.0.0', 80);
  try {
    assert.match(await request(undefined, 'tcp', '127.0.0.1', 8081), /^from /, 'the port is published');
  } finally {
    srv.stop();
  }
  return 'all';
}

/** Restarts, checks all-or-nothing, then proves the address and port are free and cleans up. */
async function restartAndCheck(want: 'none' | 'all'): Promise<void> {
  const { ctl, store } = await open();
  try {
    assert.deepEqual(ctl.lastRestore?.problems, []);
    assert.equal(await connectState(ctl), want);
    const net = ctl.networkByName('cp');
    assert.ok(net);
    for (const ep of net.endpoints()) await ep.leaveAndDelete();
    // Nothing of the interrupted operation holds the address or the host port any more.
    const again = await net.connect('c1', {
      endpointName: 'c1',
      endpoint: { portBindings: [{ proto: 'tcp', port: 80, hostPort: 8081 }] },
    });
    assert.equal((await again.info()).ipv4Address, '10.78.0.2/24');
    await again.leaveAndDelete();
    await net.delete();
  } finally {
    await ctl.close();
    await store.close();
  }
  assert.deepEqual(
    nl
      .linkList()
      .map((l) => l.name)
      .filter((n) => n !== 'lo'),
    [],
    'nothing left in the kernel',
  );
  rmSync(dataDir, { recursive: true, force: true });
}

describe('a connect is one operation across kill -9', () => {
  const cases: [point: string, want: 'none' | 'all'][] = [
    ['commit:1', 'none'], // the intent was never written
    ['committed:1', 'none'], // intent written, nothing done
    ['before:createEndpoint', 'none'],
    ['after:createEndpoint', 'none'],
    ['after:join', 'none'], // the veth exists, in the sandbox
    ['after:programExternalConnectivity', 'none'], // interface, address, routes, port published
    ['commit:2', 'none'], // everything done in the kernel, the result not recorded
    ['committed:2', 'all'], // the result recorded (acknowledged a moment later)
  ];
  for (const [point, want] of cases) {
    test(`killed at ${point}: ${want === 'all' ? 'all of it' : 'none of it'} after the restart`, async () => {
      fresh();
      await crashAt('connect', point);
      await restartAndCheck(want);
    });
  }
});

describe('a disconnect is one operation across kill -9', () => {
  const cases: [point: string, want: 'none' | 'all'][] = [
    ['commit:1', 'all'], // the intent was never written: still connected
    ['committed:1', 'none'], // from here on the next start finishes it
    ['after:revokeExternalConnectivity', 'none'],
    ['after:leave', 'none'],
    ['after:deleteEndpoint', 'none'],
    ['commit:2', 'none'],
    // The result recorded, the namespace and the veth not removed yet (the background would):
    // the next start removes them.
    ['committed:2', 'none'],
  ];
  for (const [point, want] of cases) {
    test(`killed at ${point}: ${want === 'all' ? 'still connected' : 'disconnected'} after the restart`, async () => {
      fresh();
      await crashAt('disconnect', point);
      await restartAndCheck(want);
    });
  }
});
