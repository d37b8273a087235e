/**
 * The macvlan and ipvlan drivers (Docker's, daemon/libnetwork/drivers/macvlan and ipvlan): each
 * network sits on a parent link of the host (`-o parent=eth0`); each endpoint is a macvlan (or
 * ipvlan) slave of it, made directly inside the container's namespace, so containers appear on the
 * parent's segment with addresses from the network's IPAM. The gateway is a router on that segment:
 * IPAM reserves one only when the user gives it.
 *
 * Parents the driver makes (and removes with the last network on them), as Docker: an 802.1q
 * sub-interface for `parent=eth0.10` when no such link exists (module 8021q), a dummy link
 * `dm-<12 hex>` for a network without parent (module dummy; such a network is internal). A kernel
 * without the module gets a KernelModuleMissingError naming it.
 *
 * Ownership: links the driver makes in the host's namespace carry the mark `dnet-<kind>:<id>`
 * (IFLA_IFALIAS), not the bridge driver's `dnet:` (whose restore removes every `dnet:` link it
 * does not own); a slave inside a sandbox carries it too, which is how leave finds it again after
 * the core renamed it (`eth1`), across a restart.
 */
import { closeSync, existsSync } from 'node:fs';
import type {
  CreateEndpointRequest,
  CreateEndpointResult,
  CreateNetworkRequest,
  DriverCapability,
  EndpointOperInfo,
  JoinInfo,
  JoinRequest,
  NetworkDriver,
} from '../../driver-api/driver.ts';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { randomMac } from '../../ip/mac.ts';
import { deletionWorker, kernelWorker } from '../../os/kernel-worker/index.ts';
import { ensureLinkKind, linkAddOfKind } from '../../os/link-kinds.ts';
import { type LinkSpec, NetlinkHandle } from '../../os/netlink/index.ts';
import { openNetns } from '../../os/netns/index.ts';
import { hostNetlink } from '../../os/sandbox.ts';
import { VlanParentConflictError, VlanParentMissingError, VlanStateError } from './errors.ts';
import { type ParentPlan, planMissingParent, type VlanKind } from './options.ts';
import {
  checkParentConflicts,
  networkOf,
  probeSpec,
  routing,
  short,
  slaveSpec,
  type VlanEndpoint,
  type VlanNetwork,
} from './state.ts';

export class VlanDriver implements NetworkDriver {
  readonly skipsGatewayAllocation = true;
  private readonly networks = new Map<string, VlanNetwork>();
  /** The mark on the links this driver makes (IFLA_IFALIAS): `dnet-macvlan:` / `dnet-ipvlan:`. */
  readonly linkMark: string;

  constructor(readonly type: VlanKind) {
    this.linkMark = `dnet-${type}:`;
  }

  private get nl(): NetlinkHandle {
    return hostNetlink();
  }

  capabilities(): DriverCapability {
    // Docker's: state on this host, connectivity beyond it (the parent's segment).
    return { dataScope: 'local', connectivityScope: 'global' };
  }

  private net(id: string): VlanNetwork {
    const n = this.networks.get(id);
    if (!n) throw new VlanStateError(`${this.type} driver: no network ${id}`);
    return n;
  }

  private ep(networkId: string, endpointId: string): VlanEndpoint {
    const e = this.net(networkId).endpoints.get(endpointId);
    if (!e)
      throw new VlanStateError(`${this.type} driver: no endpoint ${endpointId} in network ${networkId}`);
    return e;
  }

  private mark(id: string): string {
    return `${this.linkMark}${id}`;
  }

  async createNetwork(req: CreateNetworkRequest): Promise<{ data: Record<string, string> }> {
    const n = networkOf(this.type, req);
    if (req.ipv4Data.length === 0) throw new InvalidOptionError('ipam', req.ipv4Data, 'ipv4 pool is empty');
    checkParentConflicts(this.type, this.networks.values(), n);
    const nl = this.nl;
    if (!nl.linkGet(n.cfg.parent)) {
      n.made = this.makeParent(
        n,
        planMissingParent(n.cfg, (name) => nl.linkGet(name) !== undefined),
      );
    } else {
      // A parent another network of ours made is removed with the last network on it (Docker).
      for (const o of this.networks.values()) if (o.cfg.parent === n.cfg.parent && o.made) n.made = o.made;
    }
    try {
      // The slaves' kind must be there too: asked now, not at the first connect.
      ensureLinkKind(
        nl,
        probeSpec(this.type, nl.linkIndex(n.cfg.parent)),
        `the ${this.type} network ${JSON.stringify(n.name)}`,
      );
    } catch (err) {
      if (n.made && !this.parentShared(n)) nl.linkDelIfExists(n.cfg.parent);
      throw err;
    }
    this.networks.set(n.id, n);
    return { data: { parent: n.cfg.parent, madeParent: n.made ?? '' } };
  }

