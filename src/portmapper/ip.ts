import ipaddr from 'ipaddr.js';

export type IpFamily = 4 | 6;

export interface HostIp {
  family: IpFamily;
  /** Canonical text: dotted quad, or RFC 5952 for IPv6 (`::`, `fe80::1`). */
  text: string;
  /** `0.0.0.0` or `::`: every address of the family. */
  wildcard: boolean;
}

/**
 * Parses an IP address strictly, as the port mapper takes them: IPv4 only in dotted-quad decimal
 * (ipaddr.parse alone also takes "10.1", octal and hex forms), IPv6 without a zone and not
 * IPv4-mapped (`::ffff:1.2.3.4` would be an IPv4 binding in disguise: give the IPv4 address), and
 * not multicast or broadcast (nothing can be published on them).
 * Returns the reason as a string when it is not one.
 */
export function parseHostIp(s: unknown): HostIp | string {
  if (typeof s !== 'string') return `it is not a string (got ${s === null ? 'null' : typeof s})`;
  // Dispatch on ':' first: ipaddr's IPv4 checks are slow on IPv6 strings (they throw inside).
  if (!s.includes(':')) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return 'it is not an IPv4 address in dotted-decimal form';
    const v4 = ipaddr.IPv4.parse(s);
    // (Octets compared, not ipaddr's range(): this runs for every port request.)
    const o = v4.octets;
    const range = o[0]! >= 224 && o[0]! <= 239 ? 'multicast' : o.every((x) => x === 255) ? 'broadcast' : '';
    if (range !== '') {
      return `it is a ${range} address: ports are published on unicast addresses (or 0.0.0.0 for all)`;
    }
    const text = v4.toString();
    return { family: 4, text, wildcard: text === '0.0.0.0' };
  }
  if (s.includes('%')) return 'an IPv6 address with a zone (%) cannot be published on';
  if (!ipaddr.IPv6.isValid(s)) return 'it is not an IPv4 or IPv6 address';
  const v6 = ipaddr.IPv6.parse(s);
  if (v6.isIPv4MappedAddress()) {
    return `it is an IPv4-mapped IPv6 address: give the IPv4 address ${v6.toIPv4Address().toString()}`;
  }
  if (v6.parts[0]! >= 0xff00) {
    return 'it is a multicast address: ports are published on unicast addresses (or :: for all)';
  }
  const text = v6.toRFC5952String();
  return { family: 6, text, wildcard: text === '::' };
}
