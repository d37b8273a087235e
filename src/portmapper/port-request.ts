/**
 * A port request as the allocator takes it (PortRequest), checked and classified: an exact port
 * or block, a host range to pick from, or an ephemeral port. Refusals are InvalidPortBindingError,
 * naming the field and what would be accepted.
 */
import { InvalidPortBindingError } from './errors.ts';
import { type HostIp, parseHostIp } from './ip.ts';

export type PortProto = 'tcp' | 'udp' | 'sctp';

const PROTOS: readonly PortProto[] = ['tcp', 'udp', 'sctp'];

/** The most ports one request may name (a host range, or a span). */
export const MAX_PORT_RANGE = 10_000;
export interface PortRequest {
  proto: PortProto;
  /** A specific IPv4/IPv6 address, or `0.0.0.0` / `::` for every address of that family. */
  hostIP: string;
  /** The host port, or the first of a range; 0 or absent: an ephemeral port. */
  hostPort?: number;
  /** The last port of a host range (0 or absent: no range). Needs `hostPort`. */
  hostPortEnd?: number;
  /** How many consecutive host ports are needed (a container port range of N ports: N). Default 1. */
  span?: number;
}

export interface ParsedRequest {
  proto: PortProto;
  ip: HostIp;
  mode: 'exact' | 'range' | 'ephemeral';
  lo: number;
  hi: number;
  span: number;
}

export function isPortNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function isProto(v: unknown): v is PortProto {
  return typeof v === 'string' && (PROTOS as readonly string[]).includes(v);
}

export function checkProto(v: unknown): PortProto {
  if (!isProto(v)) throw new InvalidPortBindingError('proto', v, 'the protocol must be tcp, udp or sctp');
  return v;
}

export function checkIp(v: unknown): HostIp {
  const ip = parseHostIp(v);
  if (typeof ip === 'string') {
    throw new InvalidPortBindingError(
      'hostIP',
      v,
      `${ip} (give a host address, or 0.0.0.0 / :: for all addresses of a family)`,
    );
  }
  return ip;
}

function checkOptionalPort(field: 'hostPort' | 'hostPortEnd', v: unknown): number {
  if (v === undefined || v === 0) return 0;
  if (!isPortNumber(v)) {
    throw new InvalidPortBindingError(field, v, 'host ports are integers 1-65535 (0 or absent: none)');
  }
  return v;
}

export function parseRequest(r: unknown): ParsedRequest {
  if (typeof r !== 'object' || r === null) {
    throw new InvalidPortBindingError('request', r, 'a port request is an object { proto, hostIP, ... }');
  }
  const req = r as Partial<Record<keyof PortRequest, unknown>>;
  const proto = checkProto(req.proto);
  const ip = checkIp(req.hostIP);
  const hostPort = checkOptionalPort('hostPort', req.hostPort);
  const hostPortEnd = checkOptionalPort('hostPortEnd', req.hostPortEnd);
  let span = 1;
  if (req.span !== undefined) {
    if (
      typeof req.span !== 'number' ||
      !Number.isInteger(req.span) ||
      req.span < 1 ||
      req.span > MAX_PORT_RANGE
    ) {
      throw new InvalidPortBindingError('span', req.span, `a span is an integer 1-${MAX_PORT_RANGE}`);
    }
    span = req.span;
  }
  if (hostPort === 0) {
    if (hostPortEnd !== 0) {
      throw new InvalidPortBindingError(
        'hostPortEnd',
        hostPortEnd,
        'a host range needs its first port (hostPort) too; leave both empty for an ephemeral port',
      );
    }
    return { proto, ip, mode: 'ephemeral', lo: 0, hi: 0, span };
  }
  if (hostPortEnd === 0 || hostPortEnd === hostPort) {
    const hi = hostPort + span - 1;
    if (hi > 65535) {
      throw new InvalidPortBindingError(
        'span',
        span,
        `${span} ports from host port ${hostPort} go past 65535: choose a lower host port`,
      );
    }
    return { proto, ip, mode: 'exact', lo: hostPort, hi, span };
  }
  if (hostPortEnd < hostPort) {
    throw new InvalidPortBindingError(
      'hostPortEnd',
      hostPortEnd,
      `the last port of the host range is below its first port (${hostPort})`,
    );
  }
  const size = hostPortEnd - hostPort + 1;
  if (size > MAX_PORT_RANGE) {
    throw new InvalidPortBindingError(
      'hostPortEnd',
      hostPortEnd,
      `the host range ${hostPort}-${hostPortEnd} has ${size} ports; at most ${MAX_PORT_RANGE} are allowed`,
    );
  }
  if (span === 1) return { proto, ip, mode: 'range', lo: hostPort, hi: hostPortEnd, span };
  if (size !== span) {
    throw new InvalidPortBindingError(
      'hostPortEnd',
      hostPortEnd,
      `the host range ${hostPort}-${hostPortEnd} has ${size} ports and the container range ${span}: ` +
        `they must have the same size, or the container side must be a single port`,
    );
  }
  return { proto, ip, mode: 'exact', lo: hostPort, hi: hostPortEnd, span };
}
