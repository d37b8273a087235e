/**
 * The daemon's network settings: dockerd's `--bip`, `--fixed-cidr`, `--default-address-pool`,
 * `--mtu`, `--icc`, `--ip-masq`, `--ip-forward`, `--iptables`, `--userland-proxy`,
 * `--default-gateway`, `--dns`... with Docker's flag names, `daemon.json` keys and meanings.
 *
 * One table (SETTINGS) says, for each, its file key, its flag, the value's kind, how it is checked
 * and whether SIGHUP applies it live. `parseSettingFlag` reads a flag's text, `parseSettingJson` a
 * file's JSON value; both check the value the same way. What the values turn into is
 * network-settings-apply.ts.
 *
 * No heavy imports: `dnet daemon --help` and the CLI's parsing load this module.
 */
import { hostnameViolation } from '../dns/validate.ts';
import { DnetError } from '../errors/base.ts';
import { familyBits, formatIp, parseCidr, parseIp } from '../ip/index.ts';

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

/** Go's strconv.ParseBool (dockerd's `--icc=false`). */
function goBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/** `base=10.10.0.0/16,size=24` (dockerd's --default-address-pool). */
export function parsePoolFlag(text: string): AddressPool {
  let base: string | undefined;
  let size: number | undefined;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq).trim().toLowerCase();
    const v = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (k === 'base') base = v;
    else if (k === 'size' && /^[0-9]{1,3}$/.test(v)) size = Number(v);
    else {
      throw new SettingError(
        'default-address-pool',
        `${JSON.stringify(text)}: expected base=CIDR,size=N, e.g. base=10.10.0.0/16,size=24`,
      );
    }
  }
  if (base === undefined || size === undefined) {
    throw new SettingError(
      'default-address-pool',
      `${JSON.stringify(text)}: both base= and size= are needed`,
    );
  }
  return { base, size };
}

function checked<T>(spec: SettingSpec, v: T, name: string): T {
  const why = spec.check?.(v);
  if (why) throw new SettingError(name, why);
  return v;
}

/** A flag's values (the texts given, in order; a boolean flag given bare is `"true"`) as the setting's value. */
export function parseSettingFlag(spec: SettingSpec, texts: string[]): NetworkSettings[SettingKey] {
  const name = `--${spec.flag}`;
  const last = texts.at(-1) ?? '';
  switch (spec.kind) {
    case 'bool': {
      const b = goBool(last);
      if (b === undefined) throw new SettingError(name, `${JSON.stringify(last)}: expected true or false`);
      return b;
    }
    case 'int': {
      if (!/^[0-9]{1,6}$/.test(last))
        throw new SettingError(name, `${JSON.stringify(last)}: expected a number`);
      return checked(spec, Number(last), name);
    }
    case 'string':
      return checked(spec, last, name);
    case 'strings':
      return checked(spec, texts, name);
    case 'pools':
      return checked(
        spec,
        texts.map((t) => parsePoolFlag(t)),
        name,
      );
  }
}

/** A file's JSON value as the setting's value. */
export function parseSettingJson(spec: SettingSpec, v: unknown): NetworkSettings[SettingKey] {
  const name = `"${spec.key}"`;
  const wrong = (expected: string) =>
    new SettingError(name, `expected ${expected}, got ${JSON.stringify(v)}`);
  switch (spec.kind) {
    case 'bool':
      if (typeof v !== 'boolean') throw wrong('true or false');
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) throw wrong('an integer');
      return checked(spec, v, name);
    case 'string':
      if (typeof v !== 'string') throw wrong('a string');
      return checked(spec, v, name);
    case 'strings':
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw wrong('an array of strings');
      return checked(spec, v as string[], name);
    case 'pools': {
      const ok =
        Array.isArray(v) &&
        v.every(
          (p) =>
            p !== null &&
            typeof p === 'object' &&
            typeof (p as AddressPool).base === 'string' &&
            typeof (p as AddressPool).size === 'number' &&
            Object.keys(p).every((k) => k === 'base' || k === 'size'),
        );
      if (!ok) throw wrong('an array of {"base": "CIDR", "size": N}');
      return checked(
        spec,
        (v as AddressPool[]).map((p) => ({ base: p.base, size: p.size })),
        name,
      );
    }
  }
}

