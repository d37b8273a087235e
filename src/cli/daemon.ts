/** `dnet daemon`: runs the daemon until SIGINT or SIGTERM, then shuts down gracefully. */
import type { ClusterFlags } from '../daemon/cluster.ts';
import type { Daemon } from '../daemon/daemon.ts';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_PLUGIN_SOCKET,
  DEFAULT_RUN_DIR,
  DEFAULT_SOCKET_GROUP,
} from '../daemon/defaults.ts';
import { DEFAULT_LOG_LEVEL, isLogLevel, LOG_LEVELS, type LogLevel } from '../daemon/log-levels.ts';
import {
  LIVE_SETTINGS,
  type NetworkSettings,
  SETTING_KEYS,
  SettingError,
  type SettingSpec,
} from '../daemon/network-settings.ts';
import { checkSettings } from '../daemon/network-settings-parse.ts';
import { flag, type Options, type Parsed, parse, positionals, str, strs, UsageError } from './args.ts';
import {
  CONFIG_KEYS,
  changedSettings,
  configConflicts,
  type DaemonConfig,
  DaemonConfigError,
  DEFAULT_CONFIG_FILE,
  readDaemonConfig,
} from './daemon-config.ts';
import { settingOptions, settingsFromFlags, settingsUsage, takeBoolFlags } from './daemon-flags.ts';
import type { Io } from './output.ts';
import { help } from './subcommand.ts';
import { daemonTls } from './tls.ts';

export const DAEMON_USAGE = `Usage: dnet daemon [OPTIONS]

Run the dnet daemon: Docker's network API (and dnet's sandbox API) on a unix socket

Options:
      --cluster-advertise string
                          This host's underlay IPv4 (or the interface that has it), the VTEP of
                          its overlay networks; with --cluster-store
      --cluster-store string
                          Join a cluster on etcd: etcd://HOST:PORT[,HOST:PORT...]; overlay networks
                          (-d overlay) then span every host of it
      --cluster-store-opt stringArray
                          TLS to etcd: kv.cacertfile=PATH,kv.certfile=PATH,kv.keyfile=PATH
      --config-file string  dockerd's daemon.json keys: log-level, data-dir, run-dir, hosts,
                          metrics-addr and the network settings below (default
                          "${DEFAULT_CONFIG_FILE}" if it exists); SIGHUP re-reads it and
                          applies log-level, dns, dns-search, dns-opts
      --data-dir string   Persistent state (default "${DEFAULT_DATA_DIR}")
  -G, --group string      Group of the unix sockets (mode 0660): a name or a group ID; "" for the
                          daemon's own (default "${DEFAULT_SOCKET_GROUP}"; the daemon's own if it does not exist)
  -H, --host string       Address to serve: unix:///path or tcp://addr:port (repeatable;
                          default unix://<run-dir>/dnet.sock). tcp:// needs TLS or --insecure-tcp
      --insecure-tcp      Serve tcp:// hosts without TLS: anyone reaching the port controls this
                          host's networking (logged as a warning)
      --log-level string  ${LOG_LEVELS.join(', ')} (default "${DEFAULT_LOG_LEVEL}")
      --metrics-addr string
                          Serve Prometheus metrics at http://<addr>/metrics (e.g. 127.0.0.1:9323);
                          plain HTTP: keep it on a local or trusted address (default: not served)
      --plugin-socket string
                          Serve Docker's network and IPAM plugin protocols (driver "dnet") on
                          this unix socket; '' turns it off (default "${DEFAULT_PLUGIN_SOCKET}")
      --run-dir string    Sandboxes' namespaces and files, and the default socket (default "${DEFAULT_RUN_DIR}")
      --tls               Serve tcp:// hosts with TLS, without client certificates; implied by --tlsverify
      --tlscacert string  CA that client certificates must be signed by (default "$DNET_CERT_PATH/ca.pem")
      --tlscert string    Server certificate (default "$DNET_CERT_PATH/cert.pem")
      --tlskey string     Server key (default "$DNET_CERT_PATH/key.pem")
      --tlsverify         Serve TLS and require client certificates signed by the CA
                          (default: on when $DNET_TLS_VERIFY is set)
      --vxlan-port int    UDP port of overlay networks' VXLAN (default 4789); with --cluster-store

Network settings (dockerd's flags; daemon.json keys the same, but dns-opts and default-address-pools):
${settingsUsage()}

The default bridge network ("bridge", Linux bridge dnet0), "host" and "none" are created at start.
SIGINT or SIGTERM stop it: requests in flight finish; containers keep their network.
SIGHUP re-reads the configuration file and applies its log-level and DNS settings.
Logs are JSON lines on stderr: start, each API request (with its X-Request-Id), stop.
$DNET_CERT_PATH defaults to ~/.dnet. See "Securing dnet" in the README.
`;

