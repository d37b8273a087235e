import { NetlinkDecodeError } from '../../../errors/index.ts';
import { type Ip, type IpFamily, ipBytes, ipFromBytes, parseIp as parseIpText } from '../../../ip/index.ts';
import { AF } from './constants.ts';

export type { IpFamily };

/** An address as netlink carries it (parsed by src/ip: no second parser here); throws if not one. */
function parseIp(ip: string): Ip {
  const parsed = parseIpText(ip);
  if (typeof parsed === 'string') throw new RangeError(`invalid IP address ${JSON.stringify(ip)}: ${parsed}`);
  return parsed;
}

export function familyOf(ip: string): IpFamily {
  return parseIp(ip).family;
}

export function afOf(family: IpFamily): number {
  return family === 4 ? AF.INET : AF.INET6;
}

/** IP string → network-order bytes (4 or 16). Throws on a malformed address. */
export function ipToBytes(ip: string): Buffer {
  return ipBytes(parseIp(ip));
}

/** Network-order bytes → canonical IP string (RFC 5952 for IPv6). */
export function bytesToIp(b: Buffer): string {
  if (b.length !== 4 && b.length !== 16) {
    throw new NetlinkDecodeError(`netlink: an IP address of ${b.length} bytes (expected 4 or 16)`);
  }
  return ipFromBytes(b) ?? '';
}

/** "a/n" → { ip, prefixLen }; a bare address gets the full length. */
export function parseCidr(cidr: string): { ip: string; prefixLen: number; family: IpFamily } {
  const slash = cidr.indexOf('/');
  const ip = slash < 0 ? cidr : cidr.slice(0, slash);
  const addr = parseIp(ip);
  const family = addr.family;
  const max = family === 4 ? 32 : 128;
  const prefixLen = slash < 0 ? max : Number(cidr.slice(slash + 1));
  if (
    !Number.isInteger(prefixLen) ||
    prefixLen < 0 ||
    prefixLen > max ||
    (slash >= 0 && cidr.slice(slash + 1) === '')
  ) {
    throw new RangeError(`invalid prefix length in ${JSON.stringify(cidr)}: expected 0-${max}`);
  }
  return { ip: addr.text, prefixLen, family };
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** "aa:bb:cc:dd:ee:ff" → 6 bytes. */
export function macToBytes(mac: string): Buffer {
  if (!MAC_RE.test(mac))
    throw new RangeError(`invalid MAC address ${JSON.stringify(mac)}: expected aa:bb:cc:dd:ee:ff`);
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

/** Hardware address bytes → "aa:bb:..." (any length). */
export function bytesToMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
