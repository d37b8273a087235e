import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  addressUrl,
  DEFAULT_PLUGIN_DIRS,
  findPlugin,
  isDiscoverableName,
  type PluginDirs,
  PluginSpecError,
} from '../../src/plugins/index.ts';

let root: string;
let dirs: PluginDirs;
const servers: net.Server[] = [];

function listen(path: string): Promise<void> {
  const s = net.createServer();
  servers.push(s);
  return new Promise((resolve) => s.listen(path, () => resolve()));
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'dnet-discovery-'));
  dirs = { sockets: [join(root, 'run')], specs: [join(root, 'etc'), join(root, 'lib')] };
  for (const d of [...dirs.sockets, ...dirs.specs]) mkdirSync(d, { recursive: true });
});
after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(root, { recursive: true, force: true });
});

describe('plugin discovery', () => {
  test("Docker's directories by default", () => {
    assert.deepEqual(DEFAULT_PLUGIN_DIRS, {
      sockets: ['/run/docker/plugins'],
      specs: ['/etc/docker/plugins', '/usr/lib/docker/plugins'],
    });
  });

  test('sockets: <name>.sock and <name>/<name>.sock; a plain file is not a socket', async () => {
    await listen(join(root, 'run', 'flat.sock'));
    mkdirSync(join(root, 'run', 'nested'));
    await listen(join(root, 'run', 'nested', 'nested.sock'));
    writeFileSync(join(root, 'run', 'notsock.sock'), '');
    assert.deepEqual(await findPlugin('flat', dirs), {
      kind: 'unix',
      name: 'flat',
      socketPath: join(root, 'run', 'flat.sock'),
      source: join(root, 'run', 'flat.sock'),
    });
    const n = await findPlugin('nested', dirs);
    assert.equal(n?.kind === 'unix' && n.socketPath, join(root, 'run', 'nested', 'nested.sock'));
    assert.equal(await findPlugin('notsock', dirs), undefined);
    assert.equal(await findPlugin('missing', dirs), undefined);
  });

  test('spec files: .spec with a URL, .json with Addr and TLS; Docker order', async () => {
    writeFileSync(join(root, 'etc', 'unixspec.spec'), '  unix:///run/elsewhere/p.sock\n');
    writeFileSync(join(root, 'etc', 'tcpspec.spec'), 'tcp://127.0.0.1:8080');
    writeFileSync(join(root, 'etc', 'httpsspec.spec'), 'https://plugins.example:9443');
    mkdirSync(join(root, 'lib', 'deep'));
    writeFileSync(
      join(root, 'lib', 'deep', 'deep.json'),
      JSON.stringify({ Name: 'deep', Addr: 'tcp://[::1]:7000' }),
    );
    writeFileSync(
      join(root, 'etc', 'tls.json'),
      JSON.stringify({
        Name: 'tls',
        Addr: 'tcp://10.0.0.1:2376',
        TLSConfig: {
          CAFile: '/etc/ca.pem',
          CertFile: '/etc/cert.pem',
          KeyFile: '/etc/key.pem',
          InsecureSkipVerify: false,
        },
      }),
    );
    writeFileSync(
      join(root, 'etc', 'noca.json'),
      JSON.stringify({ Addr: 'tcp://10.0.0.1:2376', TLSConfig: { CertFile: '/c.pem', KeyFile: '/k.pem' } }),
    );
    writeFileSync(
      join(root, 'etc', 'plain.json'),
      JSON.stringify({ Addr: 'tcp://10.0.0.1:2375', TLSConfig: {} }),
    );

    const u = await findPlugin('unixspec', dirs);
    assert.deepEqual(u, {
      kind: 'unix',
      name: 'unixspec',
      socketPath: '/run/elsewhere/p.sock',
      source: join(root, 'etc', 'unixspec.spec'),
    });
    const t = await findPlugin('tcpspec', dirs);
    assert.ok(t?.kind === 'tcp');
    assert.deepEqual([t.host, t.port, t.tls], ['127.0.0.1', 8080, undefined]);
    assert.equal(addressUrl(t), 'tcp://127.0.0.1:8080');
    const h = await findPlugin('httpsspec', dirs);
    assert.ok(h?.kind === 'tcp');
    assert.deepEqual(h.tls, { insecureSkipVerify: true });
    assert.equal(addressUrl(h), 'https://plugins.example:9443');
    const d = await findPlugin('deep', dirs);
    assert.ok(d?.kind === 'tcp');
    assert.deepEqual([d.host, d.port], ['::1', 7000]);
    assert.equal(addressUrl(d), 'tcp://[::1]:7000');
    const tls = await findPlugin('tls', dirs);
    assert.ok(tls?.kind === 'tcp');
    assert.deepEqual(tls.tls, {
      insecureSkipVerify: false,
      caFile: '/etc/ca.pem',
      certFile: '/etc/cert.pem',
      keyFile: '/etc/key.pem',
    });
    const noca = await findPlugin('noca', dirs);
    assert.ok(noca?.kind === 'tcp');
    assert.equal(noca.tls?.insecureSkipVerify, true, 'no CA: nothing to verify against (as dockerd)');
    const plain = await findPlugin('plain', dirs);
    assert.ok(plain?.kind === 'tcp');
    assert.equal(plain.tls, undefined);
  });

  test('precedence: a socket over spec files, the first spec directory, .spec over .json', async () => {
    await listen(join(root, 'run', 'both.sock'));
    writeFileSync(join(root, 'etc', 'both.spec'), 'tcp://127.0.0.1:1');
    assert.equal((await findPlugin('both', dirs))?.kind, 'unix');
    writeFileSync(join(root, 'lib', 'order.spec'), 'tcp://127.0.0.1:2');
    writeFileSync(join(root, 'etc', 'order.json'), JSON.stringify({ Addr: 'tcp://127.0.0.1:3' }));
    const o = await findPlugin('order', dirs);
    assert.ok(o?.kind === 'tcp');
    assert.equal(o.port, 3, 'the first directory wins');
    writeFileSync(join(root, 'etc', 'order.spec'), 'tcp://127.0.0.1:4');
    const o2 = await findPlugin('order', dirs);
    assert.ok(o2?.kind === 'tcp');
    assert.equal(o2.port, 4, '.spec before .json');
  });

  test('names that would leave the directories are never looked up', async () => {
    writeFileSync(join(root, 'escape.spec'), 'tcp://127.0.0.1:1');
    for (const n of ['../escape', 'a/b', '.', '..', '', 'x\0y']) {
      assert.equal(isDiscoverableName(n), false, JSON.stringify(n));
      assert.equal(await findPlugin(n, dirs), undefined);
    }
    assert.equal(await findPlugin('escape', { sockets: [], specs: [join(root, 'etc')] }), undefined);
  });

  test('unusable spec files are errors that name the file and the problem', async () => {
    const cases: [string, string, RegExp][] = [
      ['empty.spec', '  \n', /it is empty/],
      ['noscheme.spec', 'localhost:8080', /is not a URL/],
      ['ftp.spec', 'ftp://h:1', /unsupported scheme "ftp"/],
      ['relunix.spec', 'unix://run/x.sock', /not absolute/],
      ['noport.spec', 'tcp://127.0.0.1', /has no port/],
      ['bigport.spec', 'tcp://127.0.0.1:70000', /out of range/],
      ['path.spec', 'tcp://127.0.0.1:80/x', /host:port only/],
      ['notjson.json', '{nope', /not JSON/],
      ['array.json', '[]', /expected a JSON object/],
      ['noaddr.json', '{"Name": "x"}', /"Addr" must be a non-empty string/],
      ['badtls.json', '{"Addr": "tcp://h:1", "TLSConfig": 3}', /"TLSConfig" must be an object/],
      [
        'halfcert.json',
        '{"Addr": "tcp://h:1", "TLSConfig": {"CertFile": "/c"}}',
        /both CertFile and KeyFile/,
      ],
      ['relca.json', '{"Addr": "tcp://h:1", "TLSConfig": {"CAFile": "ca.pem"}}', /absolute path/],
      ['skip.json', '{"Addr": "tcp://h:1", "TLSConfig": {"InsecureSkipVerify": "yes"}}', /must be a boolean/],
      ['unixtls.json', '{"Addr": "unix:///x.sock", "TLSConfig": {"CAFile": "/ca"}}', /TLS is for tcp/],
    ];
    for (const [file, text, re] of cases) {
      writeFileSync(join(root, 'etc', file), text);
      const name = file.replace(/\.(spec|json)$/, '');
      await assert.rejects(findPlugin(name, dirs), (e: unknown) => {
        assert.ok(e instanceof PluginSpecError, `${file}: ${e}`);
        assert.equal(e.code, 'ERR_PLUGIN_BAD_SPEC');
        assert.equal(e.plugin, name);
        assert.equal(e.file, join(root, 'etc', file));
        assert.match(e.message, re, file);
        return true;
      });
    }
  });
});
