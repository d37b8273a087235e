/** `/_ping`, `/version` and a minimal `/info`, in dockerd's shapes. */
import { readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { DEFAULT_LOCAL_POOLS } from '../../../ipam/pools.ts';
import { nowRfc3339Nano } from '../../../timestamp.ts';
import { bridgeDriverSettings } from '../../network-settings-apply.ts';
import { API_VERSION, type ApiContext, MIN_API_VERSION } from '../context.ts';
import type { ApiReply, Router } from '../router.ts';

/** Go's GOARCH names for Node's process.arch. */
function goArch(): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
  };
  return map[process.arch] ?? process.arch;
}

/** uname -m names for Node's process.arch (what `docker info` shows as Architecture). */
function unameArch(): string {
  const map: Record<string, string> = { x64: 'x86_64', ia32: 'i686', arm64: 'aarch64', arm: 'armv7l' };
  return map[process.arch] ?? process.arch;
}

/** Headers of `/_ping` (the docker CLI negotiates the API version from them). */
export const PING_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
  Swarm: 'inactive',
};

export function systemRoutes(router: Router, ctx: ApiContext): void {
  const ping = async (): Promise<ApiReply> => ({ status: 200, text: 'OK', headers: { ...PING_HEADERS } });
  router.add('GET', '/_ping', ping).add('HEAD', '/_ping', ping);

  router.add('GET', '/version', async () => versionReply(ctx));
  router.add('GET', '/info', async () => infoReply(ctx));
}

/** `GET /version`, as dockerd's. */
function versionReply(ctx: ApiContext): ApiReply {
  const details = {
    ApiVersion: API_VERSION,
    Arch: goArch(),
    BuildTime: '',
    Experimental: 'false',
    GitCommit: '',
    GoVersion: `node ${process.version}`,
    KernelVersion: release(),
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
  };
  return {
    status: 200,
    body: {
      Platform: { Name: 'dnet' },
      Components: [{ Name: 'Engine', Version: ctx.facts.version, Details: details }],
      Version: ctx.facts.version,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: details.GoVersion,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: release(),
      BuildTime: '',
    },
  };
}

/** `GET /info`: dockerd's fields that have a meaning here, and dnet's network settings. */
function infoReply(ctx: ApiContext): ApiReply {
  const sandboxes = ctx.controller.allSandboxes().length;
  const net = effectiveNetworkSettings(ctx);
  return {
    status: 200,
    body: {
      ID: ctx.facts.engineId ?? '',
      Containers: sandboxes,
      ContainersRunning: sandboxes,
      ContainersPaused: 0,
      ContainersStopped: 0,
      Images: 0,
      Driver: '',
      DriverStatus: [],
      Plugins: {
        Volume: [],
        Network: ctx.controller.drivers.networkTypes(),
        Authorization: null,
        Log: [],
      },
      Name: hostname(),
      ServerVersion: ctx.facts.version,
      OSType: 'linux',
      OperatingSystem: 'dnet',
      Architecture: unameArch(),
      KernelVersion: release(),
      NCPU: cpus().length,
      MemTotal: totalmem(),
      DockerRootDir: ctx.facts.dataDir,
      ExperimentalBuild: false,
      Swarm: {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      },
      SystemTime: nowRfc3339Nano(),
      IPv4Forwarding: ipv4Forwarding(),
      DefaultAddressPools: net['default-address-pools'].map((p) => ({ Base: p.base, Size: p.size })),
      FirewallBackend: net.iptables ? { Driver: 'nftables' } : undefined,
      // dnet's: every network setting in effect, by daemon.json key (docs/daemon.md).
      DnetNetworkSettings: net,
      Warnings: [],
    },
  };
}

/** The kernel's net.ipv4.ip_forward (what dockerd reports as IPv4Forwarding). */
function ipv4Forwarding(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Every network setting in effect, by daemon.json key: those given, Docker's defaults for the
 * others, and for the default bridge what it has (its gateway as `bip`, its subnet).
 */
function effectiveNetworkSettings(ctx: ApiContext) {
  const s = ctx.facts.settings ?? {};
  const bridge = ctx.controller.networkByName('bridge');
  const v4 = bridge?.pools.find((p) => !p.v6);
  const v6 = bridge?.pools.find((p) => p.v6);
  const opts = bridge?.options ?? {};
  const driver = bridgeDriverSettings(s);
  return {
    bip: v4?.gateway ?? s.bip ?? '',
    'fixed-cidr': s['fixed-cidr'] ?? '',
    'fixed-cidr-v6': v6?.subnet ?? s['fixed-cidr-v6'] ?? '',
    ipv6: bridge?.enableIPv6 ?? s.ipv6 ?? false,
    'default-address-pools': s['default-address-pools'] ?? DEFAULT_LOCAL_POOLS.map((p) => ({ ...p })),
    mtu: Number(opts['com.docker.network.driver.mtu'] ?? s.mtu ?? 1500),
    icc: (opts['com.docker.network.bridge.enable_icc'] ?? String(s.icc ?? true)) === 'true',
    'ip-masq':
      (opts['com.docker.network.bridge.enable_ip_masquerade'] ?? String(s['ip-masq'] ?? true)) === 'true',
    'ip-forward': driver.enableIPForwarding,
    iptables: driver.enableFirewall,
    'userland-proxy': driver.userlandProxy,
    'default-gateway': s['default-gateway'] ?? '',
    'default-gateway-v6': s['default-gateway-v6'] ?? '',
    dns: [...ctx.containerDns.dns],
    'dns-search': [...ctx.containerDns.dnsSearch],
    'dns-opts': [...ctx.containerDns.dnsOptions],
  };
}
