/**
 * nf_tables over netlink (linux/netfilter/nf_tables.h, linux/netfilter/nfnetlink.h): just what
 * dnet needs to notice changes to its own tables without libnftables: the notifications of the
 * NFNLGRP_NFTABLES multicast group, the ruleset generation (NFT_MSG_GETGEN) and a rule dump of
 * one table (NFT_MSG_GETRULE). Rules themselves are still written by libnftables (JSON).
 *
 * Messages are `nlmsghdr` + `nfgenmsg` (family u8, version u8, res_id be16) + attributes; the
 * message type is (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_*. nf_tables' integer attributes are big
 * endian. Every object notification (table, chain, rule, set, element) carries its table's name
 * as attribute 1; a transaction's notifications end with one NFT_MSG_NEWGEN naming the process
 * (pid and comm) that committed it.
 */
import { NetlinkDecodeError } from '../../../errors/index.ts';
import { Attrs } from './attrs.ts';
import { NLM_F } from './constants.ts';
import type { NlMessage } from './message.ts';
import { MessageWriter } from './writer.ts';

/** The netlink protocol of netfilter (socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER)). */
export const NETLINK_NETFILTER = 12;
/** The multicast group of nf_tables' change notifications. */
export const NFNLGRP_NFTABLES = 7;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNETLINK_V0 = 0;
export const NFGENMSG_LEN = 4;

export const NFT_MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  DELCHAIN: 5,
  NEWRULE: 6,
  GETRULE: 7,
  DELRULE: 8,
  NEWSET: 9,
  GETSET: 10,
  DELSET: 11,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  DELSETELEM: 14,
  NEWGEN: 15,
  GETGEN: 16,
  TRACE: 17,
  NEWOBJ: 18,
  GETOBJ: 19,
  DELOBJ: 20,
  GETOBJ_RESET: 21,
  NEWFLOWTABLE: 22,
  GETFLOWTABLE: 23,
  DELFLOWTABLE: 24,
  GETRULE_RESET: 25,
  DESTROYTABLE: 26,
  DESTROYCHAIN: 27,
  DESTROYRULE: 28,
  DESTROYSET: 29,
  DESTROYSETELEM: 30,
  DESTROYOBJ: 31,
  DESTROYFLOWTABLE: 32,
} as const;

/** nf_tables families (NFPROTO_*), as in `nft list table <family> <name>`. */
export const NFPROTO = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 } as const;
export type NftNetlinkFamily = keyof typeof NFPROTO;

/** NFTA_GEN_*: attributes of NFT_MSG_NEWGEN. */
export const NFTA_GEN = { ID: 1, PROC_PID: 2, PROC_NAME: 3 } as const;
/** The table's name is attribute 1 of every object message (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE...). */
export const NFTA_OBJECT_TABLE = 1;
/** NFTA_RULE_CHAIN. */
export const NFTA_RULE_CHAIN = 2;

/** The netlink message type of an nf_tables message. */
export const nftMsgType = (msg: number): number => (NFNL_SUBSYS_NFTABLES << 8) | msg;

export type NftObjectKind = 'table' | 'chain' | 'rule' | 'set' | 'element' | 'object' | 'flowtable';

/** One notification of the NFNLGRP_NFTABLES group. */
export type NftEvent =
  | {
      kind: 'change';
      op: 'new' | 'del';
      object: NftObjectKind;
      /** The family's name, or its number when it is not one nftables names. */
      family: NftNetlinkFamily | number;
      /** Absent only on a message without its table attribute (none the kernel sends). */
      table?: string;
    }
  | {
      kind: 'gen';
      /** The new ruleset generation. */
      id: number;
      /** The process that committed the transaction (NFTA_GEN_PROC_PID; absent from old kernels). */
      pid?: number;
      procName?: string;
    };

const CHANGES: Record<number, { op: 'new' | 'del'; object: NftObjectKind }> = {
  [NFT_MSG.NEWTABLE]: { op: 'new', object: 'table' },
  [NFT_MSG.DELTABLE]: { op: 'del', object: 'table' },
  [NFT_MSG.DESTROYTABLE]: { op: 'del', object: 'table' },
  [NFT_MSG.NEWCHAIN]: { op: 'new', object: 'chain' },
  [NFT_MSG.DELCHAIN]: { op: 'del', object: 'chain' },
  [NFT_MSG.DESTROYCHAIN]: { op: 'del', object: 'chain' },
  [NFT_MSG.NEWRULE]: { op: 'new', object: 'rule' },
  [NFT_MSG.DELRULE]: { op: 'del', object: 'rule' },
  [NFT_MSG.DESTROYRULE]: { op: 'del', object: 'rule' },
  [NFT_MSG.NEWSET]: { op: 'new', object: 'set' },
  [NFT_MSG.DELSET]: { op: 'del', object: 'set' },
  [NFT_MSG.DESTROYSET]: { op: 'del', object: 'set' },
  [NFT_MSG.NEWSETELEM]: { op: 'new', object: 'element' },
  [NFT_MSG.DELSETELEM]: { op: 'del', object: 'element' },
  [NFT_MSG.DESTROYSETELEM]: { op: 'del', object: 'element' },
  [NFT_MSG.NEWOBJ]: { op: 'new', object: 'object' },
  [NFT_MSG.DELOBJ]: { op: 'del', object: 'object' },
  [NFT_MSG.DESTROYOBJ]: { op: 'del', object: 'object' },
  [NFT_MSG.NEWFLOWTABLE]: { op: 'new', object: 'flowtable' },
  [NFT_MSG.DELFLOWTABLE]: { op: 'del', object: 'flowtable' },
  [NFT_MSG.DESTROYFLOWTABLE]: { op: 'del', object: 'flowtable' },
};

