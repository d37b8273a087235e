/**
 * The `host` driver: a container joined to it uses the host's own network namespace; no
 * interface, address or route is created (Docker's `host` network). It does what the null driver
 * does (nothing), and tells the core that joins use the host's namespace instead of a new one.
 */
import { NullDriver } from '../null/index.ts';

export class HostDriver extends NullDriver {
  override readonly type: string = 'host';
  /** Tells the core that joins of this driver's endpoints use the host's namespace. */
  readonly usesHostNamespace = true;
}
