/**
 * Docker plugin discovery (moby pkg/plugins, "legacy" v1 plugins), by name, in Docker's order:
 *
 * 1. a unix socket `<socket dir>/<name>.sock` or `<socket dir>/<name>/<name>.sock`
 *    (default socket dir: `/run/docker/plugins`);
 * 2. a spec file in each spec dir (default `/etc/docker/plugins`, then `/usr/lib/docker/plugins`):
 *    `<name>.spec` or `<name>/<name>.spec` holds one URL (`unix:///path` or `tcp://host:port`;
 *    `https://host:port` is TCP with TLS); `<name>.json` or `<name>/<name>.json` holds
 *    `{"Name", "Addr", "TLSConfig": {"InsecureSkipVerify", "CAFile", "CertFile", "KeyFile"}}`.
 *
 * TLS: dockerd builds a TLS config for every spec-file plugin but only uses it for `https://`
 * addresses, so a `tcp://` plugin is plain HTTP there. Here a `tcp://` address is TLS when its .json
 * file names a CA, a certificate or a key (the file asks for TLS), plain HTTP otherwise; `https://`
 * is always TLS. As in dockerd, no CAFile means the server's certificate is not verified.
 *
 * Names with a `/` are never looked up (they would leave the plugin directories).
 */
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { PluginSpecError } from './errors.ts';

export interface PluginDirs {
  /** Directories searched for `<name>.sock` and `<name>/<name>.sock`. */
  sockets: string[];
  /** Directories searched for `<name>.spec`/`.json` and `<name>/<name>.spec`/`.json`, in order. */
  specs: string[];
}

export const DEFAULT_PLUGIN_DIRS: Readonly<PluginDirs> = Object.freeze({
  sockets: ['/run/docker/plugins'],
  specs: ['/etc/docker/plugins', '/usr/lib/docker/plugins'],
});

export interface PluginTls {
  /** Do not verify the server's certificate (dockerd's default when no CAFile is given). */
  insecureSkipVerify: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Where a plugin listens, as discovery found it. */
export type PluginAddress =
  | { kind: 'unix'; name: string; socketPath: string; source: string }
  | { kind: 'tcp'; name: string; host: string; port: number; tls?: PluginTls; source: string };

/** The address as a URL, for messages (`unix:///run/docker/plugins/x.sock`, `tcp://h:1`, `https://h:1`). */
export function addressUrl(a: PluginAddress): string {
  if (a.kind === 'unix') return `unix://${a.socketPath}`;
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.tls ? 'https' : 'tcp'}://${host}:${a.port}`;
}

/** Plugin names that can be looked up: one path component, no NUL, not `.`/`..`. */
export function isDiscoverableName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= 255 &&
    !name.includes('/') &&
    !name.includes('\0') &&
    name !== '.' &&
    name !== '..'
  );
}

const candidates = (dir: string, name: string, ext: string): string[] => [
  join(dir, `${name}${ext}`),
  join(dir, name, `${name}${ext}`),
];