/** The flags `dnet daemon` takes, for parse(): the network settings' and the daemon's own. */
function daemonFlagOptions(): Options {
  return {
    ...settingOptions(),
    'data-dir': { type: 'string' },
    'run-dir': { type: 'string' },
    host: { type: 'string', short: 'H', multiple: true },
    'log-level': { type: 'string' },
    'plugin-socket': { type: 'string' },
    group: { type: 'string', short: 'G' },
    'insecure-tcp': { type: 'boolean' },
    tls: { type: 'boolean' },
    tlsverify: { type: 'boolean' },
    tlscacert: { type: 'string' },
    tlscert: { type: 'string' },
    tlskey: { type: 'string' },
    'config-file': { type: 'string' },
    'metrics-addr': { type: 'string' },
    'cluster-store': { type: 'string' },
    'cluster-advertise': { type: 'string' },
    'cluster-store-opt': { type: 'string', multiple: true },
    'vxlan-port': { type: 'string' },
  };
}

/** The log level asked for (a flag or the file), or the default; a UsageError for an unknown one. */
function logLevelOf(asked: string | undefined): LogLevel {
  const level = asked ?? DEFAULT_LOG_LEVEL;
  if (!isLogLevel(level)) {
    throw new UsageError(
      `invalid --log-level ${JSON.stringify(level)}: use one of ${LOG_LEVELS.join(', ')}`,
      DAEMON_USAGE,
    );
  }
  return level;
}

