/**
 * The daemon: one controller, Docker's pre-defined networks, the daemon's registry, and the API
 * served on unix sockets (and TCP, if asked). `close()` stops the servers, then the controller;
 * kernel state stays (containers keep their network).
 */

import { join } from 'node:path';
import type { ControllerConfig, NetworkController, RestoreReport } from '../index.ts';
import { DNET_VERSION } from '../version.ts';
import { ApiContext } from './api/context.ts';
import { reapDetachedAttachments } from './api/routes/attachments.ts';
import { ApiServer, type RequestObservation } from './api/server.ts';
import { checkListenOptions, type ServerTlsOptions } from './api/tcp-listener.ts';
import { resolveSocketGroup, type SocketGroup } from './api/unix-socket.ts';
import type { ClusterFlags } from './cluster.ts';
import { type DaemonState, ensurePredefinedNetworks, openDaemonState } from './daemon-state.ts';
import { DEFAULT_DATA_DIR, DEFAULT_RUN_DIR } from './defaults.ts';
import { createLogger, type Logger, type LogLevel, type LogSink } from './log.ts';
import type { DaemonMetrics } from './metrics.ts';
import { LIVE_SETTINGS, type NetworkSettings } from './network-settings.ts';
import { containerDns, defaultBridgeOptions, defaultBridgeSpec } from './network-settings-apply.ts';
import { validateSettings } from './network-settings-parse.ts';
import { observe } from './observe.ts';
import { PluginServer } from './plugin/server.ts';
import { PluginService } from './plugin/service.ts';
import { DaemonRegistry } from './registry.ts';

export { DEFAULT_DATA_DIR, DEFAULT_RUN_DIR } from './defaults.ts';
/** The default bridge's Linux bridge (Docker's docker0). */
export const DEFAULT_BRIDGE_NAME = 'dnet0';

/** The default unix socket of a daemon whose run directory is `runDir`. */
export const defaultHost = (runDir: string = DEFAULT_RUN_DIR): string =>
  `unix://${join(runDir, 'dnet.sock')}`;

export { DNET_VERSION };

export interface DaemonOptions {
  /** Sandboxes' namespaces and files, and the default socket. Default /run/dnet. */
  runDir?: string;
  /** Persistent state. Default /var/lib/dnet. */
  dataDir?: string;
  /** Where to serve: `unix:///path`, `tcp://addr:port`. Default `unix://<runDir>/dnet.sock`. */
  hosts?: string[];
  /** The rest of the controller's configuration (host resolv.conf, default address pools). */
  controllerConfig?: Omit<ControllerConfig, 'runDir' | 'dataDir'>;
  /** Create the default `bridge` network (Docker's `--bridge=none` is `false`). Default true. */
  defaultBridge?: boolean;
  /** The default bridge's Linux bridge name. Default dnet0. */
  bridgeName?: string;
  /**
   * dockerd's network settings (`bip`, `default-address-pools`, `mtu`, `icc`, `iptables`, `dns`...;
   * src/daemon/network-settings.ts), checked at start (SettingError). `default-address-pools`
   * replaces controllerConfig's.
   */
  settings?: NetworkSettings;
  /**
   * Where the daemon's log lines go: one JSON object per line (start, each request, warnings,
   * errors, stop; src/daemon/log.ts), without the newline. Default: stderr. `() => {}` silences it.
   */
  log?: LogSink;
  /** The lowest level logged (with `log` or stderr). Default info. */
  logLevel?: LogLevel;
  /** A logger of the caller's instead (`log` and `logLevel` are then not used). */
  logger?: Logger;
  /** The largest request body accepted, in bytes. */
  bodyLimit?: number;
  /**
   * Serve Docker's NetworkDriver and IpamDriver plugin protocols (plugin `dnet`) on this unix
   * socket, for a real dockerd (`docker network create -d dnet`). Absent or '': not served
   * (`dnet daemon` serves /run/docker/plugins/dnet.sock unless told otherwise).
   */
  pluginSocket?: string;
  /** TLS for `tcp://` hosts (PEM; `verify` requires client certificates signed by `ca`). */
  tls?: ServerTlsOptions;
  /** Serve `tcp://` hosts without TLS: refused otherwise (anyone reaching the port controls the host). */
  insecureTcp?: boolean;
  /**
   * The unix sockets' group (Docker's `--group`): a name or a numeric ID from /etc/group; `''` for
   * the daemon's own group. Default `dnet` (the daemon's group when no such group exists).
   */
  group?: string;
  /**
   * Serve Prometheus metrics at `http://<addr>/metrics` (dockerd's `--metrics-addr`, e.g.
   * `127.0.0.1:9323`): plain HTTP, so a local or trusted address. Absent: not served.
   */
  metricsAddr?: string;
  /**
   * Join a cluster on etcd (`--cluster-store`, `--cluster-advertise`): overlay networks span the
   * hosts. Absent: no global scope (`-d overlay` is refused with ClusterStoreRequiredError).
   */
  cluster?: ClusterFlags;
}

