/**
 * The answer layer (like NSD's `query.c` and `answer.c`): reads a query,
 * decides what to answer from the zone database and writes the response.
 * Pure — no sockets, no clocks — so every rule is testable with bytes.
 *
 * What it decides, with NSD 4 as the reference:
 * - AA on authoritative answers; NXDOMAIN and NODATA with the zone's SOA in
 *   the authority section, TTL min(SOA TTL, SOA MINIMUM) (RFC 2308).
 * - CNAME chains followed through every served zone (at most 8 links,
 *   loops stopped); wildcards per RFC 4592 (closest encloser, synthesized
 *   owner = the query name).
 * - Names at or below a zone cut answered with a referral (AA clear, the
 *   delegation NS in authority, glue in additional); DS at the cut is
 *   answered from the parent side.
 * - Positive answers carry the apex NS in authority and A/AAAA of NS, MX
 *   and SRV targets of the same zone in additional (left out RRset by
 *   RRset when space runs out, without TC).
 * - ANY answered with one RRset (RFC 8482), as NSD does.
 * - REFUSED (with EDE 20) outside the served zones and for class CH;
 *   FORMERR for malformed queries, QDCOUNT ≠ 1, answer/authority records
 *   in a query, a non-zero rcode or a second OPT; NOTIMP for unknown
 *   opcodes and AXFR over UDP; BADVERS for EDNS version > 0.
 * - UDP responses fit the client's EDNS payload size (512 without EDNS,
 *   capped at `maxUdpPayload`): when the answer or authority section does
 *   not fit, TC is set and every section is emptied, as NSD does.
 *
 * @module
 */

import { additionalTarget, COMPRESSIBLE } from "./rdata.ts";
import { findZone, type Node, type RRset, type Zone, type ZoneDb } from "./zone_db.ts";
import {
  CLASS,
  EDE,
  isSubdomain,
  type MessageWriter,
  nameKey,
  nameLength,
  OPCODE,
  parentKey,
  RCODE,
  TYPE,
} from "./wire.ts";

/** Why a message gets no normal answer. */
export const QueryStatus = {
  /** A well-formed query. */
  OK: 0,
  /** Not worth an answer (too short, or a response): dropped. */
  DROP: 1,
  /** Malformed: FORMERR with only the header. */
  FORMERR: 2,
  /** Unknown opcode: NOTIMP with only the header. */
  NOTIMP: 3,
  /** NOTIFY (this server is nobody's secondary): REFUSED with only the header. */
  REFUSED_HEADER: 4,
} as const;

/** A parsed query. Offsets point into the message it was read from. */
export interface Query {
  /** One of {@linkcode QueryStatus}. */
  status: number;
  /** The message the query was read from. */
  message: Uint8Array;
  /** Header flags (16 bits). */
  flags: number;
  /** Query name, wire form, letter case as asked (a view into the message). */
  qname: Uint8Array;
  /** Lookup key of the query name. */
  qkey: string;
  /** Query type. */
  qtype: number;
  /** Query class. */
  qclass: number;
  /** Offset just past the question. */
  questionEnd: number;
  /** An OPT record was present. */
  edns: boolean;
  /** EDNS version asked for. */
  ednsVersion: number;
  /** Requestor's UDP payload size (0 without EDNS). */
  payload: number;
  /** DNSSEC OK bit. */
  dnssecOk: boolean;
}

function emptyQuery(message: Uint8Array, status: number, flags: number): Query {
  return {
    status,
    message,
    flags,
    qname: new Uint8Array(0),
    qkey: "",
    qtype: 0,
    qclass: 0,
    questionEnd: 12,
    edns: false,
    ednsVersion: 0,
    payload: 0,
    dnssecOk: false,
  };
}

