/** Percentiles and formatting for the comparison. Times are microseconds throughout. */

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank percentiles (with few samples, p99 is the largest: say how many there were). */
export function summarize(samples: readonly number[]): Summary {
  const t = [...samples].sort((a, b) => a - b);
  const at = (q: number) => t[Math.min(t.length - 1, Math.max(0, Math.ceil(q * t.length) - 1))] ?? Number.NaN;
  return {
    n: t.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    mean: t.length ? t.reduce((a, b) => a + b, 0) / t.length : Number.NaN,
    min: t[0] ?? Number.NaN,
    max: t[t.length - 1] ?? Number.NaN,
  };
}

/** Samples kept in the JSON: µs with 0.1 µs resolution. */
export const raw = (samples: readonly number[]): number[] => samples.map((x) => Math.round(x * 10) / 10);

export function fmtUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '-';
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1000) return `${(us / 1000).toFixed(us >= 100_000 ? 0 : us >= 10_000 ? 1 : 2)} ms`;
  return `${us.toFixed(us >= 100 ? 0 : 1)} µs`;
}

export function fmtRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return '-';
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

export function fmtBytes(b: number | undefined): string {
  if (b === undefined || !Number.isFinite(b)) return '-';
  const a = Math.abs(b);
  if (a >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (a >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${Math.round(b)} B`;
}

export const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || !(b > 0) ? undefined : a / b;

/** A plain text table: columns padded, numbers right-aligned from column `rightFrom`. */
export function table(head: string[], rows: string[][], rightFrom = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cols: string[]) =>
    cols
      .map((c, i) => (i >= rightFrom ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}
