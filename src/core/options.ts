/**
 * The core's option checks: what a caller gives for a network or an endpoint is checked here once,
 * at the boundary, and normalised into the typed shapes the core keeps and persists.
 */

import { hostnameViolation } from '../dns/validate.ts';
import { DEFAULT_IPAM } from '../driver-api/ipam.ts';
import { InvalidOptionError } from '../errors/cnm.ts';
import { validateEndpointName } from '../errors/validate.ts';
import { cidrContains, familyOf, type IpFamily, parseCidr, parseIp, plain } from '../ip/index.ts';
import { macProblem } from '../ip/mac.ts';
import type { EndpointCreateOptions, NetworkCreateOptions, NormalisedNetworkOptions } from './types.ts';

export function checkIp(option: string, ip: string | undefined, family: IpFamily): void {
  if (ip === undefined) return;
  const got = parseIp(ip, { family });
  if (typeof got === 'string')
    throw new InvalidOptionError(option, ip, `not an IPv${family} address: ${got}`);
}

export function checkCidr(option: string, cidr: string | undefined): void {
  if (cidr === undefined) return;
  const got = parseCidr(cidr);
  if (typeof got === 'string') {
    throw new InvalidOptionError(option, cidr, `not a CIDR subnet (address/prefix): ${got}`);
  }
}

export function checkStringMap(option: string, m: unknown): Record<string, string> {
  if (m === undefined) return {};
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    throw new InvalidOptionError(option, m, 'expected an object of string values');
  }
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw new InvalidOptionError(`${option}.${k}`, v, 'expected a string');
  }
  return { ...(m as Record<string, string>) };
}

/** Checks an endpoint's name and options (createEndpoint, connect); its driver options, checked. */
/**
 * Endpoint driver option naming the interface inside the sandbox (Docker 28's
 * `--driver-opt com.docker.network.endpoint.ifname=NAME`; the CNI plugin's `CNI_IFNAME`).
 */
export const ENDPOINT_IFNAME_OPTION = 'com.docker.network.endpoint.ifname';

/** Linux's rule for an interface name: 1-15 bytes, not `.` or `..`, no `/`, `:` or whitespace. */
export function interfaceNameViolation(name: string): string | undefined {
  if (name.length === 0 || Buffer.byteLength(name) > 15) return 'it must be 1 to 15 bytes long';
  if (name === '.' || name === '..') return 'it cannot be "." or ".."';
  if (/[/:\s]/.test(name)) return 'it cannot contain "/", ":" or whitespace';
  return undefined;
}

export function checkEndpointOptions(name: string, options: EndpointCreateOptions): Record<string, string> {
  validateEndpointName(name);
  checkIp('ipv4Address', options.ipv4Address, 4);
  checkIp('ipv6Address', options.ipv6Address, 6);
  const macWrong = options.macAddress === undefined ? undefined : macProblem(options.macAddress);
  if (macWrong !== undefined) throw new InvalidOptionError('macAddress', options.macAddress, macWrong);
  const driverOptions = checkStringMap('driverOptions', options.driverOptions);
  const ifName = driverOptions[ENDPOINT_IFNAME_OPTION];
  const ifNameProblem = ifName === undefined ? undefined : interfaceNameViolation(ifName);
  if (ifNameProblem) throw new InvalidOptionError(ENDPOINT_IFNAME_OPTION, ifName, ifNameProblem);
  checkAliases(options.aliases);
  return driverOptions;
}

/** Most aliases one endpoint may have. */
export const MAX_ALIASES = 64;

/** Aliases are DNS names (labels of letters, digits, `-`, `_`), at most MAX_ALIASES. */
export function checkAliases(aliases: unknown): void {
  if (aliases === undefined) return;
  if (!Array.isArray(aliases)) throw new InvalidOptionError('aliases', aliases, 'expected a list of names');
  if (aliases.length > MAX_ALIASES)
    throw new InvalidOptionError('aliases', aliases.length, `at most ${MAX_ALIASES} aliases`);
  for (const a of aliases) {
    const why = hostnameViolation(a, { allowUnderscore: true });
    if (why !== undefined) throw new InvalidOptionError('aliases', a, `not a DNS name: ${why}`);
  }
}

