/**
 * A small network driver for core tests: each endpoint is a veth pair whose host end stays in the
 * test's world and whose other end the core moves into the sandbox. It makes real kernel objects,
 * so the core's interface, address, gateway and rollback paths run for real. Hooks let a test
 * make any step fail.
 */
import type {
  CreateEndpointRequest,
  CreateEndpointResult,
  CreateNetworkRequest,
  DriverCapability,
  EndpointOperInfo,
  JoinInfo,
  JoinRequest,
  NetworkDriver,
  StaticRoute,
} from '../../src/driver-api/driver.ts';
import { NetlinkHandle } from '../../src/os/netlink/index.ts';

type Step =
  | 'createNetwork'
  | 'createEndpoint'
  | 'join'
  | 'programExternalConnectivity'
  | 'leave'
  | 'deleteEndpoint';

export class VethTestDriver implements NetworkDriver {
  readonly type: string;
  readonly nl = NetlinkHandle.open();
  readonly networks = new Map<string, CreateNetworkRequest>();
  readonly endpoints = new Map<string, CreateEndpointRequest>();
  readonly calls: string[] = [];
  failAt: Step | undefined;
  staticRoutes: StaticRoute[] = [];
  /** Return this interface name from join instead of the real one. */
  joinSrcName: string | undefined;

  constructor(type = 'veth-test') {
    this.type = type;
  }

  capabilities(): DriverCapability {
    return { dataScope: 'local', connectivityScope: 'local' };
  }

  private step(s: Step): void {
    this.calls.push(s);
    if (this.failAt === s) throw new Error(`test driver: ${s} fails on purpose`);
  }

  static hostName(endpointId: string): string {
    return `vt${endpointId.slice(0, 10)}`;
  }

  async createNetwork(req: CreateNetworkRequest): Promise<void> {
    this.step('createNetwork');
    this.networks.set(req.networkId, req);
  }

  async deleteNetwork(networkId: string): Promise<void> {
    this.calls.push('deleteNetwork');
    this.networks.delete(networkId);
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResult> {
    this.step('createEndpoint');
    this.endpoints.set(req.endpointId, req);
    return {};
  }

  async deleteEndpoint(_networkId: string, endpointId: string): Promise<void> {
    this.step('deleteEndpoint');
    this.endpoints.delete(endpointId);
  }

  async endpointOperInfo(): Promise<EndpointOperInfo> {
    return { portMappings: [] };
  }

  async join(req: JoinRequest): Promise<JoinInfo> {
    this.step('join');
    const host = VethTestDriver.hostName(req.endpointId);
    this.nl.linkAdd({ kind: 'veth', name: host, up: true, peer: { name: `${host}p` } });
    const net = this.networks.get(req.networkId);
    const gw = net?.ipv4Data[0]?.gateway?.split('/')[0];
    const gw6 = net?.ipv6Data[0]?.gateway?.split('/')[0];
    return {
      interfaceName: { srcName: this.joinSrcName ?? `${host}p`, dstPrefix: 'eth' },
      ...(gw ? { gateway: gw } : {}),
      ...(gw6 ? { gatewayIPv6: gw6 } : {}),
      staticRoutes: this.staticRoutes,
      disableGatewayService: false,
    };
  }

  async programExternalConnectivity(): Promise<void> {
    this.step('programExternalConnectivity');
  }

  async revokeExternalConnectivity(): Promise<void> {
    this.calls.push('revokeExternalConnectivity');
  }

  async leave(_networkId: string, endpointId: string): Promise<void> {
    this.step('leave');
    this.nl.linkDelIfExists(VethTestDriver.hostName(endpointId));
  }
}
