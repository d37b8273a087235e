/** Delivering watch events to callbacks, shared by both stores. */
import type { KvEvent, KvWatchOptions } from './types.ts';

export type ErrorSink = (err: Error) => void;

function defaultSink(err: Error): void {
  process.emitWarning(err, { type: 'DnetStoreWatchWarning' });
}

/** The options' onError, or a process warning. */
export function errorSink(options: KvWatchOptions | undefined): ErrorSink {
  return options?.onError ?? defaultSink;
}

/** Calls `fn`; what it throws goes to `sink` (a throwing callback must not break the store or other watchers). */
export function guarded(sink: ErrorSink, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    try {
      sink(e);
    } catch {
      // The error sink itself threw: nothing sensible is left to tell.
    }
  }
}

interface Subscriber {
  readonly prefix: string;
  readonly onEvent: (event: KvEvent) => void;
  readonly sink: ErrorSink;
}

/** In-process subscribers by prefix (LmdbStore's watches: events come from this process's own commits). */
export class Subscribers {
  private readonly subs = new Set<Subscriber>();

  add(prefix: string, onEvent: (event: KvEvent) => void, options?: KvWatchOptions): () => void {
    const sub: Subscriber = { prefix, onEvent, sink: errorSink(options) };
    this.subs.add(sub);
    return () => {
      this.subs.delete(sub);
    };
  }

  /** Delivers `events` in order to every subscriber whose prefix matches (one still subscribed). */
  emit(events: readonly KvEvent[]): void {
    if (this.subs.size === 0) return;
    for (const ev of events) {
      for (const sub of [...this.subs]) {
        if (!this.subs.has(sub) || !ev.key.startsWith(sub.prefix)) continue;
        guarded(sub.sink, () => sub.onEvent(ev));
      }
    }
  }

  clear(): void {
    this.subs.clear();
  }

  get size(): number {
    return this.subs.size;
  }
}