async function kindOf(path: string): Promise<'socket' | 'file' | undefined> {
  try {
    const st = await stat(path);
    if (st.isSocket()) return 'socket';
    if (st.isFile()) return 'file';
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finds a plugin by name. `undefined` when no socket or spec file has that name; a spec file that
 * exists but cannot be used throws PluginSpecError.
 */
export async function findPlugin(
  name: string,
  dirs: PluginDirs = DEFAULT_PLUGIN_DIRS,
): Promise<PluginAddress | undefined> {
  if (!isDiscoverableName(name)) return undefined;
  for (const dir of dirs.sockets) {
    for (const p of candidates(dir, name, '.sock')) {
      if ((await kindOf(p)) === 'socket') return { kind: 'unix', name, socketPath: p, source: p };
    }
  }
  for (const dir of dirs.specs) {
    for (const p of [...candidates(dir, name, '.spec'), ...candidates(dir, name, '.json')]) {
      if ((await kindOf(p)) !== 'file') continue;
      return p.endsWith('.json') ? readJsonSpec(name, p) : readTextSpec(name, p);
    }
  }
  return undefined;
}

async function readSpec(name: string, file: string): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    if (text.length > 64 * 1024) throw new PluginSpecError(name, file, 'larger than 64 KiB');
    return text;
  } catch (err) {
    if (err instanceof PluginSpecError) throw err;
    throw new PluginSpecError(name, file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

async function readTextSpec(name: string, file: string): Promise<PluginAddress> {
  const url = (await readSpec(name, file)).trim();
  return parseAddress(name, file, url, undefined);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readJsonSpec(name: string, file: string): Promise<PluginAddress> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readSpec(name, file));
  } catch (err) {
    if (err instanceof PluginSpecError) throw err;
    throw new PluginSpecError(name, file, `not JSON (${(err as Error).message})`);
  }
  if (!isObj(doc)) throw new PluginSpecError(name, file, 'expected a JSON object');
  const addr = doc.Addr;
  if (typeof addr !== 'string' || addr.trim() === '')
    throw new PluginSpecError(name, file, '"Addr" must be a non-empty string');
  const tlsIn = doc.TLSConfig;
  let tls: PluginTls | undefined;
  if (tlsIn !== undefined && tlsIn !== null) {
    if (!isObj(tlsIn)) throw new PluginSpecError(name, file, '"TLSConfig" must be an object');
    const str = (k: string): string | undefined => {
      const v = tlsIn[k];
      if (v === undefined || v === null || v === '') return undefined;
      if (typeof v !== 'string') throw new PluginSpecError(name, file, `"TLSConfig.${k}" must be a string`);
      if (!isAbsolute(v)) throw new PluginSpecError(name, file, `"TLSConfig.${k}" must be an absolute path`);
      return v;
    };
    const skip = tlsIn.InsecureSkipVerify;
    if (skip !== undefined && typeof skip !== 'boolean')
      throw new PluginSpecError(name, file, '"TLSConfig.InsecureSkipVerify" must be a boolean');
    const caFile = str('CAFile');
    const certFile = str('CertFile');
    const keyFile = str('KeyFile');
    if ((certFile === undefined) !== (keyFile === undefined))
      throw new PluginSpecError(name, file, '"TLSConfig" needs both CertFile and KeyFile, or neither');
    if (caFile || certFile) {
      tls = {
        // dockerd: without a CA there is nothing to verify against, so the check is skipped.
        insecureSkipVerify: caFile === undefined ? true : skip === true,
        ...(caFile ? { caFile } : {}),
        ...(certFile ? { certFile } : {}),
        ...(keyFile ? { keyFile } : {}),
      };
    }
  }
  return parseAddress(name, file, addr.trim(), tls);
}

function parseAddress(name: string, file: string, url: string, tls: PluginTls | undefined): PluginAddress {
  if (url === '') throw new PluginSpecError(name, file, 'it is empty');
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url);
  if (!m)
    throw new PluginSpecError(
      name,
      file,
      `${JSON.stringify(url)} is not a URL (unix:///path or tcp://host:port)`,
    );
  const scheme = (m[1] ?? '').toLowerCase();
  const rest = m[2] ?? '';
  if (scheme === 'unix') {
    if (!isAbsolute(rest))
      throw new PluginSpecError(name, file, `unix socket path ${JSON.stringify(rest)} is not absolute`);
    if (tls) throw new PluginSpecError(name, file, 'TLS is for tcp:// addresses, not unix sockets');
    return { kind: 'unix', name, socketPath: rest, source: file };
  }
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') {
    throw new PluginSpecError(
      name,
      file,
      `unsupported scheme ${JSON.stringify(scheme)} (use unix:// or tcp://)`,
    );
  }
  const hostPort = rest.replace(/\/$/, '');
  if (/[/?#@\s]/.test(hostPort)) {
    throw new PluginSpecError(name, file, `${JSON.stringify(url)}: expected host:port only`);
  }
  const portText = /:(\d+)$/.exec(hostPort)?.[1];
  if (portText === undefined) throw new PluginSpecError(name, file, `${JSON.stringify(url)} has no port`);
  const port = Number(portText);
  if (!(port >= 1 && port <= 65535))
    throw new PluginSpecError(name, file, `port ${portText} is out of range`);
  let u: URL;
  try {
    u = new URL(`http://${hostPort}`);
  } catch {
    throw new PluginSpecError(name, file, `${JSON.stringify(url)} has no valid host:port`);
  }
  if (u.pathname !== '/' || u.search !== '' || u.username !== '' || u.hostname === '') {
    throw new PluginSpecError(name, file, `${JSON.stringify(url)}: expected host:port only`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const useTls = scheme === 'https' ? (tls ?? { insecureSkipVerify: true }) : tls;
  return { kind: 'tcp', name, host, port, ...(useTls ? { tls: useTls } : {}), source: file };
}
