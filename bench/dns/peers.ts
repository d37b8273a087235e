/**
 * The DNS bench's tools: dnsperf runs (parsed), aardvark-dns (netavark's resolver) run the way
 * netavark runs it (a config file per network, SIGHUP to reload), the prober child.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const AARDVARK_PATHS = ['/usr/lib/podman/aardvark-dns', '/usr/libexec/podman/aardvark-dns'];

export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export interface PerfResult {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  /** Microseconds, from dnsperf -v's per-query lines. */
  p50?: number;
  p99?: number;
  avgUs: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** dnsperf inside namespace `ns` against `server`; `verbose` gets the per-query latencies. */
export async function dnsperf(
  ns: string,
  server: string,
  file: string,
  opts: { seconds: number; qps?: number; clients?: number; outstanding?: number; verbose?: boolean },
): Promise<PerfResult> {
  const args = [`--net=${ns}`, 'dnsperf', '-s', server, '-d', file, '-l', String(opts.seconds)];
  if (opts.qps) args.push('-Q', String(opts.qps));
  if (opts.clients) args.push('-c', String(opts.clients));
  if (opts.outstanding) args.push('-q', String(opts.outstanding));
  if (opts.verbose) args.push('-v');
  const out = await run('nsenter', args);
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? Number.NaN);
  const r: PerfResult = {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgUs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1e6,
  };
  if (opts.verbose) {
    const lat = [...out.matchAll(/^> \S+ \S+ \S+ ([\d.]+)$/gm)]
      .map((m) => Number(m[1]) * 1e6)
      .sort((a, b) => a - b);
    r.p50 = pct(lat, 50);
    r.p99 = pct(lat, 99);
  }
  return r;
}

export { pct };

/** A 64-hex container ID for a name (aardvark-dns refuses a file with anything else). */
const containerId = (name: string) => createHash('sha256').update(name).digest('hex');

/** aardvark-dns serving one network's names on `bind` inside namespace `ns`, reloaded by SIGHUP. */
export class Aardvark {
  private readonly names = new Map<string, string>();
  private pid = 0;

  constructor(
    private readonly bin: string,
    private readonly dir: string,
    private readonly ns: string,
    private readonly bind: string,
  ) {}

  static find(): string | undefined {
    return AARDVARK_PATHS.find((p) => existsSync(p));
  }

  private write(): void {
    // As netavark: one file per network, the bind address first, then `id ipv4 ipv6 names`.
    let text = `${this.bind}\n`;
    for (const [name, ip] of this.names) text += `${containerId(name)} ${ip}  ${name}\n`;
    // Written next to the directory, not in it: aardvark-dns reads every file in it, and exits on one
    // it cannot parse (a half-written temporary file during a reload).
    const tmp = `${this.dir}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, join(this.dir, 'bench'));
  }

  async start(initial: Map<string, string>): Promise<void> {
    for (const [n, ip] of initial) this.names.set(n, ip);
    this.write();
    await run('nsenter', [`--net=${this.ns}`, this.bin, '--config', this.dir, '-p', '53', 'run']).catch(
      () => undefined,
    );
    for (let i = 0; i < 100 && this.pid === 0; i++) {
      const f = join(this.dir, 'aardvark.pid');
      if (existsSync(f)) this.pid = Number(readFileSync(f, 'utf8').trim());
      else await new Promise((r) => setTimeout(r, 50));
    }
    if (!this.pid) throw new Error('aardvark-dns did not start (no pid file)');
  }

  /** netavark's connect/disconnect: rewrite the file, SIGHUP. */
  set(name: string, ip: string | undefined): void {
    if (ip === undefined) this.names.delete(name);
    else this.names.set(name, ip);
    this.write();
    if (!this.alive()) throw new Error('aardvark-dns has exited');
    process.kill(this.pid, 'SIGHUP');
  }

  alive(): boolean {
    try {
      process.kill(this.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  stop(): void {
    if (this.alive()) process.kill(this.pid, 'SIGTERM');
  }
}

/** The prober child (prober.mjs) in namespace `ns`, asking `server`. */
export class Prober {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<string, (us: number | undefined) => void>();
  private statsWaiter: ((s: { sent: number; lost: number; wrong: number }) => void) | undefined;

  constructor(ns: string, server: string, stable: string[], rate: number) {
    const script = join(import.meta.dirname, 'prober.mjs');
    this.child = spawn(
      'nsenter',
      [`--net=${ns}`, process.execPath, script, server, stable.join(','), String(rate)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    // A bench that fails midway must not leave the prober running.
    process.once('exit', () => this.child.kill());
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const [what, a, b, c] = line.split(' ');
      if (what === 'stats') this.statsWaiter?.({ sent: Number(a), lost: Number(b), wrong: Number(c) });
      else if (a !== undefined) {
        this.waiting.get(a)?.(what === 'ok' ? Number(b) : undefined);
        this.waiting.delete(a);
      }
    });
  }

  /**
   * Resolves when the prober got an answer with an address for `name`: the microseconds from the
   * prober reading the name (written as soon as connect returned) to that answer; undefined after 5 s.
   */
  probe(name: string): Promise<number | undefined> {
    return new Promise((resolve) => {
      this.waiting.set(name, resolve);
      this.child.stdin?.write(`${name}\n`);
    });
  }

  end(): Promise<{ sent: number; lost: number; wrong: number }> {
    return new Promise((resolve) => {
      this.statsWaiter = resolve;
      this.child.stdin?.write('END\n');
    });
  }
}
