/**
 * Attachments (see routes/attachments.ts): an endpoint made for a runtime's container and
 * interface name (its driver options carry both), joined to an external-namespace sandbox. How
 * they are found among the endpoints, and how the API shows one.
 */
import { statSync } from 'node:fs';
import type { Proto } from '../../../driver-api/driver.ts';
import { DnetError } from '../../../errors/index.ts';
import { ENDPOINT_IFNAME_OPTION, type Endpoint, type Network } from '../../../index.ts';
import type { ApiContext } from '../context.ts';

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

/** The attachment's endpoint: its container and interface name, from its driver options. */
export function attachmentOf(ep: Endpoint): { containerId: string; ifName: string } | undefined {
  const o = ep.options.driverOptions ?? {};
  const containerId = o[ATTACHMENT_CONTAINER_OPTION];
  const ifName = o[ENDPOINT_IFNAME_OPTION];
  return containerId !== undefined && ifName !== undefined ? { containerId, ifName } : undefined;
}

/** Every attachment endpoint, optionally of one network. */
export function attachmentEndpoints(ctx: ApiContext, network?: Network): Endpoint[] {
  const nets = network ? [network] : ctx.controller.networks();
  return nets.flatMap((n) => n.endpoints().filter((ep) => attachmentOf(ep) !== undefined));
}

export function findAttachment(ctx: ApiContext, containerId: string, ifName: string): Endpoint | undefined {
  return attachmentEndpoints(ctx).find((ep) => {
    const a = attachmentOf(ep);
    return a?.containerId === containerId && a.ifName === ifName;
  });
}

export async function info(ep: Endpoint): Promise<AttachmentInfo> {
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
export function inodeAt(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}
