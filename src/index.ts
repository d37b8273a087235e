/**
 * libnetwork's public entry: the Container Network Model API, the driver API and the errors.
 * Nothing from src/os/ is exported here: the kernel layer is an implementation detail.
 */
export { NetworkController } from './core/controller.ts';
export { Endpoint } from './core/endpoint.ts';
export { Network } from './core/network.ts';
export type {
  ControllerEvent,
  ControllerListener,
  ControllerOperation,
  NetworkEvent,
  NetworkRef,
  OperationEvent,
} from './core/observer.ts';
export { ENDPOINT_IFNAME_OPTION, interfaceNameViolation } from './core/options.ts';
export type { RestoreReport } from './core/restore.ts';
export { Sandbox } from './core/sandbox.ts';
export type * from './core/types.ts';
export type * from './driver-api/driver.ts';
export * from './driver-api/ipam.ts';
// The built-in drivers (null, host, bridge) are registered by the controller and used through
// newNetwork(type, ...): not exported; the errors they throw are, for instanceof.
export { BridgeConflictError, BridgeStateError } from './drivers/bridge/index.ts';
export { VlanParentConflictError, VlanParentMissingError, VlanStateError } from './drivers/macvlan/index.ts';
export * from './errors/cnm.ts';
export * from './errors/config-only.ts';
export * from './errors/endpoint.ts';
export { DnetError, type ErrorKind, KernelModuleMissingError } from './errors/index.ts';
export * from './errors/lifecycle.ts';
export * from './ipam/errors.ts';
export * from './plugins/errors.ts';
export {
  HostAddressNotAvailableError,
  HostPortBindError,
  HostPortInUseError,
  InvalidPortBindingError,
  NoAvailablePortError,
  PortAlreadyAllocatedError,
  ProxyAddressInUseError,
  ProxyAddressNotAvailableError,
  ProxyListenError,
  ProxyProtocolUnsupportedError,
} from './portmapper/index.ts';
/** Stores for `NetworkController.create({ store })`: LMDB (embedded, local) and etcd (global). */
export {
  EtcdStore,
  type EtcdStoreOptions,
  KeyExistsError,
  type KvStore,
  LmdbStore,
  type LmdbStoreOptions,
  StoreClosedError,
  StoreCorruptError,
  StoreLockedError,
  StoreUnavailableError,
  VersionMismatchError,
} from './store/index.ts';
