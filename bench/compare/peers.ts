/**
 * The peers, driven the way their callers drive them, one process per call:
 *
 * - netavark (Debian's, /usr/lib/podman/netavark): `netavark --config <dir> setup <netns>` with
 *   podman's network options JSON on stdin (the container's address given: podman allocates
 *   addresses itself, in its own process, before calling netavark); `teardown` to detach.
 *   Firewall driver iptables (NETAVARK_FW=iptables; netavark 1.4 has no nftables driver).
 * - the CNI reference plugins (Debian's containernetworking-plugins, /usr/lib/cni): a chain
 *   bridge (host-local IPAM, ipMasq, isGateway, hairpin) → portmap (snat), run as libcni runs a
 *   conflist: each plugin exec'd with CNI_* variables and its config on stdin, portmap given the
 *   bridge's result as prevResult; DEL in reverse order with the cached result.
 *
 * Both get their namespace from the benchmark, made in-process (a bind-mounted netns with lo up,
 * our own createNetns: tens of µs, counted in their attach), as podman and container runtimes
 * make it in their own process. host-local's state and netavark's config dir are private temp dirs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';
import { createNetns, deleteNetns } from '../../src/os/netns/index.ts';
import { hostNetlink } from '../../src/os/sandbox.ts';
import { AddressPool, type Container, mustRun, newId, type Subject } from './subject.ts';

export const NETAVARK = '/usr/lib/podman/netavark';
export const CNI_DIR = '/usr/lib/cni';

function debVersion(pkg: string): string {
  try {
    // default format: "<package>\t<version>"
    const out = execFileSync('dpkg-query', ['-W', pkg], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    return out.trim().split('\t')[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function netavarkMissing(): string | undefined {
  return existsSync(NETAVARK) ? undefined : `${NETAVARK} not found (Debian package netavark)`;
}

export function cniMissing(): string | undefined {
  for (const p of ['bridge', 'host-local', 'portmap'])
    if (!existsSync(`${CNI_DIR}/${p}`))
      return `${CNI_DIR}/${p} not found (Debian package containernetworking-plugins)`;
  return undefined;
}

/** A namespace for a peer's container, made in-process, with loopback up. */
function makeNetns(name: string, runDir: string): string {
  const path = createNetns(name, { runDir });
  try {
    const nl = NetlinkHandle.open({ netns: { path } });
    try {
      nl.linkSet('lo', { up: true });
    } finally {
      nl.close();
    }
  } catch (err) {
    deleteNetns(path);
    throw err;
  }
  return path;
}

export class Netavark implements Subject {
  readonly key = 'netavark';
  readonly label = 'netavark';
  readonly version = debVersion('netavark');
  readonly does =
    'namespace made in-process (lo up), then `netavark setup <netns>` (bridge veth, address, routes, ' +
    'iptables: masquerade chain + DNAT chains for the port; dns_enabled false: no aardvark-dns, less work than dnet and ' +
    'Docker, which serve names); detach: `netavark teardown` + namespace removed';
  readonly concurrent = true;
  /** One container stays attached while a unit runs, so the bridge and network chains stay (as a dnet network's). */
  readonly resident = 1;
  private readonly ips = new AddressPool('10.73');
  private readonly netId = newId();
  private readonly anchor: Container = { serial: -1, id: newId(), hostPorts: [] };
  private readonly paths = new Map<string, string>();

  constructor(
    private readonly runDir: string,
    private readonly configDir: string,
    private readonly bridge = 'nvbr0',
  ) {}

  private options(c: Container): string {
    return JSON.stringify({
      container_id: c.id,
      container_name: `c${c.serial}`,
      port_mappings: c.hostPorts.map((hp, k) => ({
        host_ip: '',
        container_port: 80 + k,
        host_port: hp,
        range: 1,
        protocol: 'tcp',
      })),
      networks: { bench: { static_ips: [this.ips.of(c.serial)], interface_name: 'eth0' } },
      network_info: {
        bench: {
          name: 'bench',
          id: this.netId,
          driver: 'bridge',
          network_interface: this.bridge,
          subnets: [{ subnet: '10.73.0.0/16', gateway: '10.73.0.1' }],
          ipv6_enabled: false,
          internal: false,
          dns_enabled: false,
          ipam_options: { driver: 'host-local' },
        },
      },
    });
  }

  private env(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', NETAVARK_FW: 'iptables' };
  }

  async setup(): Promise<void> {
    await mkdir(this.configDir, { recursive: true });
    await this.attach(this.anchor);
  }

  async attach(c: Container): Promise<undefined> {
    const path = makeNetns(`nv${c.serial}`, this.runDir);
    try {
      await mustRun('netavark setup', NETAVARK, ['--config', this.configDir, 'setup', path], {
        input: this.options(c),
        env: this.env(),
      });
    } catch (err) {
      deleteNetns(path);
      this.ips.release(c.serial);
      throw err;
    }
    this.paths.set(c.id, path);
    return undefined;
  }

  async detach(c: Container): Promise<undefined> {
    const path = this.paths.get(c.id);
    if (!path) throw new Error(`netavark: container ${c.serial} is not attached`);
    try {
      await mustRun('netavark teardown', NETAVARK, ['--config', this.configDir, 'teardown', path], {
        input: this.options(c),
        env: this.env(),
      });
    } finally {
      deleteNetns(path);
      this.paths.delete(c.id);
      this.ips.release(c.serial);
    }
    return undefined;
  }

