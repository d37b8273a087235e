/**
 * `network.connect(id, { externalNetns })`: the container's first join makes its sandbox on an
 * existing namespace (a CNI runtime's), recorded with the connect; the last leave removes the
 * sandbox, never the namespace, and its interface there is renamed out of the way at once (the
 * veth goes in the background). Real netlink and namespaces; a store, so records are checked.
 */
import '../harness/world.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InvalidOptionError, LmdbStore, type Network, NetworkController } from '../../src/index.ts';
import { world } from '../harness/world.ts';

let ctl: NetworkController;
let net: Network;
let store: LmdbStore;
const ns = 'hc-ext';
const path = `/run/netns/${ns}`;
const links = () => execFileSync('ip', ['-n', ns, '-o', 'link', 'show'], { encoding: 'utf8' });

before(async () => {
  execFileSync('ip', ['netns', 'add', ns]);
  store = await LmdbStore.open({ dir: join(world.runDir, 'dnet-ext-data') });
  ctl = await NetworkController.create({ runDir: join(world.runDir, 'dnet-ext'), store });
  net = await ctl.newNetwork('bridge', 'ext', {
    ipam: { config: [{ subnet: '10.80.0.0/24' }] },
    options: { 'com.docker.network.bridge.name': 'hcext0' },
  });
});

after(async () => {
  await ctl.settled();
  await net.delete();
  await ctl.close();
  await store.close();
  execFileSync('ip', ['netns', 'del', ns]);
});

describe('connect with externalNetns', () => {
  test('the sandbox is the namespace, made with the connect and gone with the last leave', async () => {
    const ep = await net.connect('ext-a', { endpointName: 'ext-a', externalNetns: path });
    const sb = ctl.sandboxByContainer('ext-a');
    assert.ok(sb?.external, 'an external sandbox');
    assert.equal(sb.key, path);
    assert.match(links(), /: eth0@/, 'the interface is in the runtime namespace');
    const rec = await store.get(`dnet/sandboxes/ext-a`);
    assert.ok(rec, 'the sandbox is recorded');
    await ep.leaveAndDelete();
    assert.equal(ctl.sandboxByContainer('ext-a'), undefined, 'the sandbox went with its last endpoint');
    assert.equal(await store.get(`dnet/sandboxes/ext-a`), undefined, 'and its record');
    assert.ok(existsSync(path), 'the namespace stays');
    assert.doesNotMatch(links(), /: eth0@/, 'its interface left its name at once');
    await ctl.settled();
    assert.deepEqual(
      links()
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => l.split(':')[1]?.trim()),
      ['lo'],
      'the veth is gone once the background is done',
    );
  });

  test("the runtime's files are its own: neither written nor removed", async () => {
    const hostsPath = join(world.runDir, 'runtime-hosts');
    writeFileSync(hostsPath, 'the runtime wrote this\n');
    const ep = await net.connect('ext-c', { externalNetns: path, join: { hostsPath } });
    assert.equal(readFileSync(hostsPath, 'utf8'), 'the runtime wrote this\n');
    await ep.leaveAndDelete();
    assert.equal(readFileSync(hostsPath, 'utf8'), 'the runtime wrote this\n', 'still there');
  });

  test('refused: a relative path; a failed connect leaves no sandbox', async () => {
    await assert.rejects(
      net.connect('ext-b', { externalNetns: 'netns/x' }),
      (e: unknown) => e instanceof InvalidOptionError && /absolute path/.test(e.message),
    );
    await assert.rejects(net.connect('ext-b', { externalNetns: join(world.runDir, 'nothing') }));
    assert.equal(ctl.sandboxByContainer('ext-b'), undefined);
    assert.equal(await store.get(`dnet/sandboxes/ext-b`), undefined);
  });
});
