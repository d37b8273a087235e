/**
 * The base of drivers that make nothing per network or endpoint (the built-in `null` and `host`
 * drivers): every call succeeds and joins give no interface. A driver extends it instead of
 * another driver (drivers never import each other, DESIGN.md).
 */
import type {
  CreateEndpointResult,
  DriverCapability,
  EndpointOperInfo,
  JoinInfo,
  NetworkDriver,
} from './driver.ts';

export abstract class NoInterfaceDriver implements NetworkDriver {
  abstract readonly type: string;
  readonly skipsIpam = true;

  capabilities(): DriverCapability {
    return { dataScope: 'local', connectivityScope: 'local' };
  }

  async createNetwork(): Promise<void> {}
  async deleteNetwork(): Promise<void> {}
  async createEndpoint(): Promise<CreateEndpointResult> {
    return {};
  }
  async deleteEndpoint(): Promise<void> {}
  async endpointOperInfo(): Promise<EndpointOperInfo> {
    return {};
  }
  async join(): Promise<JoinInfo> {
    return { staticRoutes: [], disableGatewayService: true };
  }
  async leave(): Promise<void> {}
}
