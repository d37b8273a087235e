// The README's usage example, plain JavaScript for Node 20 (and valid TypeScript). The test suite runs
// this file unchanged in a throwaway world, and from the packed tarball installed in an empty project.
import { NetworkController } from 'libnetwork';

const controller = await NetworkController.create({ runDir: process.env.DNET_RUN_DIR ?? '/run/dnet' });

// A network of the null driver: containers joined to it get a sandbox with loopback only.
const network = await controller.newNetwork('null', 'network1', { labels: { team: 'docs' } });
console.log(`network ${network.name}: ${network.id.slice(0, 12)} (${network.type})`);

const ep = await network.createEndpoint('Endpoint1');
const { sandboxKey } = await ep.join('container1', {
  hostname: 'test',
  domainname: 'example.org',
  extraHosts: [{ name: 'db', ip: '10.0.0.5' }],
});
console.log(`container1's network namespace: ${sandboxKey}`);

const info = await ep.info();
console.log(`hosts file: ${info.hostsPath}`);

console.log(controller.networkByName('network1') === network); // true
console.log(controller.networkByName('nope')); // undefined

await ep.leave('container1');
await ep.delete();
await network.delete();
await controller.close();
