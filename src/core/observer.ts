/**
 * What the controller tells whoever listens (the daemon's events and metrics): the network
 * events Docker reports (create, destroy, connect, disconnect) and the outcome and duration of
 * each operation. `controller.observe(listener)` adds a listener; with none, an operation pays
 * one size check and nothing else.
 *
 * Listeners run synchronously, in the operation's call, after it succeeded (or failed): they
 * must be quick and must not throw (a listener that throws is reported with
 * process.emitWarning, and the operation's result stands).
 */
import { performance } from 'node:perf_hooks';

/** The operations reported: network create and delete, container connect (or join) and disconnect (or leave). */
export type ControllerOperation = 'create' | 'delete' | 'connect' | 'disconnect';

/** The network an event is about, as it was at the event. */
export interface NetworkRef {
  id: string;
  name: string;
  /** The driver (`bridge`, `null`, `host`...). */
  type: string;
}

export type NetworkEvent =
  | { kind: 'network'; action: 'create' | 'destroy'; network: NetworkRef }
  | {
      kind: 'network';
      action: 'connect' | 'disconnect';
      network: NetworkRef;
      containerId: string;
      endpointId: string;
    };

export interface OperationEvent {
  kind: 'operation';
  operation: ControllerOperation;
  ok: boolean;
  /** Wall time of the operation, locks and all. */
  seconds: number;
  /** The error it failed with. */
  error?: unknown;
}

export type ControllerEvent = NetworkEvent | OperationEvent;
export type ControllerListener = (event: ControllerEvent) => void;

/** The listeners of one controller. */
export class Observers {
  private readonly listeners = new Set<ControllerListener>();

  /** Adds a listener; the function returned removes it. */
  add(listener: ControllerListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Whether anyone listens (callers skip building events otherwise). */
  get active(): boolean {
    return this.listeners.size > 0;
  }

  emit(event: ControllerEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        process.emitWarning(`a controller listener failed on an event (${event.kind}): ${String(err)}`);
      }
    }
  }

  /**
   * Runs an operation and reports its outcome; on success, `after` names the network event it
   * made (if any). Without listeners it is `fn()`.
   */
  async run<T>(
    operation: ControllerOperation,
    fn: () => Promise<T>,
    after?: (result: T) => NetworkEvent | undefined,
  ): Promise<T> {
    if (this.listeners.size === 0) return fn();
    const started = performance.now();
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      const seconds = (performance.now() - started) / 1000;
      this.emit({ kind: 'operation', operation, ok: false, seconds, error });
      throw error;
    }
    const seconds = (performance.now() - started) / 1000;
    this.emit({ kind: 'operation', operation, ok: true, seconds });
    const ev = after?.(result);
    if (ev) this.emit(ev);
    return result;
  }
}

type NetworkLike = { id: string; name: string; type: string };

/** The reference events carry for a network. */
export function networkRef(n: NetworkLike): NetworkRef {
  return { id: n.id, name: n.name, type: n.type };
}

/** A network's create or destroy event. */
export function lifecycleEvent(action: 'create' | 'destroy', n: NetworkLike): NetworkEvent {
  return { kind: 'network', action, network: networkRef(n) };
}

/** A container's connect or disconnect event. */
export function containerEvent(
  action: 'connect' | 'disconnect',
  n: NetworkLike,
  containerId: string,
  endpointId: string,
): NetworkEvent {
  return { kind: 'network', action, network: networkRef(n), containerId, endpointId };
}
