/**
 * A container's sandbox: its network namespace (or the host's, for the host driver), the
 * endpoints joined to it in join order, its default gateways, and its hosts and resolv.conf.
 */

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { readFileIfExists, rewriteFileInPlace, writeFileAtomic } from '../dns/files.ts';
import { buildHosts } from '../dns/hosts.ts';
import { buildResolvConf } from '../dns/resolv-conf.ts';
import type { OsSandbox } from '../os/sandbox.ts';
import { nowRfc3339Nano, parseRfc3339Nano } from '../timestamp.ts';
import type { Endpoint, JoinState } from './endpoint.ts';
import type { SandboxRecord } from './persist.ts';
import { EMBEDDED_RESOLVER, hostResolvUpstreams, joinResolver, type SandboxDns } from './sandbox-dns.ts';
import type { JoinOptions } from './types.ts';

export class Sandbox {
  /** When it was made: RFC 3339 with nanoseconds, UTC (Docker's `Created`), kept in its record. */
  createdAt: string = nowRfc3339Nano();

  /** When it was made (to the millisecond). */
  get created(): Date {
    return new Date(Number((parseRfc3339Nano(this.createdAt) ?? 0n) / 1_000_000n));
  }
  private readonly attached = new Map<string, { ep: Endpoint; state: JoinState }>();
  private gw4: string | undefined;
  private gw6: string | undefined;
  /** Files this sandbox has written since it was made or restored (see put). */
  private readonly written = new Set<string>();

  /** @internal */
  constructor(
    /** The core's sandbox ID (its directory under `<runDir>/sandboxes`). */
    readonly id: string,
    readonly containerId: string,
    /** @internal */ readonly os: OsSandbox,
    readonly options: Readonly<JoinOptions>,
    readonly hostsPath: string,
    readonly resolvConfPath: string,
    /** @internal Its own directory (default place of hosts and resolv.conf). */
    readonly dir: string,
    private readonly hostResolvConf: string,
    /** Created on its own (controller.newSandbox): it stays when its last endpoint leaves. */
    readonly explicit = false,
    private readonly dnsCtx: SandboxDns = { resolver: undefined },
  ) {}

  /** Its namespace is dnet's to remove (not the host's, not someone else's). */
  get reclaimable(): boolean {
    return !this.os.isHost && !this.os.external;
  }

  /** The container's name, if its creator gave one (JoinOptions.containerName). */
  get name(): string | undefined {
    return this.options.containerName;
  }

  /** @internal */
  record(): SandboxRecord {
    return {
      id: this.id,
      containerId: this.containerId,
      ...(this.options.containerName !== undefined ? { name: this.options.containerName } : {}),
      created: this.createdAt,
      key: this.key,
      isHost: this.isHost,
      explicit: this.explicit,
      options: { ...this.options },
      hostsPath: this.hostsPath,
      resolvConfPath: this.resolvConfPath,
      ...(this.os.external ? { externalNetns: { inode: this.os.inode } } : {}),
    };
  }

  /** The namespace is someone else's (attached by path): dnet neither made it nor removes it. */
  get external(): boolean {
    return this.os.external;
  }

  /** The endpoint whose gateway gives the sandbox's default route of a family, if any. */
  defaultRouteEndpoint(fam: 4 | 6): string | undefined {
    return fam === 4 ? this.gw4 : this.gw6;
  }

  /** The namespace path (`sandboxKey`). */
  get key(): string {
    return this.os.path;
  }

  get isHost(): boolean {
    return this.os.isHost;
  }

  /** The endpoints joined, in join order. */
  endpoints(): Endpoint[] {
    return [...this.attached.values()].map((a) => a.ep);
  }

  isEmpty(): boolean {
    return this.attached.size === 0;
  }

  /** The lowest free `<prefix>N` among this sandbox's interfaces. @internal */
  nextInterfaceName(prefix: string): string {
    const used = new Set([...this.attached.values()].map((a) => a.state.ifName));
    for (let i = 0; ; i++) if (!used.has(`${prefix}${i}`)) return `${prefix}${i}`;
  }

  /**
   * Records a joined endpoint; the first endpoint that brings a gateway gives the default route,
   * the first on a network with embedded DNS opens the resolver's sockets (and their DNAT).
   * The kernel requests run on the kernel worker. @internal
   */
  async attach(ep: Endpoint, state: JoinState): Promise<void> {
    this.attached.set(ep.id, { ep, state });
    try {
      for (const fam of [4, 6] as const) {
        const gateway = gatewayOf(state, fam);
        if (this.defaultRouteEndpoint(fam) !== undefined || !gateway || !state.ifName) continue;
        this.setGatewayOwner(fam, ep.id);
        await this.os.setGateway(gateway, state.ifName);
      }
      const r = this.dnsCtx.resolver;
      if (r && !this.isHost && !this.external && ep.network.embeddedDns) {
        const upstreams = hostResolvUpstreams(this.hostResolvConf, this.options.dns ?? this.dnsCtx.dns);
        const opened = joinResolver(r, this, ep, upstreams);
        if (opened) await this.os.redirectDns(opened);
      }
    } catch (err) {
      await this.detach(ep);
      throw err;
    }
  }

  /** @internal Whether the embedded resolver serves this sandbox (then resolv.conf names 127.0.0.11). */
  get usesEmbeddedDns(): boolean {
    return this.dnsCtx.resolver?.serves(this.id) === true;
  }

