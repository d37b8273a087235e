/** `dnet daemon`: runs the daemon until SIGINT or SIGTERM, then shuts down gracefully. */
import { DEFAULT_DATA_DIR, DEFAULT_RUN_DIR, startDaemon } from '../daemon/daemon.ts';
import { createLogger, DEFAULT_LOG_LEVEL, errorFields, isLogLevel, LOG_LEVELS } from '../daemon/log.ts';
import { DEFAULT_PLUGIN_SOCKET } from '../daemon/plugin/server.ts';
import { flag, parse, positionals, str, strs, UsageError } from './args.ts';
import { help } from './network.ts';
import type { Io } from './output.ts';

export const DAEMON_USAGE = `Usage: dnet daemon [OPTIONS]

Run the dnet daemon: Docker's network API (and dnet's sandbox API) on a unix socket

Options:
      --data-dir string   Persistent state (default "${DEFAULT_DATA_DIR}")
  -H, --host string       Address to serve: unix:///path or tcp://addr:port (repeatable;
                          default unix://<run-dir>/dnet.sock)
      --log-level string  ${LOG_LEVELS.join(', ')} (default "${DEFAULT_LOG_LEVEL}")
      --plugin-socket string
                          Serve Docker's network and IPAM plugin protocols (driver "dnet") on
                          this unix socket; '' turns it off (default "${DEFAULT_PLUGIN_SOCKET}")
      --run-dir string    Sandboxes' namespaces and files, and the default socket (default "${DEFAULT_RUN_DIR}")

The default bridge network ("bridge", Linux bridge dnet0), "host" and "none" are created at start.
SIGINT or SIGTERM stop it: requests in flight finish; containers keep their network.
Logs are JSON lines on stderr: start, each API request (with its X-Request-Id), stop.
`;

export async function daemonCommand(io: Io, args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      'data-dir': { type: 'string' },
      'run-dir': { type: 'string' },
      host: { type: 'string', short: 'H', multiple: true },
      'log-level': { type: 'string' },
      'plugin-socket': { type: 'string' },
    },
    DAEMON_USAGE,
  );
  if (flag(p, 'help')) return help(io, DAEMON_USAGE);
  positionals(p, 0, DAEMON_USAGE, 'daemon');
  const runDir = str(p, 'run-dir');
  const dataDir = str(p, 'data-dir');
  const level = str(p, 'log-level') ?? DEFAULT_LOG_LEVEL;
  if (!isLogLevel(level)) {
    throw new UsageError(
      `invalid --log-level ${JSON.stringify(level)}: use one of ${LOG_LEVELS.join(', ')}`,
      DAEMON_USAGE,
    );
  }
  const logger = createLogger({ level, sink: (line) => io.err(`${line}\n`) });
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon({
      ...(runDir ? { runDir } : {}),
      ...(dataDir ? { dataDir } : {}),
      hosts: strs(p, 'host'),
      pluginSocket: str(p, 'plugin-socket') ?? DEFAULT_PLUGIN_SOCKET,
      logger,
    });
  } catch (err) {
    logger.fatal({ event: 'error', error: errorFields(err) }, `cannot start: ${(err as Error).message}`);
    return 1;
  }
  const code = await new Promise<number>((resolve) => {
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
  });
  // Whatever handle might still hold the event loop must not keep a stopped daemon alive.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}
