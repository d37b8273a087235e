/**
 * What each NetworkDriver.* and IpamDriver.* call of Docker Engine does to dnet (the server side
 * of Docker's remote driver protocol; ../shared REFERENCE §2, §3, §5).
 *
 * - Networks and endpoints Docker makes with `-d dnet` are dnet networks and endpoints of the one
 *   controller: created through it (same validation, IPAM, persistence and restore as
 *   `dnet network create`), found again by the Docker network ID the network carries as a label
 *   (LABEL_DOCKER_NETWORK_ID) and by the endpoint's name (Docker's endpoint ID).
 * - Docker owns the container's namespace: Join asks the driver for an interface left in the host
 *   namespace, which dockerd moves, renames and addresses. The core has no sandbox for it, so the
 *   join (and its published ports) is recorded here, in the daemon's store, and given back to the
 *   driver after a dnet restart (restoreJoins).
 * - Every call may come again (dockerd retries, and replays after its own restart): a call for
 *   something already in the state asked answers as the first did; a delete of something gone
 *   succeeds.
 */
import type { NetworkDriver, PortBinding } from '../../driver-api/driver.ts';
import { DEFAULT_IPAM } from '../../driver-api/ipam.ts';
import type { Endpoint, Network, NetworkController } from '../../index.ts';
import { plain } from '../../ip/index.ts';
import type { KvStore } from '../../store/types.ts';
import type { Logger } from '../log.ts';
import { DockerPluginRequestError, DockerPluginUnknownError } from './errors.ts';
import { DockerIpam } from './ipam.ts';
import { DockerJoins, type JoinRecord } from './joins.ts';
import {
  ipamData,
  LABEL_DOCKER_NETWORK_ID,
  LABEL_ENABLE_IPV6,
  LABEL_EXPOSED_PORTS,
  LABEL_GENERIC,
  LABEL_INTERNAL,
  LABEL_PORTMAP,
  OPT_DNET_DRIVER,
  portBindings,
  portMapOut,
  type Req,
} from './wire.ts';

/** dnet drivers a Docker network may be served by. */
export const PLUGIN_DRIVERS = ['bridge'] as const;

export type Body = Record<string, unknown>;

export class PluginService {
  readonly ipam: DockerIpam;
  private readonly joins: DockerJoins;

  constructor(
    private readonly controller: NetworkController,
    store: KvStore,
    private readonly logger: Logger,
  ) {
    this.ipam = new DockerIpam(() => controller.drivers.ipamDriver(DEFAULT_IPAM));
    this.joins = new DockerJoins(store, controller);
  }

  // --- lookups ------------------------------------------------------------------------------

  private network(dockerId: string): Network | undefined {
    for (const n of this.controller.networks()) if (n.labels[LABEL_DOCKER_NETWORK_ID] === dockerId) return n;
    return undefined;
  }

  private mustNetwork(method: string, dockerId: string): Network {
    const n = this.network(dockerId);
    if (!n) throw new DockerPluginUnknownError(method, `network ${dockerId}`);
    return n;
  }

  private mustEndpoint(method: string, n: Network, dockerId: string): Endpoint {
    const ep = n.endpointByName(dockerId);
    if (!ep) throw new DockerPluginUnknownError(method, `endpoint ${dockerId} of network ${n.name}`);
    return ep;
  }

  // --- NetworkDriver ------------------------------------------------------------------------