  /** @internal The sandbox is removed: the resolver stops serving it. */
  dropDns(): void {
    this.dnsCtx.resolver?.dropSandbox(this.id);
  }

  /** Forgets an endpoint; if it gave a default route, the next endpoint with a gateway takes over. @internal */
  async detach(ep: Endpoint): Promise<void> {
    if (!this.attached.delete(ep.id)) return;
    this.dnsCtx.resolver?.leave(this.id, ep.network.id, ep.id);
    for (const fam of [4, 6] as const)
      if (this.defaultRouteEndpoint(fam) === ep.id) await this.passGateway(fam);
  }

  private setGatewayOwner(fam: 4 | 6, id: string | undefined): void {
    if (fam === 4) this.gw4 = id;
    else this.gw6 = id;
  }

  /** The family's default route goes; the next endpoint with a gateway of that family gives it. */
  private async passGateway(fam: 4 | 6): Promise<void> {
    this.setGatewayOwner(fam, undefined);
    await this.os.unsetGateway(fam);
    // An endpoint attached meanwhile has set its own (its request ran after the removal).
    if (this.defaultRouteEndpoint(fam) !== undefined) return;
    const next = [...this.attached.values()].find((a) => gatewayOf(a.state, fam) && a.state.ifName);
    const gateway = next && gatewayOf(next.state, fam);
    if (!next?.state.ifName || !gateway) return;
    this.setGatewayOwner(fam, next.ep.id);
    await this.os.setGateway(gateway, next.state.ifName);
  }

  /** (Re)writes hosts and resolv.conf from the sandbox's current state. @internal */
  async writeFiles(): Promise<void> {
    // An external namespace's owner (a CNI runtime) writes the container's files itself.
    if (this.external) return;
    const o = this.options;
    const hostResolv = readFileIfExists(this.hostResolvConf);
    if (this.isHost) {
      // The host's namespace: the host's own files, plus the extra hosts asked for.
      const hosts = readFileIfExists('/etc/hosts');
      const extra = (o.extraHosts ?? []).map((h) => `${h.ip}\t${h.name}\n`).join('');
      await Promise.all([this.put(this.hostsPath, hosts + extra), this.put(this.resolvConfPath, hostResolv)]);
      return;
    }
    const addresses: string[] = [];
    let ipv6 = false;
    for (const { ep } of this.attached.values()) {
      if (ep.iface.address) addresses.push(ep.iface.address.split('/')[0] ?? '');
      if (ep.iface.addressIPv6) {
        addresses.push(ep.iface.addressIPv6.split('/')[0] ?? '');
        ipv6 = true;
      }
    }
    const hosts = buildHosts({
      ...(o.hostname ? { hostname: o.hostname } : {}),
      ...(o.domainname ? { domainname: o.domainname } : {}),
      addresses: o.hostname ? addresses : [],
      extraHosts: o.extraHosts ?? [],
    });
    const d = this.dnsCtx;
    const [dns, dnsSearch, dnsOptions] = [
      o.dns ?? d.dns,
      o.dnsSearch ?? d.dnsSearch,
      o.dnsOptions ?? d.dnsOptions,
    ];
    const embedded = this.usesEmbeddedDns;
    const resolv = buildResolvConf(hostResolv, {
      ...(dns ? { dns } : {}),
      ...(dnsSearch ? { dnsSearch } : {}),
      ...(dnsOptions ? { dnsOptions } : {}),
      ipv6,
      sourcePath: this.hostResolvConf,
      ...(embedded ? { internalResolver: EMBEDDED_RESOLVER } : {}),
    });
    if (embedded) d.resolver?.setUpstreams(this.id, resolv.extServers);
    // The resolver's worker has this sandbox's names (joined, left) by the time the files are written.
    await Promise.all([
      this.put(this.hostsPath, hosts),
      this.put(this.resolvConfPath, resolv.content),
      d.resolver?.settled(),
    ]);
  }

  /** @internal Restore: files that exist already may be mounted in the container; update them in place. */
  adoptFiles(): void {
    for (const p of [this.hostsPath, this.resolvConfPath]) if (existsSync(p)) this.written.add(p);
  }

  /**
   * The first write of a file replaces it atomically; later ones (another endpoint joins or
   * leaves a running container) rewrite it in place, keeping its inode: a container that has
   * bind-mounted the file (as Docker mounts HostsPath and ResolvConfPath) sees the change.
   */
  private put(path: string, content: string): Promise<void> {
    if (this.written.has(path)) {
      return rewriteFileInPlace(path, content).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        return writeFileAtomic(path, content); // removed behind our back: make it again
      });
    }
    return writeFileAtomic(path, content).then(() => {
      this.written.add(path);
    });
  }

  /** @internal */
  async removeFiles(): Promise<void> {
    // An external namespace's sandbox writes no files (writeFiles): none to remove, none of its owner's.
    if (this.external) return;
    await rm(this.dir, { recursive: true, force: true });
    if (this.options.hostsPath) await rm(this.hostsPath, { force: true });
    if (this.options.resolvConfPath) await rm(this.resolvConfPath, { force: true });
  }
}

/** The gateway a joined endpoint brings for a family, if any. */
function gatewayOf(state: JoinState, fam: 4 | 6): string | undefined {
  return fam === 4 ? state.gateway : state.gatewayIPv6;
}
