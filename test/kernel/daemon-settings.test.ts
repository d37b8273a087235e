// biome-ignore-all assist/source/organizeImports: the world must be imported first
import { world } from '../harness/world.ts';
import { dockerCli } from '../helpers/docker-cli.ts';
// (world first: the rest of this file only runs inside the throwaway network + mount namespace)
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DaemonProcess, runDaemon, startDaemonProcess } from '../helpers/daemon-process.ts';
import { call } from '../helpers/http.ts';
import { request, type Server, startServer } from '../helpers/traffic.ts';

// dockerd's network settings on `dnet daemon`, from flags and daemon.json, checked in the kernel:
// the default bridge's address, MTU, ICC and masquerade, the pools new networks come from,
// containers' resolv.conf, the firewall and forwarding switches, SIGHUP and GET /info.

const root = world.root;
const dir = (name: string) => join(world.runDir, name);
const ip = (...args: string[]) => JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8' }));
const nftJson = (...args: string[]): string => {
  try {
    return execFileSync('nft', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return '';
  }
};
const setElems = (family: string, set: string): string[] => {
  const doc = JSON.parse(nftJson('list', 'set', family, 'dnet', set) || '{"nftables":[]}') as {
    nftables: { set?: { elem?: unknown[] } }[];
  };
  const elems = doc.nftables.find((x) => x.set)?.set?.elem ?? [];
  return elems.map((e) => {
    const p = (e as { prefix?: { addr: string; len: number } }).prefix;
    return p ? `${p.addr}/${p.len}` : String(e);
  });
};

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Info {
  IPv4Forwarding: boolean;
  DefaultAddressPools: { Base: string; Size: number }[];
  DnetNetworkSettings: Record<string, unknown>;
}

describe('dnet daemon: a key given both ways, a bad file', () => {
  test("a key both as a flag and in the file: dockerd's message, exit 1, nothing started", async () => {
    const config = dir('conflict.json');
    writeFileSync(config, JSON.stringify({ bip: '10.9.0.1/24', mtu: 1400 }));
    const r = await runDaemon(root, [
      '--config-file',
      config,
      '--run-dir',
      dir('conflict-run'),
      '--bip',
      '10.8.0.1/24',
      '-H',
      `unix://${dir('conflict.sock')}`,
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /unable to configure the daemon with file .*conflict\.json: the following directives are specified both as a flag and in the configuration file: bip: \(from flag: 10\.8\.0\.1\/24, from file: 10\.9\.0\.1\/24\)/,
    );
    assert.deepEqual(ip('link', 'show', 'type', 'bridge'), []);
  });

  test('settings that do not fit together: exit 1 naming the setting', async () => {
    const r = await runDaemon(root, [
      '--bip',
      '10.1.0.1/24',
      '--fixed-cidr',
      '10.2.0.0/24',
      '--run-dir',
      dir('bad-run'),
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /invalid fixed-cidr: 10\.2\.0\.0\/24 is not inside the subnet of bip 10\.1\.0\.1\/24/,
    );
  });
});

describe('dnet daemon --iptables=false --ip-forward=false --userland-proxy', () => {
  test('no nftables table and no forwarding; published ports served by the proxy alone', async () => {
    execFileSync('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
    const sock = dir('nofw.sock');
    // Both the firewall and forwarding off.
    const nofw = await startDaemonProcess(root, [
      '--run-dir',
      dir('nofw-run'),
      '--data-dir',
      dir('nofw-data'),
      '--plugin-socket',
      '',
      '-H',
      `unix://${sock}`,
      '--iptables=false',
      '--ip-forward=false',
      '--userland-proxy',
    ]);
    let server: Server | undefined;
    try {
      const r = await call(sock, 'POST', '/networks/create', { Name: 'nofw-n', Options: {} });
      assert.equal(r.status, 201, r.text);
      const c = await call(sock, 'POST', '/networks/nofw-n/connect', {
        Container: 'nofw-c',
        EndpointConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '18080' }] } },
      });
      assert.equal(c.status, 200, c.text);
      const sb = (await call(sock, 'GET', '/sandboxes/nofw-c')).json as { SandboxKey: string };
      server = await startServer(sb.SandboxKey, 'tcp', '0.0.0.0', 80);
      // No DNAT rule exists: only the in-process proxy can answer on the host port.
      assert.match(await request(undefined, 'tcp', '127.0.0.1', 18080), /^from /);
      assert.equal(nftJson('list', 'table', 'inet', 'dnet'), '', 'no inet dnet table');
      assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '0');
      const info = (await call(sock, 'GET', '/info')).json as Info;
      assert.equal(info.IPv4Forwarding, false);
      assert.equal(info.DnetNetworkSettings.iptables, false);
      assert.equal(info.DnetNetworkSettings['ip-forward'], false);
      assert.equal(info.DnetNetworkSettings['userland-proxy'], true);
      assert.equal(
        (await call(sock, 'POST', '/networks/nofw-n/disconnect', { Container: 'nofw-c' })).status,
        200,
      );
      assert.equal((await call(sock, 'DELETE', '/networks/nofw-n')).status, 204);
    } finally {
      server?.stop();
      assert.equal(await nofw.stop(), 0);
      // The default bridge stays after a stop (as containers' networks do): gone with this daemon's state.
      execFileSync('ip', ['link', 'del', 'dnet0']);
      execFileSync('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    }
  });
});

describe('dnet daemon with network settings from daemon.json and flags', () => {
  const config = dir('settings.json');
  const sock = dir('settings.sock');
  let d: DaemonProcess;
  const servers: Server[] = [];
  after(async () => {
    for (const s of servers) s.stop();
    await d?.stop();
  });
  /** The daemon on this describe's file, directories and socket, with `extra` flags. */
  const startSettingsDaemon = (...extra: string[]) =>
    startDaemonProcess(root, [
      '--config-file',
      config,
      '--run-dir',
      dir('settings-run'),
      '--data-dir',
      dir('settings-data'),
      '--plugin-socket',
      '',
      '-H',
      `unix://${sock}`,
      ...extra,
    ]);
  /** The default bridge's IPv4 addresses in the kernel. */
  const bridgeIPv4 = () =>
    (ip('addr', 'show', 'dev', 'dnet0') as { addr_info: { family: string; local: string }[] }[])[0]!.addr_info
      .filter((a) => a.family === 'inet')
      .map((a) => a.local);
  const api = (method: string, path: string, body?: unknown) => call(sock, method, path, body);
  const connect = async (net: string, name: string) => {
    const r = await api('POST', `/networks/${net}/connect`, { Container: name });
    assert.equal(r.status, 200, r.text);
    const sb = (await api('GET', `/sandboxes/${name}`)).json as {
      SandboxKey: string;
      ResolvConfPath: string;
      Networks: Record<string, { IPAddress: string; Gateway: string }>;
    };
    return sb;
  };

  test('start: bip, fixed-cidr, mtu, icc, ip-masq, pools, dns from the file; --userland-proxy as a flag', async () => {
    writeFileSync(
      config,
      JSON.stringify({
        bip: '10.123.0.1/24',
        'fixed-cidr': '10.123.0.128/25',
        mtu: 1400,
        icc: false,
        'ip-masq': false,
        'default-address-pools': [{ base: '10.200.0.0/16', size: 24 }],
        dns: ['10.0.0.53'],
        'dns-search': ['corp.example'],
        'dns-opts': ['ndots:3'],
      }),
    );
    d = await startSettingsDaemon('--userland-proxy=false');
    // The default bridge in the kernel: bip's address, the MTU.
    const [link] = ip('addr', 'show', 'dev', 'dnet0') as {
      mtu: number;
      addr_info: { family: string; local: string; prefixlen: number }[];
    }[];
    assert.equal(link!.mtu, 1400);
    assert.deepEqual(
      link!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      ['10.123.0.1/24'],
    );
    const bridge = (await api('GET', '/networks/bridge')).json as {
      IPAM: { Config: { Subnet: string; IPRange?: string; Gateway: string }[] };
      Options: Record<string, string>;
    };
    assert.deepEqual(bridge.IPAM.Config, [
      { Subnet: '10.123.0.0/24', IPRange: '10.123.0.128/25', Gateway: '10.123.0.1' },
    ]);
    assert.equal(bridge.Options['com.docker.network.driver.mtu'], '1400');
    assert.equal(bridge.Options['com.docker.network.bridge.enable_icc'], 'false');
  });

  test("containers on the default bridge: fixed-cidr's addresses, the daemon's DNS, no ICC, no masquerade", async () => {
    const c1 = await connect('bridge', 'set-c1');
    const c2 = await connect('bridge', 'set-c2');
    assert.equal(c1.Networks.bridge!.IPAddress, '10.123.0.128');
    assert.equal(c2.Networks.bridge!.IPAddress, '10.123.0.129');
    const resolv = readFileSync(c1.ResolvConfPath, 'utf8');
    assert.match(resolv, /^nameserver 10\.0\.0\.53$/m);
    assert.match(resolv, /^search corp\.example$/m);
    assert.match(resolv, /^options ndots:3$/m);
    const [mtu] = JSON.parse(
      execFileSync('nsenter', [`--net=${c1.SandboxKey}`, 'ip', '-j', 'link', 'show', 'eth0'], {
        encoding: 'utf8',
      }),
    ) as { mtu: number }[];
    assert.equal(mtu!.mtu, 1400, "the container's interface has the bridge's MTU");
    // ICC off: c2 does not reach c1; the gateway (this host) still answers.
    servers.push(await startServer(c1.SandboxKey, 'tcp', '0.0.0.0', 5000));
    servers.push(await startServer(undefined, 'tcp', '10.123.0.1', 5001));
    assert.match(await request(c2.SandboxKey, 'tcp', '10.123.0.128', 5000), /^FAIL/);
    assert.equal(await request(c2.SandboxKey, 'tcp', '10.123.0.1', 5001), 'from 10.123.0.129');
    assert.ok(setElems('bridge', 'icc_off').length >= 2, 'both veths in the ICC-off set');
    // ip-masq false: the default bridge's subnet is not masqueraded.
    assert.ok(!setElems('inet', 'masq4').includes('10.123.0.0/24'), setElems('inet', 'masq4').join(' '));
  });

  test('a new network takes its subnet from the default address pool; its own defaults stay', async () => {
    const r = await api('POST', '/networks/create', { Name: 'set-n1' });
    assert.equal(r.status, 201, r.text);
    const n = (await api('GET', '/networks/set-n1')).json as { IPAM: { Config: { Subnet: string }[] } };
    assert.equal(n.IPAM.Config[0]?.Subnet, '10.200.0.0/24');
    assert.ok(setElems('inet', 'masq4').includes('10.200.0.0/24'), 'a user network is masqueraded');
  });

  test('GET /info shows the settings in effect', async () => {
    const info = (await api('GET', '/info')).json as Info;
    assert.deepEqual(info.DefaultAddressPools, [{ Base: '10.200.0.0/16', Size: 24 }]);
    assert.equal(info.IPv4Forwarding, true);
    const s = info.DnetNetworkSettings;
    assert.equal(s.bip, '10.123.0.1/24');
    assert.equal(s['fixed-cidr'], '10.123.0.128/25');
    assert.equal(s.mtu, 1400);
    assert.equal(s.icc, false);
    assert.equal(s['ip-masq'], false);
    assert.equal(s.iptables, true);
    assert.equal(s['userland-proxy'], false);
    assert.deepEqual(s.dns, ['10.0.0.53']);
  });

  test("docker info shows dnet's default address pools (Docker's own field)", async (t) => {
    const has = dockerCli() !== undefined;
    if (!has) return t.skip('the docker CLI is not installed');
    const home = dir('docker-home');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'docker',
        ['info', '--format', '{{json .DefaultAddressPools}} {{.IPv4Forwarding}}'],
        {
          env: { ...process.env, DOCKER_HOST: `unix://${sock}`, HOME: home, DOCKER_CONFIG: home },
          timeout: 30_000,
        },
        (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout.trim()),
      ),
    );
    assert.equal(out, '[{"Base":"10.200.0.0/16","Size":24}] true');
  });

  test('SIGHUP: new DNS settings apply to new containers; a changed bip is reported as needing a restart', async () => {
    const cfg = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
    const next: Record<string, unknown> = {
      ...cfg,
      dns: ['10.0.0.99'],
      'dns-opts': [],
      bip: '10.124.0.1/24',
    };
    delete next['fixed-cidr'];
    writeFileSync(config, JSON.stringify(next));
    d.child.kill('SIGHUP');
    await until('the reload', () => d.entries().some((e) => e.event === 'reload'));
    const reload = d.entries().find((e) => e.event === 'reload')!;
    assert.deepEqual(reload.applied, ['dns', 'dns-opts']);
    assert.deepEqual(reload.needsRestart, ['bip', 'fixed-cidr']);
    const c3 = await connect('set-n1', 'set-c3');
    const resolv = readFileSync(c3.ResolvConfPath, 'utf8');
    // A user-defined network: the embedded resolver (docs/dns.md) forwards to the new --dns, as
    // dockerd writes it; no dns-opts any more, so only the internal resolver's ndots:0.
    assert.match(resolv, /^nameserver 127\.0\.0\.11$/m);
    assert.match(resolv, /^# ExtServers: \[10\.0\.0\.99\]$/m);
    assert.match(resolv, /^search corp\.example$/m);
    assert.match(resolv, /^options ndots:0$/m);
    const info = (await api('GET', '/info')).json as Info;
    assert.deepEqual(info.DnetNetworkSettings.dns, ['10.0.0.99']);
    assert.equal(info.DnetNetworkSettings.bip, '10.123.0.1/24', 'bip: only at the next start');
    // A file that names a setting given as a flag (--userland-proxy=false): logged, nothing changed.
    writeFileSync(config, JSON.stringify({ ...next, 'userland-proxy': true, dns: ['10.0.0.77'] }));
    d.child.kill('SIGHUP');
    await until('the failed reload', () =>
      d.entries().some((e) => e.event === 'reload' && e.level === 'error'),
    );
    const failed = d.entries().find((e) => e.event === 'reload' && e.level === 'error')!;
    assert.match(
      failed.msg,
      /specified both as a flag and in the configuration file: userland-proxy: \(from flag: false, from file: true\); nothing changed/,
    );
    const still = (await api('GET', '/info')).json as Info;
    assert.deepEqual(still.DnetNetworkSettings.dns, ['10.0.0.99']);
    writeFileSync(config, JSON.stringify(next));
  });

  test('restart with another bip: the default bridge (with containers) is kept, and said so', async () => {
    assert.equal(await d.stop(), 0);
    d = await startSettingsDaemon();
    assert.ok(
      d
        .entries()
        .some(
          (e) => e.event === 'warning' && /default bridge network was made with other settings/.test(e.msg),
        ),
    );
    assert.deepEqual(bridgeIPv4(), ['10.123.0.1']);
  });

  test('restart with another bip and no containers on it: the default bridge is made again with it', async () => {
    for (const c of ['set-c1', 'set-c2']) {
      const r = await api('POST', '/networks/bridge/disconnect', { Container: c });
      assert.equal(r.status, 200, r.text);
    }
    assert.equal(await d.stop(), 0);
    d = await startSettingsDaemon();
    assert.deepEqual(bridgeIPv4(), ['10.124.0.1']);
    const bridge = (await api('GET', '/networks/bridge')).json as { IPAM: { Config: { Subnet: string }[] } };
    assert.equal(bridge.IPAM.Config[0]?.Subnet, '10.124.0.0/24');
  });
});

