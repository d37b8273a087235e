/** MAC addresses: parsing what users and plugins give, and the ones dnet makes up for endpoints. */
import { randomBytes } from 'node:crypto';

/**
 * A unicast Ethernet MAC (`aa:bb:cc:dd:ee:ff`, or with `-`), normalised to lower case with `:`;
 * undefined for anything else, and for the all-zero, broadcast and multicast addresses (which no
 * interface can have).
 */
export function parseMac(s: unknown): string | undefined {
  if (typeof s !== 'string' || !/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(s)) return undefined;
  const mac = s.toLowerCase().replaceAll('-', ':');
  if (mac === '00:00:00:00:00:00') return undefined;
  if ((Number.parseInt(mac.slice(0, 2), 16) & 1) === 1) return undefined; // multicast and broadcast
  return mac;
}

/** A random unicast, locally administered MAC address (Docker's netutils.GenerateRandomMAC). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02; // clear the multicast bit, set the locally administered one
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
