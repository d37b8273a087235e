/**
 * `make start` runs this inside a throwaway world (its own network and mount namespaces): a
 * bridge network, two containers, a published port reached from a "remote host" namespace, each
 * step timed. Nothing is left behind, and the machine's own network is never touched.
 */
import { execFile, execFileSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { NetworkController } from '../src/index.ts';
import { NetlinkHandle } from '../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../src/os/netns/index.ts';

if (process.env.DNET_WORLD !== '1') {
  console.error('run me with `make start` (inside a throwaway network namespace)');
  process.exit(2);
}

async function step<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
  const t = performance.now();
  const r = await fn();
  console.log(`  ${what.padEnd(72)} ${((performance.now() - t) * 1000).toFixed(0).padStart(7)} µs`);
  return r;
}

/** Runs a one-line Node program inside a namespace (by path) and returns what it printed. */
function inNs(nsPath: string, script: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('nsenter', [`--net=${nsPath}`, process.execPath, '-e', script], { timeout: 5000 }, (err, out) =>
      err ? reject(err) : resolve(out),
    ),
  );
}

console.log('dnet walkthrough: the Container Network Model, in-process, in a throwaway world\n');

// A "remote host": another namespace, linked to this one by a veth (192.0.2.0/24).
const nl = NetlinkHandle.open();
createNetns('remote');
const fd = openNetns('remote');
nl.linkAdd({ kind: 'veth', name: 'uplink0', up: true, peer: { name: 'eth0', netns: { fd } } });
closeSync(fd);
const remote = NetlinkHandle.open({ netns: { path: '/run/netns/remote' } });
remote.linkSet('lo', { up: true });
remote.linkSet('eth0', { up: true });
remote.addrAdd('eth0', '192.0.2.2/24');
nl.addrAdd('uplink0', '192.0.2.1/24');
console.log('  (set up a remote host 192.0.2.2 on uplink0; this world is the host, 192.0.2.1)\n');

const ctl = await NetworkController.create({ runDir: '/run/dnet' });
const net = await step('network "web": bridge, 172.30.0.0/16, NAT, firewall', () =>
  ctl.newNetwork('bridge', 'web', {
    ipam: { config: [{ subnet: '172.30.0.0/16' }] },
    options: { 'com.docker.network.bridge.name': 'dnet-web' },
  }),
);
const app = await step('endpoint "app", publishing container port 80 on host port 8080', () =>
  net.createEndpoint('app', { portBindings: [{ proto: 'tcp', port: 80, hostPort: 8080 }] }),
);
const appJoin = await step('container "app" joins: sandbox, eth0, address, route, hosts, port', () =>
  app.join('app', { hostname: 'app', domainname: 'example.org' }),
);
const db = await step('endpoint "db"', () => net.createEndpoint('db'));
const dbJoin = await step('container "db" joins', () => db.join('db', { hostname: 'db' }));

const appInfo = await app.info();
const dbInfo = await db.info();
console.log(`\napp: ${appInfo.ipv4Address} on ${appInfo.interfaceName}, MAC ${appInfo.macAddress}`);
console.log(`     sandbox ${appJoin.sandboxKey}`);
console.log(
  `     published ${appInfo.portMappings.map((p) => `${p.hostIP}:${p.hostPort}->${p.port}/${p.proto}`).join(', ')}`,
);
console.log(`db:  ${dbInfo.ipv4Address}, sandbox ${dbJoin.sandboxKey}`);
console.log(`\napp's view (ip -br addr; ip route):`);
console.log(
  execFileSync('nsenter', [`--net=${appJoin.sandboxKey}`, 'ip', '-br', 'addr'])
    .toString()
    .trimEnd(),
);
console.log(
  execFileSync('nsenter', [`--net=${appJoin.sandboxKey}`, 'ip', 'route'])
    .toString()
    .trimEnd(),
);

// A web server "in" app: a child process inside its sandbox, answering with the client's address.
const server = execFile('nsenter', [
  `--net=${appJoin.sandboxKey}`,
  process.execPath,
  '-e',
  "require('net').createServer((s) => s.end('hello from app, you are ' + s.remoteAddress)).listen(80, () => console.log('up'))",
]);
await new Promise((r) => server.stdout?.once('data', r));
const get = (host: string, port: number) =>
  `require('net').connect(${port}, '${host}').on('data', (d) => process.stdout.write(d)).on('error', (e) => process.stdout.write('failed: ' + e.code))`;
const appIp = (appInfo.ipv4Address ?? '').split('/')[0] ?? '';
console.log(`\ndb -> app:80 directly:            ${await inNs(dbJoin.sandboxKey, get(appIp, 80))}`);
console.log(`remote host -> 192.0.2.1:8080:    ${await inNs('/run/netns/remote', get('192.0.2.1', 8080))}`);
console.log(`this host -> 127.0.0.1:8080:      ${await inNs('/proc/self/ns/net', get('127.0.0.1', 8080))}`);

// Outbound NAT: app reaches the remote host, which sees the host's address.
const remoteSrv = execFile('nsenter', [
  '--net=/run/netns/remote',
  process.execPath,
  '-e',
  "require('net').createServer((s) => s.end('remote sees ' + s.remoteAddress)).listen(9000, () => console.log('up'))",
]);
await new Promise((r) => remoteSrv.stdout?.once('data', r));
console.log(`app -> remote 192.0.2.2:9000:     ${await inNs(appJoin.sandboxKey, get('192.0.2.2', 9000))}`);
server.kill();
remoteSrv.kill();

console.log('\ncleaning up');
await step('app leaves (its port is unpublished, its sandbox removed)', () => app.leave('app'));
await step('db leaves', () => db.leave('db'));
await step('endpoints deleted', async () => {
  await app.delete();
  await db.delete();
});
await step('network deleted (bridge and firewall table removed)', () => net.delete());
await ctl.close();
remote.close();
nl.linkDel('uplink0');
deleteNetns('remote');
const left = nl.linkList().map((l) => l.name);
nl.close();
console.log(`\ndone: links left in this world: ${left.join(', ')}`);
