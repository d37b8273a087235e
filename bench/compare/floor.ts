/**
 * The kernel floor (work unit 6): the syscalls of one attach with nothing around them.
 *
 * Preferred: floor.c, compiled here with the machine's cc and driven over a pipe, one command
 * per container; it times its own work (CLOCK_MONOTONIC), so the pipe is not counted. Without a
 * compiler (or libnftables.so.1 to link with), the cheapest in-process path instead: the same
 * steps through dnet's own os layer (koffi FFI netlink, setns/mount, libnftables JSON), timed
 * around the calls. Which one ran is printed and recorded.
 *
 * Both use the same network: bridge flbr0 10.75.0.1/16, and a table `ip dnetfloor` with an address
 * map and a port map looked up by a dnat rule, and a masquerade rule (made with the nft CLI at
 * set-up, not timed).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns, openNetns } from '../../src/os/netns/index.ts';
import { applyNft, expr, NftPlan, nftMap } from '../../src/os/nftables/index.ts';
import { hostNetlink } from '../../src/os/sandbox.ts';
import { ipv6Available } from '../../src/os/sysctl.ts';
import { ROOT } from './dnet.ts';
import { AddressPool, type Container, mustRun, run, type Subject } from './subject.ts';

const BRIDGE = 'flbr0';
const GATEWAY = '10.75.0.1';
const TABLE = 'dnetfloor';

const TABLE_TEXT = `table ip ${TABLE} {
  map faddr { type inet_proto . inet_service : ipv4_addr; }
  map fport { type inet_proto . inet_service : inet_service; }
  chain pre { type nat hook prerouting priority dstnat; policy accept; fib daddr type local dnat ip to meta l4proto . th dport map @faddr : meta l4proto . th dport map @fport; }
  chain out { type nat hook output priority -100; policy accept; fib daddr type local dnat ip to meta l4proto . th dport map @faddr : meta l4proto . th dport map @fport; }
  chain post { type nat hook postrouting priority srcnat; policy accept; ip saddr 10.75.0.0/16 oifname != "${BRIDGE}" masquerade; }
}
`;

export interface FloorBuild {
  method: 'c' | 'in-process';
  /** The compiled program (method c). */
  binary?: string;
  /** `cc --version`'s first line (method c). */
  compiler?: string;
  /** Why the C program is not used (method in-process). */
  reason?: string;
}

/** Compiles floor.c into `dir`; falls back to the in-process path when that cannot be done. */
export async function buildFloor(dir: string): Promise<FloorBuild> {
  const cc = process.env.CC ?? 'cc';
  const version = await run(cc, ['--version']).catch(() => undefined);
  if (!version || version.code !== 0) return { method: 'in-process', reason: `no C compiler (${cc})` };
  await mkdir(dir, { recursive: true });
  const binary = join(dir, 'floor');
  const r = await run(cc, ['-O2', '-o', binary, join(ROOT, 'bench/compare/floor.c'), '-l:libnftables.so.1']);
  if (r.code !== 0) {
    return {
      method: 'in-process',
      reason: `cc failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`,
    };
  }
  return { method: 'c', binary, compiler: version.stdout.split('\n')[0]?.trim() ?? cc };
}

async function networkUp(): Promise<void> {
  const nl = hostNetlink();
  nl.linkAdd({ kind: 'bridge', name: BRIDGE });
  nl.addrAdd(BRIDGE, `${GATEWAY}/16`);
  nl.linkSet(BRIDGE, { up: true });
  await mustRun('nft (floor table)', 'nft', ['-f', '-'], { input: TABLE_TEXT });
}

async function networkDown(): Promise<void> {
  await run('nft', ['delete', 'table', 'ip', TABLE]);
  hostNetlink().linkDelIfExists(BRIDGE);
}

export class Floor implements Subject {
  readonly key = 'floor';
  readonly label: string;
  readonly version: string;
  readonly does: string;
  readonly concurrent = false;
  readonly resident = 0;
  private readonly ips = new AddressPool('10.75');
  private child: ChildProcess | undefined;
  private readonly replies: ((line: string) => void)[] = [];
  private readonly netnsDir: string;
  private lastPublish: number | undefined;
  /** The kernel has IPv6: the floor turns off what dnet turns off (DAD, address generation). */
  private readonly ipv6 = ipv6Available();
  // in-process path
  private addrMap = nftMap({
    family: 'ip',
    table: TABLE,
    name: 'faddr',
    type: ['inet_proto', 'inet_service'],
    map: 'ipv4_addr',
  });
  private portMap = nftMap({
    family: 'ip',
    table: TABLE,
    name: 'fport',
    type: ['inet_proto', 'inet_service'],
    map: 'inet_service',
  });

