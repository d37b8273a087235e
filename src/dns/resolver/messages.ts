/**
 * What the resolver's two threads say to each other (resolver.ts, the controller's side;
 * worker.ts, the side that answers queries): ops with a sequence number one way, acks and
 * errors the other, counters in shared memory.
 */
import type { ForwarderOptions } from './forwarder.ts';
import type { ResolverOp } from './state.ts';

/** Slots of the shared counters (a Float64Array over workerData.counts). */
export const COUNTERS = { queries: 0, answered: 1, forwarded: 2, forwardFailed: 3, dropped: 4 } as const;
export const COUNTER_SLOTS = 5;

/** What the worker gets at start. */
export interface ResolverWorkerData {
  counts: SharedArrayBuffer;
  forwarder: ForwarderOptions;
}

/** A message from the controller's thread. */
export type ToWorker = { seq: number; op: ResolverOp };
/** A message to the controller's thread: an acknowledged op, or an error to report. */
export type FromWorker = { ack: number } | { error: string };
