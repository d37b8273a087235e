/**
 * The daemon's network settings: dockerd's `--bip`, `--fixed-cidr`, `--default-address-pool`,
 * `--mtu`, `--icc`, `--ip-masq`, `--ip-forward`, `--iptables`, `--userland-proxy`,
 * `--default-gateway`, `--dns`... with Docker's flag names, `daemon.json` keys and meanings.
 *
 * One table (SETTINGS) says, for each, its file key, its flag, the value's kind, how it is checked
 * and whether SIGHUP applies it live. `parseSettingFlag` reads a flag's text, `parseSettingJson` a
 * file's JSON value; both check the value the same way (network-settings-parse.ts). What the values turn into is
 * network-settings-apply.ts.
 *
 * No heavy imports: `dnet daemon --help` and the CLI's parsing load this module.
 */
import { hostnameViolation } from '../dns/validate.ts';
import { DnetError } from '../errors/base.ts';
import { familyBits, parseCidr, parseIp } from '../ip/index.ts';

export interface AddressPool {
  base: string;
  size: number;
}

/** The settings, keyed by dockerd's daemon.json keys; absent: Docker's default. */
export interface NetworkSettings {
  bip?: string;
  'fixed-cidr'?: string;
  'fixed-cidr-v6'?: string;
  ipv6?: boolean;
  'default-address-pools'?: AddressPool[];
  mtu?: number;
  icc?: boolean;
  'ip-masq'?: boolean;
  'ip-forward'?: boolean;
  iptables?: boolean;
  'userland-proxy'?: boolean;
  'default-gateway'?: string;
  'default-gateway-v6'?: string;
  dns?: string[];
  'dns-search'?: string[];
  'dns-opts'?: string[];
}

export type SettingKey = keyof NetworkSettings;
type Kind = 'string' | 'bool' | 'int' | 'strings' | 'pools';

export interface SettingSpec {
  key: SettingKey;
  /** The command-line flag (dockerd's): `dns-opt` for `dns-opts`, `default-address-pool` for `default-address-pools`. */
  flag: string;
  kind: Kind;
  /** Applied by SIGHUP without a restart (to what is created from then on). */
  live: boolean;
  /** Why the value (already of the kind's type) is not usable, or undefined. */
  check?: (v: unknown) => string | undefined;
  /** One line of `dnet daemon --help`. */
  help: string;
}

/** Why `s` is not an IPv4 CIDR with a host address (`192.168.1.1/24`), or undefined. */
function bipViolation(s: string): string | undefined {
  const c = parseCidr(s, { family: 4 });
  if (typeof c === 'string')
    return `${c}; expected an IPv4 address with its prefix length, e.g. 192.168.1.1/24`;
  if (c.len > 30) return 'the prefix length must be at most 30 (a gateway and containers need room)';
  if (c.canonical) return 'it is the network address: give the bridge address, e.g. 192.168.1.1/24';
  return undefined;
}

function cidrViolation(s: string, family: 4 | 6): string | undefined {
  const c = parseCidr(s, { family });
  if (typeof c === 'string')
    return `${c}; expected an IPv${family} CIDR, e.g. ${family === 4 ? '172.18.0.0/24' : 'fd00:1::/64'}`;
  return undefined;
}

function ipViolation(s: string, family?: 4 | 6): string | undefined {
  const ip = parseIp(s, family ? { family } : {});
  return typeof ip === 'string' ? `${ip}; expected an IPv${family ?? '4 or IPv6'} address` : undefined;
}

function poolsViolation(pools: AddressPool[]): string | undefined {
  for (const p of pools) {
    const c = parseCidr(p.base);
    if (typeof c === 'string') return `base ${JSON.stringify(p.base)}: ${c}`;
    const bits = familyBits(c.ip.family);
    if (!Number.isInteger(p.size) || p.size < c.len || p.size > bits) {
      return `size ${p.size} of base ${p.base}: it must be from ${c.len} (the base's prefix length) to ${bits}`;
    }
  }
  return undefined;
}

function eachViolation(list: string[], one: (s: string) => string | undefined): string | undefined {
  for (const s of list) {
    const why = one(s);
    if (why) return `${JSON.stringify(s)}: ${why}`;
  }
  return undefined;
}

const OPT_RE = /^[A-Za-z0-9][A-Za-z0-9_:.-]*$/;

/** A check of one kind's values, stored in the table as a check of unknown (parse* call it with that kind). */
const typed = <T>(check: (v: T) => string | undefined) => check as (v: unknown) => string | undefined;

