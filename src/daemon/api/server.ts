/**
 * The HTTP server: Docker's API on unix sockets (and, if asked, TCP). Paths are served with and
 * without a `/v1.xx` prefix; a version outside [MIN_API_VERSION, API_VERSION] is refused with
 * 400. Every error goes through src/errors/http.ts (status from the error's kind, body
 * `{"message": ...}`).
 *
 * Who may connect, as dockerd: a unix socket is `0660` with the owner and group asked for
 * (./unix-socket.ts); a TCP host is TLS (`tls`, with client certificates required and verified
 * against a CA when `verify`), and plain HTTP on TCP is refused unless `insecureTcp` says so.
 */
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as TlsServer } from 'node:https';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { compareVersions } from '../../dotted-version.ts';
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
import { dockerErrorResponse, isNativePath } from './docker-errors.ts';
import { ApiVersionError, isDockerApiPath, NotServedError, PageNotFoundError } from './errors.ts';
import { readJson, requestUrl } from './request.ts';
import { type ApiReply, type ApiRequest, Router } from './router.ts';
import { attachmentRoutes } from './routes/attachments.ts';
import { cniRoutes } from './routes/cni.ts';
import { eventRoutes } from './routes/events.ts';
import { networkRoutes } from './routes/networks.ts';
import { sandboxRoutes } from './routes/sandboxes.ts';
import { systemRoutes } from './routes/system.ts';
import { checkTls, listenTcp, type ServerTlsOptions } from './tcp-listener.ts';
import { listenUnixSocket } from './unix-socket.ts';

/** The largest request body accepted (network create bodies are a few hundred bytes). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface ApiServerOptions {
  bodyLimit?: number;
  /** The logger for request lines, warnings and internal errors. Default: one on `log`. */
  logger?: Logger;
  /** Without `logger`: where the JSON log lines go. Default: stderr. */
  log?: LogSink;
  /** TLS for `tcp://` hosts (Docker's `--tls`, `--tlsverify`). Unix sockets stay plain. */
  tls?: ServerTlsOptions;
  /** Serve `tcp://` hosts without TLS (refused otherwise; a warning is logged). Default false. */
  insecureTcp?: boolean;
  /** The unix sockets' permission bits. Default 0o660. */
  socketMode?: number;
  /** The unix sockets' group ID (`--group`). Default: the process's group. */
  socketGid?: number;
  /** Called after each answer (the metrics): the route's pattern (`/networks/{id}`), status, duration. */
  onRequest?: (r: RequestObservation) => void;
}

/** One answered request, for the metrics. */
export interface RequestObservation {
  method: string;
  /** The matched route's pattern, or `unmatched` (a 404 for an unknown path). */
  route: string;
  status: number;
  seconds: number;
}

const VERSION_RE = /^\/v([0-9.]+)(\/.*)$/;

export function buildRouter(ctx: ApiContext): Router {
  const router = new Router();
  systemRoutes(router, ctx);
  networkRoutes(router, ctx);
  sandboxRoutes(router, ctx);
  attachmentRoutes(router, ctx);
  cniRoutes(router, ctx);
  eventRoutes(router, ctx);
  return router;
}

export class ApiServer {
  private readonly servers: { server: Server | TlsServer; address: string }[] = [];
  private readonly bodyLimit: number;
  private readonly logger: Logger;
  private readonly router: Router;
  private readonly serverHeader: string;

  private readonly options: ApiServerOptions;

  constructor(ctx: ApiContext, options: ApiServerOptions = {}) {
    this.router = buildRouter(ctx);
    this.serverHeader = `dnet/${ctx.facts.version} (linux)`;
    this.bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    this.logger = options.logger ?? createLogger(options.log ? { sink: options.log } : {});
    if (options.tls) checkTls(options.tls);
    this.options = options;
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
    // The client closed the connection before the answer (while sending its body, or while the
    // operation ran): logged as such, not as a failure of the daemon.
    let clientClosed = false;
    let pattern = 'unmatched';
    let path = '';
    try {
      const url = requestUrl(req.url);
      path = url.pathname;
      let version = API_VERSION;
      const vm = VERSION_RE.exec(path);
      if (vm) {
        version = vm[1]!;
        path = vm[2]!;
      }
      const method = req.method ?? 'GET';
      const route = this.router.match(method, path);
      if (!route) throw isDockerApiPath(path) ? new NotServedError(method, path) : new PageNotFoundError();
      pattern = route.pattern;
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
      // Docker's routes answer with dockerd's status and text (./docker-errors.ts), dnet's own with dnet's.
      reply = isNativePath(path) ? errorResponse(err) : dockerErrorResponse(err);
      // A body cut short by the client: Node's request stream fails with "aborted" (ECONNRESET).
      if (req.destroyed && (err as NodeJS.ErrnoException | null)?.code === 'ECONNRESET') clientClosed = true;
    }
    if (res.destroyed || req.socket.destroyed) clientClosed = true;
    if (!clientClosed) await this.send(req, res, reply, closeConnection, requestId);
    // 499: the client closed the request (as nginx logs it); nothing was sent.
    const status = clientClosed && failure !== undefined ? 499 : reply.status;
    const seconds = (performance.now() - started) / 1000;
    this.options.onRequest?.({ method: req.method ?? 'GET', route: pattern, status, seconds });
    const fields = {
      event: 'request',
      requestId,
      method: req.method,
      path: req.url,
      status,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      ...(clientClosed ? { clientClosed: true } : {}),
      ...(failure !== undefined ? { error: errorFields(failure, status >= 500) } : {}),
    };
    const msg = clientClosed
      ? `${req.method} ${req.url} ${status}: the client closed the connection before the answer`
      : `${req.method} ${req.url} ${status}`;
    if (status >= 500) this.logger.error(fields, msg);
    else this.logger.info(fields, msg);
  }

