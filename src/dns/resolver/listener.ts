/**
 * One sandbox's listener: Node sockets made from the UDP and TCP descriptors opened inside the
 * sandbox's namespace (src/os/dns-sockets.ts). Every message goes to one handler with the
 * protocol it came on; the answer goes back on the same socket. TCP connections are bounded in
 * number, idle time and message size (RFC 7766 framing: a 2-byte length, pipelining allowed).
 * Nothing a client sends can throw out of here: errors are counted and the message dropped.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export type QueryHandler = (
  msg: Buffer,
  proto: 'udp' | 'tcp',
) => Buffer | undefined | Promise<Buffer | undefined>;

/** Bounds of the TCP side (per sandbox). */
export const MAX_TCP_CONNECTIONS = 64;
export const TCP_IDLE_MS = 10_000;
/** Queries a TCP connection may have unanswered at once. */
export const MAX_TCP_PIPELINE = 16;
/** A query larger than this is not a query (RFC 1035: names and one question fit in 512). */
export const MAX_QUERY_BYTES = 4096;

export class SandboxListener {
  private readonly udp: dgram.Socket;
  private readonly tcp: net.Server;
  private readonly conns = new Set<net.Socket>();
  /** Messages dropped (oversized, handler failure). */
  dropped = 0;
  private closed = false;

  constructor(
    fds: { udp: number; tcp: number },
    private readonly handle: QueryHandler,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.udp = dgram.createSocket({ type: 'udp4' });
    this.udp.on('error', (err) => this.onError(err));
    this.udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
    this.udp.bind({ fd: fds.udp });
    this.tcp = net.createServer({ pauseOnConnect: false }, (c) => this.onConnection(c));
    this.tcp.maxConnections = MAX_TCP_CONNECTIONS;
    this.tcp.on('error', (err) => this.onError(err));
    this.tcp.listen({ fd: fds.tcp });
  }

  private onUdp(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length > MAX_QUERY_BYTES) {
      this.dropped++;
      return;
    }
    const send = (out: Buffer | undefined) => {
      if (out && !this.closed) this.udp.send(out, rinfo.port, rinfo.address, () => {});
    };
    try {
      const r = this.handle(msg, 'udp');
      if (r instanceof Promise)
        r.then(send, (err) => {
          this.dropped++;
          this.onError(err);
        });
      else send(r);
    } catch (err) {
      this.dropped++;
      this.onError(err);
    }
  }

  private onConnection(c: net.Socket): void {
    this.conns.add(c);
    c.setTimeout(TCP_IDLE_MS, () => c.destroy());
    c.on('error', () => {});
    c.on('close', () => this.conns.delete(c));
    let buf: Buffer = Buffer.alloc(0);
    let open = 0;
    const write = (out: Buffer | undefined) => {
      open--;
      if (!out || c.destroyed) return;
      const len = Buffer.alloc(2);
      len.writeUInt16BE(out.length);
      c.write(Buffer.concat([len, out]));
    };
    c.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (n > MAX_QUERY_BYTES || n < 12 || open >= MAX_TCP_PIPELINE) {
          this.dropped++;
          c.destroy();
          return;
        }
        if (buf.length < 2 + n) return;
        const msg = Buffer.from(buf.subarray(2, 2 + n));
        buf = buf.subarray(2 + n);
        open++;
        try {
          const r = this.handle(msg, 'tcp');
          if (r instanceof Promise)
            r.then(write, (err) => {
              open--;
              this.dropped++;
              this.onError(err);
            });
          else write(r);
        } catch (err) {
          open--;
          this.dropped++;
          this.onError(err);
        }
      }
    });
  }

  /** Closes both sockets (their descriptors) and every TCP connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.udp.close();
    } catch {
      // already closed (an error closed it)
    }
    this.tcp.close();
    for (const c of this.conns) c.destroy();
  }
}