export async function daemonCommand(io: Io, argv: string[]): Promise<number> {
  const { rest: args, texts: boolTexts } = takeBoolFlags(argv);
  const p = parse(args, daemonFlagOptions(), DAEMON_USAGE);
  if (flag(p, 'help')) return help(io, DAEMON_USAGE);
  positionals(p, 0, DAEMON_USAGE, 'daemon');
  const read = readConfiguration(io, p, boolTexts);
  if (typeof read === 'number') return read;
  const { configFile, named, config, flagSettings, settings } = read;
  const metricsAddr = str(p, 'metrics-addr') ?? config['metrics-addr'];
  const runDir = str(p, 'run-dir') ?? config['run-dir'];
  const dataDir = str(p, 'data-dir') ?? config['data-dir'];
  const levelFlag = str(p, 'log-level');
  const level = logLevelOf(levelFlag ?? config['log-level']);
  // The daemon (the library, lmdb, koffi, pino) is loaded only here: `dnet daemon --help` and the
  // client commands never load it.
  const { startDaemon } = await import('../daemon/daemon.ts');
  const { createLogger, errorFields } = await import('../daemon/log.ts');
  const logger = createLogger({ level, sink: (line) => io.err(`${line}\n`) });
  const group = str(p, 'group');
  let daemon: Daemon;
  try {
    const tls = daemonTls(
      {
        tls: flag(p, 'tls'),
        tlsverify: flag(p, 'tlsverify'),
        tlscacert: str(p, 'tlscacert'),
        tlscert: str(p, 'tlscert'),
        tlskey: str(p, 'tlskey'),
      },
      io.env,
    );
    daemon = await startDaemon({
      ...(runDir ? { runDir } : {}),
      ...(dataDir ? { dataDir } : {}),
      pluginSocket: str(p, 'plugin-socket') ?? DEFAULT_PLUGIN_SOCKET,
      ...(tls ? { tls } : {}),
      ...(flag(p, 'insecure-tcp') ? { insecureTcp: true } : {}),
      ...(group !== undefined ? { group } : {}),
      hosts: config.hosts ?? strs(p, 'host'),
      settings,
      ...(metricsAddr !== undefined ? { metricsAddr } : {}),
      logger,
      ...clusterFlags(p),
    });
  } catch (err) {
    logger.fatal({ event: 'error', error: errorFields(err) }, `cannot start: ${(err as Error).message}`);
    return 1;
  }
  const reloader = new ConfigReloader(
    configFile,
    named !== undefined,
    levelFlag,
    flagSettings,
    config,
    daemon,
    logger,
    errorFields,
  );
  const code = await runUntilSignal(daemon, logger, errorFields, () => reloader.reload());
  // Whatever handle might still hold the event loop must not keep a stopped daemon alive.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}

/**
 * The configuration file and the flags: settings not given as flags come from the file (a key
 * given both ways is refused, as dockerd does); the default file is optional. An exit status when
 * they cannot be used (the reason printed).
 */
function readConfiguration(
  io: Io,
  p: Parsed,
  boolTexts: Map<SettingSpec, string[]>,
):
  | number
  | {
      configFile: string;
      named: string | undefined;
      config: DaemonConfig;
      flagSettings: NetworkSettings;
      settings: NetworkSettings;
    } {
  const named = str(p, 'config-file');
  const configFile = named ?? DEFAULT_CONFIG_FILE;
  let config: DaemonConfig;
  try {
    config = readDaemonConfig(configFile, named !== undefined) ?? {};
  } catch (err) {
    if (!(err instanceof DaemonConfigError)) throw err;
    io.err(`dnet: ${err.message}\n`);
    return 1;
  }
  const flagSettings = settingsFromFlags(p, boolTexts, DAEMON_USAGE);
  // Every file key given as a flag too (the flag of `hosts` is --host), for dockerd's conflict check.
  const fromFlags: DaemonConfig = { ...flagSettings };
  for (const k of CONFIG_KEYS) {
    const v = p.values[k === 'hosts' ? 'host' : k];
    if (v !== undefined) Object.assign(fromFlags, { [k]: v });
  }
  const conflict = configConflicts(fromFlags, config);
  if (conflict) {
    io.err(`dnet: unable to configure the daemon with file ${configFile}: ${conflict}\n`);
    return 1;
  }
  const settings = mergeSettings(flagSettings, config);
  try {
    checkSettings(settings);
  } catch (err) {
    if (!(err instanceof SettingError)) throw err;
    io.err(`dnet: ${err.message}\n`);
    return 1;
  }
  return { configFile, named, config, flagSettings, settings };
}

/** The network settings from the flags and the file (a key is in one of them at most). */
function mergeSettings(flags: NetworkSettings, file: DaemonConfig): NetworkSettings {
  const out: NetworkSettings = { ...flags };
  for (const k of SETTING_KEYS) if (file[k] !== undefined) Object.assign(out, { [k]: file[k] });
  return out;
}

/** --cluster-store and its companions; the daemon checks the values. */
function clusterFlags(p: Parsed): { cluster?: ClusterFlags } {
  const store = str(p, 'cluster-store');
  const advertise = str(p, 'cluster-advertise');
  const port = str(p, 'vxlan-port');
  const opts = strs(p, 'cluster-store-opt');
  if (store === undefined) {
    if (advertise !== undefined || port !== undefined || opts.length > 0) {
      throw new UsageError(
        '--cluster-advertise, --cluster-store-opt and --vxlan-port need --cluster-store',
        DAEMON_USAGE,
      );
    }
    return {};
  }
  if (advertise === undefined) {
    throw new UsageError(
      "--cluster-store needs --cluster-advertise IP|IFACE (this host's underlay address)",
      DAEMON_USAGE,
    );
  }
  if (port !== undefined && !/^[0-9]{1,5}$/.test(port)) {
    throw new UsageError(`invalid --vxlan-port ${JSON.stringify(port)}: expected a UDP port`, DAEMON_USAGE);
  }
  return {
    cluster: {
      store,
      advertise,
      ...(opts.length > 0 ? { storeOpts: opts } : {}),
      ...(port !== undefined ? { vxlanPort: Number(port) } : {}),
    },
  };
}

type DaemonLogger = Awaited<ReturnType<typeof import('../daemon/log.ts')['createLogger']>>;
type ErrorFields = typeof import('../daemon/log.ts')['errorFields'];

/**
 * SIGHUP: re-reads the configuration file, applies its log-level and DNS settings, reports what
 * needs a restart.
 */
class ConfigReloader {
  constructor(
    private readonly configFile: string,
    private readonly named: boolean,
    private readonly levelFlag: string | undefined,
    private readonly flagSettings: NetworkSettings,
    private config: DaemonConfig,
    private readonly daemon: Daemon,
    private readonly logger: DaemonLogger,
    private readonly errorFields: ErrorFields,
  ) {}

  reload(): void {
    const configFile = this.configFile;
    const logger = this.logger;
    const levelFlag = this.levelFlag;
    const base = { event: 'reload', signal: 'SIGHUP' };
    let next: DaemonConfig;
    try {
      next = readDaemonConfig(configFile, this.named) ?? {};
      if (levelFlag !== undefined && next['log-level'] !== undefined) {
        throw new DaemonConfigError(
          configFile,
          'log-level is also given as a flag (--log-level): give it once',
        );
      }
      const conflict = configConflicts(this.flagSettings, next);
      if (conflict) throw new DaemonConfigError(configFile, conflict);
      checkSettings(mergeSettings(this.flagSettings, next));
    } catch (err) {
      logger.error(
        { ...base, configFile, error: this.errorFields(err) },
        `SIGHUP: ${(err as Error).message}; nothing changed`,
      );
      return;
    }
    const live: readonly string[] = ['log-level', ...LIVE_SETTINGS];
    const needsRestart = changedSettings(this.config, next).filter((k) => !live.includes(k));
    const applied = this.daemon.applyLiveSettings(mergeSettings(this.flagSettings, next));
    const previous = logger.level;
    const now = levelFlag ?? next['log-level'] ?? DEFAULT_LOG_LEVEL;
    const fields = { ...base, configFile, logLevel: now, previousLogLevel: previous, applied, needsRestart };
    const msg =
      `SIGHUP: re-read ${configFile}: log-level ${now} (was ${previous})` +
      (applied.length > 0 ? `; applied ${applied.join(', ')}` : '') +
      (needsRestart.length > 0 ? `; ${needsRestart.join(', ')} changed: a restart applies that` : '');
    // Logged under whichever of the two levels shows it.
    if (logger.isLevelEnabled('info')) {
      logger.info(fields, msg);
      logger.level = now;
    } else {
      logger.level = now;
      logger.info(fields, msg);
    }
    this.config = next;
  }
}

/**
 * Serves until SIGINT or SIGTERM (a second one exits at once), then closes the daemon; SIGHUP
 * calls `reload`. The exit status: 0, or 1 when the shutdown failed.
 */
function runUntilSignal(
  daemon: Daemon,
  logger: DaemonLogger,
  errorFields: ErrorFields,
  reload: () => void,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ event: 'signal', signal }, `${signal} again: exiting now`);
        process.exit(130);
      }
      stopping = true;
      logger.info({ event: 'signal', signal }, `${signal}: shutting down`);
      daemon.close().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error(
            { event: 'error', error: errorFields(err, true) },
            `shutdown failed: ${(err as Error).message}`,
          );
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('SIGHUP', () => {
      if (!stopping) reload();
    });
  });
}
