/**
 * The API's TCP listeners: TLS (client certificates required and verified against a CA when
 * `verify`, as dockerd's `--tlsverify`), or plain HTTP only when `insecureTcp` says so; each logs a
 * warning when anyone who can reach the port controls the host's networking.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { Socket } from 'node:net';
import { createSecureContext, type TLSSocket } from 'node:tls';
import { InvalidOptionError } from '../../errors/cnm.ts';
import type { Logger } from '../log.ts';

/** PEM certificates and key for a TLS listener. */
export interface ServerTlsOptions {
  /** The server's certificate (chain). */
  cert: string | Buffer;
  /** Its private key. */
  key: string | Buffer;
  /** The CA(s) client certificates must be signed by; required with `verify`. */
  ca?: string | Buffer;
  /** Require a client certificate signed by `ca` (Docker's `--tlsverify`). */
  verify: boolean;
}

/**
 * Checks what `listen` would refuse, before anything is started: TLS material that cannot be used
 * (so a bad certificate fails the start, not each handshake) and a `tcp://` host without TLS
 * (unless `insecureTcp`).
 */
export function checkListenOptions(
  hosts: readonly string[],
  options: { tls?: ServerTlsOptions | undefined; insecureTcp?: boolean | undefined },
): void {
  if (options.tls) checkTls(options.tls);
  for (const h of hosts)
    if (h.startsWith('tcp://') && !options.tls && !options.insecureTcp) throw plainTcpError(h);
}

export function plainTcpError(host: string): InvalidOptionError {
  return new InvalidOptionError(
    'host',
    host,
    "plain HTTP on TCP lets anyone who can reach the port control this host's networking: " +
      'serve it with TLS and client certificates (--tlsverify --tlscacert --tlscert --tlskey; ' +
      'see "Securing dnet" in the README), or pass --insecure-tcp to serve it without TLS anyway',
  );
}

export function checkTls(tls: ServerTlsOptions): void {
  if (tls.verify && (tls.ca === undefined || String(tls.ca).trim() === '')) {
    throw new InvalidOptionError(
      'tls.ca',
      '(none)',
      'verifying clients (--tlsverify) needs the CA that signs their certificates (--tlscacert)',
    );
  }
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) });
  } catch (err) {
    throw new InvalidOptionError(
      'tls',
      '(PEM)',
      `the TLS certificate, key or CA cannot be used (${(err as Error).message}): give PEM files, ` +
        'and the key that belongs to the certificate (see "Securing dnet" in the README)',
    );
  }
}

/** What a TCP listener needs from the API server. */
export interface TcpListenOptions {
  tls?: ServerTlsOptions | undefined;
  insecureTcp?: boolean | undefined;
  logger: Logger;
  onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  /** Called with the server before it listens (to add its other handlers). */
  prepare: (server: Server | TlsServer) => void;
}

/**
 * Listens on `tcp://addr:port` (`tcp://127.0.0.1:0` picks a port). Returns the server and the
 * address bound, as `tcp://addr:port`.
 */
export async function listenTcp(
  host: string,
  o: TcpListenOptions,
): Promise<{ server: Server | TlsServer; address: string }> {
  let u: URL;
  try {
    u = new URL(`http://${host.slice('tcp://'.length)}`);
  } catch {
    throw new InvalidOptionError('host', host, 'expected tcp://addr:port');
  }
  if (u.port === '' || u.pathname !== '/')
    throw new InvalidOptionError('host', host, 'expected tcp://addr:port');
  const tls = o.tls;
  if (!tls && !o.insecureTcp) throw plainTcpError(host);
  let server: Server | TlsServer;
  if (tls) {
    const s = createTlsServer(
      {
        cert: tls.cert,
        key: tls.key,
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        requestCert: tls.verify,
        rejectUnauthorized: tls.verify,
        minVersion: 'TLSv1.2',
      },
      o.onRequest,
    );
    logHandshakeFailures(s, host, o.logger);
    server = s;
  } else {
    server = createServer(o.onRequest);
  }
  o.prepare(server);
  await listenOn(server, { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port) });
  let address = host;
  const bound = server.address();
  if (bound && typeof bound === 'object') {
    const h = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    address = `tcp://${h}:${bound.port}`;
  }
  if (!tls) {
    o.logger.warn(
      { event: 'warning', host: address },
      `listening on ${address} without TLS or authentication (--insecure-tcp): anyone who can reach it controls the host's networking`,
    );
  } else if (!tls.verify) {
    o.logger.warn(
      { event: 'warning', host: address },
      `listening on ${address} with TLS but without client certificates (--tls without --tlsverify): anyone who can reach it controls the host's networking`,
    );
  }
  return { server, address };
}

/**
 * Logs a `tls` warning for each connection whose TLS handshake fails. Node's TLS server checks a
 * client certificate once the handshake is done and, when it is not valid (another CA, expired),
 * closes the connection with no event and no reason: a connection closed before its handshake
 * completed is logged as such. A missing certificate or plain HTTP is a TLS error, logged with it.
 */
function logHandshakeFailures(server: TlsServer, host: string, logger: Logger): void {
  const pending = new Set<string>();
  const keyOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) =>
    `${s.remoteAddress}:${s.remotePort}`;
  server.on('connection', (raw: Socket) => {
    const remote = keyOf(raw);
    pending.add(remote);
    raw.once('close', () => {
      if (!pending.delete(remote)) return;
      logger.warn(
        {
          event: 'tls',
          host,
          remote,
          error: { code: 'ERR_TLS_HANDSHAKE_CLOSED', message: 'closed during the handshake' },
        },
        `TLS connection from ${remote} closed before its handshake completed: its client certificate was refused (not signed by the CA, expired, or not for client use), or it gave up`,
      );
    });
  });
  server.on('secureConnection', (socket: TLSSocket) => pending.delete(keyOf(socket)));
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    // A refused certificate's connection, already closed (and logged), reports a reset after.
    if (socket.remotePort === undefined) return;
    const remote = keyOf(socket);
    pending.delete(remote);
    logger.warn(
      { event: 'tls', host, remote, error: { code: err.code, message: err.message } },
      `TLS handshake from ${remote} failed: ${err.message}`,
    );
  });
}

function listenOn(server: Server | TlsServer, opts: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