function familyName(n: number): NftNetlinkFamily | number {
  const e = Object.entries(NFPROTO).find(([, v]) => v === n);
  return e ? (e[0] as NftNetlinkFamily) : n;
}

function writeNfgen(w: MessageWriter, family: number): void {
  const h = w.header(NFGENMSG_LEN);
  h.writeUInt8(family, 0);
  h.writeUInt8(NFNETLINK_V0, 1);
  h.writeUInt16BE(0, 2);
}

function body(m: NlMessage, where: string): { family: number; attrs: Attrs } {
  if (m.payload.length < NFGENMSG_LEN) {
    throw new NetlinkDecodeError(`${where}: ${m.payload.length} bytes, shorter than nfgenmsg`);
  }
  return { family: m.payload.readUInt8(0), attrs: Attrs.parse(m.payload.subarray(NFGENMSG_LEN), where) };
}

/**
 * Decodes one message of the NFNLGRP_NFTABLES group; undefined for messages of other
 * subsystems or kinds dnet does not look at (traces, GET replies).
 */
export function decodeNftEvent(m: NlMessage): NftEvent | undefined {
  if (m.type >> 8 !== NFNL_SUBSYS_NFTABLES) return undefined;
  const msg = m.type & 0xff;
  if (msg === NFT_MSG.NEWGEN) {
    const { attrs } = body(m, 'NFT_MSG_NEWGEN');
    const id = attrs.be32(NFTA_GEN.ID, 'NFTA_GEN_ID');
    if (id === undefined) throw new NetlinkDecodeError('NFT_MSG_NEWGEN without NFTA_GEN_ID');
    const ev: NftEvent = { kind: 'gen', id };
    const pid = attrs.be32(NFTA_GEN.PROC_PID, 'NFTA_GEN_PROC_PID');
    if (pid !== undefined) ev.pid = pid;
    const name = attrs.str(NFTA_GEN.PROC_NAME);
    if (name !== undefined) ev.procName = name;
    return ev;
  }
  const change = CHANGES[msg];
  if (!change) return undefined;
  const { family, attrs } = body(m, `nf_tables message ${msg}`);
  const ev: NftEvent = { kind: 'change', ...change, family: familyName(family) };
  const table = attrs.str(NFTA_OBJECT_TABLE);
  if (table !== undefined) ev.table = table;
  return ev;
}

/** NFT_MSG_GETGEN: the ruleset's current generation (answered by one NFT_MSG_NEWGEN). */
export function encodeNftGetGen(): MessageWriter {
  const w = new MessageWriter(nftMsgType(NFT_MSG.GETGEN), NLM_F.REQUEST);
  writeNfgen(w, 0);
  return w;
}

/** NFT_MSG_GETRULE dump of one table. Equivalent to: `nft list table <family> <table>` (rules only). */
export function encodeNftRuleDump(family: NftNetlinkFamily, table: string): MessageWriter {
  const w = new MessageWriter(nftMsgType(NFT_MSG.GETRULE), NLM_F.REQUEST | NLM_F.DUMP);
  writeNfgen(w, NFPROTO[family]);
  w.str(NFTA_OBJECT_TABLE, table);
  return w;
}

/** A rule of a GETRULE dump: where it is (its expressions are not decoded). */
export interface NftRuleRef {
  family: NftNetlinkFamily | number;
  table: string;
  chain: string;
}

/** Decodes an NFT_MSG_NEWRULE (a dump entry) into its table and chain. */
export function decodeNftRule(m: NlMessage): NftRuleRef {
  const { family, attrs } = body(m, 'NFT_MSG_NEWRULE');
  const table = attrs.str(NFTA_OBJECT_TABLE);
  const chain = attrs.str(NFTA_RULE_CHAIN);
  if (table === undefined || chain === undefined) {
    throw new NetlinkDecodeError('NFT_MSG_NEWRULE without its table or chain');
  }
  return { family: familyName(family), table, chain };
}
