/**
 * The embedded DNS resolver (Docker's 127.0.0.11): one instance per controller, no process per
 * container or network. The core tells it, synchronously, when an endpoint joins or leaves a
 * sandbox (connect, disconnect, restore); it keeps the names per network (names.ts), each
 * sandbox's scope (the networks it is on) and one listener per sandbox (listener.ts, sockets made
 * inside the sandbox's namespace by src/os/dns-sockets.ts). A query is answered from memory
 * (answer.ts) or forwarded (forwarder.ts). It never imports the core.
 */
import type { DnsSocketFds } from '../../os/dns-sockets.ts';
import { answerQuery, type QueryScope, RCODE, reply, udpLimit } from './answer.ts';
import { Forwarder, type ForwarderOptions, parseUpstream, type Upstream } from './forwarder.ts';
import { SandboxListener } from './listener.ts';
import { type NameRecord, NameTable } from './names.ts';

export interface ResolverOptions extends ForwarderOptions {
  /** Told about socket errors and handler failures (the resolver carries on). */
  onError?: (err: unknown) => void;
}

/** One endpoint of a sandbox, as the resolver needs it. */
export interface ResolverEndpoint {
  networkId: string;
  networkName: string;
  /** The endpoint's ID (its key in the network's names). */
  key: string;
  /** An internal network: its containers' other queries do not leave the host. */
  internal: boolean;
  record: NameRecord;
}

interface Member {
  networkId: string;
  key: string;
  internal: boolean;
}

interface SandboxEntry {
  members: Member[];
  upstreams: Upstream[];
  scope: QueryScope;
  listener: SandboxListener | undefined;
  turn: number;
}

export interface ResolverStats {
  queries: number;
  answered: number;
  forwarded: number;
  /** Forwarded queries that got SERVFAIL (no upstream answered, or too many in flight). */
  forwardFailed: number;
  dropped: number;
  sandboxes: number;
  names: number;
}

export class Resolver {
  readonly names = new NameTable();
  readonly forwarder: Forwarder;
  private readonly sandboxes = new Map<string, SandboxEntry>();
  private readonly onError: (err: unknown) => void;
  private readonly counts = { queries: 0, answered: 0, forwarded: 0, forwardFailed: 0, dropped: 0 };
  private closed = false;

  constructor(opts: ResolverOptions = {}) {
    this.forwarder = new Forwarder(opts);
    this.onError = opts.onError ?? (() => {});
  }

  /**
   * An endpoint of sandbox `sandboxId` is joined: its names answer on its network from now on,
   * and the sandbox may resolve that network's names. The sandbox's listener is opened (with
   * `openSockets`, inside its namespace) on its first such endpoint. Synchronous; throws
   * DnsListenerError when the sockets cannot be made (nothing is changed then).
   */
  join(
    sandboxId: string,
    ep: ResolverEndpoint,
    openSockets: () => DnsSocketFds,
    upstreams: readonly string[],
  ): void {
    let sb = this.sandboxes.get(sandboxId);
    if (!sb) {
      const fresh: SandboxEntry = {
        members: [],
        upstreams: [],
        scope: { networks: [], canForward: false },
        listener: undefined,
        turn: 0,
      };
      if (!this.closed)
        fresh.listener = new SandboxListener(openSockets(), (m, p) => this.handle(fresh, m, p), this.onError);
      this.sandboxes.set(sandboxId, fresh);
      sb = fresh;
    }
    this.names.add(ep.networkId, ep.networkName, ep.key, ep.record);
    sb.members = sb.members.filter((m) => m.key !== ep.key);
    sb.members.push({ networkId: ep.networkId, key: ep.key, internal: ep.internal });
    this.setUpstreams(sandboxId, upstreams);
  }

  /** The endpoint `key` leaves the sandbox: its names stop answering; the last one closes the listener. */
  leave(sandboxId: string, networkId: string, key: string): void {
    this.names.remove(networkId, key);
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) return;
    sb.members = sb.members.filter((m) => m.key !== key);
    if (sb.members.length === 0) this.dropSandbox(sandboxId);
    else this.rescope(sb);
  }

  /** The upstreams (addresses, optionally `[addr]:port`) a sandbox's forwarded queries go to. */
  setUpstreams(sandboxId: string, upstreams: readonly string[]): void {
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) return;
    sb.upstreams = upstreams.map(parseUpstream).filter((u): u is Upstream => u !== undefined);
    this.rescope(sb);
  }

  /** Whether a sandbox has a listener (an endpoint on a network with embedded DNS). */
  serves(sandboxId: string): boolean {
    return this.sandboxes.get(sandboxId)?.listener !== undefined;
  }

  /** The sandbox is gone: its listener closes (its names were removed by leave). */
  dropSandbox(sandboxId: string): void {
    const sb = this.sandboxes.get(sandboxId);
    if (!sb) return;
    this.sandboxes.delete(sandboxId);
    for (const m of sb.members) this.names.remove(m.networkId, m.key);
    sb.listener?.close();
  }

  private rescope(sb: SandboxEntry): void {
    const networks = [...new Set(sb.members.map((m) => m.networkId))];
    const external = sb.members.some((m) => !m.internal);
    sb.scope = { networks, canForward: external && sb.upstreams.length > 0 };
  }

  private handle(
    sb: SandboxEntry,
    msg: Buffer,
    proto: 'udp' | 'tcp',
  ): Buffer | undefined | Promise<Buffer | undefined> {
    this.counts.queries++;
    sb.turn = (sb.turn + 1) & 0xffff;
    const out = answerQuery(msg, sb.scope, this.names, { proto, turn: sb.turn });
    if (out.kind === 'drop') {
      this.counts.dropped++;
      return undefined;
    }
    if (out.kind === 'reply') {
      this.counts.answered++;
      return out.packet;
    }
    this.counts.forwarded++;
    const q = out.query;
    return this.forwarder.forward(msg, sb.upstreams, proto).then((r) => {
      if (r instanceof Buffer) return r;
      this.counts.forwardFailed++;
      return reply(q, RCODE.SERVFAIL, [], proto === 'udp' ? udpLimit(q) : 65535, false);
    });
  }

  stats(): ResolverStats {
    return { ...this.counts, sandboxes: this.sandboxes.size, names: this.names.size };
  }

  /** Closes every listener and gives up forwarded queries. The names stay (nothing serves them). */
  close(): void {
    this.closed = true;
    for (const sb of this.sandboxes.values()) sb.listener?.close();
    this.sandboxes.clear();
    this.forwarder.close();
  }
}