export interface Daemon {
  readonly controller: NetworkController;
  readonly registry: DaemonRegistry;
  /** The addresses served. */
  readonly hosts: readonly string[];
  /** The daemon's logger (JSON lines). */
  readonly logger: Logger;
  /** The Docker plugin socket served, if any. */
  readonly pluginSocket: string | undefined;
  /** The network settings in effect (as given; absent keys: Docker's defaults). */
  readonly settings: NetworkSettings;
  /**
   * Applies the settings that can change while running (LIVE_SETTINGS: `dns`, `dns-search`,
   * `dns-opts`, for containers made from then on); returns the keys applied.
   */
  applyLiveSettings(next: NetworkSettings): string[];
  /** The metrics address bound (`127.0.0.1:9323`), if served. */
  readonly metricsAddr: string | undefined;
  /** Stops the servers (requests in flight finish), then closes the controller. */
  close(): Promise<void>;
}

export { defaultBridgeOptions };

/** Logs what the restore found and did (a warning each); the report, for the start line. */
function logRestore(logger: Logger, report: RestoreReport | undefined): RestoreReport {
  const r = report ?? { restoredNetworks: 0, restoredEndpoints: 0, rolledBack: [], problems: [] };
  for (const p of r.problems) logger.warn({ event: 'restore', problem: p }, `restore: ${p}`);
  for (const x of r.rolledBack) logger.warn({ event: 'restore', rolledBack: x }, `restore: rolled back ${x}`);
  return r;
}

/**
 * What a start does once the state is open: the pre-defined networks, events on, attachments
 * whose namespace went away released, the joins dockerd made given back, then the listeners.
 * Returns the metrics address it serves, if any.
 */
async function bringUp(
  options: DaemonOptions,
  parts: {
    ctx: ApiContext;
    server: ApiServer;
    plugin: PluginServer | undefined;
    metrics: DaemonMetrics | undefined;
    observing: { eventsOn(): void };
    settings: NetworkSettings;
    hosts: string[];
    logger: Logger;
  },
): Promise<string | undefined> {
  const { ctx, server, plugin, metrics, observing, settings, hosts, logger } = parts;
  const bridgeName = options.bridgeName ?? DEFAULT_BRIDGE_NAME;
  const kept = await ensurePredefinedNetworks(ctx.controller, {
    defaultBridge: options.defaultBridge ?? true,
    bridgeName,
    spec: defaultBridgeSpec(bridgeName, settings),
  });
  if (kept) logger.warn({ event: 'warning' }, kept);
  observing.eventsOn();
  // Attachments whose namespace was gone at restore (or half made by a crash): released now.
  for (const r of await reapDetachedAttachments(ctx))
    logger.warn({ event: 'restore', rolledBack: r }, `restore: released ${r}`);
  if (plugin && options.pluginSocket) {
    for (const p of await plugin.service.restoreJoins())
      logger.warn({ event: 'restore', problem: p }, `restore: ${p}`);
    await plugin.listen(options.pluginSocket);
  }
  for (const h of hosts) await server.listen(h);
  if (metrics && options.metricsAddr !== undefined) return metrics.listen(options.metricsAddr);
  return undefined;
}

