/**
 * Docker's `filters` query parameter (moby's api/types/filters): JSON of the form
 * `{"key":{"value":true}}`, or the legacy `{"key":["value"]}`. Matching follows moby: `exact`
 * for driver and scope, `match` (exact, else an unanchored regular expression) for name and id,
 * `matchKVList` for labels (`key` or `key=value`, all must hold).
 */
import { BadRequestError } from './errors.ts';

export type FilterArgs = ReadonlyMap<string, ReadonlyMap<string, boolean>>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses the `filters` parameter; absent or empty means no filter. */
export function parseFilters(raw: string | null): FilterArgs {
  const out = new Map<string, Map<string, boolean>>();
  if (raw === null || raw === '') return out;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new BadRequestError(
      `invalid filter: the filters parameter is not JSON (expected e.g. {"name":{"web":true}}): ${raw}`,
    );
  }
  if (v === null) return out;
  if (!isObject(v)) throw new BadRequestError(`invalid filter: expected a JSON object, got ${raw}`);
  for (const [key, values] of Object.entries(v)) {
    const m = new Map<string, boolean>();
    if (Array.isArray(values)) {
      for (const x of values) {
        if (typeof x !== 'string')
          throw new BadRequestError(`invalid filter '${key}': values must be strings`);
        m.set(x, true);
      }
    } else if (isObject(values)) {
      for (const [x, b] of Object.entries(values)) {
        if (typeof b !== 'boolean') {
          throw new BadRequestError(`invalid filter '${key}': expected {"value": true}`);
        }
        m.set(x, b);
      }
    } else if (values !== null) {
      throw new BadRequestError(`invalid filter '${key}': expected {"value": true} or ["value"]`);
    }
    out.set(key, m);
  }
  return out;
}

/** Refuses keys outside `accepted` (moby: `invalid filter 'key'`). */
export function validateFilters(f: FilterArgs, accepted: readonly string[]): void {
  for (const key of f.keys()) {
    if (!accepted.includes(key)) {
      throw new BadRequestError(`invalid filter '${key}' (accepted: ${accepted.join(', ')})`);
    }
  }
}

export function contains(f: FilterArgs, key: string): boolean {
  return f.has(key);
}

/** Every value given for `key`. */
export function values(f: FilterArgs, key: string): string[] {
  return [...(f.get(key)?.keys() ?? [])];
}

/** True when no value is given for `key`, or `source` is one of them. */
export function exactMatch(f: FilterArgs, key: string, source: string): boolean {
  const m = f.get(key);
  if (!m || m.size === 0) return true;
  return m.get(source) === true;
}

const regexCache = new Map<string, RegExp | null>();

function compile(pattern: string): RegExp | null {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern);
    } catch {
      re = null;
    }
    if (regexCache.size > 256) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re;
}

/** exactMatch, else any value taken as an (unanchored) regular expression matches `source`. */
export function match(f: FilterArgs, key: string, source: string): boolean {
  if (exactMatch(f, key, source)) return true;
  for (const pattern of f.get(key)?.keys() ?? []) {
    if (compile(pattern)?.test(source)) return true;
  }
  return false;
}

/** True when no value is given for `key`, or every `k` / `k=v` value holds in `labels`. */
export function matchKVList(f: FilterArgs, key: string, labels: Record<string, string>): boolean {
  const m = f.get(key);
  if (!m || m.size === 0) return true;
  if (Object.keys(labels).length === 0) return false;
  for (const value of m.keys()) {
    const eq = value.indexOf('=');
    const k = eq < 0 ? value : value.slice(0, eq);
    if (!Object.hasOwn(labels, k)) return false;
    if (eq >= 0 && labels[k] !== value.slice(eq + 1)) return false;
  }
  return true;
}

const DURATION_RE = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * An `until` value as moby's GetTimestamp reads it, in milliseconds since the epoch: a Go
 * duration before `now` (`24h`, `1h30m`), a Unix timestamp (`1700000000`, `1700000000.5`), or
 * an RFC 3339 date or time (`2024-01-02`, `2024-01-02T15:04:05Z`).
 */
export function parseUntil(value: string, now: number): number {
  if (value !== '0' && DURATION_RE.test(value)) {
    const sign = value.startsWith('-') ? -1 : 1;
    let ms = 0;
    for (const [, num, unit] of value.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
      ms += Number(num) * (UNIT_MS[unit ?? 's'] ?? 0);
    }
    return now - sign * ms;
  }
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  if (value.includes('-')) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return t;
  }
  throw new BadRequestError(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
}
