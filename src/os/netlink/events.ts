/**
 * Netlink notifications without blocking the event loop: a socket subscribed to multicast groups,
 * non-blocking (SOCK_NONBLOCK, recv with MSG_DONTWAIT), that the caller drains when it likes (a
 * timer, typically). Nothing waits in the kernel: a drain returns what is queued, at once.
 *
 *   LinkEvents  RTNLGRP_LINK on NETLINK_ROUTE: links made, changed and deleted (`ip monitor link`)
 *   NftEvents   NFNLGRP_NFTABLES on NETLINK_NETFILTER: nf_tables changes, one transaction at a
 *               time, with the process that committed it (`nft monitor`)
 *
 * When the kernel could not queue a notification (the socket's buffer was full) the next drain
 * says `overrun`: the caller must then look at the state itself, events were lost.
 */
import { NetlinkDecodeError, NetlinkError, SyscallError } from '../../errors/index.ts';
import {
  AF_NETLINK,
  bind,
  close,
  NETLINK_ADD_MEMBERSHIP,
  recvNonBlocking,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
  setsockoptInt,
  socket,
} from '../ffi/libc.ts';
import { type NetnsRef, runInNetns } from '../netns/index.ts';
import {
  decodeLink,
  decodeNftEvent,
  decodeNftRule,
  encodeNftGetGen,
  encodeNftRuleDump,
  type Link,
  NETLINK_NETFILTER,
  NFNLGRP_NFTABLES,
  NFT_MSG,
  type NftEvent,
  type NftNetlinkFamily,
  type NftRuleRef,
  type NlMessage,
  nftMsgType,
  parseMessages,
  RTM,
} from './codec/index.ts';
import { NetlinkSocket } from './socket.ts';

const NETLINK_ROUTE = 0;
const RTNLGRP_LINK = 1;
const ENOBUFS = 105;
const ENOENT = 2;
/** Notifications can come in bursts (a `nft flush ruleset` deletes every rule, one message each). */
const RCVBUF = 4 << 20;
const RECV_SIZE = 1 << 18;

/** A non-blocking socket subscribed to some multicast groups of one netlink protocol. */
export class NetlinkSubscription {
  private closed = false;
  private readonly buf = Buffer.alloc(RECV_SIZE);

  private constructor(readonly fd: number) {}

  /** Opens the socket in the current namespace, or inside `netns`, and joins `groups`. */
  static open(opts: { protocol: number; groups: number[]; netns?: NetnsRef }): NetlinkSubscription {
    const make = () => {
      const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, opts.protocol);
      try {
        try {
          setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF); // needs CAP_NET_ADMIN
        } catch {
          setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, RCVBUF); // capped at net.core.rmem_max
        }
        const addr = Buffer.alloc(12);
        addr.writeUInt16LE(AF_NETLINK, 0);
        bind(fd, addr);
        for (const g of opts.groups) setsockoptInt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
        return new NetlinkSubscription(fd);
      } catch (err) {
        close(fd);
        throw err;
      }
    };
    return opts.netns ? runInNetns(opts.netns, make) : make();
  }

  /**
   * Hands every queued message to `onMessage` (the payload is only valid during the call) and
   * returns without waiting. `overrun`: the kernel dropped notifications since the last drain.
   */
  drain(onMessage: (m: NlMessage) => void): { overrun: boolean } {
    let overrun = false;
    if (this.closed) return { overrun };
    for (;;) {
      let n: number;
      try {
        n = recvNonBlocking(this.fd, this.buf);
      } catch (err) {
        if (err instanceof SyscallError && err.errno === ENOBUFS) {
          overrun = true;
          continue;
        }
        throw err;
      }
      if (n < 0) return { overrun };
      for (const m of parseMessages(this.buf.subarray(0, n))) onMessage(m);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }
}

/** A link notification: RTM_NEWLINK (made or changed) or RTM_DELLINK. */
export interface LinkEvent {
  type: 'new' | 'del';
  link: Link;
}

/** Link notifications (`ip monitor link`). */
export class LinkEvents {
  private constructor(private readonly sub: NetlinkSubscription) {}

  static open(opts: { netns?: NetnsRef } = {}): LinkEvents {
    return new LinkEvents(
      NetlinkSubscription.open({ protocol: NETLINK_ROUTE, groups: [RTNLGRP_LINK], ...opts }),
    );
  }

