/**
 * What a runtime hands the plugin: the environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_ARGS, CNI_PATH) and the configuration on stdin, checked into one typed request.
 * Pure: no I/O.
 */
import { macProblem } from '../ip/mac.ts';
import { CNI_ERR, CniError } from './errors.ts';
import { type CniResult, isSupported, LATEST_VERSION } from './versions.ts';

export const VERBS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type Verb = (typeof VERBS)[number];

/** The default daemon socket (the config's `host`). */
export const DEFAULT_CNI_HOST = 'unix:///run/dnet/dnet.sock';

export interface PortMappingArg {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

export interface CniConfig {
  cniVersion: string;
  name: string;
  /** The dnet network to attach to. */
  network: string;
  host: string;
  portMappings: PortMappingArg[];
  ips: string[];
  mac?: string;
  prevResult?: CniResult;
  validAttachments?: { containerID: string; ifname: string }[];
}

export interface CniEnv {
  command: Verb;
  containerId: string;
  netns: string;
  ifName: string;
  args: Record<string, string>;
  path: string;
}

/** Which variables each verb needs (SPEC.md section 2). */
const REQUIRED: Record<Verb, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** CNI_ARGS keys dnet uses or knows to be harmless (CONVENTIONS.md). */
const KNOWN_ARGS = new Set([
  'IgnoreUnknown',
  'IP',
  'MAC',
  'K8S_POD_NAME',
  'K8S_POD_NAMESPACE',
  'K8S_POD_INFRA_CONTAINER_ID',
  'K8S_POD_UID',
]);

function invalidEnv(msg: string): CniError {
  return new CniError(CNI_ERR.invalidEnv, msg);
}

export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const command = env.CNI_COMMAND ?? '';
  if (command === '') throw invalidEnv('required env variables [CNI_COMMAND] missing');
  if (!(VERBS as readonly string[]).includes(command)) {
    throw invalidEnv(`unknown CNI_COMMAND: ${command} (expected one of ${VERBS.join(', ')})`);
  }
  const verb = command as Verb;
  const missing = REQUIRED[verb].filter((k) => !env[k]);
  if (missing.length > 0) throw invalidEnv(`required env variables [${missing.join(',')}] missing`);
  // As libcni's skel: the attachment's variables are only looked at by the verbs that use them
  // (libcni validates a config list by running VERSION with CNI_NETNS=dummy).
  if (verb === 'VERSION' || verb === 'GC' || verb === 'STATUS') {
    return { command: verb, containerId: '', netns: '', ifName: '', args: {}, path: env.CNI_PATH ?? '' };
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId !== '' && !CONTAINER_ID_RE.test(containerId)) {
    throw invalidEnv(
      `invalid CNI_CONTAINERID ${JSON.stringify(containerId)}: it must start with a letter or digit, ` +
        'followed by letters, digits, "_", "." or "-"',
    );
  }
  const ifName = env.CNI_IFNAME ?? '';
  if (ifName !== '') {
    const bad =
      Buffer.byteLength(ifName) > 15
        ? 'it is longer than 15 bytes'
        : ifName === '.' || ifName === '..'
          ? 'it cannot be "." or ".."'
          : /[/:\s]/.test(ifName)
            ? 'it cannot contain "/", ":" or whitespace'
            : undefined;
    if (bad) throw invalidEnv(`invalid CNI_IFNAME ${JSON.stringify(ifName)}: ${bad}`);
  }
  const netns = env.CNI_NETNS ?? '';
  if (netns !== '' && !netns.startsWith('/')) {
    throw invalidEnv(`invalid CNI_NETNS ${JSON.stringify(netns)}: expected an absolute path`);
  }
  const args: Record<string, string> = {};
  for (const pair of (env.CNI_ARGS ?? '').split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidEnv(`invalid CNI_ARGS pair ${JSON.stringify(pair)}: expected KEY=VALUE`);
    args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { command: verb, containerId, netns, ifName, args, path: env.CNI_PATH ?? '' };
}

function configError(msg: string): CniError {
  return new CniError(CNI_ERR.invalidConfig, msg);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parsePortMappings(v: unknown): PortMappingArg[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw configError('runtimeConfig.portMappings must be an array');
  return v.map((m, i) => {
    const at = `runtimeConfig.portMappings[${i}]`;
    if (!isObject(m)) throw configError(`${at} must be an object`);
    const port = (k: string, min: number): number => {
      const x = m[k] ?? 0;
      if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > 65535) {
        throw configError(`${at}.${k} must be a port number (${min}-65535), got ${JSON.stringify(m[k])}`);
      }
      return x;
    };
    const protocol = String(m.protocol ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
      throw configError(`${at}.protocol must be tcp, udp or sctp, got ${JSON.stringify(m.protocol)}`);
    }
    const hostIP = m.hostIP;
    if (hostIP !== undefined && hostIP !== '' && typeof hostIP !== 'string') {
      throw configError(`${at}.hostIP must be a string`);
    }
    return {
      hostPort: port('hostPort', 0),
      containerPort: port('containerPort', 1),
      protocol,
      ...(hostIP ? { hostIP } : {}),
    };
  });
}

/**
 * The network configuration from stdin. Code 6 when it is not JSON, 1 for an unsupported
 * cniVersion, 2 for a field dnet does not take (`ipam`: dnet allocates itself), 7 otherwise.
 */
export function parseConfig(stdin: string, env: CniEnv): CniConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CNI_ERR.decoding, `error decoding the network config: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new CniError(CNI_ERR.decoding, 'the network config must be a JSON object');
  const cniVersion = raw.cniVersion;
  if (typeof cniVersion !== 'string' || cniVersion === '') throw configError('cniVersion is required');
  if (!isSupported(cniVersion)) {
    throw new CniError(CNI_ERR.incompatibleVersion, 'incompatible CNI versions', `config is "${cniVersion}"`);
  }
  if (raw.type !== 'dnet') throw configError(`type must be "dnet", got ${JSON.stringify(raw.type)}`);
  if (typeof raw.name !== 'string' || raw.name === '') throw configError('name is required');
  if (raw.ipam !== undefined) {
    throw new CniError(
      CNI_ERR.unsupportedField,
      `unsupported field ipam=${JSON.stringify(raw.ipam)}`,
      'dnet allocates addresses from the dnet network itself: remove "ipam" (use runtimeConfig.ips for a static address)',
    );
  }
  const network = raw.network ?? raw.name;
  if (typeof network !== 'string' || network === '') throw configError('network must be a dnet network name');
  const host = raw.host ?? DEFAULT_CNI_HOST;
  if (typeof host !== 'string' || !/^(unix:\/\/\/|tcp:\/\/)/.test(host)) {
    throw configError(`host must be unix:///path or tcp://addr:port, got ${JSON.stringify(raw.host)}`);
  }
  const rc = raw.runtimeConfig ?? {};
  if (!isObject(rc)) throw configError('runtimeConfig must be an object');
  const { ips, mac } = requestedAddresses(rc, env);
  checkArgs(env);
  const validAttachments = validAttachmentsOf(raw['cni.dev/valid-attachments']);
  const prev = raw.prevResult;
  if (prev !== undefined && !isObject(prev)) throw configError('prevResult must be an object');
  return {
    cniVersion,
    name: raw.name,
    network,
    host,
    portMappings: parsePortMappings(rc.portMappings),
    ips,
    ...(mac ? { mac } : {}),
    ...(prev ? { prevResult: prev as unknown as CniResult } : {}),
    ...(validAttachments ? { validAttachments } : {}),
  };
}

