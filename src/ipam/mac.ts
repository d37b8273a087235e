/** MAC addresses the core makes up for endpoints, as Docker's netutils.GenerateRandomMAC. */
import { randomBytes } from 'node:crypto';

/** A random unicast, locally administered MAC address, lower-case aa:bb:cc:dd:ee:ff. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02; // clear the multicast bit, set the locally administered one
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
