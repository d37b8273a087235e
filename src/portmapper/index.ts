/**
 * Published ports: host port allocation (allocator.ts), host port holding (holder.ts) and the
 * in-process userland proxy (proxy.ts).
 */
export {
  type Allocated,
  DEFAULT_EPHEMERAL_END,
  DEFAULT_EPHEMERAL_START,
  MAX_PORT_RANGE,
  PortAllocator,
  type PortAllocatorOptions,
  type PortProto,
  type PortRequest,
} from './allocator.ts';
export {
  HostAddressNotAvailableError,
  HostPortBindError,
  HostPortInUseError,
  InvalidPortBindingError,
  joinHostPort,
  NoAvailablePortError,
  PortAlreadyAllocatedError,
  type PortBindingField,
  ProxyAddressInUseError,
  ProxyAddressNotAvailableError,
  ProxyListenError,
  ProxyProtocolUnsupportedError,
} from './errors.ts';
export { type HeldPorts, holdPorts, holdPortsBestEffort } from './holder.ts';
export { type HostIp, type IpFamily, parseHostIp } from './ip.ts';
export { startProxy } from './proxy.ts';
export {
  DEFAULT_UDP_IDLE_TIMEOUT_MS,
  DEFAULT_UDP_MAX_FLOWS,
  type ProxyHandle,
  type ProxySpec,
} from './proxy-spec.ts';