  /** Another network (restored or made) is on the same parent. */
  private parentShared(n: VlanNetwork): boolean {
    for (const o of this.networks.values()) if (o.id !== n.id && o.cfg.parent === n.cfg.parent) return true;
    return false;
  }

  /**
   * Makes the missing parent, up and marked. Equivalent to: `ip link add link eth0 name eth0.10
   * type vlan id 10` or `ip link add dm-<id> type dummy`, then `ip link set ... up alias ...`.
   */
  private makeParent(n: VlanNetwork, plan: ParentPlan): ParentPlan['make'] {
    const nl = this.nl;
    const name = n.cfg.parent;
    const spec: LinkSpec =
      plan.make === 'vlan'
        ? { kind: 'vlan', name, parent: nl.linkIndex(plan.base), vlanId: plan.vlanId }
        : { kind: 'dummy', name };
    const purpose =
      plan.make === 'vlan'
        ? `the ${this.type} network's 802.1q parent ${name}`
        : `a ${this.type} network without parent (its dummy parent ${name})`;
    const index = linkAddOfKind(nl, spec, purpose);
    try {
      nl.linkSet(index, { up: true, alias: this.mark(n.id) });
    } catch (err) {
      nl.linkDelIfExists(index);
      throw err;
    }
    return plan.make;
  }

  async restoreNetwork(req: CreateNetworkRequest, data: Record<string, string>): Promise<void> {
    const n = networkOf(this.type, req);
    const made = data.madeParent;
    if (made === 'vlan' || made === 'dummy') n.made = made;
    if (n.made && !this.nl.linkGet(n.cfg.parent)) {
      // Gone (a reboot): made again, as at create.
      this.makeParent(
        n,
        planMissingParent(n.cfg, (name) => this.nl.linkGet(name) !== undefined),
      );
    }
    // A parent of the host's that is gone stays a network: its joins fail with a clear error.
    this.networks.set(n.id, n);
  }

  async deleteNetwork(networkId: string): Promise<void> {
    // Unknown (a restore that could not rebuild it): nothing of it is here; a parent it made
    // carries the mark, and restoreDone removes it.
    const n = this.networks.get(networkId);
    if (!n) return;
    if (n.endpoints.size > 0) {
      throw new VlanParentConflictError(`${this.type} network ${short(networkId)} still has endpoints`);
    }
    const shared = this.parentShared(n);
    this.networks.delete(networkId);
    if (!n.made || shared) return;
    const l = this.nl.linkGet(n.cfg.parent);
    // Only the link it made (a vlan or dummy of that name), never something that took the name.
    if (l && l.info.kind === n.made) this.nl.linkDelIfExists(l.index);
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResult> {
    const n = this.net(req.networkId);
    if (this.type === 'ipvlan' && req.iface.macAddress) {
      throw new InvalidOptionError(
        'macAddress',
        req.iface.macAddress,
        "ipvlan interfaces have their parent's MAC address",
      );
    }
    const mac = this.type === 'macvlan' ? (req.iface.macAddress ?? randomMac()) : undefined;
    const prefix = this.type === 'macvlan' ? 'mv' : 'iv';
    n.endpoints.set(req.endpointId, {
      id: req.endpointId,
      ...(mac ? { mac } : {}),
      ifName: `${prefix}${req.endpointId.slice(0, 10)}`,
      joined: false,
      inHost: false,
    });
    return mac && !req.iface.macAddress ? { iface: { macAddress: mac } } : {};
  }

  async deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    const n = this.net(networkId);
    const e = this.ep(networkId, endpointId);
    if (e.joined) await this.leave(networkId, endpointId);
    await this.deleteHostSlave(e);
    n.endpoints.delete(endpointId);
  }

  async endpointOperInfo(networkId: string, endpointId: string): Promise<EndpointOperInfo> {
    const e = this.ep(networkId, endpointId);
    return e.mac ? { macAddress: e.mac } : {};
  }

