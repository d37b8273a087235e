/**
 * The CLI's client of the daemon's API: node:http over a unix socket (`unix:///path`) or TCP
 * (`tcp://addr:port`; HTTPS when given TLS settings, ./tls.ts), JSON in and out. A daemon error
 * becomes a DaemonError carrying dockerd's `{"message"}`; an unreachable daemon a ConnectionError.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { API_VERSION } from '../version.ts';
import type { ClientTls } from './tls.ts';

export const DEFAULT_HOST = 'unix:///run/dnet/dnet.sock';

/** The daemon answered with an error status. */
/** `/v<API_VERSION><path>?<query>` (undefined query values left out). */
function apiPath(path: string, query: Record<string, string | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, v);
  const q = qs.toString();
  return `/v${API_VERSION}${path}${q ? `?${q}` : ''}`;
}

export class DaemonError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DaemonError';
  }
}

/** The daemon could not be reached. */
export class ConnectionError extends Error {
  constructor(
    readonly host: string,
    override readonly cause: Error,
    hint = '',
  ) {
    // OpenSSL's text ("80...:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate
    // required:../deps/...") shortened to its reason.
    const ssl = /SSL routines:[^:]*:([^:]+)/.exec(cause.message)?.[1];
    super(
      `Cannot connect to the dnet daemon at ${host}. Is the daemon running? (${ssl ? `TLS: ${ssl}` : cause.message})${hint}`,
    );
    this.name = 'ConnectionError';
  }
}

type Target = { socketPath: string } | { host: string; port: number };

/** Where `unix:///path` or `tcp://addr:port` points; throws on anything else. */
export function parseHost(host: string): Target {
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (socketPath.startsWith('/')) return { socketPath };
  } else if (host.startsWith('tcp://')) {
    try {
      const u = new URL(`http://${host.slice('tcp://'.length)}`);
      if (u.port !== '') return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port) };
    } catch {
      // fall through
    }
  }
  throw new Error(`invalid host ${JSON.stringify(host)}: expected unix:///path or tcp://addr:port`);
}

export interface Reply<T> {
  status: number;
  body: T;
}

export class Client {
  private readonly target: Target;

  constructor(
    readonly host: string,
    private readonly timeoutMs = 120_000,
    /** TLS for a `tcp://` host (unix sockets are never TLS). */
    private readonly tls?: ClientTls,
  ) {
    this.target = parseHost(host);
  }

  /** TLS for the target: only a `tcp://` host is ever TLS. */
  private tlsFor(): ClientTls | undefined {
    return 'port' in this.target ? this.tls : undefined;
  }

  /** Where to connect, and with which TLS settings (shared by request and streamLines). */
  private connectOptions() {
    const tls = this.tlsFor();
    return {
      ...this.target,
      ...(tls
        ? {
            rejectUnauthorized: tls.verify,
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert ? { cert: tls.cert } : {}),
            ...(tls.key ? { key: tls.key } : {}),
          }
        : {}),
    };
  }

  /** Sends a request to `/v<API_VERSION><path>`; resolves with the parsed JSON body (or text). */
  request<T>(
    method: string,
    path: string,
    opts: { query?: Record<string, string | undefined>; body?: unknown } = {},
  ): Promise<Reply<T>> {
    const fullPath = apiPath(path, opts.query ?? {});
    const data = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const tls = this.tlsFor();
    const request = tls ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...this.connectOptions(),
          method,
          path: fullPath,
          headers: {
            ...(data ? { 'Content-Type': 'application/json', 'Content-Length': String(data.length) } : {}),
            'User-Agent': 'dnet-cli',
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const isJson = (res.headers['content-type'] ?? '').startsWith('application/json');
            let body: unknown = text;
            if (isJson && text.trim() !== '') {
              try {
                body = JSON.parse(text);
              } catch {
                body = text;
              }
            }
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              const message =
                typeof body === 'object' &&
                body !== null &&
                typeof (body as { message?: unknown }).message === 'string'
                  ? (body as { message: string }).message
                  : text.trim() || `HTTP ${status}`;
              reject(new DaemonError(status, message));
              return;
            }
            resolve({ status, body: body as T });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof DaemonError) return reject(err);
        // A TLS port answers plain HTTP, and a daemon a client without a certificate, by
        // closing the connection.
        const closed = err.code === 'ECONNRESET' || err.message === 'socket hang up';
        const certRequired = err.code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED';
        const hint =
          !('port' in this.target) || !(closed || certRequired)
            ? ''
            : !tls
              ? ' If the daemon serves TLS, use --tlsverify (see dnet --help).'
              : !tls.cert
                ? ' If the daemon requires client certificates, give --tlscert and --tlskey (or cert.pem and key.pem in $DNET_CERT_PATH).'
                : '';
        reject(new ConnectionError(this.host, err, hint));
      });
      req.end(data);
    });
  }

  /**
   * GET a stream of lines (`/events`): each complete line goes to `onLine` as it arrives; resolves
   * when the daemon ends the stream. No timeout: a stream may stay quiet for hours.
   */
  streamLines(
    path: string,
    query: Record<string, string | undefined>,
    onLine: (line: string) => void,
  ): Promise<void> {
    const tls = this.tlsFor();
    const request = tls ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          ...this.connectOptions(),
          method: 'GET',
          path: apiPath(path, query),
          headers: { 'User-Agent': 'dnet-cli' },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          let pending = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            pending += chunk;
            if (status >= 400) return;
            let nl = pending.indexOf('\n');
            while (nl >= 0) {
              // application/json-seq puts RS (0x1E) before each message.
              const raw = pending.slice(0, nl);
              const line = raw.startsWith('\u001e') ? raw.slice(1) : raw;
              pending = pending.slice(nl + 1);
              if (line.trim() !== '') onLine(line);
              nl = pending.indexOf('\n');
            }
          });
          res.on('error', reject);
          res.on('end', () => {
            if (status < 400) return resolve();
            let message = pending.trim() || `HTTP ${status}`;
            try {
              const m = (JSON.parse(pending) as { message?: unknown }).message;
              if (typeof m === 'string') message = m;
            } catch {
              // not JSON: the text as is
            }
            reject(new DaemonError(status, message));
          });
        },
      );
      req.on('error', (err: Error) => reject(new ConnectionError(this.host, err)));
      req.end();
    });
  }

  async get<T>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    return (await this.request<T>('GET', path, query ? { query } : {})).body;
  }

  async post<T>(path: string, body?: unknown, query?: Record<string, string | undefined>): Promise<T> {
    return (
      await this.request<T>('POST', path, {
        ...(body !== undefined ? { body } : {}),
        ...(query ? { query } : {}),
      })
    ).body;
  }

  async delete(path: string): Promise<void> {
    await this.request<unknown>('DELETE', path);
  }
}
