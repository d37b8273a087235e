/**
 * Host port holding: a socket bound (never listening) to a published host address and port, in the
 * namespace the calling thread is in (the daemon's), so that no other program can bind that port
 * while dnet publishes it, and so that a port another program already holds is refused instead of
 * silently taking its traffic. Docker does the same (its bridge driver binds each published host
 * port, daemon/libnetwork/drivers/bridge/port_mapping_linux.go bindTCPOrUDP); Node cannot bind a
 * TCP socket without listening, hence socket(2) and bind(2) through the FFI.
 *
 * Equivalent to Python's `s = socket(AF_INET, SOCK_STREAM); s.bind(("0.0.0.0", 8080))` kept open.
 *
 * SO_REUSEADDR. Docker binds with SO_REUSEADDR set and leaves it set. Set during bind(), it lets the
 * port be taken while connections of an earlier server on it are in TIME_WAIT (without it, a port
 * that a local server used within the last minute could not be published). Left set on a socket
 * that does not listen, it does not keep other sockets out: any program that also sets it (Node's
 * net.Server, nginx, sshd: nearly every server) can bind and listen on the port anyway. So dnet
 * sets it for the bind and clears it right after: from then on every other bind of that address and
 * port fails with EADDRINUSE, with or without SO_REUSEADDR (Linux checks a new bind against the
 * flags the existing sockets have at that moment). A listening socket already on the port is never
 * shared, whatever the flags: the bind fails with EADDRINUSE.
 * UDP has no TIME_WAIT, and SO_REUSEADDR on UDP means "share the port with other sockets that set
 * it": a UDP port is bound without it, so a UDP socket of another program (with or without the flag)
 * is seen, and none can join it later.
 *
 * IPv6 sockets are IPv6-only (IPV6_V6ONLY), as the port allocator treats the families apart: `::`
 * holds every IPv6 address and no IPv4 one.
 *
 * SCTP: held like TCP when the kernel has SCTP sockets (`sctpSupported()`: asked once, by trying to
 * make one); without SCTP in the kernel there is nothing to hold (no program can bind an SCTP
 * port either), and callers skip it.
 *
 * Cost: one socket(2), two or three setsockopt(2) and one bind(2) per port: 10-50 µs per port on
 * the shared test machine, as much as Python's socket module takes for the same calls (the kernel's
 * cost; test/kernel/port-holding.test.ts prints it for 1000 ports). Every socket is close-on-exec.
 */

import { SyscallError } from '../errors/os.ts';
import { ipBytes, parseIp } from '../ip/index.ts';
import {
  AF_INET,
  AF_INET6,
  bind,
  close,
  IPPROTO_IPV6,
  IPPROTO_SCTP,
  IPV6_V6ONLY,
  SO_REUSEADDR,
  SOCK_DGRAM,
  SOCK_STREAM,
  SOL_SOCKET,
  setsockoptInt,
  socket,
} from './ffi/libc.ts';

export type HostPortProto = 'tcp' | 'udp' | 'sctp';

/** sockaddr_in / sockaddr_in6 for an IP address (canonical or not) and a port. */
function sockaddr(hostIP: string, port: number): { family: number; addr: Buffer } {
  const ip = parseIp(hostIP);
  if (typeof ip === 'string') throw new RangeError(`invalid IP address ${JSON.stringify(hostIP)}: ${ip}`);
  if (ip.family === 4) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    ipBytes(ip).copy(b, 4);
    return { family: AF_INET, addr: b };
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  ipBytes(ip).copy(b, 8);
  return { family: AF_INET6, addr: b };
}

let sctp: boolean | undefined;

/** Whether the kernel makes SCTP sockets (the sctp module is there or can be loaded). Asked once. */
export function sctpSupported(): boolean {
  if (sctp === undefined) {
    try {
      close(socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP));
      sctp = true;
    } catch (err) {
      if (!(err instanceof SyscallError)) throw err;
      // EPROTONOSUPPORT / ESOCKTNOSUPPORT / EAFNOSUPPORT: no SCTP here. Anything else is a real
      // failure (EMFILE...), but then nothing can be bound either: say no, the bind will tell.
      sctp = false;
    }
  }
  return sctp;
}

/**
 * Binds a socket to hostIP:port for `proto` and returns its fd (bound, not listening, close-on-exec,
 * SO_REUSEADDR cleared after the bind: see the module comment). Throws SyscallError (`op` socket,
 * setsockopt or bind; `errnoName` EADDRINUSE when the port is held, EADDRNOTAVAIL when the address is
 * not one of this host's, EACCES, EMFILE...); nothing is left open on failure.
 */
export function bindHostPort(proto: HostPortProto, hostIP: string, port: number): number {
  const { family, addr } = sockaddr(hostIP, port);
  const type = proto === 'udp' ? SOCK_DGRAM : SOCK_STREAM;
  const fd = socket(family, type, proto === 'sctp' ? IPPROTO_SCTP : 0);
  try {
    if (family === AF_INET6) setsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    const reuse = proto !== 'udp';
    if (reuse) setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    try {
      bind(fd, addr);
    } catch (err) {
      if (err instanceof SyscallError) {
        throw new SyscallError(
          'bind',
          err.errno,
          `${proto} ${hostIP.includes(':') ? `[${hostIP}]` : hostIP}:${port}`,
        );
      }
      throw err;
    }
    if (reuse) setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 0);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

/** Closes a socket bindHostPort returned: the port is free again. */
export function closeHostPort(fd: number): void {
  close(fd);
}
