import { DnetError } from '../../errors/index.ts';
import type { VlanKind } from './options.ts';

/** Another network of the driver holds the parent in a way that excludes this one (passthru, ipvlan). */
export class VlanParentConflictError extends DnetError {
  readonly code = 'ERR_VLAN_PARENT_IN_USE';
  readonly kind = 'conflict';
}

/** The network's parent link is gone (someone deleted it): no slave can be made on it. */
export class VlanParentMissingError extends DnetError {
  readonly code = 'ERR_VLAN_PARENT_MISSING';
  readonly kind = 'conflict';
  constructor(
    readonly kindName: VlanKind,
    readonly parent: string,
  ) {
    super(
      `the requested parent interface ${parent} was not found on the host: the ${kindName} network's ` +
        'parent link was deleted; make it again (or remove the network and create it on another parent)',
    );
  }
}

/** The driver was asked about a network or endpoint it does not have. */
export class VlanStateError extends DnetError {
  readonly code = 'ERR_VLAN_UNKNOWN_OBJECT';
  readonly kind = 'not-found';
}