  /** The queued notifications, oldest first; `overrun`: some were lost. */
  drain(): { events: LinkEvent[]; overrun: boolean } {
    const events: LinkEvent[] = [];
    const { overrun } = this.sub.drain((m) => {
      if (m.type !== RTM.NEWLINK && m.type !== RTM.DELLINK) return;
      try {
        events.push({ type: m.type === RTM.NEWLINK ? 'new' : 'del', link: decodeLink(m.payload) });
      } catch (err) {
        if (!(err instanceof NetlinkDecodeError)) throw err;
      }
    });
    return { events, overrun };
  }

  close(): void {
    this.sub.close();
  }
}

/** One committed nf_tables transaction: its changes, then the generation it made. */
export interface NftTransaction {
  changes: Extract<NftEvent, { kind: 'change' }>[];
  /** The generation the transaction made. */
  gen: number;
  /** The process that committed it, when the kernel says (NFTA_GEN_PROC_PID). */
  pid?: number;
  procName?: string;
}

/** nf_tables notifications (`nft monitor`), grouped by transaction. */
export class NftEvents {
  /** Changes of a transaction whose NEWGEN has not been read yet. */
  private pending: NftTransaction['changes'] = [];

  private constructor(private readonly sub: NetlinkSubscription) {}

  static open(opts: { netns?: NetnsRef } = {}): NftEvents {
    return new NftEvents(
      NetlinkSubscription.open({ protocol: NETLINK_NETFILTER, groups: [NFNLGRP_NFTABLES], ...opts }),
    );
  }

  /** The transactions completed since the last drain; `overrun`: notifications were lost. */
  drain(): { transactions: NftTransaction[]; overrun: boolean } {
    const transactions: NftTransaction[] = [];
    const { overrun } = this.sub.drain((m) => {
      let ev: NftEvent | undefined;
      try {
        ev = decodeNftEvent(m);
      } catch (err) {
        if (!(err instanceof NetlinkDecodeError)) throw err;
      }
      if (!ev) return;
      if (ev.kind === 'change') {
        this.pending.push(ev);
        return;
      }
      const t: NftTransaction = { changes: this.pending, gen: ev.id };
      if (ev.pid !== undefined) t.pid = ev.pid;
      if (ev.procName !== undefined) t.procName = ev.procName;
      transactions.push(t);
      this.pending = [];
    });
    if (overrun) this.pending = [];
    return { transactions, overrun };
  }

  close(): void {
    this.sub.close();
  }
}

/**
 * Questions to nf_tables over a plain (blocking, answered at once) NETLINK_NETFILTER socket:
 * cheaper than a libnftables listing, which fetches whole tables with their set elements.
 */
export class NftQuery {
  private constructor(private readonly sock: NetlinkSocket) {}

  static open(opts: { netns?: NetnsRef } = {}): NftQuery {
    const make = () => new NftQuery(new NetlinkSocket({ protocol: NETLINK_NETFILTER }));
    return opts.netns ? runInNetns(opts.netns, make) : make();
  }

  /** The ruleset's generation: it changes with every committed transaction, anyone's. */
  generation(): number {
    const [gen] = this.sock.request(encodeNftGetGen(), 'nft get generation', (m) =>
      m.type === nftMsgType(NFT_MSG.NEWGEN) ? decodeNftEvent(m) : undefined,
    );
    if (gen?.kind !== 'gen') throw new NetlinkDecodeError('nft get generation: no NFT_MSG_NEWGEN answer');
    return gen.id;
  }

  /** The number of rules of each chain of a table (no entry: a chain without rules, or no table). */
  ruleCounts(family: NftNetlinkFamily, table: string): Map<string, number> {
    let rules: (NftRuleRef | undefined)[];
    try {
      rules = this.sock.request(encodeNftRuleDump(family, table), `nft list rules ${family} ${table}`, (m) =>
        m.type === nftMsgType(NFT_MSG.NEWRULE) ? decodeNftRule(m) : undefined,
      );
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENOENT) return new Map(); // no such table
      throw err;
    }
    const counts = new Map<string, number>();
    for (const r of rules) if (r && r.table === table) counts.set(r.chain, (counts.get(r.chain) ?? 0) + 1);
    return counts;
  }

  close(): void {
    this.sock.close();
  }
}