/**
 * Closes what a start opened, in order. `failedStart`: the way out of a start that failed (its
 * error is what the caller gets): every step is tried, its own failure dropped, no grace period.
 */
/** What a started daemon runs, closed together by closeAll. */
interface DaemonParts {
  ctx: ApiContext;
  server: ApiServer;
  plugin: PluginServer | undefined;
  metrics: DaemonMetrics | undefined;
  observing: { stop(): void };
  state: DaemonState;
}

async function closeAll(parts: DaemonParts, opts: { failedStart?: boolean } = {}): Promise<void> {
  const { ctx, server, plugin, metrics, observing, state } = parts;
  const step = (f: () => Promise<unknown> | undefined): Promise<unknown> | undefined =>
    opts.failedStart ? f()?.catch(() => {}) : f();
  try {
    // Event streams end first: an open one would hold the server's close.
    ctx.events.close();
    await step(() => metrics?.close());
    await step(() => plugin?.close());
    await step(() => server.close(opts.failedStart ? 0 : undefined));
  } finally {
    observing.stop();
    await step(() => state.controller.close());
    await step(() => state.store.close());
    // The lease is not revoked: a restart within its TTL causes no gap on other hosts.
    await step(() => state.joined?.cluster.close());
    await step(() => state.joined?.store.close());
  }
}

export async function startDaemon(options: DaemonOptions = {}): Promise<Daemon> {
  const runDir = options.runDir ?? DEFAULT_RUN_DIR;
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const hosts = options.hosts && options.hosts.length > 0 ? [...options.hosts] : [defaultHost(runDir)];
  // Who may connect is settled before any state is opened: a bad group, certificate or a plain
  // tcp:// host fails the start without touching the kernel.
  const socketGroup = resolveSocketGroup(options.group);
  checkListenOptions(hosts, options);
  validateSettings(options.settings ?? {});
  // prom-client is loaded only when metrics are asked for; a bad address fails the start here.
  const metricsModule = options.metricsAddr !== undefined ? await import('./metrics.ts') : undefined;
  if (options.metricsAddr !== undefined) metricsModule?.parseMetricsAddr(options.metricsAddr);
  const settings: NetworkSettings = { ...(options.settings ?? {}) };
  const logger =
    options.logger ??
    createLogger({
      ...(options.log ? { sink: options.log } : {}),
      ...(options.logLevel ? { level: options.logLevel } : {}),
    });
  const state = await openDaemonState(options, { runDir, dataDir }, settings, logger);
  const { store, controller, engineId, joined } = state;
  const restore = logRestore(logger, controller.lastRestore);
  // Containers are the controller's sandboxes (their names are in the sandbox records).
  const registry = new DaemonRegistry(controller);
  const ctx = new ApiContext(
    controller,
    registry,
    { version: DNET_VERSION, runDir, dataDir, startedAt: new Date(), engineId, settings },
    logger,
  );
  ctx.containerDns = containerDns(settings);
  // Events (GET /events) and metrics listen to the controller; nftables timings go to the metrics.
  const metrics = metricsModule ? new metricsModule.DaemonMetrics(controller, ctx.events) : undefined;
  metrics?.observeRestore(restore, state.restoreSeconds);
  const observing = observe(controller, ctx, logger, metrics);
  const server = apiServer(options, ctx, socketGroup.gid, logger, metrics);
  if (socketGroup.warning) logger.warn({ event: 'warning', group: options.group }, socketGroup.warning);
  // Docker's plugin protocols: the joins dockerd made are given back to their drivers first.
  const plugin = options.pluginSocket
    ? new PluginServer(new PluginService(controller, store, logger), logger)
    : undefined;
  const parts: DaemonParts = { ctx, server, plugin, metrics, observing, state };
  let metricsAddr: string | undefined;
  try {
    metricsAddr = await bringUp(options, {
      ctx,
      server,
      plugin,
      metrics,
      observing,
      settings,
      hosts,
      logger,
    });
  } catch (err) {
    // The start failed with `err`, which is what the caller gets; closing what was opened on the
    // way out is best effort (the process is about to report the failure and exit).
    await closeAll(parts, { failedStart: true }).catch(() => {});
    throw err;
  }
  const served = server.addresses();
  logStart(logger, {
    served,
    pluginSocket: plugin?.address,
    metricsAddr,
    runDir,
    dataDir,
    restore,
    joined,
    socketGroup,
  });
  return daemonHandle(parts, { registry, served, logger, settings, metricsAddr });
}