/** The static addresses and MAC the runtime asks for (runtimeConfig, or CNI_ARGS IP= and MAC=). */
function requestedAddresses(rc: Record<string, unknown>, env: CniEnv): { ips: string[]; mac?: string } {
  const ips: string[] = [];
  if (rc.ips !== undefined) {
    if (!Array.isArray(rc.ips) || rc.ips.some((x) => typeof x !== 'string'))
      throw configError('runtimeConfig.ips must be an array of strings');
    ips.push(...(rc.ips as string[]));
  }
  if (env.args.IP) ips.push(...env.args.IP.split(','));
  const mac = rc.mac ?? env.args.MAC;
  if (mac === undefined) return { ips };
  const bad = macProblem(mac);
  if (bad) throw configError(`mac ${JSON.stringify(mac)}: ${bad}`);
  return { ips, mac: mac as string };
}

/** CNI_ARGS other than the ones dnet knows are refused, unless IgnoreUnknown is set. */
function checkArgs(env: CniEnv): void {
  if (['1', 'true', 'True'].includes(env.args.IgnoreUnknown ?? '')) return;
  const unknown = Object.keys(env.args).filter((k) => !KNOWN_ARGS.has(k));
  if (unknown.length > 0) {
    throw new CniError(
      CNI_ERR.unsupportedField,
      `unsupported CNI_ARGS ${unknown.map((k) => `${k}=${env.args[k]}`).join(';')}`,
      'dnet knows IP, MAC and K8S_POD_*; pass IgnoreUnknown=1 to ignore others',
    );
  }
}

/** GC's list of attachments to keep (`cni.dev/valid-attachments`). */
function validAttachmentsOf(va: unknown): CniConfig['validAttachments'] {
  if (va === undefined) return undefined;
  if (
    !Array.isArray(va) ||
    va.some((a) => !isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string')
  ) {
    throw configError('cni.dev/valid-attachments must be an array of {containerID, ifname}');
  }
  return va as { containerID: string; ifname: string }[];
}

/** The cniVersion of a config that may not parse (for the error result), else the latest. */
export function versionOf(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && isSupported(v) ? v : LATEST_VERSION;
  } catch {
    return LATEST_VERSION;
  }
}
