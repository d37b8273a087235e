import { NetlinkDecodeError } from '../../../errors/index.ts';
import { NLA_TYPE_MASK } from './constants.ts';
import { align4 } from './writer.ts';

/**
 * The attributes of one level, by type (flags stripped). A repeated type keeps every value in
 * order in `all`; `get` returns the first. Values are views into the message buffer.
 */
export class Attrs {
  private readonly map = new Map<number, Buffer[]>();

  static parse(buf: Buffer, where: string): Attrs {
    const a = new Attrs();
    let off = 0;
    while (off + 4 <= buf.length) {
      const len = buf.readUInt16LE(off);
      const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
      if (len < 4 || off + len > buf.length) {
        throw new NetlinkDecodeError(
          `${where}: attribute ${type} at offset ${off} has length ${len}, beyond the ${buf.length} bytes available`,
        );
      }
      const v = buf.subarray(off + 4, off + len);
      const list = a.map.get(type);
      if (list) list.push(v);
      else a.map.set(type, [v]);
      off += align4(len);
    }
    // Trailing bytes shorter than an attribute header are padding only if zero-length.
    if (off < buf.length && buf.length - off >= 4) {
      throw new NetlinkDecodeError(`${where}: ${buf.length - off} trailing bytes after the attributes`);
    }
    return a;
  }

  has(type: number): boolean {
    return this.map.has(type);
  }

  get(type: number): Buffer | undefined {
    return this.map.get(type)?.[0];
  }

  all(type: number): Buffer[] {
    return this.map.get(type) ?? [];
  }

  types(): number[] {
    return [...this.map.keys()];
  }

  private need(type: number, size: number, where: string): Buffer | undefined {
    const v = this.get(type);
    if (v !== undefined && v.length < size) {
      throw new NetlinkDecodeError(`${where}: attribute ${type} has ${v.length} bytes, expected ${size}`);
    }
    return v;
  }

  u8(type: number, where = 'attribute'): number | undefined {
    return this.need(type, 1, where)?.readUInt8(0);
  }

  u16(type: number, where = 'attribute'): number | undefined {
    return this.need(type, 2, where)?.readUInt16LE(0);
  }

  be16(type: number, where = 'attribute'): number | undefined {
    return this.need(type, 2, where)?.readUInt16BE(0);
  }

  /** A big-endian (network byte order) u32, e.g. nf_tables' NFTA_GEN_ID. */
  be32(type: number, where = 'attribute'): number | undefined {
    return this.need(type, 4, where)?.readUInt32BE(0);
  }

  u32(type: number, where = 'attribute'): number | undefined {
    return this.need(type, 4, where)?.readUInt32LE(0);
  }

  s32(type: number, where = 'attribute'): number | undefined {
    return this.need(type, 4, where)?.readInt32LE(0);
  }

  /** A string attribute, NUL terminator (if any) removed. */
  str(type: number): string | undefined {
    const v = this.get(type);
    if (v === undefined) return undefined;
    const nul = v.indexOf(0);
    return v.toString('utf8', 0, nul < 0 ? v.length : nul);
  }

  nested(type: number, where: string): Attrs | undefined {
    const v = this.get(type);
    return v === undefined ? undefined : Attrs.parse(v, where);
  }
}
