/**
 * The daemon: one controller, Docker's pre-defined networks, the daemon's registry, and the API
 * served on unix sockets (and TCP, if asked). `close()` stops the servers, then the controller;
 * kernel state stays (containers keep their network).
 */

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HEAL_CHANNEL, type HealReport } from '../drivers/bridge/index.ts';
import { type ControllerConfig, NetworkController, type RestoreReport } from '../index.ts';
import { LmdbStore } from '../store/index.ts';
import type { KvStore } from '../store/types.ts';
import { DNET_VERSION } from '../version.ts';
import { ApiContext } from './api/context.ts';
import { reapDetachedAttachments } from './api/routes/attachments.ts';
import { ApiServer, checkListenOptions, type ServerTlsOptions } from './api/server.ts';
import { resolveSocketGroup } from './api/unix-socket.ts';
import { DEFAULT_DATA_DIR, DEFAULT_RUN_DIR } from './defaults.ts';
import { createLogger, type Logger, type LogLevel, type LogSink } from './log.ts';
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
  /** Stops the servers (requests in flight finish), then closes the controller. */
  close(): Promise<void>;
}

/** The options `docker network inspect bridge` shows for dockerd's default bridge. */
export function defaultBridgeOptions(bridgeName: string): Record<string, string> {
  return {
    'com.docker.network.bridge.default_bridge': 'true',
    'com.docker.network.bridge.enable_icc': 'true',
    'com.docker.network.bridge.enable_ip_masquerade': 'true',
    'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
    'com.docker.network.bridge.name': bridgeName,
    'com.docker.network.driver.mtu': '1500',
  };
}

/** Creates Docker's pre-defined networks that do not exist yet: none, host and (unless off) bridge. */
export async function ensurePredefinedNetworks(
  controller: NetworkController,
  opts: { defaultBridge: boolean; bridgeName: string },
): Promise<void> {
  const want: [type: string, name: string, options: Record<string, string>][] = [
    ['null', 'none', {}],
    ['host', 'host', {}],
  ];
  if (opts.defaultBridge) want.push(['bridge', 'bridge', defaultBridgeOptions(opts.bridgeName)]);
  for (const [type, name, options] of want) {
    if (controller.networkByName(name)) continue;
    await controller.newNetwork(type, name, { options });
  }
}

/**
 * The embedded store in dataDir and the controller on it: everything the controller holds is
 * persisted there and restored (kernel state reconciled) before the API serves anything.
 */
async function openState(
  runDir: string,
  dataDir: string,
  config: DaemonOptions['controllerConfig'],
): Promise<{ store: KvStore; controller: NetworkController }> {
  const store: KvStore = await LmdbStore.open({ dir: dataDir });
  try {
    return { store, controller: await NetworkController.create({ ...config, runDir, dataDir, store }) };
  } catch (err) {
    // The controller's failure is the error; closing the store on the way out is best effort.
    await store.close().catch(() => {});
    throw err;
  }
}

/** Logs what the restore found and did (a warning each); the report, for the start line. */
function logRestore(logger: Logger, report: RestoreReport | undefined): RestoreReport {
  const r = report ?? { restoredNetworks: 0, restoredEndpoints: 0, rolledBack: [], problems: [] };
  for (const p of r.problems) logger.warn({ event: 'restore', problem: p }, `restore: ${p}`);
  for (const x of r.rolledBack) logger.warn({ event: 'restore', rolledBack: x }, `restore: rolled back ${x}`);
  return r;
}

/**
 * Logs what the bridge driver repairs after someone else changed its links or nftables tables
 * (the `heal` event); returns the subscriber, to unsubscribe at close.
 */
function logHeals(logger: Logger): (m: unknown) => void {
  const onHeal = (m: unknown) => {
    const r = m as HealReport;
    logger.warn({ event: 'heal', ...r }, `heal: ${r.reason}: ${[...r.repaired, ...r.problems].join('; ')}`);
  };
  subscribe(HEAL_CHANNEL, onHeal);
  return onHeal;
}