describe('dnet daemon --default-gateway, --ipv6 --fixed-cidr-v6', () => {
  const sock = dir('gw.sock');
  let d: DaemonProcess;
  before(() => {
    // The default bridge of the daemons above (another data directory) goes first.
    execFileSync('ip', ['link', 'del', 'dnet0'], { stdio: 'ignore' });
  });
  after(async () => {
    await d?.stop();
  });

  test('containers on the default bridge route through default-gateway; IPv6 from fixed-cidr-v6', async () => {
    d = await startDaemonProcess(root, [
      '--run-dir',
      dir('gw-run'),
      '--data-dir',
      dir('gw-data'),
      '--plugin-socket',
      '',
      '-H',
      `unix://${sock}`,
      '--bip',
      '10.125.0.1/24',
      '--default-gateway',
      '10.125.0.254',
      '--ipv6',
      '--fixed-cidr-v6',
      'fd00:125::/64',
    ]);
    const bridge = (await call(sock, 'GET', '/networks/bridge')).json as {
      EnableIPv6: boolean;
      IPAM: { Config: { Subnet: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }[] };
    };
    assert.equal(bridge.EnableIPv6, true);
    assert.deepEqual(bridge.IPAM.Config[0]?.AuxiliaryAddresses, { DefaultGatewayIPv4: '10.125.0.254' });
    assert.equal(bridge.IPAM.Config[1]?.Subnet, 'fd00:125::/64');
    const [link] = ip('addr', 'show', 'dev', 'dnet0') as {
      addr_info: { family: string; local: string; scope: string }[];
    }[];
    assert.ok(
      link!.addr_info.some((a) => a.family === 'inet6' && a.local === 'fd00:125::1'),
      JSON.stringify(link),
    );
    const r = await call(sock, 'POST', '/networks/bridge/connect', { Container: 'gw-c1' });
    assert.equal(r.status, 200, r.text);
    const sb = (await call(sock, 'GET', '/sandboxes/gw-c1')).json as {
      SandboxKey: string;
      Networks: { bridge: { IPAddress: string; Gateway: string; GlobalIPv6Address?: string } };
    };
    const routes = (family: string) =>
      JSON.parse(
        execFileSync('nsenter', [`--net=${sb.SandboxKey}`, 'ip', '-j', family, 'route', 'show', 'default'], {
          encoding: 'utf8',
        }),
      ) as { gateway: string }[];
    assert.deepEqual(
      routes('-4').map((x) => x.gateway),
      ['10.125.0.254'],
    );
    assert.deepEqual(
      routes('-6').map((x) => x.gateway),
      ['fd00:125::1'],
    );
    assert.equal(sb.Networks.bridge.Gateway, '10.125.0.254');
    assert.notEqual(sb.Networks.bridge.IPAddress, '10.125.0.254', 'the gateway address is reserved');
  });
});
