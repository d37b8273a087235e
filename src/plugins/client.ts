/**
 * The Docker plugin HTTP client (moby pkg/plugins): `POST /<Subsystem>.<Method>` with a JSON body
 * and `Accept: application/vnd.docker.plugins.v1.2+json`, over a unix socket, TCP, or TCP with TLS.
 *
 * - Each call opens its own connection, so a plugin that restarts is reached again at once.
 * - Connection failures (nothing listens, the socket is missing) are retried with exponential
 *   backoff from `retryInitialMs` (1 s) until `retryTotalMs` (30 s) would be exceeded, as dockerd.
 *   Unlike dockerd, a failure after the request reached the plugin (the connection dropped, no
 *   reply in time) is not retried: the plugin may have acted on it, and calls are not idempotent.
 * - Each attempt has a deadline (`callTimeoutMs`, 30 s); a reply larger than 1 MiB is refused.
 * - A non-200 reply is an error (PluginCallError) with the body's `Err` or `Error`, or its text;
 *   so is a 200 reply whose error field (`Err` for NetworkDriver, `Error` for IpamDriver) is set.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { addressUrl, type PluginAddress } from './discovery.ts';
import { PluginCallError, PluginReplyError, PluginSpecError, PluginUnavailableError } from './errors.ts';

export const PLUGIN_MIME = 'application/vnd.docker.plugins.v1.2+json';
export const MAX_REPLY_BYTES = 1024 * 1024;

export interface PluginTimeouts {
  /** The deadline of one attempt of a call, in ms. Default 30 000. */
  callTimeoutMs?: number;
  /** The first wait before retrying a connection failure; it doubles each time. Default 1 000. */
  retryInitialMs?: number;
  /** Connection failures are retried while the time spent stays under this. Default 30 000. */
  retryTotalMs?: number;
}

export const DEFAULT_PLUGIN_TIMEOUTS: Readonly<Required<PluginTimeouts>> = Object.freeze({
  callTimeoutMs: 30_000,
  retryInitialMs: 1_000,
  retryTotalMs: 30_000,
});

/** The wait before retry number `retries` (0-based): initial × 2^retries, capped at the total. */
export function backoffMs(retries: number, t: Required<PluginTimeouts>): number {
  let b = t.retryInitialMs;
  for (let i = 0; i < retries && b < t.retryTotalMs; i++) b *= 2;
  return Math.min(b, t.retryTotalMs);
}

