export { BridgeConflictError, BridgeDriver, BridgeStateError } from './driver.ts';
export type { BridgeDriverConfig, BridgeNetworkConfig } from './options.ts';
