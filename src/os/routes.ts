/** The host's routes as plain CIDRs: what the IPAM must not overlap when it picks a default pool. */
import { hostNetlink } from './sandbox.ts';

/** Destinations of the host's IPv4 and IPv6 routes in the main table, default routes left out. */
export function hostRouteCidrs(): string[] {
  return hostNetlink()
    .routeList({ table: 254 })
    .filter((r) => r.dst !== 'default')
    .map((r) => r.dst);
}
