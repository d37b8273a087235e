/** Who listens to the controller, the bridge driver's repairs and nftables: the log, the events and the metrics. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { HEAL_CHANNEL, type HealReport } from '../drivers/bridge/index.ts';
import type { NetworkController } from '../index.ts';
import { observeNftTransactions } from '../os/nftables/index.ts';
import type { ApiContext } from './api/context.ts';
import type { Logger } from './log.ts';
import type { DaemonMetrics } from './metrics.ts';

/**
 * Logs what the bridge driver repairs after someone else changed its links or nftables tables
 * (the `heal` event); returns the subscriber, to unsubscribe at close.
 */
function logHeals(logger: Logger, metrics: DaemonMetrics | undefined): (m: unknown) => void {
  const onHeal = (m: unknown) => {
    const r = m as HealReport;
    metrics?.observeHeal(r);
    logger.warn({ event: 'heal', ...r }, `heal: ${r.reason}: ${[...r.repaired, ...r.problems].join('; ')}`);
  };
  subscribe(HEAL_CHANNEL, onHeal);
  return onHeal;
}

/**
 * Who listens to what: the heal reports are logged (and counted); the controller's events go to
 * GET /events once `eventsOn()` (Docker logs none for its pre-defined networks) and, with the
 * operations' outcomes, to the metrics; so do nftables transactions. `stop()` ends it all (and
 * every event stream).
 */
export function observe(
  controller: NetworkController,
  ctx: ApiContext,
  logger: Logger,
  metrics: DaemonMetrics | undefined,
): { eventsOn(): void; stop(): void } {
  const onHeal = logHeals(logger, metrics);
  let eventsOn = false;
  const unobserve = controller.observe((e) => {
    if (eventsOn) ctx.events.fromController(e);
    metrics?.observeController(e);
  });
  const unobserveNft = metrics ? observeNftTransactions((t) => metrics.observeNft(t)) : () => {};
  return {
    eventsOn: () => {
      eventsOn = true;
    },
    stop() {
      ctx.events.close();
      unobserve();
      unobserveNft();
      unsubscribe(HEAL_CHANNEL, onHeal);
    },
  };
}
