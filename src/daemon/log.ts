/**
 * The daemon's structured logs: one JSON object per line (pino), to stderr or to a sink.
 *
 *   {"level":"info","time":"2026-01-02T03:04:05.678Z","pid":42,"event":"request","requestId":"…",
 *    "method":"POST","path":"/v1.48/networks/create","status":201,"durationMs":3.21,"msg":"POST /v1.48/networks/create 201"}
 *
 * Every line has `level` (a label), `time` (ISO 8601), `pid`, `msg`, and an `event` naming what
 * happened: `start`, `request`, `signal`, `stop`, `restore`, `warning`, `error`. Errors are logged
 * under `error` (`code`, `message`, `stack`), not pino's `err` (its serializer adds noise).
 * README.md ("Logs") lists the fields of each event.
 */
import { randomUUID } from 'node:crypto';
import { type DestinationStream, type Logger as PinoLogger, pino } from 'pino';
import { DEFAULT_LOG_LEVEL, type LogLevel } from './log-levels.ts';

export { DEFAULT_LOG_LEVEL, isLogLevel, LOG_LEVELS, type LogLevel } from './log-levels.ts';

/** Receives each log line: one JSON object, without the trailing newline. */
export type LogSink = (line: string) => void;

export type Logger = PinoLogger;

export interface LoggerOptions {
  /** Default info. */
  level?: LogLevel;
  /** Where the lines go. Default: stderr (synchronous writes, so nothing is lost at exit). */
  sink?: LogSink;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const sink = options.sink;
  const destination: DestinationStream = sink
    ? { write: (s: string) => sink(s.endsWith('\n') ? s.slice(0, -1) : s) }
    : pino.destination({ fd: 2, sync: true });
  return pino(
    {
      level: options.level ?? DEFAULT_LOG_LEVEL,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** The header carrying a request's ID, both ways: a client's is kept, otherwise one is made. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/** What a client's request ID may be: 1 to 128 visible ASCII characters (no spaces or controls). */
const CLIENT_REQUEST_ID_RE = /^[\x21-\x7e]{1,128}$/;

/** The client's `X-Request-Id` when it is usable, otherwise a new UUID. */
export function requestIdFor(header: string | string[] | undefined): string {
  const given = Array.isArray(header) ? header[0] : header;
  return given !== undefined && CLIENT_REQUEST_ID_RE.test(given) ? given : randomUUID();
}

/** An error as a log field: its stable code (when it has one), message, and stack if asked. */
export function errorFields(
  err: unknown,
  withStack = false,
): { code?: string; message: string; stack?: string } {
  const code = (err as { code?: unknown } | null)?.code;
  const out: { code?: string; message: string; stack?: string } = {
    message: err instanceof Error ? err.message : String(err),
  };
  if (typeof code === 'string') out.code = code;
  if (withStack && err instanceof Error && err.stack) out.stack = err.stack;
  return out;
}