  async createNetwork(r: Req): Promise<Body> {
    const id = r.id('NetworkID');
    const options = r.object('Options');
    const generic = options?.scalarMap(LABEL_GENERIC) ?? {};
    const v4 = ipamData(r, 'IPv4Data', 4);
    const v6 = ipamData(r, 'IPv6Data', 6);
    const enableIPv6 = (options?.bool(LABEL_ENABLE_IPV6) ?? false) || v6.length > 0;
    const internal = (options?.bool(LABEL_INTERNAL) ?? false) || generic[LABEL_INTERNAL] === 'true';
    const { [OPT_DNET_DRIVER]: driverName = 'bridge', [LABEL_INTERNAL]: _i, ...driverOptions } = generic;
    if (!(PLUGIN_DRIVERS as readonly string[]).includes(driverName)) {
      throw new DockerPluginRequestError(
        r.method,
        `option ${OPT_DNET_DRIVER}=${driverName}: dnet serves Docker networks with ${PLUGIN_DRIVERS.join(', ')}`,
      );
    }
    const existing = this.network(id);
    if (existing) {
      const want = [...v4, ...v6].map((d) => d.pool).sort();
      const have = existing.pools.map((p) => p.subnet).sort();
      if (JSON.stringify(want) !== JSON.stringify(have)) {
        throw new DockerPluginRequestError(
          r.method,
          `network ${id} exists in dnet (${existing.name}) with subnets ${have.join(', ')}, not ${want.join(', ')}`,
        );
      }
      return {}; // a replay
    }
    const config = [];
    for (const d of [...v4, ...v6]) {
      const held = await this.ipam.handOverPool(d.pool);
      config.push({
        subnet: d.pool,
        ...(held?.subPool ? { ipRange: held.subPool } : {}),
        ...(d.gateway ? { gateway: plain(d.gateway) } : {}),
        ...(Object.keys(d.auxAddresses).length > 0
          ? {
              auxAddresses: Object.fromEntries(Object.entries(d.auxAddresses).map(([k, a]) => [k, plain(a)])),
            }
          : {}),
      });
    }
    const n = await this.controller.newNetwork(driverName, `docker-${id.slice(0, 12)}`, {
      ipam: { driver: DEFAULT_IPAM, config },
      enableIPv6,
      internal,
      labels: { [LABEL_DOCKER_NETWORK_ID]: id },
      options: driverOptions,
    });
    this.logger.info(
      { event: 'docker-plugin', call: r.method, network: n.id, docker: id },
      `docker network ${id.slice(0, 12)}: dnet network ${n.name}`,
    );
    return {};
  }

  async deleteNetwork(r: Req): Promise<Body> {
    const id = r.id('NetworkID');
    const n = this.network(id);
    if (!n) return {}; // gone already
    for (const ep of n.endpoints()) {
      if (this.joins.has(ep.name)) {
        throw new DockerPluginRequestError(
          r.method,
          `network ${id} still has endpoint ${ep.name} joined to a container`,
        );
      }
    }
    // Endpoints Docker forgot (a crash between its calls) go with the network.
    for (const ep of n.endpoints()) await ep.delete();
    await n.delete();
    return {};
  }

  async createEndpoint(r: Req): Promise<Body> {
    const n = this.mustNetwork(r.method, r.id('NetworkID'));
    const epId = r.id('EndpointID');
    const iface = r.object('Interface');
    const address = iface?.optCidr('Address', 4);
    const addressIPv6 = iface?.optCidr('AddressIPv6', 6);
    const mac = iface?.optMac('MacAddress');
    const options = r.object('Options');
    const bindings: PortBinding[] = options ? portBindings(options, LABEL_PORTMAP) : [];
    const existing = n.endpointByName(epId);
    if (existing) {
      const info = await existing.info();
      // A replay: Docker gives the same addresses again (or none, when dnet chose them).
      if ((address && info.ipv4Address !== address) || (addressIPv6 && info.ipv6Address !== addressIPv6)) {
        throw new DockerPluginRequestError(
          r.method,
          `endpoint ${epId} exists with addresses ${info.ipv4Address ?? '-'} ${info.ipv6Address ?? '-'}, not ${address ?? '-'} ${addressIPv6 ?? '-'}`,
        );
      }
      return this.interfaceReply(info, { address, addressIPv6, mac });
    }
    for (const a of [address, addressIPv6]) if (a) await this.ipam.handOverAddress(plain(a));
    const ep = await n.createEndpoint(epId, {
      ...(address ? { ipv4Address: plain(address) } : {}),
      ...(addressIPv6 ? { ipv6Address: plain(addressIPv6) } : {}),
      ...(mac ? { macAddress: mac } : {}),
      portBindings: bindings,
    });
    return this.interfaceReply(await ep.info(), { address, addressIPv6, mac });
  }

