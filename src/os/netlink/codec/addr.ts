import { NetlinkDecodeError } from '../../../errors/index.ts';
import { Attrs } from './attrs.ts';
import { AF, IFA, IFA_F, NLM_F, RT_SCOPE, RTM } from './constants.ts';
import { afOf, bytesToIp, type IpFamily, ipToBytes, parseCidr } from './ip.ts';
import { MessageWriter } from './writer.ts';

export const IFADDRMSG_LEN = 8;

/** An address to add or delete on a link. */
export interface AddrSpec {
  index: number;
  /** "10.0.0.2/24" or "fd00::2/64". */
  cidr: string;
  /** IPv4 broadcast address (`brd`). */
  broadcast?: string;
  label?: string;
  /** Skip IPv6 duplicate address detection (the address is usable at once). */
  noDad?: boolean;
  scope?: number;
}

export interface Address {
  index: number;
  family: IpFamily;
  /** The address itself (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
  address: string;
  prefixLen: number;
  /** "address/prefixLen". */
  cidr: string;
  /** Peer address (IFA_ADDRESS) when it differs from the local one. */
  peer?: string;
  broadcast?: string;
  label?: string;
  scope: number;
  flags: number;
}

function writeIfaddr(
  w: MessageWriter,
  af: number,
  prefixLen: number,
  flags: number,
  scope: number,
  index: number,
): void {
  const h = w.header(IFADDRMSG_LEN);
  h.writeUInt8(af, 0);
  h.writeUInt8(prefixLen, 1);
  h.writeUInt8(flags & 0xff, 2);
  h.writeUInt8(scope, 3);
  h.writeUInt32LE(index, 4);
}

/**
 * RTM_NEWADDR / RTM_DELADDR.
 * Equivalent to: `ip addr add|del <cidr> dev <dev> [brd B] [label L] [nodad]`.
 */
export function encodeAddr(op: 'add' | 'del' | 'replace', spec: AddrSpec): MessageWriter {
  const { ip, prefixLen, family } = parseCidr(spec.cidr);
  const flags =
    op === 'add'
      ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL
      : op === 'replace'
        ? NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE
        : NLM_F.REQUEST | NLM_F.ACK;
  const w = new MessageWriter(op === 'del' ? RTM.DELADDR : RTM.NEWADDR, flags);
  const ifaFlags = spec.noDad ? IFA_F.NODAD : 0;
  writeIfaddr(w, afOf(family), prefixLen, ifaFlags, spec.scope ?? RT_SCOPE.UNIVERSE, spec.index);
  const bytes = ipToBytes(ip);
  if (family === 4) w.attr(IFA.LOCAL, bytes);
  w.attr(IFA.ADDRESS, bytes);
  if (spec.broadcast !== undefined) w.attr(IFA.BROADCAST, ipToBytes(spec.broadcast));
  if (spec.label !== undefined) w.str(IFA.LABEL, spec.label);
  if (ifaFlags) w.u32(IFA.FLAGS, ifaFlags);
  return w;
}

/** RTM_GETADDR dump, optionally of one family. Equivalent to: `ip addr show`. */
export function encodeAddrDump(family?: IpFamily): MessageWriter {
  const w = new MessageWriter(RTM.GETADDR, NLM_F.REQUEST | NLM_F.DUMP);
  writeIfaddr(w, family ? afOf(family) : AF.UNSPEC, 0, 0, 0, 0);
  return w;
}

export function decodeAddr(payload: Buffer): Address {
  if (payload.length < IFADDRMSG_LEN) {
    throw new NetlinkDecodeError(`RTM_NEWADDR: ${payload.length} bytes, shorter than ifaddrmsg`);
  }
  const af = payload.readUInt8(0);
  if (af !== AF.INET && af !== AF.INET6) throw new NetlinkDecodeError(`RTM_NEWADDR: unexpected family ${af}`);
  const family: IpFamily = af === AF.INET ? 4 : 6;
  const prefixLen = payload.readUInt8(1);
  const a = Attrs.parse(payload.subarray(IFADDRMSG_LEN), 'RTM_NEWADDR');
  const local = a.get(IFA.LOCAL);
  const peer = a.get(IFA.ADDRESS);
  const main = local ?? peer;
  if (!main) throw new NetlinkDecodeError('RTM_NEWADDR: no IFA_LOCAL or IFA_ADDRESS');
  const address = bytesToIp(main);
  const out: Address = {
    index: payload.readUInt32LE(4),
    family,
    address,
    prefixLen,
    cidr: `${address}/${prefixLen}`,
    scope: payload.readUInt8(3),
    flags: a.u32(IFA.FLAGS) ?? payload.readUInt8(2),
  };
  if (local && peer && !local.equals(peer)) out.peer = bytesToIp(peer);
  const brd = a.get(IFA.BROADCAST);
  if (brd) out.broadcast = bytesToIp(brd);
  const label = a.str(IFA.LABEL);
  if (label !== undefined) out.label = label;
  return out;
}
