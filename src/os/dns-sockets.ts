/**
 * The embedded resolver's sockets inside a sandbox: a UDP socket and a listening TCP socket bound
 * to 127.0.0.11 in the sandbox's network namespace, made in one synchronous call (setns in,
 * socket + bind + listen, setns back; openDnsSockets). The descriptors are then handed to Node (dgram's
 * `bind({ fd })`, net's `listen({ fd })`), which serves them from the daemon's own namespace:
 * a socket stays in the namespace it was made in. No process, one pair per sandbox.
 *
 * As Docker does, the sockets take ephemeral ports and a DNAT in the sandbox's own nftables table
 * (`ip dnet-dns`, output hook) sends 127.0.0.11:53 to them: a container may then run its own DNS
 * server on 0.0.0.0:53 (which a socket bound to 127.0.0.11:53 would refuse with EADDRINUSE).
 * Replies are un-NATed by conntrack. The table goes with the namespace. That transaction runs on
 * the kernel worker (redirectDnsSockets), with a libnftables context made inside the namespace.
 *
 * Equivalent to: `ip netns exec <ns> <a server on 127.0.0.11:P udp and tcp>` and
 * `nft add rule ip dnet-dns output ip daddr 127.0.0.11 udp dport 53 dnat to :P` (and tcp).
 */
import { DnetError } from '../errors/base.ts';
import { SyscallError } from '../errors/os.ts';
import { ipBytes, parseIp } from '../ip/index.ts';
import {
  AF_INET,
  AF_INET6,
  bind,
  close,
  getsockname,
  listen,
  SO_RCVBUFFORCE,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  setsockoptInt,
  socket,
} from './ffi/libc.ts';
import { type NetnsRef, runInNetns } from './netns/index.ts';
import { applyNftAsync, expr, NFT_PRIO, NftPlan, stmt } from './nftables/index.ts';

/** Docker's address of the embedded resolver inside every container. */
export const RESOLVER_ADDRESS = '127.0.0.11';
export const RESOLVER_PORT = 53;
/** Pending TCP connections the kernel queues before the resolver accepts them. */
const TCP_BACKLOG = 128;
/** The UDP socket's receive buffer (memory is only used while queries wait). */
const UDP_RCVBUF = 1 << 20;

/** The resolver's sockets could not be made in a sandbox (address in use, no loopback...). */
export class DnsListenerError extends DnetError {
  readonly code = 'ERR_DNS_LISTENER';
  readonly kind = 'internal';
  constructor(
    readonly where: string,
    cause: unknown,
  ) {
    const why = cause instanceof SyscallError ? `${cause.op}: ${cause.errnoName}` : String(cause);
    super(
      `cannot open the embedded DNS resolver's sockets (${RESOLVER_ADDRESS}:${RESOLVER_PORT}) in ${where}: ${why}; ` +
        'is another DNS server bound to that address in the namespace, or its loopback down?',
      { cause },
    );
  }
}

function sockaddr(address: string, port: number): { family: number; addr: Buffer } {
  const ip = parseIp(address);
  if (typeof ip === 'string') throw new RangeError(`invalid IP address ${JSON.stringify(address)}: ${ip}`);
  const bytes = ipBytes(ip);
  if (ip.family === 4) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    bytes.copy(b, 4);
    return { family: AF_INET, addr: b };
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  bytes.copy(b, 8);
  return { family: AF_INET6, addr: b };
}

/** A bound UDP socket and a listening TCP socket (non-blocking, close-on-exec), and their ports. */
export interface DnsSocketFds {
  udp: number;
  tcp: number;
  udpPort: number;
  tcpPort: number;
}

/** The port a bound socket got (sockaddr_in / sockaddr_in6: the port is at offset 2, big endian). */
function boundPort(fd: number): number {
  return getsockname(fd, 28).readUInt16BE(2);
}

/**
 * The sandbox's DNAT of `address:port` to the sockets' ports, one transaction. A second call (after
 * a restart) replaces the rules: the table and chain are added (a no-op when present) and the
 * chain flushed, not the table deleted: deleting a table with a hooked chain waits for the
 * kernel's RCU grace period (10–20 ms measured here), a cost every new sandbox would pay, while
 * this batch takes ~1 ms in a new namespace.
 */
export function dnsRedirectPlan(address: string, port: number, udpPort: number, tcpPort: number): NftPlan {
  const family = address.includes(':') ? 'ip6' : 'ip';
  const t = { family, table: 'dnet-dns' } as const;
  const plan = new NftPlan()
    .addTable(t)
    .addChain(t, 'output', { type: 'nat', hook: 'output', prio: NFT_PRIO.dstnat, policy: 'accept' })
    .flushChain(t, 'output');
  for (const [proto, to] of [
    ['udp', udpPort],
    ['tcp', tcpPort],
  ] as const) {
    plan.addRule(t, 'output', [
      stmt.match(expr.payload(family, 'daddr'), '==', address),
      stmt.match(expr.payload(proto, 'dport'), '==', port),
      stmt.dnat({ family, addr: address, port: to }),
    ]);
  }
  return plan;
}

/**
 * Opens the resolver's UDP and TCP sockets inside the namespace `ns` on `address` (default
 * 127.0.0.11), ephemeral ports; redirectDnsSockets then sends `address:53` to them. The caller
 * owns the descriptors (Node closes them with the sockets made from them). Throws DnsListenerError.
 */
export function openDnsSockets(ns: NetnsRef, opts: { address?: string; where?: string } = {}): DnsSocketFds {
  const { family, addr } = sockaddr(opts.address ?? RESOLVER_ADDRESS, 0);
  let udp = -1;
  let tcp = -1;
  try {
    runInNetns(ns, () => {
      udp = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      // Room for a burst while the event loop is busy (rmem_max would cap SO_RCVBUF at ~208 KiB).
      setsockoptInt(udp, SOL_SOCKET, SO_RCVBUFFORCE, UDP_RCVBUF);
      bind(udp, addr);
      tcp = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
      setsockoptInt(tcp, SOL_SOCKET, SO_REUSEADDR, 1);
      bind(tcp, addr);
      listen(tcp, TCP_BACKLOG);
    });
    return { udp, tcp, udpPort: boundPort(udp), tcpPort: boundPort(tcp) };
  } catch (err) {
    if (udp >= 0) close(udp);
    if (tcp >= 0) close(tcp);
    throw new DnsListenerError(whereOf(ns, opts.where), err);
  }
}

function whereOf(ns: NetnsRef, where: string | undefined): string {
  return where ?? ('path' in ns ? ns.path : `namespace fd ${ns.fd}`);
}

/**
 * The DNAT of `address:port` (default 127.0.0.11:53) to the sockets' ports in the namespace `ns`
 * (dnsRedirectPlan), one transaction on the kernel worker (a context made inside `ns` there).
 * Throws DnsListenerError; the sockets stay the caller's either way.
 */
export async function redirectDnsSockets(
  ns: NetnsRef,
  fds: Pick<DnsSocketFds, 'udpPort' | 'tcpPort'>,
  opts: { address?: string; port?: number; where?: string } = {},
): Promise<void> {
  const plan = dnsRedirectPlan(
    opts.address ?? RESOLVER_ADDRESS,
    opts.port ?? RESOLVER_PORT,
    fds.udpPort,
    fds.tcpPort,
  );
  try {
    await applyNftAsync(plan, { netns: ns });
  } catch (err) {
    throw new DnsListenerError(whereOf(ns, opts.where), err);
  }
}
