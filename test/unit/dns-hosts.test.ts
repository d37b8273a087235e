import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addHostsRecords,
  buildHosts,
  containerHostNames,
  containerHostsRecords,
  formatHostsRecord,
  parseExtraHost,
  parseHosts,
  removeHostsRecords,
} from '../../src/dns/index.ts';
import { InvalidOptionError } from '../../src/errors/index.ts';

// What moby's etchosts.Build writes with no extra content (defaultContentIPv4 + defaultContentIPv6).
const DOCKER_DEFAULT =
  '127.0.0.1\tlocalhost\n' +
  '::1\tlocalhost ip6-localhost ip6-loopback\n' +
  'fe00::\tip6-localnet\n' +
  'ff00::\tip6-mcastprefix\n' +
  'ff02::1\tip6-allnodes\n' +
  'ff02::2\tip6-allrouters\n';

function invalid(fn: () => unknown, option: string, reason?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `not an InvalidOptionError: ${String(err)}`);
    assert.equal(err.option, option);
    if (reason) assert.match(err.reason, reason);
    return true;
  });
}

describe('buildHosts', () => {
  test("default content is Docker's, byte for byte", () => {
    assert.equal(buildHosts(), DOCKER_DEFAULT);
  });

  test('IPv6 disabled: only the IPv4 default line (BuildNoIPv6)', () => {
    assert.equal(buildHosts({ ipv6: false }), '127.0.0.1\tlocalhost\n');
  });

  test("the container's own addresses come last, with its names", () => {
    const out = buildHosts({ hostname: 'web', addresses: ['172.18.0.2', 'fd00::2'] });
    assert.equal(out, `${DOCKER_DEFAULT}172.18.0.2\tweb\nfd00::2\tweb\n`);
  });

  test('a domain name gives "fqdn short"', () => {
    const out = buildHosts({ hostname: 'web', domainname: 'example.com', addresses: ['10.0.0.2'] });
    assert.ok(out.endsWith('10.0.0.2\tweb.example.com web\n'));
    // A dotted hostname is treated the same way, as Docker's makeHostsRecs does.
    const dotted = buildHosts({ hostname: 'web.example.com', addresses: ['10.0.0.2'] });
    assert.ok(dotted.endsWith('10.0.0.2\tweb.example.com web\n'));
  });

  test('extra hosts go between the defaults and the own records; IPv6 ones dropped without IPv6', () => {
    const opts = {
      hostname: 'c1',
      addresses: ['10.0.0.2', '2001:db8::2'],
      extraHosts: [
        { name: 'db', ip: '10.0.0.9' },
        { name: 'v6host', ip: '2001:DB8:0::9' },
        { name: 'my_service', ip: '10.0.0.10' },
      ],
    };
    assert.equal(
      buildHosts(opts),
      `${DOCKER_DEFAULT}10.0.0.9\tdb\n2001:db8::9\tv6host\n10.0.0.10\tmy_service\n10.0.0.2\tc1\n2001:db8::2\tc1\n`,
    );
    assert.equal(
      buildHosts({ ...opts, ipv6: false }),
      '127.0.0.1\tlocalhost\n10.0.0.9\tdb\n10.0.0.10\tmy_service\n10.0.0.2\tc1\n',
    );
  });

  test('addresses are written in canonical form', () => {
    const out = buildHosts({ hostname: 'h', addresses: ['2001:0DB8:0000::0001', '::ffff:7f00:1'] });
    assert.ok(out.endsWith('2001:db8::1\th\n::ffff:127.0.0.1\th\n'));
  });

  test('refuses bad addresses', () => {
    for (const ip of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.0.0.1',
      '010.0.0.1',
      '0x7f.0.0.1',
      'fe80::1%eth0',
      '::1.2.3.4',
    ]) {
      invalid(() => buildHosts({ extraHosts: [{ name: 'x', ip }] }), 'extra-hosts');
    }
    invalid(() => buildHosts({ hostname: 'h', addresses: ['nope'] }), 'addresses');
  });

  test('refuses bad names, hostnames and domain names', () => {
    for (const name of [
      '',
      '-x',
      'x-',
      'a..b',
      '.a',
      'a b',
      'a/b',
      'a$b',
      'é',
      'a'.repeat(64),
      `${'a.'.repeat(127)}a`,
    ]) {
      invalid(() => buildHosts({ extraHosts: [{ name, ip: '1.2.3.4' }] }), 'extra-hosts');
    }
    invalid(() => buildHosts({ hostname: 'my_host', addresses: ['1.2.3.4'] }), 'hostname', /label "my_host"/);
    invalid(() => buildHosts({ hostname: 'h'.repeat(65) }), 'hostname', /the limit is 64/);
    invalid(() => buildHosts({ hostname: 'h', domainname: 'bad domain' }), 'domainname', /whitespace/);
    invalid(() => buildHosts({ addresses: ['1.2.3.4'] }), 'hostname', /need a hostname/);
  });

  test('no input can inject a line', () => {
    const attempts = [
      { name: 'evil\n1.2.3.4 bank.com', ip: '1.2.3.4' },
      { name: 'evil', ip: '1.2.3.4\n5.6.7.8 bank.com' },
      { name: 'evil\r', ip: '1.2.3.4' },
      { name: 'evil#', ip: '1.2.3.4' },
      { name: 'evil\tx', ip: '1.2.3.4' },
      { name: 'evil', ip: '1.2.3.4 ' },
      { name: 'evil', ip: '::1\n' },
    ];
    for (const h of attempts) invalid(() => buildHosts({ extraHosts: [h] }), 'extra-hosts');
    invalid(() => buildHosts({ hostname: 'a\nb', addresses: ['1.2.3.4'] }), 'hostname', /control character/);
    invalid(
      () => buildHosts({ hostname: 'a', domainname: 'b\n1.2.3.4 c', addresses: ['1.2.3.4'] }),
      'domainname',
    );
  });
});

