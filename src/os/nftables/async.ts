/**
 * Transactions off the event loop: applyNftAsync hands the batch to the kernel worker thread
 * (src/os/kernel-worker), which applies it with applyNft there, with its own host-namespace
 * libnftables context or a throwaway context made inside `netns` for the call. A transaction
 * waits for the kernel's commit (and libnftables' cache fetches), ~0.3–1 ms each, during which
 * the main thread now serves other requests.
 *
 * Same contract as applyNft: one atomic transaction; NftablesError (rebuilt on this thread) and
 * nothing applied on error. Transactions from one caller run in the order they were asked for
 * (the worker runs its calls one at a time, in arrival order). The worker's context keeps its
 * socket below FD_SETSIZE as the main thread's does (low-fds.ts runs in the worker: it holds
 * low numbers of its own, fds being process-wide). Observers (observeNftTransactions) are told
 * here, on the main thread; `seconds` then includes the wait in the worker's queue.
 */
import { performance } from 'node:perf_hooks';
import { kernelWorker } from '../kernel-worker/index.ts';
import type { NetnsRef } from '../netns/index.ts';
import { type NftInput, nftObserved, notify } from './apply.ts';
import { NftPlan } from './plan.ts';

/** applyNft on the kernel worker: one atomic transaction, in the host namespace or inside `netns`. */
export async function applyNftAsync(input: NftInput, opts: { netns?: NetnsRef } = {}): Promise<void> {
  const batch = input instanceof NftPlan ? input.toJSON() : input;
  const commands = batch.nftables.length;
  if (commands === 0) return;
  if (!nftObserved()) return kernelWorker().nftApply(batch, opts.netns);
  const started = performance.now();
  let ok = false;
  try {
    await kernelWorker().nftApply(batch, opts.netns);
    ok = true;
  } finally {
    notify({ commands, seconds: (performance.now() - started) / 1000, ok });
  }
}
