/**
 * What the daemon's network settings (network-settings.ts) turn into: the default `bridge`
 * network's options and IPAM configuration (as dockerd's initBridgeDriver makes them), the bridge
 * driver's driver-wide configuration, and containers' resolv.conf defaults.
 */
import { DEFAULT_GATEWAY_V4_AUX, DEFAULT_GATEWAY_V6_AUX } from '../drivers/bridge/options.ts';
import type { NetworkSettings } from './network-settings.ts';
import { defaultBridgeSubnet4 } from './network-settings-parse.ts';

/** Docker's labels for the containers' gateway given apart from the bridge address (IPAM aux addresses). */
export { DEFAULT_GATEWAY_V4_AUX, DEFAULT_GATEWAY_V6_AUX };

/** What the default `bridge` network is created with, from the settings. */
export interface DefaultBridgeSpec {
  options: Record<string, string>;
  ipamConfig: {
    subnet?: string;
    ipRange?: string;
    gateway?: string;
    auxAddresses?: Record<string, string>;
  }[];
  enableIPv6: boolean;
}

/** The options `docker network inspect bridge` shows for dockerd's default bridge (with the settings' values). */
export function defaultBridgeOptions(bridgeName: string, s: NetworkSettings = {}): Record<string, string> {
  return {
    'com.docker.network.bridge.default_bridge': 'true',
    'com.docker.network.bridge.enable_icc': String(s.icc ?? true),
    'com.docker.network.bridge.enable_ip_masquerade': String(s['ip-masq'] ?? true),
    'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
    'com.docker.network.bridge.name': bridgeName,
    'com.docker.network.driver.mtu': String(s.mtu ?? 1500),
  };
}

/** The default bridge as dockerd's initBridgeDriver makes it from bip, fixed-cidr(-v6), default-gateway(-v6). */
export function defaultBridgeSpec(bridgeName: string, s: NetworkSettings): DefaultBridgeSpec {
  const ipamConfig: DefaultBridgeSpec['ipamConfig'] = [];
  const subnet4 = defaultBridgeSubnet4(s);
  if (subnet4) {
    ipamConfig.push({
      subnet: subnet4,
      ...(s['fixed-cidr'] ? { ipRange: s['fixed-cidr'] } : {}),
      ...(s.bip ? { gateway: s.bip.slice(0, s.bip.indexOf('/')) } : {}),
      ...(s['default-gateway'] ? { auxAddresses: { [DEFAULT_GATEWAY_V4_AUX]: s['default-gateway'] } } : {}),
    });
  }
  if (s.ipv6 && s['fixed-cidr-v6']) {
    ipamConfig.push({
      subnet: s['fixed-cidr-v6'],
      ...(s['default-gateway-v6']
        ? { auxAddresses: { [DEFAULT_GATEWAY_V6_AUX]: s['default-gateway-v6'] } }
        : {}),
    });
  }
  return { options: defaultBridgeOptions(bridgeName, s), ipamConfig, enableIPv6: s.ipv6 === true };
}

/** The bridge driver's driver-wide configuration the settings ask for. */
export function bridgeDriverSettings(s: NetworkSettings): {
  enableIPForwarding: boolean;
  enableFirewall: boolean;
  userlandProxy: boolean;
} {
  return {
    enableIPForwarding: s['ip-forward'] ?? true,
    enableFirewall: s.iptables ?? true,
    userlandProxy: s['userland-proxy'] ?? false,
  };
}

/** Containers' resolv.conf defaults (used when a sandbox is made without DNS settings of its own). */
export interface ContainerDns {
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
}

export function containerDns(s: NetworkSettings): ContainerDns {
  return {
    dns: [...(s.dns ?? [])],
    dnsSearch: [...(s['dns-search'] ?? [])],
    dnsOptions: [...(s['dns-opts'] ?? [])],
  };
}