  /** What dnet chose that Docker did not give (Docker takes a driver's MAC or address only then). */
  private interfaceReply(
    info: { ipv4Address?: string; ipv6Address?: string; macAddress?: string },
    given: { address?: string | undefined; addressIPv6?: string | undefined; mac?: string | undefined },
  ): Body {
    const iface = {
      ...(!given.address && info.ipv4Address ? { Address: info.ipv4Address } : {}),
      ...(!given.addressIPv6 && info.ipv6Address ? { AddressIPv6: info.ipv6Address } : {}),
      ...(!given.mac && info.macAddress ? { MacAddress: info.macAddress } : {}),
    };
    return Object.keys(iface).length > 0 ? { Interface: iface } : {};
  }

  async deleteEndpoint(r: Req): Promise<Body> {
    const n = this.network(r.id('NetworkID'));
    const epId = r.id('EndpointID');
    const ep = n?.endpointByName(epId);
    if (!n || !ep) return {};
    if (this.joins.has(epId)) await this.leaveEndpoint(n, ep);
    await ep.delete();
    return {};
  }

  async endpointOperInfo(r: Req): Promise<Body> {
    const n = this.mustNetwork(r.method, r.id('NetworkID'));
    const ep = this.mustEndpoint(r.method, n, r.id('EndpointID'));
    const info = await ep.info();
    const oper = await (n.driver as NetworkDriver).endpointOperInfo(n.id, ep.id);
    return {
      Value: {
        ...(info.macAddress ? { 'com.docker.network.endpoint.macaddress': info.macAddress } : {}),
        ...(typeof oper.hostInterface === 'string' ? { 'dnet.host-interface': oper.hostInterface } : {}),
        [LABEL_PORTMAP]: info.portMappings.map(portMapOut),
        'dnet.network': n.name,
        'dnet.network-id': n.id,
        'dnet.endpoint-id': ep.id,
      },
    };
  }

  async join(r: Req): Promise<Body> {
    const n = this.mustNetwork(r.method, r.id('NetworkID'));
    const ep = this.mustEndpoint(r.method, n, r.id('EndpointID'));
    const sandboxKey = r.optString('SandboxKey') ?? '';
    const driver = n.driver as NetworkDriver;
    const prior = this.joins.get(ep.name);
    if (prior) {
      // A replay: answer as before, if the interface Docker was given is still there to move.
      await driver.leave(n.id, ep.id);
      await this.joins.forget(ep.name);
    }
    const info = await driver.join({
      networkId: n.id,
      endpointId: ep.id,
      sandboxKey,
      options: {},
      interfaceInHost: true,
    });
    const src = info.interfaceName?.srcName;
    if (!src) {
      await driver.leave(n.id, ep.id);
      throw new DockerPluginRequestError(r.method, `the ${n.type} driver gave no interface`);
    }
    const rec: JoinRecord = { networkId: n.id, endpointId: ep.id, srcName: src, portMappings: [] };
    try {
      await this.joins.save(ep.name, rec);
    } catch (err) {
      await driver.leave(n.id, ep.id);
      throw err;
    }
    return {
      InterfaceName: { SrcName: src, DstPrefix: info.interfaceName?.dstPrefix ?? 'eth' },
      ...(info.gateway ? { Gateway: info.gateway } : {}),
      ...(info.gatewayIPv6 ? { GatewayIPv6: info.gatewayIPv6 } : {}),
      StaticRoutes: info.staticRoutes.map((s) => ({
        Destination: s.destination,
        RouteType: s.routeType,
        ...(s.nextHop ? { NextHop: s.nextHop } : {}),
      })),
      DisableGatewayService: info.disableGatewayService,
    };
  }