  constructor(
    private readonly build: FloorBuild,
    private readonly runDir: string,
  ) {
    this.netnsDir = join(runDir, 'netns');
    if (build.method === 'c') {
      this.label = 'kernel floor (C)';
      this.version = build.compiler ?? 'cc';
      this.does =
        'bench/compare/floor.c: unshare+bind-mount netns (no sysctl), lo up, one RTM_NEWLINK veth (peer created ' +
        'in the netns), host end up and eth0 up each with IPv6 address generation off (as dnet), RTM_NEWADDR, RTM_NEWROUTE, ' +
        'one libnftables transaction (2 map elements per port); ' +
        'detach: nft delete, RTM_DELLINK, umount+unlink; timed inside the program';
    } else {
      this.label = 'kernel floor (in-process)';
      this.version = 'dnet src/os';
      this.does =
        "dnet's src/os alone: createNetns (no sysctl), lo up, veth with peer in the netns, host end up and eth0 up " +
        'each without IPv6 address generation, address, route, ' +
        `one applyNft (2 map elements per port); no C compiler: ${build.reason ?? ''}`;
    }
  }

  async setup(): Promise<void> {
    await mkdir(this.netnsDir, { recursive: true });
    await networkUp();
    if (this.build.method !== 'c' || !this.build.binary) return;
    const child = spawn(this.build.binary, [this.netnsDir, BRIDGE, GATEWAY, TABLE], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-2000);
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => this.replies.shift()?.(line));
    child.once('exit', (code) => {
      for (const r of this.replies.splice(0)) r(`err floor exited (${code}): ${stderr.trim()}`);
    });
  }

  private command(line: string): Promise<number> {
    const child = this.child;
    if (!child?.stdin) return Promise.reject(new Error('floor: not running'));
    return new Promise((resolve, reject) => {
      this.replies.push((reply) => {
        const m = /^ok (\d+) (\d+)$/.exec(reply);
        if (m) {
          this.lastPublish = Number(m[2]) / 1000;
          resolve(Number(m[1]) / 1000);
        } else reject(new Error(`floor: ${reply.replace(/^err /, '')}`));
      });
      child.stdin?.write(`${line}\n`);
    });
  }

  publishUs(): number | undefined {
    return this.lastPublish;
  }

  async attach(c: Container): Promise<number> {
    const ip = this.ips.of(c.serial);
    if (this.child) return this.command(['a', c.serial, ip, 16, ...c.hostPorts].join(' '));
    return this.attachInProcess(c, ip);
  }

  async detach(c: Container): Promise<number> {
    try {
      if (this.child) return await this.command(['d', c.serial, ...c.hostPorts].join(' '));
      return this.detachInProcess(c);
    } finally {
      this.ips.release(c.serial);
    }
  }

  private attachInProcess(c: Container, ip: string): number {
    const t0 = performance.now();
    const path = createNetns(`f${c.serial}`, { runDir: this.runDir });
    const fd = openNetns(path);
    const nl = NetlinkHandle.open({ netns: { fd } });
    try {
      // dnet's link settings: no IPv6 address generation on either end (so no DAD), no sysctl.
      nl.linkSet('lo', { up: true });
      const host = `fv${c.serial}`;
      hostNetlink().linkAdd({
        kind: 'veth',
        name: host,
        master: hostNetlink().linkIndex(BRIDGE),
        peer: { name: 'eth0', netns: { fd } },
      });
      const noLinkLocal = this.ipv6 ? { ipv6AddrGenMode: 'none' as const } : {};
      hostNetlink().linkSet(host, { up: true, ...noLinkLocal });
      nl.linkSet('eth0', { up: true, ...noLinkLocal });
      nl.addrAdd('eth0', `${ip}/16`);
      nl.routeAdd({ dst: 'default', gateway: GATEWAY });
      this.lastPublish = 0;
      if (c.hostPorts.length > 0) {
        const t1 = performance.now();
        const keys = c.hostPorts.map((p) => expr.concat('tcp', p));
        applyNft(
          new NftPlan()
            .addElements(
              this.addrMap,
              keys.map((k) => [k, ip] as const),
            )
            .addElements(
              this.portMap,
              keys.map((k, i) => [k, 80 + i] as const),
            ),
        );
        this.lastPublish = (performance.now() - t1) * 1000;
      }
    } finally {
      nl.close();
      closeSync(fd);
    }
    return (performance.now() - t0) * 1000;
  }

  private detachInProcess(c: Container): number {
    const t0 = performance.now();
    if (c.hostPorts.length > 0) {
      const keys = c.hostPorts.map((p) => expr.concat('tcp', p));
      applyNft(new NftPlan().deleteElements(this.addrMap, keys).deleteElements(this.portMap, keys));
    }
    hostNetlink().linkDel(`fv${c.serial}`);
    deleteNetns(`f${c.serial}`, { runDir: this.runDir });
    return (performance.now() - t0) * 1000;
  }

  async teardown(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin?.end();
      await exited;
    }
    await networkDown();
  }
}
