import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../../src/daemon/daemon.ts';
import { world } from '../harness/world.ts';
import { call, waitForPing } from '../helpers/http.ts';
import { request, startServer } from '../helpers/traffic.ts';

const runDir = join(world.runDir, 'dnet');
const dataDir = join(world.runDir, 'data');
const sock = join(world.runDir, 'd.sock');

type Net = {
  Id: string;
  Name: string;
  Containers: Record<string, { IPv4Address: string; EndpointID: string }>;
};

test('a daemon restart keeps networks, containers, addresses and published ports (same IDs)', async () => {
  const d1 = await startDaemon({ runDir, dataDir, hosts: [`unix://${sock}`], log: () => {} });
  const created = await call(sock, 'POST', '/networks/create', {
    Name: 'app',
    IPAM: { Config: [{ Subnet: '10.55.0.0/24' }] },
  });
  assert.equal(created.status, 201);
  const id = (created.json as { Id: string }).Id;
  const conn = await call(sock, 'POST', `/networks/${id}/connect`, {
    Container: 'web',
    EndpointConfig: { PortBindings: { '80/tcp': [{ HostPort: '8088' }] } },
  });
  assert.equal(conn.status, 200);
  const before = (await call(sock, 'GET', `/networks/${id}`)).json as Net;
  const predefined = ((await call(sock, 'GET', '/networks')).json as Net[])
    .map((n) => `${n.Name}:${n.Id}`)
    .sort();
  await d1.close();

  const d2 = await startDaemon({ runDir, dataDir, hosts: [`unix://${sock}`], log: () => {} });
  try {
    const after = (await call(sock, 'GET', `/networks/${id}`)).json as Net;
    assert.equal(after.Id, id);
    assert.deepEqual(after.Containers, before.Containers, 'same container, endpoint ID and address');
    const again = ((await call(sock, 'GET', '/networks')).json as Net[])
      .map((n) => `${n.Name}:${n.Id}`)
      .sort();
    assert.deepEqual(again, predefined, 'bridge, host and none keep their IDs too');
    const sb = (await call(sock, 'GET', '/sandboxes/web')).json as { SandboxKey: string };
    assert.ok(existsSync(sb.SandboxKey));
    const srv = await startServer(sb.SandboxKey, 'tcp', '0.0.0.0', 80);
    try {
      assert.match(
        await request(undefined, 'tcp', '127.0.0.1', 8088),
        /^from /,
        'the port is still published',
      );
    } finally {
      srv.stop();
    }
    assert.equal((await call(sock, 'POST', `/networks/${id}/disconnect`, { Container: 'web' })).status, 200);
    assert.equal((await call(sock, 'DELETE', `/networks/${id}`)).status, 204);
  } finally {
    await d2.close();
  }
});

test('a second daemon on the same data directory is refused', async () => {
  const d = await startDaemon({ runDir, dataDir, hosts: [`unix://${sock}`], log: () => {} });
  try {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(world.root, 'bin/dnet.js'),
        'daemon',
        '--run-dir',
        runDir,
        '--data-dir',
        dataDir,
        '--host',
        `unix://${join(world.runDir, 'other.sock')}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.notEqual(code, 0);
    assert.match(err, /lock|in use|another/i);
    await waitForPing(sock);
  } finally {
    await d.close();
  }
});

test('sandboxes, container names and their connections survive a restart', async () => {
  const d1 = await startDaemon({ runDir, dataDir, hosts: [`unix://${sock}`], log: () => {} });
  const created = await call(sock, 'POST', '/sandboxes', { Name: 'sb1', Hostname: 'sb1' });
  assert.equal(created.status, 201);
  const sbId = (created.json as { Id: string }).Id;
  const net = await call(sock, 'POST', '/networks/create', {
    Name: 'keep',
    IPAM: { Config: [{ Subnet: '10.56.0.0/24' }] },
  });
  const netId = (net.json as { Id: string }).Id;
  assert.equal((await call(sock, 'POST', `/networks/${netId}/connect`, { Container: 'sb1' })).status, 200);
  // A container made by its first connect keeps its name too.
  assert.equal((await call(sock, 'POST', `/networks/${netId}/connect`, { Container: 'web2' })).status, 200);
  await d1.close();

  const d2 = await startDaemon({ runDir, dataDir, hosts: [`unix://${sock}`], log: () => {} });
  try {
    const sb = await call(sock, 'GET', '/sandboxes/sb1');
    assert.equal(sb.status, 200, 'POST /sandboxes is durable');
    const body = sb.json as { Id: string; Name: string; Networks: Record<string, { IPAddress: string }> };
    assert.equal(body.Id, sbId);
    assert.equal(body.Name, 'sb1');
    assert.equal(body.Networks.keep?.IPAddress, '10.56.0.2', 'still connected, same address');
    const web2 = await call(sock, 'GET', '/sandboxes/web2');
    assert.equal(web2.status, 200);
    assert.equal((web2.json as { Name: string }).Name, 'web2');
    // The names are taken: the same name is the same container, not a second one.
    assert.equal((await call(sock, 'POST', '/sandboxes', { Name: 'sb1' })).status, 409);
    const net2 = await call(sock, 'POST', '/networks/create', { Name: 'more' });
    const net2Id = (net2.json as { Id: string }).Id;
    assert.equal(
      (await call(sock, 'POST', `/networks/${net2Id}/connect`, { Container: 'web2' })).status,
      200,
    );
    const all = (await call(sock, 'GET', '/sandboxes')).json as { Name: string }[];
    assert.deepEqual(all.map((s) => s.Name).sort(), ['sb1', 'web2']);
    assert.equal((await call(sock, 'DELETE', '/sandboxes/web2')).status, 204);
    assert.equal((await call(sock, 'DELETE', '/sandboxes/sb1')).status, 204);
    assert.equal((await call(sock, 'DELETE', `/networks/${netId}`)).status, 204);
    assert.equal((await call(sock, 'DELETE', `/networks/${net2Id}`)).status, 204);
  } finally {
    await d2.close();
  }
});
