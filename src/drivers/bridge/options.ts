/**
 * The bridge driver's options, parsed once at the boundary into typed configs. Nothing below
 * this file sees a string-keyed bag. Keys and value syntax are Docker's.
 */

import type { PortBinding, Proto } from '../../driver-api/driver.ts';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { ipBytes, isIp, parseIp } from '../../ip/index.ts';

export const OPT_BRIDGE_NAME = 'com.docker.network.bridge.name';
export const OPT_MTU = 'com.docker.network.driver.mtu';
export const OPT_ICC = 'com.docker.network.bridge.enable_icc';
export const OPT_MASQUERADE = 'com.docker.network.bridge.enable_ip_masquerade';
export const OPT_HOST_BINDING_IPV4 = 'com.docker.network.bridge.host_binding_ipv4';
/**
 * IPAM auxiliary addresses naming the containers' gateway when it is not the bridge's address
 * (dockerd's `--default-gateway`, `--default-gateway-v6` on the default bridge).
 */
export const DEFAULT_GATEWAY_V4_AUX = 'DefaultGatewayIPv4';
export const DEFAULT_GATEWAY_V6_AUX = 'DefaultGatewayIPv6';
/** Accepted for compatibility with Docker's CLI and compose files; dnet has no use for them. */
const IGNORED = new Set(['com.docker.network.bridge.default_bridge', 'com.docker.network.enable_ipv6']);
const KNOWN = new Set([OPT_BRIDGE_NAME, OPT_MTU, OPT_ICC, OPT_MASQUERADE, OPT_HOST_BINDING_IPV4]);

/** Driver-wide configuration (`controller.configureNetworkDriver('bridge', ...)`). */
export interface BridgeDriverConfig {
  /** Set net.ipv4.ip_forward (and IPv6 forwarding for IPv6 networks). Default true. */
  enableIPForwarding: boolean;
  /** Program nftables (NAT, isolation, published ports). Default true. */
  enableFirewall: boolean;
  /** Also serve published TCP/UDP ports from an in-process proxy. Default false. */
  userlandProxy: boolean;
  /** Ephemeral host ports come from this range. Default 49153-65535. */
  portRange: { start: number; end: number };
  /**
   * Notice when someone else deletes what the driver made (its nftables tables, rules or
   * elements, a bridge, a veth) and repair it from state. Default true.
   */
  selfHeal: boolean;
  /** Milliseconds between the periodic checks of the tables and links (0: notifications only). Default 5000. */
  healCheckInterval: number;
}

export const DEFAULT_DRIVER_CONFIG: BridgeDriverConfig = {
  enableIPForwarding: true,
  enableFirewall: true,
  userlandProxy: false,
  portRange: { start: 49153, end: 65535 },
  selfHeal: true,
  healCheckInterval: 5000,
};

/** Go's strconv.ParseBool, as Docker parses boolean options. */
export function parseBool(option: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  }
  throw new InvalidOptionError(option, v, 'expected a boolean (true or false)');
}

function parseInt10(option: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidOptionError(option, v, `expected an integer from ${min} to ${max}`);
  }
  return n;
}

export function parseDriverConfig(
  o: Record<string, unknown>,
  base = DEFAULT_DRIVER_CONFIG,
): BridgeDriverConfig {
  const cfg: BridgeDriverConfig = { ...base, portRange: { ...base.portRange } };
  for (const [k, v] of Object.entries(o)) {
    switch (k) {
      case 'enableIPForwarding':
        cfg.enableIPForwarding = parseBool(k, v);
        break;
      case 'enableFirewall':
        cfg.enableFirewall = parseBool(k, v);
        break;
      case 'userlandProxy':
        cfg.userlandProxy = parseBool(k, v);
        break;
      case 'portRange': {
        const m = typeof v === 'string' ? /^([0-9]+)-([0-9]+)$/.exec(v) : null;
        const start = m ? parseInt10(k, m[1], 1, 65535) : Number.NaN;
        const end = m ? parseInt10(k, m[2], 1, 65535) : Number.NaN;
        if (!m || start > end) throw new InvalidOptionError(k, v, 'expected "start-end", e.g. "49153-65535"');
        cfg.portRange = { start, end };
        break;
      }
      case 'selfHeal':
        cfg.selfHeal = parseBool(k, v);
        break;
      case 'healCheckInterval': {
        const ms = parseInt10(k, v, 0, 86_400_000);
        if (ms > 0 && ms < 100) throw new InvalidOptionError(k, v, 'expected 0 (off) or at least 100 (ms)');
        cfg.healCheckInterval = ms;
        break;
      }
      default:
        throw new InvalidOptionError(
          k,
          v,
          'unknown bridge driver option; known: enableIPForwarding, enableFirewall, userlandProxy, portRange, selfHeal, healCheckInterval',
        );
    }
  }
  return cfg;
}

/** One bridge network's configuration. */
export interface BridgeNetworkConfig {
  bridgeName: string;
  /** Whether the name was given (an existing bridge of that name may then be reused). */
  bridgeNameGiven: boolean;
  mtu: number;
  icc: boolean;
  masquerade: boolean;
  /** Default host address for published ports of this network ('0.0.0.0': all). */
  hostBindingIPv4: string;
  internal: boolean;
  enableIPv6: boolean;
}

/**
 * A sane interface name: 1-15 bytes (IFNAMSIZ - 1), a letter or digit first (so never `-rf`, `.` or
 * `..`), then letters, digits, `_`, `.` or `-` (no `/`, whitespace, `%`, `:` or anything a shell, a
 * sysctl path or `ip` would read otherwise).
 */
