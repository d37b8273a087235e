/**
 * `dnet`: the daemon (`dnet daemon`) and its client commands (`dnet network ...`, `dnet sandbox
 * ...`, `dnet version`). Global options come before the command. Exit status: 0 success, 1 an
 * error from (or reaching) the daemon, 2 a command line that cannot be used.
 */
import { createInterface } from 'node:readline/promises';
import { API_VERSION, DNET_VERSION } from '../version.ts';
import { UsageError } from './args.ts';
import { Client, ConnectionError, DEFAULT_HOST, parseHost } from './client.ts';
import { type Io, json } from './output.ts';
import { clientTls, TlsConfigError, type TlsFlags } from './tls.ts';

const USAGE = `Usage: dnet [OPTIONS] COMMAND

The Container Network Model daemon and its client

Commands:
  cni         Install the CNI plugin of type dnet
  completion  Print a shell completion script (bash, zsh)
  daemon      Run the daemon
  events      Get real time events from the daemon
  info        Display system-wide information (the network settings in effect)
  network     Manage networks
  sandbox     Manage sandboxes
  version     Show the dnet version information

Global options:
  -H, --host string        Daemon to talk to: unix:///path or tcp://addr:port
                           (default $DNET_HOST, else ${DEFAULT_HOST})
  -h, --help               Print usage
      --tls                Use TLS with a tcp:// host; implied by --tlsverify
      --tlscacert string   Trust certificates signed only by this CA (default "$DNET_CERT_PATH/ca.pem")
      --tlscert string     TLS certificate file (default "$DNET_CERT_PATH/cert.pem")
      --tlskey string      TLS key file (default "$DNET_CERT_PATH/key.pem")
      --tlsverify          Use TLS and verify the daemon (default: on when $DNET_TLS_VERIFY is set)
  -v, --version            Print version information and quit

$DNET_CERT_PATH defaults to ~/.dnet.

Run 'dnet COMMAND --help' for more information on a command.
`;

const VERSION_USAGE = `Usage: dnet version [OPTIONS]

Show the dnet version information (the client's, and the daemon's if it answers)

Options:
      --format string   table (default), json, or a Go template ('{{.Server.Version}}')
`;

const defaultIo: Io = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  env: process.env,
  async readLine(prompt) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(prompt);
    } catch {
      return undefined;
    } finally {
      rl.close();
    }
  },
};

interface ServerVersion {
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
}

async function version(client: Client, io: Io, args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(VERSION_USAGE);
    return 0;
  }
  let fmt = 'table';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--format') fmt = args[++i] ?? '';
    else if (a.startsWith('--format=')) fmt = a.slice('--format='.length);
    else throw new UsageError(`unknown option or argument ${JSON.stringify(a)}`, VERSION_USAGE);
  }
  // A Go template (loaded only when one is given): parsed before the daemon is asked.
  const template =
    fmt !== 'table' && fmt !== 'json'
      ? (await import('./format.ts')).parseFormat(fmt, 'table', VERSION_USAGE)
      : undefined;
  const clientInfo = {
    Version: DNET_VERSION,
    ApiVersion: API_VERSION,
    Node: process.version,
    Host: client.host,
  };
  let server: ServerVersion | undefined;
  let failure: unknown;
  try {
    server = await client.get<ServerVersion>('/version');
  } catch (err) {
    failure = err;
  }
  if (template) {
    const { renderInspect } = await import('./format.ts');
    try {
      io.out(renderInspect([{ Client: clientInfo, Server: server ?? null }], template));
    } catch (err) {
      return (await import('./report.ts')).reportError(io, err);
    }
  } else if (fmt === 'json') {
    io.out(json({ Client: clientInfo, Server: server ?? null }));
  } else {
    io.out(
      `Client:\n Version:      ${DNET_VERSION}\n API version:  ${API_VERSION}\n Node.js:      ${process.version}\n` +
        ` Host:         ${client.host}\n`,
    );
    if (server) {
      io.out(
        `\nServer:\n Version:      ${server.Version}\n` +
          ` API version:  ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n` +
          ` OS/Arch:      ${server.Os}/${server.Arch}\n Kernel:       ${server.KernelVersion}\n`,
      );
    }
  }
  if (failure instanceof ConnectionError) {
    io.err(`${failure.message}\n`);
    return 1;
  }
  if (failure !== undefined) return (await import('./report.ts')).reportError(io, failure);
  return 0;
}

