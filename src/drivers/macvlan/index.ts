export { VlanDriver, VlanParentConflictError, VlanParentMissingError, VlanStateError } from './driver.ts';
export type { VlanKind, VlanNetworkConfig } from './options.ts';