  /**
   * A CONNECT request (Node hands it to the 'connect' event, not to the request handler, and drops
   * the connection when nobody listens): answered as dockerd answers it, 404 `page not found`, and
   * the connection closed.
   */
  private refuseConnect(req: IncomingMessage, socket: Duplex): void {
    const requestId = requestIdFor(req.headers['x-request-id']);
    socket.on('error', () => {});
    const { status, body } = errorResponse(new PageNotFoundError());
    const payload = `${JSON.stringify(body)}\n`;
    const headers = {
      'Api-Version': API_VERSION,
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(payload)),
      Connection: 'close',
      Ostype: 'linux',
      Server: this.serverHeader,
      [REQUEST_ID_HEADER]: requestId,
    };
    const head = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.end(`HTTP/1.1 ${status} Not Found\r\n${head}\r\n${payload}`);
    this.logger.info(
      { event: 'request', requestId, method: req.method, path: req.url, status, durationMs: 0 },
      `${req.method} ${req.url} ${status}`,
    );
  }

  private async send(
    req: IncomingMessage,
    res: ServerResponse,
    reply: ApiReply,
    close: boolean,
    requestId: string,
  ): Promise<void> {
    const headers: Record<string, string> = {
      'Api-Version': API_VERSION,
      'Docker-Experimental': 'false',
      Ostype: 'linux',
      Server: this.serverHeader,
      ...reply.headers,
      [REQUEST_ID_HEADER]: requestId,
    };
    if (close) headers.Connection = 'close';
    if (reply.stream) {
      // Chunked, headers sent at once: the client learns the stream is open before any event.
      res.writeHead(reply.status, headers);
      res.flushHeaders();
      return reply.stream(res);
    }
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

  /**
   * Listens on `unix:///path` (mode 0660 and the group asked for; a stale socket of this user
   * removed) or `tcp://addr:port` (TLS when configured; plain only with `insecureTcp`).
   */
  async listen(host: string): Promise<string> {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const requestId = requestIdFor(req.headers['x-request-id']);
      this.handle(req, res, requestId).catch((err: unknown) => {
        this.logger.error(
          { event: 'error', requestId, method: req.method, path: req.url, error: errorFields(err, true) },
          `${req.method} ${req.url}: cannot answer`,
        );
        res.destroy();
      });
    };
    // HTTP CONNECT (a proxy's method) gets an answer too, not a dropped connection.
    const answersConnect = <T extends Server | TlsServer>(srv: T): T => {
      srv.on('connect', (req: IncomingMessage, socket: Duplex) => this.refuseConnect(req, socket));
      return srv;
    };
    if (host.startsWith('unix://')) {
      const path = host.slice('unix://'.length);
      if (!path.startsWith('/'))
        throw new InvalidOptionError('host', host, 'a unix socket needs an absolute path');
      const server = answersConnect(createServer(onRequest));
      await listenUnixSocket(server, path, {
        mode: this.options.socketMode ?? 0o660,
        ...(this.options.socketGid !== undefined ? { gid: this.options.socketGid } : {}),
      });
      this.servers.push({ server, address: host });
      return host;
    }
    if (!host.startsWith('tcp://')) {
      throw new InvalidOptionError('host', host, 'expected unix:///path or tcp://addr:port');
    }
    const { server, address } = await listenTcp(host, {
      tls: this.options.tls,
      insecureTcp: this.options.insecureTcp,
      logger: this.logger,
      onRequest,
      prepare: answersConnect,
    });
    this.servers.push({ server, address });
    return address;
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