  async leave(r: Req): Promise<Body> {
    const n = this.network(r.id('NetworkID'));
    const ep = n?.endpointByName(r.id('EndpointID'));
    if (!n || !ep || !this.joins.has(ep.name)) return {};
    await this.leaveEndpoint(n, ep);
    return {};
  }

  private async leaveEndpoint(n: Network, ep: Endpoint): Promise<void> {
    const driver = n.driver as NetworkDriver;
    await driver.revokeExternalConnectivity?.(n.id, ep.id);
    await driver.leave(n.id, ep.id);
    await this.joins.forget(ep.name);
  }

  async programExternalConnectivity(r: Req): Promise<Body> {
    const n = this.mustNetwork(r.method, r.id('NetworkID'));
    const ep = this.mustEndpoint(r.method, n, r.id('EndpointID'));
    const options = r.object('Options');
    if (options) {
      portBindings(options, LABEL_PORTMAP); // checked; the endpoint has them since CreateEndpoint
      options.array(LABEL_EXPOSED_PORTS);
    }
    const j = this.joins.get(ep.name);
    if (!j) throw new DockerPluginRequestError(r.method, `endpoint ${ep.name} is not joined to a container`);
    const driver = n.driver as NetworkDriver;
    await driver.programExternalConnectivity?.(n.id, ep.id, {});
    const info = await ep.info();
    await this.joins.save(ep.name, { ...j, portMappings: info.portMappings });
    return {};
  }

  async revokeExternalConnectivity(r: Req): Promise<Body> {
    const n = this.network(r.id('NetworkID'));
    const ep = n?.endpointByName(r.id('EndpointID'));
    if (!n || !ep) return {};
    await (n.driver as NetworkDriver).revokeExternalConnectivity?.(n.id, ep.id);
    const j = this.joins.get(ep.name);
    if (j && j.portMappings.length > 0) await this.joins.save(ep.name, { ...j, portMappings: [] });
    return {};
  }

  /** dockerd (re)started: drivers put back what they keep in its firewall. */
  async hostFirewallChanged(): Promise<void> {
    for (const d of this.controller.drivers.loadedNetworkDrivers()) await d.hostFirewallChanged?.();
  }

  // --- IpamDriver ---------------------------------------------------------------------------

  async requestPool(r: Req): Promise<Body> {
    const v6 = r.bool('V6');
    const pool = r.optCidr('Pool');
    const subPool = r.optCidr('SubPool');
    if (subPool && !pool) throw r.bad('SubPool', 'needs a Pool');
    const a = await this.ipam.requestPool({
      addressSpace: r.optString('AddressSpace') ?? '',
      ...(pool ? { pool } : {}),
      ...(subPool ? { subPool } : {}),
      options: r.scalarMap('Options'),
      v6: v6 || (pool?.includes(':') ?? false),
    });
    return { PoolID: a.poolId, Pool: a.pool, Data: {} };
  }

  async releasePool(r: Req): Promise<Body> {
    await this.ipam.releasePool(r.string('PoolID'));
    return {};
  }

  async requestAddress(r: Req): Promise<Body> {
    const address = r.optIp('Address');
    const a = await this.ipam.requestAddress(r.string('PoolID'), address, r.scalarMap('Options'));
    return { Address: a, Data: {} };
  }

  async releaseAddress(r: Req): Promise<Body> {
    const address = r.optIp('Address');
    if (!address) throw r.bad('Address', 'is missing');
    await this.ipam.releaseAddress(r.string('PoolID'), address);
    return {};
  }

  /** At start, after the controller's restore: the joins Docker made (joins.ts). */
  restoreJoins(): Promise<string[]> {
    return this.joins.restore();
  }
}