const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
/** The smallest MTU IPv6 works with (RFC 8200); the kernel turns IPv6 off on a link below it. */
const IPV6_MIN_MTU = 1280;

export function parseNetworkOptions(
  networkId: string,
  generic: Record<string, string>,
  flags: { internal: boolean; enableIPv6: boolean },
): BridgeNetworkConfig {
  for (const k of Object.keys(generic)) {
    if (k.startsWith('com.docker.network.bridge.') && !KNOWN.has(k) && !IGNORED.has(k)) {
      throw new InvalidOptionError(k, generic[k], 'not supported by the bridge driver');
    }
  }
  const name = generic[OPT_BRIDGE_NAME];
  if (name !== undefined && !IFNAME_RE.test(name)) {
    throw new InvalidOptionError(
      OPT_BRIDGE_NAME,
      name,
      'an interface name: 1-15 letters, digits, "_", "." or "-", starting with a letter or digit',
    );
  }
  const hostIP = generic[OPT_HOST_BINDING_IPV4] ?? '0.0.0.0';
  if (!isIp(hostIP, 4)) {
    throw new InvalidOptionError(OPT_HOST_BINDING_IPV4, hostIP, 'expected an IPv4 address');
  }
  const mtu = generic[OPT_MTU] === undefined ? 1500 : parseInt10(OPT_MTU, generic[OPT_MTU], 68, 65535);
  if (flags.enableIPv6 && mtu < IPV6_MIN_MTU) {
    throw new InvalidOptionError(
      OPT_MTU,
      generic[OPT_MTU],
      `an IPv6 network needs an MTU of at least ${IPV6_MIN_MTU} (the kernel disables IPv6 below it)`,
    );
  }
  return {
    bridgeName: name ?? `br-${networkId.slice(0, 12)}`,
    bridgeNameGiven: name !== undefined,
    mtu,
    icc: generic[OPT_ICC] === undefined ? true : parseBool(OPT_ICC, generic[OPT_ICC]),
    masquerade:
      generic[OPT_MASQUERADE] === undefined ? true : parseBool(OPT_MASQUERADE, generic[OPT_MASQUERADE]),
    hostBindingIPv4: hostIP,
    internal: flags.internal,
    enableIPv6: flags.enableIPv6,
  };
}

const PROTOS: readonly Proto[] = ['tcp', 'udp', 'sctp'];

/** A port binding checked and normalised: host range filled in. */
export interface Binding {
  proto: Proto;
  port: number;
  portEnd: number;
  hostIP?: string;
  /** 0: ephemeral. */
  hostPort: number;
  hostPortEnd: number;
}

export function parseBindings(list: readonly PortBinding[]): Binding[] {
  if (!Array.isArray(list)) throw new InvalidOptionError('portBindings', list, 'expected an array');
  return list.map((b, i) => {
    const at = `portBindings[${i}]`;
    if (!PROTOS.includes(b.proto))
      throw new InvalidOptionError(`${at}.proto`, b.proto, 'expected tcp, udp or sctp');
    const port = parseInt10(`${at}.port`, b.port, 1, 65535);
    const portEnd = b.portEnd === undefined ? port : parseInt10(`${at}.portEnd`, b.portEnd, port, 65535);
    const hostPort = b.hostPort === undefined ? 0 : parseInt10(`${at}.hostPort`, b.hostPort, 0, 65535);
    let hostPortEnd =
      b.hostPortEnd === undefined ? hostPort : parseInt10(`${at}.hostPortEnd`, b.hostPortEnd, 0, 65535);
    if (hostPort === 0 && hostPortEnd !== 0) {
      throw new InvalidOptionError(`${at}.hostPortEnd`, b.hostPortEnd, 'a host port range needs hostPort');
    }
    if (hostPortEnd < hostPort)
      throw new InvalidOptionError(`${at}.hostPortEnd`, b.hostPortEnd, 'below hostPort');
    if (portEnd > port) {
      const span = portEnd - port;
      if (hostPort !== 0 && hostPortEnd === hostPort) hostPortEnd = hostPort + span;
      if (hostPort !== 0 && hostPortEnd - hostPort !== span) {
        throw new InvalidOptionError(at, b, 'a container port range needs a host range of the same length');
      }
      if (hostPortEnd > 65535)
        throw new InvalidOptionError(`${at}.hostPort`, b.hostPort, 'the range ends above 65535');
    }
    let hostIP: string | undefined;
    if (b.hostIP !== undefined && b.hostIP !== '') {
      const ip = parseIp(b.hostIP);
      if (typeof ip === 'string') {
        throw new InvalidOptionError(`${at}.hostIP`, b.hostIP, `expected an IPv4 or IPv6 address: ${ip}`);
      }
      hostIP = ip.text;
    }
    return { proto: b.proto, port, portEnd, ...(hostIP ? { hostIP } : {}), hostPort, hostPortEnd };
  });
}

/** Docker's MAC for an IPv4 address: 02:42 followed by the four bytes of the address. */
export function macFromIPv4(ip: string): string {
  const parsed = parseIp(ip, { family: 4 });
  if (typeof parsed === 'string') throw new InvalidOptionError('address', ip, parsed);
  return ['02', '42', ...[...ipBytes(parsed)].map((o) => o.toString(16).padStart(2, '0'))].join(':');
}
