/**
 * The `host` driver: a container joined to it uses the host's own network namespace; no
 * interface, address or route is created (Docker's `host` network). The core gives such a
 * container the host sandbox instead of a new namespace (see `usesHostNamespace`).
 */
import type {
  CreateEndpointResult,
  DriverCapability,
  EndpointOperInfo,
  JoinInfo,
  NetworkDriver,
} from '../../driver-api/driver.ts';

export class HostDriver implements NetworkDriver {
  readonly type = 'host';
  /** Tells the core that joins of this driver's endpoints use the host's namespace. */
  readonly usesHostNamespace = true;
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
