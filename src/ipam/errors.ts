import { DnetError } from '../errors/base.ts';

/**
 * The built-in IPAM's errors. Each has a stable `code` and a `kind` (the HTTP status the daemon
 * answers for a library error, src/errors/base.ts), and its message says what was wrong and what
 * to do about it. On Docker's routes the daemon answers some of them with dockerd's status and text
 * instead (src/daemon/api/docker-errors.ts: 403 for an overlap or an address in use, 400 for
 * exhausted default pools).
 *
 * Kinds against dockerd's (libnetwork/ipamapi/contract.go):
 * - pool overlap, address in use: `conflict` (409). dockerd answers 403 (Forbidden); the state of
 *   other allocations forbids the request now, and it succeeds once they are released, which is
 *   what 409 means here (base.ts).
 * - all default pools used: `conflict` (409), not `unavailable`: no dependency failed and retrying
 *   will not help until a network is removed (dockerd says 400).
 * - no available addresses on this pool: `conflict` (409), with dockerd's wording (ErrNoAvailableIPs
 *   is an Unavailable error there): the pool is full until an address is released.
 * - unknown pool, address not allocated: `not-found` (404). dockerd says 400 for an unknown pool
 *   and does not report releasing a free address at all.
 */

function q(s: string): string {
  return JSON.stringify(s);
}

export type IpFamilyName = 'IPv4' | 'IPv6';

// --- requests -------------------------------------------------------------------------------

/** The address space is neither `LocalDefault` nor `GlobalDefault`. */
export class InvalidAddressSpaceError extends DnetError {
  readonly code = 'ERR_IPAM_INVALID_ADDRESS_SPACE';
  readonly kind = 'invalid';
  constructor(
    readonly addressSpace: string,
    readonly known: readonly string[],
  ) {
    super(
      `unknown address space ${q(addressSpace)}: the default IPAM driver has ${known.map(q).join(' and ')}; ` +
        `use one of them (defaultAddressSpaces() tells which)`,
    );
  }
}

/** A pool (subnet) that cannot be used: not a CIDR, not canonical, wrong family... */
export class InvalidSubnetError extends DnetError {
  readonly code = 'ERR_IPAM_INVALID_SUBNET';
  readonly kind = 'invalid';
  constructor(
    readonly subnet: string,
    readonly reason: string,
  ) {
    super(`invalid subnet ${q(subnet)}: ${reason}`);
  }
}

/** An ip-range (sub-pool) that cannot be used: not a CIDR, not inside its subnet, no subnet... */
export class InvalidIpRangeError extends DnetError {
  readonly code = 'ERR_IPAM_INVALID_IP_RANGE';
  readonly kind = 'invalid';
  constructor(
    readonly ipRange: string,
    readonly subnet: string | undefined,
    readonly reason: string,
  ) {
    super(
      subnet === undefined
        ? `invalid ip-range ${q(ipRange)}: ${reason}`
        : `invalid ip-range ${q(ipRange)} for subnet ${q(subnet)}: ${reason}`,
    );
  }
}

/** A gateway address that cannot be used: not an IP, outside the subnet, a reserved address. */
export class InvalidGatewayError extends DnetError {
  readonly code = 'ERR_IPAM_INVALID_GATEWAY';
  readonly kind = 'invalid';
  constructor(
    readonly gateway: string,
    readonly subnet: string,
    readonly reason: string,
  ) {
    super(`invalid gateway ${q(gateway)} for subnet ${q(subnet)}: ${reason}`);
  }
}

/**
 * An address that cannot be requested or released: not an IP, outside the subnet, the network
 * or broadcast address.
 */
export class InvalidAddressError extends DnetError {
  readonly code = 'ERR_IPAM_INVALID_ADDRESS';
  readonly kind = 'invalid';
  constructor(
    readonly address: string,
    readonly subnet: string,
    readonly reason: string,
  ) {
    super(`invalid address ${q(address)} for subnet ${q(subnet)}: ${reason}`);
  }
}

/** A pool ID that this driver never produces (`<address space>/<subnet>[/<ip-range>]`). */
export class InvalidPoolIdError extends DnetError {
  readonly code = 'ERR_IPAM_INVALID_POOL_ID';
  readonly kind = 'invalid';
  constructor(readonly poolId: string) {
    super(
      `invalid pool id ${q(poolId)}: the default IPAM driver's pool ids read ` +
        `"<address space>/<subnet>" or "<address space>/<subnet>/<ip-range>" ` +
        `(LocalDefault/172.18.0.0/16/172.18.5.0/24); use the id requestPool returned`,
    );
  }
}

// --- pools ----------------------------------------------------------------------------------

