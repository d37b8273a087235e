import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import Docker from 'dockerode';
import { type DaemonOptions, startDaemon } from '../../src/daemon/daemon.ts';
import { world } from '../harness/world.ts';
import { makeTestCerts, type TestCerts } from '../helpers/certs.ts';
import { type CliRun, runCli } from '../helpers/cli.ts';
import { type DaemonProcess, type LogEntry, startDaemonProcess } from '../helpers/daemon-process.ts';
import { dockerCli } from '../helpers/docker-cli.ts';

// TLS on dnet's TCP hosts, with Docker's flags, against `dnet daemon` run as a user runs it.
// Certificates are made here with openssl (the recipe of docs/security.md, plus another CA and an expired
// client certificate). Only 127.0.0.1 of the throwaway world is bound.

const runDir = join(world.runDir, 'run');
const dataDir = join(world.runDir, 'data');
const sock = join(runDir, 'dnet.sock');
const base = ['--run-dir', runDir, '--data-dir', dataDir, '-H', `unix://${sock}`];
let certs: TestCerts;
// A child's environment without the caller's DNET_/DOCKER_ variables.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('DNET_') && !k.startsWith('DOCKER_')),
);

before(() => {
  certs = makeTestCerts(join(world.runDir, 'certs'), join(world.root, 'docs', 'security.md'));
});

/**
 * The daemon in this process (startDaemon, the library's form of the flags), for the cases that
 * need no child: cheaper on a busy machine. The `--tlsverify` suite runs `dnet daemon` itself.
 */
async function inProcess(
  opts: Pick<DaemonOptions, 'tls' | 'insecureTcp'>,
): Promise<Pick<DaemonProcess, 'hosts' | 'entries' | 'stderr' | 'stop'>> {
  const lines: string[] = [];
  const d = await startDaemon({
    runDir,
    dataDir,
    hosts: [`unix://${sock}`, 'tcp://127.0.0.1:0'],
    log: (l) => lines.push(l),
    ...opts,
  });
  return {
    hosts: [...d.hosts],
    entries: () => lines.map((l) => JSON.parse(l) as LogEntry),
    stderr: () => lines.join('\n'),
    stop: async () => {
      await d.close();
      return 0;
    },
  };
}

/** The port of the daemon's tcp:// host. */
function portOf(d: Pick<DaemonProcess, 'hosts'>): number {
  const tcp = d.hosts.find((h) => h.startsWith('tcp://'));
  assert.match(tcp ?? '', /^tcp:\/\/127\.0\.0\.1:[1-9][0-9]*$/);
  return Number(tcp!.split(':').at(-1));
}

type Attempt =
  | { status: number; body: string }
  | { error: string; message: string }
  | { closed: 'before the handshake completed' };

/**
 * GET /_ping over TLS with these client credentials. The request is written only once the daemon
 * has accepted the client (its TLS 1.3 session ticket arrives after it has checked the client's
 * certificate), so a client it refuses has sent nothing: it reads the daemon's alert, or the
 * connection's end, never an HTTP answer.
 */
function tlsPing(port: number, opts: { ca?: Buffer; cert?: Buffer; key?: Buffer }): Promise<Attempt> {
  return new Promise((resolve) => {
    let text = '';
    let accepted = false;
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: opts.ca ?? certs.ca,
      ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
    });
    s.setEncoding('utf8');
    // Not from inside the ticket callback: a write made there is not flushed.
    s.once('session', () => {
      accepted = true;
      setImmediate(() => s.write('GET /_ping HTTP/1.1\r\nHost: dnet\r\nConnection: close\r\n\r\n'));
    });
    s.on('data', (d: string) => {
      text += d;
    });
    s.on('end', () => {
      if (!accepted) {
        assert.equal(text, '', 'no byte before the handshake completed');
        resolve({ closed: 'before the handshake completed' });
        return;
      }
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      assert.equal(text, '', 'an HTTP answer came before the error');
      resolve({ error: err.code ?? '', message: err.message });
    });
  });
}

/** GET /_ping as plain HTTP. */
function plainPing(port: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/_ping', agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? '', message: err.message }));
    req.end();
  });
}

function dnet(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { env: { HOME: join(world.runDir, 'home'), ...env } });
}

