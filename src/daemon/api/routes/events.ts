/**
 * `GET /events` as dockerd serves it (daemon/server/router/system getEvents): a stream of JSON
 * messages, one per line; `since` and `until` (`seconds[.nanoseconds]`) replay the kept events
 * in that range; with `until` in the past the answer ends after the replay, in the future at that
 * time; without it the stream stays open until the client goes. `filters` as in
 * src/daemon/events.ts. The content type is `application/json` (API < 1.52), or the first of
 * application/jsonl, application/x-ndjson and application/json-seq that `Accept` asks for
 * (json-seq puts RS, 0x1E, before each message).
 */
import type { ServerResponse } from 'node:http';
import { parseUnixTimestamp, TimestampSyntaxError } from '../../../timestamp.ts';
import { type EventLog, type EventMessage, encodeEvent, eventFilter } from '../../events.ts';
import type { ApiContext } from '../context.ts';
import { BadRequestError } from '../errors.ts';
import { parseFilters } from '../filters.ts';
import type { ApiReply, ApiRequest, Router } from '../router.ts';

const STREAM_TYPES = ['application/jsonl', 'application/x-ndjson', 'application/json-seq'];
/** A stream whose client reads slower than this much pending output is ended (dockerd drops events). */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** moby's MatchAcceptStrict: the offer with the highest q the Accept header names exactly. */
export function eventsContentType(accept: string | undefined): string {
  let best = 'application/json';
  let bestQ = -1;
  const specs = (accept ?? '').split(',').map((part) => {
    const [value = '', ...params] = part.split(';').map((x) => x.trim());
    const q = params.find((p) => p.startsWith('q='));
    return { value: value.toLowerCase(), q: q ? Number(q.slice(2)) : 1 };
  });
  for (const offer of STREAM_TYPES) {
    for (const s of specs) {
      if (s.value !== offer || !(s.q > 0)) continue;
      if (s.q > bestQ) [best, bestQ] = [offer, s.q];
    }
  }
  return best;
}

function timestampParam(req: ApiRequest, name: 'since' | 'until'): bigint {
  const v = req.query.get(name) ?? '';
  if (v === '') return 0n;
  try {
    return parseUnixTimestamp(v);
  } catch (err) {
    if (!(err instanceof TimestampSyntaxError)) throw err;
    throw new BadRequestError(`invalid value for '${name}': invalid timestamp "${v}": ${err.message}`);
  }
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export function eventRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/events', async (req) => getEvents(ctx.events, req));
}

async function getEvents(log: EventLog, req: ApiRequest): Promise<ApiReply> {
  const since = timestampParam(req, 'since');
  const until = timestampParam(req, 'until');
  let onlyPast = false;
  let timeoutMs: number | undefined;
  if (until !== 0n) {
    if (until < since) {
      throw new BadRequestError(
        `\`since\` time (${req.query.get('since')}) cannot be after \`until\` time (${req.query.get('until')})`,
      );
    }
    const now = nowNs();
    onlyPast = until < now;
    if (!onlyPast) timeoutMs = Number((until - now) / 1_000_000n) + 1;
  }
  const filter = eventFilter(parseFilters(req.query.get('filters')));
  const contentType = eventsContentType(req.raw.headers.accept);
  return {
    status: 200,
    headers: { 'Content-Type': contentType },
    stream: (res) => stream(res, log, { since, until, filter, onlyPast, timeoutMs, contentType }),
  };
}

function stream(
  res: ServerResponse,
  log: EventLog,
  o: {
    since: bigint;
    until: bigint;
    filter: (e: EventMessage) => boolean;
    onlyPast: boolean;
    timeoutMs: number | undefined;
    contentType: string;
  },
): Promise<void> {
  return new Promise<void>((resolve) => {
    const prefix = o.contentType === 'application/json-seq' ? '\x1e' : '';
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let cancel: (() => void) | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      cancel?.();
      if (timer) clearTimeout(timer);
      res.end();
      resolve();
    };
    const write = (e: EventMessage) => {
      if (done) return;
      res.write(prefix + encodeEvent(e));
      if (res.writableLength > MAX_PENDING_BYTES) finish();
    };
    res.on('close', finish);
    const sub = log.subscribe({ since: o.since, until: o.until, filter: o.filter }, write, finish);
    cancel = sub.cancel;
    if (done) return sub.cancel();
    for (const e of sub.buffered) write(e);
    if (o.onlyPast) return finish();
    if (o.timeoutMs === undefined) return;
    // A timer holds at most 2^31-1 ms (~24.8 days): a later `until` re-arms it.
    const endAt = Date.now() + o.timeoutMs;
    const arm = () => {
      const left = endAt - Date.now();
      timer = left <= 0 ? undefined : setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      if (!timer) finish();
    };
    arm();
  });
}
