/**
 * Wall-clock times with nanoseconds, written as Go's time.RFC3339Nano in UTC
 * (`2026-12-02T12:46:20.123456789Z`, trailing zeros of the fraction dropped): Docker's `Created`.
 *
 * `Date` counts milliseconds. The nanoseconds come from the monotonic clock (process.hrtime)
 * offset to the wall clock; when the two part by more than a millisecond (the wall clock was set,
 * or drifted under NTP) the offset is taken again, so a time is never more than 1 ms off `Date.now()`.
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
