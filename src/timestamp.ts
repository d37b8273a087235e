/**
 * Times as Docker writes and reads them, with no imports (shared by the daemon and the CLI):
 *
 *   - wall-clock times with nanoseconds, written as Go's time.RFC3339Nano in UTC
 *     (`2026-12-02T12:46:20.123456789Z`, trailing zeros of the fraction dropped): Docker's `Created`.
 *     `Date` counts milliseconds. The nanoseconds come from the monotonic clock (process.hrtime)
 *     offset to the wall clock; when the two part by more than a millisecond (the wall clock was
 *     set, or drifted under NTP) the offset is taken again, so a time is never more than 1 ms off.
 *   - Docker's event timestamps (moby's internal/timestamp): the daemon reads the `since`/`until`
 *     of `GET /events` (ParseUnixTimestamp: `seconds[.nanoseconds]`), and the CLI turns what a user
 *     types (`10m`, `2024-01-02T15:04:05Z`, `1700000000`) into that form (GetTimestamp), as the
 *     docker CLI does before sending it.
 */

const NS_PER_MS = 1_000_000n;
let offset = BigInt(Date.now()) * NS_PER_MS - process.hrtime.bigint();

/** Nanoseconds since the Unix epoch, now. */
export function nowNs(): bigint {
  const hr = process.hrtime.bigint();
  const wall = BigInt(Date.now()) * NS_PER_MS;
  let ns = offset + hr;
  if (ns < wall - NS_PER_MS || ns > wall + NS_PER_MS) {
    offset = wall - hr;
    ns = wall;
  }
  return ns;
}

/** `ns` (since the epoch) as RFC 3339 with up to nine fraction digits, UTC, as Go writes it. */
export function formatRfc3339Nano(ns: bigint): string {
  const ms = ns / NS_PER_MS;
  const base = new Date(Number(ms)).toISOString().slice(0, 19); // YYYY-MM-DDTHH:MM:SS
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}${frac ? `.${frac}` : ''}Z`;
}

/** Now, as RFC 3339 with nanoseconds. */
export function nowRfc3339Nano(): string {
  return formatRfc3339Nano(nowNs());
}

const RFC3339_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Nanoseconds since the epoch of an RFC 3339 time with up to nine fraction digits (records of
 * older versions hold `toISOString()`'s milliseconds). Undefined if it is not one.
 */
export function parseRfc3339Nano(text: string): bigint | undefined {
  const m = typeof text === 'string' ? RFC3339_RE.exec(text) : null;
  if (m === null) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * NS_PER_MS + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/**
 * A stored time as this module writes it: a record of an older version (`toISOString()`,
 * `…05.120Z`) reads `…05.12Z`, as it was reported before, and a restart changes nothing. A value
 * that is no RFC 3339 time (a damaged record) is the epoch, not a failed restore.
 */
export function restoredTime(text: unknown): string {
  return formatRfc3339Nano(parseRfc3339Nano(text as string) ?? 0n);
}

/** A timestamp that cannot be read; the message says why. */
export class TimestampSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimestampSyntaxError';
  }
}

/**
 * `seconds[.fraction]` into nanoseconds since the epoch (moby's parseTimestamp): the fraction is
 * cut or padded to 9 digits; at most 20 fraction digits.
 */
export function parseUnixTimestamp(value: string): bigint {
  const dot = value.indexOf('.');
  const s = dot < 0 ? value : value.slice(0, dot);
  const n = dot < 0 ? '' : value.slice(dot + 1);
  if (!/^[+-]?[0-9]+$/.test(s)) throw new TimestampSyntaxError(`invalid seconds "${s}": invalid syntax`);
  const sec = BigInt(s);
  if (n === '') return sec * 1_000_000_000n;
  if (n.length > 20) {
    throw new TimestampSyntaxError(`invalid nanoseconds: length ${n.length} exceeds maximum 20`);
  }
  const bad = /[^0-9]/.exec(n);
  if (bad) {
    throw new TimestampSyntaxError(
      `invalid nanoseconds: invalid character '${bad[0]}' at position ${bad.index}`,
    );
  }
  return sec * 1_000_000_000n + BigInt(n.slice(0, 9).padEnd(9, '0'));
}

const DURATION_RE = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/;
const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** A Go duration (`10m`, `1h30m`, `-5s`) in nanoseconds, or undefined when it is not one. */
export function parseGoDuration(value: string): number | undefined {
  if (value === '0' || !DURATION_RE.test(value)) return undefined;
  const sign = value.startsWith('-') ? -1 : 1;
  let ns = 0;
  for (const [, num, unit] of value.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    ns += Number(num) * (UNIT_NS[unit ?? 's'] ?? 0);
  }
  return sign * ns;
}

/**
 * What the docker CLI sends for `--since`/`--until` (moby's client GetTimestamp): a duration is
 * that long before `nowMs` (whole seconds); an RFC 3339 date or time (local time when it names
 * no zone) is its seconds with nanoseconds; a Unix timestamp is passed on as it is.
 */
export function getTimestamp(value: string, nowMs: number = Date.now()): string {
  const d = parseGoDuration(value);
  if (d !== undefined) return String(Math.floor((nowMs - d / 1e6) / 1000));
  if (value.includes('-')) {
    const ms = parseDate(value);
    if (ms === undefined) throw new TimestampSyntaxError(`cannot parse ${JSON.stringify(value)} as a time`);
    const frac = /\.(\d{1,9})/.exec(value)?.[1] ?? '';
    const sec = Math.floor(ms / 1000);
    return `${sec}.${frac.padEnd(9, '0')}`;
  }
  try {
    parseUnixTimestamp(value);
  } catch {
    throw new TimestampSyntaxError(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
  }
  return value;
}

/** An RFC 3339 date or time as Go's layouts in GetTimestamp accept it; local time without a zone. */
function parseDate(value: string): number | undefined {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2}))?(?::(\d{2}))?(?:\.\d{1,9})?)?(Z|z|[+-]\d{2}:\d{2})?$/.exec(
      value,
    );
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', zone] = m;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  // Go's time.Parse refuses out-of-range fields; Date would roll them over.
  const check = new Date(Date.UTC(...parts));
  if (check.getUTCMonth() !== parts[1] || check.getUTCDate() !== parts[2] || parts[3] > 23) return undefined;
  if (parts[4] > 59 || parts[5] > 59) return undefined;
  if (!zone) return new Date(...parts).getTime();
  const utc = Date.UTC(...parts);
  if (zone === 'Z' || zone === 'z') return utc;
  const sign = zone.startsWith('-') ? -1 : 1;
  const [zh, zm] = zone.slice(1).split(':').map(Number) as [number, number];
  return utc - sign * (zh * 60 + zm) * 60_000;
}