export async function startDaemon(options: DaemonOptions = {}): Promise<Daemon> {
  const runDir = options.runDir ?? DEFAULT_RUN_DIR;
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const hosts = options.hosts && options.hosts.length > 0 ? [...options.hosts] : [defaultHost(runDir)];
  // Who may connect is settled before any state is opened: a bad group, certificate or a plain
  // tcp:// host fails the start without touching the kernel.
  const socketGroup = resolveSocketGroup(options.group);
  checkListenOptions(hosts, options);
  await mkdir(runDir, { recursive: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { store, controller } = await openState(runDir, dataDir, options.controllerConfig);
  const logger =
    options.logger ??
    createLogger({
      ...(options.log ? { sink: options.log } : {}),
      ...(options.logLevel ? { level: options.logLevel } : {}),
    });
  const restore = logRestore(logger, controller.lastRestore);
  const onHeal = logHeals(logger);
  // Containers are the controller's sandboxes (their names are in the sandbox records).
  const registry = new DaemonRegistry(controller);
  const ctx = new ApiContext(
    controller,
    registry,
    { version: DNET_VERSION, runDir, dataDir, startedAt: new Date() },
    logger,
  );
  const server = new ApiServer(ctx, {
    ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.insecureTcp ? { insecureTcp: true } : {}),
    socketGid: socketGroup.gid,
    logger,
  });
  if (socketGroup.warning) logger.warn({ event: 'warning', group: options.group }, socketGroup.warning);
  // Docker's plugin protocols: the joins dockerd made are given back to their drivers first.
  const plugin = options.pluginSocket
    ? new PluginServer(new PluginService(controller, store, logger), logger)
    : undefined;
  try {
    await ensurePredefinedNetworks(controller, {
      defaultBridge: options.defaultBridge ?? true,
      bridgeName: options.bridgeName ?? DEFAULT_BRIDGE_NAME,
    });
    // Attachments whose namespace was gone at restore (or half made by a crash): released now.
    for (const r of await reapDetachedAttachments(ctx))
      logger.warn({ event: 'restore', rolledBack: r }, `restore: released ${r}`);
    if (plugin && options.pluginSocket) {
      for (const p of await plugin.service.restoreJoins())
        logger.warn({ event: 'restore', problem: p }, `restore: ${p}`);
      await plugin.listen(options.pluginSocket);
    }
    for (const h of hosts) await server.listen(h);
  } catch (err) {
    // The start failed with `err`, which is what the caller gets; closing what was opened on the
    // way out is best effort (the process is about to report the failure and exit).
    await plugin?.close().catch(() => {});
    await server.close(0).catch(() => {});
    unsubscribe(HEAL_CHANNEL, onHeal);
    await controller.close().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
  const served = server.addresses();
  logger.info(
    {
      event: 'start',
      version: DNET_VERSION,
      hosts: served,
      pluginSocket: plugin?.address,
      runDir,
      dataDir,
      restore,
      socketGroup: { gid: socketGroup.gid, ...(socketGroup.name ? { name: socketGroup.name } : {}) },
      ...(socketGroup.note ? { note: socketGroup.note } : {}),
    },
    `dnet daemon ${DNET_VERSION}: listening on ${served.join(', ')}`,
  );
  let closing: Promise<void> | undefined;
  return {
    controller,
    registry,
    hosts: served,
    logger,
    pluginSocket: plugin?.address,
    close() {
      closing ??= (async () => {
        const started = Date.now();
        try {
          await plugin?.close();
          await server.close();
        } finally {
          unsubscribe(HEAL_CHANNEL, onHeal);
          await controller.close();
          await store.close();
        }
        logger.info({ event: 'stop', durationMs: Date.now() - started }, 'dnet daemon: stopped');
      })();
      return closing;
    },
  };
}
