import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ControllerEvent, NetworkController } from '../../src/index.ts';
import { world } from '../harness/world.ts';

// controller.observe: the network events and operation outcomes the daemon's events and metrics
// are built on (null networks: sandboxes are real namespaces in the world, nothing else is made).

const resolvConf = join(world.runDir, 'obs-resolv.conf');
writeFileSync(resolvConf, 'nameserver 10.1.1.1\n');
let ctl: NetworkController;

before(async () => {
  ctl = await NetworkController.create({ runDir: join(world.runDir, 'obs'), hostResolvConf: resolvConf });
});

after(async () => {
  await ctl.close();
});

const brief = (e: ControllerEvent) =>
  e.kind === 'network'
    ? `${e.action} ${e.network.name}${'containerId' in e ? ` ${e.containerId}` : ''}`
    : `${e.operation} ${e.ok ? 'ok' : `failed ${(e.error as { code?: string }).code}`}`;

test('every operation reports its outcome, and a success its network event', async () => {
  const seen: ControllerEvent[] = [];
  const stop = ctl.observe((e) => seen.push(e));
  try {
    const n = await ctl.newNetwork('null', 'obs-n');
    await assert.rejects(ctl.newNetwork('null', 'obs-n'), { code: 'ERR_NETWORK_NAME_EXISTS' });
    const ep = await n.connect('c1');
    await ep.leaveAndDelete();
    const ep2 = await n.createEndpoint('e2');
    await ep2.join('c2');
    await ep2.leave('c2');
    await ep2.delete();
    await n.connect('c3');
    await ctl.deleteSandbox('c3', { deleteEndpoints: true }); // a container removed: its disconnects
    await n.delete();
    assert.deepEqual(seen.map(brief), [
      'create ok',
      'create obs-n',
      'create failed ERR_NETWORK_NAME_EXISTS',
      'connect ok',
      'connect obs-n c1',
      'disconnect obs-n c1',
      'disconnect ok',
      'connect ok',
      'connect obs-n c2',
      'disconnect obs-n c2',
      'disconnect ok',
      'connect ok',
      'connect obs-n c3',
      'disconnect obs-n c3',
      'disconnect ok',
      'delete ok',
      'destroy obs-n',
    ]);
    for (const e of seen) if (e.kind === 'operation') assert.ok(e.seconds >= 0 && e.seconds < 10);
    const create = seen[1];
    assert.ok(create?.kind === 'network');
    assert.deepEqual(create.network, { id: n.id, name: 'obs-n', type: 'null' });
  } finally {
    stop();
  }
});

test("a listener that throws changes no operation's outcome; a removed one hears nothing", async () => {
  const stopBad = ctl.observe(() => {
    throw new Error('listener bug');
  });
  const seen: ControllerEvent[] = [];
  const stop = ctl.observe((e) => seen.push(e));
  const n = await ctl.newNetwork('null', 'obs-m');
  stopBad();
  stop();
  await n.delete();
  assert.deepEqual(seen.map(brief), ['create ok', 'create obs-m']);
});
