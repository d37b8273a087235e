/**
 * The resolver's worker thread: it owns every sandbox's sockets (descriptors opened by the
 * controller's thread inside the sandbox's namespace, adopted here), the name table and the
 * forwarder, and answers queries on its own event loop, so an answer never waits for the
 * controller's work (netlink, nftables, link deletes during churn).
 *
 * The controller's thread posts ResolverOps (`{ seq, op }`); each is applied in order and
 * acknowledged (`{ ack: seq }`), which is what lets connect and disconnect return only once their
 * names answer or have stopped answering. Counters are written to shared memory (COUNTERS).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { answerQuery, RCODE, reply, udpLimit } from './answer.ts';
import { Forwarder } from './forwarder.ts';
import { SandboxListener } from './listener.ts';
import { COUNTERS, type FromWorker, type ResolverWorkerData, type ToWorker } from './messages.ts';
import { type ResolverOp, ResolverState, type SandboxState } from './state.ts';

const port = parentPort;
if (!port) throw new Error('src/dns/resolver/worker.ts runs as a worker thread (the Resolver starts it)');
const data = workerData as ResolverWorkerData;
const counts = new Float64Array(data.counts);
const forwarder = new Forwarder(data.forwarder);
const state = new ResolverState();
const listeners = new Map<SandboxState, SandboxListener>();
const bump = (slot: number) => {
  counts[slot] = (counts[slot] ?? 0) + 1;
};
const report = (err: unknown) =>
  port.postMessage({ error: err instanceof Error ? err.message : String(err) } satisfies FromWorker);

function handle(
  sb: SandboxState,
  msg: Buffer,
  proto: 'udp' | 'tcp',
): Buffer | undefined | Promise<Buffer | undefined> {
  bump(COUNTERS.queries);
  sb.turn = (sb.turn + 1) & 0xffff;
  const out = answerQuery(msg, sb.scope, state.names, { proto, turn: sb.turn });
  if (out.kind === 'drop') {
    bump(COUNTERS.dropped);
    return undefined;
  }
  if (out.kind === 'reply') {
    bump(COUNTERS.answered);
    return out.packet;
  }
  bump(COUNTERS.forwarded);
  const q = out.query;
  return forwarder.forward(msg, sb.upstreams, proto).then((r) => {
    if (r instanceof Buffer) return r;
    bump(COUNTERS.forwardFailed);
    return reply(q, RCODE.SERVFAIL, [], proto === 'udp' ? udpLimit(q) : 65535, false);
  });
}

function apply(op: ResolverOp): void {
  const { created, removed } = state.apply(op);
  if (created && op.op === 'join' && op.fds) {
    const sb = created;
    try {
      listeners.set(sb, new SandboxListener(op.fds, (m, p) => handle(sb, m, p), report));
    } catch (err) {
      report(err);
    }
  }
  if (removed) {
    listeners.get(removed)?.close();
    listeners.delete(removed);
  }
}

port.on('message', (m: ToWorker) => {
  try {
    apply(m.op);
  } catch (err) {
    report(err);
  }
  port.postMessage({ ack: m.seq } satisfies FromWorker);
});
