/** MAC addresses: parsing what users and plugins give, and the ones dnet makes up for endpoints. */
import { randomBytes } from 'node:crypto';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/**
 * Why `mac` cannot be an endpoint's MAC address, or undefined when it can: it must be written
 * aa:bb:cc:dd:ee:ff and be a unicast address (the kernel refuses a multicast or broadcast one,
 * `ff:ff:ff:ff:ff:ff`, `01:00:5e:...`: any with the low bit of the first byte set, with
 * EADDRNOTAVAIL) other than 00:00:00:00:00:00 (no address at all).
 */
export function macProblem(mac: unknown): string | undefined {
  if (typeof mac !== 'string' || !MAC_RE.test(mac)) return 'expected aa:bb:cc:dd:ee:ff';
  const first = Number.parseInt(mac.slice(0, 2), 16);
  if (first & 1) {
    return mac.toLowerCase() === 'ff:ff:ff:ff:ff:ff'
      ? 'the broadcast address cannot be an interface address; give a unicast MAC (first byte even), or none'
      : 'a multicast MAC (the first byte is odd) cannot be an interface address; give a unicast MAC (first byte even), or none';
  }
  if (/^(00:){5}00$/.test(mac)) return 'the all-zero MAC is no address; give a unicast MAC, or none';
  return undefined;
}

/**
 * A unicast Ethernet MAC (`aa:bb:cc:dd:ee:ff`, or with `-`), normalised to lower case with `:`;
 * undefined for anything else (see macProblem).
 */
export function parseMac(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined;
  const mac = s.toLowerCase().replaceAll('-', ':');
  if (s.includes('-') && s.includes(':')) return undefined;
  return macProblem(mac) === undefined ? mac : undefined;
}

/** A random unicast, locally administered MAC address (Docker's netutils.GenerateRandomMAC). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02; // clear the multicast bit, set the locally administered one
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
