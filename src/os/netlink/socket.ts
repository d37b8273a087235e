/**
 * A NETLINK_ROUTE socket: sends one request, collects its replies (one message, an ACK, or a
 * multipart dump until NLMSG_DONE), turns kernel errors into NetlinkError with the kernel's
 * extended-ack text, and retries dumps the kernel marks interrupted (NLM_F_DUMP_INTR).
 *
 * Calls are synchronous: rtnetlink handles a request in the sender's sendmsg() call, so the
 * replies are queued by the time recv() runs; a receive timeout guards against a kernel that
 * never answers. Replies are decoded straight out of one reusable receive buffer.
 */
import { NetlinkDecodeError, NetlinkError } from '../../errors/index.ts';
import {
  AF_NETLINK,
  bind,
  close,
  getsockname,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_GET_STRICT_CHK,
  recv,
  SO_RCVTIMEO,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
  sendto,
  setsockoptBuf,
  setsockoptInt,
  socket,
} from '../ffi/libc.ts';
import { NLM_F, NLMSG, type NlMessage, parseDone, parseError, parseMessages } from './codec/index.ts';
import type { MessageWriter } from './codec/writer.ts';

const NETLINK_ROUTE = 0;
const RECV_SIZE = 1 << 20;
const DUMP_RETRIES = 10;
const EAGAIN = 11;
const EINTR_DUMP = 4; // the kernel's errno for an interrupted dump (EINTR) in NLMSG_DONE/ERROR

/** sockaddr_nl of the kernel (pid 0, no groups). */
const KERNEL = (() => {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  return b;
})();

let recvBuf: Buffer | undefined;

/** The dump was interrupted more times than we retry (the table kept changing under it). */
function dumpInterrupted(op: string): NetlinkError {
  return new NetlinkError(op, EINTR_DUMP, `dump interrupted ${DUMP_RETRIES} times in a row`);
}

export class NetlinkSocket {
  readonly fd: number;
  /** The port id the kernel gave this socket. */
  readonly pid: number;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;

  /** The netlink protocol (NETLINK_ROUTE by default; NETLINK_NETFILTER for nf_tables). */
  readonly protocol: number;

  /** Opens a socket in the calling thread's current network namespace. */
  constructor(opts: { timeoutMs?: number; protocol?: number } = {}) {
    this.protocol = opts.protocol ?? NETLINK_ROUTE;
    this.fd = socket(AF_NETLINK, SOCK_RAW, this.protocol);
    try {
      setsockoptInt(this.fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      setsockoptInt(this.fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      setsockoptInt(this.fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
      const tv = Buffer.alloc(16);
      const ms = opts.timeoutMs ?? 10_000;
      tv.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
      tv.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
      setsockoptBuf(this.fd, SOL_SOCKET, SO_RCVTIMEO, tv);
      const addr = Buffer.alloc(12);
      addr.writeUInt16LE(AF_NETLINK, 0);
      bind(this.fd, addr);
      this.pid = getsockname(this.fd, 12).readUInt32LE(4);
    } catch (err) {
      close(this.fd);
      throw err;
    }
  }

  /**
   * Sends `msg` and returns its replies decoded by `decode` (data messages only). `op` names
   * the operation in errors ("link add veth0"). A dump is retried from the start when the
   * kernel says it was interrupted by a concurrent change.
   */
  request<T>(msg: MessageWriter, op: string, decode?: (m: NlMessage) => T): T[] {
    if (this.closed) throw new NetlinkError(op, 9, 'netlink socket is closed'); // EBADF
    for (let attempt = 0; ; attempt++) {
      const { out, interrupted } = this.once(msg, op, decode);
      if (!interrupted) return out;
      if (attempt + 1 >= DUMP_RETRIES) throw dumpInterrupted(op);
    }
  }

  private once<T>(
    msg: MessageWriter,
    op: string,
    decode?: (m: NlMessage) => T,
  ): { out: T[]; interrupted: boolean } {
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    const bytes = msg.finish(seq, this.pid);
    const flags = bytes.readUInt16LE(6);
    // rtnetlink's GET* types are 4n+2; other protocols (nf_tables) only dump with NLM_F_DUMP.
    const dump =
      (flags & NLM_F.DUMP) === NLM_F.DUMP &&
      (this.protocol !== NETLINK_ROUTE || bytes.readUInt16LE(4) % 4 === 2);
    const wantsAck = (flags & NLM_F.ACK) !== 0;
    sendto(this.fd, bytes, bytes.length, KERNEL);
    recvBuf ??= Buffer.alloc(RECV_SIZE);
    const buf = recvBuf;
    const out: T[] = [];
    let interrupted = false;
    for (;;) {
      let n: number;
      try {
        n = recv(this.fd, buf);
      } catch (err) {
        if ((err as { errno?: number }).errno === EAGAIN) {
          throw new NetlinkError(op, EAGAIN, 'no answer from the kernel before the receive timeout');
        }
        throw err;
      }
      for (const m of parseMessages(buf.subarray(0, n))) {
        if (m.seq !== seq || (m.pid !== this.pid && m.pid !== 0)) continue; // a stale reply
        if (m.flags & NLM_F.DUMP_INTR) interrupted = true;
        if (m.type === NLMSG.ERROR) {
          const e = parseError(m);
          if (e.errno === EINTR_DUMP && dump) return { out, interrupted: true };
          if (e.errno !== 0) throw new NetlinkError(op, e.errno, e.extack);
          return { out, interrupted };
        }
        if (m.type === NLMSG.DONE) {
          const e = parseDone(m);
          if (e.errno === EINTR_DUMP) return { out, interrupted: true };
          if (e.errno !== 0) throw new NetlinkError(op, e.errno, e.extack);
          return { out, interrupted };
        }
        if (m.type === NLMSG.NOOP) continue;
        if (m.type === NLMSG.OVERRUN) throw new NetlinkDecodeError(`${op}: netlink overrun`);
        if (decode) out.push(decode(m));
        if (!dump && !wantsAck) return { out, interrupted };
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }
}
