/**
 * A CNI runtime's side, for the kernel tests of the `dnet` plugin (cni-spec, cni-del): a `dnet
 * daemon` child process (so it can be stopped or killed with SIGKILL), the plugin as `dnet cni
 * install` writes it, executed with the CNI_* environment and the config on stdin, and the
 * namespaces a runtime makes (`ip netns add`). Import test/harness/world.ts first.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { main as dnetMain } from '../../src/cli/main.ts';
import { world } from '../harness/world.ts';
import { call, waitForPing } from './http.ts';

export const SOCK = '/run/dnet/dnet.sock';
/** Where the plugin was installed (install()). */
export const installed = { binDir: '', plugin: '' };
const DATA = join(world.runDir, 'data');
export const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
let daemon: ChildProcess | undefined;

/** The running daemon (a child process). */
export const daemonProcess = (): ChildProcess | undefined => daemon;

export async function startDnet(): Promise<void> {
  const d = spawn(process.execPath, [join(world.root, 'bin/dnet.js'), 'daemon', '--data-dir', DATA], {
    cwd: world.root,
    stdio: ['ignore', 'ignore', process.env.DNET_TEST_DEBUG ? 'inherit' : 'ignore'],
  });
  daemon = d;
  await waitForPing(SOCK);
}

export function killDnet(): Promise<void> {
  const d = daemon;
  daemon = undefined;
  if (!d || d.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    d.once('exit', () => resolve());
    d.kill('SIGKILL');
  });
}

export interface Run {
  code: number;
  out: unknown;
  raw: string;
}

/** One plugin execution, as a runtime does it. */
export function cni(command: string, env: Record<string, string>, config: unknown): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(installed.plugin, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        CNI_COMMAND: command,
        CNI_PATH: installed.binDir,
        ...env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let raw = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      raw += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    child.on('error', reject);
    // 'close', not 'exit': the process can be gone before its stdout has been read (the C launcher
    // exits fast enough for that to happen; the result then looked empty).
    child.on('close', (code) => {
      let out: unknown;
      try {
        out = raw.trim() ? JSON.parse(raw) : undefined;
      } catch {
        reject(new Error(`plugin printed no JSON: ${raw} ${err}`));
        return;
      }
      resolve({ code: code ?? -1, out, raw: raw + err });
    });
    child.stdin.end(typeof config === 'string' ? config : JSON.stringify(config));
  });
}

export const conf = (v: string, extra: Record<string, unknown> = {}) => ({
  cniVersion: v,
  name: 'dn',
  type: 'dnet',
  network: 'dn',
  ...extra,
});

let nsCount = 0;
const made = new Set<string>();
export function netnsAdd(): { name: string; path: string } {
  const name = `cni-t${++nsCount}`;
  execFileSync('ip', ['netns', 'add', name]);
  made.add(name);
  return { name, path: `/run/netns/${name}` };
}
export function netnsDel(name: string): void {
  execFileSync('ip', ['netns', 'del', name]);
  made.delete(name);
}
/** Deletes the namespaces the test made and has not deleted. */
export function netnsCleanup(): void {
  for (const n of [...made]) netnsDel(n);
}
export const ipIn = (ns: string, ...args: string[]) =>
  execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
export const hostLinks = () => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });

export interface Attachment {
  ContainerID: string;
  IfName: string;
  HostInterface: string;
  IPs: { Address: string }[];
  PortMappings: { HostPort: number }[];
}
export async function attachments(): Promise<Attachment[]> {
  return (await call(SOCK, 'GET', '/attachments?network=dn')).json as Attachment[];
}
export async function inspectContainers(): Promise<Record<string, { IPv4Address: string }>> {
  const r = await call(SOCK, 'GET', '/networks/dn');
  return (r.json as { Containers: Record<string, { IPv4Address: string }> }).Containers;
}
/** The published-port map elements dnet's inet table holds (nft -j: the host ports in them). */
export function publishedHostPorts(): number[] {
  const out = execFileSync('nft', ['-j', 'list', 'table', 'inet', 'dnet'], { encoding: 'utf8' });
  const rs = JSON.parse(out) as { nftables: { map?: { name: string; elem?: unknown[] } }[] };
  const ports: number[] = [];
  for (const o of rs.nftables) {
    if (!o.map?.name.startsWith('pub') || !o.map.name.endsWith('_addr')) continue;
    for (const e of o.map.elem ?? []) {
      const key = (e as unknown[])[0] as { concat?: unknown[] };
      const last = key.concat?.at(-1);
      if (typeof last === 'number') ports.push(last);
    }
  }
  return ports.sort((a, b) => a - b);
}

export const cid = (n: number) => n.toString(16).padStart(64, 'c');

/** The plugin as a user installs it (`--node`: the Node plugin as dnet). */
export async function install(dir: string, node: boolean): Promise<void> {
  let out = '';
  let err = '';
  const code = await dnetMain(['cni', 'install', '--bin-dir', dir, ...(node ? ['--node'] : [])], {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    env: {},
    readLine: async () => undefined,
  });
  assert.equal(code, 0, out + err);
  assert.equal(err, '', 'no fallback to the Node plugin (a C compiler is there)');
  installed.binDir = dir;
  installed.plugin = join(dir, 'dnet');
  assert.equal(out.trim(), installed.plugin);
}

/** Waits until `ok()` holds (polled every 50 ms), or fails naming `what`. */
export async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
