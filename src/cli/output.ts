/** Where the CLI writes, and how: Docker-style tables and indented JSON. */

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** One line from the user (prune's confirmation); undefined at end of input. */
  readLine(prompt: string): Promise<string | undefined>;
}

/**
 * Columns as the docker CLI aligns them (Go's tabwriter with minwidth 10 and padding 3): each
 * column but the last as wide as its widest cell plus 3, at least 10.
 */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(10, ...all.map((r) => (r[i] ?? '').length + 3)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 10)))
        .join('')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** JSON as `docker inspect` prints it: indented by 4. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}

/** Natural order of names (`net2` before `net10`), as docker sorts lists. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
