import { type IpFamily, parseIp } from '../ip/index.ts';

export type { IpFamily };

export interface HostIp {
  family: IpFamily;
  /** Canonical text: dotted quad, or RFC 5952 for IPv6 (`::`, `fe80::1`). */
  text: string;
  /** `0.0.0.0` or `::`: every address of the family. */
  wildcard: boolean;
}

/**
 * Parses an IP address strictly (src/ip), as the port mapper takes them: IPv6 without a zone and
 * not IPv4-mapped (`::ffff:1.2.3.4` would be an IPv4 binding in disguise: give the IPv4 address),
 * and not multicast or broadcast (nothing can be published on them).
 * Returns the reason as a string when it is not one.
 */
export function parseHostIp(s: unknown): HostIp | string {
  if (typeof s === 'string' && s.includes('%'))
    return 'an IPv6 address with a zone (%) cannot be published on';
  const ip = parseIp(s);
  if (typeof ip === 'string') return ip;
  if (ip.mapped) {
    return `it is an IPv4-mapped IPv6 address: give the IPv4 address ${ip.text.slice('::ffff:'.length)}`;
  }
  if (ip.family === 4) {
    const first = Number(ip.value >> 24n);
    const range = first >= 224 && first <= 239 ? 'multicast' : ip.value === 0xffffffffn ? 'broadcast' : '';
    if (range !== '') {
      return `it is a ${range} address: ports are published on unicast addresses (or 0.0.0.0 for all)`;
    }
    return { family: 4, text: ip.text, wildcard: ip.value === 0n };
  }
  if (ip.value >> 120n === 0xffn) {
    return 'it is a multicast address: ports are published on unicast addresses (or :: for all)';
  }
  return { family: 6, text: ip.text, wildcard: ip.value === 0n };
}
