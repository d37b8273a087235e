/**
 * Forwarding to the upstream servers (the host's resolv.conf nameservers, or `--dns`), from the
 * daemon's own namespace: loopback upstreams (a local dnsmasq, systemd-resolved's 127.0.0.53)
 * work as on the host, as Docker's resolver forwards them from the host namespace.
 *
 * Each forwarded query gets a fresh socket (a random source port) and a random ID, restored in
 * the answer; an answer whose ID or source does not match is ignored. Upstreams are tried in
 * order (at most MAX_UPSTREAMS), each for `timeoutMs`. UDP queries go over UDP (a truncated
 * answer is passed on: the client retries over TCP), TCP queries over TCP. At most `maxInFlight`
 * forwarded queries are pending at once: beyond that the caller answers SERVFAIL at once, so a
 * flood costs bounded memory.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { parseIp } from '../../ip/index.ts';

/** Docker's resolver tries at most 3 upstreams (maxExtDNS), 4 s each (extIOTimeout). */
export const MAX_UPSTREAMS = 3;
export const DEFAULT_FORWARD_TIMEOUT_MS = 4000;
/** Docker's maxConcurrent. */
export const DEFAULT_MAX_IN_FLIGHT = 1024;
const MAX_MESSAGE = 65535;

export interface Upstream {
  address: string;
  port: number;
}

export interface ForwarderOptions {
  timeoutMs?: number;
  maxInFlight?: number;
}

/** `1.2.3.4`, `[::1]:5353`, `1.2.3.4:5353`, `::1` → an upstream; undefined when not an address. */
export function parseUpstream(s: string): Upstream | undefined {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const host = m ? m[1] : s;
  const port = m?.[2] !== undefined ? Number(m[2]) : 53;
  const ip = parseIp(host, { allowZone: true });
  if (typeof ip === 'string' || !(port > 0 && port < 65536)) return undefined;
  return { address: ip.text, port };
}

export class Forwarder {
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  private pending = 0;
  /** Queries refused because maxInFlight were pending. */
  refused = 0;
  /** Queries no upstream answered in time. */
  failed = 0;
  private closed = false;
  private readonly live = new Set<{ close(): void }>();

  constructor(opts: ForwarderOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  get inFlight(): number {
    return this.pending;
  }

  /**
   * The upstreams' answer to `query` (its ID restored), or undefined when none answered in time,
   * or `'busy'` when maxInFlight queries are already pending. Never throws.
   */
  async forward(
    query: Buffer,
    upstreams: readonly Upstream[],
    proto: 'udp' | 'tcp',
  ): Promise<Buffer | undefined | 'busy'> {
    if (this.closed || upstreams.length === 0 || query.length < 12) return undefined;
    if (this.pending >= this.maxInFlight) {
      this.refused++;
      return 'busy';
    }
    this.pending++;
    try {
      const id = query.readUInt16BE(0);
      for (const up of upstreams.slice(0, MAX_UPSTREAMS)) {
        const ourId = randomInt(0, 65536);
        const q = Buffer.from(query);
        q.writeUInt16BE(ourId, 0);
        const got = await (proto === 'udp' ? this.udp(q, up, ourId) : this.tcp(q, up, ourId)).catch(
          () => undefined,
        );
        if (got) {
          got.writeUInt16BE(id, 0);
          return got;
        }
        if (this.closed) return undefined;
      }
      this.failed++;
      return undefined;
    } finally {
      this.pending--;
    }
  }

  private udp(q: Buffer, up: Upstream, ourId: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const fam = up.address.includes(':') ? 'udp6' : 'udp4';
      const s = dgram.createSocket(fam);
      const handle = { close: () => done(undefined) };
      let finished = false;
      const done = (r: Buffer | undefined) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.live.delete(handle);
        try {
          s.close();
        } catch {
          // already closed
        }
        resolve(r);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      this.live.add(handle);
      s.on('error', () => done(undefined));
      s.on('message', (msg, rinfo) => {
        if (rinfo.port !== up.port || msg.length < 12 || msg.readUInt16BE(0) !== ourId) return;
        done(msg);
      });
      s.send(q, up.port, up.address);
    });
  }

  private tcp(q: Buffer, up: Upstream, ourId: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const s = net.connect({ host: up.address, port: up.port });
      let buf: Buffer = Buffer.alloc(0);
      const handle = { close: () => done(undefined) };
      let finished = false;
      const done = (r: Buffer | undefined) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.live.delete(handle);
        s.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      this.live.add(handle);
      s.on('error', () => done(undefined));
      s.on('close', () => done(undefined));
      s.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length);
        s.write(Buffer.concat([len, q]));
      });
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length > MAX_MESSAGE + 2) return done(undefined);
        if (buf.length < 2) return;
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) return;
        const msg = Buffer.from(buf.subarray(2, 2 + n));
        done(msg.length >= 12 && msg.readUInt16BE(0) === ourId ? msg : undefined);
      });
    });
  }

  /** Gives up every pending query (they resolve undefined). */
  close(): void {
    this.closed = true;
    for (const s of [...this.live]) s.close();
  }
}
