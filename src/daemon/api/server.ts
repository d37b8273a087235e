/**
 * The HTTP server: Docker's API on unix sockets (and, if asked, TCP). Paths are served with and
 * without a `/v1.xx` prefix; a version outside [MIN_API_VERSION, API_VERSION] is refused with
 * 400. Every error goes through src/errors/http.ts (status from the error's kind, body
 * `{"message": ...}`).
 */
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { errorResponse } from '../../errors/http.ts';
import {
  createLogger,
  errorFields,
  type Logger,
  type LogSink,
  REQUEST_ID_HEADER,
  requestIdFor,
} from '../log.ts';
import { API_VERSION, type ApiContext, MIN_API_VERSION } from './context.ts';
import { ApiVersionError, BadRequestError, compareVersions, PageNotFoundError } from './errors.ts';
import { type ApiReply, type ApiRequest, Router } from './router.ts';
import { attachmentRoutes } from './routes/attachments.ts';
import { networkRoutes } from './routes/networks.ts';
import { sandboxRoutes } from './routes/sandboxes.ts';
import { systemRoutes } from './routes/system.ts';

/** The largest request body accepted (network create bodies are a few hundred bytes). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface ApiServerOptions {
  bodyLimit?: number;
  /** The logger for request lines, warnings and internal errors. Default: one on `log`. */
  logger?: Logger;
  /** Without `logger`: where the JSON log lines go. Default: stderr. */
  log?: LogSink;
}

const VERSION_RE = /^\/v([0-9.]+)(\/.*)$/;

export function buildRouter(ctx: ApiContext): Router {
  const router = new Router();
  systemRoutes(router, ctx);
  networkRoutes(router, ctx);
  sandboxRoutes(router, ctx);
  attachmentRoutes(router, ctx);
  return router;
}

/** Reads the body up to `limit` bytes; more is a 400 (and the connection is closed). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BadRequestError(`request body too large: more than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new BadRequestError(`request body too large: more than ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** dockerd's httputils.ReadJSON: an empty body is no body; otherwise it must be application/json. */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0) return undefined;
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') {
    throw new BadRequestError(`unsupported Content-Type header (${ct}): must be 'application/json'`);
  }
  const text = body.toString('utf8');
  if (text.trim() === '') throw new BadRequestError('invalid JSON: got EOF while reading request body');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`invalid JSON: ${(err as Error).message}`);
  }
}

export class ApiServer {
  private readonly servers: { server: Server; address: string }[] = [];
  private readonly bodyLimit: number;
  private readonly logger: Logger;
  private readonly router: Router;
  private readonly serverHeader: string;

  constructor(ctx: ApiContext, options: ApiServerOptions = {}) {
    this.router = buildRouter(ctx);
    this.serverHeader = `dnet/${ctx.facts.version} (linux)`;
    this.bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    this.logger = options.logger ?? createLogger(options.log ? { sink: options.log } : {});
  }

  /** The addresses listened on (`unix:///run/dnet/dnet.sock`, `tcp://127.0.0.1:2375`). */
  addresses(): string[] {
    return this.servers.map((s) => s.address);
  }

