/**
 * Host port allocation for published ports, with Docker's semantics (moby
 * daemon/libnetwork/portallocator), pure (no syscalls): the bridge driver asks it which host ports a
 * container's `-p` bindings get, then programs DNAT rules and proxies for them.
 *
 * Conflicts. Two bindings conflict when they have the same protocol, share a host port, and either
 * have the same host address or one of them is the wildcard address of the other's family:
 * `0.0.0.0:80/tcp` conflicts with `10.0.0.1:80/tcp`, `10.0.0.1:80/tcp` and `10.0.0.2:80/tcp` do not.
 * IPv4 and IPv6 are independent: `::` covers every IPv6 address and no IPv4 address, so
 * `0.0.0.0:80` and `[::]:80` can be held by different containers. (The kernel treats a `::` socket
 * as dual-stack only when IPV6_V6ONLY is off; the proxy opens its `::` sockets IPv6-only to match,
 * and DNAT rules are per family anyway.)
 *
 * Requests. `hostPort` absent or 0: an ephemeral port. `hostPort` alone: exactly that port (or, with
 * `span` N, the N ports from it). `hostPort`..`hostPortEnd` with `span` 1 (a single container port,
 * Docker's `-p 8000-8010:80`): the lowest free port of that range. With `span` N > 1 (a container
 * range `-p 8000-8004:80-84`): the host range must have exactly N ports, and all of them are taken.
 * A host range (or span) of more than MAX_PORT_RANGE ports is refused.
 *
 * Ephemeral ports are handed out round-robin from `ephemeralStart`-`ephemeralEnd` (49153-65535 by
 * default; dockerd reads the kernel's net.ipv4.ip_local_port_range, which the driver may pass): the
 * search starts after the last port handed out for the same protocol and family and wraps, so a port
 * just released is not reused at once (stale conntrack entries, clients that still remember it). A
 * request with span N gets N consecutive ports that do not cross the end of the range. When none is
 * free: NoAvailablePortError (kind `conflict`, 409: no dependency failed, and a retry succeeds only
 * once something is released).
 *
 * All or nothing. `allocate` takes a batch (one container's bindings) and either allocates every
 * request or none: on any failure, what the batch took so far is released and the ephemeral cursors
 * are put back, then the error (naming the binding) is thrown. Requests of one batch conflict with
 * each other as with earlier allocations.
 *
 * Release. `release` frees the ports of an allocation and returns how many it freed. Releasing
 * ports that are not allocated on that address is a no-op (returns 0): rollback paths and
 * reconciliation may release twice without harm. The allocator cannot tell a stale release from a
 * fresh one once the port was handed to someone else, so callers release exactly what `allocate`
 * returned, once.
 *
 * Cost. State is kept per protocol and family: a byte per port for the wildcard, a count per port
 * of the specific addresses holding it, and a set of ports per specific address. A request for
 * specific ports costs O(ports requested); a search (range, ephemeral) costs O(ports examined) with
 * array reads, at most the size of the range (bounded by 65535 for the ephemeral range, and usually
 * one step thanks to the cursor); neither grows with the number of allocations already made.
 * Memory: 320 KiB per protocol and family in use, allocated on first use.
 *
 * Persistence: none here. The controller replays the published ports from its endpoint records at
 * start (the bridge driver's restoreJoin allocates each recorded host port again, exactly).
 */
import { InvalidOptionError } from '../errors/cnm.ts';
import { InvalidPortBindingError, NoAvailablePortError, PortAlreadyAllocatedError } from './errors.ts';
import type { HostIp, IpFamily } from './ip.ts';
import {
  checkIp,
  checkProto,
  isPortNumber,
  MAX_PORT_RANGE,
  type ParsedRequest,
  type PortProto,
  type PortRequest,
  parseRequest,
} from './port-request.ts';

export { MAX_PORT_RANGE, type PortProto, type PortRequest } from './port-request.ts';

export const DEFAULT_EPHEMERAL_START = 49153;
export const DEFAULT_EPHEMERAL_END = 65535;

export interface PortAllocatorOptions {
  /** First port of the ephemeral range (default 49153). */
  ephemeralStart?: number;
  /** Last port of the ephemeral range (default 65535). */
  ephemeralEnd?: number;
}

/** An allocation: `hostPort`..`hostPortEnd` (equal for one port) on `hostIP` (canonical text). */
export interface Allocated {
  proto: PortProto;
  hostIP: string;
  hostPort: number;
  hostPortEnd: number;
}

