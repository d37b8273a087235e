/**
 * What a sandbox tells the embedded resolver (src/dns/resolver) when an endpoint joins: the
 * endpoint's DNS names and addresses on its network, the upstreams, and how to open the sandbox's
 * listening sockets (inside its namespace). The resolver never imports the core; this is the one
 * place that translates.
 */

import { readFileIfExists } from '../dns/files.ts';
import { buildResolvConf } from '../dns/resolv-conf.ts';
import type { NameRecord } from '../dns/resolver/names.ts';
import type { Resolver } from '../dns/resolver/resolver.ts';
import { hostnameViolation } from '../dns/validate.ts';
import type { DnsSocketFds } from '../os/dns-sockets.ts';
import type { Endpoint } from './endpoint.ts';
import type { Sandbox } from './sandbox.ts';

/** Docker's address of the embedded resolver in a container. */
export const EMBEDDED_RESOLVER = '127.0.0.11';

/** What sandboxes share about DNS: the controller's resolver (if on) and its default servers. */
export interface SandboxDns {
  resolver: Resolver | undefined;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

/**
 * The DNS names of an endpoint of a sandbox: the endpoint's name, the container's name, the
 * endpoint's aliases and the container's host name (as Docker's DNSNames), those that are DNS names.
 */
export function endpointDnsNames(sb: Sandbox, ep: Endpoint): string[] {
  const o = sb.options;
  const all = [ep.name, o.containerName, ...(ep.options.aliases ?? []), o.hostname];
  const ok = all.filter(
    (n): n is string => n !== undefined && hostnameViolation(n, { allowUnderscore: true }) === undefined,
  );
  return [...new Set(ok)];
}

/** The servers the resolver forwards to: `dns` when given, else the host file's nameservers. */
export function hostResolvUpstreams(hostResolvConf: string, dns: string[] | undefined): string[] {
  return buildResolvConf(readFileIfExists(hostResolvConf), {
    ...(dns ? { dns } : {}),
    internalResolver: EMBEDDED_RESOLVER,
    comments: false,
  }).extServers;
}

/** An endpoint's entry in the resolver's names: its DNS names, addresses and PTR name. */
export function nameRecord(sb: Sandbox, ep: Endpoint): NameRecord {
  const iface = ep.iface;
  const names = endpointDnsNames(sb, ep);
  return {
    names,
    ...(iface.address ? { ipv4: iface.address.split('/')[0] as string } : {}),
    ...(iface.addressIPv6 ? { ipv6: iface.addressIPv6.split('/')[0] as string } : {}),
    ...(names[0] !== undefined ? { ptrName: sb.options.containerName ?? names[0] } : {}),
  };
}

/**
 * An endpoint joined: its names answer from now on; the sandbox's sockets open on its first. The
 * sockets opened then, for the caller to redirect to (OsSandbox.redirectDns), else undefined.
 */
export function joinResolver(
  r: Resolver,
  sb: Sandbox,
  ep: Endpoint,
  upstreams: string[],
): DnsSocketFds | undefined {
  let opened: DnsSocketFds | undefined;
  r.join(
    sb.id,
    {
      networkId: ep.network.id,
      networkName: ep.network.name,
      key: ep.id,
      internal: ep.network.internal,
      record: nameRecord(sb, ep),
    },
    () => {
      opened = sb.os.openDnsSockets();
      return opened;
    },
    upstreams,
  );
  return opened;
}
