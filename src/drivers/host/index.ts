/**
 * The `host` driver: a container joined to it uses the host's own network namespace; no
 * interface, address or route is created (Docker's `host` network). Like the null driver it has
 * nothing to make; unlike it, it tells the core that joins use the host's namespace.
 */
import { NoInterfaceDriver } from '../../driver-api/no-interface-driver.ts';

export class HostDriver extends NoInterfaceDriver {
  readonly type: string = 'host';
  /** Tells the core that joins of this driver's endpoints use the host's namespace. */
  readonly usesHostNamespace = true;
}
