/**
 * The CNI plugin of type `dnet`, its brain: each verb is one or two calls to the attachments of
 * a `dnet daemon` (a Backend), which holds every piece of state, lock and kernel object. Pure
 * apart from the backend: the daemon runs it in-process for the C launcher (POST /cni, through
 * src/daemon/api/routes/cni.ts), the Node plugin over HTTP (src/cni/plugin.ts).
 *
 *   ADD     attach                 → the result, in the config's cniVersion
 *   DEL     detach                 (no such attachment: success, DEL is idempotent)
 *   CHECK   check, compared with prevResult too
 *   GC      gc                     (every attachment of the network not listed goes)
 *   STATUS  status                 (50 when the daemon or an address is missing)
 *   VERSION no daemon needed
 */
import { CNI_ERR, CniError } from './errors.ts';
import { type CniConfig, type CniEnv, parseConfig, parseEnv, versionOf } from './request.ts';
import {
  type CniResult,
  convertResult,
  isSupported,
  LATEST_VERSION,
  requireVersion,
  SUPPORTED_VERSIONS,
} from './versions.ts';

/** The daemon's attachment, as GET/POST /attachments give it. */
export interface Attachment {
  ContainerID: string;
  IfName: string;
  Netns: string;
  MacAddress: string;
  HostInterface: string;
  IPs: { Address: string; Gateway?: string }[];
  Routes: { Dst: string; Gw: string }[];
}

export interface CniOutput {
  /** What to print on stdout ('' for none). */
  stdout: string;
  exitCode: number;
}

/**
 * A failure of the daemon's attachments: `unreachable`, or the HTTP status the daemon gives the
 * error (404 not found, 400 invalid, 503 unavailable...), with its message.
 */
export class BackendError extends Error {
  constructor(
    readonly status: number | 'unreachable',
    message: string,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}

/** What the daemon's attach is given (the native POST /attachments body). */
export interface AttachBody {
  Network: string;
  ContainerID: string;
  Netns: string;
  IfName: string;
  IPs: string[];
  MAC?: string;
  PortMappings: {
    HostPort: number;
    ContainerPort: number;
    Protocol: 'tcp' | 'udp' | 'sctp';
    HostIP?: string;
  }[];
  Name?: string;
}

/** The daemon's attachments, as the brain uses them; every failure is a BackendError. */
export interface Backend {
  attach(body: AttachBody): Promise<Attachment>;
  /** Throws BackendError 404 when there is no such attachment. */
  detach(containerId: string, ifName: string): Promise<void>;
  check(containerId: string, ifName: string): Promise<{ Problems: string[]; Attachment: Attachment }>;
  gc(
    network: string,
    valid: { ContainerID: string; IfName: string }[],
  ): Promise<{ Removed: string[]; Errors: string[] }>;
  status(network: string): Promise<{ Ready: boolean; Message: string }>;
}

/** The backend for a config's `host` (STATUS asks with a shorter timeout: the runtime polls it). */
export type BackendFor = (host: string, verb: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS') => Backend;

const notFound = (err: unknown): err is BackendError => err instanceof BackendError && err.status === 404;

/** A daemon failure as a CNI error: unreachable → 11 (try again later), refusals by their status. */
function fromDaemon(err: unknown, what: string): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof BackendError) {
    if (err.status === 'unreachable') {
      return new CniError(CNI_ERR.tryAgainLater, `the dnet daemon cannot be reached (${what})`, err.message);
    }
    if (err.status === 503)
      return new CniError(CNI_ERR.tryAgainLater, `${what}: ${err.message}`, err.message);
    if (err.status === 400 || err.status === 404) {
      return new CniError(CNI_ERR.invalidConfig, `${what}: ${err.message}`, err.message);
    }
    return new CniError(CNI_ERR.daemonRefused, `${what}: ${err.message}`, err.message);
  }
  return new CniError(CNI_ERR.daemonRefused, `${what}: ${String(err)}`);
}