/** The requested subnet (or ip-range) overlaps one already allocated in the same address space. */
export class PoolOverlapError extends DnetError {
  readonly code = 'ERR_IPAM_POOL_OVERLAP';
  readonly kind = 'conflict';
  constructor(
    readonly addressSpace: string,
    readonly requested: string,
    readonly existing: string,
  ) {
    super(
      requested === existing
        ? `pool ${q(requested)} is already allocated in address space ${q(addressSpace)}: ` +
            `choose another subnet (or a different ip-range within it), or remove the network that uses it`
        : `pool ${q(requested)} overlaps ${q(existing)}, already allocated in address space ${q(addressSpace)}: ` +
            `choose a subnet that does not overlap it, or remove the network that uses ${q(existing)}`,
    );
  }
}

/**
 * Every default pool of this family (of the wanted size) overlaps a pool already allocated or a
 * route on the host. `conflict`: the allocations already made forbid it; removing a network (or
 * configuring more default pools) makes it possible again, waiting alone does not.
 */
export class NoMoreSubnetsError extends DnetError {
  readonly code = 'ERR_IPAM_NO_MORE_SUBNETS';
  readonly kind = 'conflict';
  constructor(
    readonly addressSpace: string,
    readonly family: IpFamilyName,
    readonly size?: number,
  ) {
    const sized = size === undefined ? '' : ` (of size /${size})`;
    super(
      `all predefined ${family} address pools of address space ${q(addressSpace)} have been fully subnetted${sized} ` +
        `(they overlap allocated pools or host routes): give the network an explicit subnet, remove unused ` +
        `networks, or add default address pools (default-address-pools)`,
    );
  }
}

/**
 * No default pool is configured for this family (or none can be cut to the wanted size), so a
 * subnet must be given. IPv6 is the common case: see src/ipam/pools.ts (hostId, ULA pool).
 */
export class NoDefaultPoolError extends DnetError {
  readonly code = 'ERR_IPAM_NO_DEFAULT_POOL';
  readonly kind = 'invalid';
  constructor(
    readonly addressSpace: string,
    readonly family: IpFamilyName,
    readonly size?: number,
  ) {
    const what =
      size === undefined
        ? `no default ${family} address pool is configured for address space ${q(addressSpace)}`
        : `no default ${family} address pool of address space ${q(addressSpace)} can be split into /${size} subnets`;
    super(
      `${what}: give the network an explicit ${family} subnet, or configure a default ${family} address pool ` +
        `(default-address-pools${family === 'IPv6' ? ', or a host id from which a ULA /48 is derived' : ''})`,
    );
  }
}

/** No pool (or no ip-range of that pool) is allocated under this ID. */
export class UnknownPoolError extends DnetError {
  readonly code = 'ERR_IPAM_UNKNOWN_POOL';
  readonly kind = 'not-found';
  constructor(readonly poolId: string) {
    super(
      `pool ${q(poolId)} is not allocated: it was never requested or has been released; ` +
        `request it again with requestPool`,
    );
  }
}

// --- addresses ------------------------------------------------------------------------------

/** The specific address asked for is already allocated. */
export class AddressInUseError extends DnetError {
  readonly code = 'ERR_IPAM_ADDRESS_IN_USE';
  readonly kind = 'conflict';
  constructor(
    readonly address: string,
    readonly subnet: string,
  ) {
    super(
      `address ${address} is already in use in subnet ${subnet}: choose another address, ` +
        `or omit it to get the next free one`,
    );
  }
}

/** The address to release is not allocated (never was, or already released). */
export class AddressNotAllocatedError extends DnetError {
  readonly code = 'ERR_IPAM_ADDRESS_NOT_ALLOCATED';
  readonly kind = 'not-found';
  constructor(
    readonly address: string,
    readonly poolId: string,
  ) {
    super(
      `address ${address} is not allocated in pool ${q(poolId)}: nothing to release (was it released already?)`,
    );
  }
}

/**
 * No free address is left in the pool (or in its ip-range). dockerd's wording; dockerd answers 503
 * (an "unavailable" error), but no dependency failed: the pool's state refuses the request until an
 * address is released, which is a 409 here (as NoMoreSubnetsError and the port allocator's
 * NoAvailablePortError), and a 5xx stays a daemon bug.
 */
export class PoolExhaustedError extends DnetError {
  readonly code = 'ERR_IPAM_NO_AVAILABLE_ADDRESSES';
  readonly kind = 'conflict';
  constructor(
    readonly poolId: string,
    readonly range: string,
  ) {
    super(
      `no available addresses on this pool (${q(poolId)}, range ${range}): release unused addresses, ` +
        `or use a larger subnet or ip-range`,
    );
  }
}
