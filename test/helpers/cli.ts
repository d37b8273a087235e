/** The dnet CLI as the kernel tests drive it: main() in this process, or a program run to its end. */
import { execFile } from 'node:child_process';
import { main } from '../../src/cli/main.ts';
import type { Io } from '../../src/cli/output.ts';

/** A finished command: exit status and what it printed. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs `dnet <args>` through main() in this process, with `env` as its environment; a prompt is
 * printed on stderr and reads `answer`.
 */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; answer?: string } = {},
): Promise<CliRun> {
  let out = '';
  let err = '';
  const io: Io = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    env: opts.env ?? {},
    readLine: async (prompt) => {
      err += prompt;
      return opts.answer;
    },
  };
  const code = await main(args, io);
  return { code, out, err };
}

/** Runs a program to its end (30 s at most): its exit status (-1 when killed), stdout and stderr. */
export function runProgram(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { ...(opts.cwd ? { cwd: opts.cwd } : {}), env: { ...process.env, ...opts.env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({ code: error ? (typeof code === 'number' ? code : -1) : 0, out: stdout, err: stderr });
      },
    );
  });
}
