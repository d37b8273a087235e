/**
 * The remote network driver: a NetworkDriver that forwards every call to a Docker network plugin
 * (`NetworkDriver.*`, libnetwork docs/remote.md), so existing plugins work unchanged. Requests
 * are shaped as dockerd shapes them; replies are checked field by field (reply.ts) before the core
 * sees them.
 *
 * Rollback: when the plugin did a call (it answered 200) but dnet cannot use its reply, the
 * reverse call undoes it (CreateNetwork → DeleteNetwork, CreateEndpoint → DeleteEndpoint,
 * Join → Leave), as dockerd does for CreateEndpoint and Join; the error says how that went.
 * Everything dnet did itself before the call is undone by the core.
 *
 * State: the plugin keeps its own (Docker's model). This driver only remembers each endpoint's
 * port options, to hand them to ProgramExternalConnectivity as dockerd does.
 */
import type {
  CreateEndpointRequest,
  CreateEndpointResult,
  CreateNetworkRequest,
  DriverCapability,
  EndpointInterface,
  EndpointOperInfo,
  IpamData,
  JoinInfo,
  JoinRequest,
  NetworkDriver,
  PortMapping,
  Proto,
  Scope,
  StaticRoute,
} from '../../driver-api/driver.ts';
import { familyOf, networkOf } from '../../ip/index.ts';
import { parseMac } from '../../ip/mac.ts';
import type { PluginClient } from '../../plugins/client.ts';
import { PluginCallError, PluginReplyError } from '../../plugins/errors.ts';
import type { PluginRegistry } from '../../plugins/registry.ts';
import { isValidIfName, parseIp, Reply } from '../../plugins/reply.ts';

/** The subsystem name in `Plugin.Activate`'s manifest and in method paths. */
export const NETWORK_DRIVER_SUBSYSTEM = 'NetworkDriver';

/** Docker's option keys (libnetwork netlabel). */
export const LABEL = {
  generic: 'com.docker.network.generic',
  enableIPv4: 'com.docker.network.enable_ipv4',
  enableIPv6: 'com.docker.network.enable_ipv6',
  internal: 'com.docker.network.internal',
  exposedPorts: 'com.docker.network.endpoint.exposedports',
  portMap: 'com.docker.network.portmap',
  macAddress: 'com.docker.network.endpoint.macaddress',
} as const;

/** Docker's DiscoveryType for node discovery, the only one forwarded to plugins. */
export const NODE_DISCOVERY = 1;

const PROTO_NUMBER: Record<Proto, number> = { tcp: 6, udp: 17, sctp: 132 };
const PROTO_NAME = new Map<number, Proto>([
  [6, 'tcp'],
  [17, 'udp'],
  [132, 'sctp'],
]);

/** IPAMData as dockerd marshals it. */
function ipamData(d: IpamData): Record<string, unknown> {
  return {
    AddressSpace: d.addressSpace,
    Pool: d.pool,
    ...(d.gateway ? { Gateway: d.gateway } : {}),
    AuxAddresses: { ...d.auxAddresses },
  };
}

/** The endpoint options dockerd sends: the driver options, then the ports, as libnetwork's generic data. */
function endpointOptions(req: CreateEndpointRequest): Record<string, unknown> {
  const o: Record<string, unknown> = { ...req.options.generic };
  if (req.options.exposedPorts.length > 0) {
    o[LABEL.exposedPorts] = req.options.exposedPorts.map((p) => ({
      Proto: PROTO_NUMBER[p.proto],
      Port: p.port,
    }));
  }
  if (req.options.portBindings.length > 0) {
    o[LABEL.portMap] = req.options.portBindings.map((b) => ({
      Proto: PROTO_NUMBER[b.proto],
      IP: '',
      Port: b.port,
      HostIP: b.hostIP ?? '',
      HostPort: b.hostPort ?? 0,
      HostPortEnd: b.hostPortEnd ?? b.hostPort ?? 0,
    }));
  }
  return o;
}

