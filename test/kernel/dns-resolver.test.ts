/**
 * The embedded resolver with real clients: dig and busybox nslookup run inside sandbox
 * namespaces and ask 127.0.0.11; dnsmasq, listening on a loopback address of the world's own
 * namespace (the "host"), is the upstream the host's resolv.conf names.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Network, NetworkController } from '../../src/index.ts';
import { LmdbStore } from '../../src/store/index.ts';
import { world } from '../harness/world.ts';

const runDir = join(world.runDir, 'dnet-dns');
const dataDir = mkdtempSync(join(world.runDir, 'dns-data-'));
const resolvConf = join(world.runDir, 'dns-host-resolv.conf');
writeFileSync(resolvConf, 'nameserver 127.0.0.53\nsearch corp.example\n');

let dnsmasq: ChildProcess;
let store: LmdbStore;
let ctl: NetworkController;
let neta: Network;
let netb: Network;

async function open(): Promise<NetworkController> {
  store = await LmdbStore.open({ dir: dataDir });
  return NetworkController.create({
    runDir,
    store,
    hostResolvConf: resolvConf,
    embeddedDns: { forwardTimeoutMs: 1500 },
  });
}

async function shut(): Promise<void> {
  await ctl.close();
  await store.close();
}

/**
 * A command inside the sandbox of `container` (asynchronously: the resolver answers from this
 * process's event loop). Its stdout and stderr.
 */
function inSandbox(container: string, cmd: string[]): Promise<string> {
  const key = ctl.sandboxByContainer(container)?.key;
  assert.ok(key, `no sandbox for ${container}`);
  return new Promise((resolve) => {
    execFile('nsenter', [`--net=${key}`, ...cmd], { encoding: 'utf8' }, (_err, stdout, stderr) =>
      resolve(stdout + stderr),
    );
  });
}

/** `dig` inside the sandbox of `container`, against 127.0.0.11. Returns its full output. */
function dig(container: string, args: string[]): Promise<string> {
  return inSandbox(container, ['dig', '@127.0.0.11', '+tries=1', '+time=3', ...args]);
}

/** dig +short: the answers' data, sorted. */
async function short(container: string, args: string[]): Promise<string[]> {
  return (await dig(container, ['+short', ...args]))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .sort();
}

const status = (out: string): string | undefined => /status: ([A-Z]+)/.exec(out)?.[1];

async function connect(n: Network, name: string, aliases: string[] = []): Promise<string> {
  const ep = await n.connect(name, {
    endpointName: name,
    endpoint: { aliases },
    join: { containerName: name, hostname: name },
  });
  return (ep.iface.address ?? '').split('/')[0] ?? '';
}

