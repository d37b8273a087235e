// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
// The remote IPAM capability RequiresMACAddress, through real plugin processes
// (test/helpers/plugin-server.ts): the core makes up a MAC before asking for the address, sends it
// in RequestAddress's Options (com.docker.network.endpoint.macaddress), and the endpoint keeps it
// (the container's interface has it); a MAC the user gave is the one sent; without the capability
// no MAC is sent or made up; a replayed request (RequiresRequestReplay) after a restart carries it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { NetworkController } from '../../src/index.ts';
import { LmdbStore } from '../../src/store/index.ts';
import { type PluginState, TestPlugin } from '../helpers/plugin-process.ts';

const MAC_OPTION = 'com.docker.network.endpoint.macaddress';
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const runDir = join(world.runDir, 'dnet');
const dataDir = join(world.runDir, 'data');
const resolvConf = join(world.runDir, 'resolv.conf');
writeFileSync(resolvConf, 'nameserver 10.1.1.1\n');
const sockets = join(world.runDir, 'plugins');
mkdirSync(sockets, { recursive: true });

let store: LmdbStore;
let ctl: NetworkController;
let tnet: TestPlugin;
/** RequiresMACAddress and RequiresRequestReplay. */
let macipam: TestPlugin;
/** GetCapabilities says RequiresMACAddress: false. */
let plainipam: TestPlugin;

async function open(): Promise<void> {
  store = await LmdbStore.open({ dir: dataDir });
  ctl = await NetworkController.create({
    runDir,
    store,
    hostResolvConf: resolvConf,
    pluginDirs: { sockets: [sockets], specs: [] },
    pluginTimeouts: { callTimeoutMs: 5000, retryInitialMs: 50, retryTotalMs: 500 },
  });
}
async function close(): Promise<void> {
  await ctl?.close();
  await store?.close();
}

before(async () => {
  [tnet, macipam, plainipam] = await Promise.all([
    TestPlugin.start({ socket: join(sockets, 'tnet.sock'), implements: ['NetworkDriver'] }),
    TestPlugin.start({
      socket: join(sockets, 'macipam.sock'),
      implements: ['IpamDriver'],
      ipamCapabilities: { RequiresMACAddress: true, RequiresRequestReplay: true },
    }),
    TestPlugin.start({
      socket: join(sockets, 'plainipam.sock'),
      implements: ['IpamDriver'],
      ipamCapabilities: { RequiresMACAddress: false },
    }),
  ]);
  await open();
});
after(async () => {
  await close();
  await Promise.all([tnet?.stop(), macipam?.stop(), plainipam?.stop()]);
});
beforeEach(async () => {
  await Promise.all([tnet.clear(), macipam.clear(), plainipam.clear()]);
});

type AddressBody = { PoolID: string; Address: string; Options: Record<string, string> };
const addressRequests = (st: PluginState) =>
  st.calls.filter((c) => c.method === 'IpamDriver.RequestAddress').map((c) => c.body as AddressBody);
const linkMac = (nsPath: string, dev: string) =>
  (
    JSON.parse(
      execFileSync('nsenter', [`--net=${nsPath}`, 'ip', '-j', 'link', 'show', 'dev', dev]).toString(),
    ) as { address: string }[]
  )[0]?.address;

