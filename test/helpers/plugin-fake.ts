/**
 * An in-process fake Docker plugin for unit tests: an HTTP server on a unix socket (or TCP) whose
 * replies a test scripts per method, recording every request (method, headers, raw body).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PluginClient, type PluginTimeouts } from '../../src/plugins/index.ts';

export interface FakeReply {
  status?: number;
  /** An object is sent as JSON; a string as it is. */
  body?: unknown;
  /** Never answer. */
  hang?: boolean;
  /** Close the connection without answering. */
  drop?: boolean;
}

export type FakeHandler = (body: unknown) => FakeReply | Record<string, unknown>;

export interface FakeRequest {
  method: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: unknown;
}

export class FakePlugin {
  readonly requests: FakeRequest[] = [];
  readonly handlers = new Map<string, FakeHandler>();
  readonly dir: string;
  readonly socket: string;
  private server: http.Server | undefined;

  constructor(readonly name = 'fake') {
    this.dir = mkdtempSync(join(tmpdir(), 'dnet-plugin-'));
    this.socket = join(this.dir, `${name}.sock`);
  }

  /** Scripts a method: a function of the request body, or a fixed reply. */
  on(method: string, h: FakeHandler | FakeReply | Record<string, unknown>): this {
    this.handlers.set(method, typeof h === 'function' ? h : () => h);
    return this;
  }

  methods(): string[] {
    return this.requests.map((r) => r.method);
  }

  bodies(method: string): unknown[] {
    return this.requests.filter((r) => r.method === method).map((r) => r.body);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = (req.url ?? '/').slice(1);
      const raw = Buffer.concat(chunks).toString();
      let body: unknown = null;
      try {
        body = raw === '' ? null : JSON.parse(raw);
      } catch {
        body = raw;
      }
      this.requests.push({ method, headers: req.headers, raw, body });
      const h = this.handlers.get(method);
      if (!h) {
        res.writeHead(404).end('404 page not found\n');
        return;
      }
      const out = h(body);
      const reply: FakeReply =
        'status' in out || 'body' in out || 'hang' in out || 'drop' in out
          ? (out as FakeReply)
          : { body: out };
      if (reply.hang) return;
      if (reply.drop) {
        req.socket.destroy();
        return;
      }
      const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
      res.writeHead(reply.status ?? 200, { 'Content-Type': 'application/vnd.docker.plugins.v1+json' });
      res.end(payload);
    });
  }

  /** Listens on the unix socket. */
  listen(): Promise<this> {
    this.server = http.createServer((q, s) => this.handle(q, s));
    const srv = this.server;
    return new Promise((resolve) => srv.listen(this.socket, () => resolve(this)));
  }

  /** Listens on TCP 127.0.0.1 (or with TLS, given a server). */
  listenTcp(server?: http.Server): Promise<number> {
    this.server = server ?? http.createServer();
    this.server.on('request', (q: http.IncomingMessage, s: http.ServerResponse) => this.handle(q, s));
    const srv = this.server;
    return new Promise((resolve) =>
      srv.listen(0, '127.0.0.1', () => resolve((srv.address() as AddressInfo).port)),
    );
  }

  client(
    timeouts: PluginTimeouts = { callTimeoutMs: 1000, retryInitialMs: 20, retryTotalMs: 100 },
  ): PluginClient {
    return new PluginClient(
      { kind: 'unix', name: this.name, socketPath: this.socket, source: this.socket },
      timeouts,
    );
  }

  async close(): Promise<void> {
    const srv = this.server;
    if (srv) {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