/** The port keys of endpoint options: what ProgramExternalConnectivity gets, as in dockerd. */
function portOptionsOf(options: Record<string, unknown>): Record<string, unknown> {
  const ports: Record<string, unknown> = {};
  for (const k of [LABEL.exposedPorts, LABEL.portMap]) if (options[k] !== undefined) ports[k] = options[k];
  return ports;
}

const isPort = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;

/** One entry of Docker's port map (`{Proto, IP, Port, HostIP, HostPort, HostPortEnd}`), if well-formed. */
function parsePortMapping(e: unknown): PortMapping | undefined {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return undefined;
  const p = e as Record<string, unknown>;
  const proto = PROTO_NAME.get(p.Proto as number);
  const port = p.Port ?? 0;
  const hostPort = p.HostPort ?? 0;
  const hostPortEnd = p.HostPortEnd || hostPort;
  if (proto === undefined || !isPort(port) || !isPort(hostPort) || !isPort(hostPortEnd)) return undefined;
  const ip = (k: string): string | undefined => {
    const v = p[k];
    if (v === undefined || v === null || v === '') return '';
    return typeof v === 'string' ? parseIp(v) : undefined;
  };
  const containerIP = ip('IP');
  const hostIP = ip('HostIP');
  if (containerIP === undefined || hostIP === undefined) return undefined;
  return { proto, port, portEnd: port, containerIP, hostIP, hostPort, hostPortEnd };
}

export class RemoteDriver implements NetworkDriver {
  readonly type: string;
  private readonly portOptions = new Map<string, Record<string, unknown>>();

  private constructor(
    readonly client: PluginClient,
    private readonly caps: DriverCapability,
  ) {
    this.type = client.name;
  }

  /** The driver of a plugin: asks the plugin's capabilities (its scope) first, as dockerd. */
  static async create(client: PluginClient): Promise<RemoteDriver> {
    const method = `${NETWORK_DRIVER_SUBSYSTEM}.GetCapabilities`;
    const r = new Reply(client.name, method, await client.call(method, undefined, 'Err'));
    const scope = (key: string, dflt?: Scope): Scope => {
      const v = r.optString(key) ?? dflt;
      if (v !== 'local' && v !== 'global') throw r.bad(key, 'must be "local" or "global"');
      return v;
    };
    const dataScope = scope('Scope');
    return new RemoteDriver(client, { dataScope, connectivityScope: scope('ConnectivityScope', dataScope) });
  }

  /** The resolver the controller installs: the driver of the plugin `name`, if there is one. */
  static async resolve(registry: PluginRegistry, name: string): Promise<RemoteDriver | undefined> {
    const client = await registry.clientFor(name, NETWORK_DRIVER_SUBSYSTEM);
    return client ? RemoteDriver.create(client) : undefined;
  }

  capabilities(): DriverCapability {
    return { ...this.caps };
  }

  private async call(method: string, args: unknown): Promise<Reply> {
    const m = `${NETWORK_DRIVER_SUBSYSTEM}.${method}`;
    return new Reply(this.client.name, m, await this.client.call(m, args, 'Err'));
  }

  /**
   * A call whose reply is parsed by `parse`. If the plugin did it (200) but the reply is unusable,
   * `undo` (the reverse call) is made before the error is thrown.
   */
  private async callUndoable<T>(
    method: string,
    args: unknown,
    parse: (r: Reply) => T,
    undo: { method: string; args: unknown },
  ): Promise<T> {
    try {
      return parse(await this.call(method, args));
    } catch (err) {
      if (!(err instanceof PluginReplyError)) throw err;
      try {
        await this.call(undo.method, undo.args);
        err.rolledBack(`rolled back with ${NETWORK_DRIVER_SUBSYSTEM}.${undo.method}`);
      } catch (e) {
        err.rolledBack(
          `rolling back with ${NETWORK_DRIVER_SUBSYSTEM}.${undo.method} failed too: ${(e as Error).message}`,
        );
      }
      throw err;
    }
  }

  /** A call a plugin may not implement (404 is success). */
  private async optionalCall(method: string, args: unknown): Promise<void> {
    try {
      await this.call(method, args);
    } catch (err) {
      if (err instanceof PluginCallError && err.notImplemented) return;
      throw err;
    }
  }

