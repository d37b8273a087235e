/**
 * dnet as a Docker plugin: Docker's plugin protocol (HTTP + JSON, `POST /<Subsystem>.<Method>`)
 * served on a unix socket where dockerd discovers plugins (`/run/docker/plugins/dnet.sock` by
 * default), for network driver `dnet` and IPAM driver `dnet`. Replies carry
 * `application/vnd.docker.plugins.v1.2+json`; a failed call answers 500 with `{"Err": ...}`
 * (NetworkDriver) or `{"Error": ...}` (IpamDriver), which dockerd shows; an unknown method 404.
 */
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PLUGIN_MIME } from '../../plugins/index.ts';
import { listenUnixSocket } from '../api/unix-socket.ts';
import { errorFields, type Logger } from '../log.ts';
import { DockerPluginRequestError } from './errors.ts';
import type { Body, PluginService } from './service.ts';
import { Req } from './wire.ts';

/** The plugin's name: Docker's network driver `dnet` and IPAM driver `dnet`. */
export const PLUGIN_NAME = 'dnet';
const MAX_BODY = 1 << 20;

type Handler = (r: Req) => Promise<Body>;

function routes(s: PluginService): Record<string, Handler> {
  const nd: Record<string, Handler> = {
    GetCapabilities: async () => ({ Scope: 'local', ConnectivityScope: 'local' }),
    CreateNetwork: (r) => s.createNetwork(r),
    DeleteNetwork: (r) => s.deleteNetwork(r),
    CreateEndpoint: (r) => s.createEndpoint(r),
    DeleteEndpoint: (r) => s.deleteEndpoint(r),
    EndpointOperInfo: (r) => s.endpointOperInfo(r),
    Join: (r) => s.join(r),
    Leave: (r) => s.leave(r),
    ProgramExternalConnectivity: (r) => s.programExternalConnectivity(r),
    RevokeExternalConnectivity: (r) => s.revokeExternalConnectivity(r),
    // Node discovery is for multi-host drivers; dnet's local ones have nothing to do with it.
    DiscoverNew: async () => ({}),
    DiscoverDelete: async () => ({}),
    AllocateNetwork: async (r) => {
      throw new DockerPluginRequestError(r.method, 'swarm-scope networks are not served by dnet');
    },
    FreeNetwork: async () => ({}),
  };
  const ipam: Record<string, Handler> = {
    GetCapabilities: async () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    GetDefaultAddressSpaces: async () => {
      const s2 = await s.ipam.defaultAddressSpaces();
      return { LocalDefaultAddressSpace: s2.local, GlobalDefaultAddressSpace: s2.global };
    },
    RequestPool: (r) => s.requestPool(r),
    ReleasePool: (r) => s.releasePool(r),
    RequestAddress: (r) => s.requestAddress(r),
    ReleaseAddress: (r) => s.releaseAddress(r),
  };
  const all: Record<string, Handler> = {
    // dockerd activates its plugins after setting up its firewall: the moment to make sure dnet's
    // traffic passes it (the bridge driver's DOCKER-USER rules).
    'Plugin.Activate': async () => {
      await s.hostFirewallChanged();
      return { Implements: ['NetworkDriver', 'IpamDriver'] };
    },
  };
  for (const [m, h] of Object.entries(nd)) all[`NetworkDriver.${m}`] = h;
  for (const [m, h] of Object.entries(ipam)) all[`IpamDriver.${m}`] = h;
  return all;
}

export class PluginServer {
  private server: Server | undefined;
  private path: string | undefined;
  private readonly handlers: Record<string, Handler>;
  /** One call at a time: Docker's calls for one container come in order, and state stays simple. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly service: PluginService,
    private readonly logger: Logger,
  ) {
    this.handlers = routes(service);
  }

  /**
   * Listens on the unix socket `path`: mode 0600, owned by root (only root talks to it, as dockerd
   * does); a stale socket is replaced, a live one or anything else refused (listenUnixSocket).
   */
  async listen(path: string): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger.error(
          { event: 'error', path: req.url, error: errorFields(err, true) },
          `plugin ${req.url}: cannot answer`,
        );
        res.destroy();
      });
    });
    await listenUnixSocket(server, path, { mode: 0o600, uid: 0, gid: 0, option: 'plugin-socket' });
    this.server = server;
    this.path = path;
  }

  get address(): string | undefined {
    return this.path;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const method = (req.url ?? '').replace(/^\//, '').split('?')[0] ?? '';
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) {
        reply(res, 413, {
          Err: `request body over ${MAX_BODY} bytes`,
          Error: `request body over ${MAX_BODY} bytes`,
        });
        return;
      }
      chunks.push(c);
    }
    const handler = req.method === 'POST' ? this.handlers[method] : undefined;
    if (!handler) {
      reply(res, 404, {
        Err: `${req.method} /${method}: not a method of dnet's plugin`,
        Error: `not implemented`,
      });
      return;
    }
    const errField = method.startsWith('IpamDriver.') ? 'Error' : 'Err';
    const text = Buffer.concat(chunks).toString('utf8');
    let status = 200;
    let body: Body;
    const run = async (): Promise<Body> => {
      let parsed: unknown = {};
      if (text.trim() !== '') {
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new DockerPluginRequestError(method, 'the body is not JSON');
        }
      }
      return handler(Req.of(method, parsed ?? {}));
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    try {
      body = await result;
    } catch (err) {
      status = 500;
      body = { [errField]: err instanceof Error ? err.message : String(err) };
      this.logger.warn(
        { event: 'docker-plugin', call: method, error: errorFields(err), durationMs: Date.now() - started },
        `plugin ${method}: ${(err as Error).message}`,
      );
    }
    if (status === 200)
      this.logger.debug(
        {
          event: 'docker-plugin',
          call: method,
          request: text.slice(0, 2000),
          durationMs: Date.now() - started,
        },
        `plugin ${method}`,
      );
    reply(res, status, body);
  }

  async close(): Promise<void> {
    const server = this.server;
    const path = this.path;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await this.queue;
    if (path) await rm(path, { force: true });
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const payload = Buffer.from(`${JSON.stringify(body)}\n`);
  res.writeHead(status, { 'Content-Type': PLUGIN_MIME, 'Content-Length': String(payload.length) });
  res.end(payload);
}
