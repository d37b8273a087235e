import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { launcherScript } from '../../src/cli/cni.ts';
import { runCni } from '../../src/cni/plugin.ts';
import { CniError } from '../../src/cni-spec/errors.ts';
import { parseConfig, parseEnv } from '../../src/cni-spec/request.ts';
import { resultOf } from '../../src/cni-spec/verbs.ts';
import { convertResult } from '../../src/cni-spec/versions.ts';
import { compareVersions } from '../../src/dotted-version.ts';

// The plugin's pure parts: environment and config parsing, version conversion, error JSON.

const env = parseEnv({
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/x',
  CNI_IFNAME: 'eth0',
});

function codeOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, String(err));
    return err.code;
  }
  return 0;
}

describe('cni request parsing', () => {
  test('env: verbs, required variables per verb, CNI_ARGS', () => {
    assert.equal(
      codeOf(() => parseEnv({})),
      4,
    );
    assert.equal(
      codeOf(() => parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_IFNAME: 'e' })),
      4,
    );
    assert.equal(
      codeOf(() => parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'e' })),
      0,
    );
    assert.equal(
      codeOf(() => parseEnv({ CNI_COMMAND: 'GC' })),
      4,
      'GC needs CNI_PATH',
    );
    assert.equal(
      codeOf(() => parseEnv({ CNI_COMMAND: 'STATUS' })),
      0,
    );
    assert.equal(
      codeOf(() =>
        parseEnv({
          CNI_COMMAND: 'ADD',
          CNI_NETNS: 'rel/path',
          CNI_CONTAINERID: 'c',
          CNI_IFNAME: 'e',
        }),
      ),
      4,
    );
    assert.equal(
      codeOf(() => parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'sixteen-bytes-xx' })),
      4,
    );
    const e = parseEnv({
      CNI_COMMAND: 'DEL',
      CNI_CONTAINERID: 'c',
      CNI_IFNAME: 'e',
      CNI_ARGS: 'IgnoreUnknown=1;A=b=c',
    });
    assert.deepEqual(e.args, { IgnoreUnknown: '1', A: 'b=c' });
    assert.equal(
      codeOf(() =>
        parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'e', CNI_ARGS: 'novalue' }),
      ),
      4,
    );
  });

  test('config: capabilities, CNI_ARGS IP/MAC, codes 1, 2, 6, 7', () => {
    const c = parseConfig(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'dn',
        type: 'dnet',
        runtimeConfig: {
          portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'TCP' }],
          ips: ['10.0.0.5/24'],
          mac: '02:00:00:00:00:01',
        },
      }),
      env,
    );
    assert.equal(c.network, 'dn', 'network defaults to the config name');
    assert.equal(c.host, 'unix:///run/dnet/dnet.sock');
    assert.deepEqual(c.portMappings, [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
    assert.deepEqual(c.ips, ['10.0.0.5/24']);
    assert.equal(c.mac, '02:00:00:00:00:01');
    const withArgs = parseConfig('{"cniVersion":"1.1.0","name":"n","type":"dnet"}', {
      ...env,
      args: { IP: '10.0.0.9', K8S_POD_NAME: 'web' },
    });
    assert.deepEqual(withArgs.ips, ['10.0.0.9']);
    const base = { cniVersion: '1.1.0', name: 'n', type: 'dnet' };
    assert.equal(
      codeOf(() => parseConfig('nope', env)),
      6,
    );
    assert.equal(
      codeOf(() => parseConfig(JSON.stringify({ ...base, cniVersion: '2.0.0' }), env)),
      1,
    );
    assert.equal(
      codeOf(() => parseConfig(JSON.stringify({ ...base, ipam: {} }), env)),
      2,
    );
    assert.equal(
      codeOf(() => parseConfig(JSON.stringify(base), { ...env, args: { X: '1' } })),
      2,
    );
    assert.equal(
      codeOf(() => parseConfig(JSON.stringify({ ...base, type: 'bridge' }), env)),
      7,
    );
    assert.equal(
      codeOf(() => parseConfig(JSON.stringify({ ...base, host: 'http://x' }), env)),
      7,
    );
    const badPort = { ...base, runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] } };
    assert.equal(
      codeOf(() => parseConfig(JSON.stringify(badPort), env)),
      7,
    );
  });
});

describe('cni results', () => {
  const att = {
    ContainerID: 'c1',
    IfName: 'eth0',
    Netns: '/run/netns/x',
    MacAddress: '02:42:0a:00:00:02',
    HostInterface: 'dv0123456789',
    IPs: [{ Address: '10.0.0.2/24', Gateway: '10.0.0.1' }, { Address: 'fd00::2/64' }],
    Routes: [{ Dst: '0.0.0.0/0', Gw: '10.0.0.1' }],
  };

  test('1.x: no ips[].version; 0.x: version "4"/"6"; interface indexes after prevResult', () => {
    const r1 = resultOf(att, undefined, '1.1.0');
    assert.deepEqual(r1, {
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'dv0123456789' },
        { name: 'eth0', mac: '02:42:0a:00:00:02', sandbox: '/run/netns/x' },
      ],
      ips: [
        { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 1 },
        { address: 'fd00::2/64', interface: 1 },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
      dns: {},
    });
    const r0 = resultOf(att, undefined, '0.3.1');
    assert.deepEqual(
      r0.ips?.map((i) => i.version),
      ['4', '6'],
    );
    const prev = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'lo0' }],
      ips: [{ address: '1.2.3.4/32', interface: 0 }],
    };
    const chained = resultOf(att, prev, '1.0.0');
    assert.equal(chained.interfaces?.length, 3);
    assert.equal(chained.ips?.[1]?.interface, 2);
    assert.deepEqual(convertResult(r0, '1.0.0').ips?.[0], {
      address: '10.0.0.2/24',
      gateway: '10.0.0.1',
      interface: 1,
    });
    assert.equal(compareVersions('0.10.0', '0.4.0'), 1);
  });

  test('errors are the spec JSON; VERSION needs no daemon', async () => {
    const v = await runCni({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    assert.deepEqual(JSON.parse(v.stdout), {
      cniVersion: '0.4.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
    const e = await runCni({ CNI_COMMAND: 'ADD' }, '{"cniVersion":"1.0.0"}');
    assert.equal(e.exitCode, 1);
    const err = JSON.parse(e.stdout) as { cniVersion: string; code: number; msg: string };
    assert.equal(err.cniVersion, '1.0.0');
    assert.equal(err.code, 4);
    assert.match(err.msg, /CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME/);
  });

  test('the shell launcher quotes its paths', () => {
    assert.equal(
      launcherScript('/usr/bin/node', "/opt/it's/dnet-cni.js").split('\n').at(-2),
      `exec '/usr/bin/node' '/opt/it'\\''s/dnet-cni.js' "$@"`,
    );
  });
});
