/** The built-in IPAM: the offset allocators (dense and sparse), the default pools and the `default` IPAM driver. */
export { createAllocator, type OffsetAllocator } from './allocator.ts';
export { type AllocateNextOptions, Bitmap } from './bitmap.ts';
export { DefaultIpam, type DefaultIpamOptions, IPAM_SERIAL_OPTION } from './default.ts';
export { DENSE_MAX_SIZE, DenseBitmap } from './dense.ts';
export {
  AddressInUseError,
  AddressNotAllocatedError,
  InvalidAddressError,
  InvalidAddressSpaceError,
  InvalidGatewayError,
  InvalidIpRangeError,
  InvalidPoolIdError,
  InvalidSubnetError,
  NoDefaultPoolError,
  NoMoreSubnetsError,
  PoolExhaustedError,
  PoolOverlapError,
  UnknownPoolError,
} from './errors.ts';
export { GLOBAL_IPAM, GlobalIpam } from './global.ts';
export {
  DEFAULT_GLOBAL_POOLS,
  DEFAULT_LOCAL_POOLS,
  deriveUlaPool,
  type IpFamily,
  normalizePoolSpecs,
  type PoolBase,
  type PoolSpec,
  type Prefix,
  pickSubnet,
  splitPool,
} from './pools.ts';
export { IPAM_DRIVER_SUBSYSTEM, RemoteIpam } from './remote.ts';
