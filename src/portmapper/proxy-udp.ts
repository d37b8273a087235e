/** The UDP half of the userland proxy (proxy.ts describes its behaviour). */
import dgram from 'node:dgram';
import { type Checked, closed, handle, listenError, type ProxyHandle } from './proxy-spec.ts';

/** Datagrams queued per UDP flow while its socket connects. */
const MAX_PENDING_DATAGRAMS = 64;

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

export async function startUdp(c: Checked): Promise<ProxyHandle> {
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
