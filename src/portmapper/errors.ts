import { DnetError } from '../errors/base.ts';

/**
 * The port mapper's errors: host port allocation (allocator.ts) and the in-process userland proxy
 * (proxy.ts). Each has a stable `code` and a `kind` (the HTTP status the daemon answers,
 * src/errors/base.ts), and its message says what was wrong and what to do about it.
 *
 * Kinds against dockerd's:
 * - a host port already allocated: `conflict` (409). dockerd answers 500 ("Bind for 0.0.0.0:8080
 *   failed: port is already allocated" is a plain error there); the state of other bindings forbids
 *   the request now and it succeeds once they go, which is what 409 means here (base.ts). The message
 *   starts with dockerd's text, so scripts that look for it still find it.
 * - no free port in the ephemeral range or in a user-given range: `conflict` (409), not
 *   `unavailable`: no dependency failed, and retrying will not help until a binding is released
 *   (dockerd: "all ports are allocated", a 500).
 * - a host address already in use by another program when the proxy listens: `conflict` (409);
 *   an address that is not on this host: `invalid` (400); any other listen failure: `internal`.
 */

function q(s: string): string {
  return JSON.stringify(s);
}

/** `ip:port` as Go's net.JoinHostPort writes it (brackets around IPv6), as in dockerd's messages. */
export function joinHostPort(ip: string, port: number | string): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function render(value: unknown): string {
  if (typeof value === 'string') return q(value);
  if (typeof value === 'bigint') return `${value}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The fields of a port binding or proxy spec that validation names. */
export type PortBindingField =
  | 'request'
  | 'proto'
  | 'hostIP'
  | 'hostPort'
  | 'hostPortEnd'
  | 'span'
  | 'containerIP'
  | 'containerPort'
  | 'udpIdleTimeoutMs'
  | 'udpMaxFlows';

// --- allocation ---------------------------------------------------------------------------------

/**
 * A host port (or a port of a host range) is already allocated to another binding: the same
 * protocol and port on the same host address, or on the wildcard address of its family
 * (`0.0.0.0` conflicts with every IPv4 address, `::` with every IPv6 address). `heldOn` is the
 * address of the binding that holds it.
 */
export class PortAlreadyAllocatedError extends DnetError {
  readonly code = 'ERR_PORT_ALLOCATED';
  readonly kind = 'conflict';
  constructor(
    readonly proto: string,
    readonly hostIP: string,
    readonly hostPort: number,
    readonly heldOn: string,
  ) {
    const holder =
      heldOn === hostIP
        ? `${proto} port ${hostPort} is held by another binding on ${heldOn}`
        : `${proto} port ${hostPort} is held by another binding on ${heldOn}, which covers ${hostIP}`;
    super(
      `Bind for ${joinHostPort(hostIP, hostPort)} failed: port is already allocated (${holder}); ` +
        `publish on another host port, leave the host port empty for an ephemeral one, ` +
        `or stop the container that publishes it`,
    );
  }
}

/**
 * No free host port (or no `span` consecutive free ports) is left where the request allows one:
 * the ephemeral range for requests without a host port, the given range otherwise.
 */
export class NoAvailablePortError extends DnetError {
  readonly code = 'ERR_NO_AVAILABLE_PORT';
  readonly kind = 'conflict';
  constructor(
    readonly proto: string,
    readonly hostIP: string,
    readonly rangeStart: number,
    readonly rangeEnd: number,
    readonly span: number,
    readonly ephemeral: boolean,
  ) {
    const what = span === 1 ? 'no free port' : `no ${span} consecutive free ports`;
    const where = ephemeral
      ? `in the ephemeral range ${rangeStart}-${rangeEnd}`
      : `in the requested range ${rangeStart}-${rangeEnd}`;
    const todo = ephemeral
      ? 'release published ports (stop containers that publish them), or widen the ephemeral range'
      : 'give a wider host port range, release published ports in it, or leave the host port empty';
    super(
      `Bind for ${joinHostPort(hostIP, `${rangeStart}-${rangeEnd}`)} failed: all ports are allocated ` +
        `(${what} for ${proto} on ${hostIP} ${where}); ${todo}`,
    );
  }
}

/** A port binding (or proxy spec) has a field that cannot be used; `field` names it. */
export class InvalidPortBindingError extends DnetError {
  readonly code = 'ERR_INVALID_PORT_BINDING';
  readonly kind = 'invalid';
  /** The value as received, rendered for display (JSON where possible). */
  readonly value: string;
  constructor(
    readonly field: PortBindingField,
    value: unknown,
    readonly reason: string,
  ) {
    const shown = render(value);
    super(`invalid port binding: ${field} ${shown}: ${reason}`);
    this.value = shown;
  }
}

// --- userland proxy -----------------------------------------------------------------------------

/**
 * The userland proxy cannot carry this protocol. Node has no SCTP sockets, so SCTP ports are
 * published by kernel DNAT only (no proxy for traffic from the host itself or hairpin).
 */
export class ProxyProtocolUnsupportedError extends DnetError {
  readonly code = 'ERR_PROXY_PROTO_UNSUPPORTED';
  readonly kind = 'invalid';
  constructor(readonly proto: string) {
    super(
      `the userland proxy cannot carry ${proto}: Node.js has no ${proto} sockets; ` +
        `${proto} ports are published by kernel DNAT rules only (do not start a proxy for them)`,
    );
  }
}

/** The proxy's host address and port are in use by another socket (EADDRINUSE). */
export class ProxyAddressInUseError extends DnetError {
  readonly code = 'ERR_PROXY_ADDRESS_IN_USE';
  readonly kind = 'conflict';
  constructor(
    readonly proto: string,
    readonly hostIP: string,
    readonly hostPort: number,
    options?: { cause?: unknown },
  ) {
    super(
      `Error starting userland proxy: listen ${proto} ${joinHostPort(hostIP, hostPort)}: bind: ` +
        `address already in use; another program (or another proxy) listens there: stop it, ` +
        `or publish on another host port or address`,
      options,
    );
  }
}

/** The proxy's host address is not an address of this host (EADDRNOTAVAIL). */
export class ProxyAddressNotAvailableError extends DnetError {
  readonly code = 'ERR_PROXY_ADDRESS_NOT_AVAILABLE';
  readonly kind = 'invalid';
  constructor(
    readonly proto: string,
    readonly hostIP: string,
    readonly hostPort: number,
    options?: { cause?: unknown },
  ) {
    super(
      `Error starting userland proxy: listen ${proto} ${joinHostPort(hostIP, hostPort)}: bind: ` +
        `cannot assign requested address; ${hostIP} is not an address of this host: ` +
        `publish on one of the host's addresses, or on 0.0.0.0 / ::`,
      options,
    );
  }
}

