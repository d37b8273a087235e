/** Small helpers shared by the benchmarks: run a step N times, report percentiles; call an API on a unix socket. */
import { type Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Timing {
  name: string;
  n: number;
  p50: number;
  p90: number;
  mean: number;
}

/** Runs `step(i)` n times (after `warmup` untimed runs); times in microseconds. */
export async function measure(
  name: string,
  n: number,
  step: (i: number) => unknown | Promise<unknown>,
  warmup = Math.min(5, n),
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await step(-1 - i);
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await step(i);
    t.push((performance.now() - s) * 1000);
  }
  t.sort((a, b) => a - b);
  const at = (q: number) => t[Math.min(t.length - 1, Math.floor(q * t.length))] ?? Number.NaN;
  return { name, n, p50: at(0.5), p90: at(0.9), mean: t.reduce((a, b) => a + b, 0) / t.length };
}

export function fmtUs(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`;
}

/** Prints a table of rows; each row compares `ours` with `theirs` by median. */
export function printComparison(title: string, rows: { what: string; ours: Timing; theirs: Timing }[]): void {
  console.log(`\n${title}`);
  const head = ['operation', 'dnet (in-process) p50', 'p90', 'child processes p50', 'p90', 'ratio'];
  const lines = rows.map((r) => [
    r.what,
    fmtUs(r.ours.p50),
    fmtUs(r.ours.p90),
    fmtUs(r.theirs.p50),
    fmtUs(r.theirs.p90),
    `${(r.theirs.p50 / r.ours.p50).toFixed(1)}x faster`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cols: string[]) => cols.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  console.log(fmt(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
}

/** An HTTP answer: status and body text. */
export interface UnixReply {
  status: number;
  body: string;
}

/** One HTTP request with a JSON body (if any) on a unix socket: dnet's and dockerd's API alike. */
export function unixCall(
  socketPath: string,
  agent: Agent | false,
  method: string,
  path: string,
  body?: unknown,
): Promise<UnixReply> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        agent,
        method,
        path,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': String(data.length) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}
