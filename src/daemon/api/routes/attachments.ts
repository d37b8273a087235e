/**
 * dnet's native attachment routes: an EXISTING network namespace (a container runtime's, by path)
 * attached to a network as a container's sandbox, under a chosen interface name. This is what the
 * CNI plugin (src/cni/) asks for; an attachment is named by `(container ID, interface name)`, as
 * CNI names it.
 *
 *   POST   /attachments                       attach (201, the attachment)
 *   GET    /attachments?network=NAME          list
 *   GET    /attachments/{container}/{ifname}  one
 *   DELETE /attachments/{container}/{ifname}  detach (204; 404 when there is no such attachment)
 *   POST   /attachments/{container}/{ifname}/check   what is wrong with it ({"Problems": [...]})
 *   POST   /attachments/gc                    remove every attachment of a network not listed
 *   GET    /attachments/status?network=NAME   can the network take one more attachment?
 *
 * An attachment is an endpoint made for it (its driver options carry the container ID and the
 * interface name) joined to an external-namespace sandbox (controller.newSandbox with
 * `externalNetns`). dnet never creates nor removes the namespace; detaching releases the address,
 * the published ports, the host-side interface and the records even when the namespace is gone.
 */

import { statSync } from 'node:fs';
import type { Proto } from '../../../driver-api/driver.ts';
import { ENDPOINT_HOLD_HOST_PORTS_OPTION } from '../../../driver-api/driver.ts';
import { DnetError, SyscallError } from '../../../errors/index.ts';
import { nameRuleViolation, validateContainerId } from '../../../errors/validate.ts';
import {
  ENDPOINT_IFNAME_OPTION,
  type Endpoint,
  EndpointExistsError,
  interfaceNameViolation,
  type Network,
  PoolExhaustedError,
  type Sandbox,
} from '../../../index.ts';
import type { ApiContext } from '../context.ts';
import { BadRequestError } from '../errors.ts';
import type { Router } from '../router.ts';
import { Fields } from '../schemas.ts';
import { findNetwork } from './networks.ts';

/** Endpoint driver option: the container an attachment's endpoint was made for. */
export const ATTACHMENT_CONTAINER_OPTION = 'dnet.attachment.container';

/** No attachment of that container and interface name. */
export class UnknownAttachmentError extends DnetError {
  readonly code = 'ERR_UNKNOWN_ATTACHMENT';
  readonly kind = 'not-found';
  constructor(
    readonly containerID: string,
    readonly ifName: string,
  ) {
    super(
      `no attachment of container ${JSON.stringify(containerID)} with interface ${JSON.stringify(ifName)}: ` +
        'GET /attachments?network=NAME lists them',
    );
  }
}

/**
 * The network has no free address for the attachment. A condition that clears when others detach:
 * 503, whatever status the IPAM's own error has (the CNI plugin answers "try again later", 11).
 */
export class AttachmentNoAddressError extends DnetError {
  readonly code = 'ERR_ATTACHMENT_NO_ADDRESS';
  readonly kind = 'unavailable';
}

/** The attachment cannot be made as asked (taken interface name, another namespace, a dnet sandbox). */
export class AttachmentConflictError extends DnetError {
  readonly code = 'ERR_ATTACHMENT_CONFLICT';
  readonly kind = 'conflict';
}

export interface AttachPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: Proto;
  hostIP?: string;
}

export interface AttachRequest {
  network: string;
  containerId: string;
  netns: string;
  ifName: string;
  /** Static addresses (plain or CIDR), at most one per family. */
  ips: string[];
  mac?: string;
  portMappings: AttachPortMapping[];
  /** A friendlier endpoint name (the runtime's container name), used when free. */
  name?: string;
}