/** The API server for the daemon's options: body limit, TLS, socket group, and request metrics. */
function apiServer(
  options: DaemonOptions,
  ctx: ApiContext,
  socketGid: number,
  logger: Logger,
  metrics: DaemonMetrics | undefined,
): ApiServer {
  return new ApiServer(ctx, {
    ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.insecureTcp ? { insecureTcp: true } : {}),
    socketGid,
    logger,
    ...(metrics ? { onRequest: (r: RequestObservation) => metrics.observeRequest(r) } : {}),
  });
}

/** The `start` log line: where the daemon listens, its directories, what was restored. */
function logStart(
  logger: Logger,
  s: {
    served: string[];
    pluginSocket: string | undefined;
    metricsAddr: string | undefined;
    runDir: string;
    dataDir: string;
    restore: ReturnType<typeof logRestore>;
    joined: DaemonState['joined'];
    socketGroup: SocketGroup;
  },
): void {
  const { served, metricsAddr, joined, socketGroup } = s;
  logger.info(
    {
      event: 'start',
      version: DNET_VERSION,
      hosts: served,
      pluginSocket: s.pluginSocket,
      ...(metricsAddr ? { metricsAddr } : {}),
      runDir: s.runDir,
      dataDir: s.dataDir,
      restore: s.restore,
      ...(joined ? { cluster: { hostId: joined.cluster.hostId, vtep: joined.cluster.vtep } } : {}),
      socketGroup: { gid: socketGroup.gid, ...(socketGroup.name ? { name: socketGroup.name } : {}) },
      ...(socketGroup.note ? { note: socketGroup.note } : {}),
    },
    `dnet daemon ${DNET_VERSION}: listening on ${served.join(', ')}`,
  );
}

/** The started daemon as its caller holds it: live settings applied in place, close() once. */
function daemonHandle(
  parts: DaemonParts,
  d: {
    registry: DaemonRegistry;
    served: string[];
    logger: Logger;
    settings: NetworkSettings;
    metricsAddr: string | undefined;
  },
): Daemon {
  const { ctx } = parts;
  const { logger, settings } = d;
  let closing: Promise<void> | undefined;
  return {
    controller: parts.state.controller,
    registry: d.registry,
    hosts: d.served,
    logger,
    pluginSocket: parts.plugin?.address,
    settings,
    applyLiveSettings(next) {
      const applied = LIVE_SETTINGS.filter((k) => JSON.stringify(settings[k]) !== JSON.stringify(next[k]));
      for (const k of LIVE_SETTINGS) {
        if (next[k] === undefined) delete settings[k];
        else Object.assign(settings, { [k]: next[k] });
      }
      ctx.containerDns = containerDns(settings);
      return applied;
    },
    metricsAddr: d.metricsAddr,
    close() {
      closing ??= (async () => {
        const started = Date.now();
        await closeAll(parts);
        logger.info({ event: 'stop', durationMs: Date.now() - started }, 'dnet daemon: stopped');
      })();
      return closing;
    },
  };
}
