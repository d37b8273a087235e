/**
 * The bridge driver's published ports: host ports from the port allocator (all of an endpoint's
 * or none), held by a bound socket each (or by the userland proxy's listeners when it runs), and
 * programmed in the firewall's maps in one transaction. After a restart the same host ports are
 * taken again from the endpoint's records (restore).
 */
import type { PortMapping } from '../../driver-api/driver.ts';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { familyOf, plain } from '../../ip/index.ts';
import {
  type HeldPorts,
  holdPorts,
  holdPortsBestEffort,
  PortAllocator,
  startProxy,
} from '../../portmapper/index.ts';
import type { FwPort } from './firewall.ts';
import type { BridgeFirewall } from './fw-driver.ts';
import type { Binding } from './options.ts';
import type { BridgeEndpoint, BridgeNetwork, BridgeState, PublishedPort } from './state.ts';

/** How a mapping is programmed in the firewall (a wildcard host address matches every address). */
function fwPortOf(m: PortMapping, bridge: string): FwPort {
  const wildcard = m.hostIP === '0.0.0.0' || m.hostIP === '::';
  return {
    family: familyOf(m.containerIP),
    proto: m.proto,
    ...(wildcard ? {} : { hostIP: m.hostIP }),
    hostPort: m.hostPort,
    hostPortEnd: m.hostPortEnd,
    containerIP: m.containerIP,
    containerPort: m.port,
    bridge,
  };
}

interface Wanted {
  b: Binding;
  hostIP: string;
  containerIP: string;
}

export class PortPublisher {
  private allocator: PortAllocator;

  /** `firewall`: the driver's current firewall (it changes when the firewall is switched on or off). */
  constructor(
    private readonly state: BridgeState,
    private readonly firewall: () => BridgeFirewall,
  ) {
    this.allocator = this.newAllocator();
  }

  private newAllocator(): PortAllocator {
    const r = this.state.cfg.portRange;
    return new PortAllocator({ ephemeralStart: r.start, ephemeralEnd: r.end });
  }

  /** The ephemeral range changed in the configuration (only while no port is published). */
  rangeChanged(): void {
    this.allocator = this.newAllocator();
  }

  /** The host side of each binding: one mapping per family the binding publishes on. */
  private wanted(n: BridgeNetwork, e: BridgeEndpoint): Wanted[] {
    const wanted: Wanted[] = [];
    for (const b of e.bindings) {
      const hostIP = b.hostIP ?? n.cfg.hostBindingIPv4;
      if (familyOf(hostIP) === 4 && !e.addr4 && e.addr6 && !b.hostIP && hostIP === '0.0.0.0') {
        // an IPv6-only endpoint: an unspecified host address publishes on IPv6 only
        wanted.push({ b, hostIP: '::', containerIP: plain(e.addr6) });
      } else if (familyOf(hostIP) === 4) {
        if (!e.addr4) throw new InvalidOptionError('portBindings', b, 'the endpoint has no IPv4 address');
        wanted.push({ b, hostIP, containerIP: plain(e.addr4) });
        // An unspecified host address publishes on IPv6 too, when the endpoint has IPv6.
        if (!b.hostIP && e.addr6 && hostIP === '0.0.0.0') {
          wanted.push({ b, hostIP: '::', containerIP: plain(e.addr6) });
        }
      } else {
        if (!e.addr6) throw new InvalidOptionError('portBindings', b, 'the endpoint has no IPv6 address');
        wanted.push({ b, hostIP, containerIP: plain(e.addr6) });
      }
    }
    return wanted;
  }

