/**
 * Certificates for the TLS tests, made with openssl at test time (no keys are checked in): the
 * recipe of docs/security.md (its `tls-certs` block, run as it is), a second CA with a client certificate of
 * its own, and a client certificate of the first CA that expired in 2020 (`openssl ca` takes
 * explicit -startdate/-enddate; `openssl x509 -not_before` needs OpenSSL 3.4, Debian 12 has 3.0).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCerts {
  /** The recipe's directory: ca.pem, cert.pem, key.pem (client), server-cert.pem, server-key.pem. */
  dir: string;
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  /** A client certificate signed by the CA, and its key. */
  cert: Buffer;
  key: Buffer;
  /** Another CA, and a client certificate it signed. */
  otherCa: Buffer;
  otherCert: Buffer;
  otherKey: Buffer;
  /** A client certificate of the CA valid from 2020-01-01 to 2020-01-02 only. */
  expiredCert: Buffer;
  expiredKey: Buffer;
  /** Paths of the same files, for CLIs. */
  files: Record<
    'ca' | 'cert' | 'key' | 'serverCert' | 'serverKey' | 'otherCert' | 'otherKey' | 'expiredCert',
    string
  >;
}

/** The `tls-certs` block of docs/security.md. */
export function readmeCertRecipe(readmePath: string): string {
  const doc = readFileSync(readmePath, 'utf8');
  const block = /<!-- tls-certs:start -->\n```sh\n([\s\S]*?)```\n<!-- tls-certs:end -->/.exec(doc)?.[1];
  if (!block) throw new Error('docs/security.md has no tls-certs block');
  return block;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes every certificate under `root` (HOME for the recipe of docs/security.md). */
export function makeTestCerts(root: string, readmePath: string): TestCerts {
  mkdirSync(root, { recursive: true });
  execFileSync('bash', ['-euo', 'pipefail', '-c', readmeCertRecipe(readmePath)], {
    env: { ...process.env, HOME: root },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const dir = join(root, 'dnet-certs');

  const other = join(root, 'other-ca');
  mkdirSync(other);
  openssl(other, [
    'req',
    '-x509',
    ...EC,
    '-days',
    '1',
    '-subj',
    '/CN=other CA',
    '-keyout',
    'ca-key.pem',
    '-out',
    'ca.pem',
  ]);
  openssl(other, ['req', ...EC, '-subj', '/CN=intruder', '-keyout', 'key.pem', '-out', 'client.csr']);
  writeFileSync(join(other, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(other, [
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'client.ext',
    '-out',
    'cert.pem',
  ]);

  const exp = join(root, 'expired');
  mkdirSync(exp);
  writeFileSync(join(exp, 'index.txt'), '');
  writeFileSync(
    join(exp, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = dflt',
      '[dflt]',
      'database = index.txt',
      'new_certs_dir = .',
      'rand_serial = yes',
      'default_md = sha256',
      'policy = anything',
      'unique_subject = no',
      '[anything]',
      'commonName = supplied',
      '[client]',
      'extendedKeyUsage = clientAuth',
      '',
    ].join('\n'),
  );
  openssl(exp, ['req', ...EC, '-subj', '/CN=expired', '-keyout', 'key.pem', '-out', 'client.csr']);
  openssl(exp, [
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    join(dir, 'ca.pem'),
    '-keyfile',
    join(dir, 'ca-key.pem'),
    '-in',
    'client.csr',
    '-out',
    'cert.pem',
    '-notext',
    '-extensions',
    'client',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
  ]);

  const files = {
    ca: join(dir, 'ca.pem'),
    cert: join(dir, 'cert.pem'),
    key: join(dir, 'key.pem'),
    serverCert: join(dir, 'server-cert.pem'),
    serverKey: join(dir, 'server-key.pem'),
    otherCert: join(other, 'cert.pem'),
    otherKey: join(other, 'key.pem'),
    expiredCert: join(exp, 'cert.pem'),
  };
  const r = (p: string) => readFileSync(p);
  return {
    dir,
    ca: r(files.ca),
    serverCert: r(files.serverCert),
    serverKey: r(files.serverKey),
    cert: r(files.cert),
    key: r(files.key),
    otherCa: r(join(other, 'ca.pem')),
    otherCert: r(files.otherCert),
    otherKey: r(files.otherKey),
    expiredCert: r(files.expiredCert),
    expiredKey: r(join(exp, 'key.pem')),
    files,
  };
}
