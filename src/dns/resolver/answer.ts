/**
 * What the embedded resolver does with one query: pure (bytes in, an outcome out), so every rule
 * is tested without sockets. The codec is `dns-packet`.
 *
 * - A, AAAA (and ANY) for a name on one of the client's networks: every address, rotated on each
 *   answer (round robin), TTL 600 as Docker's. A name known without an address of the asked
 *   family: NOERROR with no answer (NODATA). Other types for a known name: NODATA.
 * - `name.network` for one of the client's networks is looked up on that network only, and is
 *   NXDOMAIN when the network has no such name (the resolver owns those names, as Docker's).
 * - PTR for an address of an endpoint on one of the client's networks: `<name>.<network>`.
 * - Everything else is forwarded (when the client may reach upstreams: see QueryScope); when it
 *   may not, single-label names are NXDOMAIN and other names SERVFAIL.
 * - Bad input: fewer than 12 bytes or a response is dropped; an undecodable message or one
 *   without exactly one question is FORMERR; an opcode other than QUERY is NOTIMP.
 * - Over UDP the answer fits the client's limit (512 bytes, or its EDNS size up to 4096): answers
 *   that do not fit are left out and TC is set, so the client asks again over TCP.
 */
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question } from 'dns-packet';
import { parseIp } from '../../ip/index.ts';
import { type NameHit, type NameTable, normaliseName, type QueryScope } from './names.ts';

export type { QueryScope } from './names.ts';

/** Docker's TTL for the names it answers (libnetwork resolver respTTL). */
export const RESPONSE_TTL = 600;
/** The UDP size we accept from EDNS clients (and advertise): DNS flag day 2020's value. */
export const EDNS_UDP_SIZE = 1232;
/** The UDP answer size without EDNS (RFC 1035). */
export const CLASSIC_UDP_SIZE = 512;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const QR = 0x8000;
const AA = dnsPacket.AUTHORITATIVE_ANSWER;
const TC = dnsPacket.TRUNCATED_RESPONSE;
const RD = dnsPacket.RECURSION_DESIRED;
const RA = dnsPacket.RECURSION_AVAILABLE;

export type Outcome =
  | { kind: 'reply'; packet: Buffer }
  /** Forward the query's bytes; `query` builds the error reply if forwarding fails. */
  | { kind: 'forward'; query: DecodedPacket }
  | { kind: 'drop' };

/** A header-only reply to an undecodable message: its ID, opcode and RD echoed, `rcode` set. */
export function headerReply(msg: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  msg.copy(out, 0, 0, 2);
  const flags = msg.readUInt16BE(2);
  out.writeUInt16BE(QR | (flags & 0x7800) | (flags & RD) | RA | rcode, 2);
  return out;
}

function optOf(p: DecodedPacket): { udpPayloadSize: number } | undefined {
  const opt = p.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  return opt ? { udpPayloadSize: opt.udpPayloadSize ?? CLASSIC_UDP_SIZE } : undefined;
}

/** The largest UDP answer the client takes. */
export function udpLimit(p: DecodedPacket): number {
  const opt = optOf(p);
  if (!opt) return CLASSIC_UDP_SIZE;
  return Math.max(CLASSIC_UDP_SIZE, Math.min(opt.udpPayloadSize, 4096));
}

/** Encodes a reply to `q` with `rcode` and `answers`, fitted to `limit` bytes (TC when cut). */
export function reply(
  q: DecodedPacket,
  rcode: number,
  answers: Answer[] = [],
  limit = 65535,
  authoritative = true,
): Buffer {
  const edns = optOf(q) !== undefined;
  const packet: Packet = {
    type: 'response',
    id: q.id ?? 0,
    flags: (authoritative ? AA : 0) | ((q.flags ?? 0) & RD) | RA | rcode,
    questions: (q.questions ?? []).slice(0, 1),
    answers,
    ...(edns
      ? {
          additionals: [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: EDNS_UDP_SIZE,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
        }
      : {}),
  };
  let buf = dnsPacket.encode(packet);
  if (buf.length <= limit) return buf;
  // Truncate (RFC 2181 9): keep what fits, set TC; the client retries over TCP.
  const kept = [...answers];
  while (kept.length > 0 && buf.length > limit) {
    kept.pop();
    buf = dnsPacket.encode({ ...packet, answers: kept, flags: (packet.flags ?? 0) | TC });
  }
  if (buf.length > limit)
    buf = dnsPacket.encode({ ...packet, answers: [], additionals: [], flags: (packet.flags ?? 0) | TC });
  return buf;
}

/** The address a reverse name (`d.c.b.a.in-addr.arpa`, nibbles `.ip6.arpa`) stands for. */
export function addressOfReverseName(name: string): string | undefined {
  const n = normaliseName(name);
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255))
      return undefined;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const hex = nibbles.reverse().join('');
    const ip = parseIp(hex.match(/.{4}/g)?.join(':'));
    return typeof ip === 'string' ? undefined : ip.text;
  }
  return undefined;
}

