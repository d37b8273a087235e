/**
 * Reading the daemon's network settings (network-settings.ts) from flags and daemon.json values,
 * each checked by its entry in SETTINGS, and the checks that hold between settings.
 *
 * No heavy imports: `dnet daemon --help` and the CLI's parsing load this module.
 */
import { familyBits, formatIp, parseCidr, parseIp } from '../ip/index.ts';
import {
  type AddressPool,
  type NetworkSettings,
  SETTING_KEYS,
  SettingError,
  type SettingKey,
  type SettingSpec,
  settingByKey,
} from './network-settings.ts';

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