/** An attachment as the API gives it. */
export interface AttachmentInfo {
  ContainerID: string;
  IfName: string;
  Network: string;
  NetworkID: string;
  EndpointID: string;
  EndpointName: string;
  /** The namespace's path ('' once the attachment's sandbox is gone). */
  Netns: string;
  Joined: boolean;
  MacAddress: string;
  /** The host side of the interface (the bridge driver's veth), when the driver has one. */
  HostInterface: string;
  IPs: { Address: string; Gateway?: string }[];
  Routes: { Dst: string; Gw: string }[];
  PortMappings: { HostIP: string; HostPort: number; ContainerPort: number; Protocol: Proto }[];
}

const plain = (cidr: string): string => cidr.split('/')[0] ?? cidr;

function parseAttach(body: unknown): AttachRequest {
  const f = Fields.body(body);
  const need = (k: string): string => {
    const v = f.string(k);
    if (v === undefined || v === '') throw new BadRequestError(`invalid request: ${k} is required`);
    return v;
  };
  const ports = (f.objectArray('PortMappings') ?? []).map((p, i): AttachPortMapping => {
    const num = (k: string, min: number): number => {
      const v = p.raw(k);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 65535) {
        throw new BadRequestError(
          `invalid JSON: PortMappings[${i}].${k} must be a port number, got ${String(v)}`,
        );
      }
      return v;
    };
    const proto = (p.string('Protocol') ?? 'tcp').toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') {
      throw new BadRequestError(
        `invalid JSON: PortMappings[${i}].Protocol must be tcp, udp or sctp, got ${proto}`,
      );
    }
    const hostIP = p.string('HostIP');
    return {
      hostPort: num('HostPort', 0),
      containerPort: num('ContainerPort', 1),
      protocol: proto,
      ...(hostIP ? { hostIP } : {}),
    };
  });
  const mac = f.string('MAC');
  const name = f.string('Name');
  return {
    network: need('Network'),
    containerId: need('ContainerID'),
    netns: need('Netns'),
    ifName: need('IfName'),
    ips: f.stringArray('IPs') ?? [],
    ...(mac ? { mac } : {}),
    portMappings: ports,
    ...(name ? { name } : {}),
  };
}

function checkIds(containerId: string, ifName: string): void {
  validateContainerId(containerId);
  const bad = interfaceNameViolation(ifName);
  if (bad) throw new BadRequestError(`invalid interface name ${JSON.stringify(ifName)}: ${bad}`);
}

/** The attachment's endpoint: its container and interface name, from its driver options. */
function attachmentOf(ep: Endpoint): { containerId: string; ifName: string } | undefined {
  const o = ep.options.driverOptions ?? {};
  const containerId = o[ATTACHMENT_CONTAINER_OPTION];
  const ifName = o[ENDPOINT_IFNAME_OPTION];
  return containerId !== undefined && ifName !== undefined ? { containerId, ifName } : undefined;
}

/** Every attachment endpoint, optionally of one network. */
function attachmentEndpoints(ctx: ApiContext, network?: Network): Endpoint[] {
  const nets = network ? [network] : ctx.controller.networks();
  return nets.flatMap((n) => n.endpoints().filter((ep) => attachmentOf(ep) !== undefined));
}

function findAttachment(ctx: ApiContext, containerId: string, ifName: string): Endpoint | undefined {
  return attachmentEndpoints(ctx).find((ep) => {
    const a = attachmentOf(ep);
    return a?.containerId === containerId && a.ifName === ifName;
  });
}

