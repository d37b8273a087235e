/**
 * `dnet events`: the daemon's events as `docker events` prints them, with its flags: `--since`
 * and `--until` (durations, RFC 3339 times or Unix timestamps, turned into timestamps here as the
 * docker CLI does), `-f key=value` filters, and `--format json` / `'{{json .}}'` for one JSON
 * message per line (as the daemon sent it). Without `--until` it runs until interrupted.
 */
import { getTimestamp, TimestampSyntaxError } from '../timestamp.ts';
import { flag, parse, positionals, str, strs, UsageError } from './args.ts';
import type { Client } from './client.ts';
import type { Io } from './output.ts';
import { reportError } from './report.ts';
import { help } from './subcommand.ts';

export const EVENTS_USAGE = `Usage: dnet events [OPTIONS]

Get real time events from the daemon (network create, connect, disconnect, destroy, prune)

Options:
  -f, --filter filter   Filter output based on conditions provided: type, event, network,
                        container, label, scope (key=value; repeatable)
      --format string   Print each event as JSON: json or '{{json .}}' (default: one line of text)
      --since string    Show all events created since timestamp (kept: the last 256)
      --until string    Stream events until this timestamp

Timestamps: a duration before now (10m, 1h30m), an RFC 3339 date or time
(2024-01-02, 2024-01-02T15:04:05Z; local time without a zone), or a Unix timestamp.
`;

/** Docker's filters.ParseFlag: `key=value`, the key lower-cased, both trimmed. */
function filtersOf(list: string[]): string | undefined {
  if (list.length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const f of list) {
    const eq = f.indexOf('=');
    if (eq < 0) throw new UsageError(`bad format of filter (expected name=value): ${f}`, EVENTS_USAGE);
    const key = f.slice(0, eq).trim().toLowerCase();
    const value = f.slice(eq + 1).trim();
    out[key] ??= {};
    out[key][value] = true;
  }
  return JSON.stringify(out);
}

function timestampOf(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  try {
    return getTimestamp(value);
  } catch (err) {
    if (!(err instanceof TimestampSyntaxError)) throw err;
    throw new UsageError(`invalid --${name} ${JSON.stringify(value)}: ${err.message}`, EVENTS_USAGE);
  }
}

/** Go's RFC3339NanoFixed in local time: `2006-01-02T15:04:05.000000000Z07:00`. */
export function formatEventTime(timeNano: bigint): string {
  const ms = Number(timeNano / 1_000_000n);
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const zone =
    off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  const nanos = String(((timeNano % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).padStart(9, '0');
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:` +
    `${p(d.getSeconds())}.${nanos}${zone}`
  );
}

interface Message {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
}

/** The docker CLI's prettyPrintEvent: time, type, action, actor ID, (sorted attributes). */
export function prettyEvent(line: string): string {
  const m = JSON.parse(line) as Message;
  // timeNano is beyond a JSON number's exact range: read from the text.
  const nano = /"timeNano":(\d+)/.exec(line)?.[1];
  const t = nano ? BigInt(nano) : m.time ? BigInt(m.time) * 1_000_000_000n : undefined;
  let out = t !== undefined ? `${formatEventTime(t)} ` : '';
  out += `${m.Type ?? ''} ${m.Action ?? ''} ${m.Actor?.ID ?? ''}`;
  const attrs = m.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length > 0) out += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return `${out}\n`;
}

export async function eventsCommand(client: () => Client, io: Io, args: string[]): Promise<number> {
  const p = parse(
    args,
    {
      filter: { type: 'string', short: 'f', multiple: true },
      format: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
    },
    EVENTS_USAGE,
  );
  if (flag(p, 'help')) return help(io, EVENTS_USAGE);
  positionals(p, 0, EVENTS_USAGE, 'events');
  const format = str(p, 'format');
  const asJson = format === 'json' || format?.trim() === '{{json .}}';
  if (format !== undefined && format !== '' && !asJson) {
    throw new UsageError(
      `unsupported --format ${JSON.stringify(format)}: use json or '{{json .}}' (or none, for text)`,
      EVENTS_USAGE,
    );
  }
  const query = {
    since: timestampOf(str(p, 'since'), 'since'),
    until: timestampOf(str(p, 'until'), 'until'),
    filters: filtersOf(strs(p, 'filter')),
  };
  try {
    await client().streamLines('/events', query, (line) => io.out(asJson ? `${line}\n` : prettyEvent(line)));
  } catch (err) {
    return reportError(io, err);
  }
  return 0;
}