/** Per protocol and family: who holds each port, and the ephemeral cursor. */
interface FamilyTable {
  proto: PortProto;
  family: IpFamily;
  /** 1 where the wildcard address holds the port. */
  wild: Uint8Array;
  /** How many specific addresses hold the port. */
  specific: Uint32Array;
  /** Ports held per specific address (canonical text). */
  byAddress: Map<string, Set<number>>;
  /** The last ephemeral port handed out. */
  cursor: number;
}

const PORTS = 65536;

function wildcardOf(family: IpFamily): string {
  return family === 4 ? '0.0.0.0' : '::';
}

/**
 * The first start `s` of a block of `span` ports within [lo, hi] that are all free, trying starts
 * from `from` upwards, then from `lo` up to `from` (wrapping). Each port is examined at most twice.
 */
function findBlock(
  lo: number,
  hi: number,
  from: number,
  span: number,
  free: (p: number) => boolean,
): number | undefined {
  const scan = (a: number, b: number): number | undefined => {
    let s = a;
    while (s <= b) {
      let k = 0;
      while (k < span && free(s + k)) k++;
      if (k === span) return s;
      s += k + 1;
    }
    return undefined;
  };
  const lastStart = hi - span + 1;
  if (lastStart < lo) return undefined;
  const start = from < lo || from > lastStart ? lo : from;
  return scan(start, lastStart) ?? (start > lo ? scan(lo, Math.min(start - 1, lastStart)) : undefined);
}

export class PortAllocator {
  readonly ephemeralStart: number;
  readonly ephemeralEnd: number;
  readonly #tables = new Map<string, FamilyTable>();

  constructor(opts: PortAllocatorOptions = {}) {
    const start = opts.ephemeralStart ?? DEFAULT_EPHEMERAL_START;
    const end = opts.ephemeralEnd ?? DEFAULT_EPHEMERAL_END;
    if (!isPortNumber(start)) {
      throw new InvalidOptionError('ephemeralStart', start, 'a port number is an integer 1-65535');
    }
    if (!isPortNumber(end)) {
      throw new InvalidOptionError('ephemeralEnd', end, 'a port number is an integer 1-65535');
    }
    if (end < start) {
      throw new InvalidOptionError(
        'ephemeralEnd',
        end,
        `the ephemeral range ends below its start (ephemeralStart ${start})`,
      );
    }
    this.ephemeralStart = start;
    this.ephemeralEnd = end;
  }

  /**
   * Allocates every request, or none (see the module comment). Returns one allocation per request,
   * in order. Throws InvalidPortBindingError (before allocating anything), PortAlreadyAllocatedError
   * or NoAvailablePortError.
   */
  allocate(reqs: readonly PortRequest[]): Allocated[] {
    if (!Array.isArray(reqs)) {
      throw new InvalidPortBindingError('request', reqs, 'allocate takes an array of port requests');
    }
    const parsed = reqs.map((r: unknown) => parseRequest(r));
    const done: Allocated[] = [];
    const cursors = new Map<FamilyTable, number>();
    try {
      for (const p of parsed) done.push(this.#allocateOne(p, cursors));
    } catch (err) {
      for (const a of done) this.#free(this.#table(a.proto, a.hostIP.includes(':') ? 6 : 4), a);
      for (const [t, c] of cursors) t.cursor = c;
      throw err;
    }
    return done;
  }

  /**
   * Frees the ports of an allocation that are held on exactly its address; returns how many.
   * Ports not allocated there are left alone (0 for a double release). Throws
   * InvalidPortBindingError if the allocation is malformed.
   */
  release(a: Allocated): number {
    if (typeof a !== 'object' || a === null) {
      throw new InvalidPortBindingError('request', a, 'release takes an allocation as allocate returned it');
    }
    const proto = checkProto(a.proto);
    const ip = checkIp(a.hostIP);
    if (!isPortNumber(a.hostPort)) {
      throw new InvalidPortBindingError('hostPort', a.hostPort, 'host ports are integers 1-65535');
    }
    const end = a.hostPortEnd === undefined || a.hostPortEnd === 0 ? a.hostPort : a.hostPortEnd;
    if (!isPortNumber(end) || end < a.hostPort || end - a.hostPort + 1 > MAX_PORT_RANGE) {
      throw new InvalidPortBindingError(
        'hostPortEnd',
        a.hostPortEnd,
        `the last port must be ${a.hostPort}-65535 and at most ${MAX_PORT_RANGE - 1} above the first`,
      );
    }
    const t = this.#tables.get(`${proto}/${ip.family}`);
    if (t === undefined) return 0;
    return this.#free(t, { proto, hostIP: ip.text, hostPort: a.hostPort, hostPortEnd: end });
  }

  /** Whether `port` is held by a binding on exactly this address (the wildcard counts only for itself). */
  isAllocated(proto: PortProto, hostIP: string, port: number): boolean {
    const p = checkProto(proto);
    const ip = checkIp(hostIP);
    if (!isPortNumber(port)) throw new InvalidPortBindingError('hostPort', port, 'host ports are 1-65535');
    const t = this.#tables.get(`${p}/${ip.family}`);
    if (t === undefined) return false;
    return ip.wildcard ? t.wild[port] === 1 : (t.byAddress.get(ip.text)?.has(port) ?? false);
  }

  #table(proto: PortProto, family: IpFamily): FamilyTable {
    const key = `${proto}/${family}`;
    let t = this.#tables.get(key);
    if (t === undefined) {
      t = {
        proto,
        family,
        wild: new Uint8Array(PORTS),
        specific: new Uint32Array(PORTS),
        byAddress: new Map(),
        cursor: this.ephemeralEnd,
      };
      this.#tables.set(key, t);
    }
    return t;
  }

