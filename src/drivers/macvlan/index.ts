export { VlanDriver } from './driver.ts';
export { VlanParentConflictError, VlanParentMissingError, VlanStateError } from './errors.ts';
export type { VlanKind, VlanNetworkConfig } from './options.ts';