/** Reads and validates a query message (`msg[0..length)`), NSD's rules. */
export function parseQuery(msg: Uint8Array, length: number): Query {
  if (length < 12) return emptyQuery(msg, QueryStatus.DROP, 0);
  const flags = (msg[2] << 8) | msg[3];
  if (flags & 0x8000) return emptyQuery(msg, QueryStatus.DROP, flags);
  const opcode = (flags >> 11) & 15;
  if (opcode === OPCODE.NOTIFY) return emptyQuery(msg, QueryStatus.REFUSED_HEADER, flags);
  if (opcode !== OPCODE.QUERY) return emptyQuery(msg, QueryStatus.NOTIMP, flags);
  const qd = (msg[4] << 8) | msg[5];
  const an = (msg[6] << 8) | msg[7];
  const ns = (msg[8] << 8) | msg[9];
  const ar = (msg[10] << 8) | msg[11];
  // NSD clears RD in its FORMERR for several questions only; the other FORMERRs keep it.
  if (qd > 1) return emptyQuery(msg, QueryStatus.FORMERR, flags & ~0x0100);
  const formerr = emptyQuery(msg, QueryStatus.FORMERR, flags);
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1 || (flags & 15) !== 0) return formerr;
  let p = 12;
  for (;;) {
    if (p >= length) return formerr;
    const l = msg[p];
    if (l === 0) break;
    if (l > 63) return formerr; // compression pointers or extended labels have no place here
    p += l + 1;
  }
  const nameEnd = p + 1;
  if (nameEnd - 12 > 255 || nameEnd + 4 > length) return formerr;
  const q: Query = {
    status: QueryStatus.OK,
    message: msg,
    flags,
    qname: msg.subarray(12, nameEnd),
    qkey: nameKey(msg, 12),
    qtype: (msg[nameEnd] << 8) | msg[nameEnd + 1],
    qclass: (msg[nameEnd + 2] << 8) | msg[nameEnd + 3],
    questionEnd: nameEnd + 4,
    edns: false,
    ednsVersion: 0,
    payload: 0,
    dnssecOk: false,
  };
  if (ar === 1) {
    // The only additional record a query may carry here is OPT (no TSIG keys are configured).
    p = q.questionEnd;
    if (p + 11 > length || msg[p] !== 0 || msg[p + 1] !== 0 || msg[p + 2] !== TYPE.OPT) {
      return formerr;
    }
    const rdlen = (msg[p + 9] << 8) | msg[p + 10];
    const end = p + 11 + rdlen;
    if (end > length) return formerr;
    for (let o = p + 11; o < end;) {
      if (o + 4 > end) return formerr;
      o += 4 + ((msg[o + 2] << 8) | msg[o + 3]);
      if (o > end) return formerr;
    }
    q.edns = true;
    q.payload = (msg[p + 3] << 8) | msg[p + 4];
    q.ednsVersion = msg[p + 6];
    q.dnssecOk = (msg[p + 7] & 0x80) !== 0;
  }
  return q;
}

/** One RRset placed in a section, with the owner to write. */
export interface Placed {
  /** Owner name, wire form (the query name for wildcard answers). */
  owner: Uint8Array;
  /** The records. */
  set: RRset;
  /** TTL written for every record instead of theirs (negative answers). */
  ttl?: number;
}

/** Kinds of answers, as response rate limiting groups them (NSD's classes). */
export const AnswerKind = {
  ANSWER: 0,
  NODATA: 1,
  NXDOMAIN: 2,
  REFERRAL: 3,
  WILDCARD: 4,
  ERROR: 5,
} as const;

/** What to answer, before it is written. */
export interface Decision {
  /** Response code (extended codes above 15 go into OPT). */
  rcode: number;
  /** Authoritative answer bit. */
  aa: boolean;
  /** Write the question back. */
  withQuestion: boolean;
  /** Answer section. */
  answer: Placed[];
  /** Authority section. */
  authority: Placed[];
  /** Additional section (without OPT). */
  additional: Placed[];
  /** Extended DNS Error code for the OPT record, if any (RFC 8914). */
  ede?: number;
  /** The zone that answered (the first one of a CNAME chain). */
  zone?: Zone;
  /** One of {@linkcode AnswerKind}. */
  kind: number;
  /** Name the kind is about (qname, wildcard, delegation or zone), for rate limiting. */
  kindName: string;
}

