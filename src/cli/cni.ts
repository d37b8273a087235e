/** `dnet cni install`: puts the CNI plugin of type `dnet` where a container runtime looks for plugins. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
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

Writes DIR/dnet, the launcher (a small C program: it forwards each call to the daemon), and
DIR/dnet-node, the Node plugin (the launcher runs it for tcp:// hosts). Without a C compiler or
with --node, DIR/dnet is the Node plugin itself (slower to start: about 100 ms per call).

Options:
      --bin-dir string   The CNI plugin directory (default /opt/cni/bin)
      --node             Install the Node plugin as dnet, not the launcher
`;

/** The plugin's entry file in this installation (run through tsx, as bin/dnet.js). */
export const CNI_ENTRY = fileURLToPath(new URL('../../bin/dnet-cni.js', import.meta.url));
/** The plugin's entry beside this module: src/cni/run.ts in a checkout, dist/cni/run.js when built. */
const CNI_RUN = fileURLToPath(
  new URL(`../cni/run.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url),
);
/** This CLI runs compiled (the package's dist/): the plugin is plain JavaScript already. */
const COMPILED = !import.meta.url.endsWith('.ts');
/** The launcher's C source: src/cni/launcher/ in a checkout, its copy in dist/cni/launcher/ when built. */
export const LAUNCHER_SOURCE = fileURLToPath(new URL('../cni/launcher/dnet-cni.c', import.meta.url));
/** The launcher `make build` compiled (dist/cni/launcher/dnet-cni), from a checkout or the package. */
export const LAUNCHER_BUILT = fileURLToPath(
  new URL(`${COMPILED ? '../' : '../../dist/'}cni/launcher/dnet-cni`, import.meta.url),
);

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

/**
 * Writes the launcher to `target`: a copy of make build's binary when it is there and not older
 * than its source, else compiled with the system cc (not a hot path: once per install). Returns
 * why not when it can do neither (no cc, or cc failed): the caller installs the Node plugin.
 */
export function writeLauncher(
  target: string,
  built: string = LAUNCHER_BUILT,
  cc: string = process.env.CC || 'cc',
): string | undefined {
  const srcTime = existsSync(LAUNCHER_SOURCE) ? statSync(LAUNCHER_SOURCE).mtimeMs : 0;
  if (existsSync(built) && statSync(built).mtimeMs >= srcTime) {
    copyFileSync(built, target);
    return undefined;
  }
  if (srcTime === 0) return `neither ${built} nor its source ${LAUNCHER_SOURCE} is there`;
  // Linked statically when the C library allows it: no dynamic loader at each exec (~0.15 ms).
  const compile = (link: string[]) =>
    spawnSync(cc, ['-O2', '-Wall', ...link, '-o', target, LAUNCHER_SOURCE], { encoding: 'utf8' });
  let r = compile(['-static']);
  if (!r.error && r.status !== 0) r = compile([]);
  if (r.error) return `no C compiler (${cc}: ${r.error.message})`;
  if (r.status !== 0) return `${cc} failed: ${r.stderr.trim().split('\n').slice(0, 3).join(' ')}`;
  return undefined;
}

/** The Node plugin's text: a launcher of dist/cni/run.js, one bundled file, or tsx on the sources. */
async function nodePlugin(): Promise<string> {
  // Compiled (the package): a launcher running dist/cni/run.js, plain JavaScript that loads only
  // the plugin's modules and the HTTP client. From the sources: one bundled file when esbuild is
  // there, else a launcher running the sources through tsx.
  return COMPILED ? launcherScript(process.execPath, CNI_RUN) : ((await bundledPlugin()) ?? launcherScript());
}

/** Writes a file beside `target` and renames it over: a runtime running it meanwhile sees one or the other. */
async function replace(target: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await write(tmp);
    await chmod(tmp, 0o755);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function install(io: Io, args: string[]): Promise<number> {
  const p = parse(args, { 'bin-dir': { type: 'string' }, node: { type: 'boolean' } }, INSTALL_USAGE);
  if (flag(p, 'help')) {
    io.out(INSTALL_USAGE);
    return 0;
  }
  positionals(p, 0, INSTALL_USAGE, 'cni install');
  const dir = str(p, 'bin-dir') ?? '/opt/cni/bin';
  await mkdir(dir, { recursive: true });
  const target = join(dir, 'dnet');
  const text = await nodePlugin();
  await replace(join(dir, 'dnet-node'), (tmp) => writeFile(tmp, text));
  let why: string | undefined = flag(p, 'node') ? '--node' : undefined;
  if (!why) {
    await replace(target, async (tmp) => {
      why = writeLauncher(tmp);
      if (why) await writeFile(tmp, text);
    });
  } else await replace(target, (tmp) => writeFile(tmp, text));
  if (why && why !== '--node') io.err(`dnet cni install: the Node plugin is installed as dnet: ${why}\n`);
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
