/** What the route handlers share: the controller, the daemon's registry, and the daemon's facts. */
import { KeyedLock } from '../../core/lock.ts';
import type { NetworkController } from '../../index.ts';
import { EventLog } from '../events.ts';
import { errorFields, type Logger } from '../log.ts';
import type { NetworkSettings } from '../network-settings.ts';
import type { ContainerDns } from '../network-settings-apply.ts';
import type { DaemonRegistry } from '../registry.ts';

/** The API versions served (src/version.ts: the CLI reads them without loading the daemon). */
export { API_VERSION, MIN_API_VERSION } from '../../version.ts';

export interface DaemonFacts {
  version: string;
  runDir: string;
  dataDir: string;
  startedAt: Date;
  /** The engine ID (`<dataDir>/engine-id`), `/info`'s `ID`. */
  engineId?: string;
  /** The network settings in effect (`GET /info` shows them); absent: Docker's defaults. */
  settings?: NetworkSettings;
}

export class ApiContext {
  /** Per-container serialisation of connect, disconnect and sandbox create/remove. */
  readonly locks = new KeyedLock();
  /** Containers' resolv.conf defaults (the daemon's `dns`, `dns-search`, `dns-opts`; SIGHUP changes them). */
  containerDns: ContainerDns = { dns: [], dnsSearch: [], dnsOptions: [] };
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

  /**
   * A new sandbox's DNS settings: its own where given, else the daemon's (each list on its own,
   * as dockerd does).
   */
  dnsFor(own: { dns?: string[]; dnsSearch?: string[]; dnsOptions?: string[] }): {
    dns?: string[];
    dnsSearch?: string[];
    dnsOptions?: string[];
  } {
    const d = this.containerDns;
    const pick = (mine: string[] | undefined, daemon: string[]) =>
      mine && mine.length > 0 ? mine : daemon.length > 0 ? [...daemon] : undefined;
    const dns = pick(own.dns, d.dns);
    const dnsSearch = pick(own.dnsSearch, d.dnsSearch);
    const dnsOptions = pick(own.dnsOptions, d.dnsOptions);
    return {
      ...(dns ? { dns } : {}),
      ...(dnsSearch ? { dnsSearch } : {}),
      ...(dnsOptions ? { dnsOptions } : {}),
    };
  }

  /** Runs fn with the container's lock held. */
  withContainer<T>(containerId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(`ctr:${containerId}`, fn);
  }
}
