/**
 * What the daemon stands on: the engine ID, the cluster (if any), the embedded store and the
 * controller on it (restored before the API serves anything), and Docker's pre-defined networks.
 */
import { mkdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { NetworkController } from '../index.ts';
import { LmdbStore } from '../store/index.ts';
import type { KvStore } from '../store/types.ts';
import { joinCluster } from './cluster.ts';
import type { DaemonOptions } from './daemon.ts';
import { loadOrCreateEngineId } from './engine-id.ts';
import type { Logger } from './log.ts';
import type { NetworkSettings } from './network-settings.ts';
import { bridgeDriverSettings, type DefaultBridgeSpec, defaultBridgeSpec } from './network-settings-apply.ts';

/**
 * Creates Docker's pre-defined networks that do not exist yet: none, host and (unless off) bridge,
 * the bridge as `spec` says (src/daemon/network-settings.ts). A default bridge made earlier with
 * other settings (bip, mtu, icc...) is made again, as dockerd does at each start, unless
 * containers are on it: then it is kept as it is and the returned warning says so.
 */
export async function ensurePredefinedNetworks(
  controller: NetworkController,
  opts: { defaultBridge: boolean; bridgeName: string; spec?: DefaultBridgeSpec },
): Promise<string | undefined> {
  const spec = opts.spec ?? defaultBridgeSpec(opts.bridgeName, {});
  for (const [type, name] of [
    ['null', 'none'],
    ['host', 'host'],
  ] as const) {
    if (!controller.networkByName(name)) await controller.newNetwork(type, name, { options: {} });
  }
  if (!opts.defaultBridge) return undefined;
  const existing = controller.networkByName('bridge');
  if (existing) {
    const same =
      JSON.stringify(existing.options) === JSON.stringify(spec.options) &&
      JSON.stringify(existing.opts.config) === JSON.stringify(spec.ipamConfig) &&
      existing.enableIPv6 === spec.enableIPv6;
    if (same) return undefined;
    if (existing.endpoints().length > 0) {
      return (
        'the default bridge network was made with other settings (bip, fixed-cidr, mtu, icc, ip-masq, ' +
        'default-gateway, ipv6) and has containers: kept as it is; disconnect them and restart to apply the settings'
      );
    }
    await existing.delete();
  }
  await controller.newNetwork('bridge', 'bridge', {
    options: spec.options,
    enableIPv6: spec.enableIPv6,
    ...(spec.ipamConfig.length > 0 ? { ipam: { config: spec.ipamConfig } } : {}),
  });
  return undefined;
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

/** The state the daemon stands on: the engine ID, the cluster (if any), the store and the controller. */
export async function openDaemonState(
  options: DaemonOptions,
  dirs: { runDir: string; dataDir: string },
  settings: NetworkSettings,
  logger: Logger,
) {
  const { runDir, dataDir } = dirs;
  await mkdir(runDir, { recursive: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const engineId = await loadOrCreateEngineId(dataDir);
  const pools = settings['default-address-pools'];
  const onClusterError = (err: Error) =>
    logger.warn({ event: 'cluster', problem: err.message }, `cluster: ${err.message}`);
  const joined = options.cluster ? await joinCluster(options.cluster, dataDir, onClusterError) : undefined;
  const opened = performance.now();
  try {
    const state = await openState(runDir, dataDir, {
      hostId: engineId,
      ...options.controllerConfig,
      ...(pools ? { defaultAddressPools: pools } : {}),
      driverOptions: {
        ...options.controllerConfig?.driverOptions,
        bridge: { ...options.controllerConfig?.driverOptions?.bridge, ...bridgeDriverSettings(settings) },
      },
      ...(joined ? { cluster: joined.cluster, onClusterError } : {}),
    });
    return { ...state, engineId, joined, restoreSeconds: (performance.now() - opened) / 1000 };
  } catch (err) {
    // The start's failure is the error; leaving the cluster on the way out is best effort.
    await joined?.cluster.close().catch(() => {});
    await joined?.store.close().catch(() => {});
    throw err;
  }
}

export type DaemonState = Awaited<ReturnType<typeof openDaemonState>>;
