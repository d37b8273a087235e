import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main as dnetMain } from '../../src/cli/main.ts';
import { world } from '../harness/world.ts';
import {
  attachments,
  cid,
  cni,
  conf,
  daemonProcess,
  hostLinks,
  inspectContainers,
  install,
  installed,
  ipIn,
  killDnet,
  netnsAdd,
  netnsCleanup,
  netnsDel,
  publishedHostPorts,
  SOCK,
  startDnet,
  VERSIONS,
} from '../helpers/cni-runtime.ts';
import { call } from '../helpers/http.ts';
import { request, startServer } from '../helpers/traffic.ts';

// The CNI plugin of type `dnet` driven as a runtime drives it: what `dnet cni install` wrote,
// executed with the CNI_* environment and the config on stdin, against a `dnet daemon` child
// process (so it can be killed with SIGKILL). Twice: the C launcher (the daemon runs the verbs,
// POST /cni), and the Node plugin (`--node`, the fallback without a C compiler) for the verbs,
// versions and error codes. Namespaces are made by the test (`ip netns add`), as a runtime makes
// them; dnet must never create or delete them.

before(async () => {
  await startDnet();
  const r = await call(SOCK, 'POST', '/networks/create', {
    Name: 'dn',
    IPAM: { Config: [{ Subnet: '10.77.0.0/24' }] },
  });
  assert.equal(r.status, 201, r.text);
  // One usable address (/30: network, gateway, one, broadcast): STATUS sees it exhausted once taken.
  const t = await call(SOCK, 'POST', '/networks/create', {
    Name: 'tiny',
    IPAM: { Config: [{ Subnet: '10.78.0.0/30' }] },
  });
  assert.equal(t.status, 201, t.text);
});

after(async () => {
  if (daemonProcess()) {
    for (const n of ['dn', 'tiny']) await call(SOCK, 'DELETE', `/networks/${n}`).catch(() => undefined);
  }
  await killDnet();
  netnsCleanup();
});

