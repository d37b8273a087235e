/**
 * Attaching and detaching: an existing namespace becomes a container's sandbox (made on its first
 * attachment, removed with its last; dnet never creates nor removes the namespace) and an endpoint
 * is made and joined as one operation. Detaching releases the address, the published ports, the
 * host-side interface and the records even when the namespace is gone.
 */
import { ENDPOINT_HOLD_HOST_PORTS_OPTION } from '../../../driver-api/driver.ts';
import { SyscallError } from '../../../errors/index.ts';
import { nameRuleViolation, validateContainerId } from '../../../errors/validate.ts';
import {
  type ConnectOptions,
  ENDPOINT_IFNAME_OPTION,
  type Endpoint,
  type EndpointCreateOptions,
  EndpointExistsError,
  interfaceNameViolation,
  type Network,
  PoolExhaustedError,
  type Sandbox,
} from '../../../index.ts';
import { familyOf, plain } from '../../../ip/index.ts';
import type { ApiContext } from '../context.ts';
import { BadRequestError } from '../errors.ts';
import { findNetwork } from '../routes/networks.ts';
import {
  ATTACHMENT_CONTAINER_OPTION,
  AttachmentConflictError,
  AttachmentNoAddressError,
  type AttachRequest,
  attachmentEndpoints,
  attachmentOf,
  findAttachment,
  inodeAt,
  UnknownAttachmentError,
} from './model.ts';

function checkIds(containerId: string, ifName: string): void {
  validateContainerId(containerId);
  const bad = interfaceNameViolation(ifName);
  if (bad) throw new BadRequestError(`invalid interface name ${JSON.stringify(ifName)}: ${bad}`);
}

function endpointNames(req: AttachRequest): string[] {
  const id = req.containerId;
  const hexIf = Buffer.from(req.ifName).toString('hex');
  return [req.name, `${id.slice(0, 12)}-${req.ifName}`, `${id}-${req.ifName}`, `${id}-${hexIf}`].filter(
    (n): n is string => n !== undefined && nameRuleViolation(n, 255) === undefined,
  );
}

/**
 * The container's sandbox for the attachment when it has one already (an external sandbox on the
 * same namespace); undefined when the connect is to make it on the runtime's namespace.
 */
function existingSandbox(ctx: ApiContext, req: AttachRequest): Sandbox | undefined {
  const cid = req.containerId;
  const sb = ctx.controller.sandboxByContainer(cid);
  if (!sb) {
    if (inodeAt(req.netns) === undefined) {
      throw new BadRequestError(`invalid Netns ${JSON.stringify(req.netns)}: no such file`);
    }
    return undefined;
  }
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
  return sb;
}

/**
 * The connect's options for a new sandbox on the runtime's namespace, made and recorded with the
 * connect (it goes with its last endpoint): the runtime's container name (K8S_POD_NAME) names
 * it when no other sandbox has it.
 */
function newSandboxOptions(
  ctx: ApiContext,
  req: AttachRequest,
): Pick<ConnectOptions, 'externalNetns' | 'join'> {
  const name =
    req.name !== undefined &&
    nameRuleViolation(req.name, 128) === undefined &&
    !ctx.controller.sandboxByName(req.name)
      ? req.name
      : undefined;
  return { externalNetns: req.netns, ...(name ? { join: { containerName: name } } : {}) };
}

/** The attachment's endpoint options: addresses, MAC, ports, and the marks that make it an attachment. */
function endpointOptions(
  req: AttachRequest,
  v4: string | undefined,
  v6: string | undefined,
): EndpointCreateOptions {
  return {
    ...(v4 ? { ipv4Address: v4 } : {}),
    ...(v6 ? { ipv6Address: v6 } : {}),
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
      [ATTACHMENT_CONTAINER_OPTION]: req.containerId,
      // The runtime reserves its published host ports itself (podman binds them around the
      // plugin call); a second hold by dnet would refuse its own container's ports.
      [ENDPOINT_HOLD_HOST_PORTS_OPTION]: 'false',
    },
  };
}