describe('RequiresMACAddress: true', () => {
  test('a MAC is made up before RequestAddress, sent in its Options, kept by the endpoint and its interface', async () => {
    const n = await ctl.newNetwork('tnet', 'macnet', {
      ipam: { driver: 'macipam', config: [{ subnet: '10.91.0.0/24' }] },
    });
    // The network's own addresses (the gateway) carry no MAC.
    assert.deepEqual(addressRequests(await macipam.state()), [
      {
        PoolID: 'plugin-local/10.91.0.0/24',
        Address: '',
        Options: { RequestAddressType: 'com.docker.network.gateway' },
      },
    ]);
    await macipam.clear();

    const a = await n.createEndpoint('a');
    const b = await n.createEndpoint('b', { ipv4Address: '10.91.0.50' });
    const [ra, rb] = addressRequests(await macipam.state());
    const macA = ra?.Options[MAC_OPTION] ?? '';
    const macB = rb?.Options[MAC_OPTION] ?? '';
    assert.deepEqual(ra, {
      PoolID: 'plugin-local/10.91.0.0/24',
      Address: '',
      Options: { [MAC_OPTION]: macA },
    });
    assert.deepEqual(rb, {
      PoolID: 'plugin-local/10.91.0.0/24',
      Address: '10.91.0.50',
      Options: { [MAC_OPTION]: macB },
    });
    for (const mac of [macA, macB]) {
      assert.match(mac, MAC);
      const first = Number.parseInt(mac.slice(0, 2), 16);
      assert.equal(first & 0x03, 0x02, `${mac}: unicast, locally administered`);
    }
    assert.notEqual(macA, macB, 'each endpoint gets its own');

    // The endpoint keeps it: the network driver gets it in CreateEndpoint, info reports it.
    const infoA = await a.info();
    assert.equal(infoA.macAddress, macA);
    assert.equal(infoA.ipv4Address, '10.91.0.2/24');
    assert.equal((await b.info()).macAddress, macB);
    const st = await tnet.state();
    assert.equal((st.endpoints[a.id]?.request.Interface as { MacAddress: string }).MacAddress, macA);
    assert.equal((st.endpoints[b.id]?.request.Interface as { MacAddress: string }).MacAddress, macB);

    // The container's interface has it.
    const { sandboxKey } = await a.join('ca');
    assert.equal(linkMac(sandboxKey, 'eth0'), macA);
    await a.leave('ca');
    await a.delete();
    await b.delete();
    assert.deepEqual((await macipam.state()).pools['plugin-local/10.91.0.0/24']?.used, ['10.91.0.1']);
    await n.delete();
  });

  test('a MAC the user gave is the one sent (lower-case), and the interface has it', async () => {
    const n = await ctl.newNetwork('tnet', 'macnet2', {
      ipam: { driver: 'macipam', config: [{ subnet: '10.92.0.0/24' }] },
    });
    await macipam.clear();
    const ep = await n.createEndpoint('u', { macAddress: '0A:42:AC:11:00:99' });
    assert.deepEqual(addressRequests(await macipam.state()), [
      { PoolID: 'plugin-local/10.92.0.0/24', Address: '', Options: { [MAC_OPTION]: '0a:42:ac:11:00:99' } },
    ]);
    assert.equal((await ep.info()).macAddress, '0a:42:ac:11:00:99');
    const { sandboxKey } = await ep.join('cu');
    assert.equal(linkMac(sandboxKey, 'eth0'), '0a:42:ac:11:00:99');
    await ep.leave('cu');
    await ep.delete();
    await n.delete();
  });

  test('after a restart the replayed RequestAddress (RequiresRequestReplay) carries the same MAC', async () => {
    const n = await ctl.newNetwork('tnet', 'macnet3', {
      ipam: { driver: 'macipam', config: [{ subnet: '10.93.0.0/24' }] },
    });
    const made = await n.createEndpoint('r');
    const given = await n.createEndpoint('g', { macAddress: '06:00:00:00:00:07' });
    const madeMac = (await made.info()).macAddress ?? '';
    assert.match(madeMac, MAC);
    const { sandboxKey } = await made.join('cr');

    // The IPAM plugin restarts without its state (that is why it asks for replay); so does dnet.
    await close();
    await macipam.restart();
    await open();
    assert.deepEqual(ctl.lastRestore?.problems, []);
    // (endpoints come back in the store's order, not creation order)
    const replayed = addressRequests(await macipam.state()).sort((x, y) =>
      x.Address.localeCompare(y.Address, 'en', { numeric: true }),
    );
    assert.deepEqual(replayed, [
      {
        PoolID: 'plugin-local/10.93.0.0/24',
        Address: '10.93.0.1',
        Options: { RequestAddressType: 'com.docker.network.gateway' },
      },
      { PoolID: 'plugin-local/10.93.0.0/24', Address: '10.93.0.2', Options: { [MAC_OPTION]: madeMac } },
      {
        PoolID: 'plugin-local/10.93.0.0/24',
        Address: '10.93.0.3',
        Options: { [MAC_OPTION]: '06:00:00:00:00:07' },
      },
    ]);
    const n2 = ctl.networkByName('macnet3');
    const made2 = n2?.endpointByID(made.id);
    const given2 = n2?.endpointByID(given.id);
    assert.equal((await made2?.info())?.macAddress, madeMac);
    assert.equal((await given2?.info())?.macAddress, '06:00:00:00:00:07');
    assert.equal(linkMac(sandboxKey, 'eth0'), madeMac);

    await made2?.leave('cr');
    await made2?.delete();
    await given2?.delete();
    await n2?.delete();
    assert.deepEqual((await macipam.state()).pools, {});
  });
});

describe('RequiresMACAddress: false', () => {
  test('no MAC is sent or made up; a MAC the user gave is not sent either', async () => {
    const n = await ctl.newNetwork('tnet', 'plainnet', {
      ipam: { driver: 'plainipam', config: [{ subnet: '10.94.0.0/24' }] },
    });
    const ipam = await ctl.drivers.ipamDriver('plainipam');
    assert.deepEqual(await ipam.capabilities(), { requiresMacAddress: false, requiresRequestReplay: false });
    await plainipam.clear();
    const a = await n.createEndpoint('a');
    const u = await n.createEndpoint('u', { macAddress: '0a:00:00:00:00:01' });
    assert.deepEqual(addressRequests(await plainipam.state()), [
      { PoolID: 'plugin-local/10.94.0.0/24', Address: '', Options: {} },
      { PoolID: 'plugin-local/10.94.0.0/24', Address: '', Options: {} },
    ]);
    assert.equal((await a.info()).macAddress, undefined, 'no MAC was made up');
    const st = await tnet.state();
    assert.equal((st.endpoints[a.id]?.request.Interface as { MacAddress: string }).MacAddress, '');
    assert.equal((await u.info()).macAddress, '0a:00:00:00:00:01');
    await a.delete();
    await u.delete();
    await n.delete();
    assert.deepEqual((await plainipam.state()).pools, {});
  });
});