describe('a tcp:// host without TLS', () => {
  // `dnet daemon` (main) in this process: a start that is refused returns before any state is
  // opened, so nothing of the daemon stays behind in this process.
  const daemonCli = async (args: string[], env: Record<string, string> = {}) => {
    const r = await dnet(['daemon', ...base, '-H', 'tcp://127.0.0.1:0', ...args], env);
    const fatal = r.err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string })
      .find((e) => e.level === 'fatal');
    return { code: r.code, msg: fatal?.msg ?? r.err };
  };

  test('is refused at start, before any state is touched, with what to do', async () => {
    const r = await daemonCli([]);
    assert.equal(r.code, 1, r.msg);
    assert.match(
      r.msg,
      /^cannot start: invalid value "tcp:\/\/127\.0\.0\.1:0" for option "host": plain HTTP on TCP/,
    );
    assert.match(r.msg, /--tlsverify --tlscacert --tlscert --tlskey/);
    assert.match(r.msg, /--insecure-tcp/);
    assert.ok(!existsSync(dataDir), 'no data directory was made');
    assert.ok(!existsSync(sock), 'no socket was made');
  });

  test('TLS files that cannot be read or used stop the start too', async () => {
    const missing = await daemonCli(['--tlsverify'], { DNET_CERT_PATH: join(world.runDir, 'nothing-here') });
    assert.equal(missing.code, 1, missing.msg);
    assert.match(missing.msg, /cannot read the server certificate ".*nothing-here\/cert\.pem" \(ENOENT\)/);
    const f = certs.files;
    const mismatched = await daemonCli([
      '--tlsverify',
      '--tlscacert',
      f.ca,
      '--tlscert',
      f.serverCert,
      '--tlskey',
      f.key,
    ]);
    assert.equal(mismatched.code, 1, mismatched.msg);
    assert.match(
      mismatched.msg,
      /^cannot start: the TLS files .*server-cert\.pem, .*dnet-certs\/key\.pem, .*ca\.pem cannot be used \(.*key values mismatch/,
    );
    const noCa = await daemonCli(['--tlsverify', '--tlscert', f.serverCert, '--tlskey', f.serverKey], {
      DNET_CERT_PATH: join(world.runDir, 'nothing-here'),
    });
    assert.match(noCa.msg, /cannot read the CA certificate ".*nothing-here\/ca\.pem"/);
    assert.ok(!existsSync(dataDir), 'no data directory was made');
  });

  test('insecureTcp (--insecure-tcp) serves plain HTTP, and the warning is logged', async () => {
    const d = await inProcess({ insecureTcp: true });
    try {
      assert.deepEqual(await plainPing(portOf(d)), { status: 200, body: 'OK' });
      const warning = d.entries().find((e) => e.event === 'warning' && e.level === 'warn');
      assert.match(
        warning?.msg ?? '',
        /without TLS or authentication \(--insecure-tcp\): anyone who can reach it controls/,
      );
    } finally {
      assert.equal(await d.stop(), 0, d.stderr());
    }
  });
});

