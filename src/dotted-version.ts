/**
 * Dotted version numbers (Docker API versions `1.48`, CNI spec versions `1.1.0`), compared part by
 * part as numbers. A module with no imports: the daemon's API and the CNI plugin (which must start
 * fast and loads no daemon code) both use it.
 */

/** -1, 0, 1 as a < b, a = b, a > b (numeric per part, "1.9" < "1.40"; missing parts are 0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
