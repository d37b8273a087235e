/**
 * What a pool request asks for, checked before anything is allocated: a default subnet (of the
 * family, of a size when `0.0.0.0/24` or `::/64` is given, as dockerd since 27), or a given
 * subnet, with an ip-range inside it or not. Throws the typed invalid-subnet and invalid-range
 * errors with what to do.
 */
import type { PoolRequest } from '../driver-api/ipam.ts';
import { InvalidIpRangeError, InvalidSubnetError } from './errors.ts';
import {
  containsPrefix,
  familyName,
  formatPrefix,
  type IpFamily,
  type Prefix,
  parseCidr,
  specialPurposeOverlap,
} from './pools.ts';

export type WantedPool =
  | { kind: 'default'; family: IpFamily; size: number | undefined }
  | { kind: 'subnet'; subnet: Prefix; range: Prefix | undefined };

export function parsePoolRequest(req: PoolRequest): WantedPool {
  const poolText = req.pool ?? '';
  const rangeText = req.subPool ?? '';
  if (poolText === '') {
    if (rangeText !== '') throw noSubnetForRange(rangeText);
    return { kind: 'default', family: req.v6 ? 6 : 4, size: undefined };
  }
  const c = parseCidr(poolText);
  if (c === undefined) {
    throw new InvalidSubnetError(
      poolText,
      'it is not a CIDR (an address and a prefix length, as 172.18.0.0/16 or fd00:1::/64)',
    );
  }
  if (c.address === 0n) {
    // 0.0.0.0/24, ::/64: a default subnet of that size (moby, Docker 27)
    if (rangeText !== '') throw noSubnetForRange(rangeText);
    return { kind: 'default', family: c.prefix.family, size: c.prefix.len > 0 ? c.prefix.len : undefined };
  }
  if (!c.canonical) {
    throw new InvalidSubnetError(poolText, `host bits are set: did you mean ${formatPrefix(c.prefix)}?`);
  }
  const special = specialPurposeOverlap(c.prefix);
  if (special !== undefined) throw new InvalidSubnetError(poolText, special);
  return {
    kind: 'subnet',
    subnet: c.prefix,
    range: rangeText === '' ? undefined : parseRange(rangeText, c.prefix),
  };
}

function noSubnetForRange(rangeText: string): InvalidIpRangeError {
  return new InvalidIpRangeError(
    rangeText,
    undefined,
    'an ip-range needs a subnet: give the subnet it lies in',
  );
}

function parseRange(rangeText: string, subnet: Prefix): Prefix {
  const subnetKey = formatPrefix(subnet);
  const bad = (why: string) => new InvalidIpRangeError(rangeText, subnetKey, why);
  const c = parseCidr(rangeText);
  if (c === undefined) throw bad('it is not a CIDR (an address and a prefix length)');
  if (c.prefix.family !== subnet.family) {
    throw bad(
      `it is ${familyName(c.prefix.family)} and the subnet ${familyName(subnet.family)}: give one of the subnet's family`,
    );
  }
  if (!c.canonical) throw bad(`host bits are set: did you mean ${formatPrefix(c.prefix)}?`);
  if (!containsPrefix(subnet, c.prefix)) throw bad('it is not inside the subnet: give a range within it');
  return c.prefix;
}
