/**
 * An endpoint's veth pair on its network's bridge: made at a join (the peer inside the sandbox, or
 * here for a caller that moves it itself), taken away at a leave.
 */
import { randomBytes } from 'node:crypto';
import { closeSync } from 'node:fs';
import { NetlinkError } from '../../errors/os.ts';
import { deletionWorker, kernelWorker } from '../../os/kernel-worker/index.ts';
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
 * The link requests run on the kernel worker: each takes the kernel's rtnl lock, which the kernel
 * holds for long while it tears namespaces down; the event loop does not wait with it.
 * Equivalent to: `ip link add <name> mtu M master <bridge> type veth peer name <peer> netns <sandbox>`.
 */
export async function addVeth(
  nl: NetlinkHandle,
  n: BridgeNetwork,
  names: { name: string; peer: string },
  where: { sandboxKey: string } | { mac: string },
  healBridge: (reason: string) => void,
): Promise<number> {
  const { name, peer } = names;
  const sandboxFd = 'sandboxKey' in where ? openNetns(where.sandboxKey) : undefined;
  try {
    const add = (master: number) =>
      kernelWorker().netlink('linkAdd', [
        {
          kind: 'veth',
          name,
          mtu: n.cfg.mtu,
          master,
          peer:
            sandboxFd === undefined
              ? { name: peer, mtu: n.cfg.mtu, mac: (where as { mac: string }).mac }
              : { name: peer, mtu: n.cfg.mtu, netns: { fd: sandboxFd } },
        },
      ]);
    try {
      return await add(bridgeIndex(nl, n));
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
      return await add(bridgeIndex(nl, n));
    }
  } finally {
    if (sandboxFd !== undefined) closeSync(sandboxFd);
  }
}

/**
 * Takes the endpoint's pair away at a leave, on the kernel worker; returns the links the core
 * reclaims later. With `deferRemoval`, the peer is in the sandbox's namespace, down and out of the
 * way: the pair goes with that namespace, or the core's reclaim entry deletes it in the background.
 * The host end is renamed out of the way (down first: the kernel renames no link that is up), so
 * the endpoint can join again at once under its name, and the entry owns the dying link by a name
 * no one else has. Otherwise deleting the host end removes the pair (the core has moved the other
 * end back, or it is gone); the delete waits for RCU grace periods, on the worker.
 */
export async function removeVeth(hostVeth: string, deferRemoval: boolean): Promise<string[]> {
  const kw = kernelWorker();
  if (deferRemoval) {
    const dying = `dx${randomBytes(6).toString('hex')}`;
    try {
      await kw.netlink('linkSet', [hostVeth, { up: false }]);
      await kw.netlink('linkSet', [hostVeth, { name: dying }]);
      return [dying];
    } catch (err) {
      if (!(err instanceof NetlinkError && err.errnoName === 'ENODEV')) throw err; // gone already
      return [];
    }
  }
  await deletionWorker().linkDelIfExists(hostVeth);
  return [];
}
