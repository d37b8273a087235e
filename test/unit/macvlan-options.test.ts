import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyConfigFrom, checkConfigNetworkOptions } from '../../src/core/config-only.ts';
import { normaliseNetworkOptions } from '../../src/core/options.ts';
import { dummyName, parseNetworkOptions, planMissingParent } from '../../src/drivers/macvlan/options.ts';
import {
  ConfigNetworkOptionsError,
  InvalidOptionError,
  UnknownConfigNetworkError,
} from '../../src/errors/index.ts';

const ID = '0123456789abcdef'.repeat(4);

describe("macvlan/ipvlan options (parsed once, Docker's rules)", () => {
  test('defaults: bridge mode; l2 + bridge flag for ipvlan; no parent means the dummy parent and internal', () => {
    assert.deepEqual(parseNetworkOptions('macvlan', ID, { parent: 'eth0' }, { internal: false }), {
      parent: 'eth0',
      parentGiven: true,
      slave: { kind: 'macvlan', mode: 'bridge' },
      internal: false,
    });
    assert.deepEqual(
      parseNetworkOptions('ipvlan', ID, { parent: 'eth0', ipvlan_mode: 'l3' }, { internal: false }).slave,
      {
        kind: 'ipvlan',
        mode: 'l3',
        flag: 'bridge',
      },
    );
    const none = parseNetworkOptions('macvlan', ID, {}, { internal: false });
    assert.equal(none.parent, 'dm-0123456789ab');
    assert.equal(none.parent, dummyName(ID));
    assert.equal(none.internal, true);
    assert.equal(parseNetworkOptions('macvlan', ID, { parent: 'eth0' }, { internal: true }).internal, true);
  });

  test("bad values are InvalidOptionError with dockerd's wording", () => {
    const cases: [Parameters<typeof parseNetworkOptions>[0], Record<string, string>, RegExp][] = [
      [
        'macvlan',
        { parent: 'eth0', macvlan_mode: 'source' },
        /requested macvlan mode 'source' is not valid, 'bridge' mode is the macvlan driver default/,
      ],
      [
        'ipvlan',
        { parent: 'eth0', ipvlan_mode: 'l4' },
        /requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default/,
      ],
      [
        'ipvlan',
        { parent: 'eth0', ipvlan_flag: 'x' },
        /requested ipvlan flag 'x' is not valid, 'bridge' is the ipvlan driver default/,
      ],
      ['macvlan', { parent: 'lo' }, /loopback interface is not a valid macvlan parent link/],
      ['ipvlan', { parent: 'lo' }, /loopback interface is not a valid ipvlan parent link/],
      ['macvlan', { parent: 'a/b' }, /not a usable interface name/],
      ['macvlan', { parent: 'x'.repeat(16) }, /1 to 15 bytes/],
    ];
    for (const [kind, generic, message] of cases) {
      assert.throws(
        () => parseNetworkOptions(kind, ID, generic, { internal: false }),
        (err: Error) => err instanceof InvalidOptionError && message.test(err.message),
        JSON.stringify(generic),
      );
    }
  });

  test('a missing parent: 802.1q sub-interface of an existing link, the dummy, or refused', () => {
    const exists = (n: string) => n === 'eth0';
    const cfg = (parent?: string) =>
      parseNetworkOptions('macvlan', ID, parent ? { parent } : {}, { internal: false });
    assert.deepEqual(planMissingParent(cfg('eth0.10'), exists), { make: 'vlan', base: 'eth0', vlanId: 10 });
    assert.deepEqual(planMissingParent(cfg(), exists), { make: 'dummy' });
    for (const [parent, message] of [
      ['eth9', /the requested parent interface eth9 was not found on the host/],
      ['eth0.0', /vlan id must be between 1-4094, received: 0/],
      ['eth0.4095', /vlan id must be between 1-4094, received: 4095/],
      ['eth0.x', /unable to parse a valid vlan id from: x/],
      ['eth0.1.2', /required interface name format is: name.vlan_id/],
      ['eth1.10', /-o parent interface was not found on the host: eth1/],
    ] as const) {
      assert.throws(() => planMissingParent(cfg(parent), exists), message, parent);
    }
  });
});

describe('configuration-only networks: the rules before anything is looked up', () => {
  const norm = normaliseNetworkOptions;
  test('a configuration network holds network-specific fields only, and no configFrom', () => {
    checkConfigNetworkOptions(norm({ configOnly: true, options: { parent: 'eth0' }, labels: { a: 'b' } }));
    for (const o of [{ internal: true }, { attachable: true }]) {
      assert.throws(
        () => checkConfigNetworkOptions(norm({ configOnly: true, ...o })),
        (err: Error) =>
          err instanceof ConfigNetworkOptionsError &&
          err.rule === 'operator-fields' &&
          err.code === 'ERR_CONFIG_NETWORK_OPTIONS',
      );
    }
    assert.throws(
      () => checkConfigNetworkOptions(norm({ configOnly: true, configFrom: 'x' })),
      /a configuration network cannot depend on another configuration network/,
    );
  });

  test('a network from one brings nothing of its own but internal/attachable; it takes the rest', () => {
    checkConfigNetworkOptions(norm({ configFrom: 'c', internal: true, attachable: true }));
    for (const o of [
      { enableIPv6: true },
      { labels: { a: 'b' } },
      { ipam: { driver: 'other' } },
      { ipam: { options: { a: 'b' } } },
      { ipam: { config: [{ subnet: '10.0.0.0/24' }] } },
    ]) {
      assert.throws(
        () => checkConfigNetworkOptions(norm({ configFrom: 'c', ...o })),
        /user-specified configurations are not supported/,
        JSON.stringify(o),
      );
    }
    assert.throws(
      () => checkConfigNetworkOptions(norm({ configFrom: 'c', options: { parent: 'eth0' } })),
      /network driver options are not supported if the network depends on a configuration network/,
    );
    const from = norm({
      configOnly: true,
      enableIPv6: true,
      ipam: {
        config: [{ subnet: '10.1.0.0/24', auxAddresses: { r: '10.1.0.9' } }, { subnet: 'fd00::/64' }],
        options: { k: 'v' },
      },
      labels: { l: '1' },
      options: { parent: 'eth0' },
    });
    const got = applyConfigFrom(
      { ...norm({ configFrom: 'c', internal: true }), configFrom: 'c' },
      { opts: from },
    );
    assert.deepEqual(
      { ...got, config: got.config },
      {
        configFrom: 'c',
        ipamDriver: 'default',
        ipamOptions: { k: 'v' },
        config: [{ subnet: '10.1.0.0/24', auxAddresses: { r: '10.1.0.9' } }, { subnet: 'fd00::/64' }],
        enableIPv6: true,
        internal: true,
        attachable: false,
        labels: { l: '1' },
        driverOptions: { parent: 'eth0' },
      },
    );
    assert.notEqual(got.config[0]?.auxAddresses, from.config[0]?.auxAddresses, 'a copy, not shared');
    assert.throws(
      () => applyConfigFrom({ ...norm({ configFrom: 'n' }), configFrom: 'n' }, undefined),
      (err: Error) =>
        err instanceof UnknownConfigNetworkError &&
        err.message === 'configuration network "n" does not exist',
    );
    assert.throws(
      () => applyConfigFrom({ ...norm({ configFrom: 'n' }), configFrom: 'n' }, { opts: norm({}) }),
      UnknownConfigNetworkError,
      'a network that is not configuration-only is no source',
    );
  });
});