  async createNetwork(req: CreateNetworkRequest): Promise<void> {
    const o = req.options;
    const options: Record<string, unknown> = {
      [LABEL.enableIPv4]: true,
      [LABEL.enableIPv6]: o.enableIPv6,
      [LABEL.generic]: { ...o.generic },
      ...(o.internal ? { [LABEL.internal]: true } : {}),
    };
    await this.callUndoable(
      'CreateNetwork',
      {
        NetworkID: req.networkId,
        Options: options,
        IPv4Data: req.ipv4Data.map(ipamData),
        IPv6Data: req.ipv6Data.map(ipamData),
      },
      () => undefined,
      { method: 'DeleteNetwork', args: { NetworkID: req.networkId } },
    );
  }

  async deleteNetwork(networkId: string): Promise<void> {
    await this.call('DeleteNetwork', { NetworkID: networkId });
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResult> {
    const sent = req.iface;
    const options = endpointOptions(req);
    const ids = { NetworkID: req.networkId, EndpointID: req.endpointId };
    const iface = await this.callUndoable(
      'CreateEndpoint',
      {
        ...ids,
        Interface: {
          Address: sent.address ?? '',
          AddressIPv6: sent.addressIPv6 ?? '',
          MacAddress: sent.macAddress ?? '',
        },
        Options: options,
      },
      (r) => {
        const i = r.object('Interface');
        if (!i) return {};
        const got: EndpointInterface = {};
        const address = i.optCidr('Address', 4);
        const addressIPv6 = i.optCidr('AddressIPv6', 6);
        const macAddress = i.optMac('MacAddress');
        if (address) got.address = address;
        if (addressIPv6) got.addressIPv6 = addressIPv6;
        if (macAddress) got.macAddress = macAddress;
        // dnet gave these already: a plugin must not set them again (dockerd refuses it too).
        const field = { address: 'Address', addressIPv6: 'AddressIPv6', macAddress: 'MacAddress' } as const;
        for (const k of ['address', 'addressIPv6', 'macAddress'] as const) {
          if (got[k] !== undefined && sent[k] !== undefined) {
            throw r.fail(
              `"Interface.${field[k]}" is ${got[k]}, but dnet already gave the endpoint ${sent[k]} ` +
                `(a plugin may only fill in what the request left empty)`,
            );
          }
        }
        return got;
      },
      { method: 'DeleteEndpoint', args: ids },
    );
    this.portOptions.set(req.endpointId, portOptionsOf(options));
    return Object.keys(iface).length > 0 ? { iface } : {};
  }

  async deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    await this.call('DeleteEndpoint', { NetworkID: networkId, EndpointID: endpointId });
    this.portOptions.delete(endpointId);
  }

  /** Remembers a restored endpoint's port options (no call: the plugin keeps its own state). */
  async restoreEndpoint(req: CreateEndpointRequest): Promise<void> {
    this.portOptions.set(req.endpointId, portOptionsOf(endpointOptions(req)));
  }

  async endpointOperInfo(networkId: string, endpointId: string): Promise<EndpointOperInfo> {
    const r = await this.call('EndpointOperInfo', { NetworkID: networkId, EndpointID: endpointId });
    const v = r.object('Value');
    if (!v) return {};
    const out: EndpointOperInfo = {};
    for (const [k, x] of Object.entries(v.body)) {
      if (k !== 'portMappings' && k !== 'macAddress') out[k] = x;
    }
    // The value map is free-form: the MAC and port map (Docker's keys) are used when they are
    // well-formed, and otherwise left as the plugin's own data (never a reason to fail a join).
    const mac = v.body[LABEL.macAddress];
    if (typeof mac === 'string' && parseMac(mac)) out.macAddress = parseMac(mac);
    const pm = v.body[LABEL.portMap];
    if (Array.isArray(pm) && pm.length > 0) {
      const parsed = pm.map(parsePortMapping);
      if (parsed.every((m): m is PortMapping => m !== undefined)) out.portMappings = parsed;
    }
    return out;
  }

