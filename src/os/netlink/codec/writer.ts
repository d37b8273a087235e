import { NLA_F_NESTED, NLMSG_HDRLEN } from './constants.ts';

/** Rounds up to netlink's 4-byte alignment. */
export const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Builds one netlink message in a growable buffer (host byte order, as the kernel expects):
 * the 16-byte header, a fixed family header written by the caller, then attributes, nested
 * attributes closed with end(). finish() fills in nlmsg_len and returns the bytes.
 */
export class MessageWriter {
  private buf: Buffer;
  private pos = 0;
  private readonly nests: number[] = [];

  constructor(type: number, flags: number, size = 256) {
    this.buf = Buffer.alloc(Math.max(size, NLMSG_HDRLEN));
    this.buf.writeUInt16LE(type, 4);
    this.buf.writeUInt16LE(flags, 6);
    this.pos = NLMSG_HDRLEN;
  }

  private reserve(n: number): number {
    const need = this.pos + align4(n);
    if (need > this.buf.length) {
      const next = Buffer.alloc(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
    const at = this.pos;
    this.pos = need;
    return at;
  }

  /** Raw bytes (a family header such as ifinfomsg), padded to 4. */
  bytes(data: Buffer): this {
    const at = this.reserve(data.length);
    data.copy(this.buf, at);
    return this;
  }

  /** A zeroed area of n bytes for a fixed header; returns a view the caller fills in. */
  header(n: number): Buffer {
    const at = this.reserve(n);
    return this.buf.subarray(at, at + n);
  }

  attr(type: number, data: Buffer): this {
    const at = this.reserve(4 + data.length);
    this.buf.writeUInt16LE(4 + data.length, at);
    this.buf.writeUInt16LE(type, at + 2);
    data.copy(this.buf, at + 4);
    return this;
  }

  u8(type: number, v: number): this {
    return this.attr(type, Buffer.from([v & 0xff]));
  }

  u16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return this.attr(type, b);
  }

  /** A big-endian (network byte order) u16, e.g. IFLA_VXLAN_PORT. */
  be16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.attr(type, b);
  }

  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.attr(type, b);
  }

  s32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return this.attr(type, b);
  }

  /** A NUL-terminated string attribute. */
  str(type: number, v: string): this {
    return this.attr(type, Buffer.from(`${v}\0`, 'utf8'));
  }

  /** Opens a nested attribute; close it with end(). */
  nest(type: number): this {
    const at = this.reserve(4);
    this.buf.writeUInt16LE(type | NLA_F_NESTED, at + 2);
    this.nests.push(at);
    return this;
  }

  end(): this {
    const at = this.nests.pop();
    if (at === undefined) throw new Error('MessageWriter.end() without nest()');
    this.buf.writeUInt16LE(this.pos - at, at);
    return this;
  }

  /** Sets the sequence number and port id and returns the finished message. */
  finish(seq = 0, pid = 0): Buffer {
    if (this.nests.length > 0) throw new Error('MessageWriter.finish() with an open nest');
    this.buf.writeUInt32LE(this.pos, 0);
    this.buf.writeUInt32LE(seq >>> 0, 8);
    this.buf.writeUInt32LE(pid >>> 0, 12);
    return this.buf.subarray(0, this.pos);
  }
}
