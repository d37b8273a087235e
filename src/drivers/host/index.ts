/**
 * The `host` driver: a container joined to it uses the host's own network namespace; no
 * interface, address or route is created (Docker's `host` network). Like the null driver it has
 * nothing to make; unlike it, it tells the core that joins use the host's namespace.
 * (Its own class: a driver never imports another driver, DESIGN.md.)
 */
import type {
  CreateEndpointResult,
  DriverCapability,
  EndpointOperInfo,
  JoinInfo,
  NetworkDriver,
} from '../../driver-api/driver.ts';

export class HostDriver implements NetworkDriver {
  readonly type: string = 'host';
  readonly skipsIpam = true;
  /** Tells the core that joins of this driver's endpoints use the host's namespace. */
  readonly usesHostNamespace = true;

  capabilities(): DriverCapability {
    return { dataScope: 'local', connectivityScope: 'local' };
  }

  // Nothing exists per network or endpoint: the host's namespace is there already.
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
