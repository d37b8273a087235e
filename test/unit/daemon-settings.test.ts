import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse, UsageError } from '../../src/cli/args.ts';
import { configConflicts, DaemonConfigError, readDaemonConfig } from '../../src/cli/daemon-config.ts';
import { settingOptions, settingsFromFlags, takeBoolFlags } from '../../src/cli/daemon-flags.ts';
import { SettingError } from '../../src/daemon/network-settings.ts';
import {
  bridgeDriverSettings,
  containerDns,
  defaultBridgeSpec,
} from '../../src/daemon/network-settings-apply.ts';
import { checkSettings, parsePoolFlag, validateSettings } from '../../src/daemon/network-settings-parse.ts';

const dir = mkdtempSync(join(tmpdir(), 'parity-c-settings-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

/** The settings `dnet daemon ARGS` gives (as the daemon command reads them). */
function flags(args: string[]) {
  const { rest, texts } = takeBoolFlags(args);
  const p = parse(rest, { ...settingOptions(), host: { type: 'string', multiple: true } }, 'usage');
  return settingsFromFlags(p, texts, 'usage');
}

test('the network flags, with dockerd names and syntax (Go booleans, repeatable lists)', () => {
  assert.deepEqual(
    flags([
      '--bip=192.168.50.1/24',
      '--fixed-cidr',
      '192.168.50.128/25',
      '--mtu',
      '1400',
      '--icc=false',
      '--ip-masq=0',
      '--ip-forward',
      '--iptables=False',
      '--userland-proxy=true',
      '--default-address-pool',
      'base=10.10.0.0/16,size=24',
      '--default-address-pool=base=fd00:aa::/48,size=64',
      '--dns',
      '10.0.0.53',
      '--dns=10.0.0.54',
      '--dns-search',
      'corp.example',
      '--dns-opt',
      'ndots:2',
      '--default-gateway',
      '192.168.50.254',
    ]),
    {
      icc: false,
      'ip-masq': false,
      'ip-forward': true,
      iptables: false,
      'userland-proxy': true,
      bip: '192.168.50.1/24',
      'fixed-cidr': '192.168.50.128/25',
      'default-address-pools': [
        { base: '10.10.0.0/16', size: 24 },
        { base: 'fd00:aa::/48', size: 64 },
      ],
      mtu: 1400,
      'default-gateway': '192.168.50.254',
      dns: ['10.0.0.53', '10.0.0.54'],
      'dns-search': ['corp.example'],
      'dns-opts': ['ndots:2'],
    },
  );
  // A boolean flag takes its value only with `=`: the next argument stays a positional.
  const { rest, texts } = takeBoolFlags(['--icc', 'x', '--', '--iptables=false']);
  assert.deepEqual(rest, ['x', '--', '--iptables=false']);
  assert.deepEqual([...texts.values()], [['true']]);
});

test('bad flag values are usage errors naming the flag and what is expected', () => {
  const cases: [string[], RegExp][] = [
    [['--bip', '192.168.50.0/24'], /invalid --bip: it is the network address/],
    [['--bip', '192.168.50.1'], /invalid --bip: it has no prefix length/],
    [['--bip', 'fd00::1/64'], /invalid --bip: .*IPv4/],
    [['--fixed-cidr', '10.0.0.0/33'], /invalid --fixed-cidr: its prefix length is over 32/],
    [['--mtu', '50'], /invalid --mtu: it must be from 68 to 65535/],
    [['--mtu', 'big'], /invalid --mtu: "big": expected a number/],
    [['--icc=maybe'], /invalid --icc: "maybe": expected true or false/],
    [['--default-address-pool', '10.0.0.0/8'], /expected base=CIDR,size=N/],
    [['--default-address-pool', 'base=10.0.0.0/8'], /both base= and size= are needed/],
    [
      ['--default-address-pool', 'base=10.0.0.0/16,size=8'],
      /size 8 of base 10.0.0.0\/16: it must be from 16/,
    ],
    [['--dns', 'not-an-ip'], /invalid --dns: "not-an-ip"/],
    [['--dns-search', 'bad..name'], /invalid --dns-search: "bad..name": it has an empty label/],
    [['--dns-opt', 'a b'], /invalid --dns-opt: "a b": expected a resolv.conf option/],
    [['--default-gateway', 'fd00::1'], /invalid --default-gateway: .*IPv4/],
  ];
  for (const [args, re] of cases) {
    assert.throws(
      () => flags(args),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
      args.join(' '),
    );
  }
});

test("daemon.json: Docker's keys and JSON types; a wrong type or value names the key", () => {
  const f = file(
    'net.json',
    JSON.stringify({
      bip: '10.77.0.1/24',
      'fixed-cidr': '10.77.0.64/26',
      'default-address-pools': [{ base: '10.80.0.0/16', size: 24 }],
      mtu: 1450,
      icc: false,
      'ip-masq': false,
      'ip-forward': false,
      iptables: true,
      'userland-proxy': false,
      'default-gateway': '10.77.0.254',
      dns: ['1.1.1.1'],
      'dns-search': ['a.example'],
      'dns-opts': ['ndots:1'],
      ipv6: true,
      'fixed-cidr-v6': 'fd00:77::/64',
    }),
  );
  const c = readDaemonConfig(f, true)!;
  assert.equal(c.bip, '10.77.0.1/24');
  assert.deepEqual(c['default-address-pools'], [{ base: '10.80.0.0/16', size: 24 }]);
  assert.equal(c.icc, false);
  checkSettings(c);
  const bad: [string, RegExp][] = [
    ['{"mtu":"1500"}', /invalid "mtu": expected an integer, got "1500"/],
    ['{"icc":"false"}', /invalid "icc": expected true or false/],
    ['{"dns":"1.1.1.1"}', /invalid "dns": expected an array of strings/],
    [
      '{"default-address-pools":[{"base":"10.0.0.0/8"}]}',
      /"default-address-pools": expected an array of \{"base"/,
    ],
    [
      '{"default-address-pools":[{"base":"10.0.0.0/8","size":24,"x":1}]}',
      /"default-address-pools": expected/,
    ],
    ['{"bip":"10.0.0.0/8"}', /invalid "bip": it is the network address/],
    ['{"default-address-pool":[]}', /don't match any configuration option: default-address-pool/],
  ];
  for (const [text, re] of bad) {
    const g = file('bad.json', text);
    assert.throws(
      () => readDaemonConfig(g, true),
      (e: unknown) => e instanceof DaemonConfigError && re.test(e.message),
      text,
    );
  }
});

test("a key given as a flag and in the file: dockerd's message, every conflict listed", () => {
  assert.equal(configConflicts({ bip: '10.1.0.1/24' }, { mtu: 1400 }), undefined);
  assert.equal(
    configConflicts(
      { bip: '10.1.0.1/24', dns: ['1.1.1.1'], 'log-level': 'debug' },
      { bip: '10.2.0.1/24', dns: ['8.8.8.8', '9.9.9.9'], 'log-level': 'warn' },
    ),
    'the following directives are specified both as a flag and in the configuration file: ' +
      'log-level: (from flag: debug, from file: warn), bip: (from flag: 10.1.0.1/24, from file: 10.2.0.1/24), ' +
      'dns: (from flag: [1.1.1.1], from file: [8.8.8.8 9.9.9.9])',
  );
});

test('settings that do not fit together are refused, saying what to give', () => {
  const cases: [object, RegExp][] = [
    [
      { bip: '10.1.0.1/24', 'fixed-cidr': '10.2.0.0/25' },
      /fixed-cidr: 10.2.0.0\/25 is not inside the subnet of bip/,
    ],
    [{ bip: '10.1.0.1/24', 'fixed-cidr': '10.1.0.0/16' }, /not inside the subnet of bip/],
    [{ 'default-gateway': '10.1.0.254' }, /default-gateway: .*give bip or fixed-cidr too/],
    [
      { bip: '10.1.0.1/24', 'default-gateway': '10.9.0.1' },
      /not inside the default bridge's subnet 10.1.0.0\/24/,
    ],
    [{ 'fixed-cidr-v6': 'fd00:1::/64' }, /give ipv6 \(--ipv6\) too/],
    [{ ipv6: true, 'default-gateway-v6': 'fd00:1::1' }, /give fixed-cidr-v6 too/],
    [{ ipv6: true, mtu: 1000 }, /MTU must be at least 1280/],
  ];
  for (const [s, re] of cases) {
    assert.throws(
      () => checkSettings(s),
      (e: unknown) => e instanceof SettingError && re.test(e.message),
      JSON.stringify(s),
    );
  }
  assert.equal(new SettingError('x', 'y').code, 'ERR_DAEMON_SETTING');
});

test("the default bridge as dockerd's initBridgeDriver makes it", () => {
  assert.deepEqual(defaultBridgeSpec('dnet0', {}), {
    options: {
      'com.docker.network.bridge.default_bridge': 'true',
      'com.docker.network.bridge.enable_icc': 'true',
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
      'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
      'com.docker.network.bridge.name': 'dnet0',
      'com.docker.network.driver.mtu': '1500',
    },
    ipamConfig: [],
    enableIPv6: false,
  });
  const s = defaultBridgeSpec('dnet0', {
    bip: '192.168.1.1/24',
    'fixed-cidr': '192.168.1.0/25',
    'default-gateway': '192.168.1.254',
    mtu: 1400,
    icc: false,
    'ip-masq': false,
    ipv6: true,
    'fixed-cidr-v6': 'fd00:1::/64',
  });
  assert.deepEqual(s.ipamConfig, [
    {
      subnet: '192.168.1.0/24',
      ipRange: '192.168.1.0/25',
      gateway: '192.168.1.1',
      auxAddresses: { DefaultGatewayIPv4: '192.168.1.254' },
    },
    { subnet: 'fd00:1::/64' },
  ]);
  assert.equal(s.options['com.docker.network.driver.mtu'], '1400');
  assert.equal(s.options['com.docker.network.bridge.enable_icc'], 'false');
  assert.equal(s.options['com.docker.network.bridge.enable_ip_masquerade'], 'false');
  assert.equal(s.enableIPv6, true);
  // fixed-cidr alone: the subnet is fixed-cidr, the gateway the IPAM's choice.
  assert.deepEqual(defaultBridgeSpec('dnet0', { 'fixed-cidr': '10.5.0.0/24' }).ipamConfig, [
    { subnet: '10.5.0.0/24', ipRange: '10.5.0.0/24' },
  ]);
  assert.deepEqual(bridgeDriverSettings({ iptables: false, 'ip-forward': false }), {
    enableIPForwarding: false,
    enableFirewall: false,
    userlandProxy: false,
  });
  assert.deepEqual(containerDns({ dns: ['1.1.1.1'], 'dns-opts': ['ndots:1'] }), {
    dns: ['1.1.1.1'],
    dnsSearch: [],
    dnsOptions: ['ndots:1'],
  });
  assert.deepEqual(parsePoolFlag('size=20, base=192.168.0.0/16'), { base: '192.168.0.0/16', size: 20 });
});

test('validateSettings: the library caller gets the same checks', () => {
  validateSettings({ bip: '10.1.0.1/24', mtu: 1400, dns: ['1.1.1.1'] });
  const bad: [unknown, RegExp][] = [
    [{ mtu: '1400' }, /invalid "mtu": expected an integer/],
    [{ nope: 1 }, /invalid "nope": unknown setting; known: bip,/],
    [{ bip: '10.1.0.1/24', 'fixed-cidr': '10.9.0.0/24' }, /not inside the subnet of bip/],
  ];
  for (const [s, re] of bad) {
    assert.throws(
      () => validateSettings(s as never),
      (e: unknown) => e instanceof SettingError && re.test(e.message),
    );
  }
});
