export { BridgeDriver } from './driver.ts';
export type { BridgeDriverConfig, BridgeNetworkConfig } from './options.ts';
export { HEAL_CHANNEL, type HealReport } from './repair.ts';
export { BridgeConflictError, BridgeStateError, LINK_MARK } from './state.ts';