before(async () => {
  execFileSync('ip', ['addr', 'add', '127.0.0.53/8', 'dev', 'lo']);
  dnsmasq = spawn(
    'dnsmasq',
    [
      '--keep-in-foreground',
      '--no-resolv',
      '--no-hosts',
      '--domain-needed',
      '--bind-interfaces',
      '--listen-address=127.0.0.53',
      '--except-interface=nothing',
      '--address=/example.test/192.0.2.7',
      '--local=/test/',
      '--user=root',
      '--pid-file',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 50; i++) {
    const out = execFileSync('dig', ['@127.0.0.53', '+short', '+tries=1', '+time=1', 'www.example.test'], {
      encoding: 'utf8',
    });
    if (out.includes('192.0.2.7')) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  ctl = await open();
  neta = await ctl.newNetwork('bridge', 'neta', { ipam: { config: [{ subnet: '10.40.0.0/24' }] } });
  netb = await ctl.newNetwork('bridge', 'netb', { ipam: { config: [{ subnet: '10.41.0.0/24' }] } });
});

after(async () => {
  await shut();
  dnsmasq.kill();
});

describe('embedded resolver: names, aliases, scoping, forwarding', () => {
  let webIp = '';
  test('a container on a user-defined network gets 127.0.0.11 with Docker’s options', async () => {
    webIp = await connect(neta, 'web', ['svc', 'Front_End']);
    const rc = readFileSync(ctl.sandboxByContainer('web')?.resolvConfPath ?? '', 'utf8');
    assert.match(rc, /^nameserver 127\.0\.0\.11$/m);
    assert.doesNotMatch(rc, /nameserver 127\.0\.0\.53/);
    assert.match(rc, /^search corp\.example$/m);
    assert.match(rc, /^options ndots:0$/m);
    assert.match(rc, /# ExtServers: \[host\(127\.0\.0\.53\)\]/);
    assert.match(rc, /\(internal resolver\)/);
  });

  test('names, aliases and name.network answer with TTL 600; AAAA of a v4-only name is NODATA', async () => {
    await connect(neta, 'client');
    assert.deepEqual(await short('client', ['web']), [webIp]);
    assert.deepEqual(await short('client', ['svc']), [webIp]);
    assert.deepEqual(await short('client', ['front_end.']), [webIp], 'case-insensitive, trailing dot');
    assert.deepEqual(await short('client', ['web.neta']), [webIp]);
    const full = await dig('client', ['web']);
    assert.match(full, /status: NOERROR/);
    assert.match(full, /flags: qr aa rd ra/);
    assert.match(full, /web\.\s+600\s+IN\s+A\s+10\.40\.0\./);
    const aaaa = await dig('client', ['AAAA', 'web']);
    assert.equal(status(aaaa), 'NOERROR');
    assert.match(aaaa, /ANSWER: 0/);
    assert.equal(
      status(await dig('client', ['nope.neta'])),
      'NXDOMAIN',
      'the resolver owns <name>.<network>',
    );
    assert.equal(status(await dig('client', ['MX', 'web'])), 'NOERROR');
  });

  test('PTR for a container address; TCP; busybox nslookup', async () => {
    assert.deepEqual(await short('client', ['-x', webIp]), ['web.neta.']);
    assert.deepEqual(await short('client', ['+tcp', 'svc']), [webIp]);
    const out = await inSandbox('client', ['busybox', 'nslookup', 'web', '127.0.0.11']);
    assert.match(out, new RegExp(`Address:\\s+${webIp.replace(/\./g, '\\.')}`), out);
  });

  test('a container runs its own DNS server on 0.0.0.0:53 (UDP and TCP); 127.0.0.11 keeps answering', async () => {
    // The resolver's sockets take ephemeral ports on 127.0.0.11 and the sandbox's nftables DNAT
    // 127.0.0.11:53 to them (as Docker does), so port 53 stays free for the container.
    const key = ctl.sandboxByContainer('client')?.key;
    assert.ok(key);
    const server = spawn(
      'nsenter',
      [
        `--net=${key}`,
        'dnsmasq',
        '--keep-in-foreground',
        '--no-resolv',
        '--no-hosts',
        '--port=53',
        '--interface=lo', // without --bind-interfaces dnsmasq binds the wildcard 0.0.0.0:53
        '--address=/own.test/192.0.2.99',
        '--user=root',
        '--pid-file',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    server.stderr?.on('data', (d) => {
      err += d;
    });
    try {
      let own = '';
      for (let i = 0; i < 20 && !own.includes('192.0.2.99'); i++) {
        own = await inSandbox('client', ['dig', '@127.0.0.1', '+short', '+tries=1', '+time=1', 'own.test']);
        if (!own.includes('192.0.2.99')) await new Promise((res) => setTimeout(res, 100));
      }
      assert.match(own, /192\.0\.2\.99/, `the container's own server on 0.0.0.0:53 answers (${err})`);
      assert.deepEqual(await short('client', ['web']), [webIp], 'the embedded resolver still answers');
      assert.deepEqual(await short('client', ['+tcp', 'web']), [webIp]);
    } finally {
      server.kill();
    }
  });

  test('other names are forwarded to the host’s loopback upstream (dnsmasq on 127.0.0.53)', async () => {
    assert.deepEqual(await short('client', ['www.example.test']), ['192.0.2.7']);
    assert.deepEqual(await short('client', ['+tcp', 'www.example.test']), ['192.0.2.7']);
    assert.equal(status(await dig('client', ['missing.test'])), 'NXDOMAIN');
  });

  test('several containers with one alias: every address, in rotating order', async () => {
    const a = await connect(neta, 'pool1', ['pool']);
    const b = await connect(neta, 'pool2', ['pool']);
    const c = await connect(neta, 'pool3', ['pool']);
    assert.deepEqual(await short('client', ['pool']), [a, b, c].sort());
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) firsts.add((await dig('client', ['+short', 'pool'])).split('\n')[0] ?? '');
    assert.ok(firsts.size > 1, `the first address rotates: ${[...firsts]}`);
  });

  test('scoping: a container resolves only names of networks it is on', async () => {
    const other = await connect(netb, 'other');
    assert.equal(status(await dig('other', ['web'])), 'NXDOMAIN');
    // Not a network of its own: forwarded, and the upstream (dnsmasq) knows no `neta`.
    assert.deepEqual(await short('other', ['web.neta']), []);
    assert.notEqual(status(await dig('other', ['web.neta'])), 'NOERROR');
    assert.deepEqual(await short('client', ['other']), [], 'and the other way round');
    // Connected to netb too, `web` still resolves from neta, `other` from netb.
    await netb.connect('client', { endpointName: 'client-b' });
    assert.deepEqual(await short('client', ['other']), [other]);
    assert.deepEqual(await short('client', ['web']), [webIp]);
  });

  test('a name answers as soon as connect returns and is gone as soon as disconnect returns', async () => {
    for (let i = 0; i < 5; i++) {
      const ip = await connect(neta, `late${i}`);
      assert.deepEqual(await short('client', [`late${i}`]), [ip]);
      const ep = neta.endpointByName(`late${i}`);
      await ep?.leaveAndDelete();
      assert.equal(status(await dig('client', [`late${i}`])), 'NXDOMAIN');
    }
  });

  test('more addresses than fit in 512 bytes: TC over UDP, all of them over TCP', async () => {
    const ips: string[] = [];
    for (let i = 0; i < 30; i++) ips.push(await connect(neta, `m${i}`, ['many']));
    const udp = await dig('client', ['+noedns', '+ignore', 'many']);
    assert.match(udp, /flags: qr aa tc rd ra/);
    assert.deepEqual(await short('client', ['+tcp', 'many']), ips.sort());
    assert.deepEqual(await short('client', ['many']), ips.sort(), 'dig retries over TCP by itself');
    for (let i = 0; i < 30; i++) await neta.endpointByName(`m${i}`)?.leaveAndDelete();
  });

  test('malformed and hostile packets are answered or dropped; the resolver keeps answering', async () => {
    // A UDP client in the sandbox (node itself): each message, then what came back (ID:rcode).
    const js = `
const s = require('node:dgram').createSocket('udp4');
const msgs = [
  '12340100000100000000000000ffff', '00', '1235810000000000000000000000',
  '1236280000010000000000000377656200000100 01'.replace(/ /g, ''), '123701000002000000000000',
].map((h) => Buffer.from(h, 'hex'));
const out = [];
let i = 0;
let timer;
const next = () => {
  if (i === msgs.length) { console.log(out.join(' ')); s.close(); return; }
  s.send(msgs[i++], 53, '127.0.0.11');
  timer = setTimeout(() => { out.push('none'); next(); }, 500);
};
s.on('message', (d) => {
  clearTimeout(timer);
  out.push(d.readUInt16BE(0).toString(16) + ':' + (d[3] & 15));
  next();
});
s.bind(0, () => next());
`;
    const out = await inSandbox('client', [process.execPath, '-e', js]);
    // FORMERR (1) for the undecodable one and the two-question one, nothing for a 1-byte message
    // or a response, NOTIMP (4) for opcode UPDATE.
    assert.equal(out.trim(), '1234:1 none none 1236:4 1237:1');
    assert.deepEqual(await short('client', ['web']), [webIp]);
  });

  test('the default bridge network has no embedded DNS (legacy resolv.conf)', async () => {
    const def = await ctl.newNetwork('bridge', 'defbr', {
      ipam: { config: [{ subnet: '10.42.0.0/24' }] },
      options: {
        'com.docker.network.bridge.default_bridge': 'true',
        'com.docker.network.bridge.name': 'dnsdef0',
      },
    });
    await connect(def, 'legacy');
    const rc = readFileSync(ctl.sandboxByContainer('legacy')?.resolvConfPath ?? '', 'utf8');
    assert.doesNotMatch(rc, /127\.0\.0\.11/);
    assert.match(await dig('legacy', ['web']), /connection refused|timed out|no servers/);
    await def.endpointByName('legacy')?.leaveAndDelete();
    await def.delete();
  });

  test('internal networks: names answer, nothing is forwarded', async () => {
    const inet = await ctl.newNetwork('bridge', 'neti', {
      internal: true,
      ipam: { config: [{ subnet: '10.43.0.0/24' }] },
    });
    const ip = await connect(inet, 'secret');
    await connect(inet, 'peer');
    assert.deepEqual(await short('peer', ['secret']), [ip]);
    assert.equal(status(await dig('peer', ['www.example.test'])), 'SERVFAIL');
    assert.equal(status(await dig('peer', ['unknown'])), 'NXDOMAIN');
  });

  test('a restart rebuilds every name from the records', async () => {
    await shut();
    ctl = await open();
    neta = ctl.networkByName('neta') as Network;
    assert.deepEqual(ctl.lastRestore?.problems, []);
    assert.deepEqual(await short('client', ['web']), [webIp]);
    assert.deepEqual(await short('client', ['svc']), [webIp]);
    assert.equal((await short('client', ['pool'])).length, 3);
    assert.deepEqual(await short('client', ['www.example.test']), ['192.0.2.7']);
    // The sockets were reopened on new ports: the sandbox's DNAT was replaced, not added to.
    const rules = (await inSandbox('client', ['nft', 'list', 'table', 'ip', 'dnet-dns']))
      .split('\n')
      .filter((l) => l.includes('dnat'));
    assert.equal(rules.length, 2, rules.join('\n'));
  });
});
