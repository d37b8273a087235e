/**
 * TLS options of `dnet` and `dnet daemon`, with Docker's flags and environment:
 *
 * - `--tls`: use TLS; `--tlsverify` (or `DNET_TLS_VERIFY` set to anything non-empty, as Docker's
 *   `DOCKER_TLS_VERIFY`): use TLS and verify the other side against the CA. `--tlsverify`
 *   implies `--tls`.
 * - `--tlscacert`, `--tlscert`, `--tlskey`: PEM files; by default `ca.pem`, `cert.pem` and
 *   `key.pem` in `$DNET_CERT_PATH`, else `~/.dnet` (Docker's `DOCKER_CERT_PATH`, `~/.docker`).
 *
 * The client (Docker's CLI): with `--tlsverify` the daemon's certificate must be signed by the CA
 * and name the host dialled; with `--tls` alone it is not checked. A client certificate is sent
 * when given, or when the default files exist. The daemon (dockerd): `--tlsverify` requires
 * client certificates signed by the CA; `--tls` alone serves TLS to anyone.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';

/** A TLS file that cannot be read, or an incomplete set (a certificate without its key). */
export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

/** The TLS flags as given on the command line. */
export interface TlsFlags {
  tls?: boolean;
  tlsverify?: boolean;
  tlscacert?: string | undefined;
  tlscert?: string | undefined;
  tlskey?: string | undefined;
}

/** What the client uses to talk TLS (PEM contents). */
export interface ClientTls {
  /** Check the daemon's certificate against `ca` (or the system's CAs without one). */
  verify: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** What the daemon serves TLS with (PEM contents); the shape of startDaemon's `tls`. */
export interface DaemonTls {
  verify: boolean;
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

type Env = Record<string, string | undefined>;

/** `$DNET_CERT_PATH`, else `~/.dnet`. */
export function certPath(env: Env): string {
  const p = env.DNET_CERT_PATH;
  if (p !== undefined && p !== '') return p;
  return join(env.HOME || homedir(), '.dnet');
}

function read(file: string, what: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TlsConfigError(
      `cannot read the ${what} ${JSON.stringify(file)} (${e.code ?? e.message}): give it with ${flag}, ` +
        'or put it in $DNET_CERT_PATH (default ~/.dnet)',
    );
  }
}

function exists(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Whether TLS is on, and verified, from the flags and `DNET_TLS_VERIFY`. */
function mode(flags: TlsFlags, env: Env): { tls: boolean; verify: boolean } {
  const verify = flags.tlsverify === true || (env.DNET_TLS_VERIFY ?? '') !== '';
  return { tls: verify || flags.tls === true, verify };
}

/** The client's TLS settings, or undefined when TLS is off. Throws TlsConfigError. */
export function clientTls(flags: TlsFlags, env: Env): ClientTls | undefined {
  const { tls, verify } = mode(flags, env);
  if (!tls) return undefined;
  const dir = certPath(env);
  const out: ClientTls = { verify };
  if (verify) out.ca = read(flags.tlscacert ?? join(dir, 'ca.pem'), 'CA certificate', '--tlscacert');
  else if (flags.tlscacert !== undefined) out.ca = read(flags.tlscacert, 'CA certificate', '--tlscacert');
  // As Docker's CLI: a default certificate or key that does not exist is simply not sent.
  const certFile = flags.tlscert ?? join(dir, 'cert.pem');
  const keyFile = flags.tlskey ?? join(dir, 'key.pem');
  const useCert = flags.tlscert !== undefined || exists(certFile);
  const useKey = flags.tlskey !== undefined || exists(keyFile);
  if (useCert !== useKey) {
    throw new TlsConfigError(
      `a client certificate needs its key and a key its certificate: got ${useCert ? `--tlscert ${certFile}` : `--tlskey ${keyFile}`} only`,
    );
  }
  if (useCert) {
    out.cert = read(certFile, 'client certificate', '--tlscert');
    out.key = read(keyFile, 'client key', '--tlskey');
  }
  return out;
}

/** The daemon's TLS settings, or undefined when TLS is off. Throws TlsConfigError. */
export function daemonTls(flags: TlsFlags, env: Env): DaemonTls | undefined {
  const { tls, verify } = mode(flags, env);
  if (!tls) return undefined;
  const dir = certPath(env);
  const out: DaemonTls = {
    verify,
    cert: read(flags.tlscert ?? join(dir, 'cert.pem'), 'server certificate', '--tlscert'),
    key: read(flags.tlskey ?? join(dir, 'key.pem'), 'server key', '--tlskey'),
  };
  const caFile = flags.tlscacert ?? join(dir, 'ca.pem');
  if (verify) out.ca = read(caFile, 'CA certificate', '--tlscacert');
  try {
    createSecureContext({ cert: out.cert, key: out.key, ...(out.ca ? { ca: out.ca } : {}) });
  } catch (err) {
    const files = [flags.tlscert ?? join(dir, 'cert.pem'), flags.tlskey ?? join(dir, 'key.pem')];
    if (verify) files.push(caFile);
    throw new TlsConfigError(
      `the TLS files ${files.join(', ')} cannot be used (${(err as Error).message}): give PEM files, ` +
        'and the key that belongs to the certificate',
    );
  }
  return out;
}
