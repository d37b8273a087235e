/**
 * Applying plans and reading rulesets back, in-process through libnftables (JSON in, JSON out).
 *
 * Atomicity: libnftables sends all commands of one nft_run_cmd_from_buffer call as one netlink
 * batch (NFNL_MSG_BATCH_BEGIN ... END), which the kernel commits all or nothing. A command that
 * libnftables itself rejects (unknown set, bad type) fails before anything is sent. Either way
 * NftablesError carries libnftables' error text and nothing of the plan is applied.
 *
 * Namespaces: a libnftables context is bound for life to the network namespace it was created
 * in (its netfilter socket is opened by nft_ctx_new; see src/os/ffi/libnftables.ts). Measured
 * here: nft_ctx_new + nft_ctx_free ~25 µs, runInNetns ~9 µs, an element add ~100 µs.
 *   - applyNft/listNft without netns use one shared context, created on first use in the
 *     process's own (host) namespace and kept for the life of the process.
 *   - with netns they create a throwaway context inside that namespace for the one call (no
 *     context outlives its call, so none can keep a deleted namespace alive).
 *   - NftHandle.open({ netns }) keeps a context (and an fd of the namespace) until close(),
 *     for callers that apply many plans to one namespace.
 *   - every context's socket gets an fd number below 1024 (libnftables uses select(); see
 *     low-fds.ts), however many fds the process holds.
 *   - applyNftAsync (async.ts) runs the same call on the kernel worker thread, which has its
 *     own host context and makes its per-namespace contexts there: the event loop keeps turning.
 *
 * libnftables 1.0.6 pitfalls found while writing this (and guarded here or in plan.ts):
 *   - no `destroy` command (1.0.7+).
 *   - maps with concatenated VALUES (`map: ['ipv4_addr', 'inet_service']`) are not understood
 *     by its JSON parser (accepted from 1.1.0): the `map` property is silently ignored, a plain
 *     set is created, and a later `dnat ... map @that` rule SEGFAULTS the process. applyNft
 *     refuses such plans on libnftables < 1.1.0; use one map per value (addr map, port map).
 *   - adding one element to a map with the `interval` flag makes libnftables fetch every
 *     element of that set first (to check overlaps): O(n) per add, ~1.2 ms at 5000 elements
 *     for a concatenated key, ~18 ms for a single-type key. Maps without `interval` stay flat
 *     (~100 µs at any size): keep hot maps interval-free.
 */
import { performance } from 'node:perf_hooks';
import { NftablesError } from '../../errors/index.ts';
import { close, openReadOnly } from '../ffi/libc.ts';
import {
  NFT_CTX_OUTPUT_HANDLE,
  NFT_CTX_OUTPUT_JSON,
  type NftCtxPtr,
  nftCtxFree,
  nftCtxNew,
  nftRun,
  nftSetOutputFlags,
} from '../ffi/libnftables.ts';
import { hostNetnsFd, type NetnsRef, runInNetns } from '../netns/index.ts';
import { holdLowFds, withLowFds } from './low-fds.ts';
import type { NftSetDef } from './plan.ts';
import { NftPlan } from './plan.ts';
import type {
  NftBatch,
  NftChainObj,
  NftExpr,
  NftFamily,
  NftKeyType,
  NftListedStmt,
  NftListTarget,
  NftSetFlag,
  NftTableObj,
} from './types.ts';

/** Listings carry handles; transactions print nothing, and asking for handles costs ~60 µs each. */
const FLAGS = NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE;
const APPLY_FLAGS = NFT_CTX_OUTPUT_JSON;

export interface NftListedTable extends NftTableObj {
  handle: number;
}

export interface NftListedChain extends NftChainObj {
  handle: number;
}

export interface NftListedRule {
  family: NftFamily;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  expr: NftListedStmt[];
}

export interface NftListedSet {
  family: NftFamily;
  table: string;
  name: string;
  handle: number;
  type: NftKeyType;
  /** Maps only: the value type as printed (1.0.6 prints a concatenation as 'a . b'). */
  map?: string | string[];
  flags?: NftSetFlag[];
  timeout?: number;
  size?: number;
  /** Elements as libnftables prints them: keys, or [key, value] pairs for maps. */
  elem?: NftExpr[];
}

/** A parsed `list` answer, by object kind, in libnftables' order. */
export interface NftRuleset {
  /** The libnftables version (from the listing's metainfo). */
  version: string | undefined;
  tables: NftListedTable[];
  chains: NftListedChain[];
  rules: NftListedRule[];
  sets: NftListedSet[];
  maps: NftListedSet[];
  /** Objects of other kinds (counters, quotas, flowtables...), as printed. */
  other: Record<string, unknown>[];
}

