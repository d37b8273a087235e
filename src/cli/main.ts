/**
 * `dnet`: the daemon (`dnet daemon`) and its client commands (`dnet network ...`, `dnet sandbox
 * ...`, `dnet version`). Global options come before the command. Exit status: 0 success, 1 an
 * error from (or reaching) the daemon, 2 a command line that cannot be used.
 */
import { createInterface } from 'node:readline/promises';
import { API_VERSION } from '../daemon/api/context.ts';
import { DNET_VERSION } from '../daemon/daemon.ts';
import { UsageError } from './args.ts';
import { Client, ConnectionError, DEFAULT_HOST, parseHost } from './client.ts';
import { cniCommand } from './cni.ts';
import { daemonCommand } from './daemon.ts';
import { networkCommand, reportError } from './network.ts';
import { type Io, json } from './output.ts';
import { sandboxCommand } from './sandbox.ts';

const USAGE = `Usage: dnet [OPTIONS] COMMAND

The Container Network Model daemon and its client

Commands:
  cni         Install the CNI plugin of type dnet
  daemon      Run the daemon
  network     Manage networks
  sandbox     Manage sandboxes
  version     Show the dnet version information

Global options:
  -H, --host string   Daemon to talk to: unix:///path or tcp://addr:port
                      (default $DNET_HOST, else ${DEFAULT_HOST})
  -h, --help          Print usage
  -v, --version       Print version information and quit

Run 'dnet COMMAND --help' for more information on a command.
`;

const VERSION_USAGE = `Usage: dnet version [OPTIONS]

Show the dnet version information (the client's, and the daemon's if it answers)

Options:
      --format string   table (default) or json
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
  if (fmt !== 'table' && fmt !== 'json') {
    throw new UsageError(`unsupported --format ${JSON.stringify(fmt)}: use table or json`, VERSION_USAGE);
  }
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
  if (fmt === 'json') {
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
  if (failure !== undefined) return reportError(io, failure);
  return 0;
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let host: string | undefined;
  let i = 0;
  try {
    for (; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '-H' || a === '--host') {
        host = argv[++i];
        if (host === undefined) throw new UsageError(`option ${a} needs a value`, USAGE);
      } else if (a.startsWith('--host=')) host = a.slice('--host='.length);
      else if (a === '-v' || a === '--version') {
        io.out(`dnet ${DNET_VERSION}\n`);
        return 0;
      } else if (a === '-h' || a === '--help') {
        io.out(USAGE);
        return 0;
      } else if (a.startsWith('-')) throw new UsageError(`unknown option ${JSON.stringify(a)}`, USAGE);
      else break;
    }
    const [cmd, ...rest] = argv.slice(i);
    const target = host ?? io.env.DNET_HOST ?? DEFAULT_HOST;
    const client = (): Client => {
      try {
        parseHost(target);
      } catch (err) {
        throw new UsageError((err as Error).message, USAGE);
      }
      return new Client(target);
    };
    switch (cmd) {
      case 'cni':
        return await cniCommand(io, rest);
      case 'daemon':
        return await daemonCommand(io, rest);
      case 'network':
        return await networkCommand(client, io, rest);
      case 'sandbox':
        return await sandboxCommand(client, io, rest);
      case 'version':
        return await version(client(), io, rest);
      case undefined:
      case 'help':
        io.out(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`, USAGE);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`dnet: ${err.message}\n\n${err.usage}`);
      return 2;
    }
    if (err instanceof ConnectionError) {
      io.err(`${err.message}\n`);
      return 1;
    }
    io.err(`dnet: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