/** The proxy could not listen for another reason (EACCES, EMFILE...); `errnoName` says which. */
export class ProxyListenError extends DnetError {
  readonly code = 'ERR_PROXY_LISTEN';
  readonly kind = 'internal';
  constructor(
    readonly proto: string,
    readonly hostIP: string,
    readonly hostPort: number,
    readonly errnoName: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Error starting userland proxy: listen ${proto} ${joinHostPort(hostIP, hostPort)}: ${errnoName}; ` +
        `EACCES means dnet lacks the right to bind the port, EMFILE/ENFILE that it ran out of file ` +
        `descriptors (raise its limit)`,
      options,
    );
  }
}

// --- host port holding (holder.ts) ---------------------------------------------------------------

/**
 * Another program holds the host port (a listening server, or a socket bound to it): binding the
 * port failed with EADDRINUSE. Publishing it would take that program's traffic (the DNAT rule runs
 * before the local socket), so the publication is refused and nothing of it is allocated.
 * `conflict` (409), like a port another binding holds (PortAlreadyAllocatedError).
 */
export class HostPortInUseError extends DnetError {
  readonly code = 'ERR_PORT_IN_USE';
  readonly kind = 'conflict';
  constructor(
    readonly proto: string,
    readonly hostIP: string,
    readonly hostPort: number,
    options?: { cause?: unknown },
  ) {
    super(
      `Bind for ${joinHostPort(hostIP, hostPort)} failed: port is already in use by another program ` +
        `on this host (${proto} port ${hostPort} on ${hostIP}: a server listens there or a socket is ` +
        `bound to it); stop that program, publish on another host port or address, or leave the ` +
        `host port empty for an ephemeral one`,
      options,
    );
  }
}

/**
 * The published host address is not an address of this host (EADDRNOTAVAIL), or not one a port can
 * be bound on (EINVAL: e.g. a multicast address). `invalid` (400).
 */
export class HostAddressNotAvailableError extends DnetError {
  readonly code = 'ERR_HOST_ADDRESS_NOT_AVAILABLE';
  readonly kind = 'invalid';
  constructor(
    readonly proto: string,
    readonly hostIP: string,
    readonly hostPort: number,
    readonly errnoName: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Bind for ${joinHostPort(hostIP, hostPort)} failed: ${hostIP} is not an address of this host ` +
        `that ${proto} ports can be bound on (${errnoName}); publish on one of the host's unicast ` +
        `addresses, or on 0.0.0.0 / ::`,
      options,
    );
  }
}

/** Binding the host port failed for another reason (EACCES, EMFILE...); `errnoName` says which. */
export class HostPortBindError extends DnetError {
  readonly code = 'ERR_PORT_BIND';
  readonly kind = 'internal';
  constructor(
    readonly proto: string,
    readonly hostIP: string,
    readonly hostPort: number,
    readonly errnoName: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Bind for ${joinHostPort(hostIP, hostPort)} failed: ${proto}: ${errnoName}; EACCES means dnet ` +
        `lacks the right to bind the port, EMFILE/ENFILE that it ran out of file descriptors (one is ` +
        `held per published port: raise its limit)`,
      options,
    );
  }
}