/** Errors of the connection itself (nothing reached the plugin): these are retried. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EAGAIN',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTSOCK',
]);

type Outcome =
  | { ok: true; status: number; body: Buffer }
  | { ok: false; retry: boolean; reason: string; cause?: unknown; tooLarge?: boolean };

export type ErrorField = 'Err' | 'Error';

function validMs(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0)
    throw new RangeError(`plugin ${name} must be a non-negative number of ms`);
  return v;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function snippet(b: Buffer | string): string {
  const s = String(b).trim();
  return s.length > 300 ? `${s.slice(0, 300)}...` : s;
}

export class PluginClient {
  readonly timeouts: Required<PluginTimeouts>;
  readonly url: string;
  private readonly tlsMaterial: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};

  constructor(
    readonly address: PluginAddress,
    timeouts: PluginTimeouts = {},
  ) {
    this.timeouts = {
      callTimeoutMs: validMs('callTimeoutMs', timeouts.callTimeoutMs, DEFAULT_PLUGIN_TIMEOUTS.callTimeoutMs),
      retryInitialMs: validMs(
        'retryInitialMs',
        timeouts.retryInitialMs,
        DEFAULT_PLUGIN_TIMEOUTS.retryInitialMs,
      ),
      retryTotalMs: validMs('retryTotalMs', timeouts.retryTotalMs, DEFAULT_PLUGIN_TIMEOUTS.retryTotalMs),
    };
    this.url = addressUrl(address);
    if (address.kind === 'tcp' && address.tls) {
      const t = address.tls;
      const read = (what: string, file: string | undefined): Buffer | undefined => {
        if (file === undefined) return undefined;
        try {
          return readFileSync(file);
        } catch (err) {
          throw new PluginSpecError(
            address.name,
            address.source,
            `TLS ${what} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`,
          );
        }
      };
      const ca = read('CA file', t.caFile);
      const cert = read('certificate file', t.certFile);
      const key = read('key file', t.keyFile);
      if (ca) this.tlsMaterial.ca = ca;
      if (cert) this.tlsMaterial.cert = cert;
      if (key) this.tlsMaterial.key = key;
    }
  }

  get name(): string {
    return this.address.name;
  }

  /**
   * Calls `method` (`NetworkDriver.Join`) with `args` (undefined: an empty body, as dockerd sends
   * for argument-less calls) and returns the reply's JSON object. `errorField`: the reply field
   * that carries the plugin's error in a 200 reply.
   */
  async call(method: string, args: unknown, errorField?: ErrorField): Promise<Record<string, unknown>> {
    const payload = args === undefined ? undefined : Buffer.from(JSON.stringify(args));
    const start = Date.now();
    for (let retries = 0; ; retries++) {
      const out = await this.attempt(method, payload);
      if (!out.ok) {
        if (out.tooLarge) throw new PluginReplyError(this.name, method, out.reason);
        const wait = backoffMs(retries, this.timeouts);
        if (!out.retry || Date.now() - start + wait >= this.timeouts.retryTotalMs) {
          const tries = retries > 0 ? ` (${retries + 1} attempts)` : '';
          throw new PluginUnavailableError(this.name, method, this.url, `${out.reason}${tries}`, {
            cause: out.cause,
          });
        }
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      return this.decode(method, out.status, out.body, errorField);
    }
  }

  private decode(
    method: string,
    status: number,
    body: Buffer,
    errorField: ErrorField | undefined,
  ): Record<string, unknown> {
    const text = body.toString('utf8');
    if (status !== 200) {
      let msg = snippet(text);
      try {
        const j: unknown = JSON.parse(text);
        if (isObj(j)) {
          const e = typeof j.Err === 'string' && j.Err !== '' ? j.Err : j.Error;
          if (typeof e === 'string' && e !== '') msg = e;
        }
      } catch {
        // not JSON: the raw text is the message
      }
      throw new PluginCallError(
        this.name,
        method,
        status,
        msg === '' ? (http.STATUS_CODES[status] ?? '') : msg,
      );
    }
    if (text.trim() === '') return {};
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      throw new PluginReplyError(this.name, method, `not JSON: ${JSON.stringify(snippet(text))}`);
    }
    if (!isObj(j))
      throw new PluginReplyError(this.name, method, `expected a JSON object, got ${snippet(text)}`);
    if (errorField !== undefined) {
      const e = j[errorField];
      if (e !== undefined && e !== null && e !== '') {
        if (typeof e !== 'string')
          throw new PluginReplyError(this.name, method, `"${errorField}" is not a string`);
        throw new PluginCallError(this.name, method, 200, e);
      }
    }
    return j;
  }

  /** The POST of `method` to the plugin's address (unix socket, TCP, or TLS), not yet sent. */
  private request(method: string, payload: Buffer | undefined): http.ClientRequest {
    const a = this.address;
    const headers: http.OutgoingHttpHeaders = {
      Accept: PLUGIN_MIME,
      'Content-Length': payload?.length ?? 0,
    };
    // No Content-Type: dockerd sends none, and plugins are written against dockerd.
    const base: http.RequestOptions = { method: 'POST', path: `/${method}`, headers, agent: false };
    if (a.kind === 'unix') {
      return http.request({ ...base, socketPath: a.socketPath });
    }
    if (a.tls) {
      return https.request({
        ...base,
        host: a.host,
        port: a.port,
        rejectUnauthorized: !a.tls.insecureSkipVerify,
        ...(isIP(a.host) === 0 ? { servername: a.host } : {}),
        ...this.tlsMaterial,
      });
    }
    return http.request({ ...base, host: a.host, port: a.port });
  }

  private attempt(method: string, payload: Buffer | undefined): Promise<Outcome> {
    const a = this.address;
    const req = this.request(method, payload);
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      let connected = false;
      const finish = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const timer = setTimeout(() => {
        finish({
          ok: false,
          retry: false,
          reason: connected
            ? `no reply within ${this.timeouts.callTimeoutMs} ms`
            : `could not connect within ${this.timeouts.callTimeoutMs} ms`,
        });
        req.destroy();
      }, this.timeouts.callTimeoutMs);
      req.on('socket', (s) => {
        s.once(a.kind === 'tcp' && a.tls ? 'secureConnect' : 'connect', () => {
          connected = true;
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? '';
        finish({
          ok: false,
          retry: !connected && CONNECT_ERRORS.has(code),
          reason: connected ? `the connection dropped before a reply (${err.message})` : err.message,
          cause: err,
        });
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_REPLY_BYTES) {
            finish({
              ok: false,
              retry: false,
              tooLarge: true,
              reason: `the reply is larger than ${MAX_REPLY_BYTES} bytes`,
            });
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => finish({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', (err) =>
          finish({ ok: false, retry: false, reason: `the reply was cut (${err.message})`, cause: err }),
        );
        res.on('aborted', () => finish({ ok: false, retry: false, reason: 'the reply was cut' }));
      });
      req.end(payload);
    });
  }
}