for (const kind of ['launcher', 'node'] as const) {
  describe(`CNI plugin dnet (spec 1.1): the ${kind}`, () => {
    before(() => install(join(world.runDir, `cni-bin-${kind}`), kind === 'node'));
    const launcherOnly =
      kind === 'node' ? { skip: 'launcher only (the Node plugin: verbs, versions, codes)' } : {};

    test('VERSION answers in every version with the supported list', async () => {
      for (const v of VERSIONS) {
        const r = await cni('VERSION', {}, { cniVersion: v });
        assert.equal(r.code, 0, r.raw);
        assert.deepEqual(r.out, { cniVersion: v, supportedVersions: VERSIONS });
      }
    });

    test('ADD, CHECK, DEL, DEL again in every version; results converted', async () => {
      for (const [i, v] of VERSIONS.entries()) {
        const ns = netnsAdd();
        const env = { CNI_CONTAINERID: cid(100 + i), CNI_NETNS: ns.path, CNI_IFNAME: 'net1' };
        const add = await cni('ADD', env, conf(v));
        assert.equal(add.code, 0, add.raw);
        const res = add.out as {
          cniVersion: string;
          interfaces: { name: string; mac?: string; sandbox?: string }[];
          ips: { address: string; gateway: string; interface: number; version?: string }[];
          routes: { dst: string; gw: string }[];
        };
        assert.equal(res.cniVersion, v);
        const idx = res.interfaces.findIndex((x) => x.sandbox === ns.path);
        assert.equal(res.interfaces[idx]?.name, 'net1');
        assert.equal(res.ips.length, 1);
        const ip = res.ips[0]!;
        assert.match(ip.address, /^10\.77\.0\.\d+\/24$/);
        assert.equal(ip.gateway, '10.77.0.1');
        assert.equal(ip.interface, idx);
        assert.equal(ip.version, v.startsWith('0.') ? '4' : undefined, `ips[].version in ${v}`);
        assert.deepEqual(res.routes, [{ dst: '0.0.0.0/0', gw: '10.77.0.1' }]);
        // The interface is in the runtime's namespace, with that name, address and MAC.
        const shown = ipIn(ns.name, '-o', 'addr', 'show', 'dev', 'net1');
        assert.ok(shown.includes(ip.address), shown);
        const mac = res.interfaces[idx]?.mac;
        assert.ok(mac && ipIn(ns.name, 'link', 'show', 'net1').includes(mac));
        assert.match(ipIn(ns.name, 'route', 'show', 'default'), /default via 10\.77\.0\.1 dev net1/);
        // The host interface named in the result exists.
        const host = res.interfaces.find((x) => !x.sandbox);
        assert.ok(host && hostLinks().includes(`${host.name}@`), 'host veth listed and present');

        const check = await cni('CHECK', env, conf(v, { prevResult: res }));
        if (v.startsWith('0.3'))
          assert.equal((check.out as { code: number }).code, 1, 'no CHECK before 0.4.0');
        else assert.equal(check.code, 0, check.raw);

        for (const round of [1, 2]) {
          const del = await cni('DEL', env, conf(v, { prevResult: res }));
          assert.equal(del.code, 0, `DEL #${round}: ${del.raw}`);
          assert.equal(del.out, undefined);
        }
        assert.ok(existsSync(ns.path), 'the runtime namespace is never deleted by dnet');
        assert.ok(!ipIn(ns.name, 'link').includes('net1'));
        assert.ok(!hostLinks().includes(`${host.name}@`), 'host veth gone');
        netnsDel(ns.name);
      }
      assert.deepEqual(await attachments(), []);
      assert.deepEqual(await inspectContainers(), {});
    });

    test('every error code: 1, 2, 3, 4, 6, 7, 11, 50 (and STATUS 0)', async () => {
      const ns = netnsAdd();
      const env = { CNI_CONTAINERID: cid(200), CNI_NETNS: ns.path, CNI_IFNAME: 'eth0' };
      const code = async (cmd: string, e: Record<string, string>, c: unknown) => {
        const r = await cni(cmd, e, c);
        assert.notEqual(r.code, 0, `${cmd} should fail: ${r.raw}`);
        const o = r.out as { cniVersion: string; code: number; msg: string };
        assert.equal(typeof o.msg, 'string');
        assert.ok(o.msg.length > 0);
        return o;
      };
      // 1: a version dnet does not speak; CHECK before 0.4.0; GC and STATUS before 1.1.0.
      assert.equal((await code('ADD', env, conf('9.9.9'))).code, 1);
      assert.equal((await code('GC', {}, conf('1.0.0'))).code, 1);
      assert.equal((await code('STATUS', {}, conf('1.0.0'))).code, 1);
      // 2: a field dnet does not take, named with its value; unknown CNI_ARGS without IgnoreUnknown.
      const ipam = await code('ADD', env, conf('1.1.0', { ipam: { type: 'host-local' } }));
      assert.equal(ipam.code, 2);
      assert.match(ipam.msg, /ipam=.*host-local/);
      assert.equal((await code('ADD', { ...env, CNI_ARGS: 'FOO=bar' }, conf('1.1.0'))).code, 2);
      // 3: CHECK of an attachment dnet does not have.
      const unknown = await code('CHECK', env, conf('1.1.0', { prevResult: { cniVersion: '1.1.0' } }));
      assert.equal(unknown.code, 3);
      // 4: environment: no command, unknown command, a required variable missing, bad values.
      assert.equal((await code('', env, conf('1.1.0'))).code, 4);
      assert.equal((await code('FROB', env, conf('1.1.0'))).code, 4);
      const noNetns = await code('ADD', { CNI_CONTAINERID: cid(200), CNI_IFNAME: 'eth0' }, conf('1.1.0'));
      assert.equal(noNetns.code, 4);
      assert.match(noNetns.msg, /CNI_NETNS/);
      assert.equal((await code('ADD', { ...env, CNI_CONTAINERID: '-bad id' }, conf('1.1.0'))).code, 4);
      assert.equal((await code('ADD', { ...env, CNI_IFNAME: 'a/b' }, conf('1.1.0'))).code, 4);
      // 6: not JSON.
      assert.equal((await code('ADD', env, '{"cniVersion": ')).code, 6);
      // 7: invalid config: another type, a network that does not exist, a bad MAC.
      assert.equal((await code('ADD', env, { ...conf('1.1.0'), type: 'bridge' })).code, 7);
      const noNet = await code('ADD', env, conf('1.1.0', { network: 'nope' }));
      assert.equal(noNet.code, 7);
      assert.match(noNet.msg, /nope/);
      assert.equal((await code('ADD', env, conf('1.1.0', { runtimeConfig: { mac: 'zz' } }))).code, 7);
      // ...a CNI_NETNS that is not a namespace, or is the host's own.
      writeFileSync(join(world.runDir, 'plain-file'), '');
      const notNs = await code('ADD', { ...env, CNI_NETNS: join(world.runDir, 'plain-file') }, conf('1.1.0'));
      assert.equal(notNs.code, 7, notNs.msg);
      const hostNs = await code('ADD', { ...env, CNI_NETNS: '/proc/self/ns/net' }, conf('1.1.0'));
      assert.equal(hostNs.code, 7, hostNs.msg);
      assert.deepEqual(await attachments(), []);
      // 11: the daemon cannot be reached (ADD, DEL: try again later).
      const away = { host: `unix://${join(world.runDir, 'nobody.sock')}` };
      assert.equal((await code('ADD', env, conf('1.1.0', away))).code, 11);
      assert.equal((await code('DEL', env, conf('1.1.0', away))).code, 11);
      // 50: STATUS without a daemon, without the network, with the pool exhausted.
      assert.equal((await code('STATUS', {}, conf('1.1.0', away))).code, 50);
      assert.equal((await code('STATUS', {}, conf('1.1.0', { network: 'nope' }))).code, 50);
      const ok = await cni('STATUS', {}, conf('1.1.0', { network: 'tiny' }));
      assert.equal(ok.code, 0, ok.raw);
      const add = await cni('ADD', env, conf('1.1.0', { network: 'tiny' }));
      assert.equal(add.code, 0, add.raw);
      const full = await code('STATUS', {}, conf('1.1.0', { network: 'tiny' }));
      assert.equal(full.code, 50);
      assert.match(full.msg, /no free IPv4 address/);
      // ...and ADD on the full network says to try again later.
      const ns2 = netnsAdd();
      const more = await code(
        'ADD',
        { ...env, CNI_CONTAINERID: cid(201), CNI_NETNS: ns2.path },
        conf('1.1.0', { network: 'tiny' }),
      );
      assert.equal(more.code, 11);
      assert.equal((await cni('DEL', env, conf('1.1.0', { network: 'tiny' }))).code, 0);
      assert.equal((await cni('STATUS', {}, conf('1.1.0', { network: 'tiny' }))).code, 0);
      // An interface name taken in the namespace: ADD fails, nothing is left behind.
      ipIn(ns.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0');
      const taken = await cni('ADD', env, conf('1.1.0'));
      assert.notEqual(taken.code, 0);
      assert.deepEqual(await attachments(), []);
      assert.deepEqual(await inspectContainers(), {});
      netnsDel(ns.name);
      netnsDel(ns2.name);
    });

    test(
      'CHECK says what is wrong; DEL after the namespace is deleted still releases everything',
      launcherOnly,
      async () => {
        const ns = netnsAdd();
        const env = { CNI_CONTAINERID: cid(300), CNI_NETNS: ns.path, CNI_IFNAME: 'eth0' };
        const ports = {
          runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] },
        };
        const add = await cni('ADD', env, conf('1.0.0', ports));
        assert.equal(add.code, 0, add.raw);
        assert.deepEqual(publishedHostPorts(), [18080]);
        // Someone removes the address inside the container: CHECK names it.
        const addr = (add.out as { ips: { address: string }[] }).ips[0]!.address;
        ipIn(ns.name, 'addr', 'del', addr, 'dev', 'eth0');
        const bad = await cni('CHECK', env, conf('1.0.0', { ...ports, prevResult: add.out }));
        assert.equal((bad.out as { code: number }).code, 101, bad.raw);
        assert.match((bad.out as { details: string }).details, new RegExp(`lacks its address ${addr}`));
        // ...and someone flushes the firewall: CHECK names the missing elements, unless the daemon's
        // tamper watch (src/drivers/bridge/heal.ts, ~100 ms) has already put them back.
        execFileSync('nft', ['flush', 'map', 'inet', 'dnet', 'pub4any_addr']);
        const fw = await cni('CHECK', env, conf('1.0.0', { ...ports, prevResult: add.out }));
        const details = (fw.out as { details?: string } | undefined)?.details ?? '';
        if (!/published port element .* missing/.test(details)) {
          assert.doesNotMatch(details, /published port/, 'either reported missing or repaired');
          assert.deepEqual(publishedHostPorts(), [18080], 'repaired by the daemon');
        }
        // The runtime deletes the namespace without DEL first, then DELs: all of it is released.
        const host = (await attachments())[0]!.HostInterface;
        netnsDel(ns.name);
        assert.equal((await cni('DEL', env, conf('1.0.0', ports))).code, 0);
        assert.equal((await cni('DEL', env, conf('1.0.0', ports))).code, 0);
        assert.deepEqual(await attachments(), []);
        assert.deepEqual(await inspectContainers(), {}, 'address released');
        assert.ok(!hostLinks().includes(`${host}@`), 'host veth gone');
        assert.deepEqual(publishedHostPorts(), [], 'port mapping gone');
        const sandboxes = (await call(SOCK, 'GET', '/sandboxes')).json as { Id: string }[];
        assert.ok(!sandboxes.some((s) => s.Id === cid(300)), 'sandbox record gone');
      },
    );

    test(
      'traffic between two attachments; a published port from another namespace and the host',
      launcherOnly,
      async () => {
        const a = netnsAdd();
        const b = netnsAdd();
        const envA = { CNI_CONTAINERID: cid(400), CNI_NETNS: a.path, CNI_IFNAME: 'eth0' };
        const envB = { CNI_CONTAINERID: cid(401), CNI_NETNS: b.path, CNI_IFNAME: 'eth0' };
        const addA = await cni(
          'ADD',
          envA,
          conf('1.1.0', {
            runtimeConfig: {
              portMappings: [{ hostPort: 18081, containerPort: 80, protocol: 'tcp' }],
              ips: ['10.77.0.40/24'],
              mac: '02:42:0a:4d:00:28',
            },
          }),
        );
        assert.equal(addA.code, 0, addA.raw);
        const resA = addA.out as {
          ips: { address: string }[];
          interfaces: { mac?: string; sandbox?: string }[];
        };
        assert.equal(resA.ips[0]?.address, '10.77.0.40/24', 'static IP (capability ips)');
        assert.equal(
          resA.interfaces.find((x) => x.sandbox)?.mac,
          '02:42:0a:4d:00:28',
          'static MAC (capability mac)',
        );
        const addB = await cni('ADD', envB, conf('1.1.0'));
        assert.equal(addB.code, 0, addB.raw);
        // `dnet sandbox ls` shows both attachments.
        let ls = '';
        await dnetMain(['sandbox', 'ls', '--no-trunc'], {
          out: (t) => {
            ls += t;
          },
          err: () => {},
          env: {},
          readLine: async () => undefined,
        });
        assert.match(ls, new RegExp(`${cid(400)}\\s+\\S+\\s+dn/eth0\\s+${a.path}`));
        assert.match(ls, new RegExp(`${cid(401)}\\s+\\S+\\s+dn/eth0\\s+${b.path}`));
        const srv = await startServer(a.path, 'tcp', '0.0.0.0', 80);
        try {
          const ipB = (addB.out as { ips: { address: string }[] }).ips[0]!.address.split('/')[0];
          assert.equal(await request(b.path, 'tcp', '10.77.0.40', 80), `from ${ipB}`, 'B reaches A directly');
          assert.match(
            await request(b.path, 'tcp', '10.77.0.1', 18081),
            /^from /,
            'B reaches the published port',
          );
          assert.match(await request(undefined, 'tcp', '127.0.0.1', 18081), /^from /, 'the host reaches it');
        } finally {
          srv.stop();
        }
        for (const [env] of [[envA], [envB]] as const)
          assert.equal((await cni('DEL', env, conf('1.1.0'))).code, 0);
        assert.deepEqual(publishedHostPorts(), []);
        netnsDel(a.name);
        netnsDel(b.name);
      },
    );

    test(
      'ADD after the daemon is killed (-9) and restarted; old attachments keep working',
      launcherOnly,
      async () => {
        const a = netnsAdd();
        const envA = { CNI_CONTAINERID: cid(500), CNI_NETNS: a.path, CNI_IFNAME: 'eth0' };
        const addA = await cni('ADD', envA, conf('1.0.0'));
        assert.equal(addA.code, 0, addA.raw);
        await killDnet();
        const b = netnsAdd();
        const envB = { CNI_CONTAINERID: cid(501), CNI_NETNS: b.path, CNI_IFNAME: 'eth0' };
        assert.equal(
          ((await cni('ADD', envB, conf('1.0.0'))).out as { code: number }).code,
          11,
          'daemon down',
        );
        await startDnet();
        assert.equal((await cni('CHECK', envA, conf('1.0.0', { prevResult: addA.out }))).code, 0, 'A intact');
        const addB = await cni('ADD', envB, conf('1.0.0'));
        assert.equal(addB.code, 0, addB.raw);
        const ipA = (addA.out as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
        const srv = await startServer(a.path, 'tcp', '0.0.0.0', 80);
        try {
          assert.match(await request(b.path, 'tcp', ipA, 80), /^from 10\.77\.0\./);
        } finally {
          srv.stop();
        }
        for (const env of [envA, envB]) assert.equal((await cni('DEL', env, conf('1.0.0'))).code, 0);
        netnsDel(a.name);
        netnsDel(b.name);
        assert.deepEqual(await attachments(), []);
      },
    );

    test(
      'GC after a simulated reboot: every leaked attachment reclaimed, no valid one touched',
      launcherOnly,
      async () => {
        const port = (n: number) => ({
          runtimeConfig: { portMappings: [{ hostPort: 19000 + n, containerPort: 80, protocol: 'tcp' }] },
        });
        const all: { id: string; ns: { name: string; path: string }; n: number }[] = [];
        for (let n = 0; n < 8; n++) {
          const ns = netnsAdd();
          const id = cid(600 + n);
          const r = await cni(
            'ADD',
            { CNI_CONTAINERID: id, CNI_NETNS: ns.path, CNI_IFNAME: 'eth0' },
            conf('1.1.0', port(n)),
          );
          assert.equal(r.code, 0, r.raw);
          all.push({ id, ns, n });
        }
        const valid = all.slice(0, 2);
        const goneAtReboot = all.slice(2, 5); // their namespaces vanish while the daemon is down
        const forgotten = all.slice(5); // namespaces still there, but the runtime no longer knows them
        const hostIfs = new Map((await attachments()).map((a) => [a.ContainerID, a.HostInterface]));
        // The "reboot": the daemon dies without a word, namespaces go, records stay.
        await killDnet();
        for (const x of goneAtReboot) netnsDel(x.ns.name);
        await startDnet();
        const gc = await cni(
          'GC',
          {},
          conf('1.1.0', {
            'cni.dev/valid-attachments': valid.map((x) => ({ containerID: x.id, ifname: 'eth0' })),
          }),
        );
        assert.equal(gc.code, 0, gc.raw);
        // 100% reclaimed: records, addresses, host interfaces, port mappings.
        const left = await attachments();
        assert.deepEqual(left.map((a) => a.ContainerID).sort(), valid.map((x) => x.id).sort());
        assert.deepEqual(Object.keys(await inspectContainers()).sort(), valid.map((x) => x.id).sort());
        assert.deepEqual(publishedHostPorts(), [19000, 19001]);
        const links = hostLinks();
        for (const x of [...goneAtReboot, ...forgotten]) {
          assert.ok(!links.includes(`${hostIfs.get(x.id)}@`), `host veth of ${x.id.slice(0, 12)} gone`);
        }
        const sandboxes = ((await call(SOCK, 'GET', '/sandboxes')).json as { Id: string }[]).map((s) => s.Id);
        for (const x of [...goneAtReboot, ...forgotten]) assert.ok(!sandboxes.includes(x.id));
        for (const x of forgotten) {
          assert.ok(existsSync(x.ns.path), 'GC never deletes a namespace');
          assert.ok(!ipIn(x.ns.name, 'link').includes('eth0'));
        }
        // The valid ones are untouched: CHECK passes and their ports answer.
        for (const x of valid) {
          const env = { CNI_CONTAINERID: x.id, CNI_NETNS: x.ns.path, CNI_IFNAME: 'eth0' };
          const a = left.find((l) => l.ContainerID === x.id)!;
          const prev = {
            cniVersion: '1.1.0',
            interfaces: [{ name: 'eth0', sandbox: x.ns.path }],
            ips: [{ address: a.IPs[0]!.Address, interface: 0 }],
          };
          assert.equal((await cni('CHECK', env, conf('1.1.0', { ...port(x.n), prevResult: prev }))).code, 0);
          const srv = await startServer(x.ns.path, 'tcp', '0.0.0.0', 80);
          try {
            assert.match(await request(undefined, 'tcp', '127.0.0.1', 19000 + x.n), /^from /);
          } finally {
            srv.stop();
          }
        }
        for (const x of valid) {
          const env = { CNI_CONTAINERID: x.id, CNI_NETNS: x.ns.path, CNI_IFNAME: 'eth0' };
          assert.equal((await cni('DEL', env, conf('1.1.0', port(x.n)))).code, 0);
        }
        for (const x of [...valid, ...forgotten]) netnsDel(x.ns.name);
        assert.deepEqual(await attachments(), []);
      },
    );

    test(
      'the launcher: tcp:// hosts go to the Node plugin; the daemon judges what it cannot read',
      launcherOnly,
      async () => {
        const ns = netnsAdd();
        const env = { CNI_CONTAINERID: cid(700), CNI_NETNS: ns.path, CNI_IFNAME: 'eth0' };
        // Nothing listens on 127.0.0.1:1: the Node plugin (its message names the verb) says 11.
        const tcp = await cni('ADD', env, conf('1.0.0', { host: 'tcp://127.0.0.1:1' }));
        assert.equal(tcp.code, 1);
        assert.equal((tcp.out as { code: number }).code, 11);
        assert.match(
          (tcp.out as { msg: string }).msg,
          /cannot be reached \(cannot attach/,
          'the Node plugin answered',
        );
        // A host that is not a string: the launcher uses the default socket, the daemon says 7.
        const bad = await cni('ADD', env, conf('1.0.0', { host: 42 }));
        assert.equal((bad.out as { code: number }).code, 7, bad.raw);
        assert.match((bad.out as { msg: string }).msg, /host must be/);
        // A host given with JSON escapes: the launcher leaves it to the daemon at the default socket.
        const escaped = await cni(
          'STATUS',
          {},
          JSON.stringify(conf('1.1.0')).replace('}', `,"h\\u006fst":"unix:\\/\\/\\/run\\/dnet\\/dnet.sock"}`),
        );
        assert.equal(escaped.code, 0, escaped.raw);
        // The daemon's route refuses a body that is not a CNI call (400), answers a call with 200.
        assert.equal((await call(SOCK, 'POST', '/cni', { Env: { CNI_COMMAND: 7 } })).status, 400);
        assert.equal((await call(SOCK, 'POST', '/cni', { Env: {}, Config: 5 })).status, 400);
        const r = await call(SOCK, 'POST', '/cni', { Env: { CNI_COMMAND: 'STATUS' }, Config: '{' });
        assert.equal(r.status, 200);
        assert.equal(r.headers['dnet-cni-exit'], '1');
        assert.equal((JSON.parse(r.text) as { code: number }).code, 6);
        netnsDel(ns.name);
      },
    );

    test('the installed files: dnet (the launcher: an ELF executable, or the Node plugin) and dnet-node', () => {
      const head = readFileSync(installed.plugin).subarray(0, 4);
      if (kind === 'launcher')
        assert.deepEqual([...head], [0x7f, 0x45, 0x4c, 0x46], 'dnet is an ELF executable');
      else
        assert.equal(
          readFileSync(installed.plugin, 'utf8'),
          readFileSync(join(installed.binDir, 'dnet-node'), 'utf8'),
        );
      // The Node plugin: one plain JavaScript file, no daemon, store, FFI or logger in it.
      const text = readFileSync(join(installed.binDir, 'dnet-node'), 'utf8');
      assert.ok(text.startsWith(`#!${process.execPath}\n`));
      const required = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]).sort();
      // node:http(s) for the daemon (src/cli/client.ts), node:fs for the version (src/version.ts).
      assert.deepEqual(
        [...new Set(required)],
        ['node:fs', 'node:http', 'node:https'],
        'only these are loaded',
      );
      for (const heavy of ['lmdb', 'koffi', 'etcd3', 'pino', 'startDaemon', 'NetworkController'])
        assert.ok(!text.includes(heavy), `${heavy} is not in the plugin`);
    });
  });
}
