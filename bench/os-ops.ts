/**
 * The cost of the kernel operations a container attach is made of, in-process (netlink,
 * setns/mount and libnftables through FFI) against the same operations done the way shell-out
 * stacks do them (`ip`, `nft` child processes), in one run on this machine.
 *
 * Run inside a throwaway world: `make bench` (or `./scripts/in-world.sh tsx bench/os-ops.ts`).
 * `--quick` runs fewer iterations (used by the test suite to keep the benchmark working).
 */
import { execFileSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { NetlinkHandle } from '../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../src/os/netns/index.ts';
import { applyNft, expr, NftPlan, nftMap } from '../src/os/nftables/index.ts';
import { measure, printComparison, type Timing } from './lib.ts';

if (process.env.DNET_WORLD !== '1') {
  console.error('run this inside a throwaway world: make bench, or scripts/in-world.sh tsx bench/os-ops.ts');
  process.exit(2);
}

const quick = process.argv.includes('--quick');
const N = quick ? 20 : 200;
const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });

const rows: { what: string; ours: Timing; theirs: Timing }[] = [];

// 1. netns create + delete
rows.push({
  what: 'netns create+delete',
  ours: await measure('ours', N, (i) => {
    const name = `b${i}`;
    createNetns(name);
    deleteNetns(name);
  }),
  theirs: await measure('ip', N, (i) => {
    const name = `c${i}`;
    sh('ip', ['netns', 'add', name]);
    sh('ip', ['netns', 'del', name]);
  }),
});

// 2. one endpoint: a veth pair created with its peer in the sandbox, the peer renamed eth0,
//    addressed and up, a default route via the bridge; then deleting it (separately: the
//    kernel's own RCU wait dominates a veth delete, whoever asks for it).
const h = NetlinkHandle.open();
h.linkAdd({ kind: 'bridge', name: 'bbr0', up: true });
h.addrAdd('bbr0', '10.200.0.1/16');
const bridge = h.linkIndex('bbr0');
const addr = (i: number) => `10.200.${1 + Math.floor((i + 10) / 250)}.${2 + ((i + 10) % 250)}/16`;
const sandboxes: { name: string; fd: number; nl: NetlinkHandle }[] = [];
for (let i = 0; i < N + 5; i++) {
  const name = `bsb${i}`;
  createNetns(name);
  const fd = openNetns(name);
  sandboxes.push({ name, fd, nl: NetlinkHandle.open({ netns: { fd } }) });
}
const sbAt = (i: number) => sandboxes[i < 0 ? N - 1 - i : i] ?? sandboxes[0]!;

const oursSetup = await measure('ours', N, (i) => {
  const sb = sbAt(i);
  h.linkAdd({
    kind: 'veth',
    name: `vb${i + 10}`,
    master: bridge,
    up: true,
    peer: { name: 'tmp0', netns: { fd: sb.fd } },
  });
  sb.nl.linkSet('tmp0', { name: 'eth0', up: true });
  sb.nl.addrAdd('eth0', addr(i));
  sb.nl.routeAdd({ dst: 'default', gateway: '10.200.0.1' });
});
const oursDel = await measure('ours', N, (i) => h.linkDel(`vb${i + 10}`));
const theirsSetup = await measure('ip', N, (i) => {
  const sb = sbAt(i).name;
  const host = `vc${i + 10}`;
  sh('ip', [
    'link',
    'add',
    host,
    'master',
    'bbr0',
    'up',
    'type',
    'veth',
    'peer',
    'name',
    'tmp0',
    'netns',
    sb,
  ]);
  sh('ip', ['-n', sb, 'link', 'set', 'tmp0', 'name', 'eth0', 'up']);
  sh('ip', ['-n', sb, 'addr', 'add', addr(i), 'dev', 'eth0']);
  sh('ip', ['-n', sb, 'route', 'add', 'default', 'via', '10.200.0.1']);
});
const theirsDel = await measure('ip', N, (i) => sh('ip', ['link', 'del', `vc${i + 10}`]));
rows.push({ what: 'endpoint: veth+move+rename+address+route', ours: oursSetup, theirs: theirsSetup });
rows.push({ what: 'endpoint delete (veth del)', ours: oursDel, theirs: theirsDel });
for (const sb of sandboxes) {
  sb.nl.close();
  closeSync(sb.fd);
  deleteNetns(sb.name);
}
h.linkDel('bbr0');
h.close();

// 3. publishing one port: one element in a port map (the table already holds 1000), in-process
//    (libnftables, one transaction) against the nft CLI.
const t = { family: 'ip', table: 'benchnat' } as const;
const KEY = ['ipv4_addr', 'inet_proto', 'inet_service'] as const;
const ports = nftMap({ ...t, name: 'ports', type: KEY, map: 'inet_service' });
const setup = new NftPlan().addTable(t).addSet(ports);
setup.addElements(
  ports,
  Array.from({ length: 1000 }, (_, i) => [expr.concat('192.0.2.1', 'tcp', 20000 + i), 80] as const),
);
applyNft(setup);
const nftOurs = await measure('ours', N, (i) => {
  applyNft(new NftPlan().addElements(ports, [[expr.concat('192.0.2.2', 'tcp', 30000 + i + 10), 80]]));
});
const nftTheirs = await measure('nft', N, (i) =>
  sh('nft', ['add', 'element', 'ip', 'benchnat', 'ports', `{ 192.0.2.3 . tcp . ${30000 + i + 10} : 80 }`]),
);
rows.push({ what: 'nft map element add (1000 in the map)', ours: nftOurs, theirs: nftTheirs });
applyNft(new NftPlan().deleteTable(t));

printComparison(`kernel operations, ${N} iterations each (median and 90th percentile)`, rows);
