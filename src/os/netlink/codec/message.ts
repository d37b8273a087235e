import { NetlinkDecodeError } from '../../../errors/index.ts';
import { Attrs } from './attrs.ts';
import { NLM_F, NLMSG, NLMSG_HDRLEN, NLMSGERR_ATTR } from './constants.ts';
import { align4 } from './writer.ts';

/** One netlink message: the header fields and its payload (a view into the receive buffer). */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/**
 * Splits a datagram into its messages, validating every length. Never reads past `buf`;
 * a truncated or inconsistent datagram is a NetlinkDecodeError, never a crash.
 */
export function parseMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLMSG_HDRLEN) {
      throw new NetlinkDecodeError(
        `netlink: ${buf.length - off} bytes left at offset ${off}, less than a header`,
      );
    }
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new NetlinkDecodeError(
        `netlink: message at offset ${off} claims ${len} bytes, ${buf.length - off} available`,
      );
    }
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** The content of an NLMSG_ERROR (errno 0 = ACK) or of a NLMSG_DONE that carries an error. */
export interface NlErrorInfo {
  /** Positive errno; 0 for an acknowledgement. */
  errno: number;
  /** The kernel's extended ack message, when it gave one. */
  extack?: string;
  /** Offset of the offending attribute in the request, when the kernel gave one. */
  extackOffset?: number;
}

/**
 * Decodes NLMSG_ERROR: s32 error, then the request's header (only the header when the reply
 * is capped, NETLINK_CAP_ACK), then extended-ack attributes when NLM_F_ACK_TLVS is set.
 */
export function parseError(msg: NlMessage): NlErrorInfo {
  const p = msg.payload;
  if (p.length < 4) throw new NetlinkDecodeError(`netlink: error message of ${p.length} bytes`);
  const errno = -p.readInt32LE(0);
  const info: NlErrorInfo = { errno };
  if (msg.flags & NLM_F.ACK_TLVS) {
    let skip = 4 + NLMSG_HDRLEN;
    if (!(msg.flags & NLM_F.CAPPED) && p.length >= 4 + NLMSG_HDRLEN) {
      skip = 4 + align4(p.readUInt32LE(4));
    }
    if (skip <= p.length) readExtack(p.subarray(skip), info);
  }
  return info;
}

/** NLMSG_DONE of a dump: s32 status, then extack attributes when NLM_F_ACK_TLVS is set. */
export function parseDone(msg: NlMessage): NlErrorInfo {
  const p = msg.payload;
  const errno = p.length >= 4 ? -p.readInt32LE(0) : 0;
  const info: NlErrorInfo = { errno };
  if (msg.flags & NLM_F.ACK_TLVS && p.length > 4) readExtack(p.subarray(4), info);
  return info;
}

function readExtack(b: Buffer, info: NlErrorInfo): void {
  const a = Attrs.parse(b, 'netlink extack');
  const text = a.str(NLMSGERR_ATTR.MSG);
  if (text) info.extack = text;
  const offs = a.u32(NLMSGERR_ATTR.OFFS);
  if (offs !== undefined) info.extackOffset = offs;
}

export function isError(m: NlMessage): boolean {
  return m.type === NLMSG.ERROR;
}

export function isDone(m: NlMessage): boolean {
  return m.type === NLMSG.DONE;
}