export type NftInput = NftPlan | NftBatch;

/** One applied transaction, for an observer (the daemon's metrics). */
export interface NftTransaction {
  /** Commands in the batch. */
  commands: number;
  /** Wall time of the libnftables call (namespace switch included). */
  seconds: number;
  ok: boolean;
}

const observers = new Set<(t: NftTransaction) => void>();

/**
 * Calls `fn` after each transaction applied in this process (host or any namespace); returns the
 * function that stops it. Without observers a transaction reads no clock and allocates nothing
 * more. `fn` runs inside the caller's synchronous call: it must be quick and must not throw.
 */
export function observeNftTransactions(fn: (t: NftTransaction) => void): () => void {
  observers.add(fn);
  return () => void observers.delete(fn);
}

/** Whether anyone observes transactions (applyNftAsync reads no clock otherwise). @internal */
export function nftObserved(): boolean {
  return observers.size > 0;
}

/** Tells the observers about one transaction (also one run on the kernel worker). @internal */
export function notify(t: NftTransaction): void {
  for (const fn of observers) {
    try {
      fn(t);
    } catch (err) {
      process.emitWarning(`an nftables transaction observer failed: ${String(err)}`);
    }
  }
}

/** libnftables' error text without its useless `internal:0:0-0: ` locations and blank lines. */
function cleanError(err: string): string {
  return err
    .split('\n')
    .map((l) => l.replace(/^internal:0:0-0: /, '').trimEnd())
    .filter((l) => l.length > 0)
    .join('; ');
}

function batchOf(input: NftInput): NftBatch {
  return input instanceof NftPlan ? input.toJSON() : input;
}

/** Does the batch create a map whose values are a concatenation? (see the header) */
function hasConcatMapData(batch: NftBatch): boolean {
  return batch.nftables.some((c) => {
    const o = 'add' in c ? c.add : 'create' in c ? c.create : undefined;
    return o !== undefined && 'map' in o && Array.isArray(o.map.map);
  });
}

let version: string | undefined;