/** What `dnet <argv>` prints on stdout: the help texts the completion script is generated from. */
async function helpOf(argv: string[]): Promise<string> {
  const parts: string[] = [];
  await main(argv, { ...defaultIo, out: (t) => void parts.push(t), err: () => {} });
  return parts.join('');
}

/**
 * The global flags before the command (`-H`, the TLS flags, `--version`, `--help`): where the
 * command starts and what the flags say, or the exit status when a flag was the whole call.
 */
function globalFlags(argv: string[], io: Io): { host?: string; tlsFlags: TlsFlags; next: number } | number {
  let host: string | undefined;
  const tlsFlags: TlsFlags = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    const tlsFile = /^--(tlscacert|tlscert|tlskey)(?:=(.*))?$/s.exec(a);
    if (a === '-H' || a === '--host') {
      host = argv[++i];
      if (host === undefined) throw new UsageError(`option ${a} needs a value`, USAGE);
    } else if (a.startsWith('--host=')) host = a.slice('--host='.length);
    else if (a === '--tls') tlsFlags.tls = true;
    else if (a === '--tlsverify') tlsFlags.tlsverify = true;
    else if (tlsFile) {
      const v = tlsFile[2] ?? argv[++i];
      if (v === undefined) throw new UsageError(`option ${a} needs a value`, USAGE);
      tlsFlags[tlsFile[1] as 'tlscacert' | 'tlscert' | 'tlskey'] = v;
    } else if (a === '-v' || a === '--version') {
      io.out(`dnet ${DNET_VERSION}\n`);
      return 0;
    } else if (a === '-h' || a === '--help') {
      io.out(USAGE);
      return 0;
    } else if (a.startsWith('-')) throw new UsageError(`unknown option ${JSON.stringify(a)}`, USAGE);
    else break;
  }
  return { ...(host !== undefined ? { host } : {}), tlsFlags, next: i };
}

/** A failed command's message on stderr; its exit status (2 for a usage error). */
function reportFailure(io: Io, err: unknown): number {
  if (err instanceof UsageError) {
    io.err(`dnet: ${err.message}\n\n${err.usage}`);
    return 2;
  }
  if (err instanceof ConnectionError) {
    io.err(`${err.message}\n`);
    return 1;
  }
  if (err instanceof TlsConfigError) {
    io.err(`dnet: ${err.message}\n`);
    return 1;
  }
  io.err(`dnet: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  try {
    const flags = globalFlags(argv, io);
    if (typeof flags === 'number') return flags;
    const { host, tlsFlags } = flags;
    const [cmd, ...rest] = argv.slice(flags.next);
    const target = host ?? io.env.DNET_HOST ?? DEFAULT_HOST;
    const client = (): Client => {
      try {
        parseHost(target);
      } catch (err) {
        throw new UsageError((err as Error).message, USAGE);
      }
      return new Client(
        target,
        undefined,
        target.startsWith('tcp://') ? clientTls(tlsFlags, io.env) : undefined,
      );
    };
    switch (cmd) {
      case 'cni':
        return await (await import('./cni.ts')).cniCommand(io, rest);
      case 'daemon':
        return await (await import('./daemon.ts')).daemonCommand(io, rest);
      // Each command's module is loaded when it runs: `dnet --help` and `dnet version` load
      // neither, and no client command loads the daemon (nor etcd3, lmdb, koffi or pino).
      case 'events':
        return await (await import('./events.ts')).eventsCommand(client, io, rest);
      case 'network':
        return await (await import('./network.ts')).networkCommand(client, io, rest);
      case 'sandbox':
        return await (await import('./sandbox.ts')).sandboxCommand(client, io, rest);
      case 'version':
        return await version(client(), io, rest);
      case 'info':
        return await (await import('./info.ts')).infoCommand(client(), io, rest);
      case 'completion':
        return await (await import('./completion.ts')).completionCommand(io, rest, helpOf);
      case undefined:
      case 'help':
        io.out(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`, USAGE);
    }
  } catch (err) {
    return reportFailure(io, err);
  }
}
