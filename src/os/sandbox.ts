/**
 * A sandbox's network stack in the kernel (the seed's osl): a named network namespace with
 * loopback up, into which endpoint interfaces are moved, renamed, addressed and routed.
 * The core decides what goes in; this module only does it, each step undone on failure.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync } from 'node:fs';
import { NetlinkError } from '../errors/index.ts';
import { type DnsSocketFds, openDnsSockets, redirectDnsSockets } from './dns-sockets.ts';
import { kernelWorker } from './kernel-worker/index.ts';
import { NetlinkHandle, type Route } from './netlink/index.ts';
import { createNetns, deleteNetns, hostNetnsFd, openNetns, pinCurrentNetns } from './netns/index.ts';
import { ipv6Available } from './sysctl.ts';

let hostNl: NetlinkHandle | undefined;
/** The netlink handle of the process's own namespace (shared, never closed). */
export function hostNetlink(): NetlinkHandle {
  hostNl ??= NetlinkHandle.open();
  return hostNl;
}

export interface SandboxInterfaceSpec {
  /** The interface's name in the host namespace, as the driver made it. */
  srcName: string;
  /** Its name inside the sandbox (`eth0`). */
  dstName: string;
  mac?: string;
  /** CIDRs. */
  addresses: string[];
  mtu?: number;
  /** The interface is in the sandbox already (created there); it is not moved. */
  inSandbox?: boolean;
}

const family = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

let ipv6: boolean | undefined;
/** Whether the kernel has IPv6 (the same in every namespace; asked once). */
function hasIPv6(): boolean {
  ipv6 ??= ipv6Available();
  return ipv6;
}

/**
 * Configures `spec.srcName`, in the namespace `nl` is in: MTU, addresses (IPv6 without DAD: handed
 * out by IPAM, usable at once), then name, MAC, no IPv6 link-local address (so no DAD of one, which
 * would hold IPv6 up for a second or two) and up in one request: the kernel makes a link-local
 * address when it sees the link's carrier up, which it does after this request, with generation
 * off then. The kernel renames and sets the address before it brings the link up: when a request
 * fails, the interface keeps its first name. Its index. The kernel worker runs it for
 * OsSandbox.addInterface.
 */
export function configureInterface(nl: NetlinkHandle, spec: SandboxInterfaceSpec): number {
  const link = nl.linkGet(spec.srcName);
  if (!link) throw new NetlinkError(`link ${spec.srcName}`, ENODEV, 'no such link');
  const { index } = link;
  if (spec.mtu !== undefined) nl.linkSet(index, { mtu: spec.mtu });
  for (const cidr of spec.addresses) nl.addrAdd(index, cidr, { noDad: family(cidr) === 6 });
  const mtu = spec.mtu ?? link.mtu ?? 0;
  nl.linkSet(index, {
    name: spec.dstName,
    ...(spec.mac ? { mac: spec.mac } : {}),
    ...(mtu >= IPV6_MIN_MTU && hasIPv6() ? { ipv6AddrGenMode: 'none' as const } : {}),
    up: true,
  });
  return index;
}

const ENODEV = 19;

/** Below this MTU a link has no IPv6 (the kernel keeps no IPv6 state for it). */
const IPV6_MIN_MTU = 1280;

/** The kernel gives loopback ifindex 1 in every namespace. */
const LOOPBACK_IFINDEX = 1;

export class OsSandbox {
  private closed = false;
  /** The ifindex of each interface addInterface configured (the namespace is ours: no one renames them). */
  private readonly indexes = new Map<string, number>();

  private constructor(
    readonly path: string,
    readonly isHost: boolean,
    private readonly fd: number,
    private readonly nl: NetlinkHandle,
    /** Someone else's namespace (a runtime's, given by path): dnet never creates nor removes it. */
    readonly external = false,
  ) {}

  /**
   * Creates the namespace `<runDir>/netns/<name>` with loopback up. No sysctl is written: a
   * sysctl file's lookup in a new namespace grows with the number of namespaces.
   */
  static create(name: string, runDir: string): OsSandbox {
    const path = createNetns(name, { runDir });
    let fd = -1;
    try {
      fd = openNetns(path);
      const nl = NetlinkHandle.open({ netns: { fd } });
      try {
        // Nothing else is set in the namespace: no DAD happens in it because its interfaces get
        // no IPv6 link-local address and their addresses are added with IFA_F_NODAD
        // (addInterface), and loopback does no DAD.
        nl.linkSet(LOOPBACK_IFINDEX, { up: true });
      } catch (err) {
        nl.close();
        throw err;
      }
      return new OsSandbox(path, false, fd, nl);
    } catch (err) {
      if (fd >= 0) closeSync(fd);
      deleteNetns(path);
      throw err;
    }
  }

