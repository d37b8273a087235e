/**
 * Configuration-only networks (Docker's `--config-only` / `--config-from`), as dockerd checks and
 * applies them (daemon/libnetwork/network.go: validateConfiguration, applyConfigurationTo): a
 * configuration-only network holds network-specific settings only; a network created from one
 * takes them all and may give none of its own (its operator fields, internal and attachable, stay
 * its own).
 */
import { DEFAULT_IPAM } from '../driver-api/ipam.ts';
import { ConfigNetworkOptionsError, UnknownConfigNetworkError } from '../errors/config-only.ts';
import type { NormalisedNetworkOptions } from './types.ts';

/** The type a configuration-only network gets, whatever was asked: it has no driver state (as Docker). */
export const CONFIG_ONLY_TYPE = 'null';

/** The rules on a network's own options before anything is looked up. */
export function checkConfigNetworkOptions(o: NormalisedNetworkOptions): void {
  if (o.configOnly) {
    if (o.internal || o.attachable) throw new ConfigNetworkOptionsError('operator-fields');
    if (o.configFrom !== undefined) throw new ConfigNetworkOptionsError('chained');
    return;
  }
  if (o.configFrom === undefined) return;
  const own =
    o.ipamDriver !== DEFAULT_IPAM ||
    o.enableIPv6 ||
    Object.keys(o.labels).length > 0 ||
    Object.keys(o.ipamOptions).length > 0 ||
    o.config.length > 0;
  if (own) throw new ConfigNetworkOptionsError('own-config');
  if (Object.keys(o.driverOptions).length > 0) throw new ConfigNetworkOptionsError('own-driver-options');
}

/**
 * The options of a network created from `from` (found by name; undefined: none of that name):
 * its IPAM, IPv6, labels and driver options, the network's own internal/attachable.
 */
export function applyConfigFrom(
  o: NormalisedNetworkOptions & { configFrom: string },
  from: { opts: NormalisedNetworkOptions } | undefined,
): NormalisedNetworkOptions {
  if (!from || from.opts.configOnly !== true) throw new UnknownConfigNetworkError(o.configFrom);
  const c = from.opts;
  return {
    ...o,
    ipamDriver: c.ipamDriver,
    ipamOptions: { ...c.ipamOptions },
    config: c.config.map((e) => ({
      ...e,
      ...(e.auxAddresses ? { auxAddresses: { ...e.auxAddresses } } : {}),
    })),
    enableIPv6: c.enableIPv6,
    labels: { ...c.labels },
    driverOptions: { ...c.driverOptions },
  };
}