  async join(req: JoinRequest): Promise<JoinInfo> {
    const ids = { NetworkID: req.networkId, EndpointID: req.endpointId };
    return this.callUndoable(
      'Join',
      { ...ids, SandboxKey: req.sandboxKey, Options: { ...req.options } },
      (r) => parseJoin(r),
      { method: 'Leave', args: ids },
    );
  }

  async leave(networkId: string, endpointId: string): Promise<void> {
    await this.call('Leave', { NetworkID: networkId, EndpointID: endpointId });
  }

  /** Not every plugin implements it: 404 is success, as in dockerd. */
  async programExternalConnectivity(
    networkId: string,
    endpointId: string,
    options: Record<string, string>,
  ): Promise<void> {
    await this.optionalCall('ProgramExternalConnectivity', {
      NetworkID: networkId,
      EndpointID: endpointId,
      Options: { ...(this.portOptions.get(endpointId) ?? {}), ...options },
    });
  }

  async revokeExternalConnectivity(networkId: string, endpointId: string): Promise<void> {
    await this.optionalCall('RevokeExternalConnectivity', { NetworkID: networkId, EndpointID: endpointId });
  }

  /**
   * A node joined the cluster (Docker's discovery notifications). Only node discovery
   * (`NODE_DISCOVERY`, data `{Address, BindAddress, Self}`) is forwarded, as dockerd does.
   */
  async discoverNew(discoveryType: number, data: Record<string, unknown>): Promise<void> {
    if (discoveryType !== NODE_DISCOVERY) return;
    await this.call('DiscoverNew', { DiscoveryType: discoveryType, DiscoveryData: data });
  }

  async discoverDelete(discoveryType: number, data: Record<string, unknown>): Promise<void> {
    if (discoveryType !== NODE_DISCOVERY) return;
    await this.call('DiscoverDelete', { DiscoveryType: discoveryType, DiscoveryData: data });
  }
}

/** Join's reply: interface names, gateways, static routes, checked. */
export function parseJoin(r: Reply): JoinInfo {
  const info: JoinInfo = {
    staticRoutes: [],
    disableGatewayService: r.bool('DisableGatewayService'),
  };
  const names = r.object('InterfaceName');
  // Go plugins send a zero InterfaceName ({"SrcName": "", "DstPrefix": ""}) for "no interface".
  const srcName = names?.optString('SrcName');
  if (names && srcName !== undefined) {
    if (!isValidIfName(srcName)) throw names.bad('SrcName', 'is not a valid interface name');
    const dstPrefix = names.optString('DstPrefix') ?? 'eth';
    if (!isValidIfName(dstPrefix) || Buffer.byteLength(dstPrefix) > 12 || /^\d/.test(dstPrefix)) {
      throw names.bad('DstPrefix', 'is not a usable interface name prefix (1-12 characters, then a number)');
    }
    info.interfaceName = { srcName, dstPrefix };
  } else if (names?.has('DstPrefix') && names.optString('DstPrefix') !== undefined) {
    throw names.bad('SrcName', 'is missing (DstPrefix is set)');
  }
  const gw = r.optIp('Gateway', 4);
  const gw6 = r.optIp('GatewayIPv6', 6);
  if (gw) info.gateway = gw;
  if (gw6) info.gatewayIPv6 = gw6;
  r.array('StaticRoutes').forEach((e, i) => {
    const s = r.element('StaticRoutes', i, e);
    const dest = s.optCidr('Destination');
    if (dest === undefined) throw s.bad('Destination', 'is missing');
    const type = s.body.RouteType ?? 0;
    if (type !== 0 && type !== 1) throw s.bad('RouteType', 'must be 0 (via a next hop) or 1 (connected)');
    const nextHop = s.optIp('NextHop', familyOf(dest));
    if (type === 0 && nextHop === undefined)
      throw s.bad('NextHop', 'is missing (RouteType 0 goes via a next hop)');
    const route: StaticRoute = { destination: networkOf(dest), routeType: type };
    if (type === 0 && nextHop) route.nextHop = nextHop;
    info.staticRoutes.push(route);
  });
  if (!info.interfaceName && info.staticRoutes.length > 0) {
    throw r.fail('"StaticRoutes" are given without an interface (InterfaceName.SrcName)');
  }
  return info;
}
