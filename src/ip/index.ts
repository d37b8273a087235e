/**
 * IP addresses and prefixes: the one module that parses and formats them, on ipaddr.js. Every
 * layer that takes an address from outside (the API, a plugin's reply, a driver option, the host's
 * resolv.conf) parses it here; the netlink codec keeps only its byte encoding.
 *
 * Parsing is strict, as Docker's Go code is: IPv4 only in four-part decimal (ipaddr.parse alone
 * also takes `10.1`, octal and hex forms), IPv6 in its text forms; a zone (`%eth0`) only where
 * the caller allows one. Canonical text is the dotted quad for IPv4, RFC 5952 for IPv6, and
 * `::ffff:a.b.c.d` for IPv4-mapped IPv6 (as Go's netip prints it). Functions that can refuse
 * return the reason as a string, for the caller's own typed error.
 */
import ipaddr from 'ipaddr.js';

export type IpFamily = 4 | 6;

export interface Ip {
  family: IpFamily;
  /** Canonical text (with `%zone` when one was given and allowed). */
  text: string;
  /** IPv4-mapped IPv6 (`::ffff:a.b.c.d`). */
  mapped: boolean;
  /** 127.0.0.0/8, ::1, or an IPv4-mapped loopback address. */
  loopback: boolean;
  /** The IPv6 zone as written after `%`, when allowed and given. */
  zone?: string;
  /** The address as a number (without the zone). */
  value: bigint;
}

export interface ParseIpOptions {
  /** Accept an IPv6 zone (`fe80::1%eth0`). Default false. */
  allowZone?: boolean;
  /** Only this family. */
  family?: IpFamily;
}

/** Interface names (or numeric scope IDs) as IPv6 zones: IFNAMSIZ-1 characters, no separators. */
const ZONE_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4_MAPPED_RE = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

export const familyName = (f: IpFamily): 'IPv4' | 'IPv6' => (f === 4 ? 'IPv4' : 'IPv6');
export const familyBits = (f: IpFamily): number => (f === 4 ? 32 : 128);

/** The family of an address or CIDR text (by its `:`; for text already parsed). */
export const familyOf = (ipOrCidr: string): IpFamily => (ipOrCidr.includes(':') ? 6 : 4);

/** The address part of `address/length` (the text itself when it has no length). */
export const plain = (cidr: string): string => {
  const slash = cidr.indexOf('/');
  return slash < 0 ? cidr : cidr.slice(0, slash);
};

/** Parses an IP address strictly; the reason as a string when `s` is not one. */
export function parseIp(s: unknown, opts: ParseIpOptions = {}): Ip | string {
  if (typeof s !== 'string') return `it is not a string (got ${s === null ? 'null' : typeof s})`;
  if (s.length === 0) return 'it is empty';
  if (s.length > 64) return 'it is too long to be an IP address';
  let ip: Ip | string;
  // Dispatch on ':' first: ipaddr's IPv4 checks are slow on IPv6 strings (they throw inside).
  if (!s.includes(':')) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return 'it is not an IPv4 address in dotted-decimal form';
    const o = ipaddr.IPv4.parse(s).octets;
    ip = {
      family: 4,
      text: o.join('.'),
      mapped: false,
      loopback: o[0] === 127,
      value: BigInt((((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]!) >>> 0),
    };
  } else {
    ip = parseIPv6(s, opts.allowZone === true);
  }
  if (typeof ip === 'string') return ip;
  if (opts.family !== undefined && ip.family !== opts.family)
    return `it is not an ${familyName(opts.family)} address`;
  return ip;
}

function parseIPv6(s: string, allowZone: boolean): Ip | string {
  let addr = s;
  let zone: string | undefined;
  const pct = s.indexOf('%');
  if (pct >= 0) {
    if (!allowZone) return 'an IPv6 zone ("%...") is not allowed here';
    zone = s.slice(pct + 1);
    addr = s.slice(0, pct);
    if (!ZONE_RE.test(zone)) return `the zone ${JSON.stringify(zone)} is not an interface name`;
  }
  if (addr.includes('.')) {
    const m = IPV4_MAPPED_RE.exec(addr);
    if (!m || !ipaddr.IPv4.isValidFourPartDecimal(m[1]!)) {
      return 'an IPv6 address may embed an IPv4 address only as ::ffff:a.b.c.d';
    }
  }
  if (!ipaddr.IPv6.isValid(addr)) return 'it is not an IPv4 or IPv6 address';
  const v6 = ipaddr.IPv6.parse(addr);
  let value = 0n;
  for (const p of v6.parts) value = (value << 16n) | BigInt(p);
  const mapped = v6.isIPv4MappedAddress();
  let text: string;
  let loopback: boolean;
  if (mapped) {
    const v4 = v6.toIPv4Address();
    text = `::ffff:${v4.toString()}`;
    loopback = v4.octets[0] === 127;
  } else {
    text = v6.toRFC5952String();
    loopback = v6.range() === 'loopback';
  }
  return {
    family: 6,
    text: zone === undefined ? text : `${text}%${zone}`,
    mapped,
    loopback,
    ...(zone === undefined ? {} : { zone }),
    value,
  };
}

/** Whether `s` is an IP address (of `family`, when given): no zone. */
export function isIp(s: unknown, family?: IpFamily): boolean {
  return typeof parseIp(s, family === undefined ? {} : { family }) !== 'string';
}

/** The canonical text of an address given as a number. */
export function formatIp(family: IpFamily, value: bigint): string {
  if (family === 4) {
    const n = Number(value);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const parts: number[] = new Array(8);
  let v = value;
  for (let i = 7; i >= 0; i--) {
    parts[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  return new ipaddr.IPv6(parts).toRFC5952String();
}

export interface Cidr {
  ip: Ip;
  len: number;
  /** `<canonical address>/<len>` (host bits as given). */
  text: string;
  /** The network address as a number (host bits cleared). */
  start: bigint;
  /** No host bits set (`10.0.0.0/24`, not `10.0.0.5/24`). */
  canonical: boolean;
}

/** Parses `address/length` strictly (the length in decimal, no leading zeros); the reason if not one. */
export function parseCidr(s: unknown, opts: { family?: IpFamily } = {}): Cidr | string {
  if (typeof s !== 'string') return `it is not a string (got ${s === null ? 'null' : typeof s})`;
  const slash = s.indexOf('/');
  if (slash < 0) return 'it has no prefix length (expected address/length)';
  const ip = parseIp(s.slice(0, slash), opts);
  if (typeof ip === 'string') return ip;
  const lenText = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return 'its prefix length is not a number';
  const len = Number(lenText);
  const bits = familyBits(ip.family);
  if (len > bits) return `its prefix length is over ${bits}`;
  const host = (1n << BigInt(bits - len)) - 1n;
  const start = ip.value & ~host;
  return { ip, len, text: `${ip.text}/${len}`, start, canonical: start === ip.value };
}

/** The network of a CIDR (`10.0.0.5/24` → `10.0.0.0/24`); the text itself if it is not one. */
export function networkOf(cidr: string): string {
  const c = parseCidr(cidr);
  return typeof c === 'string' ? cidr : `${formatIp(c.ip.family, c.start)}/${c.len}`;
}

/** Whether the address `ip` lies in `cidr` (same family; false when either is not valid). */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const a = parseIp(ip);
  if (typeof c === 'string' || typeof a === 'string' || a.family !== c.ip.family) return false;
  const host = (1n << BigInt(familyBits(a.family) - c.len)) - 1n;
  return (a.value & ~host) === c.start;
}
