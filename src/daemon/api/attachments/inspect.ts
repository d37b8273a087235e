/**
 * What the runtime asks about attachments besides attach and detach: CHECK (what is wrong with
 * one, looked up in its namespace and the driver) and STATUS (can a network take one more).
 */

import type { Endpoint, Network } from '../../../index.ts';
import { cidrContains, formatIp, parseCidr, plain } from '../../../ip/index.ts';
import { attachmentOf, inodeAt } from './model.ts';

/** What is wrong with an attachment, one sentence per problem. */
export async function check(ep: Endpoint): Promise<string[]> {
  const problems: string[] = [];
  const j = ep.joinState;
  const a = attachmentOf(ep);
  if (!j) return [`the endpoint ${ep.name} is not joined to a namespace (it was left behind): detach it`];
  const sb = j.sandbox;
  const inode = inodeAt(sb.key);
  if (inode === undefined) problems.push(`the namespace ${sb.key} is gone`);
  else if (inode !== sb.record().externalNetns?.inode) problems.push(`${sb.key} is now another namespace`);
  const ifName = a?.ifName ?? j.ifName ?? '';
  try {
    const iface = sb.os.interfaces().find((i) => i.name === ifName);
    if (!iface) problems.push(`the interface ${ifName} is missing from the namespace`);
    else {
      const mac = ep.iface.macAddress;
      if (mac && iface.mac?.toLowerCase() !== mac.toLowerCase())
        problems.push(`the interface ${ifName} has MAC ${iface.mac ?? 'none'}, not ${mac}`);
      for (const addr of [ep.iface.address, ep.iface.addressIPv6]) {
        if (addr && !iface.addresses.includes(addr))
          problems.push(`the interface ${ifName} lacks its address ${addr}`);
      }
    }
    const routes = sb.os.routes();
    for (const [fam, gw] of [
      [4, j.gateway],
      [6, j.gatewayIPv6],
    ] as const) {
      if (!gw || sb.defaultRouteEndpoint(fam) !== ep.id) continue;
      const ok = routes.some((r) => r.dst === 'default' && r.gateway === gw);
      if (!ok) problems.push(`the default route via ${gw} is missing from the namespace`);
    }
  } catch (err) {
    problems.push(`cannot look into the namespace ${sb.key}: ${String(err)}`);
  }
  const driver = ep.network.driver;
  if (driver.checkEndpoint) problems.push(...(await driver.checkEndpoint(ep.network.id, ep.id)));
  return problems;
}

/** Free addresses of an IPv4 pool: its range's usable addresses minus the reserved and the used ones. */
function freeIn(p: Network['pools'][number], used: readonly string[]): number {
  const range = p.ipRange ?? p.subnet;
  const r = parseCidr(range, { family: 4 });
  const s = parseCidr(p.subnet, { family: 4 });
  if (typeof r === 'string' || typeof s === 'string') return 0;
  let usable = 2 ** (32 - r.len);
  if (32 - s.len >= 2) {
    // The subnet's network and broadcast addresses, when the range covers them.
    const last = s.start + (1n << BigInt(32 - s.len)) - 1n;
    for (const a of [s.start, last]) if (cidrContains(range, formatIp(4, a))) usable--;
  }
  const reserved = [p.gateway, ...Object.values(p.auxAddresses)].filter((x): x is string => !!x);
  return usable - [...reserved, ...used].filter((a) => cidrContains(range, plain(a))).length;
}

/**
 * Whether the network can take one more attachment: it exists, and an IPv4 pool has a free
 * address (counted from the network's records: the built-in IPAM hands out the usable addresses
 * of the range, minus the gateway, auxiliary addresses and endpoints').
 */
export function status(n: Network): { ready: boolean; message: string } {
  const v4 = n.pools.filter((p) => !p.v6);
  if (v4.length === 0) return { ready: true, message: `network ${n.name} has no IPv4 pool to exhaust` };
  const used = n.endpoints().flatMap((e) => (e.iface.address ? [e.iface.address] : []));
  for (const p of v4) {
    const free = freeIn(p, used);
    const range = p.ipRange ?? p.subnet;
    if (free > 0) return { ready: true, message: `network ${n.name}: ${free} free addresses in ${range}` };
  }
  return {
    ready: false,
    message: `network ${n.name}: no free IPv4 address left (${v4.map((p) => p.ipRange ?? p.subnet).join(', ')})`,
  };
}
