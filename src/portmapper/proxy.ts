/**
 * The userland proxy: Docker's docker-proxy, but inside the daemon (no process per published port).
 * It carries traffic that kernel DNAT rules do not see: connections from the host itself to a
 * published port (`curl localhost:8080`) and, with hairpin NAT off, from containers to a published
 * port of the host. It listens on the host address and port of a mapping, in the namespace the
 * daemon runs in, and forwards to the container's address and port, so the container sees the
 * proxy's address (the bridge's gateway) as the peer, as with docker-proxy.
 *
 * TCP. A net.Server on hostIP:hostPort. Each accepted connection is held (not read) until a
 * connection to containerIP:containerPort is up, then both are piped into each other: stream
 * backpressure applies both ways, a FIN from one side is passed on as a FIN to the other
 * (half-close: the other direction keeps flowing, `allowHalfOpen`), an error or reset on one side
 * resets the other. If the container refuses the connection the client gets a reset. TCP_NODELAY is
 * set on both sides, as Go (docker-proxy) does, so relaying adds no Nagle delay.
 *
 * UDP. A dgram socket on hostIP:hostPort. Each client (address, port) gets a flow: a socket of its
 * own connected to the container, so the container's replies come back on it and are sent to that
 * client from the listening socket. Datagrams arriving before the flow's socket is connected are
 * queued (at most 64). A flow is closed after `udpIdleTimeoutMs` without traffic in either direction
 * (default 90 s) or on a socket error. At most `udpMaxFlows` flows (default 4096, one file
 * descriptor each) are open; a new client beyond that evicts the flow idle the longest.
 * On a wildcard address with several host addresses, a reply's source address is the kernel's
 * route choice (Node has no IP_PKTINFO), as with docker-proxy before it grew one.
 *
 * SCTP: Node has no SCTP sockets. startProxy refuses it (ProxyProtocolUnsupportedError); SCTP
 * ports are published by kernel DNAT only.
 *
 * Addresses. IPv6 listeners are IPv6-only, so `::` does not also take the IPv4 port (the allocator
 * treats the families as independent, allocator.ts). Host and container families may differ (an
 * IPv6 host port to an IPv4-only container). A failed listen (EADDRINUSE → ProxyAddressInUseError,
 * EADDRNOTAVAIL → ProxyAddressNotAvailableError, others ProxyListenError) leaves no socket behind.
 * The listener is opened in the caller's current namespace; opening it inside another namespace is
 * not supported (Node binds asynchronously, and runInNetns must not span an await).
 */
import { checkSpec, type ProxyHandle, type ProxySpec } from './proxy-spec.ts';
import { startTcp } from './proxy-tcp.ts';
import { startUdp } from './proxy-udp.ts';

/**
 * Starts a proxy from hostIP:hostPort to containerIP:containerPort. Resolves once it listens.
 * Throws InvalidPortBindingError, ProxyProtocolUnsupportedError (sctp), ProxyAddressInUseError,
 * ProxyAddressNotAvailableError or ProxyListenError; on failure nothing is left open.
 */
export async function startProxy(spec: ProxySpec): Promise<ProxyHandle> {
  const c = checkSpec(spec);
  return c.proto === 'tcp' ? startTcp(c) : startUdp(c);
}