  async teardown(): Promise<void> {
    if (this.paths.has(this.anchor.id)) await this.detach(this.anchor);
    await rm(this.configDir, { recursive: true, force: true });
  }
}

interface CniState {
  path: string;
  /** The chain's result (portmap's output), handed to DEL as prevResult. */
  result: unknown;
}

export class Cni implements Subject {
  readonly key = 'cni';
  readonly label = 'CNI bridge+portmap';
  readonly version = debVersion('containernetworking-plugins');
  readonly does =
    'namespace made in-process (lo up), then the chain bridge (host-local IPAM, ipMasq) → portmap, ' +
    "each plugin exec'd as libcni does (CNI_COMMAND=ADD, config + prevResult on stdin); detach: portmap DEL, " +
    'bridge DEL, namespace removed';
  readonly concurrent = true;
  readonly resident = 0;
  private readonly state = new Map<string, CniState>();
  private readonly conf: Record<string, unknown>;

  constructor(
    private readonly runDir: string,
    private readonly dataDir: string,
    private readonly bridge = 'cnibr0',
  ) {
    this.conf = {
      cniVersion: '1.0.0',
      name: 'bench',
      type: 'bridge',
      bridge: this.bridge,
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: {
        type: 'host-local',
        ranges: [[{ subnet: '10.74.0.0/16' }]],
        routes: [{ dst: '0.0.0.0/0' }],
        dataDir: this.dataDir,
      },
    };
  }

  private portmapConf(c: Container, prevResult: unknown): string {
    return JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bench',
      type: 'portmap',
      capabilities: { portMappings: true },
      snat: true,
      runtimeConfig: {
        portMappings: c.hostPorts.map((hp, k) => ({ hostPort: hp, containerPort: 80 + k, protocol: 'tcp' })),
      },
      prevResult,
    });
  }

  private env(cmd: 'ADD' | 'DEL', c: Container, path: string): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: c.id,
      CNI_NETNS: path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: CNI_DIR,
    };
  }

  async setup(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
  }

  async attach(c: Container): Promise<undefined> {
    const path = makeNetns(`cni${c.serial}`, this.runDir);
    let bridged: unknown;
    try {
      bridged = JSON.parse(
        await mustRun('bridge ADD', `${CNI_DIR}/bridge`, [], {
          input: JSON.stringify(this.conf),
          env: this.env('ADD', c, path),
        }),
      );
      const result: unknown = JSON.parse(
        await mustRun('portmap ADD', `${CNI_DIR}/portmap`, [], {
          input: this.portmapConf(c, bridged),
          env: this.env('ADD', c, path),
        }),
      );
      this.state.set(c.id, { path, result });
    } catch (err) {
      if (bridged !== undefined)
        await mustRun('bridge DEL', `${CNI_DIR}/bridge`, [], {
          input: JSON.stringify({ ...this.conf, prevResult: bridged }),
          env: this.env('DEL', c, path),
        }).catch(() => {});
      deleteNetns(path);
      throw err;
    }
    return undefined;
  }

  async detach(c: Container): Promise<undefined> {
    const s = this.state.get(c.id);
    if (!s) throw new Error(`cni: container ${c.serial} is not attached`);
    try {
      await mustRun('portmap DEL', `${CNI_DIR}/portmap`, [], {
        input: this.portmapConf(c, s.result),
        env: this.env('DEL', c, s.path),
      });
      await mustRun('bridge DEL', `${CNI_DIR}/bridge`, [], {
        input: JSON.stringify({ ...this.conf, prevResult: s.result }),
        env: this.env('DEL', c, s.path),
      });
    } finally {
      deleteNetns(s.path);
      this.state.delete(c.id);
    }
    return undefined;
  }

  async teardown(): Promise<void> {
    // The bridge plugin never removes its bridge; the runtime (or an admin) does.
    hostNetlink().linkDelIfExists(this.bridge);
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * host-local on its own, as a runtime's IPAM call: ADD then DEL of one container, each an exec,
 * on a /16 already holding `fill` addresses. Times in µs of each ADD+DEL pair.
 */
export async function hostLocalPairs(
  dataDir: string,
  fill: number,
  pairs: number,
): Promise<{ fillUs: number[]; pairUs: number[] }> {
  await mkdir(dataDir, { recursive: true });
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'ipambench',
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.77.0.0/16' }]], dataDir },
  });
  const env = (cmd: string, id: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin',
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: id,
    CNI_NETNS: '/proc/self/ns/net',
    CNI_IFNAME: 'eth0',
    CNI_PATH: CNI_DIR,
  });
  const call = (cmd: string, id: string) =>
    mustRun(`host-local ${cmd}`, `${CNI_DIR}/host-local`, [], { input: conf, env: env(cmd, id) });
  const fillUs: number[] = [];
  const pairUs: number[] = [];
  try {
    for (let i = 0; i < fill; i++) {
      const t0 = performance.now();
      await call('ADD', newId());
      fillUs.push((performance.now() - t0) * 1000);
    }
    for (let i = 0; i < pairs; i++) {
      const id = newId();
      const t0 = performance.now();
      await call('ADD', id);
      await call('DEL', id);
      pairUs.push((performance.now() - t0) * 1000);
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  return { fillUs, pairUs };
}
