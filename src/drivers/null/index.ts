/**
 * The `null` driver: endpoints with no interface. A container joined to it gets a sandbox with
 * loopback only (Docker's `none` network).
 */
import type {
  CreateEndpointResult,
  DriverCapability,
  EndpointOperInfo,
  JoinInfo,
  NetworkDriver,
} from '../../driver-api/driver.ts';

export class NullDriver implements NetworkDriver {
  readonly type: string = 'null';
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