function decision(rcode: number, withQuestion = true): Decision {
  return {
    rcode,
    aa: false,
    withQuestion,
    answer: [],
    authority: [],
    additional: [],
    kind: AnswerKind.ERROR,
    kindName: "",
  };
}

const MAX_CHAIN = 8;
const WILDCARD_LABEL = "\x01*";
/** Names in the `ch` class that NSD answers only when configured to; hidden here. */
const IDENTITY_NAMES = new Set([
  "version.bind.",
  "version.server.",
  "hostname.bind.",
  "id.server.",
]);

/** Where a query came in. */
export interface TransportOptions {
  /** True for TCP (no size limit, zone transfers answered REFUSED). */
  tcp: boolean;
}

/** Decides the answer to a parsed, well-formed query. */
export function decide(db: ZoneDb, q: Query, options: TransportOptions): Decision {
  const { tcp } = options;
  if (q.edns && q.ednsVersion > 0) return decision(RCODE.BADVERS);
  if (q.qclass === CLASS.CH) {
    const d = decision(RCODE.REFUSED);
    const text = keyText(q.qkey);
    d.ede = q.qtype === TYPE.TXT && IDENTITY_NAMES.has(text) ? EDE.PROHIBITED : EDE.NOT_SUPPORTED;
    return d;
  }
  if (q.qclass !== CLASS.IN && q.qclass !== CLASS.ANY) return decision(RCODE.REFUSED, false);
  const zone = findZone(db, q.qkey);
  if (!zone) {
    const d = decision(RCODE.REFUSED);
    d.ede = EDE.NOT_AUTHORITATIVE;
    return d;
  }
  if (zone.servfail) {
    const d = decision(RCODE.SERVFAIL);
    d.zone = zone;
    return d;
  }
  if (q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR) {
    // Zone transfers are not offered. NSD answers AXFR over UDP with NOTIMP and the rest with REFUSED.
    const d = decision(q.qtype === TYPE.AXFR && !tcp ? RCODE.NOTIMP : RCODE.REFUSED);
    d.zone = zone;
    return d;
  }
  const d = decision(RCODE.NOERROR);
  d.aa = true;
  d.zone = zone;
  d.kindName = q.qkey;
  const seen = new Set<string>();
  lookup(db, zone, q.qkey, q.qname, q.qtype, d, 0, seen);
  if (q.qclass === CLASS.ANY) {
    // NSD answers class ANY from its IN data without authority: the data is not authoritative for ANY.
    d.aa = false;
    d.authority = [];
    d.additional = [];
  }
  return d;
}

function keyText(key: string): string {
  let out = "";
  for (let p = 0; key.charCodeAt(p) !== 0; p += key.charCodeAt(p) + 1) {
    out += key.slice(p + 1, p + 1 + key.charCodeAt(p)) + ".";
  }
  return out || ".";
}