  /**
   * Makes the slave inside the sandbox (`ip link add link <parent> name mv.. netns <sandbox> type
   * macvlan mode <mode>`), or in the host for whoever moves it (interfaceInHost), marked.
   */
  async join(req: JoinRequest): Promise<JoinInfo> {
    const n = this.net(req.networkId);
    const e = this.ep(req.networkId, req.endpointId);
    const nl = this.nl;
    const parent = nl.linkGet(n.cfg.parent);
    if (!parent) throw new VlanParentMissingError(this.type, n.cfg.parent);
    const spec = slaveSpec(n, parent.index, e.ifName, e.mac);
    const purpose = `the ${this.type} network ${JSON.stringify(n.name)}`;
    const inHost = req.interfaceInHost === true;
    if (inHost) {
      const index = linkAddOfKind(nl, spec, purpose);
      try {
        nl.linkSet(index, { alias: this.mark(e.id) });
      } catch (err) {
        nl.linkDelIfExists(index);
        throw err;
      }
    } else {
      const fd = openNetns(req.sandboxKey);
      try {
        linkAddOfKind(nl, { ...spec, netns: { fd } }, purpose);
        const inside = NetlinkHandle.open({ netns: { fd } });
        try {
          inside.linkSet(e.ifName, { alias: this.mark(e.id) });
        } catch (err) {
          inside.linkDelIfExists(e.ifName);
          throw err;
        } finally {
          inside.close();
        }
      } finally {
        closeSync(fd);
      }
    }
    e.joined = true;
    e.inHost = inHost;
    if (inHost) delete e.sandboxKey;
    else e.sandboxKey = req.sandboxKey;
    return {
      interfaceName: { srcName: e.ifName, dstPrefix: 'eth', ...(inHost ? {} : { inSandbox: true }) },
      ...routing(n),
      disableGatewayService: true,
    };
  }

  /** Removes the slave: in the host (the plugin path), or found by its mark inside the sandbox. */
  async leave(networkId: string, endpointId: string): Promise<void> {
    const e = this.ep(networkId, endpointId);
    // Deleting a link waits for RCU grace periods: on the kernel worker, not the event loop.
    if (e.inHost) await this.deleteHostSlave(e);
    else if (e.sandboxKey && existsSync(e.sandboxKey)) {
      const inside = { path: e.sandboxKey };
      const l = (await kernelWorker().netlink('linkList', [], inside)).find(
        (x) => x.alias === this.mark(e.id),
      );
      if (l) await kernelWorker().netlink('linkDelIfExists', [l.index], inside);
    }
    e.joined = false;
    delete e.sandboxKey;
  }

  private async deleteHostSlave(e: VlanEndpoint): Promise<void> {
    const l = this.nl.linkGet(e.ifName);
    if (l && l.alias === this.mark(e.id)) await deletionWorker().linkDelIfExists(l.index);
  }

  /** Runs fn with a handle inside the sandbox; nothing when the namespace is gone (so is the slave). */
  private withSandbox<T>(key: string, fn: (h: NetlinkHandle) => T): T | undefined {
    if (!existsSync(key)) return undefined;
    const h = NetlinkHandle.open({ netns: { path: key } });
    try {
      return fn(h);
    } finally {
      h.close();
    }
  }

  async restoreEndpoint(req: CreateEndpointRequest): Promise<void> {
    await this.createEndpoint(req);
  }

  /** A slave with the endpoint's mark in the sandbox (or in the host, the plugin path): adopted. */
  async restoreJoin(networkId: string, endpointId: string, state: { sandboxKey?: string }): Promise<boolean> {
    const e = this.ep(networkId, endpointId);
    if (state.sandboxKey === undefined) {
      // Docker's plugin path: Docker owns the namespace and the interface is in it.
      e.joined = true;
      e.inHost = true;
      return true;
    }
    const found = this.withSandbox(state.sandboxKey, (h) =>
      h.linkList().some((l) => l.alias === this.mark(e.id)),
    );
    if (!found) return false;
    e.joined = true;
    e.inHost = false;
    e.sandboxKey = state.sandboxKey;
    return true;
  }

  /** Removes links of the host that carry this driver's mark and that no record owns. */
  async restoreDone(): Promise<void> {
    const owned = new Set<string>();
    for (const n of this.networks.values()) {
      if (n.made) owned.add(n.cfg.parent);
      for (const e of n.endpoints.values()) if (e.inHost) owned.add(e.ifName);
    }
    for (const l of this.nl.linkList()) {
      if (l.alias?.startsWith(this.linkMark) && !owned.has(l.name)) this.nl.linkDelIfExists(l.index);
    }
  }

  /** The parent there and up; the slave there (in the sandbox) and up. */
  async checkEndpoint(networkId: string, endpointId: string): Promise<string[]> {
    const n = this.net(networkId);
    const e = this.ep(networkId, endpointId);
    const problems: string[] = [];
    const parent = this.nl.linkGet(n.cfg.parent);
    if (!parent) problems.push(`the parent interface ${n.cfg.parent} is missing`);
    else if (!parent.up) problems.push(`the parent interface ${n.cfg.parent} is down`);
    if (e.joined && !e.inHost && e.sandboxKey) {
      const slave = this.withSandbox(e.sandboxKey, (h) =>
        h.linkList().find((l) => l.alias === this.mark(e.id)),
      );
      if (!slave) problems.push(`the ${this.type} interface of endpoint ${short(e.id)} is missing`);
      else if (!slave.up) problems.push(`the ${this.type} interface ${slave.name} is down`);
    }
    return problems;
  }
}
