/**
 * Docker's events (moby's daemon/events): each event is published to the streams of `GET /events`
 * and kept in a ring of the last 256, which a request with `since` or `until` replays. The network
 * events are those dockerd logs (daemon/events.go LogNetworkEventWithAttributes): `create`,
 * `destroy`, `connect` and `disconnect` with the network as the actor (`Attributes`: `name`,
 * `type`, and `container` for connect/disconnect), and `prune` with no actor ID and
 * `{"reclaimed": "0"}`. Docker's `remove` is a swarm network's removal (scope `swarm`): dnet has no
 * swarm, so it never logs one (a filter on it is accepted and matches nothing).
 */
import type { ControllerEvent } from '../core/observer.ts';
import { nowNs } from '../timestamp.ts';
import { exactMatch, type FilterArgs, matchKVList } from './api/filters.ts';

/** How many events are kept for `since` replays (dockerd's eventsLimit). */
export const EVENTS_LIMIT = 256;

export type EventAction = 'create' | 'destroy' | 'connect' | 'disconnect' | 'remove' | 'prune';

/** moby's api/types/events.Message. */
export interface EventMessage {
  Type: 'network';
  Action: EventAction;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local' | 'swarm';
  /** Seconds since the epoch. */
  time: number;
  /** Nanoseconds since the epoch (beyond a JSON number's exact range: kept as a bigint). */
  timeNano: bigint;
}

// Nanoseconds since the epoch, kept within a millisecond of the wall clock (src/timestamp.ts: a
// daemon that runs for weeks must not drift from the `since`/`until` clients compute), and
// strictly increasing: events logged one after the other never share or reverse a timestamp.
let lastNs = 0n;
const eventNs = (): bigint => {
  const t = nowNs();
  lastNs = t > lastNs ? t : lastNs + 1n;
  return lastNs;
};

/** The JSON line of an event (Go's encoder: Actor.Attributes with sorted keys, exact timeNano, newline). */
export function encodeEvent(e: EventMessage): string {
  const attrs: Record<string, string> = {};
  for (const k of Object.keys(e.Actor.Attributes).sort()) attrs[k] = e.Actor.Attributes[k]!;
  const head = JSON.stringify({
    Type: e.Type,
    Action: e.Action,
    Actor: { ID: e.Actor.ID, Attributes: attrs },
    scope: e.scope,
    time: e.time,
  });
  return `${head.slice(0, -1)},"timeNano":${e.timeNano}}\n`;
}

/** moby's FuzzyMatch: no value given, an exact value, or a value that is a prefix of `source`. */
function fuzzyMatch(f: FilterArgs, key: string, source: string): boolean {
  if (exactMatch(f, key, source)) return true;
  for (const prefix of f.get(key)?.keys() ?? []) if (source.startsWith(prefix)) return true;
  return false;
}

/** The object types whose filter matches the actor's ID or name (moby's fuzzyMatchName). */
const BY_NAME = ['daemon', 'container', 'plugin', 'volume', 'network', 'service', 'node', 'secret', 'config'];

/**
 * moby's events Filter.Include. As in Docker, `container=X` matches an event whose actor is X:
 * a network event's actor is the network, so it does not select a container's connects
 * (their `Attributes.container` names it).
 */
export function eventFilter(f: FilterArgs): (e: EventMessage) => boolean {
  if (f.size === 0) return () => true;
  return (e) => {
    const a = e.Actor.Attributes;
    if (!exactMatch(f, 'event', e.Action) || !exactMatch(f, 'type', e.Type)) return false;
    if (f.has('scope') && !exactMatch(f, 'scope', e.scope)) return false;
    for (const key of BY_NAME) {
      if (!fuzzyMatch(f, key, e.Actor.ID) && !fuzzyMatch(f, key, a.name ?? '')) return false;
    }
    if (!exactMatch(f, 'image', e.Actor.ID) && !exactMatch(f, 'image', a.image ?? '')) return false;
    return !f.has('label') || matchKVList(f, 'label', a);
  };
}

interface Subscriber {
  filter: (e: EventMessage) => boolean;
  send: (e: EventMessage) => void;
  end: () => void;
}

/** What a subscription replays and how it is stopped. */
export interface Subscription {
  /** The kept events in [since, until] that pass the filter, oldest first (none without since/until). */
  buffered: EventMessage[];
  cancel(): void;
}

/** The daemon's events: a ring of the last EVENTS_LIMIT, and the live streams. */
export class EventLog {
  private readonly ring: EventMessage[] = [];
  private readonly subscribers = new Set<Subscriber>();
  private closed = false;
  /** Events logged since the start. */
  total = 0;

  /** Logs a local event now (dockerd's Events.Log). */
  log(action: EventAction, id: string, attributes: Record<string, string>): EventMessage {
    const timeNano = eventNs();
    const e: EventMessage = {
      Type: 'network',
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(timeNano / 1_000_000_000n),
      timeNano,
    };
    this.total++;
    if (this.ring.length === EVENTS_LIMIT) this.ring.shift();
    this.ring.push(e);
    for (const s of this.subscribers) if (s.filter(e)) s.send(e);
    return e;
  }

  /** Logs the network events the controller reports (operations are the metrics' business). */
  fromController(ev: ControllerEvent): void {
    if (ev.kind !== 'network') return;
    const attrs: Record<string, string> = { name: ev.network.name, type: ev.network.type };
    if (ev.action === 'connect' || ev.action === 'disconnect') attrs.container = ev.containerId;
    this.log(ev.action, ev.network.id, attrs);
  }

  /**
   * Subscribes to the events that pass `filter`: the kept ones in [since, until] are returned
   * (dockerd replays only when one of them is given), the later ones go to `send`; `end` is
   * called when the log closes. Nanoseconds since the epoch; 0n is "not given".
   */
  subscribe(
    opts: { since: bigint; until: bigint; filter: (e: EventMessage) => boolean },
    send: (e: EventMessage) => void,
    end: () => void,
  ): Subscription {
    const buffered: EventMessage[] = [];
    if (opts.since !== 0n || opts.until !== 0n) {
      for (const e of this.ring) {
        if (e.timeNano < opts.since) continue;
        if (opts.until > 0n && e.timeNano > opts.until) continue;
        if (opts.filter(e)) buffered.push(e);
      }
    }
    if (this.closed) {
      end();
      return { buffered, cancel: () => {} };
    }
    const sub: Subscriber = { filter: opts.filter, send, end };
    this.subscribers.add(sub);
    return { buffered, cancel: () => void this.subscribers.delete(sub) };
  }

  /** How many streams are open. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Ends every stream (the daemon is stopping); later subscriptions end at once. */
  close(): void {
    this.closed = true;
    const subs = [...this.subscribers];
    this.subscribers.clear();
    for (const s of subs) s.end();
  }
}
