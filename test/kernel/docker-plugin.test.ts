/**
 * A real Docker Engine (Debian's docker.io 20.10) runs its containers on dnet: dnet's daemon serves
 * Docker's NetworkDriver and IpamDriver plugin protocols on /run/docker/plugins/dnet.sock (the
 * world's /run), dockerd runs with its default firewall (iptables FORWARD policy DROP), and
 * `docker network create -d dnet --ipam-driver dnet`, `docker run --network`, `-p` work as with
 * Docker's own bridge driver. A namespace "remote" plays another host (192.0.2.2 on rh0).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUSYBOX_IMAGE, type Dockerd, startDockerd } from '../harness/dockerd.ts';
import { world } from '../harness/world.ts';
import { call, waitForPing } from '../helpers/http.ts';

const runDir = join(world.runDir, 'dnet');
const dataDir = join(world.runDir, 'data');
const sock = join(world.runDir, 'dnet.sock');
const PLUGIN = '/run/docker/plugins/dnet.sock';
const BB = BUSYBOX_IMAGE;
const HTTPD = 'echo hello-from-$(hostname) > /tmp/index.html; exec httpd -f -p 80 -h /tmp';

let daemon: ChildProcess | undefined;
let dockerd: Dockerd;
const logs: string[] = [];

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const shOk = (cmd: string, ...args: string[]): boolean => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
/** An HTTP GET with busybox nc (its wget crashes, static), from a namespace ("" = the host): the body, or FAIL. */
function httpGet(ns: string, ip: string, port: number): string {
  const argv = ['/bin/busybox', 'nc', '-w', '3', ip, String(port)];
  const [cmd, args] = ns === '' ? [argv[0]!, argv.slice(1)] : ['ip', ['netns', 'exec', ns, ...argv]];
  try {
    const out = execFileSync(cmd, args, {
      encoding: 'utf8',
      input: 'GET / HTTP/1.0\r\n\r\n',
      stdio: ['pipe', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    return out.split('\r\n\r\n')[1]?.trim() || 'FAIL';
  } catch {
    return 'FAIL';
  }
}
/** httpGet until it answers (a container just started may not listen yet), at most ~5 s. */
async function httpGetSoon(ns: string, ip: string, port: number): Promise<string> {
  let got = 'FAIL';
  for (let i = 0; i < 25 && got === 'FAIL'; i++) {
    got = httpGet(ns, ip, port);
    if (got === 'FAIL') await new Promise((r) => setTimeout(r, 200));
  }
  return got;
}
/** The same from inside a container: `sh -c` text. */
const NC_GET = (host: string, wait = 3, port = 80) =>
  `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w ${wait} ${host} ${port}`;

/** A call to dnet's plugin socket, as dockerd makes it; the reply's JSON (plugin MIME type). */
async function plugin(
  path: string,
  body?: unknown,
  opts?: { raw: string; contentType: string },
): Promise<{ status: number; json: unknown }> {
  const r = await call(PLUGIN, 'POST', path, body, opts);
  return { status: r.status, json: JSON.parse(r.text) as unknown };
}

/** `dnet daemon` as a user runs it (the plugin socket is its default, the world's /run/docker/plugins/dnet.sock). */
async function startDnet(): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      join(world.root, 'bin/dnet.js'),
      'daemon',
      '--run-dir',
      runDir,
      '--data-dir',
      dataDir,
      '-H',
      `unix://${sock}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.setEncoding('utf8').on('data', (d: string) => logs.push(d));
  daemon = child;
  await waitForPing(sock);
}

/** Stops dnet: SIGTERM (a graceful stop) or SIGKILL (a crash). */
async function stopDnet(signal: NodeJS.Signals): Promise<void> {
  const child = daemon;
  daemon = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

type Net = {
  Id: string;
  Name: string;
  Driver: string;
  Labels: Record<string, string>;
  IPAM: { Config: { Subnet: string; Gateway?: string }[] };
  Options: Record<string, string>;
  Containers?: Record<string, { IPv4Address: string; EndpointID: string }>;
};
async function dnetNetworks(): Promise<Net[]> {
  return (await call(sock, 'GET', '/networks')).json as Net[];
}
async function dnetNetworkOf(dockerId: string): Promise<Net | undefined> {
  return (await dnetNetworks()).find((n) => n.Labels['com.dnet.docker.network-id'] === dockerId);
}
const dvLinks = () =>
  (JSON.parse(sh('ip', '-j', 'link', 'show')) as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((n) => /^dv[0-9a-f]{10}c?$/.test(n));
/** dnet's table as a sorted list of its items (rules, set and map elements): order aside, what is in it. */
const nftItems = () =>
  sh('nft', 'list', 'table', 'inet', 'dnet')
    .split(/[\n,{}]/)
    .map((x) => x.trim())
    .filter(Boolean)
    .sort();
const dockerUserRules = () =>
  sh('iptables', '-S', 'DOCKER-USER')
    .split('\n')
    .filter((l) => l.includes('--comment dnet'));

before(async () => {
  await startDnet();
  dockerd = await startDockerd();
  // The remote host: 192.0.2.2 in its own namespace, the host 192.0.2.1 on rh0.
  sh('ip', 'netns', 'add', 'remote');
  sh('ip', 'link', 'add', 'rh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'remote');
  sh('ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'rh0');
  sh('ip', 'link', 'set', 'rh0', 'up');
  sh('ip', '-n', 'remote', 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0');
  sh('ip', '-n', 'remote', 'link', 'set', 'eth0', 'up');
  sh('ip', '-n', 'remote', 'link', 'set', 'lo', 'up');
});

after(async () => {
  await dockerd?.stop();
  await stopDnet('SIGTERM');
  shOk('ip', 'link', 'del', 'rh0');
  shOk('ip', 'netns', 'del', 'remote');
});

describe('Docker Engine on dnet', () => {
  let webId = '';
  let otherId = '';

  test('the plugin socket is 0600 root: only root (dockerd) talks to it', () => {
    const st = statSync(PLUGIN);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 0);
  });

  test('docker network create -d dnet --ipam-driver dnet: a dnet bridge network with the subnet, gateway and options asked', async () => {
    const t0 = Date.now();
    webId = (
      await dockerd.docker(
        'network',
        'create',
        '-d',
        'dnet',
        '--ipam-driver',
        'dnet',
        '--subnet',
        '10.66.0.0/24',
        '-o',
        'com.docker.network.driver.mtu=1400',
        '-o',
        'com.docker.network.bridge.name=dn-web',
        'web',
      )
    ).trim();
    const createMs = Date.now() - t0;
    const n = await dnetNetworkOf(webId);
    assert.ok(n, 'dnet has the network, labelled with the Docker network ID');
    assert.equal(n.Driver, 'bridge');
    assert.equal(n.Name, `docker-${webId.slice(0, 12)}`);
    assert.deepEqual(
      n.IPAM.Config.map((c) => [c.Subnet, c.Gateway]),
      [['10.66.0.0/24', '10.66.0.1']],
    );
    assert.equal(n.Options['com.docker.network.driver.mtu'], '1400');
    const link = JSON.parse(sh('ip', '-j', 'addr', 'show', 'dn-web'))[0] as {
      mtu: number;
      addr_info: { local: string; prefixlen: number }[];
    };
    assert.equal(link.mtu, 1400);
    assert.ok(
      link.addr_info.some((a) => a.local === '10.66.0.1' && a.prefixlen === 24),
      'the gateway is on the bridge',
    );
    const inspect = JSON.parse(await dockerd.docker('network', 'inspect', 'web'))[0] as {
      IPAM: { Driver: string; Config: { Subnet: string }[] };
    };
    assert.deepEqual([inspect.IPAM.Driver, inspect.IPAM.Config[0]?.Subnet], ['dnet', '10.66.0.0/24']);
    // Docker's own IPAM hands out the addresses: dnet's network gets exactly them.
    otherId = (
      await dockerd.docker('network', 'create', '-d', 'dnet', '--subnet', '10.67.0.0/24', 'other')
    ).trim();
    const o = await dnetNetworkOf(otherId);
    assert.deepEqual(
      o?.IPAM.Config.map((c) => [c.Subnet, c.Gateway]),
      [['10.67.0.0/24', '10.67.0.1']],
    );
    assert.deepEqual(
      dockerUserRules().sort(),
      [
        // dnet's default bridge network too: every routed dnet bridge.
        '-A DOCKER-USER -i dnet0 -m comment --comment dnet -j ACCEPT',
        '-A DOCKER-USER -o dnet0 -m comment --comment dnet -j ACCEPT',
        '-A DOCKER-USER -i dn-web -m comment --comment dnet -j ACCEPT',
        '-A DOCKER-USER -o dn-web -m comment --comment dnet -j ACCEPT',
        `-A DOCKER-USER -i br-${o?.Id.slice(0, 12)} -m comment --comment dnet -j ACCEPT`,
        `-A DOCKER-USER -o br-${o?.Id.slice(0, 12)} -m comment --comment dnet -j ACCEPT`,
      ].sort(),
    );
    console.log(`# docker network create -d dnet: ${createMs} ms`);
  });

  test('containers on a dnet network reach each other (ping, TCP) and the outside; not another network', async () => {
    await dockerd.docker(
      'run',
      '-d',
      '--name',
      'srv',
      '--stop-timeout',
      '1',
      '--network',
      'web',
      '-p',
      '8080:80',
      BB,
      'sh',
      '-c',
      HTTPD,
    );
    assert.match(await httpGetSoon('', '127.0.0.1', 8080), /^hello-from-/, 'srv serves');
    const ip = (
      await dockerd.docker('inspect', '-f', '{{.NetworkSettings.Networks.web.IPAddress}}', 'srv')
    ).trim();
    assert.equal(ip, '10.66.0.2', 'the first address after the gateway, from dnet');
    const n = (await call(sock, 'GET', `/networks/${(await dnetNetworkOf(webId))?.Id}`)).json as Net;
    assert.equal(n.IPAM.Config[0]?.Subnet, '10.66.0.0/24');
    // One allocator: a sandbox of dnet's own API on the same network gets the next address, and
    // Docker's next container the one after (IPAM dnet), never one in use.
    const native = await call(sock, 'POST', `/networks/${n.Id}/connect`, { Container: 'native1' });
    assert.equal(native.status, 200, native.text);
    const withNative = (await call(sock, 'GET', `/networks/${n.Id}`)).json as Net;
    assert.deepEqual(
      Object.values(withNative.Containers ?? {})
        .map((c) => c.IPv4Address)
        .sort(),
      ['10.66.0.2/24', '10.66.0.3/24'],
      "srv's endpoint and native1's",
    );
    const next = await dockerd.docker(
      'run',
      '--rm',
      '--network',
      'web',
      BB,
      'ip',
      '-o',
      '-4',
      'addr',
      'show',
      'eth0',
    );
    assert.match(next, /inet 10\.66\.0\.4\/24/);
    assert.equal(
      (await call(sock, 'POST', `/networks/${n.Id}/disconnect`, { Container: 'native1' })).status,
      200,
    );
    const out = await dockerd.docker(
      'run',
      '--rm',
      '--network',
      'web',
      BB,
      'sh',
      '-c',
      `ip -o addr show eth0; ping -c1 -W2 srv; ${NC_GET('srv')}; ping -c1 -W2 192.0.2.2`,
    );
    assert.match(
      out,
      /eth0\s+inet 10\.66\.0\.5\/24/,
      'the next address (released ones are not reused at once)',
    );
    assert.match(out, /1 packets received/);
    assert.match(out, /hello-from-/);
    assert.doesNotMatch(
      out,
      /0 packets received/,
      "the remote host answers too (NAT out past Docker's FORWARD DROP)",
    );
    const mtu = await dockerd.docker('run', '--rm', '--network', 'web', BB, 'cat', '/sys/class/net/eth0/mtu');
    assert.equal(mtu.trim(), '1400');
    const iso = await dockerd.dockerResult(
      'run',
      '--rm',
      '--network',
      'other',
      BB,
      'sh',
      '-c',
      `${NC_GET('10.66.0.2', 1)} | grep hello`,
    );
    assert.notEqual(iso.code, 0, 'another dnet network cannot reach the container');
  });

  test("-p 8080:80 is reachable from a remote host, the host's loopback and hairpin; EndpointOperInfo reports it", async () => {
    assert.match(httpGet('remote', '192.0.2.1', 8080), /^hello-from-/);
    assert.match(httpGet('', '127.0.0.1', 8080), /^hello-from-/);
    const hairpin = await dockerd.docker('exec', 'srv', 'sh', '-c', NC_GET('192.0.2.1', 3, 8080));
    assert.match(hairpin, /hello-from-/, 'the container reaches itself through the published port');
    const epId = (
      await dockerd.docker('inspect', '-f', '{{.NetworkSettings.Networks.web.EndpointID}}', 'srv')
    ).trim();
    const info = await plugin('/NetworkDriver.EndpointOperInfo', {
      NetworkID: webId,
      EndpointID: epId,
    });
    assert.equal(info.status, 200);
    const pm = (info.json as { Value: Record<string, unknown> }).Value['com.docker.network.portmap'];
    assert.deepEqual(pm, [
      { Proto: 6, IP: '10.66.0.2', Port: 80, HostIP: '0.0.0.0', HostPort: 8080, HostPortEnd: 8080 },
    ]);
    const hostIf = (info.json as { Value: Record<string, unknown> }).Value['dnet.host-interface'];
    assert.equal(typeof hostIf, 'string');
    const veth = JSON.parse(sh('ip', '-j', 'link', 'show', String(hostIf)))[0] as { master?: string };
    assert.equal(veth.master, 'dn-web', "the container's veth is a port of the network's bridge");
  });

  test('--internal with enable_icc=false: no way out, no traffic between its containers; the gateway answers', async () => {
    await dockerd.docker(
      'network',
      'create',
      '-d',
      'dnet',
      '--ipam-driver',
      'dnet',
      '--internal',
      '--subnet',
      '10.68.0.0/24',
      '-o',
      'com.docker.network.bridge.enable_icc=false',
      'iso',
    );
    await dockerd.docker(
      'run',
      '-d',
      '--name',
      'iso1',
      '--stop-timeout',
      '1',
      '--network',
      'iso',
      BB,
      'sh',
      '-c',
      HTTPD,
    );
    const out = await dockerd.docker(
      'run',
      '--rm',
      '--network',
      'iso',
      BB,
      'sh',
      '-c',
      `${NC_GET('10.68.0.2', 1)} | grep -q hello; echo icc=$?; ping -c1 -W1 192.0.2.2 >/dev/null 2>&1; echo out=$?; ` +
        'ping -c1 -W1 10.68.0.1 >/dev/null; echo gw=$?; ip route | grep -c default; true',
    );
    assert.deepEqual(out.trim().split('\n'), ['icc=1', 'out=1', 'gw=0', '0']);
    await dockerd.docker('rm', '-f', 'iso1');
    await dockerd.docker('network', 'rm', 'iso');
  });

  test('bad calls get Err/Error replies, replays are answered as the first time', async () => {
    const unknown = await plugin('/NetworkDriver.CreateEndpoint', {
      NetworkID: 'f'.repeat(64),
      EndpointID: 'e'.repeat(64),
    });
    assert.equal(unknown.status, 500);
    assert.match((unknown.json as { Err: string }).Err, /network f{64} is not known to dnet/);
    const garbage = await plugin('/NetworkDriver.Join', undefined, {
      raw: '{"NetworkID": ',
      contentType: 'application/json',
    });
    assert.equal(garbage.status, 500);
    assert.match((garbage.json as { Err: string }).Err, /not JSON/);
    const wrongType = await plugin('/NetworkDriver.CreateNetwork', {
      NetworkID: 'a'.repeat(64),
      IPv4Data: [{ Pool: 'nope' }],
    });
    assert.match((wrongType.json as { Err: string }).Err, /"IPv4Data\[0\]\.Pool" is not an IPv4 CIDR/);
    const overlap = await plugin('/IpamDriver.RequestPool', {
      AddressSpace: 'LocalDefault',
      Pool: '10.66.0.0/25',
      V6: false,
    });
    assert.equal(overlap.status, 500);
    assert.match((overlap.json as { Error: string }).Error, /10\.66\.0\.0/);
    const replay = await plugin('/NetworkDriver.CreateNetwork', {
      NetworkID: webId,
      Options: { 'com.docker.network.generic': { 'com.docker.network.bridge.name': 'dn-web' } },
      IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.66.0.0/24', Gateway: '10.66.0.1/24' }],
    });
    assert.deepEqual([replay.status, replay.json], [200, {}]);
    const gone = await plugin('/NetworkDriver.DeleteNetwork', { NetworkID: 'b'.repeat(64) });
    assert.deepEqual([gone.status, gone.json], [200, {}], 'deleting what is not there succeeds');
    assert.equal((await plugin('/NetworkDriver.Nope', {})).status, 404);
    const act = await plugin('/Plugin.Activate', {});
    assert.deepEqual(act.json, { Implements: ['NetworkDriver', 'IpamDriver'] });
    assert.equal(
      (await dnetNetworks()).filter((n) => n.Labels['com.dnet.docker.network-id']).length,
      2,
      'nothing was added',
    );
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`dnet stopped with ${signal} and started again: running containers stay connected, ports published, nothing duplicated`, async () => {
      const before = (await dnetNetworks()).map((n) => n.Id).sort();
      const links = dvLinks().sort();
      const nft = nftItems();
      await stopDnet(signal);
      assert.match(
        httpGet('remote', '192.0.2.1', 8080),
        /^hello-from-/,
        'the kernel keeps working while dnet is down',
      );
      await startDnet();
      assert.deepEqual((await dnetNetworks()).map((n) => n.Id).sort(), before);
      assert.deepEqual(dvLinks().sort(), links, 'the veths are kept');
      assert.equal(dockerUserRules().length, 6, 'two per bridge, not more');
      assert.deepEqual(nftItems(), nft, 'the same firewall, the same published port');
      assert.match(httpGet('remote', '192.0.2.1', 8080), /^hello-from-/);
      const out = await dockerd.docker('run', '--rm', '--network', 'web', BB, 'sh', '-c', NC_GET('srv'));
      assert.match(out, /hello-from-/, 'and Docker still runs new containers on it');
    });
  }

  test('a dockerd restart: containers stop and start again on the same networks, nothing duplicated', async () => {
    await dockerd.restart();
    await dockerd.docker('start', 'srv');
    assert.match(await httpGetSoon('remote', '192.0.2.1', 8080), /^hello-from-/);
    const n = await dnetNetworkOf(webId);
    const eps = Object.values(((await call(sock, 'GET', `/networks/${n?.Id}`)).json as Net).Containers ?? {});
    const ip = (
      await dockerd.docker('inspect', '-f', '{{.NetworkSettings.Networks.web.IPAddress}}', 'srv')
    ).trim();
    assert.deepEqual(
      eps.map((e) => e.IPv4Address),
      [`${ip}/24`],
      "dnet inspect shows one endpoint: the running container's (the stopped one's went at Docker's restart)",
    );
    // The host ends are `dv` + 10 hex digits of the endpoint ID; a peer Docker has not moved yet
    // is that name + `c` (13 characters). A host end whose 10th digit is `c` is still a host end.
    const hostVeths = () => dvLinks().filter((l) => /^dv[0-9a-f]{10}$/.test(l)).length;
    assert.equal(
      hostVeths(),
      1,
      `one veth: the running container's (links: ${sh('ip', '-br', 'link').replace(/\s+\n/g, '; ')})`,
    );
    assert.match(await httpGetSoon('remote', '192.0.2.1', 8080), /^hello-from-/);
    assert.equal((await dnetNetworks()).filter((x) => x.Labels['com.dnet.docker.network-id']).length, 2);
  });

  test('docker rm -f and docker network rm leave nothing behind', async () => {
    await dockerd.docker('rm', '-f', 'srv');
    assert.deepEqual(dvLinks(), []);
    assert.equal(httpGet('', '127.0.0.1', 8080), 'FAIL', 'the port is no longer published');
    await dockerd.docker('network', 'rm', 'web', 'other');
    assert.deepEqual((await dnetNetworks()).map((n) => n.Name).sort(), ['bridge', 'host', 'none']);
    assert.equal(shOk('ip', 'link', 'show', 'dn-web'), false, 'the bridge is gone');
    assert.deepEqual(
      dockerUserRules().sort(),
      [
        '-A DOCKER-USER -i dnet0 -m comment --comment dnet -j ACCEPT',
        '-A DOCKER-USER -o dnet0 -m comment --comment dnet -j ACCEPT',
      ],
      "dnet's rules for the removed networks' bridges are gone",
    );
    // Nothing stays allocated in dnet's IPAM: the same subnets are free for dnet's own API again.
    for (const subnet of ['10.66.0.0/24', '10.67.0.0/24']) {
      const made = await call(sock, 'POST', '/networks/create', {
        Name: 'again',
        IPAM: { Config: [{ Subnet: subnet }] },
      });
      assert.equal(made.status, 201, `${subnet} is free: ${made.text}`);
      assert.equal((await call(sock, 'DELETE', '/networks/again')).status, 204);
    }
  });
});