/** The ADD result: the host interface (if any), the container's, its addresses and routes. */
export function resultOf(a: Attachment, prev: CniResult | undefined, version: string): CniResult {
  const interfaces = [...(prev?.interfaces ?? [])];
  if (a.HostInterface) interfaces.push({ name: a.HostInterface });
  const index = interfaces.length;
  interfaces.push({ name: a.IfName, ...(a.MacAddress ? { mac: a.MacAddress } : {}), sandbox: a.Netns });
  const r: CniResult = {
    cniVersion: version,
    interfaces,
    ips: [
      ...(prev?.ips ?? []),
      ...a.IPs.map((ip) => ({
        address: ip.Address,
        ...(ip.Gateway ? { gateway: ip.Gateway } : {}),
        interface: index,
      })),
    ],
    routes: [...(prev?.routes ?? []), ...a.Routes.map((rt) => ({ dst: rt.Dst, gw: rt.Gw }))],
    dns: prev?.dns ?? {},
  };
  return convertResult(r, version);
}

/** CHECK's comparison of prevResult with the attachment: what the runtime was told is still so. */
function comparePrev(a: Attachment, prev: CniResult, ifName: string): string[] {
  const problems: string[] = [];
  const ifaces = prev.interfaces ?? [];
  const idx = ifaces.findIndex((i) => i.name === ifName && i.sandbox);
  if (idx < 0) return [`prevResult lists no interface ${ifName} in a sandbox`];
  const want = ifaces[idx];
  if (want?.mac && a.MacAddress && want.mac.toLowerCase() !== a.MacAddress.toLowerCase()) {
    problems.push(`interface ${ifName}: prevResult says MAC ${want.mac}, dnet has ${a.MacAddress}`);
  }
  const have = new Set(a.IPs.map((ip) => ip.Address));
  for (const ip of prev.ips ?? []) {
    if (ip.interface === idx && !have.has(ip.address)) {
      problems.push(
        `address ${ip.address} of prevResult is not the attachment's (${[...have].join(', ') || 'none'})`,
      );
    }
  }
  return problems;
}

async function add(client: Backend, env: CniEnv, cfg: CniConfig): Promise<CniOutput> {
  let a: Attachment;
  try {
    a = await client.attach({
      Network: cfg.network,
      ContainerID: env.containerId,
      Netns: env.netns,
      IfName: env.ifName,
      IPs: cfg.ips,
      ...(cfg.mac ? { MAC: cfg.mac } : {}),
      PortMappings: cfg.portMappings.map((p) => ({
        HostPort: p.hostPort,
        ContainerPort: p.containerPort,
        Protocol: p.protocol,
        ...(p.hostIP ? { HostIP: p.hostIP } : {}),
      })),
      ...(env.args.K8S_POD_NAME ? { Name: env.args.K8S_POD_NAME } : {}),
    });
  } catch (err) {
    throw fromDaemon(err, `cannot attach ${env.containerId}/${env.ifName} to dnet network ${cfg.network}`);
  }
  return { stdout: JSON.stringify(resultOf(a, cfg.prevResult, cfg.cniVersion)), exitCode: 0 };
}

async function del(client: Backend, env: CniEnv): Promise<CniOutput> {
  try {
    await client.detach(env.containerId, env.ifName);
  } catch (err) {
    // Already gone (a second DEL, or an ADD that never happened): success, as the spec asks.
    if (!notFound(err)) {
      throw fromDaemon(err, `cannot detach ${env.containerId}/${env.ifName}`);
    }
  }
  return { stdout: '', exitCode: 0 };
}

