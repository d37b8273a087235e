/**
 * Argument parsing for the dnet commands: node:util's parseArgs with usage errors (exit 2), and
 * the value syntaxes of Docker's CLI (`k=v` options, `-p [ip:]host:container[/proto]`).
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A command line that cannot be used: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** parseArgs, strict, with positionals; `--help` is always accepted. Throws UsageError. */
export function parse(args: string[], options: Options, usage: string): Parsed {
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''), usage);
  }
}

/**
 * A Go boolean flag that takes a value (Docker's `--ipv4=false`), which parseArgs cannot express:
 * taken out of the arguments (before a `--`) first. `--name` alone is true; undefined when absent.
 */
export function takeBoolFlag(
  args: string[],
  name: string,
  usage: string,
): { rest: string[]; value: boolean | undefined } {
  let value: boolean | undefined;
  const end = args.indexOf('--');
  const re = new RegExp(`^--${name}(?:=(.*))?$`);
  const rest = args.filter((a, i) => {
    const m = (end < 0 || i < end) && re.exec(a);
    if (!m) return true;
    const v = m[1] ?? 'true';
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) value = true;
    else if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) value = false;
    else
      throw new UsageError(
        `invalid argument ${JSON.stringify(v)} for "--${name}" flag: expected true or false`,
        usage,
      );
    return false;
  });
  return { rest, value };
}

export function str(p: Parsed, key: string): string | undefined {
  const v = p.values[key];
  return typeof v === 'string' ? v : undefined;
}

export function strs(p: Parsed, key: string): string[] {
  const v = p.values[key];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function flag(p: Parsed, key: string): boolean {
  return p.values[key] === true;
}

/** Exactly `n` positionals, or at least `n` with `atLeast`. */
export function positionals(p: Parsed, n: number, usage: string, cmd: string, atLeast = false): string[] {
  const got = p.positionals.length;
  if (atLeast ? got < n : got !== n) {
    const what = `${atLeast ? 'at least' : 'exactly'} ${n} argument${n === 1 ? '' : 's'}`;
    throw new UsageError(`"dnet ${cmd}" requires ${what}`, usage);
  }
  return p.positionals;
}

/** `k=v` pairs (Docker's --label, --opt): a key without `=` has the empty value. */
export function keyValues(list: string[], option: string, usage: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    const k = eq < 0 ? kv : kv.slice(0, eq);
    if (k === '') throw new UsageError(`invalid ${option} ${JSON.stringify(kv)}: expected key=value`, usage);
    out[k] = eq < 0 ? '' : kv.slice(eq + 1);
  }
  return out;
}

export interface DockerPortBinding {
  HostIp: string;
  HostPort: string;
}

const PORT_RANGE_RE = /^[0-9]{1,5}(-[0-9]{1,5})?$/;

/**
 * Docker's `-p` syntax (nat.ParsePortSpec) into PortBindings entries:
 * `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `[::1]:8080:80`, ranges `8000-8010:8000-8010`,
 * a protocol suffix `/udp`.
 */
export function parsePublish(spec: string, usage: string): { key: string; binding: DockerPortBinding } {
  const bad = (why: string) =>
    new UsageError(`invalid port specification ${JSON.stringify(spec)}: ${why}`, usage);
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw bad('the protocol must be tcp, udp or sctp');
  }
  const parts = rest.split(':');
  let ip = '';
  let host = '';
  let container: string;
  if (parts.length === 1) {
    container = parts[0]!;
  } else if (parts.length === 2) {
    [host, container] = parts as [string, string];
  } else {
    container = parts.at(-1)!;
    host = parts.at(-2)!;
    ip = parts.slice(0, -2).join(':');
  }
  ip = ip.replace(/^\[(.*)\]$/, '$1');
  if (!PORT_RANGE_RE.test(container)) throw bad('the container port must be a port or a range (8000-8010)');
  if (host !== '' && !PORT_RANGE_RE.test(host))
    throw bad('the host port must be a port or a range (8000-8010)');
  return { key: `${container}/${proto}`, binding: { HostIp: ip, HostPort: host } };
}