async function info(ep: Endpoint): Promise<AttachmentInfo> {
  const a = attachmentOf(ep);
  const i = await ep.info();
  const oper = await ep.network.driver.endpointOperInfo(ep.network.id, ep.id).catch(() => ({}));
  const host = (oper as { hostInterface?: unknown }).hostInterface;
  const sb = ep.joinState?.sandbox;
  const ips: AttachmentInfo['IPs'] = [];
  const routes: AttachmentInfo['Routes'] = [];
  if (i.ipv4Address) ips.push({ Address: i.ipv4Address, ...(i.gateway ? { Gateway: i.gateway } : {}) });
  if (i.ipv6Address)
    ips.push({ Address: i.ipv6Address, ...(i.gatewayIPv6 ? { Gateway: i.gatewayIPv6 } : {}) });
  if (i.gateway && sb?.defaultRouteEndpoint(4) === ep.id) routes.push({ Dst: '0.0.0.0/0', Gw: i.gateway });
  if (i.gatewayIPv6 && sb?.defaultRouteEndpoint(6) === ep.id) routes.push({ Dst: '::/0', Gw: i.gatewayIPv6 });
  return {
    ContainerID: a?.containerId ?? '',
    IfName: a?.ifName ?? '',
    Network: ep.network.name,
    NetworkID: ep.network.id,
    EndpointID: ep.id,
    EndpointName: ep.name,
    Netns: sb?.key ?? '',
    Joined: sb !== undefined,
    MacAddress: i.macAddress ?? '',
    HostInterface: typeof host === 'string' ? host : '',
    IPs: ips,
    Routes: routes,
    PortMappings: i.portMappings.map((m) => ({
      HostIP: m.hostIP,
      HostPort: m.hostPort,
      ContainerPort: m.port,
      Protocol: m.proto,
    })),
  };
}

