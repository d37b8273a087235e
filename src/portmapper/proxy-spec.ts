/** The userland proxy's spec, its checks, and what its TCP and UDP halves share (proxy.ts describes it). */
import type dgram from 'node:dgram';
import type net from 'node:net';
import type { Proto } from '../driver-api/driver.ts';
import {
  InvalidPortBindingError,
  ProxyAddressInUseError,
  ProxyAddressNotAvailableError,
  ProxyListenError,
  ProxyProtocolUnsupportedError,
} from './errors.ts';
import { type HostIp, parseHostIp } from './ip.ts';

export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 90_000;
export const DEFAULT_UDP_MAX_FLOWS = 4096;

export interface ProxySpec {
  /** tcp or udp; sctp is refused (ProxyProtocolUnsupportedError). */
  proto: Proto;
  /** The address to listen on: a host address, or 0.0.0.0 / ::. */
  hostIP: string;
  hostPort: number;
  /** The container's address (a specific address). */
  containerIP: string;
  containerPort: number;
  /** UDP: close a flow after this long without traffic (default 90 s). */
  udpIdleTimeoutMs?: number;
  /** UDP: the most flows open at once (default 4096). */
  udpMaxFlows?: number;
  /** Errors after start-up that do not stop the proxy (accept errors, send errors). Default: ignored. */
  onError?: (err: Error) => void;
}

export interface ProxyHandle {
  readonly proto: 'tcp' | 'udp';
  /** Canonical text of the listening address. */
  readonly hostIP: string;
  readonly hostPort: number;
  readonly containerIP: string;
  readonly containerPort: number;
  /** Open TCP connections (each client with its container side counts once) or UDP flows. */
  active(): number;
  /** Closes the listener and every connection or flow. Idempotent. */
  close(): Promise<void>;
}

/** A spec once checked: parsed addresses and the defaults filled in. */
export interface Checked {
  proto: 'tcp' | 'udp';
  host: HostIp;
  hostPort: number;
  container: HostIp;
  containerPort: number;
  idleMs: number;
  maxFlows: number;
  onError: (err: Error) => void;
}

export function checkSpec(spec: ProxySpec): Checked {
  if (typeof spec !== 'object' || spec === null) {
    throw new InvalidPortBindingError('request', spec, 'startProxy takes a spec object');
  }
  if (spec.proto === 'sctp') throw new ProxyProtocolUnsupportedError('sctp');
  if (spec.proto !== 'tcp' && spec.proto !== 'udp') {
    throw new InvalidPortBindingError('proto', spec.proto, 'the proxy carries tcp or udp');
  }
  const host = parseHostIp(spec.hostIP);
  if (typeof host === 'string') throw new InvalidPortBindingError('hostIP', spec.hostIP, host);
  const container = parseHostIp(spec.containerIP);
  if (typeof container === 'string') {
    throw new InvalidPortBindingError('containerIP', spec.containerIP, container);
  }
  if (container.wildcard) {
    throw new InvalidPortBindingError('containerIP', spec.containerIP, "give the container's own address");
  }
  const port = (v: unknown, field: 'hostPort' | 'containerPort'): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
      throw new InvalidPortBindingError(field, v, 'ports are integers 1-65535');
    }
    return v;
  };
  const positive = (v: unknown, field: 'udpIdleTimeoutMs' | 'udpMaxFlows', def: number, max: number) => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
      throw new InvalidPortBindingError(field, v, `an integer 1-${max}`);
    }
    return v;
  };
  return {
    proto: spec.proto,
    host,
    hostPort: port(spec.hostPort, 'hostPort'),
    container,
    containerPort: port(spec.containerPort, 'containerPort'),
    idleMs: positive(spec.udpIdleTimeoutMs, 'udpIdleTimeoutMs', DEFAULT_UDP_IDLE_TIMEOUT_MS, 2 ** 31 - 1),
    maxFlows: positive(spec.udpMaxFlows, 'udpMaxFlows', DEFAULT_UDP_MAX_FLOWS, 1_000_000),
    onError: typeof spec.onError === 'function' ? spec.onError : () => {},
  };
}

/** The typed error for a failed listen or bind. */
export function listenError(c: Checked, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE')
    return new ProxyAddressInUseError(c.proto, c.host.text, c.hostPort, { cause: err });
  // EINVAL: an address no socket can be bound to (a link-local IPv6 address without its zone).
  if (code === 'EADDRNOTAVAIL' || code === 'EINVAL') {
    return new ProxyAddressNotAvailableError(c.proto, c.host.text, c.hostPort, { cause: err });
  }
  return new ProxyListenError(c.proto, c.host.text, c.hostPort, code ?? String(err), { cause: err });
}

/** The handle of a started proxy; close() runs once, later calls get the same promise. */
export function handle(c: Checked, active: () => number, close: () => Promise<void>): ProxyHandle {
  let closing: Promise<void> | undefined;
  return {
    proto: c.proto,
    hostIP: c.host.text,
    hostPort: c.hostPort,
    containerIP: c.container.text,
    containerPort: c.containerPort,
    active,
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}

/** Resolves when the socket has closed. */
export function closed(s: net.Socket | dgram.Socket): Promise<void> {
  return new Promise((resolve) => s.once('close', () => resolve()));
}
