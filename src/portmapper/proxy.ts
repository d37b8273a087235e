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
import dgram from 'node:dgram';
import net from 'node:net';
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
/** Datagrams queued per UDP flow while its socket connects. */
const MAX_PENDING_DATAGRAMS = 64;

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

interface Checked {
  proto: 'tcp' | 'udp';
  host: HostIp;
  hostPort: number;
  container: HostIp;
  containerPort: number;
  idleMs: number;
  maxFlows: number;
  onError: (err: Error) => void;
}

function checkSpec(spec: ProxySpec): Checked {
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

function listenError(c: Checked, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE')
    return new ProxyAddressInUseError(c.proto, c.host.text, c.hostPort, { cause: err });
  // EINVAL: an address no socket can be bound to (a link-local IPv6 address without its zone).
  if (code === 'EADDRNOTAVAIL' || code === 'EINVAL') {
    return new ProxyAddressNotAvailableError(c.proto, c.host.text, c.hostPort, { cause: err });
  }
  return new ProxyListenError(c.proto, c.host.text, c.hostPort, code ?? String(err), { cause: err });
}

/**
 * Starts a proxy from hostIP:hostPort to containerIP:containerPort. Resolves once it listens.
 * Throws InvalidPortBindingError, ProxyProtocolUnsupportedError (sctp), ProxyAddressInUseError,
 * ProxyAddressNotAvailableError or ProxyListenError; on failure nothing is left open.
 */
export async function startProxy(spec: ProxySpec): Promise<ProxyHandle> {
  const c = checkSpec(spec);
  return c.proto === 'tcp' ? startTcp(c) : startUdp(c);
}

function handle(c: Checked, active: () => number, close: () => Promise<void>): ProxyHandle {
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

// --- TCP -----------------------------------------------------------------------------------------

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  open: number;
}

function closed(s: net.Socket | dgram.Socket): Promise<void> {
  return new Promise((resolve) => s.once('close', () => resolve()));
}

async function startTcp(c: Checked): Promise<ProxyHandle> {
  const pairs = new Set<Pair>();
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });

  server.on('connection', (client: net.Socket) => {
    const upstream = net.connect({
      host: c.container.text,
      port: c.containerPort,
      allowHalfOpen: true,
      noDelay: true,
    });
    const pair: Pair = { client, upstream, open: 2 };
    pairs.add(pair);
    client.setNoDelay(true);
    let connected = false;

    const reset = (s: net.Socket) => {
      if (s.destroyed) return;
      // A reset where the kernel can send one (connected TCP); a plain destroy otherwise.
      if (s.connecting || s.readyState === 'closed') s.destroy();
      else s.resetAndDestroy();
    };
    client.on('error', () => reset(upstream));
    upstream.on('error', () => reset(client));

    upstream.once('connect', () => {
      connected = true;
      client.pipe(upstream);
      upstream.pipe(client);
    });

    // pipe() ends the other side when one side ends (FIN); when one side closes without its
    // readable side ending, the other is ended (clean close) or reset (error) here.
    const onClose = (other: net.Socket) => (hadError: boolean) => {
      pair.open -= 1;
      if (pair.open === 0) pairs.delete(pair);
      if (hadError || !connected) reset(other);
      else if (!other.destroyed && !other.writableEnded) other.end();
    };
    client.on('close', onClose(upstream));
    upstream.on('close', onClose(client));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(
        { host: c.host.text, port: c.hostPort, ipv6Only: c.host.family === 6, exclusive: true },
        () => {
          server.off('error', reject);
          resolve();
        },
      );
    });
  } catch (err) {
    // net closes the handle of a failed listen itself; make sure the server is not left listening.
    if (server.listening) server.close();
    throw listenError(c, err);
  }
  server.on('error', (err: Error) => c.onError(err));

  return handle(
    c,
    () => pairs.size,
    async () => {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      const waits: Promise<void>[] = [done];
      for (const p of pairs) {
        for (const s of [p.client, p.upstream]) {
          if (!s.closed) {
            waits.push(closed(s));
            s.destroy();
          }
        }
      }
      await Promise.all(waits);
    },
  );
}

// --- UDP -----------------------------------------------------------------------------------------