/** The inode of the namespace at `path`, or undefined when nothing is there. */
function inodeAt(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function endpointNames(req: AttachRequest): string[] {
  const id = req.containerId;
  const hexIf = Buffer.from(req.ifName).toString('hex');
  return [req.name, `${id.slice(0, 12)}-${req.ifName}`, `${id}-${req.ifName}`, `${id}-${hexIf}`].filter(
    (n): n is string => n !== undefined && nameRuleViolation(n, 255) === undefined,
  );
}

async function attach(ctx: ApiContext, req: AttachRequest): Promise<Endpoint> {
  checkIds(req.containerId, req.ifName);
  if (!req.netns.startsWith('/')) {
    throw new BadRequestError(`invalid Netns ${JSON.stringify(req.netns)}: expected an absolute path`);
  }
  const n = findNetwork(ctx, req.network);
  const v4 = req.ips.filter((ip) => !ip.includes(':')).map(plain);
  const v6 = req.ips.filter((ip) => ip.includes(':')).map(plain);
  if (v4.length > 1 || v6.length > 1) {
    throw new BadRequestError(`invalid IPs ${JSON.stringify(req.ips)}: at most one address per family`);
  }
  const cid = req.containerId;
  return ctx.withContainer(cid, async () => {
    if (findAttachment(ctx, cid, req.ifName)) {
      throw new AttachmentConflictError(
        `container ${cid} already has an attachment with interface ${req.ifName}: detach it first`,
      );
    }
    let sb: Sandbox | undefined = ctx.controller.sandboxByContainer(cid);
    let created = false;
    if (sb) {
      if (!sb.external) {
        throw new AttachmentConflictError(
          `container ${cid} has a sandbox of dnet's own (${sb.key}): it cannot also use the namespace ${req.netns}`,
        );
      }
      const want = sb.record().externalNetns?.inode;
      if (sb.key !== req.netns && inodeAt(req.netns) !== want) {
        throw new AttachmentConflictError(
          `container ${cid} is attached in the namespace ${sb.key}, not ${req.netns}: detach its other interfaces first`,
        );
      }
    } else {
      if (inodeAt(req.netns) === undefined) {
        throw new BadRequestError(`invalid Netns ${JSON.stringify(req.netns)}: no such file`);
      }
      try {
        // The runtime's container name (K8S_POD_NAME) names the sandbox when no other has it.
        const name =
          req.name !== undefined &&
          nameRuleViolation(req.name, 128) === undefined &&
          !ctx.controller.sandboxByName(req.name)
            ? req.name
            : undefined;
        sb = await ctx.controller.newSandbox(cid, {
          externalNetns: req.netns,
          ...(name ? { containerName: name } : {}),
        });
      } catch (err) {
        // Not a namespace (setns says EINVAL), or the host's own: the caller's mistake.
        if (err instanceof RangeError || (err instanceof SyscallError && err.errnoName === 'EINVAL')) {
          throw new BadRequestError(`invalid Netns ${JSON.stringify(req.netns)}: ${err.message}`);
        }
        throw err;
      }
      created = true;
    }
    let ep: Endpoint | undefined;
    try {
      const options = {
        ...(v4[0] ? { ipv4Address: v4[0] } : {}),
        ...(v6[0] ? { ipv6Address: v6[0] } : {}),
        ...(req.mac ? { macAddress: req.mac.toLowerCase() } : {}),
        portBindings: req.portMappings.map((p) => ({
          proto: p.protocol,
          port: p.containerPort,
          ...(p.hostPort ? { hostPort: p.hostPort } : {}),
          ...(p.hostIP ? { hostIP: p.hostIP } : {}),
        })),
        exposedPorts: req.portMappings.map((p) => ({ proto: p.protocol, port: p.containerPort })),
        driverOptions: {
          [ENDPOINT_IFNAME_OPTION]: req.ifName,
          [ATTACHMENT_CONTAINER_OPTION]: cid,
          // The runtime reserves its published host ports itself (podman binds them around the
          // plugin call); a second hold by dnet would refuse its own container's ports.
          [ENDPOINT_HOLD_HOST_PORTS_OPTION]: 'false',
        },
      };
      const names = endpointNames(req);
      for (const [i, name] of names.entries()) {
        if (n.endpointByName(name) && i < names.length - 1) continue;
        try {
          // Endpoint and join as one operation (one intent, one result in the store).
          ep = await n.connect(cid, { endpointName: name, endpoint: options });
          break;
        } catch (err) {
          if (err instanceof PoolExhaustedError) {
            throw new AttachmentNoAddressError(`network ${n.name}: ${err.message}`, { cause: err });
          }
          if (!(err instanceof EndpointExistsError) || i === names.length - 1) throw err;
        }
      }
      if (!ep) throw new AttachmentConflictError(`no free endpoint name for container ${cid} on ${n.name}`);
      return ep;
    } catch (err) {
      if (created && ctx.controller.sandboxByContainer(cid)?.isEmpty()) {
        // The sandbox this attach made goes too; a failure to remove it travels with the error.
        await ctx.controller.deleteSandbox(cid).catch((undoErr: unknown) => {
          (err as Error & { rollbackErrors?: unknown[] }).rollbackErrors = [undoErr];
        });
      }
      throw err;
    }
  });
}

/**
 * Detaches: the endpoint leaves (host interface, ports, firewall elements) and is deleted (its
 * address released); the sandbox goes with its last attachment, the namespace stays. Every step
 * is tried; the first failure is reported after all of them ran.
 */
async function detachEndpoint(ctx: ApiContext, ep: Endpoint, containerId: string): Promise<void> {
  const errors: unknown[] = [];
  // Leave and delete as one operation: a crash midway is finished at the next start.
  await ep.leaveAndDelete().catch((e: unknown) => errors.push(e));
  const sb = ctx.controller.sandboxByContainer(containerId);
  if (sb?.external && sb.isEmpty()) {
    await ctx.controller.deleteSandbox(containerId).catch((e: unknown) => errors.push(e));
  }
  if (errors.length > 0) throw errors[0];
}

async function detach(ctx: ApiContext, containerId: string, ifName: string): Promise<void> {
  checkIds(containerId, ifName);
  await ctx.withContainer(containerId, async () => {
    const ep = findAttachment(ctx, containerId, ifName);
    if (!ep) {
      // An external sandbox left without attachments (a crash between the steps) goes too.
      const sb = ctx.controller.sandboxByContainer(containerId);
      if (sb?.external && sb.isEmpty()) await ctx.controller.deleteSandbox(containerId);
      throw new UnknownAttachmentError(containerId, ifName);
    }
    await detachEndpoint(ctx, ep, containerId);
  });
}

/** What is wrong with an attachment, one sentence per problem. */
async function check(ep: Endpoint): Promise<string[]> {
  const problems: string[] = [];
  const j = ep.joinState;
  const a = attachmentOf(ep);
  if (!j) return [`the endpoint ${ep.name} is not joined to a namespace (it was left behind): detach it`];
  const sb = j.sandbox;
  const inode = inodeAt(sb.key);
  if (inode === undefined) problems.push(`the namespace ${sb.key} is gone`);
  else if (inode !== sb.record().externalNetns?.inode) problems.push(`${sb.key} is now another namespace`);
  const ifName = a?.ifName ?? j.ifName ?? '';
  try {
    const iface = sb.os.interfaces().find((i) => i.name === ifName);
    if (!iface) problems.push(`the interface ${ifName} is missing from the namespace`);
    else {
      const mac = ep.iface.macAddress;
      if (mac && iface.mac?.toLowerCase() !== mac.toLowerCase())
        problems.push(`the interface ${ifName} has MAC ${iface.mac ?? 'none'}, not ${mac}`);
      for (const addr of [ep.iface.address, ep.iface.addressIPv6]) {
        if (addr && !iface.addresses.includes(addr))
          problems.push(`the interface ${ifName} lacks its address ${addr}`);
      }
    }
    const routes = sb.os.routes();
    for (const [fam, gw] of [
      [4, j.gateway],
      [6, j.gatewayIPv6],
    ] as const) {
      if (!gw || sb.defaultRouteEndpoint(fam) !== ep.id) continue;
      const ok = routes.some((r) => r.dst === 'default' && r.gateway === gw);
      if (!ok) problems.push(`the default route via ${gw} is missing from the namespace`);
    }
  } catch (err) {
    problems.push(`cannot look into the namespace ${sb.key}: ${String(err)}`);
  }
  const driver = ep.network.driver;
  if (driver.checkEndpoint) problems.push(...(await driver.checkEndpoint(ep.network.id, ep.id)));
  return problems;
}

function countIn(cidr: string, addrs: string[]): number {
  return addrs.filter((a) => a !== undefined && inSubnet(plain(a), cidr)).length;
}

function inSubnet(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  if (!base || !len || ip.includes(':') || base.includes(':')) return false;
  const toInt = (s: string) => s.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}

/**
 * Whether the network can take one more attachment: it exists, and an IPv4 pool has a free
 * address (counted from the network's records: the built-in IPAM hands out the usable addresses
 * of the range, minus the gateway, auxiliary addresses and endpoints').
 */
function status(n: Network): { ready: boolean; message: string } {
  const v4 = n.pools.filter((p) => !p.v6);
  if (v4.length === 0) return { ready: true, message: `network ${n.name} has no IPv4 pool to exhaust` };
  const used = n.endpoints().flatMap((e) => (e.iface.address ? [e.iface.address] : []));
  for (const p of v4) {
    const range = p.ipRange ?? p.subnet;
    const len = Number(range.split('/')[1]);
    const size = 2 ** (32 - len);
    const subnetLen = Number(p.subnet.split('/')[1]);
    let usable = size;
    if (32 - subnetLen >= 2) {
      // The subnet's network and broadcast addresses, when the range covers them.
      const [net] = p.subnet.split('/');
      const bcast = (() => {
        const toInt = (s: string) => s.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
        const i = toInt(net ?? '0.0.0.0') + 2 ** (32 - subnetLen) - 1;
        return [24, 16, 8, 0].map((s) => Math.floor(i / 2 ** s) % 256).join('.');
      })();
      if (net && inSubnet(net, range)) usable--;
      if (inSubnet(bcast, range)) usable--;
    }
    const reserved = [p.gateway, ...Object.values(p.auxAddresses)].filter((x): x is string => !!x);
    const free = usable - countIn(range, reserved) - countIn(range, used);
    if (free > 0) return { ready: true, message: `network ${n.name}: ${free} free addresses in ${range}` };
  }
  return {
    ready: false,
    message: `network ${n.name}: no free IPv4 address left (${v4.map((p) => p.ipRange ?? p.subnet).join(', ')})`,
  };
}

/**
 * At daemon start, after restore: attachment endpoints that are not joined (their namespace was
 * gone at restore, or a crash came between creating and joining) are deleted, and external
 * sandboxes without endpoints go. Returns what was removed, for the log.
 */
export async function reapDetachedAttachments(ctx: ApiContext): Promise<string[]> {
  const removed: string[] = [];
  for (const ep of attachmentEndpoints(ctx)) {
    if (ep.containerId !== undefined) continue;
    const a = attachmentOf(ep);
    await ep.leaveAndDelete();
    removed.push(`attachment ${a?.containerId}/${a?.ifName} (endpoint ${ep.name} on ${ep.network.name})`);
  }
  for (const sb of ctx.controller.allSandboxes()) {
    if (sb.external && sb.isEmpty()) {
      await ctx.controller.deleteSandbox(sb.containerId);
      removed.push(`sandbox of ${sb.containerId} (no attachment)`);
    }
  }
  return removed;
}

export function attachmentRoutes(router: Router, ctx: ApiContext): void {
  router.add('POST', '/attachments', async (req) => {
    const ep = await attach(ctx, parseAttach(await req.json()));
    return { status: 201, body: await info(ep) };
  });

  router.add('GET', '/attachments', async (req) => {
    const name = req.query.get('network');
    const n = name ? findNetwork(ctx, name) : undefined;
    const list = await Promise.all(attachmentEndpoints(ctx, n).map((ep) => info(ep)));
    return { status: 200, body: list };
  });

  router.add('GET', '/attachments/status', async (req) => {
    const name = req.query.get('network');
    if (!name) throw new BadRequestError('the network query parameter is required');
    const s = status(findNetwork(ctx, name));
    return { status: 200, body: { Ready: s.ready, Message: s.message } };
  });

  router.add('POST', '/attachments/gc', async (req) => {
    const f = Fields.body(await req.json());
    const name = f.string('Network');
    if (!name) throw new BadRequestError('invalid request: Network is required');
    const valid = new Set(
      (f.objectArray('Valid') ?? []).map(
        (v) => `${v.string('ContainerID') ?? ''}\0${v.string('IfName') ?? ''}`,
      ),
    );
    const n = findNetwork(ctx, name);
    const removed: string[] = [];
    const errors: string[] = [];
    for (const ep of attachmentEndpoints(ctx, n)) {
      const a = attachmentOf(ep);
      if (!a || valid.has(`${a.containerId}\0${a.ifName}`)) continue;
      try {
        await ctx.withContainer(a.containerId, async () => {
          if (n.endpointByID(ep.id) === ep) await detachEndpoint(ctx, ep, a.containerId);
        });
        removed.push(`${a.containerId}/${a.ifName}`);
      } catch (err) {
        errors.push(`${a.containerId}/${a.ifName}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { status: 200, body: { Removed: removed, Errors: errors } };
  });

  router.add('GET', '/attachments/{container}/{ifname}', async (req) => {
    const cid = req.params.container!;
    const ifName = req.params.ifname!;
    const ep = findAttachment(ctx, cid, ifName);
    if (!ep) throw new UnknownAttachmentError(cid, ifName);
    return { status: 200, body: await info(ep) };
  });

  router.add('POST', '/attachments/{container}/{ifname}/check', async (req) => {
    const cid = req.params.container!;
    const ifName = req.params.ifname!;
    const ep = findAttachment(ctx, cid, ifName);
    if (!ep) throw new UnknownAttachmentError(cid, ifName);
    return { status: 200, body: { Problems: await check(ep), Attachment: await info(ep) } };
  });

  router.add('DELETE', '/attachments/{container}/{ifname}', async (req) => {
    await detach(ctx, req.params.container!, req.params.ifname!);
    return { status: 204 };
  });
}
