/** `dnet daemon`: runs the daemon until SIGINT or SIGTERM, then shuts down gracefully. */
import { DEFAULT_DATA_DIR, DEFAULT_RUN_DIR, DNET_VERSION, startDaemon } from '../daemon/daemon.ts';
import { flag, parse, positionals, str, strs } from './args.ts';
import { help } from './network.ts';
import type { Io } from './output.ts';

export const DAEMON_USAGE = `Usage: dnet daemon [OPTIONS]

Run the dnet daemon: Docker's network API (and dnet's sandbox API) on a unix socket

Options:
      --data-dir string   Persistent state (default "${DEFAULT_DATA_DIR}")
  -H, --host string       Address to serve: unix:///path or tcp://addr:port (repeatable;
                          default unix://<run-dir>/dnet.sock)
      --run-dir string    Sandboxes' namespaces and files, and the default socket (default "${DEFAULT_RUN_DIR}")

The default bridge network ("bridge", Linux bridge dnet0), "host" and "none" are created at start.
SIGINT or SIGTERM stop it: requests in flight finish; containers keep their network.
`;

export async function daemonCommand(io: Io, args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      'data-dir': { type: 'string' },
      'run-dir': { type: 'string' },
      host: { type: 'string', short: 'H', multiple: true },
    },
    DAEMON_USAGE,
  );
  if (flag(p, 'help')) return help(io, DAEMON_USAGE);
  positionals(p, 0, DAEMON_USAGE, 'daemon');
  const runDir = str(p, 'run-dir');
  const dataDir = str(p, 'data-dir');
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon({
      ...(runDir ? { runDir } : {}),
      ...(dataDir ? { dataDir } : {}),
      hosts: strs(p, 'host'),
      log: (line) => io.err(`${line}\n`),
    });
  } catch (err) {
    io.err(`dnet daemon: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  io.err(`dnet daemon ${DNET_VERSION}: listening on ${daemon.hosts.join(', ')}\n`);
  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        io.err(`dnet daemon: ${signal} again: exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      io.err(`dnet daemon: ${signal}: shutting down\n`);
      daemon.close().then(
        () => resolve(0),
        (err: unknown) => {
          io.err(`dnet daemon: shutdown failed: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  io.err('dnet daemon: stopped\n');
  // Whatever handle might still hold the event loop must not keep a stopped daemon alive.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}