function lookup(
  db: ZoneDb,
  zone: Zone,
  key: string,
  wire: Uint8Array,
  qtype: number,
  d: Decision,
  depth: number,
  seen: Set<string>,
): void {
  seen.add(key);
  let node = zone.nodes.get(key);
  let encloser = node;
  for (let k = key; !encloser;) {
    k = parentKey(k)!;
    encloser = zone.nodes.get(k);
  }
  if (encloser.cut && !(node && node.key === encloser.cut && qtype === TYPE.DS)) {
    referral(zone, zone.nodes.get(encloser.cut)!, d, depth);
    return;
  }
  let wildcard = false;
  if (!node) {
    node = zone.nodes.get(WILDCARD_LABEL + encloser.key);
    if (!node) {
      d.rcode = RCODE.NXDOMAIN;
      d.authority.push({ owner: zone.apex, set: zone.soa, ttl: zone.negativeTtl });
      if (depth === 0) {
        d.kind = AnswerKind.NXDOMAIN;
        d.kindName = zone.key;
      }
      return;
    }
    wildcard = true;
    if (depth === 0) {
      d.kind = AnswerKind.WILDCARD;
      d.kindName = node.key;
    }
  }
  if (qtype === TYPE.ANY) {
    const first = node.rrsets.values().next().value;
    if (!first) return nodata(zone, d, depth);
    d.answer.push({ owner: wildcard ? wire : first.owner, set: first });
    addAdditional(db, zone, first, d);
    if (depth === 0 && !wildcard) d.kind = AnswerKind.ANSWER;
    return;
  }
  const cname = node.rrsets.get(TYPE.CNAME);
  if (cname && qtype !== TYPE.CNAME) {
    d.answer.push({ owner: wildcard ? wire : cname.owner, set: cname });
    if (depth === 0 && !wildcard) d.kind = AnswerKind.ANSWER;
    const target = cname.rdatas[0];
    const tkey = nameKey(target);
    if (depth + 1 >= MAX_CHAIN || seen.has(tkey)) return;
    const tzone = findZone(db, tkey);
    if (!tzone) return;
    lookup(db, tzone, tkey, target, qtype, d, depth + 1, seen);
    return;
  }
  const set = node.rrsets.get(qtype);
  if (!set) return nodata(zone, d, depth);
  if (depth === 0 && !wildcard) d.kind = AnswerKind.ANSWER;
  d.answer.push({ owner: wildcard ? wire : set.owner, set });
  addAdditional(db, zone, set, d);
  if (!(qtype === TYPE.NS && node.key === zone.key) && zone.ns) {
    d.authority.push({ owner: zone.apex, set: zone.ns });
    addAdditional(db, zone, zone.ns, d);
  }
}

function nodata(zone: Zone, d: Decision, depth: number): void {
  d.authority.push({ owner: zone.apex, set: zone.soa, ttl: zone.negativeTtl });
  if (depth === 0 && d.kind !== AnswerKind.WILDCARD) d.kind = AnswerKind.NODATA;
}

function referral(zone: Zone, cut: Node, d: Decision, depth: number): void {
  const ns = cut.rrsets.get(TYPE.NS)!;
  if (depth === 0) {
    d.aa = false;
    d.kind = AnswerKind.REFERRAL;
    d.kindName = cut.key;
  }
  d.authority.push({ owner: ns.owner, set: ns });
  for (const rdata of ns.rdatas) {
    const tkey = nameKey(rdata);
    if (!isSubdomain(tkey, zone.key)) continue;
    const t = zone.nodes.get(tkey);
    if (t) addAddresses(t, undefined, d);
  }
}

function addAddresses(node: Node, owner: Uint8Array | undefined, d: Decision): void {
  for (const type of [TYPE.A, TYPE.AAAA]) {
    const s = node.rrsets.get(type);
    if (!s) continue;
    const ownerWire = owner ?? s.owner;
    const k = nameKey(ownerWire);
    const present = (p: Placed) => p.set.type === type && nameKey(p.owner) === k;
    // Records already in the answer are not repeated (as NSD does).
    if (d.additional.some(present) || d.answer.some(present)) continue;
    d.additional.push({ owner: ownerWire, set: s });
  }
}

/** A/AAAA of NS, MX and SRV targets, when the same zone holds them authoritatively. */
function addAdditional(db: ZoneDb, zone: Zone, set: RRset, d: Decision): void {
  if (set.type !== TYPE.NS && set.type !== TYPE.MX && set.type !== TYPE.SRV) return;
  for (const rdata of set.rdatas) {
    const target = additionalTarget(set.type, rdata)!;
    const tkey = nameKey(target);
    if (!isSubdomain(tkey, zone.key) || findZone(db, tkey) !== zone) continue;
    const node = zone.nodes.get(tkey);
    if (node) {
      if (node.cut && !(set.type === TYPE.NS)) continue; // occluded: not authoritative data
      addAddresses(node, undefined, d);
      continue;
    }
    let encloser: Node | undefined;
    for (let k = parentKey(tkey); k !== undefined && !encloser; k = parentKey(k)) {
      encloser = zone.nodes.get(k);
    }
    if (!encloser || encloser.cut) continue;
    const wild = zone.nodes.get(WILDCARD_LABEL + encloser.key);
    if (wild) addAddresses(wild, target, d);
  }
}

