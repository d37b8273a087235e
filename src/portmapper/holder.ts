/**
 * Holding published host ports: one bound socket per host port of each allocation (see
 * src/os/host-port.ts for what the socket does and does not keep out), owned by a HeldPorts that
 * closes them when the mapping is released.
 *
 * `holdPorts` is all or nothing: if any port cannot be bound, the sockets bound so far are closed
 * and the error names the port (HostPortInUseError when another program holds it,
 * HostAddressNotAvailableError for an address that is not this host's, HostPortBindError
 * otherwise). `holdPortsBestEffort` is for a restart: what can be held is held, and the failures
 * are returned (the ports were published before and stay published; they are just not held).
 *
 * SCTP ports are skipped when the kernel has no SCTP sockets (nothing else can bind them then).
 * Callers that run the userland proxy do not hold ports: the proxy's listener holds them.
 */
import { SyscallError } from '../errors/os.ts';
import { bindHostPort, closeHostPort, sctpSupported } from '../os/host-port.ts';
import type { Allocated } from './allocator.ts';
import { HostAddressNotAvailableError, HostPortBindError, HostPortInUseError } from './errors.ts';

/** The sockets holding the host ports of some allocations. */
export interface HeldPorts {
  /** How many sockets are open. */
  readonly size: number;
  /** Closes every socket: the ports are free again. Idempotent. */
  release(): void;
}

function bindError(a: Allocated, port: number, err: unknown): Error {
  if (!(err instanceof SyscallError)) return err as Error;
  if (err.errnoName === 'EADDRINUSE') return new HostPortInUseError(a.proto, a.hostIP, port, { cause: err });
  if (err.errnoName === 'EADDRNOTAVAIL' || err.errnoName === 'EINVAL') {
    return new HostAddressNotAvailableError(a.proto, a.hostIP, port, err.errnoName, { cause: err });
  }
  return new HostPortBindError(a.proto, a.hostIP, port, err.errnoName, { cause: err });
}

class Held implements HeldPorts {
  #fds: number[];
  constructor(fds: number[]) {
    this.#fds = fds;
  }
  get size(): number {
    return this.#fds.length;
  }
  release(): void {
    const fds = this.#fds;
    this.#fds = [];
    // Every socket is closed even if one close fails (it cannot, short of a bug: EBADF).
    const errors: unknown[] = [];
    for (const fd of fds) {
      try {
        closeHostPort(fd);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0)
      throw new AggregateError(errors, `closing ${errors.length} held host port(s) failed`);
  }
}

function* portsOf(allocs: readonly Allocated[]): Generator<{ a: Allocated; port: number }> {
  for (const a of allocs) {
    if (a.proto === 'sctp' && !sctpSupported()) continue;
    for (let port = a.hostPort; port <= a.hostPortEnd; port++) yield { a, port };
  }
}

/** Binds every host port of `allocs`, or none (see the module comment). */
export function holdPorts(allocs: readonly Allocated[]): HeldPorts {
  const fds: number[] = [];
  try {
    for (const { a, port } of portsOf(allocs)) {
      try {
        fds.push(bindHostPort(a.proto, a.hostIP, port));
      } catch (err) {
        throw bindError(a, port, err);
      }
    }
  } catch (err) {
    for (const fd of fds) closeHostPort(fd);
    throw err;
  }
  return new Held(fds);
}

/** Binds what it can of `allocs`; returns the held sockets and one error per port that failed. */
export function holdPortsBestEffort(allocs: readonly Allocated[]): { held: HeldPorts; failures: Error[] } {
  const fds: number[] = [];
  const failures: Error[] = [];
  for (const { a, port } of portsOf(allocs)) {
    try {
      fds.push(bindHostPort(a.proto, a.hostIP, port));
    } catch (err) {
      failures.push(bindError(a, port, err));
    }
  }
  return { held: new Held(fds), failures };
}
