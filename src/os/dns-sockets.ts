/**
 * The embedded resolver's sockets inside a sandbox: a UDP socket and a listening TCP socket bound
 * to 127.0.0.11:53 in the sandbox's network namespace, made in one synchronous call (setns in,
 * socket + bind + listen, setns back). The descriptors are then handed to Node (dgram's
 * `bind({ fd })`, net's `listen({ fd })`), which serves them from the daemon's own namespace:
 * a socket stays in the namespace it was made in. No process, no DNAT, one pair per sandbox.
 *
 * Equivalent to: `ip netns exec <ns> <a server bound to 127.0.0.11:53 udp and tcp>`.
 */
import { DnetError } from '../errors/base.ts';
import { SyscallError } from '../errors/os.ts';
import { ipBytes, parseIp } from '../ip/index.ts';
import {
  AF_INET,
  AF_INET6,
  bind,
  close,
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

/** A bound UDP socket and a listening TCP socket (non-blocking, close-on-exec). */
export interface DnsSocketFds {
  udp: number;
  tcp: number;
}

/**
 * Opens the resolver's UDP and TCP sockets inside the namespace `ns`, bound to `address:port`
 * (default 127.0.0.11:53). The caller owns the descriptors (Node closes them with the sockets
 * made from them). Throws DnsListenerError.
 */
export function openDnsSockets(
  ns: NetnsRef,
  opts: { address?: string; port?: number; where?: string } = {},
): DnsSocketFds {
  const { family, addr } = sockaddr(opts.address ?? RESOLVER_ADDRESS, opts.port ?? RESOLVER_PORT);
  const where = opts.where ?? ('path' in ns ? ns.path : `namespace fd ${ns.fd}`);
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
    return { udp, tcp };
  } catch (err) {
    if (udp >= 0) close(udp);
    if (tcp >= 0) close(tcp);
    throw new DnsListenerError(where, err);
  }
}