interface Flow {
  key: string;
  address: string;
  port: number;
  sock: dgram.Socket;
  timer: NodeJS.Timeout;
  /** Datagrams waiting for the socket to connect; undefined once connected. */
  pending: Buffer[] | undefined;
  closed: boolean;
  done: Promise<void>;
}

async function bindUdp(c: Checked): Promise<dgram.Socket> {
  const main = dgram.createSocket({
    type: c.host.family === 4 ? 'udp4' : 'udp6',
    ipv6Only: c.host.family === 6,
    reuseAddr: false,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      main.once('error', reject);
      main.bind({ address: c.host.text, port: c.hostPort, exclusive: true }, () => {
        main.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    try {
      main.close();
    } catch {
      // already closed
    }
    throw listenError(c, err);
  }
  return main;
}

/**
 * The flows of one UDP proxy: one connected socket to the container per client address and port,
 * at most `maxFlows` (the idlest is evicted), each closed after `idleMs` without traffic.
 */
class UdpFlows {
  /** Insertion order is recency: a flow is moved to the end on traffic, so the first is the idlest. */
  private readonly flows = new Map<string, Flow>();
  private stopping = false;

  constructor(
    private readonly c: Checked,
    private readonly main: dgram.Socket,
  ) {}

  get size(): number {
    return this.flows.size;
  }

  private readonly sendErr = (err: Error | null): void => {
    if (err) this.c.onError(err);
  };

  private close(f: Flow): void {
    if (f.closed) return;
    f.closed = true;
    clearTimeout(f.timer);
    if (this.flows.get(f.key) === f) this.flows.delete(f.key);
    f.pending = undefined;
    try {
      f.sock.close();
    } catch {
      // already closed
    }
  }

  private touch(f: Flow): void {
    f.timer.refresh();
    this.flows.delete(f.key);
    this.flows.set(f.key, f);
  }

  private open(key: string, address: string, port: number): Flow {
    const c = this.c;
    const sock = dgram.createSocket(c.container.family === 4 ? 'udp4' : 'udp6');
    const f: Flow = {
      key,
      address,
      port,
      sock,
      timer: setTimeout(() => this.close(f), c.idleMs).unref(),
      pending: [],
      closed: false,
      done: closed(sock),
    };
    sock.on('error', () => this.close(f));
    sock.on('message', (msg: Buffer) => {
      if (f.closed || this.stopping) return;
      this.touch(f);
      this.main.send(msg, f.port, f.address, this.sendErr);
    });
    sock.connect(c.containerPort, c.container.text, () => {
      if (f.closed) return;
      const queued = f.pending ?? [];
      f.pending = undefined;
      for (const m of queued) sock.send(m, this.sendErr);
    });
    this.flows.set(key, f);
    return f;
  }

  /** A datagram from a client: to the container through the client's flow (made on its first datagram). */
  forward(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.stopping) return;
    const key = `${rinfo.address}|${rinfo.port}`;
    let f = this.flows.get(key);
    if (f === undefined) {
      if (this.flows.size >= this.c.maxFlows) {
        const idlest = this.flows.values().next().value;
        if (idlest !== undefined) this.close(idlest);
      }
      f = this.open(key, rinfo.address, rinfo.port);
    } else {
      this.touch(f);
    }
    if (f.pending !== undefined) {
      if (f.pending.length < MAX_PENDING_DATAGRAMS) f.pending.push(msg);
    } else {
      f.sock.send(msg, this.sendErr);
    }
  }

  /** Closes the listening socket and every flow. */
  async stop(): Promise<void> {
    this.stopping = true;
    const waits: Promise<void>[] = [new Promise<void>((resolve) => this.main.close(() => resolve()))];
    for (const f of [...this.flows.values()]) {
      waits.push(f.done);
      this.close(f);
    }
    await Promise.all(waits);
  }
}

async function startUdp(c: Checked): Promise<ProxyHandle> {
  const main = await bindUdp(c);
  main.on('error', (err: Error) => c.onError(err));
  const flows = new UdpFlows(c, main);
  main.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => flows.forward(msg, rinfo));
  return handle(
    c,
    () => flows.size,
    () => flows.stop(),
  );
}
