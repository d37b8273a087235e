/**
 * What an IPAM driver implements: the seed's ipamapi.Ipam, in TypeScript. The built-in allocator
 * (src/ipam/) and remote IPAM plugins (src/plugins/, Docker's IpamDriver.* protocol) both fit it,
 * and the core only ever talks to this interface.
 *
 * Addresses cross this line as CIDR strings (`172.18.0.2/16`): the address and its pool's prefix.
 */

/** `Options` key in a pool or address request that marks the address as the network's gateway. */
export const IPAM_REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const IPAM_GATEWAY_ADDRESS_TYPE = 'com.docker.network.gateway';
/**
 * `Options` key in an endpoint's address requests that carries its MAC address (aa:bb:cc:dd:ee:ff),
 * for drivers that ask for it (`requiresMacAddress`); Docker's netlabel.MacAddress.
 */
export const IPAM_MAC_ADDRESS_OPTION = 'com.docker.network.endpoint.macaddress';
/** Name of the built-in IPAM driver. */
export const DEFAULT_IPAM = 'default';
export const LOCAL_ADDRESS_SPACE = 'LocalDefault';
export const GLOBAL_ADDRESS_SPACE = 'GlobalDefault';

export interface IpamCapabilities {
  /** The driver wants the endpoint's MAC address in address requests (`com.docker.network.endpoint.macaddress`). */
  requiresMacAddress: boolean;
  /** The driver wants every allocation replayed to it after a restart. */
  requiresRequestReplay: boolean;
}

export interface AddressSpaces {
  local: string;
  global: string;
}

export interface PoolRequest {
  addressSpace: string;
  /** The subnet (CIDR) wanted; absent: the driver picks one of its default pools. */
  pool?: string;
  /** A CIDR inside `pool` from which addresses are handed out (Docker's `IPRange`). */
  subPool?: string;
  options?: Record<string, string>;
  /** An IPv6 pool is wanted (only meaningful without `pool`). */
  v6: boolean;
}

export interface PoolAllocation {
  poolId: string;
  /** The subnet, CIDR. */
  pool: string;
  data: Record<string, string>;
}

export interface AddressRequest {
  /** A specific address (plain IP, no prefix); absent: the next free one. */
  address?: string;
  options?: Record<string, string>;
}

export interface AddressAllocation {
  /** CIDR: the address with its pool's prefix length. */
  address: string;
  data: Record<string, string>;
}

export interface IpamDriver {
  readonly name: string;
  capabilities(): Promise<IpamCapabilities>;
  defaultAddressSpaces(): Promise<AddressSpaces>;
  requestPool(req: PoolRequest): Promise<PoolAllocation>;
  releasePool(poolId: string): Promise<void>;
  requestAddress(poolId: string, req?: AddressRequest): Promise<AddressAllocation>;
  releaseAddress(poolId: string, address: string): Promise<void>;
}