async function check(client: Backend, env: CniEnv, cfg: CniConfig): Promise<CniOutput> {
  if (!cfg.prevResult) {
    throw new CniError(CNI_ERR.invalidConfig, 'CHECK needs prevResult (the result of the ADD)');
  }
  let reply: { Problems: string[]; Attachment: Attachment };
  try {
    reply = await client.check(env.containerId, env.ifName);
  } catch (err) {
    if (notFound(err)) {
      throw new CniError(
        CNI_ERR.unknownContainer,
        `dnet has no attachment ${env.containerId}/${env.ifName}`,
        err.message,
      );
    }
    throw fromDaemon(err, `cannot check ${env.containerId}/${env.ifName}`);
  }
  const prev = convertResult(cfg.prevResult, LATEST_VERSION);
  const problems = [...reply.Problems, ...comparePrev(reply.Attachment, prev, env.ifName)];
  if (env.netns !== reply.Attachment.Netns) {
    problems.push(`CNI_NETNS is ${env.netns}, the attachment is in ${reply.Attachment.Netns}`);
  }
  if (problems.length > 0) {
    throw new CniError(
      CNI_ERR.checkFailed,
      `attachment ${env.containerId}/${env.ifName} is not as it should be: ${problems[0]}`,
      problems.join('; '),
    );
  }
  return { stdout: '', exitCode: 0 };
}

async function gc(client: Backend, cfg: CniConfig): Promise<CniOutput> {
  let reply: { Removed: string[]; Errors: string[] };
  try {
    reply = await client.gc(
      cfg.network,
      (cfg.validAttachments ?? []).map((a) => ({ ContainerID: a.containerID, IfName: a.ifname })),
    );
  } catch (err) {
    // No such network: it has no attachments to collect.
    if (notFound(err)) return { stdout: '', exitCode: 0 };
    throw fromDaemon(err, `cannot garbage-collect dnet network ${cfg.network}`);
  }
  if (reply.Errors.length > 0) {
    throw new CniError(
      CNI_ERR.tryAgainLater,
      `GC of ${cfg.network}: ${reply.Errors.length} attachments could not be removed`,
      reply.Errors.join('; '),
    );
  }
  return { stdout: '', exitCode: 0 };
}

async function status(client: Backend, host: string, cfg: CniConfig): Promise<CniOutput> {
  let s: { Ready: boolean; Message: string };
  try {
    s = await client.status(cfg.network);
  } catch (err) {
    if (err instanceof BackendError && err.status === 'unreachable') {
      throw new CniError(CNI_ERR.notAvailable, `the dnet daemon cannot be reached at ${host}`, err.message);
    }
    if (notFound(err)) {
      throw new CniError(
        CNI_ERR.notAvailable,
        `dnet network ${cfg.network} does not exist`,
        `create it: dnet network create ${cfg.network}`,
      );
    }
    throw new CniError(CNI_ERR.notAvailable, `dnet cannot answer STATUS: ${String(err)}`);
  }
  if (!s.Ready) throw new CniError(CNI_ERR.notAvailable, s.Message);
  return { stdout: '', exitCode: 0 };
}

function version(stdin: string): CniOutput {
  let v = LATEST_VERSION;
  try {
    const given = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof given === 'string' && isSupported(given)) v = given;
  } catch {
    // no (or no JSON) input: answer in the latest version
  }
  return {
    stdout: JSON.stringify({ cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] }),
    exitCode: 0,
  };
}

/** Runs one plugin invocation: what a runtime's exec of the `dnet` plugin does. */
export async function runCni(
  env: Record<string, string | undefined>,
  stdin: string,
  backendFor: BackendFor,
): Promise<CniOutput> {
  let errVersion = versionOf(stdin);
  try {
    const e = parseEnv(env);
    if (e.command === 'VERSION') return version(stdin);
    const cfg = parseConfig(stdin, e);
    errVersion = cfg.cniVersion;
    const minimum = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' } as Partial<Record<string, string>>;
    requireVersion(cfg.cniVersion, e.command, minimum[e.command]);
    if (e.command === 'STATUS') return await status(backendFor(cfg.host, 'STATUS'), cfg.host, cfg);
    const client = backendFor(cfg.host, e.command);
    switch (e.command) {
      case 'ADD':
        return await add(client, e, cfg);
      case 'DEL':
        return await del(client, e);
      case 'CHECK':
        return await check(client, e, cfg);
      case 'GC':
        return await gc(client, cfg);
    }
  } catch (err) {
    const ce = err instanceof CniError ? err : new CniError(CNI_ERR.daemonRefused, String(err));
    return { stdout: JSON.stringify(ce.toJSON(errVersion)), exitCode: 1 };
  }
}