  /**
   * Answers one request, with its ID in `X-Request-Id` (the client's, or a new one), and logs it:
   * method, path, status, duration, and the error's code for an error answer.
   */
  private async handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const started = performance.now();
    let reply: ApiReply;
    let closeConnection = false;
    let failure: unknown;
    try {
      const url = new URL(req.url ?? '/', 'http://dnet');
      let path = url.pathname;
      let version = API_VERSION;
      const vm = VERSION_RE.exec(path);
      if (vm) {
        version = vm[1]!;
        path = vm[2]!;
      }
      const method = req.method ?? 'GET';
      const route = this.router.match(method, path);
      if (!route) throw new PageNotFoundError();
      if (compareVersions(version, MIN_API_VERSION) < 0 || compareVersions(version, API_VERSION) > 0) {
        throw new ApiVersionError(version, MIN_API_VERSION, API_VERSION);
      }
      const apiReq: ApiRequest = {
        method,
        path,
        params: route.params,
        query: url.searchParams,
        version,
        raw: req,
        json: () =>
          readJson(req, this.bodyLimit).catch((err: unknown) => {
            closeConnection = true;
            throw err;
          }),
      };
      reply = await route.handler(apiReq);
    } catch (err) {
      failure = err;
      reply = errorResponse(err);
    }
    this.send(req, res, reply, closeConnection, requestId);
    const status = reply.status;
    const fields = {
      event: 'request',
      requestId,
      method: req.method,
      path: req.url,
      status,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      ...(failure !== undefined ? { error: errorFields(failure, status >= 500) } : {}),
    };
    const msg = `${req.method} ${req.url} ${status}`;
    if (status >= 500) this.logger.error(fields, msg);
    else this.logger.info(fields, msg);
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    reply: ApiReply,
    close: boolean,
    requestId: string,
  ): void {
    const headers: Record<string, string> = {
      'Api-Version': API_VERSION,
      'Docker-Experimental': 'false',
      Ostype: 'linux',
      Server: this.serverHeader,
      ...reply.headers,
      [REQUEST_ID_HEADER]: requestId,
    };
    if (close) headers.Connection = 'close';
    let payload: Buffer | undefined;
    if (reply.text !== undefined) {
      headers['Content-Type'] = 'text/plain; charset=utf-8';
      payload = Buffer.from(reply.text);
    } else if (reply.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = Buffer.from(`${JSON.stringify(reply.body)}\n`);
    }
    if (reply.status === 204 || reply.status === 304) payload = undefined;
    headers['Content-Length'] = String(req.method === 'HEAD' ? 0 : (payload?.length ?? 0));
    res.writeHead(reply.status, headers);
    res.end(req.method === 'HEAD' ? undefined : payload);
  }

  /** Listens on `unix:///path` (mode 0660, a stale socket removed) or `tcp://addr:port`. */
  async listen(host: string): Promise<string> {
    const server = createServer((req, res) => {
      const requestId = requestIdFor(req.headers['x-request-id']);
      this.handle(req, res, requestId).catch((err: unknown) => {
        this.logger.error(
          { event: 'error', requestId, method: req.method, path: req.url, error: errorFields(err, true) },
          `${req.method} ${req.url}: cannot answer`,
        );
        res.destroy();
      });
    });
    if (host.startsWith('unix://')) {
      const path = host.slice('unix://'.length);
      if (!path.startsWith('/'))
        throw new InvalidOptionError('host', host, 'a unix socket needs an absolute path');
      await mkdir(dirname(path), { recursive: true });
      await removeStaleSocket(path);
      await listenOn(server, { path });
      await chmod(path, 0o660);
    } else if (host.startsWith('tcp://')) {
      let u: URL;
      try {
        u = new URL(`http://${host.slice('tcp://'.length)}`);
      } catch {
        throw new InvalidOptionError('host', host, 'expected tcp://addr:port');
      }
      if (u.port === '' || u.pathname !== '/')
        throw new InvalidOptionError('host', host, 'expected tcp://addr:port');
      const hostname = u.hostname.replace(/^\[(.*)\]$/, '$1');
      await listenOn(server, { host: hostname, port: Number(u.port) });
      const bound = server.address();
      if (bound && typeof bound === 'object') {
        const h = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
        host = `tcp://${h}:${bound.port}`; // the port actually bound (tcp://127.0.0.1:0 picks one)
      }
      this.logger.warn(
        { event: 'warning', host },
        `listening on ${host} without TLS or authentication: anyone who can reach it controls the host's networking`,
      );
    } else {
      throw new InvalidOptionError('host', host, 'expected unix:///path or tcp://addr:port');
    }
    this.servers.push({ server, address: host });
    return host;
  }

  /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes connections. */
  async close(graceMs = 5000): Promise<void> {
    const all = this.servers.splice(0);
    await Promise.all(
      all.map(({ server, address }) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => server.closeAllConnections(), graceMs);
          timer.unref();
          server.close(() => {
            clearTimeout(timer);
            resolve();
          });
          server.closeIdleConnections();
        }).then(async () => {
          if (address.startsWith('unix://')) await rm(address.slice('unix://'.length), { force: true });
        }),
      ),
    );
  }
}

function listenOn(server: Server, opts: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Removes a socket nobody listens on; refuses to remove anything else, or a live daemon's socket. */
async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st) return;
  if (!st.isSocket()) {
    throw new InvalidOptionError(
      'host',
      `unix://${path}`,
      'the path exists and is not a socket; remove it or choose another',
    );
  }
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) {
    throw new InvalidOptionError('host', `unix://${path}`, 'another daemon is listening on this socket');
  }
  await rm(path, { force: true });
}
