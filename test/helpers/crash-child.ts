/**
 * A process that works the controller as fast as it can until it is killed (kill -9 by the
 * restore test, at a random moment): networks, endpoints with published ports, joins and leaves.
 * argv: <runDir> <dataDir>
 */
import { NetworkController } from '../../src/index.ts';
import { LmdbStore } from '../../src/store/index.ts';

const [runDir, dataDir] = process.argv.slice(2);
if (!runDir || !dataDir) throw new Error('usage: crash-child <runDir> <dataDir>');
const store = await LmdbStore.open({ dir: dataDir });
const ctl = await NetworkController.create({ runDir, store });
const net =
  ctl.networkByName('crashnet') ??
  (await ctl.newNetwork('bridge', 'crashnet', { ipam: { config: [{ subnet: '10.77.0.0/24' }] } }));
console.log('ready');
for (let i = 0; ; i++) {
  const name = `c${i % 6}`;
  const ep =
    net.endpointByName(name) ??
    (await net.createEndpoint(name, { portBindings: [{ proto: 'tcp', port: 80 }] }));
  if (ep.containerId) {
    await ep.leave(ep.containerId);
    if (i % 3 === 0) await ep.delete();
  } else {
    await ep.join(name);
  }
}