export function normaliseNetworkOptions(o: NetworkCreateOptions): NormalisedNetworkOptions {
  const config = o.ipam?.config ?? [];
  if (!Array.isArray(config)) throw new InvalidOptionError('ipam.config', config, 'expected an array');
  for (const [i, c] of config.entries()) {
    const at = `ipam.config[${i}]`;
    checkCidr(`${at}.subnet`, c.subnet);
    checkCidr(`${at}.ipRange`, c.ipRange);
    if (c.subnet === undefined && (c.ipRange || c.gateway || c.auxAddresses)) {
      throw new InvalidOptionError(at, c, 'ipRange, gateway and auxAddresses need a subnet');
    }
    if (c.subnet !== undefined) {
      const fam = familyOf(c.subnet);
      checkIp(`${at}.gateway`, c.gateway, fam);
      if (c.ipRange && !cidrContains(c.subnet, plain(c.ipRange))) {
        throw new InvalidOptionError(`${at}.ipRange`, c.ipRange, `not inside the subnet ${c.subnet}`);
      }
      if (c.gateway && !cidrContains(c.subnet, c.gateway)) {
        throw new InvalidOptionError(`${at}.gateway`, c.gateway, `not inside the subnet ${c.subnet}`);
      }
      for (const [k, v] of Object.entries(checkStringMap(`${at}.auxAddresses`, c.auxAddresses))) {
        checkIp(`${at}.auxAddresses.${k}`, v, fam);
        if (!cidrContains(c.subnet, v))
          throw new InvalidOptionError(`${at}.auxAddresses.${k}`, v, `not inside the subnet ${c.subnet}`);
      }
    }
  }
  const enableIPv6 = o.enableIPv6 ?? false;
  if (!enableIPv6 && config.some((c) => c.subnet && familyOf(c.subnet) === 6)) {
    throw new InvalidOptionError('ipam.config', config, 'an IPv6 subnet needs enableIPv6: true');
  }
  const enableIPv4 = o.enableIPv4 ?? true;
  if (typeof enableIPv4 !== 'boolean')
    throw new InvalidOptionError('enableIPv4', enableIPv4, 'expected a boolean');
  if (!enableIPv4 && config.some((c) => c.subnet && familyOf(c.subnet) === 4)) {
    throw new InvalidOptionError(
      'ipam.config',
      config,
      'an IPv4 subnet needs IPv4: leave enableIPv4 out (or true), or give only IPv6 subnets',
    );
  }
  const ipamDriver = o.ipam?.driver ?? DEFAULT_IPAM;
  if (typeof ipamDriver !== 'string' || ipamDriver === '')
    throw new InvalidOptionError('ipam.driver', ipamDriver, 'expected a driver name');
  if (o.configOnly !== undefined && typeof o.configOnly !== 'boolean')
    throw new InvalidOptionError('configOnly', o.configOnly, 'expected true or false');
  if (o.configFrom !== undefined && (typeof o.configFrom !== 'string' || o.configFrom === ''))
    throw new InvalidOptionError(
      'configFrom',
      o.configFrom,
      'expected the name of a configuration-only network',
    );
  return {
    ...(o.configOnly ? { configOnly: true } : {}),
    ...(o.configFrom !== undefined ? { configFrom: o.configFrom } : {}),
    ipamDriver,
    ipamOptions: checkStringMap('ipam.options', o.ipam?.options),
    config: config.map((c) => ({ ...c })),
    ...(enableIPv4 ? {} : { enableIPv4: false as const }),
    enableIPv6,
    internal: o.internal ?? false,
    attachable: o.attachable ?? false,
    labels: checkStringMap('labels', o.labels),
    driverOptions: checkStringMap('options', o.options),
  };
}