/** Options for {@linkcode writeResponse}. */
export interface WriteOptions {
  /** Where the response is written. */
  writer: MessageWriter;
  /** Largest response allowed (UDP: the client's size; TCP: 65535). */
  limit: number;
  /** UDP payload size advertised in our OPT record. */
  ednsSize: number;
}

const OPT_BASE = 11;

/**
 * Writes the response to query `q` for decision `d` into `options.writer`,
 * fitting `options.limit`. Returns the length. The question is copied from
 * the query, so the name keeps the asker's letter case, and later names
 * compress against it.
 */
export function writeResponse(q: Query, d: Decision, options: WriteOptions): number {
  const w = options.writer;
  const msg = q.message;
  w.reset();
  const buf = w.buf;
  buf[0] = msg[0];
  buf[1] = msg[1];
  w.pos = 12;
  const withQuestion = d.withQuestion && q.status === QueryStatus.OK;
  if (withQuestion) w.question(msg, q.questionEnd);
  const withOpt = q.edns && q.status === QueryStatus.OK;
  const optLen = withOpt ? OPT_BASE + (d.ede !== undefined ? 6 : 0) : 0;
  const limit = Math.min(options.limit, buf.length) - optLen;
  let tc = false;
  const afterQuestion = w.pos;
  let an = 0, ns = 0, ar = 0;
  const section = (items: Placed[]): number => {
    let count = 0;
    for (const item of items) {
      const n = writeRRset(w, item, limit);
      if (n < 0) return -1;
      count += n;
    }
    return count;
  };
  an = section(d.answer);
  if (an < 0) tc = true;
  else {
    ns = section(d.authority);
    if (ns < 0) tc = true;
    else {
      // Additional data goes in RRset by RRset while it fits; what does not fit is left out without TC.
      for (const item of d.additional) {
        const n = writeRRset(w, item, limit);
        if (n < 0) break;
        ar += n;
      }
    }
  }
  if (tc) {
    w.rollback(afterQuestion);
    an = ns = ar = 0;
  }
  if (withOpt) {
    const extended = d.rcode >> 4;
    buf[w.pos++] = 0; // owner: the root
    w.u16(TYPE.OPT);
    w.u16(options.ednsSize);
    buf[w.pos++] = extended;
    buf[w.pos++] = 0; // version 0
    buf[w.pos++] = q.dnssecOk && d.rcode !== RCODE.BADVERS ? 0x80 : 0;
    buf[w.pos++] = 0;
    if (d.ede !== undefined) {
      w.u16(6);
      w.u16(15); // EDNS option: Extended DNS Error
      w.u16(2);
      w.u16(d.ede);
    } else w.u16(0);
    ar++;
  }
  const opcode = (q.flags >> 11) & 15;
  buf[2] = 0x80 | (opcode << 3) | (d.aa ? 4 : 0) | (tc ? 2 : 0) | ((q.flags >> 8) & 1);
  buf[3] = d.rcode & 15;
  buf[4] = 0;
  buf[5] = withQuestion ? 1 : 0;
  buf[6] = an >> 8;
  buf[7] = an & 0xff;
  buf[8] = ns >> 8;
  buf[9] = ns & 0xff;
  buf[10] = ar >> 8;
  buf[11] = ar & 0xff;
  return w.pos;
}

/** Writes every record of an RRset; returns the count, or -1 (and rolls back) when it passes `limit`. */
function writeRRset(w: MessageWriter, item: Placed, limit: number): number {
  const start = w.pos;
  const { set } = item;
  const rr = scratch;
  rr.owner = item.owner;
  rr.type = set.type;
  rr.limit = limit;
  for (let i = 0; i < set.rdatas.length; i++) {
    rr.ttl = item.ttl ?? set.ttls[i];
    rr.rdata = set.rdatas[i];
    if (!writeRecord(w, rr)) return fail(w, start);
  }
  return set.rdatas.length;
}

/** One record for {@linkcode writeRecord}. */
export interface RecordToWrite {
  /** Owner name, wire form. */
  owner: Uint8Array;
  /** Type. */
  type: number;
  /** TTL. */
  ttl: number;
  /** RDATA, names uncompressed. */
  rdata: Uint8Array;
  /** The message may not grow past this. */
  limit: number;
}

