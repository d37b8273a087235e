/**
 * The `null` driver: endpoints with no interface. A container joined to it gets a sandbox with
 * loopback only (Docker's `none` network).
 */
import { NoInterfaceDriver } from '../../driver-api/no-interface-driver.ts';

export class NullDriver extends NoInterfaceDriver {
  readonly type: string = 'null';
}