export const SETTINGS: readonly SettingSpec[] = [
  {
    key: 'bip',
    flag: 'bip',
    kind: 'string',
    live: false,
    check: typed(bipViolation),
    help: "The default bridge's address and subnet (CIDR), e.g. 192.168.1.1/24",
  },
  {
    key: 'fixed-cidr',
    flag: 'fixed-cidr',
    kind: 'string',
    live: false,
    check: typed((s: string) => cidrViolation(s, 4)),
    help: "Containers' IPv4 addresses on the default bridge come from this range",
  },
  {
    key: 'fixed-cidr-v6',
    flag: 'fixed-cidr-v6',
    kind: 'string',
    live: false,
    check: typed((s: string) => cidrViolation(s, 6)),
    help: "The default bridge's IPv6 subnet (with --ipv6)",
  },
  {
    key: 'ipv6',
    flag: 'ipv6',
    kind: 'bool',
    live: false,
    help: 'IPv6 on the default bridge (default false)',
  },
  {
    key: 'default-address-pools',
    flag: 'default-address-pool',
    kind: 'pools',
    live: false,
    check: typed(poolsViolation),
    help: 'base=CIDR,size=N: a pool new networks take subnets from (repeatable; replaces the built-in pools)',
  },
  {
    key: 'mtu',
    flag: 'mtu',
    kind: 'int',
    live: false,
    check: typed((n: number) => (n < 68 || n > 65535 ? 'it must be from 68 to 65535' : undefined)),
    help: "The default bridge's MTU (default 1500)",
  },
  {
    key: 'icc',
    flag: 'icc',
    kind: 'bool',
    live: false,
    help: 'Traffic between containers on the default bridge (default true)',
  },
  {
    key: 'ip-masq',
    flag: 'ip-masq',
    kind: 'bool',
    live: false,
    help: "Masquerade the default bridge's outgoing traffic (default true)",
  },
  {
    key: 'ip-forward',
    flag: 'ip-forward',
    kind: 'bool',
    live: false,
    help: 'Set net.ipv4.ip_forward (and IPv6 forwarding) (default true)',
  },
  {
    key: 'iptables',
    flag: 'iptables',
    kind: 'bool',
    live: false,
    help: "dnet's nftables rules: NAT, isolation, published ports (default true)",
  },
  {
    key: 'userland-proxy',
    flag: 'userland-proxy',
    kind: 'bool',
    live: false,
    help: 'Also serve published ports from an in-process proxy (default false)',
  },
  {
    key: 'default-gateway',
    flag: 'default-gateway',
    kind: 'string',
    live: false,
    check: typed((s: string) => ipViolation(s, 4)),
    help: "Containers' IPv4 gateway on the default bridge (inside its subnet)",
  },
  {
    key: 'default-gateway-v6',
    flag: 'default-gateway-v6',
    kind: 'string',
    live: false,
    check: typed((s: string) => ipViolation(s, 6)),
    help: "Containers' IPv6 gateway on the default bridge (inside its subnet)",
  },
  {
    key: 'dns',
    flag: 'dns',
    kind: 'strings',
    live: true,
    check: typed((l: string[]) => eachViolation(l, (s) => ipViolation(s))),
    help: "Name servers for containers' resolv.conf (repeatable)",
  },
  {
    key: 'dns-search',
    flag: 'dns-search',
    kind: 'strings',
    live: true,
    check: typed((l: string[]) =>
      eachViolation(l, (s) =>
        s === '.' ? undefined : hostnameViolation(s, { allowUnderscore: true, allowTrailingDot: true }),
      ),
    ),
    help: "Search domains for containers' resolv.conf (repeatable)",
  },
  {
    key: 'dns-opts',
    flag: 'dns-opt',
    kind: 'strings',
    live: true,
    check: typed((l: string[]) =>
      eachViolation(l, (s) => (OPT_RE.test(s) ? undefined : 'expected a resolv.conf option, e.g. ndots:2')),
    ),
    help: "Options for containers' resolv.conf (repeatable)",
  },
];

export const SETTING_KEYS: readonly SettingKey[] = SETTINGS.map((s) => s.key);
/** Settings SIGHUP applies live (to what is created from then on). */
export const LIVE_SETTINGS: readonly SettingKey[] = SETTINGS.filter((s) => s.live).map((s) => s.key);

export const settingByKey = (key: string): SettingSpec | undefined => SETTINGS.find((s) => s.key === key);
export const settingByFlag = (flag: string): SettingSpec | undefined => SETTINGS.find((s) => s.flag === flag);

/** A setting's value that cannot be used: what and why. */
export class SettingError extends DnetError {
  readonly code = 'ERR_DAEMON_SETTING';
  readonly kind = 'invalid';
  constructor(
    readonly setting: string,
    reason: string,
  ) {
    super(`invalid ${setting}: ${reason}`);
  }
}