  /**
   * `create` on the kernel worker thread (src/os/kernel-worker): bringing loopback up waits for
   * the kernel's rtnl lock, held for long while namespaces are torn down; the event loop does
   * not wait with it. The namespace is then opened here.
   */
  static async createOffLoop(name: string, runDir: string): Promise<OsSandbox> {
    const path = await kernelWorker().createSandboxNetns(name, runDir);
    try {
      return OsSandbox.open(path);
    } catch (err) {
      deleteNetns(path);
      throw err;
    }
  }

  /** Opens an existing sandbox namespace (after a restart). */
  static open(path: string): OsSandbox {
    const fd = openNetns(path);
    try {
      return new OsSandbox(path, false, fd, NetlinkHandle.open({ netns: { fd } }));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * Uses an existing namespace that someone else made (a container runtime's `CNI_NETNS`), by
   * path. Nothing is set in it but the interfaces dnet adds; destroy() leaves it in place. The
   * host's own namespace is refused (interfaces would land on the host). Throws EINVAL (from
   * setns) when the path is not a network namespace.
   */
  static attach(path: string): OsSandbox {
    const fd = openNetns(path);
    try {
      const st = fstatSync(fd);
      const host = fstatSync(hostNetnsFd());
      if (st.ino === host.ino && st.dev === host.dev) {
        throw new RangeError(`${path} is the host's network namespace`);
      }
      return new OsSandbox(path, false, fd, NetlinkHandle.open({ netns: { fd } }), true);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * The embedded resolver's UDP and TCP sockets, bound to 127.0.0.11 (ephemeral ports) inside
   * this namespace (src/os/dns-sockets.ts); redirectDns sends port 53 to them. DnsListenerError.
   */
  openDnsSockets(): DnsSocketFds {
    return openDnsSockets({ fd: this.fd }, { where: `sandbox ${this.path}` });
  }

  /** The DNAT of 127.0.0.11:53 to the sockets' ports, on the kernel worker. DnsListenerError. */
  redirectDns(fds: Pick<DnsSocketFds, 'udpPort' | 'tcpPort'>): Promise<void> {
    return redirectDnsSockets({ fd: this.fd }, fds, { where: `sandbox ${this.path}` });
  }

  /** The namespace's inode number (it tells a namespace from a later one at the same path). */
  get inode(): number {
    return fstatSync(this.fd).ino;
  }

  /** The host's own namespace, named `<runDir>/netns/default`; nothing is created or removed in it. */
  static host(runDir: string): OsSandbox {
    const path = pinCurrentNetns('default', { runDir });
    return new OsSandbox(path, true, openNetns(path), hostNetlink());
  }

  /**
   * Moves `srcName` from the host into the sandbox and configures it there. On failure the
   * interface is given back to the host under its original name (so its owner can delete it).
   */
  async addInterface(spec: SandboxInterfaceSpec): Promise<void> {
    if (this.isHost) throw new RangeError('no interfaces are moved into the host sandbox');
    // The requests run on the kernel worker (each waits for the kernel's rtnl lock), inside this
    // namespace by its fd; the undo on failure runs here.
    const kw = kernelWorker();
    const here = { fd: this.fd };
    const tmp = spec.srcName;
    if (!spec.inSandbox) await kw.netlink('linkSet', [tmp, { up: false, netns: here }]);
    try {
      // One call for the rest (configureInterface): one round trip to the worker, not one each.
      this.indexes.set(spec.dstName, await kw.configureInterface(here, spec));
    } catch (err) {
      // The rename is the last request: when anything failed, the interface has its first name.
      if (spec.inSandbox) this.nl.linkDelIfExists(tmp);
      else this.giveBack(tmp, spec.srcName);
      throw err;
    }
  }

  /** The interface's index when this sandbox configured it, else its name. */
  private ref(dev: string): string | number {
    return this.indexes.get(dev) ?? dev;
  }

  /** Moves an interface back to the host under `srcName` (its driver deletes it there). */
  removeInterface(dstName: string, srcName: string): void {
    this.indexes.delete(dstName);
    if (!this.nl.linkGet(dstName)) return;
    this.giveBack(dstName, srcName);
  }

  /**
   * Makes an interface harmless before its namespace is let go (its removal then happens in the
   * background): down. A veth's peer then loses its carrier, so its bridge port forwards nothing
   * and forgets the MACs it learned; nothing is sent from it, so an address or MAC handed out
   * again never meets it on the wire. Fast: it does not wait for an RCU grace period.
   */
  async quiesce(dstName: string): Promise<void> {
    try {
      await kernelWorker().netlink('linkSet', [this.ref(dstName), { up: false }], { fd: this.fd });
    } catch (err) {
      // Gone already (someone deleted it, or its peer): nothing is left to quiet.
      if (!(err instanceof NetlinkError && err.errnoName === 'ENODEV')) throw err;
    }
  }

  /**
   * Takes an interface out of the way in a namespace that stays (someone else's): down (as
   * quiesce), then renamed `dx<12 hex>`, so its name is free at once for a new interface while
   * its removal happens in the background (the kernel renames no link that is up). Fast: neither
   * step waits for an RCU grace period. Its name is forgotten; an interface gone already is fine.
   */
  retire(dstName: string): void {
    const ref = this.ref(dstName);
    this.indexes.delete(dstName);
    try {
      this.nl.linkSet(ref, { up: false });
      this.nl.linkSet(ref, { name: `dx${randomBytes(6).toString('hex')}` });
    } catch (err) {
      if (!(err instanceof NetlinkError && err.errnoName === 'ENODEV')) throw err;
    }
  }

  /** Forgets an interface its driver removed (deleting a veth's host end removes this end). */
  forgetInterface(dstName: string): void {
    this.indexes.delete(dstName);
  }

  private giveBack(name: string, srcName: string): void {
    this.nl.linkSet(name, { up: false });
    const flushed = this.nl.addrList(name);
    for (const a of flushed) this.nl.addrDel(name, a.cidr);
    if (hostNetlink().linkGet(srcName)) {
      // The host already has that name again: the interface cannot go back; remove it.
      this.nl.linkDelIfExists(name);
      return;
    }
    this.nl.linkSet(name, { name: srcName, netns: { pid: process.pid } });
  }

  /**
   * Sets the default route of a family through `gateway` on `dev` (replacing any). On the kernel
   * worker, inside this namespace: a route request waits for the kernel's rtnl lock.
   */
  async setGateway(gateway: string, dev: string): Promise<void> {
    const route = { dst: 'default', gateway, oif: this.ref(dev), onlink: false };
    await kernelWorker().netlink('routeReplace', [route], { fd: this.fd });
  }

  /** Removes the default route of a family (on the kernel worker); false when there was none. */
  unsetGateway(fam: 4 | 6): Promise<boolean> {
    return kernelWorker().netlink('routeDel', [{ dst: 'default', family: fam }], { fd: this.fd });
  }

  addRoute(destination: string, dev: string, nextHop?: string): void {
    this.nl.routeReplace({ dst: destination, oif: this.ref(dev), ...(nextHop ? { gateway: nextHop } : {}) });
  }

  removeRoute(destination: string): boolean {
    try {
      return this.nl.routeDel({ dst: destination });
    } catch (err) {
      if (err instanceof NetlinkError && err.errnoName === 'ENODEV') return false;
      throw err;
    }
  }

  routes(): Route[] {
    return this.nl.routeList();
  }

  interfaces(): { name: string; mac?: string; addresses: string[] }[] {
    const addrs = this.nl.addrList();
    return this.nl
      .linkList()
      .filter((l) => l.name !== 'lo')
      .map((l) => ({
        name: l.name,
        ...(l.mac ? { mac: l.mac } : {}),
        addresses: addrs.filter((a) => a.index === l.index && a.scope === 0).map((a) => a.cidr),
      }));
  }

  /**
   * Closes handles; for a sandbox dnet made also deletes the namespace (and what is left in it).
   * An external namespace stays (its owner deletes it).
   */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    if (this.isHost) return;
    this.nl.close();
    if (!this.external) deleteNetns(this.path);
  }

  /** Closes handles but keeps the namespace (the daemon stops; containers keep their network). */
  release(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    if (!this.isHost) this.nl.close();
  }
}
