/**
 * The CNI plugin executable's entry (`dnet cni install` puts a launcher for it in the runtime's
 * plugin directory, named `dnet` after the plugin type). It loads only the plugin's own modules
 * and the small HTTP client: no daemon, store, FFI or logger, so it starts fast.
 */
import { runCni } from './plugin.ts';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function main(): Promise<number> {
  if (!process.env.CNI_COMMAND) process.stderr.write('CNI plugin dnet (a client of the dnet daemon)\n');
  const out = await runCni(process.env, await readStdin());
  if (out.stdout) process.stdout.write(`${out.stdout}\n`);
  return out.exitCode;
}
