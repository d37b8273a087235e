import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { clientTls, daemonTls, TlsConfigError } from '../../src/cli/tls.ts';
import { checkListenOptions } from '../../src/daemon/api/tcp-listener.ts';
import { resolveSocketGroup } from '../../src/daemon/api/unix-socket.ts';
import { DEFAULT_SOCKET_GROUP } from '../../src/daemon/defaults.ts';
import { InvalidOptionError } from '../../src/errors/index.ts';
import { makeTestCerts } from '../helpers/certs.ts';

const dir = mkdtempSync(join(tmpdir(), 'dnet-security-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const own = process.getegid?.() ?? 0;
const readme = new URL('../../docs/security.md', import.meta.url).pathname;

describe('--group (resolveSocketGroup), as dockerd resolves it', () => {
  const groupFile = join(dir, 'group');
  writeFileSync(groupFile, 'root:x:0:\nstaff:x:50:alice,bob\n# comment\nbroken\ndnet-ops:x:990:\n');

  test('a name or a numeric ID that /etc/group lists', () => {
    assert.deepEqual(resolveSocketGroup('staff', groupFile), { gid: 50, name: 'staff' });
    assert.deepEqual(resolveSocketGroup('990', groupFile), { gid: 990, name: 'dnet-ops' });
  });

  test('a numeric ID it does not list: used, with a warning', () => {
    const g = resolveSocketGroup('4242', groupFile);
    assert.equal(g.gid, 4242);
    assert.match(g.warning ?? '', /group ID 4242 is not in .*group: the socket gets it anyway/);
    assert.throws(() => resolveSocketGroup('4294967295', groupFile), /a group ID is at most 4294967294/);
  });

  test('the default group "dnet" missing: the daemon\'s own group, with a note', () => {
    assert.equal(DEFAULT_SOCKET_GROUP, 'dnet');
    const g = resolveSocketGroup(undefined, groupFile);
    assert.equal(g.gid, own);
    assert.match(g.note ?? '', /group "dnet" does not exist/);
    writeFileSync(join(dir, 'with-dnet'), 'dnet:x:777:\n');
    assert.deepEqual(resolveSocketGroup(undefined, join(dir, 'with-dnet')), { gid: 777, name: 'dnet' });
  });

  test('another name missing is an error; "" is the daemon\'s own group', () => {
    assert.throws(
      () => resolveSocketGroup('nope', groupFile),
      (err: unknown) =>
        err instanceof InvalidOptionError &&
        err.option === 'group' &&
        /no such group in .*: create it \(groupadd nope\), give a numeric group ID, or leave --group out/.test(
          err.message,
        ),
    );
    assert.deepEqual(resolveSocketGroup('', groupFile), { gid: own });
  });
});

describe('tcp:// hosts need TLS (checkListenOptions)', () => {
  test('plain TCP is refused unless insecureTcp; unix sockets need nothing', () => {
    assert.throws(
      () => checkListenOptions(['unix:///run/x.sock', 'tcp://127.0.0.1:2375'], {}),
      /--insecure-tcp/,
    );
    checkListenOptions(['tcp://127.0.0.1:2375'], { insecureTcp: true });
    checkListenOptions(['unix:///run/x.sock'], {});
  });

  test('--tlsverify without a CA, or a key that is not PEM, is refused', () => {
    assert.throws(
      () => checkListenOptions(['tcp://127.0.0.1:2376'], { tls: { verify: true, cert: 'x', key: 'y' } }),
      /verifying clients \(--tlsverify\) needs the CA that signs their certificates \(--tlscacert\)/,
    );
    assert.throws(
      () =>
        checkListenOptions(['tcp://127.0.0.1:2376'], {
          tls: { verify: false, cert: 'not pem', key: 'not pem' },
        }),
      /the TLS certificate, key or CA cannot be used/,
    );
  });
});

describe('TLS flags and environment (src/cli/tls.ts), as Docker reads them', () => {
  const certs = join(dir, 'certs');
  const home = join(dir, 'home');
  for (const d of [certs, join(home, '.dnet')]) {
    // Contents are not parsed here: the files are read as they are.
    mkdirSync(d, { recursive: true });
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(d, f), `${d}/${f}`);
  }
  const text = (b: Buffer | undefined) => b?.toString();

  test('off unless --tls, --tlsverify or DNET_TLS_VERIFY; DNET_CERT_PATH alone does not turn it on', () => {
    assert.equal(clientTls({}, { DNET_CERT_PATH: certs }), undefined);
    assert.equal(daemonTls({}, { DNET_CERT_PATH: certs }), undefined);
    // As DOCKER_TLS_VERIFY: any non-empty value, "0" included.
    assert.equal(clientTls({}, { DNET_CERT_PATH: certs, DNET_TLS_VERIFY: '0' })?.verify, true);
    assert.equal(clientTls({}, { DNET_CERT_PATH: certs, DNET_TLS_VERIFY: '' }), undefined);
  });

  test('files: the flags, else $DNET_CERT_PATH, else ~/.dnet', () => {
    const viaEnv = clientTls({ tlsverify: true }, { DNET_CERT_PATH: certs });
    assert.equal(text(viaEnv?.ca), `${certs}/ca.pem`);
    assert.equal(text(viaEnv?.cert), `${certs}/cert.pem`);
    const viaHome = clientTls({ tlsverify: true }, { HOME: home });
    assert.equal(text(viaHome?.key), `${home}/.dnet/key.pem`);
    // The daemon checks that the files make a usable certificate and key: real ones here.
    const pki = makeTestCerts(join(dir, 'pki'), readme);
    const f = pki.files;
    const viaFlags = daemonTls(
      { tlsverify: true, tlscacert: f.ca, tlscert: f.serverCert, tlskey: f.serverKey },
      { HOME: join(dir, 'nowhere') },
    );
    assert.ok(viaFlags?.verify);
    assert.ok(
      viaFlags.ca?.equals(pki.ca) &&
        viaFlags.cert.equals(pki.serverCert) &&
        viaFlags.key.equals(pki.serverKey),
    );
    const viaTls = daemonTls(
      { tls: true, tlscert: f.serverCert, tlskey: f.serverKey },
      { DNET_CERT_PATH: join(dir, 'empty') },
    );
    assert.equal(viaTls?.verify, false);
    assert.equal(viaTls?.ca, undefined, '--tls: no CA needed');
    assert.throws(
      () => daemonTls({ tls: true, tlscert: f.serverCert, tlskey: f.key }, {}),
      (err: unknown) =>
        err instanceof TlsConfigError &&
        /server-cert\.pem, .*key\.pem cannot be used \(.*key values mismatch/.test(err.message),
    );
  });

  test('client --tls: no CA needed (the daemon is not verified); a missing default client certificate is not sent', () => {
    const empty = join(dir, 'empty');
    const t = clientTls({ tls: true }, { DNET_CERT_PATH: empty });
    assert.deepEqual(t, { verify: false });
  });

  test('what cannot be read, or a certificate without its key, is a TlsConfigError saying which', () => {
    const empty = join(dir, 'empty');
    assert.throws(
      () => clientTls({ tlsverify: true }, { DNET_CERT_PATH: empty }),
      (err: unknown) =>
        err instanceof TlsConfigError &&
        /cannot read the CA certificate ".*empty\/ca\.pem" \(ENOENT\): give it with --tlscacert/.test(
          err.message,
        ),
    );
    assert.throws(
      () => clientTls({ tls: true, tlscert: join(certs, 'cert.pem') }, { DNET_CERT_PATH: empty }),
      /a client certificate needs its key and a key its certificate/,
    );
    assert.throws(
      () => daemonTls({ tlsverify: true }, { DNET_CERT_PATH: empty }),
      /cannot read the server certificate/,
    );
  });
});
