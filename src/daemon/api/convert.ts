/**
 * Core objects → Docker's JSON: network objects exactly as dockerd's `GET /networks` and
 * `GET /networks/{id}` give them, and the native sandbox objects (shaped like a container's
 * `NetworkSettings`).
 */
import type { Endpoint, Network, Sandbox } from '../../index.ts';
import { plain } from '../../ip/index.ts';
import type { ContainerRecord } from '../registry.ts';
import { type DockerPortMap, portMapOf } from './ports.ts';

/** The names of Docker's pre-defined networks. */
export const PREDEFINED_NETWORKS: readonly string[] = ['bridge', 'host', 'none'];

export const isPredefined = (name: string): boolean => PREDEFINED_NETWORKS.includes(name);

export interface DockerIpamConfig {
  Subnet: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface DockerEndpointResource {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export interface DockerNetwork {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string>; Config: DockerIpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, DockerEndpointResource>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

function ipamConfig(n: Network): DockerIpamConfig[] {
  // IPv4 pools first, then IPv6, as dockerd lists them.
  const pools = [...n.pools.filter((p) => !p.v6), ...n.pools.filter((p) => p.v6)];
  return pools.map((p) => {
    const aux = Object.fromEntries(Object.entries(p.auxAddresses).map(([k, v]) => [k, plain(v)]));
    return {
      Subnet: p.subnet,
      ...(p.ipRange ? { IPRange: p.ipRange } : {}),
      ...(p.gateway ? { Gateway: plain(p.gateway) } : {}),
      ...(Object.keys(aux).length > 0 ? { AuxiliaryAddresses: aux } : {}),
    };
  });
}

async function endpointResource(ep: Endpoint): Promise<DockerEndpointResource> {
  const info = await ep.info();
  return {
    Name: ep.name,
    EndpointID: ep.id,
    MacAddress: info.macAddress ?? '',
    IPv4Address: info.ipv4Address ?? '',
    IPv6Address: info.ipv6Address ?? '',
  };
}

/**
 * A network in Docker's shape. `withContainers`: inspect fills `Containers` (keyed by container
 * ID, or `ep-<endpoint ID>` for an endpoint no container has joined); the list leaves it `{}`.
 */
export async function dockerNetwork(n: Network, withContainers: boolean): Promise<DockerNetwork> {
  const containers: Record<string, DockerEndpointResource> = {};
  if (withContainers) {
    for (const ep of n.endpoints()) {
      containers[ep.containerId ?? `ep-${ep.id}`] = await endpointResource(ep);
    }
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.createdAt,
    Scope: 'local',
    Driver: n.type,
    // dockerd 28.0 (API 1.48) reports the host and none networks without IPv4: no IPAM of their own
    EnableIPv4: n.type !== 'host' && n.type !== 'null' && n.enableIPv4,
    EnableIPv6: n.enableIPv6,
    IPAM: { Driver: n.ipamDriverName, Options: n.ipamOptions, Config: ipamConfig(n) },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: n.configFrom },
    ConfigOnly: n.configOnly,
    Containers: containers,
    Options: n.options,
    Labels: n.labels,
  };
}

// --- sandboxes ---------------------------------------------------------------------------------

/** One network of a sandbox, as in a container's `NetworkSettings.Networks`. */
export interface DockerSandboxNetwork {
  NetworkID: string;
  EndpointID: string;
  /** dnet's addition: the interface's name inside the sandbox. */
  InterfaceName: string;
  MacAddress: string;
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPv6Gateway: string;
  /** As dockerd: the endpoint's aliases, null when it has none. */
  Aliases: string[] | null;
  /** As dockerd: the names the embedded resolver answers for it; null on a network without it. */
  DNSNames: string[] | null;
}

export interface DockerSandbox {
  /** The container's ID. */
  Id: string;
  Name: string;
  Created: string;
  /** The core's sandbox ID. */
  SandboxID: string;
  /** The network namespace's path. */
  SandboxKey: string;
  HostNetwork: boolean;
  /** dnet's addition: the namespace is someone else's (a CNI runtime's), attached by path. */
  External: boolean;
  Hostname: string;
  Domainname: string;
  DNS: string[];
  DNSSearch: string[];
  DNSOptions: string[];
  ExtraHosts: string[];
  HostsPath: string;
  ResolvConfPath: string;
  /** By network name. */
  Networks: Record<string, DockerSandboxNetwork>;
  /** Published ports of all its endpoints. */
  Ports: DockerPortMap;
}

function splitCidr(cidr: string | undefined): [string, number] {
  if (!cidr) return ['', 0];
  const [ip, len] = cidr.split('/');
  return [ip ?? '', Number(len ?? 0)];
}

export async function dockerSandbox(sb: Sandbox, rec: ContainerRecord): Promise<DockerSandbox> {
  const networks: Record<string, DockerSandboxNetwork> = {};
  const ports: DockerPortMap = {};
  for (const ep of sb.endpoints()) {
    const info = await ep.info();
    const [ip, len] = splitCidr(info.ipv4Address);
    const [ip6, len6] = splitCidr(info.ipv6Address);
    networks[ep.network.name] = {
      NetworkID: ep.network.id,
      EndpointID: ep.id,
      InterfaceName: info.interfaceName ?? '',
      MacAddress: info.macAddress ?? '',
      IPAddress: ip,
      IPPrefixLen: len,
      Gateway: info.gateway ?? '',
      GlobalIPv6Address: ip6,
      GlobalIPv6PrefixLen: len6,
      IPv6Gateway: info.gatewayIPv6 ?? '',
      Aliases: info.aliases.length > 0 ? info.aliases : null,
      DNSNames: info.dnsNames ?? null,
    };
    for (const [k, v] of Object.entries(portMapOf(info.portMappings))) {
      ports[k] = [...(ports[k] ?? []), ...(v ?? [])];
    }
  }
  const o = sb.options;
  return {
    Id: sb.containerId,
    Name: rec.name,
    Created: rec.created,
    SandboxID: sb.id,
    SandboxKey: sb.key,
    HostNetwork: sb.isHost,
    External: sb.external,
    Hostname: o.hostname ?? '',
    Domainname: o.domainname ?? '',
    DNS: [...(o.dns ?? [])],
    DNSSearch: [...(o.dnsSearch ?? [])],
    DNSOptions: [...(o.dnsOptions ?? [])],
    ExtraHosts: (o.extraHosts ?? []).map((h) => `${h.name}:${h.ip}`),
    HostsPath: sb.hostsPath,
    ResolvConfPath: sb.resolvConfPath,
    Networks: networks,
    Ports: ports,
  };
}
