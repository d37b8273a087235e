/**
 * An endpoint's veth pair on its network's bridge: made at a join (the peer inside the sandbox, or
 * here for a caller that moves it itself), taken away at a leave.
 */
import { randomBytes } from 'node:crypto';
import { closeSync } from 'node:fs';
import { NetlinkError } from '../../errors/os.ts';
import type { NetlinkHandle } from '../../os/netlink/index.ts';
import { openNetns } from '../../os/netns/index.ts';
import type { BridgeNetwork } from './state.ts';

/** The bridge's ifindex, looked up once per network. */
function bridgeIndex(nl: NetlinkHandle, n: BridgeNetwork): number {
  n.bridgeIndex ??= nl.linkIndex(n.cfg.bridgeName);
  return n.bridgeIndex;
}

/**
 * Makes the endpoint's veth pair on the network's bridge, the peer inside the sandbox (or here,
 * with the endpoint's MAC). Its host end's ifindex. A bridge found missing is repaired through
 * `healBridge` (given the reason), then the pair is made once more.
 * Equivalent to: `ip link add <name> mtu M master <bridge> type veth peer name <peer> netns <sandbox>`.
 */
export function addVeth(
  nl: NetlinkHandle,
  n: BridgeNetwork,
  names: { name: string; peer: string },
  where: { sandboxKey: string } | { mac: string },
  healBridge: (reason: string) => void,
): number {
  const { name, peer } = names;
  const sandboxFd = 'sandboxKey' in where ? openNetns(where.sandboxKey) : undefined;
  try {
    const add = (master: number) =>
      nl.linkAdd({
        kind: 'veth',
        name,
        mtu: n.cfg.mtu,
        master,
        peer:
          sandboxFd === undefined
            ? { name: peer, mtu: n.cfg.mtu, mac: (where as { mac: string }).mac }
            : { name: peer, mtu: n.cfg.mtu, netns: { fd: sandboxFd } },
      });
    try {
      return add(bridgeIndex(nl, n));
    } catch (err) {
      // A master that is not there is EINVAL (ENODEV when its name is looked up). The bridge was
      // made again under the same name (a new ifindex): look it up, once. Or it was deleted
      // (`ip link del`) and the watch has not repaired it yet: repair it now, then try again.
      if (!(err instanceof NetlinkError && (err.errnoName === 'ENODEV' || err.errnoName === 'EINVAL')))
        throw err;
      const br = nl.linkGet(n.cfg.bridgeName);
      if (br && br.index === n.bridgeIndex) throw err; // the bridge is fine: something else
      n.bridgeIndex = undefined;
      if (!br) healBridge(`the bridge ${n.cfg.bridgeName} was missing at a join`);
      return add(bridgeIndex(nl, n));
    }
  } finally {
    if (sandboxFd !== undefined) closeSync(sandboxFd);
  }
}

/**
 * Takes the endpoint's pair away at a leave; returns the links the core reclaims later.
 * When the sandbox's namespace goes next (`namespaceGoing`), the peer is in it, down, and the pair
 * goes with it in the kernel's background: the host end is renamed out of the way (down first: the
 * kernel renames no link that is up), so the endpoint can join again at once under its name, and
 * the core's reclaim entry owns the dying link by a name no one else has. Otherwise deleting the
 * host end removes the pair (the core has moved the other end back, or it is gone).
 */
export function removeVeth(nl: NetlinkHandle, hostVeth: string, namespaceGoing: boolean): string[] {
  if (namespaceGoing) {
    const dying = `dx${randomBytes(6).toString('hex')}`;
    try {
      nl.linkSet(hostVeth, { up: false });
      nl.linkSet(hostVeth, { name: dying });
      return [dying];
    } catch (err) {
      if (!(err instanceof NetlinkError && err.errnoName === 'ENODEV')) throw err; // gone already
      return [];
    }
  }
  try {
    nl.linkDelIfExists(hostVeth);
  } catch (err) {
    if (!(err instanceof NetlinkError && err.errnoName === 'ENODEV')) throw err;
  }
  return [];
}