/** Endpoint and join as one operation (one intent, one result in the store), under the first free name. */
async function connectUnderFreeName(
  n: Network,
  req: AttachRequest,
  options: Omit<ConnectOptions, 'endpointName'>,
): Promise<Endpoint> {
  const names = endpointNames(req);
  for (const [i, name] of names.entries()) {
    const last = i === names.length - 1;
    if (n.endpointByName(name) && !last) continue;
    try {
      return await n.connect(req.containerId, { endpointName: name, ...options });
    } catch (err) {
      if (err instanceof PoolExhaustedError) {
        throw new AttachmentNoAddressError(`network ${n.name}: ${err.message}`, { cause: err });
      }
      // The namespace for a new sandbox is not one (setns says EINVAL), or is the host's own.
      const badNetns =
        err instanceof RangeError || (err instanceof SyscallError && err.errnoName === 'EINVAL');
      if (options.externalNetns !== undefined && badNetns) {
        throw new BadRequestError(`invalid Netns ${JSON.stringify(req.netns)}: ${err.message}`);
      }
      if (!(err instanceof EndpointExistsError) || last) throw err;
    }
  }
  throw new AttachmentConflictError(`no free endpoint name for container ${req.containerId} on ${n.name}`);
}

export async function attach(ctx: ApiContext, req: AttachRequest): Promise<Endpoint> {
  checkIds(req.containerId, req.ifName);
  if (!req.netns.startsWith('/')) {
    throw new BadRequestError(`invalid Netns ${JSON.stringify(req.netns)}: expected an absolute path`);
  }
  const n = findNetwork(ctx, req.network);
  const v4 = req.ips.filter((ip) => familyOf(ip) === 4).map(plain);
  const v6 = req.ips.filter((ip) => familyOf(ip) === 6).map(plain);
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
    // A sandbox the connect makes is undone with it when it fails.
    const sandbox = existingSandbox(ctx, req) ? {} : newSandboxOptions(ctx, req);
    return connectUnderFreeName(n, req, { endpoint: endpointOptions(req, v4[0], v6[0]), ...sandbox });
  });
}

/**
 * Detaches: the endpoint leaves (host interface, ports, firewall elements) and is deleted (its
 * address released); the sandbox goes with its last attachment, the namespace stays. Every step
 * is tried; the first failure is reported after all of them ran.
 */
export async function detachEndpoint(ctx: ApiContext, ep: Endpoint, containerId: string): Promise<void> {
  const errors: unknown[] = [];
  // Leave and delete as one operation: a crash midway is finished at the next start.
  await ep.leaveAndDelete().catch((e: unknown) => errors.push(e));
  const sb = ctx.controller.sandboxByContainer(containerId);
  if (sb?.external && sb.isEmpty()) {
    await ctx.controller.deleteSandbox(containerId).catch((e: unknown) => errors.push(e));
  }
  if (errors.length > 0) throw errors[0];
}

export async function detach(ctx: ApiContext, containerId: string, ifName: string): Promise<void> {
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

/**
 * GC: every attachment of `n` not in `valid` is detached (address, host interface, ports,
 * records). Each is tried; the ones that fail are reported, the others removed.
 */
export async function gcAttachments(
  ctx: ApiContext,
  n: Network,
  valid: readonly { ContainerID: string; IfName: string }[],
): Promise<{ removed: string[]; errors: string[] }> {
  const keep = new Set(valid.map((v) => `${v.ContainerID}\0${v.IfName}`));
  const removed: string[] = [];
  const errors: string[] = [];
  for (const ep of attachmentEndpoints(ctx, n)) {
    const a = attachmentOf(ep);
    if (!a || keep.has(`${a.containerId}\0${a.ifName}`)) continue;
    try {
      await ctx.withContainer(a.containerId, async () => {
        if (n.endpointByID(ep.id) === ep) await detachEndpoint(ctx, ep, a.containerId);
      });
      removed.push(`${a.containerId}/${a.ifName}`);
    } catch (err) {
      errors.push(`${a.containerId}/${a.ifName}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { removed, errors };
}