/**
 * Checks settings given as an object (the library's `startDaemon({ settings })`): each value as a
 * daemon.json value, then checkSettings. Throws SettingError.
 */
export function validateSettings(s: NetworkSettings): void {
  if (s === null || typeof s !== 'object') throw new SettingError('settings', 'expected an object');
  for (const [k, v] of Object.entries(s)) {
    if (v === undefined) continue;
    const spec = settingByKey(k);
    if (!spec)
      throw new SettingError(JSON.stringify(k), `unknown setting; known: ${SETTING_KEYS.join(', ')}`);
    parseSettingJson(spec, v);
  }
  checkSettings(s);
}

/** Checks that hold between settings (a fixed-cidr inside bip, a gateway inside the subnet). */
export function checkSettings(s: NetworkSettings): void {
  const subnet4 = defaultBridgeSubnet4(s);
  if (s.bip && s['fixed-cidr']) {
    const b = parseCidr(s.bip, { family: 4 }) as Exclude<ReturnType<typeof parseCidr>, string>;
    const f = parseCidr(s['fixed-cidr'], { family: 4 }) as typeof b;
    if (f.len < b.len || !contains(b, f.ip.value)) {
      throw new SettingError('fixed-cidr', `${s['fixed-cidr']} is not inside the subnet of bip ${s.bip}`);
    }
  }
  if (s['default-gateway'] !== undefined) {
    if (!subnet4) {
      throw new SettingError(
        'default-gateway',
        "dnet needs the default bridge's subnet for it: give bip or fixed-cidr too",
      );
    }
    if (!cidrHas(subnet4, s['default-gateway'])) {
      throw new SettingError(
        'default-gateway',
        `${s['default-gateway']} is not inside the default bridge's subnet ${subnet4}`,
      );
    }
  }
  if (s['fixed-cidr-v6'] !== undefined && s.ipv6 !== true) {
    throw new SettingError(
      'fixed-cidr-v6',
      'it applies to the default bridge with IPv6 on: give ipv6 (--ipv6) too',
    );
  }
  if (s['default-gateway-v6'] !== undefined) {
    const v6 = s['fixed-cidr-v6'];
    if (!v6)
      throw new SettingError('default-gateway-v6', 'dnet needs the subnet for it: give fixed-cidr-v6 too');
    if (!cidrHas(v6, s['default-gateway-v6'])) {
      throw new SettingError(
        'default-gateway-v6',
        `${s['default-gateway-v6']} is not inside fixed-cidr-v6 ${v6}`,
      );
    }
  }
  if (s.ipv6 && s.mtu !== undefined && s.mtu < 1280) {
    throw new SettingError('mtu', 'the default bridge has IPv6 (ipv6): its MTU must be at least 1280');
  }
}

function contains(c: { len: number; start: bigint; ip: { family: 4 | 6 } }, value: bigint): boolean {
  const host = (1n << BigInt(familyBits(c.ip.family) - c.len)) - 1n;
  return (value & ~host) === c.start;
}

function cidrHas(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const a = parseIp(ip);
  return typeof c !== 'string' && typeof a !== 'string' && a.family === c.ip.family && contains(c, a.value);
}

/** The default bridge's IPv4 subnet as the settings fix it (bip's, else fixed-cidr), or undefined. */
export function defaultBridgeSubnet4(s: NetworkSettings): string | undefined {
  const text = s.bip ?? s['fixed-cidr'];
  if (!text) return undefined;
  const c = parseCidr(text, { family: 4 });
  return typeof c === 'string' ? undefined : `${formatIp(4, c.start)}/${c.len}`;
}