type Found = { hit: NameHit } | 'nxdomain' | undefined;

/**
 * A name on the client's networks: itself on each network in join order, then `prefix.suffix`
 * where `suffix` is one of the networks' names (as Docker: `db.mynet`).
 */
export function findName(name: string, scope: QueryScope, table: NameTable): Found {
  const n = normaliseName(name);
  for (const id of scope.networks) {
    const hit = table.lookup(id, n);
    if (hit) return { hit };
  }
  let owned = false;
  const labels = n.split('.');
  for (let i = 1; i < labels.length; i++) {
    const prefix = labels.slice(0, i).join('.');
    const suffix = labels.slice(i).join('.');
    for (const id of scope.networks) {
      if (table.networkName(id)?.toLowerCase() !== suffix) continue;
      owned = true;
      const hit = table.lookup(id, prefix);
      if (hit) return { hit };
    }
  }
  return owned ? 'nxdomain' : undefined;
}

function rotate<T>(xs: T[], by: number): T[] {
  if (xs.length < 2) return xs;
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

function addressAnswers(q: Question, hit: NameHit, turn: number): Answer[] {
  const out: Answer[] = [];
  const want4 = q.type === 'A' || (q.type as string) === 'ANY';
  const want6 = q.type === 'AAAA' || (q.type as string) === 'ANY';
  if (want4)
    for (const a of rotate(hit.v4, turn)) out.push({ type: 'A', name: q.name, ttl: RESPONSE_TTL, data: a });
  if (want6)
    for (const a of rotate(hit.v6, turn))
      out.push({ type: 'AAAA', name: q.name, ttl: RESPONSE_TTL, data: a });
  return out;
}

function notHere(q: DecodedPacket, question: Question, scope: QueryScope, limit: number): Outcome {
  if (scope.canForward) return { kind: 'forward', query: q };
  const single = !normaliseName(question.name).includes('.');
  return { kind: 'reply', packet: reply(q, single ? RCODE.NXDOMAIN : RCODE.SERVFAIL, [], limit, single) };
}

/**
 * The outcome of one query message from a client in `scope`. `proto` sets the size limit;
 * `turn` rotates multi-address answers (the caller counts queries).
 */
export function answerQuery(
  msg: Buffer,
  scope: QueryScope,
  table: NameTable,
  opts: { proto: 'udp' | 'tcp'; turn?: number },
): Outcome {
  if (msg.length < 12) return { kind: 'drop' };
  if (msg.readUInt16BE(2) & QR) return { kind: 'drop' }; // a response: never answer one
  let q: DecodedPacket;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    return { kind: 'reply', packet: headerReply(msg, RCODE.FORMERR) };
  }
  const opcode = (msg.readUInt16BE(2) >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'reply', packet: headerReply(msg, RCODE.NOTIMP) };
  const question = q.questions?.[0];
  if (!question || q.questions?.length !== 1)
    return { kind: 'reply', packet: headerReply(msg, RCODE.FORMERR) };
  const limit = opts.proto === 'udp' ? udpLimit(q) : 65535;
  if ((question.class ?? 'IN') !== 'IN') return notHere(q, question, scope, limit);
  const type = question.type as string;
  if (type === 'PTR') {
    const ip = addressOfReverseName(question.name);
    if (ip !== undefined) {
      for (const id of scope.networks) {
        const ptr = table.reverse(id, ip);
        if (ptr !== undefined) {
          const ans: Answer = { type: 'PTR', name: question.name, ttl: RESPONSE_TTL, data: `${ptr}.` };
          return { kind: 'reply', packet: reply(q, RCODE.NOERROR, [ans], limit) };
        }
      }
    }
    return notHere(q, question, scope, limit);
  }
  const found = findName(question.name, scope, table);
  if (found === 'nxdomain') return { kind: 'reply', packet: reply(q, RCODE.NXDOMAIN, [], limit) };
  if (found === undefined) return notHere(q, question, scope, limit);
  const answers =
    type === 'A' || type === 'AAAA' || type === 'ANY'
      ? addressAnswers(question, found.hit, opts.turn ?? 0)
      : [];
  return { kind: 'reply', packet: reply(q, RCODE.NOERROR, answers, limit) };
}