  /** Publishes the endpoint's ports: all host ports allocated or none, then one firewall transaction. */
  async publish(n: BridgeNetwork, e: BridgeEndpoint): Promise<void> {
    if (e.bindings.length === 0 || e.ports.length > 0) return;
    if (n.cfg.internal) {
      throw new InvalidOptionError('portBindings', e.bindings, 'an internal network cannot publish ports');
    }
    const wanted = this.wanted(n, e);
    const allocs = this.allocator.allocate(
      wanted.map(({ b, hostIP }) => ({
        proto: b.proto,
        hostIP,
        ...(b.hostPort ? { hostPort: b.hostPort } : {}),
        ...(b.hostPortEnd && b.hostPortEnd !== b.hostPort ? { hostPortEnd: b.hostPortEnd } : {}),
        span: b.portEnd - b.port + 1,
      })),
    );
    // The host ports are held by a bound socket each (the userland proxy's listeners hold them
    // when it runs): a port another program holds is refused here, with nothing allocated.
    let held: HeldPorts | undefined;
    if (!this.state.cfg.userlandProxy && e.holdsPorts) {
      try {
        held = holdPorts(allocs);
      } catch (err) {
        for (const a of allocs) this.allocator.release(a);
        throw err;
      }
    }
    const ports: PublishedPort[] = allocs.map((alloc, i) => {
      const w = wanted[i] as Wanted; // the allocator answers each request, in order
      const mapping: PortMapping = {
        proto: w.b.proto,
        port: w.b.port,
        portEnd: w.b.port + (alloc.hostPortEnd - alloc.hostPort),
        containerIP: w.containerIP,
        hostIP: w.hostIP,
        hostPort: alloc.hostPort,
        hostPortEnd: alloc.hostPortEnd,
      };
      return { alloc, mapping, fw: fwPortOf(mapping, n.cfg.bridgeName) };
    });
    // In the state before the transaction (it runs on the kernel worker): a rebuild meanwhile
    // programs them too.
    e.ports = ports;
    try {
      if (!this.state.restoring) await this.firewall().addPorts(ports.map((p) => p.fw));
    } catch (err) {
      e.ports = [];
      held?.release();
      for (const p of ports) this.allocator.release(p.alloc);
      throw err;
    }
    if (held) e.held = held;
    if (this.state.cfg.userlandProxy) {
      try {
        await this.startProxies(e);
      } catch (err) {
        await this.unpublish(e);
        throw err;
      }
    }
  }

  /**
   * After a restart: the same host ports as before, allocated exactly and held again; the firewall
   * programs them with its rebuild at the end of the restore. A port another program took while
   * dnet was down stays published (its DNAT rule comes back) but cannot be held: a warning, not fatal.
   */
  async restore(n: BridgeNetwork, e: BridgeEndpoint, mappings: PortMapping[]): Promise<void> {
    if (mappings.length === 0) return;
    const allocs = this.allocator.allocate(
      mappings.map((m) => ({
        proto: m.proto,
        hostIP: m.hostIP,
        hostPort: m.hostPort,
        ...(m.hostPortEnd !== m.hostPort ? { hostPortEnd: m.hostPortEnd } : {}),
        span: m.hostPortEnd - m.hostPort + 1,
      })),
    );
    e.ports = mappings.map((mapping, i) => ({
      alloc: allocs[i] ?? {
        proto: mapping.proto,
        hostIP: mapping.hostIP,
        hostPort: mapping.hostPort,
        hostPortEnd: mapping.hostPortEnd,
      },
      mapping,
      fw: fwPortOf(mapping, n.cfg.bridgeName),
    }));
    if (this.state.cfg.userlandProxy) await this.startProxies(e);
    else if (e.holdsPorts) {
      const { held, failures } = holdPortsBestEffort(allocs);
      e.held = held;
      for (const f of failures) {
        process.emitWarning(f.message, {
          type: 'DnetPortWarning',
          code: (f as { code?: string }).code ?? '',
        });
      }
    }
  }

  private async startProxies(e: BridgeEndpoint): Promise<void> {
    for (const p of e.ports) {
      if (p.mapping.proto === 'sctp') continue; // kernel DNAT only
      for (let hp = p.mapping.hostPort; hp <= p.mapping.hostPortEnd; hp++) {
        e.proxies.push(
          await startProxy({
            proto: p.mapping.proto,
            hostIP: p.mapping.hostIP,
            hostPort: hp,
            containerIP: p.mapping.containerIP,
            containerPort: p.mapping.port + (hp - p.mapping.hostPort),
          }),
        );
      }
    }
  }

  /** Unpublishes the endpoint's ports: proxies stopped, firewall elements removed, host ports freed. */
  async unpublish(e: BridgeEndpoint): Promise<void> {
    const held = e.held;
    delete e.held;
    try {
      await this.stopProxies(e);
      if (e.ports.length === 0) return;
      const ports = e.ports;
      // Out of the state first (a rebuild while the transaction runs leaves them out); back in
      // when the removal fails.
      e.ports = [];
      try {
        await this.firewall().removePorts(ports.map((p) => p.fw));
      } catch (err) {
        e.ports = ports;
        throw err;
      }
      for (const p of ports) this.allocator.release(p.alloc);
    } finally {
      held?.release(); // closes every socket, whatever happened above
    }
  }

  /**
   * As at the process's exit: proxies stopped and the holding sockets closed, while the published
   * ports stay in the records and the firewall; the next start (restore) holds them again.
   */
  async letGo(e: BridgeEndpoint): Promise<void> {
    await this.stopProxies(e);
    e.held?.release();
    delete e.held;
  }

  private async stopProxies(e: BridgeEndpoint): Promise<void> {
    const proxies = e.proxies;
    e.proxies = [];
    await Promise.allSettled(proxies.map((p) => p.close()));
  }
}
