/**
 * The daemon's Prometheus metrics (`dnet daemon --metrics-addr 127.0.0.1:9323`, dockerd's flag):
 * plain HTTP, text format at `/metrics`, one registry per daemon (prom-client). What is measured:
 *
 * - `dnet_api_request_duration_seconds{method,route,status}`: each API answer, by route pattern;
 * - `dnet_operations_total{operation}`, `dnet_operation_failures_total{operation,code}` and
 *   `dnet_operation_duration_seconds{operation}`: create, delete, connect, disconnect (from the
 *   controller's observer), restore (once, at start; each problem it reported is a failure);
 * - `dnet_networks{driver}`, `dnet_endpoints`, `dnet_sandboxes`: read at each scrape;
 * - `dnet_nftables_transaction_duration_seconds{result}`: each libnftables transaction;
 * - `dnet_reconcile_runs_total`, `dnet_reconcile_actions_total{outcome}`: the bridge driver's
 *   repairs after tampering (its heal reports: repaired, problem);
 * - `dnet_event_subscribers`, `dnet_events_total`; and Node's process metrics (`process_*`, `nodejs_*`).
 *
 * This module (and prom-client) is loaded only when metrics are asked for.
 */
import { createServer, type Server } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ControllerEvent } from '../core/observer.ts';
import type { HealReport } from '../drivers/bridge/index.ts';
import { InvalidOptionError } from '../errors/cnm.ts';
import type { NetworkController, RestoreReport } from '../index.ts';
import type { NftTransaction } from '../os/nftables/index.ts';
import type { RequestObservation } from './api/server.ts';
import type { EventLog } from './events.ts';

const API_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NFT_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/** `addr:port` (`127.0.0.1:9323`, `[::1]:9323`, `:9323` for every address) into host and port. */
export function parseMetricsAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new InvalidOptionError(
      'metrics-addr',
      addr,
      'expected addr:port (127.0.0.1:9323, [::1]:9323); the metrics are plain HTTP: keep them on a local or trusted address',
    );
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

/** The code of an error, for the failures' `code` label (bounded: the project's stable codes). */
function codeOf(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' && /^[A-Z0-9_]{1,64}$/.test(c) ? c : 'unknown';
}

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly api: Histogram<'method' | 'route' | 'status'>;
  private readonly ops: Counter<'operation'>;
  private readonly failures: Counter<'operation' | 'code'>;
  private readonly opSeconds: Histogram<'operation'>;
  private readonly nft: Histogram<'result'>;
  private readonly healRuns: Counter;
  private readonly healActions: Counter<'outcome'>;
  private server: Server | undefined;

  constructor(controller: NetworkController, eventLog?: EventLog) {
    const registers = [this.registry];
    this.api = new Histogram({
      name: 'dnet_api_request_duration_seconds',
      help: 'API request latency, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: API_BUCKETS,
      registers,
    });
    this.ops = new Counter({
      name: 'dnet_operations_total',
      help: 'Operations attempted: create, delete (networks), connect, disconnect, restore',
      labelNames: ['operation'],
      registers,
    });
    this.failures = new Counter({
      name: 'dnet_operation_failures_total',
      help: 'Operations that failed, by error code (restore: each problem it reported)',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.opSeconds = new Histogram({
      name: 'dnet_operation_duration_seconds',
      help: 'Operation latency (locks included)',
      labelNames: ['operation'],
      buckets: API_BUCKETS,
      registers,
    });
    this.nft = new Histogram({
      name: 'dnet_nftables_transaction_duration_seconds',
      help: 'nftables transactions (one libnftables call each), by result',
      labelNames: ['result'],
      buckets: NFT_BUCKETS,
      registers,
    });
    this.healRuns = new Counter({
      name: 'dnet_reconcile_runs_total',
      help: 'Repairs of kernel state changed by someone else (heal reports)',
      registers,
    });
    this.healActions = new Counter({
      name: 'dnet_reconcile_actions_total',
      help: 'What the repairs did: objects repaired, and problems they could not repair',
      labelNames: ['outcome'],
      registers,
    });
    new Counter({
      name: 'dnet_events_total',
      help: 'Events logged (GET /events)',
      registers,
      collect() {
        this.reset();
        if (eventLog) this.inc(eventLog.total);
      },
    });
    this.gauges(controller, eventLog);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Gauges read at each scrape. */
  private gauges(controller: NetworkController, eventLog: EventLog | undefined): void {
    const registers = [this.registry];
    new Gauge({
      name: 'dnet_networks',
      help: 'Networks, by driver',
      labelNames: ['driver'],
      registers,
      collect() {
        this.reset();
        for (const n of controller.networks()) this.inc({ driver: n.type });
      },
    });
    new Gauge({
      name: 'dnet_endpoints',
      help: 'Endpoints',
      registers,
      collect() {
        this.set(controller.networks().reduce((sum, n) => sum + n.endpoints().length, 0));
      },
    });
    new Gauge({
      name: 'dnet_sandboxes',
      help: 'Sandboxes (containers)',
      registers,
      collect() {
        this.set(controller.allSandboxes().length);
      },
    });
    new Gauge({
      name: 'dnet_event_subscribers',
      help: 'Open GET /events streams',
      registers,
      collect() {
        this.set(eventLog?.subscriberCount ?? 0);
      },
    });
  }

  observeRequest(r: RequestObservation): void {
    this.api.observe({ method: r.method, route: r.route, status: String(r.status) }, r.seconds);
  }

  observeController(ev: ControllerEvent): void {
    if (ev.kind === 'network') return;
    this.ops.inc({ operation: ev.operation });
    this.opSeconds.observe({ operation: ev.operation }, ev.seconds);
    if (!ev.ok) this.failures.inc({ operation: ev.operation, code: codeOf(ev.error) });
  }

  observeNft(t: NftTransaction): void {
    this.nft.observe({ result: t.ok ? 'ok' : 'error' }, t.seconds);
  }

  observeHeal(r: HealReport): void {
    this.healRuns.inc();
    if (r.repaired.length > 0) this.healActions.inc({ outcome: 'repaired' }, r.repaired.length);
    if (r.problems.length > 0) this.healActions.inc({ outcome: 'problem' }, r.problems.length);
  }

  /** The start's restore: one operation, its duration, and a failure per problem it reported. */
  observeRestore(report: RestoreReport, seconds: number): void {
    this.ops.inc({ operation: 'restore' });
    this.opSeconds.observe({ operation: 'restore' }, seconds);
    if (report.problems.length > 0)
      this.failures.inc({ operation: 'restore', code: 'problem' }, report.problems.length);
  }

  /** Serves GET /metrics on `addr` (addr:port); resolves with the address bound (`127.0.0.1:9323`). */
  async listen(addr: string): Promise<string> {
    const { host, port } = parseMetricsAddr(addr);
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': this.registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${String(err)}\n`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: host === '' ? undefined : host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const a = server.address();
    if (!a || typeof a !== 'object') return addr;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** Stops serving. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}