const scratch: RecordToWrite = {
  owner: new Uint8Array(1),
  type: 0,
  ttl: 0,
  rdata: new Uint8Array(0),
  limit: 0,
};

/**
 * Writes one IN-class record, names compressed where RFC 3597 allows;
 * false (the writer left past `limit` or short of room, for the caller to
 * roll back) when it does not fit.
 */
export function writeRecord(w: MessageWriter, rr: RecordToWrite): boolean {
  const { owner, type, ttl, rdata, limit } = rr;
  if (!w.name(owner)) return false;
  return writeRecordAfterOwner(w, { type, ttl, rdata, limit });
}

/**
 * Writes what follows the owner of an IN-class record (type, class, TTL,
 * RDLENGTH and the RDATA, its names compressed where RFC 3597 allows);
 * false as {@linkcode writeRecord} does.
 */
export function writeRecordAfterOwner(
  w: MessageWriter,
  rr: Omit<RecordToWrite, "owner">,
): boolean {
  const { type, ttl, rdata, limit } = rr;
  if (!w.u16(type) || !w.u16(CLASS.IN)) return false;
  if (!w.u32(ttl) || !w.u16(0)) return false;
  const lenAt = w.pos - 2;
  let ok: boolean;
  if (COMPRESSIBLE.has(type)) {
    switch (type) {
      case TYPE.MX:
        ok = w.bytes(rdata.subarray(0, 2)) && w.name(rdata.subarray(2));
        break;
      case TYPE.SOA: {
        const n1 = nameLength(rdata, 0);
        ok = w.name(rdata) && w.name(rdata.subarray(n1)) &&
          w.bytes(rdata.subarray(n1 + nameLength(rdata, n1)));
        break;
      }
      default:
        ok = w.name(rdata);
    }
  } else ok = w.bytes(rdata);
  if (!ok) return false;
  const rdlen = w.pos - lenAt - 2;
  w.buf[lenAt] = rdlen >> 8;
  w.buf[lenAt + 1] = rdlen & 0xff;
  return w.pos <= limit;
}

function fail(w: MessageWriter, start: number): number {
  w.rollback(start);
  return -1;
}

/** Options for {@linkcode answerMessage}. */
export interface AnswerOptions extends TransportOptions {
  /** Where the response is written. */
  writer: MessageWriter;
  /** Largest UDP response and the EDNS size advertised. */
  maxUdpPayload: number;
}

/**
 * Answers a message in one call (slow path; tests use it directly).
 * Returns the response length written into `options.writer.buf`, or 0 when
 * the message deserves no answer.
 */
export function answerMessage(db: ZoneDb, message: Uint8Array, options: AnswerOptions): number {
  const q = parseQuery(message, message.length);
  const d = decideFor(db, q, options);
  if (!d) return 0;
  return writeResponse(q, d, {
    writer: options.writer,
    limit: responseLimit(q, options),
    ednsSize: options.maxUdpPayload,
  });
}

/** The decision for any parsed query, including the error statuses; undefined means drop. */
export function decideFor(db: ZoneDb, q: Query, options: TransportOptions): Decision | undefined {
  switch (q.status) {
    case QueryStatus.OK:
      return decide(db, q, options);
    case QueryStatus.FORMERR:
      return decision(RCODE.FORMERR, false);
    case QueryStatus.NOTIMP:
      return decision(RCODE.NOTIMP, false);
    case QueryStatus.REFUSED_HEADER:
      return decision(RCODE.REFUSED, false);
    default:
      return undefined;
  }
}

/** Largest response for a query: 65535 on TCP, else the EDNS size within [512, max], 512 without EDNS. */
export function responseLimit(
  q: Query,
  options: TransportOptions & { maxUdpPayload: number },
): number {
  if (options.tcp) return 65535;
  if (!q.edns) return 512;
  return Math.min(Math.max(q.payload, 512), options.maxUdpPayload);
}