describe('container names and records', () => {
  test('containerHostNames', () => {
    assert.deepEqual(containerHostNames('web'), ['web']);
    assert.deepEqual(containerHostNames('web', ''), ['web']);
    assert.deepEqual(containerHostNames('web', 'corp.example'), ['web.corp.example', 'web']);
    assert.deepEqual(containerHostNames('3f4e0c1d2b3a'), ['3f4e0c1d2b3a']);
  });

  test('containerHostsRecords drops IPv6 without IPv6', () => {
    assert.deepEqual(containerHostsRecords('h', undefined, ['10.0.0.2', 'fd00::2'], { ipv6: false }), [
      { ip: '10.0.0.2', names: ['h'] },
    ]);
    assert.deepEqual(containerHostsRecords('h', undefined, []), []);
  });

  test('formatHostsRecord validates', () => {
    assert.equal(formatHostsRecord({ ip: '10.0.0.1', names: ['a', 'b.c'] }), '10.0.0.1\ta b.c\n');
    invalid(() => formatHostsRecord({ ip: '10.0.0.1', names: [] }), 'hosts-record', /at least one name/);
    invalid(() => formatHostsRecord({ ip: '10.0.0.1', names: Array(65).fill('a') }), 'hosts-record');
  });
});

describe('parseExtraHost', () => {
  test("Docker's --add-host forms", () => {
    assert.deepEqual(parseExtraHost('db:10.0.0.9'), { name: 'db', ip: '10.0.0.9' });
    assert.deepEqual(parseExtraHost('db=10.0.0.9'), { name: 'db', ip: '10.0.0.9' });
    assert.deepEqual(parseExtraHost('v6:::1'), { name: 'v6', ip: '::1' });
    assert.deepEqual(parseExtraHost('v6:[2001:db8::1]'), { name: 'v6', ip: '2001:db8::1' });
    assert.deepEqual(parseExtraHost('v6=[2001:db8::1]'), { name: 'v6', ip: '2001:db8::1' });
    assert.deepEqual(parseExtraHost('host.docker.internal:host-gateway', { hostGateway: '172.17.0.1' }), {
      name: 'host.docker.internal',
      ip: '172.17.0.1',
    });
  });

  test('refuses malformed entries', () => {
    for (const e of ['', 'db', ':1.2.3.4', '=1.2.3.4', 'db:', 'db:nope', 'd b:1.2.3.4', 'db:1.2.3.4\nx']) {
      invalid(() => parseExtraHost(e), 'extra-hosts');
    }
    invalid(() => parseExtraHost('gw:host-gateway'), 'extra-hosts', /host gateway/);
  });
});

describe('adding and removing records', () => {
  const base = buildHosts({ hostname: 'c1', addresses: ['10.0.0.2'] });

  test('add appends, skips what is there, and drops IPv6 without IPv6', () => {
    const r1 = { ip: '10.0.0.3', names: ['c2', 'c2.net'] };
    const r2 = { ip: 'fd00:0::3', names: ['c2'] };
    const added = addHostsRecords(base, [r1, r2]);
    assert.equal(added, `${base}10.0.0.3\tc2 c2.net\nfd00::3\tc2\n`);
    assert.equal(addHostsRecords(added, [r1, r2]), added, 'adding twice changes nothing');
    assert.equal(addHostsRecords(base, [r2], { ipv6: false }), base);
    assert.equal(addHostsRecords('127.0.0.1 localhost', [r1]), '127.0.0.1 localhost\n10.0.0.3\tc2 c2.net\n');
    assert.equal(addHostsRecords('', [r1]), '10.0.0.3\tc2 c2.net\n');
  });

  test('remove takes out exactly the matching lines, keeps comments and edits', () => {
    const content =
      '# my comment\n' +
      '127.0.0.1\tlocalhost\n' +
      '10.0.0.3\tc2 c2.net\n' +
      '10.0.0.3\tc2\n' + // different names: kept
      '10.0.0.4\tc2 c2.net\n' + // different address: kept
      '\n' +
      '10.0.0.3   c2   c2.net  # spaces and a comment still match\n' +
      'fd00::3\tc2\n';
    const out = removeHostsRecords(content, [
      { ip: '10.0.0.3', names: ['c2', 'c2.net'] },
      { ip: 'fd00:0:0::3', names: ['c2'] },
    ]);
    assert.equal(out, '# my comment\n127.0.0.1\tlocalhost\n10.0.0.3\tc2\n10.0.0.4\tc2 c2.net\n\n');
    assert.equal(removeHostsRecords(content, []), content);
    assert.equal(removeHostsRecords('10.0.0.3\tc2\n', [{ ip: '10.0.0.3', names: ['c2'] }]), '');
  });

  test('add then remove gives the original back', () => {
    const recs = [{ ip: '10.0.0.5', names: ['svc'] }];
    assert.equal(removeHostsRecords(addHostsRecords(base, recs), recs), base);
  });

  test('parseHosts reads records, skipping comments and junk', () => {
    assert.deepEqual(parseHosts('# c\n127.0.0.1 localhost lh # x\nnot-an-ip name\n\n::1\tip6-localhost\n'), [
      { ip: '127.0.0.1', names: ['localhost', 'lh'] },
      { ip: '::1', names: ['ip6-localhost'] },
    ]);
  });

  test('records to add or remove are validated too', () => {
    invalid(() => addHostsRecords(base, [{ ip: '10.0.0.5', names: ['a\nb'] }]), 'hosts-record');
    invalid(() => removeHostsRecords(base, [{ ip: 'x', names: ['a'] }]), 'hosts-record');
  });
});
