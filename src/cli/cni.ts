/** `dnet cni install`: puts the CNI plugin of type `dnet` where a container runtime looks for plugins. */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag, parse, positionals, str, UsageError } from './args.ts';
import type { Io } from './output.ts';

export const CNI_USAGE = `Usage: dnet cni COMMAND

The CNI plugin of type "dnet" (containerd, CRI-O, podman's CNI backend, nerdctl)

Commands:
  install     Write the plugin (a small launcher named dnet) into the runtime's plugin directory
`;

const INSTALL_USAGE = `Usage: dnet cni install [OPTIONS]

Write the CNI plugin launcher named dnet into the runtime's plugin directory

Options:
      --bin-dir string   The CNI plugin directory (default /opt/cni/bin)
`;

/** The plugin's entry file in this installation (run through tsx, as bin/dnet.js). */
export const CNI_ENTRY = fileURLToPath(new URL('../../bin/dnet-cni.js', import.meta.url));
/** The plugin's entry beside this module: src/cni/run.ts in a checkout, dist/cni/run.js when built. */
const CNI_RUN = fileURLToPath(
  new URL(`../cni/run.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url),
);
/** This CLI runs compiled (the package's dist/): the plugin is plain JavaScript already. */
const COMPILED = !import.meta.url.endsWith('.ts');

const shQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * The plugin as one plain JavaScript file (CommonJS, ~20 kB, `#!` node): its own modules and the
 * small HTTP client only, so it starts as fast as node itself (no TypeScript loader at run time).
 * Undefined when esbuild (tsx's compiler) is not installed.
 */
export async function bundledPlugin(node: string = process.execPath): Promise<string | undefined> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    return undefined;
  }
  const r = await esbuild.build({
    entryPoints: [CNI_RUN],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    // src/version.ts reads ../package.json beside itself: give it its own URL in the bundle.
    define: { 'import.meta.url': JSON.stringify(new URL('../version.ts', import.meta.url).href) },
    banner: { js: `#!${node}\n// The CNI plugin of type "dnet", written by \`dnet cni install\`.` },
  });
  return r.outputFiles[0]?.text;
}

/** The launcher: one exec of node on the plugin's entry (the runtime gives env and stdin). */
export function launcherScript(node: string = process.execPath, entry: string = CNI_ENTRY): string {
  return `#!/bin/sh\n# The CNI plugin of type "dnet", written by \`dnet cni install\`.\nexec ${shQuote(node)} ${shQuote(entry)} "$@"\n`;
}

async function install(io: Io, args: string[]): Promise<number> {
  const p = parse(args, { 'bin-dir': { type: 'string' } }, INSTALL_USAGE);
  if (flag(p, 'help')) {
    io.out(INSTALL_USAGE);
    return 0;
  }
  positionals(p, 0, INSTALL_USAGE, 'cni install');
  const dir = str(p, 'bin-dir') ?? '/opt/cni/bin';
  await mkdir(dir, { recursive: true });
  const target = join(dir, 'dnet');
  // Written beside and renamed over: a runtime running the plugin meanwhile sees one or the other.
  const tmp = `${target}.tmp-${process.pid}`;
  // Compiled (the package): a launcher running dist/cni/run.js, plain JavaScript that loads only
  // the plugin's modules and the HTTP client. From the sources: one bundled file when esbuild is
  // there, else a launcher running the sources through tsx.
  const text = COMPILED
    ? launcherScript(process.execPath, CNI_RUN)
    : ((await bundledPlugin()) ?? launcherScript());
  await writeFile(tmp, text);
  await chmod(tmp, 0o755);
  await rename(tmp, target);
  io.out(`${target}\n`);
  return 0;
}

export async function cniCommand(io: Io, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'install':
      return install(io, rest);
    case undefined:
    case '--help':
    case '-h':
      io.out(CNI_USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "cni ${sub}"`, CNI_USAGE);
  }
}
