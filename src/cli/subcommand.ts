/** Running a command group's subcommands (`dnet network ls`, `dnet sandbox rm`) and printing help. */
import { UsageError } from './args.ts';
import type { Client } from './client.ts';
import type { Io } from './output.ts';

/** One subcommand: its arguments are those after its name. */
export type Subcommand = (client: Client, io: Io, args: string[]) => Promise<number>;

/** Prints a usage text; exit status 0. */
export function help(io: Io, usage: string): number {
  io.out(usage);
  return 0;
}

/**
 * Runs the subcommand `args[0]` names in `commands` (an alias is one more key). No subcommand,
 * `help`, `--help` or `-h` prints `usage`; an unknown one is a UsageError. The client is made only
 * for a subcommand that runs.
 */
export async function runSubcommand(
  group: string,
  commands: Readonly<Record<string, Subcommand>>,
  usage: string,
  client: () => Client,
  io: Io,
  args: string[],
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    return help(io, usage);
  }
  const run = Object.hasOwn(commands, sub) ? commands[sub] : undefined;
  if (run === undefined) throw new UsageError(`unknown command "${group} ${sub}"`, usage);
  return run(client(), io, rest);
}
