/**
 * What every compared stack implements (a Subject), the containers the work units hand them,
 * and small helpers: host ports and addresses handed out by the benchmark, child processes.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export type SubjectKey = 'floor' | 'dnet' | 'daemon' | 'netavark' | 'cni' | 'docker';
export const SUBJECT_ORDER: readonly SubjectKey[] = ['floor', 'dnet', 'daemon', 'netavark', 'cni', 'docker'];

/** One container as the work units see it. */
export interface Container {
  /** A serial number, unique in the run. */
  readonly serial: number;
  /** A 64-hex container ID. */
  readonly id: string;
  /** Host ports published to container ports 80, 81, ... (TCP). */
  readonly hostPorts: readonly number[];
}

/** How often the concurrency unit's prober calls Subject.probe while attaches are in flight. */
export const PROBE_EVERY_MS = 5;

export interface Subject {
  readonly key: SubjectKey;
  /** How it is shown in tables and charts. */
  readonly label: string;
  /** Version of what is measured. */
  readonly version: string;
  /** What one attach and one detach are, for this subject, in words. */
  readonly does: string;
  /** Whether attaches can be in flight together (the floor cannot: it is one sequential process). */
  readonly concurrent: boolean;
  /** Containers the subject keeps attached while a unit runs (they count among the host's). */
  readonly resident: number;
  /** Creates the network: one bridge, a /16, masquerade. */
  setup(): Promise<void>;
  /**
   * Namespace + interface + address + NAT + the container's published ports. Resolves with the
   * time in µs when the subject measures itself (the floor), else undefined (wall time is used).
   */
  attach(c: Container): Promise<number | undefined>;
  /**
   * The time (µs) the last attach spent publishing its ports (port allocation + NAT), when the
   * subject can tell it apart (dnet library, floor); undefined otherwise.
   */
  publishUs?(): number | undefined;
  /** Undoes attach, namespace included. */
  detach(c: Container): Promise<number | undefined>;
  /**
   * A cheap read a client issues while attaches are in flight (the daemon: `GET /networks` on a
   * connection of its own): how long the subject keeps an unrelated caller waiting under load.
   */
  probe?(): Promise<void>;
  /** Removes the network and everything the subject made. */
  teardown(): Promise<void>;
}

/** A subject that cannot run here (not installed, cannot start), and why. */
export interface Unavailable {
  readonly key: SubjectKey;
  readonly label: string;
  readonly reason: string;
}

export const newId = (): string => randomBytes(32).toString('hex');

/** Host ports for published ports, from one range; released ports are reused last. */
export class PortPool {
  private readonly free: number[] = [];
  private next: number;

  constructor(
    private readonly start = 10000,
    private readonly end = 47999,
  ) {
    this.next = start;
  }

  take(n: number): number[] {
    const out: number[] = [];
    while (out.length < n) {
      if (this.next <= this.end) out.push(this.next++);
      else {
        const p = this.free.shift();
        if (p === undefined) throw new Error(`bench: out of host ports (${this.start}-${this.end})`);
        out.push(p);
      }
    }
    return out;
  }

  give(ports: readonly number[]): void {
    this.free.push(...ports);
  }
}

/** IPv4 addresses of a /16 for subjects whose callers hand out addresses (netavark, the floor). */
export class AddressPool {
  private readonly free: number[] = [];
  private next = 2; // .0.1 is the gateway
  private readonly byOwner = new Map<number, number>();

  constructor(private readonly prefix16: string) {}

  /** The address of `owner` (a container serial), allocated on first use. */
  of(owner: number): string {
    let o = this.byOwner.get(owner);
    if (o === undefined) {
      o = this.free.shift() ?? this.next++;
      if (o > 65534) throw new Error(`bench: out of addresses in ${this.prefix16}.0.0/16`);
      this.byOwner.set(owner, o);
    }
    return `${this.prefix16}.${o >> 8}.${o & 255}`;
  }

  release(owner: number): void {
    const o = this.byOwner.get(owner);
    if (o === undefined) return;
    this.byOwner.delete(owner);
    this.free.push(o);
  }
}

export interface ProcResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell), optionally feeding stdin; never rejects on a non-zero exit. */
export function run(
  file: string,
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(opts.env ? { env: opts.env } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    child.once('error', reject);
    child.once('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** As run, but a non-zero exit is an error carrying the program's stderr. */
export async function mustRun(
  what: string,
  file: string,
  args: readonly string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    const why = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ');
    throw new Error(`${what}: exit ${r.code}: ${why}`);
  }
  return r.stdout;
}