  /** The address of a binding that conflicts with `ip`:`p`, if any. O(1) except on conflict. */
  #holder(t: FamilyTable, ip: HostIp, p: number): string | undefined {
    if (t.wild[p] === 1) return wildcardOf(t.family);
    if (ip.wildcard) {
      if (t.specific[p] === 0) return undefined;
      // Only on a conflict: find which address holds it, to name it.
      for (const [addr, ports] of t.byAddress) if (ports.has(p)) return addr;
      return 'another address';
    }
    return t.byAddress.get(ip.text)?.has(p) === true ? ip.text : undefined;
  }

  #take(t: FamilyTable, ip: HostIp, p: number): void {
    if (ip.wildcard) {
      t.wild[p] = 1;
      return;
    }
    let set = t.byAddress.get(ip.text);
    if (set === undefined) {
      set = new Set();
      t.byAddress.set(ip.text, set);
    }
    set.add(p);
    t.specific[p]! += 1;
  }

  /** Frees what `a` holds on exactly its address; returns the count. `a.hostIP` is canonical. */
  #free(t: FamilyTable, a: Allocated): number {
    let n = 0;
    if (a.hostIP === wildcardOf(t.family)) {
      for (let p = a.hostPort; p <= a.hostPortEnd; p++) {
        if (t.wild[p] === 1) {
          t.wild[p] = 0;
          n++;
        }
      }
      return n;
    }
    const set = t.byAddress.get(a.hostIP);
    if (set === undefined) return 0;
    for (let p = a.hostPort; p <= a.hostPortEnd; p++) {
      if (set.delete(p)) {
        t.specific[p]! -= 1;
        n++;
      }
    }
    if (set.size === 0) t.byAddress.delete(a.hostIP);
    return n;
  }

  #allocateOne(r: ParsedRequest, cursors: Map<FamilyTable, number>): Allocated {
    const t = this.#table(r.proto, r.ip.family);
    const { ip } = r;
    let lo: number;
    if (r.mode === 'exact') {
      for (let p = r.lo; p <= r.hi; p++) {
        const holder = this.#holder(t, ip, p);
        if (holder !== undefined) throw new PortAlreadyAllocatedError(r.proto, ip.text, p, holder);
      }
      lo = r.lo;
    } else {
      // The free test, specialised once per request: typed-array reads, one Set lookup at most.
      const set = ip.wildcard ? undefined : t.byAddress.get(ip.text);
      const free = ip.wildcard
        ? (p: number) => t.wild[p] === 0 && t.specific[p] === 0
        : (p: number) => t.wild[p] === 0 && set?.has(p) !== true;
      if (r.mode === 'range') {
        const s = findBlock(r.lo, r.hi, r.lo, 1, free);
        if (s === undefined) throw new NoAvailablePortError(r.proto, ip.text, r.lo, r.hi, 1, false);
        lo = s;
      } else {
        const s = findBlock(this.ephemeralStart, this.ephemeralEnd, t.cursor + 1, r.span, free);
        if (s === undefined) {
          throw new NoAvailablePortError(
            r.proto,
            ip.text,
            this.ephemeralStart,
            this.ephemeralEnd,
            r.span,
            true,
          );
        }
        if (!cursors.has(t)) cursors.set(t, t.cursor);
        t.cursor = s + r.span - 1;
        lo = s;
      }
    }
    const hi = lo + r.span - 1;
    for (let p = lo; p <= hi; p++) this.#take(t, ip, p);
    return { proto: r.proto, hostIP: ip.text, hostPort: lo, hostPortEnd: hi };
  }
}
