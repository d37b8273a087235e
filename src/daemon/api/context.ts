/** What the route handlers share: the controller, the daemon's registry, and the daemon's facts. */
import { KeyedLock } from '../../core/lock.ts';
import type { NetworkController } from '../../index.ts';
import { EventLog } from '../events.ts';
import { errorFields, type Logger } from '../log.ts';
import type { DaemonRegistry } from '../registry.ts';

/** The API versions served (src/version.ts: the CLI reads them without loading the daemon). */
export { API_VERSION, MIN_API_VERSION } from '../../version.ts';

export interface DaemonFacts {
  version: string;
  runDir: string;
  dataDir: string;
  startedAt: Date;
}

export class ApiContext {
  /** Per-container serialisation of connect, disconnect and sandbox create/remove. */
  readonly locks = new KeyedLock();
  /** Docker's events (`GET /events`): the daemon logs the controller's network events here. */
  readonly events = new EventLog();

  constructor(
    readonly controller: NetworkController,
    readonly registry: DaemonRegistry,
    readonly facts: DaemonFacts,
    private readonly logger?: Logger,
  ) {}

  /** Logs what a route met but did not fail for (a prune that skipped a network...). */
  warn(msg: string, err?: unknown): void {
    if (this.logger) {
      this.logger.warn({ event: 'warning', ...(err ? { error: errorFields(err, false) } : {}) }, msg);
    } else process.emitWarning(msg);
  }

  /** Runs fn with the container's lock held. */
  withContainer<T>(containerId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(`ctr:${containerId}`, fn);
  }
}
