/**
 * `make start` runs this inside a throwaway world (its own network and mount namespaces): it
 * builds a small container network with the OS layer, in-process, and prints each step.
 */
import { execFile, execFileSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { NetlinkHandle } from '../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../src/os/netns/index.ts';
import { sysctlSet } from '../src/os/sysctl.ts';

if (process.env.DNET_WORLD !== '1') {
  console.error('run me with `make start` (inside a throwaway network namespace)');
  process.exit(2);
}

const step = (what: string, fn: () => void) => {
  const t = performance.now();
  fn();
  console.log(`  ${what.padEnd(72)} ${((performance.now() - t) * 1000).toFixed(0).padStart(6)} µs`);
};

console.log('dnet walkthrough: one bridge, two sandboxes, in-process netlink');
const h = NetlinkHandle.open();
step('bridge dnet0 with 172.18.0.1/16, up', () => {
  h.linkAdd({ kind: 'bridge', name: 'dnet0', up: true });
  h.addrAdd('dnet0', '172.18.0.1/16');
});
step('net.ipv4.ip_forward = 1 (in this world only)', () => sysctlSet('net.ipv4.ip_forward', 1));

const sandboxes = ['c1', 'c2'].map((name, i) => {
  let fd = -1;
  step(`sandbox ${name}: a named network namespace at /run/netns/${name}`, () => {
    createNetns(name);
    fd = openNetns(name);
  });
  const nl = NetlinkHandle.open({ netns: { fd } });
  const ip = `172.18.0.${i + 2}`;
  step(`endpoint ${name}: veth into the sandbox, eth0 ${ip}/16, default route`, () => {
    h.linkAdd({
      kind: 'veth',
      name: `veth${name}`,
      master: h.linkIndex('dnet0'),
      up: true,
      peer: { name: 'tmp0', netns: { fd } },
    });
    nl.linkSet('lo', { up: true });
    nl.linkSet('tmp0', { name: 'eth0', up: true });
    nl.addrAdd('eth0', `${ip}/16`);
    nl.routeAdd({ dst: 'default', gateway: '172.18.0.1' });
  });
  return { name, fd, nl, ip };
});

const [c1, c2] = sandboxes;
if (c1 && c2) {
  console.log(`\nc1's view (ip -n c1 -br addr; ip -n c1 route):`);
  console.log(execFileSync('ip', ['-n', 'c1', '-br', 'addr']).toString().trimEnd());
  console.log(execFileSync('ip', ['-n', 'c1', 'route']).toString().trimEnd());
  // a TCP server on the bridge address; each sandbox connects to it across its veth
  const server = createServer((sock) => sock.end(`hello ${sock.remoteAddress}`));
  await new Promise<void>((resolve) => server.listen(8080, '172.18.0.1', resolve));
  for (const sb of [c1, c2]) {
    const script = "require('net').connect(8080, '172.18.0.1').on('data', (d) => process.stdout.write(d))";
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'ip',
        ['netns', 'exec', sb.name, process.execPath, '-e', script],
        { timeout: 5000 },
        (err, o) => (err ? reject(err) : resolve(o)),
      ),
    );
    console.log(`${sb.name} → 172.18.0.1:8080 answered: ${out}`);
  }
  server.close();
}

console.log('\ncleaning up');
for (const sb of sandboxes) {
  step(`sandbox ${sb.name} removed (its eth0 and the veth go with it)`, () => {
    sb.nl.close();
    closeSync(sb.fd);
    deleteNetns(sb.name);
  });
}
step('bridge dnet0 removed', () => h.linkDel('dnet0'));
h.close();
console.log('done: nothing was left behind, and the host network was never touched.');