describe('--tlsverify: client certificates required', () => {
  let d: DaemonProcess;
  let port: number;
  const tcp = () => `tcp://127.0.0.1:${port}`;

  before(async () => {
    d = await startDaemonProcess(
      world.root,
      [
        ...base,
        '-H',
        'tcp://127.0.0.1:0',
        '--tlsverify',
        '--tlscacert',
        certs.files.ca,
        '--tlscert',
        certs.files.serverCert,
        '--tlskey',
        certs.files.serverKey,
      ],
      cleanEnv,
    );
    port = portOf(d);
  });

  after(async () => {
    assert.equal(await d.stop(), 0, d.stderr());
  });

  test('only a certificate of the CA, still valid, gets in; every other client fails in the handshake', async () => {
    assert.deepEqual(await tlsPing(port, { cert: certs.cert, key: certs.key }), { status: 200, body: 'OK' });
    // No certificate: OpenSSL itself refuses the handshake with the alert. A certificate the CA
    // did not sign, or an expired one: Node's TLS server checks it as the handshake ends and
    // closes the connection before the session is established (no alert, no request read).
    const noCert = await tlsPing(port, {});
    assert.ok('error' in noCert, JSON.stringify(noCert));
    assert.equal(noCert.error, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', noCert.message);
    const closed = { closed: 'before the handshake completed' };
    assert.deepEqual(await tlsPing(port, { cert: certs.otherCert, key: certs.otherKey }), closed);
    assert.deepEqual(await tlsPing(port, { cert: certs.expiredCert, key: certs.expiredKey }), closed);
    // A valid certificate still works after them.
    assert.deepEqual(await tlsPing(port, { cert: certs.cert, key: certs.key }), { status: 200, body: 'OK' });
    // The daemon logs each failed handshake, with the reason it has.
    await setTimeout(100);
    const tlsLines = d.entries().filter((e) => e.event === 'tls');
    assert.deepEqual(
      tlsLines.map((e) => [e.level, (e.error as { code: string }).code]),
      [
        ['warn', 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'],
        ['warn', 'ERR_TLS_HANDSHAKE_CLOSED'],
        ['warn', 'ERR_TLS_HANDSHAKE_CLOSED'],
      ],
      d.stderr(),
    );
    assert.ok(tlsLines.every((e) => /^127\.0\.0\.1:\d+$/.test(String(e.remote))));
  });

  test('plain HTTP to the TLS port gets no HTTP answer', async () => {
    const got = await plainPing(port);
    assert.ok('error' in got, `got an HTTP answer: ${JSON.stringify(got)}`);
    assert.match(got.error, /^(ECONNRESET|ECONNREFUSED)$|^$/, got.message);
  });

  test('the client checks the daemon: a CA that did not sign it is refused', async () => {
    const got = await tlsPing(port, { ca: certs.otherCa, cert: certs.cert, key: certs.key });
    assert.ok('error' in got);
    assert.match(
      got.error,
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/,
    );
  });

  test('dnet CLI with --tlsverify and the files as flags', async () => {
    const r = await dnet([
      '--tlsverify',
      '--tlscacert',
      certs.files.ca,
      '--tlscert',
      certs.files.cert,
      '--tlskey',
      certs.files.key,
      '-H',
      tcp(),
      'network',
      'ls',
      '--format',
      'json',
    ]);
    assert.equal(r.code, 0, r.err);
    const names = (JSON.parse(r.out) as { Name: string }[]).map((n) => n.Name).sort();
    assert.deepEqual(names, ['bridge', 'host', 'none']);
  });

  test('dnet CLI with DNET_CERT_PATH and DNET_TLS_VERIFY (and DNET_HOST)', async () => {
    const env = { DNET_CERT_PATH: certs.dir, DNET_TLS_VERIFY: '1', DNET_HOST: tcp() };
    const created = await dnet(['network', 'create', '--subnet', '10.77.0.0/24', 'over-tls'], env);
    assert.equal(created.code, 0, created.err);
    assert.match(created.out.trim(), /^[0-9a-f]{64}$/);
    const rm = await dnet(['network', 'rm', 'over-tls'], env);
    assert.equal(rm.code, 0, rm.err);
  });

  test('dnet CLI without TLS, or without the files, says why it cannot connect', async () => {
    const plain = await dnet(['-H', tcp(), 'network', 'ls']);
    assert.equal(plain.code, 1);
    assert.match(
      plain.err,
      /Cannot connect to the dnet daemon at tcp:\/\/127\.0\.0\.1:\d+.*If the daemon serves TLS, use --tlsverify/,
    );
    const noCert = await dnet(['--tlsverify', '--tlscacert', certs.files.ca, '-H', tcp(), 'network', 'ls'], {
      DNET_CERT_PATH: join(world.runDir, 'empty'),
    });
    assert.equal(noCert.code, 1);
    assert.match(
      noCert.err,
      /Cannot connect to the dnet daemon.*(certificate required|socket hang up|ECONNRESET)/i,
    );
    assert.match(noCert.err, /give --tlscert and --tlskey/);
    const noCa = await dnet(['-H', tcp(), 'network', 'ls'], {
      DNET_TLS_VERIFY: '1',
      DNET_CERT_PATH: join(world.runDir, 'empty'),
    });
    assert.equal(noCa.code, 1);
    assert.match(
      noCa.err,
      /^dnet: cannot read the CA certificate ".*\/empty\/ca\.pem" \(ENOENT\): give it with --tlscacert/,
    );
  });

  test('dockerode with ca, cert and key', async () => {
    const docker = new Docker({
      protocol: 'https',
      host: '127.0.0.1',
      port,
      ca: certs.ca,
      cert: certs.cert,
      key: certs.key,
    });
    assert.equal(String(await docker.ping()), 'OK');
    const net = await docker.createNetwork({
      Name: 'dockerode-tls',
      IPAM: { Config: [{ Subnet: '10.78.0.0/24' }] },
    });
    assert.equal((await net.inspect()).Name, 'dockerode-tls');
    await net.remove();
    const without = new Docker({ protocol: 'https', host: '127.0.0.1', port, ca: certs.ca });
    // dockerode writes its request at once: the refusal reaches it as the alert or, if the
    // request crossed it, as a reset; never as an HTTP status.
    await assert.rejects(without.ping(), (err: NodeJS.ErrnoException & { statusCode?: number }) => {
      assert.match(err.code ?? '', /^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET)$/, err.message);
      assert.equal(err.statusCode, undefined);
      return true;
    });
  });

  test('the docker CLI with --tlsverify, and with DOCKER_CERT_PATH', async () => {
    const bin = dockerCli() ?? '';
    assert.ok(bin, 'the docker CLI is installed (scripts/install-deps.sh: docker.io)');
    const home = join(world.runDir, 'docker-home');
    mkdirSync(home, { recursive: true });
    const env = { ...cleanEnv, HOME: home, DOCKER_CONFIG: home };
    const docker = (args: string[], extra: Record<string, string> = {}) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        execFile(
          bin,
          args,
          { env: { ...env, ...extra }, encoding: 'utf8', timeout: 30_000 },
          (err, out, stderr) => {
            const code = (err as { code?: unknown } | null)?.code;
            resolve({ code: err ? (typeof code === 'number' ? code : -1) : 0, out, err: stderr });
          },
        );
      });
    const tlsFlags = [
      '--tlsverify',
      '--tlscacert',
      certs.files.ca,
      '--tlscert',
      certs.files.cert,
      '--tlskey',
      certs.files.key,
    ];
    const v = await docker([...tlsFlags, '-H', tcp(), 'version', '--format', '{{.Server.APIVersion}}']);
    assert.equal(v.code, 0, v.err);
    assert.equal(v.out.trim(), '1.48');
    const created = await docker([
      ...tlsFlags,
      '-H',
      tcp(),
      'network',
      'create',
      '--subnet',
      '10.79.0.0/24',
      'docker-tls',
    ]);
    assert.equal(created.code, 0, created.err);
    const ls = await docker(['network', 'ls', '--format', '{{.Name}}'], {
      DOCKER_HOST: tcp(),
      DOCKER_TLS_VERIFY: '1',
      DOCKER_CERT_PATH: certs.dir,
    });
    assert.equal(ls.code, 0, ls.err);
    assert.deepEqual(ls.out.trim().split('\n').sort(), ['bridge', 'docker-tls', 'host', 'none']);
    const rm = await docker([...tlsFlags, '-H', tcp(), 'network', 'rm', 'docker-tls']);
    assert.equal(rm.code, 0, rm.err);
    // Without a client certificate the handshake fails: no answer from the daemon.
    const refused = await docker(
      ['--tlsverify', '--tlscacert', certs.files.ca, '-H', tcp(), 'network', 'ls'],
      {
        DOCKER_CERT_PATH: join(world.runDir, 'empty'),
      },
    );
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /certificate required|bad certificate|connection reset|tls/i);
    assert.doesNotMatch(refused.err, /Error response from daemon/);
  });
});

describe('--tls: TLS without client certificates', () => {
  let d: Pick<DaemonProcess, 'hosts' | 'entries' | 'stderr' | 'stop'>;
  before(async () => {
    d = await inProcess({ tls: { verify: false, cert: certs.serverCert, key: certs.serverKey } });
  });
  after(async () => {
    assert.equal(await d.stop(), 0, d.stderr());
  });

  test('a client without a certificate gets in; plain HTTP does not; the warning is logged', async () => {
    const port = portOf(d);
    assert.deepEqual(await tlsPing(port, {}), { status: 200, body: 'OK' });
    assert.ok('error' in (await plainPing(port)));
    const warning = d.entries().find((e) => e.event === 'warning');
    assert.match(warning?.msg ?? '', /with TLS but without client certificates/);
    const r = await dnet(['--tls', '-H', `tcp://127.0.0.1:${port}`, 'network', 'ls', '--format', 'json'], {
      DNET_CERT_PATH: join(world.runDir, 'empty'),
    });
    assert.equal(r.code, 0, r.err);
  });
});