function versionAtLeast(v: string, min: readonly number[]): boolean {
  const parts = v.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < min.length; i++) {
    const a = parts[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

function parseRuleset(out: string, op: string): NftRuleset {
  const rs: NftRuleset = {
    version: undefined,
    tables: [],
    chains: [],
    rules: [],
    sets: [],
    maps: [],
    other: [],
  };
  if (out.trim() === '') return rs;
  let doc: { nftables?: Record<string, unknown>[] };
  try {
    doc = JSON.parse(out) as { nftables?: Record<string, unknown>[] };
  } catch (err) {
    throw new NftablesError(op, `libnftables printed something that is not JSON: ${(err as Error).message}`);
  }
  for (const o of doc.nftables ?? []) {
    if ('metainfo' in o) rs.version = (o.metainfo as { version?: string }).version;
    else if ('table' in o) rs.tables.push(o.table as NftListedTable);
    else if ('chain' in o) rs.chains.push(o.chain as NftListedChain);
    else if ('rule' in o) rs.rules.push(o.rule as NftListedRule);
    else if ('set' in o) rs.sets.push(o.set as NftListedSet);
    else if ('map' in o) rs.maps.push(o.map as NftListedSet);
    else rs.other.push(o);
  }
  return rs;
}

/** A libnftables context bound to one network namespace. Close it when done. */
export class NftHandle {
  private ctx: NftCtxPtr | undefined;

  private constructor(
    ctx: NftCtxPtr,
    /** An fd of the namespace to run commands in, or -1: run in the caller's namespace. */
    private nsFd: number,
  ) {
    this.ctx = ctx;
  }

  /**
   * Opens a context in the current namespace, or inside `netns`. A handle opened with netns
   * also runs each command inside it, so the lookups libnftables does lazily (interface
   * names in `meta iif "eth0"`) see the right interfaces; that switch costs ~5 µs.
   */
  static open(opts: { netns?: NetnsRef } = {}): NftHandle {
    if (!opts.netns)
      return new NftHandle(
        withLowFds(() => nftCtxNew(FLAGS)),
        -1,
      );
    return runInNetns(opts.netns, () => {
      const fd = openReadOnly('/proc/thread-self/ns/net');
      try {
        return new NftHandle(
          withLowFds(() => nftCtxNew(FLAGS)),
          fd,
        );
      } catch (err) {
        close(fd);
        throw err;
      }
    });
  }

  private flags = FLAGS;

  private run(op: string, buf: string, flags = FLAGS): string {
    const ctx = this.ctx;
    if (!ctx) throw new NftablesError(op, 'this nftables handle is closed');
    if (flags !== this.flags) {
      nftSetOutputFlags(ctx, flags);
      this.flags = flags;
    }
    const r = this.nsFd >= 0 ? runInNetns({ fd: this.nsFd }, () => nftRun(ctx, buf)) : nftRun(ctx, buf);
    if (r.rc !== 0) throw new NftablesError(op, cleanError(r.err));
    return r.out;
  }

  /** The libnftables version (asked once per process, from a listing's metainfo). */
  version(): string {
    version ??= this.list({ tables: null }).version ?? '0';
    return version;
  }

  /** Applies a plan as one atomic transaction; throws NftablesError (and applies nothing) on error. */
  apply(input: NftInput): void {
    const batch = batchOf(input);
    if (batch.nftables.length === 0) return;
    if (hasConcatMapData(batch) && !versionAtLeast(this.version(), [1, 1, 0])) {
      throw new NftablesError(
        'apply',
        `maps with concatenated values need libnftables >= 1.1.0 (this is ${this.version()}, whose JSON ` +
          'parser would create a set instead): use one map per value',
      );
    }
    const commands = batch.nftables.length;
    if (observers.size === 0) {
      this.run(`apply (${commands} commands)`, JSON.stringify(batch), APPLY_FLAGS);
      return;
    }
    const started = performance.now();
    let ok = false;
    try {
      this.run(`apply (${commands} commands)`, JSON.stringify(batch), APPLY_FLAGS);
      ok = true;
    } finally {
      notify({ commands, seconds: (performance.now() - started) / 1000, ok });
    }
  }

  /** Lists a table, chain, set, map, the table names, or the whole ruleset. */
  list(target: NftListTarget): NftRuleset {
    const op = `list ${Object.keys(target)[0] ?? ''}`;
    return parseRuleset(this.run(op, JSON.stringify({ nftables: [{ list: target }] })), op);
  }

  /** The elements of a set or map, as libnftables prints them (keys, or [key, value] pairs). */
  elements(def: Pick<NftSetDef, 'kind' | 'family' | 'table' | 'name'>): NftExpr[] {
    const ref = { family: def.family, table: def.table, name: def.name };
    const rs = this.list(def.kind === 'map' ? { map: ref } : { set: ref });
    const s = def.kind === 'map' ? rs.maps[0] : rs.sets[0];
    return s?.elem ?? [];
  }

  /** Frees the context (closes its netfilter socket). Idempotent. */
  close(): void {
    if (this.ctx) nftCtxFree(this.ctx);
    this.ctx = undefined;
    if (this.nsFd >= 0) close(this.nsFd);
    this.nsFd = -1;
    // The context's socket number is free again: held for the next context (low-fds.ts).
    holdLowFds();
  }
}

let host: NftHandle | undefined;

/** The shared context of the process's own namespace (created there on first use). */
function hostHandle(): NftHandle {
  host ??= runInNetns({ fd: hostNetnsFd() }, () => NftHandle.open());
  return host;
}

/** Runs fn with a handle for `netns`: the shared host one, or a throwaway one inside netns. */
function withHandle<T>(netns: NetnsRef | undefined, fn: (h: NftHandle) => T): T {
  if (!netns) return fn(hostHandle());
  return runInNetns(netns, () => {
    const h = NftHandle.open();
    try {
      return fn(h);
    } finally {
      h.close();
    }
  });
}

/**
 * Applies a plan as ONE atomic transaction, in the host namespace or inside `netns`.
 * Throws NftablesError with libnftables' message; then nothing of the plan was applied.
 */
export function applyNft(input: NftInput, opts: { netns?: NetnsRef } = {}): void {
  withHandle(opts.netns, (h) => h.apply(input));
}

/** Lists (JSON, parsed) a table, chain, set, map, the tables, or the whole ruleset. */
export function listNft(target: NftListTarget, opts: { netns?: NetnsRef } = {}): NftRuleset {
  return withHandle(opts.netns, (h) => h.list(target));
}

/** The elements of a set or map (see NftHandle.elements). */
export function nftElements(
  def: Pick<NftSetDef, 'kind' | 'family' | 'table' | 'name'>,
  opts: { netns?: NetnsRef } = {},
): NftExpr[] {
  return withHandle(opts.netns, (h) => h.elements(def));
}

/** The version of the loaded libnftables ('1.0.6'). */
export function libnftablesVersion(): string {
  return hostHandle().version();
}
