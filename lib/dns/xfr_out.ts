/**
 * Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP to the
 * clients `[[dns.transfer]]` allows, TSIG-signed (RFC 8945) when a key is
 * set, and the signed queries of secondaries (SOA checks, IXFR over UDP)
 * answered signed. An AXFR is streamed: records are written message by
 * message (names compressed in each) and each message is sent before the
 * next is built, so a zone is never held as one answer. An IXFR is built
 * from the journal (`journal.ts`); when the journal does not reach back to
 * the client's serial the whole zone is sent, as RFC 1995 allows. Over UDP
 * an IXFR gets the current SOA only (RFC 1995 section 2: the client then
 * comes over TCP).
 *
 * Access: a client network not in any rule for the zone gets REFUSED; a
 * rule that names a key wants a request signed with it, else NOTAUTH (with
 * the TSIG error BADKEY, BADSIG or BADTIME when a signature was wrong).
 *
 * @module
 */

import { CidrSet, parseHostPort, parseIp } from "../net/mod.ts";
import type { Logger } from "../log/mod.ts";
import { writeRecord, writeRecordAfterOwner } from "./answer.ts";
import type { ZoneJournal } from "./journal.ts";
import { serialGreater, soaSerial } from "./serial.ts";
import {
  findTsig,
  keyring,
  parseTsigKey,
  readNameKey,
  serverTimeData,
  signMessage,
  skipName,
  TSIG_ERROR,
  tsigErrorName,
  type TsigKey,
  tsigKeyLookup,
  type TsigKeyring,
  type TsigKeyText,
  type TsigRecord,
  unsignedTsigError,
  verifyTsig,
} from "./tsig.ts";
import { CLASS, keyToText, MessageWriter, OPCODE, RCODE, ROOT, TYPE } from "./wire.ts";
import type { RRset, Zone, ZoneDb } from "./zone_db.ts";

/** A `[[dns.transfer]]` rule as configured. */
export interface TransferRuleText {
  /** Zones (absolute names) or `*`. */
  zones: string[];
  /** Client networks (CIDR). */
  allow: string[];
  /** Key name required, or empty. */
  key: string;
  /** NOTIFY targets, IP:PORT. */
  notify: string[];
}

/** A `[[dns.secondary]]` zone as the policy needs it (who may NOTIFY it). */
export interface SecondaryText {
  /** Apex, absolute, lower case. */
  zone: string;
  /** Primaries, IP:PORT. */
  primaries: string[];
  /** Key name, or empty. */
  key: string;
}

/** What builds a {@linkcode TransferPolicy}; plain data, so that UDP workers get it too. */
export interface TransferPolicyInit {
  /** Keys, secrets in base64. */
  keys: TsigKeyText[];
  /** Rules. */
  transfers: TransferRuleText[];
  /** Secondary zones. */
  secondaries?: SecondaryText[];
}

interface Secondary {
  primaries: CidrSet;
  key: TsigKey | undefined;
}

interface Rule {
  zones: Set<string> | undefined;
  allow: CidrSet;
  key: TsigKey | undefined;
  notify: string[];
}

/** Outcome of an access check. */
export type Access = "allowed" | "refused" | "notauth";

function zoneName(text: string): string {
  const t = text.toLowerCase();
  return t.endsWith(".") ? t : `${t}.`;
}

/** Client addresses as bytes; IPv4-mapped IPv6 (dual-stack sockets) as IPv4. */
export function clientBytes(hostname: string): Uint8Array | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(hostname);
  return parseIp(mapped ? mapped[1] : hostname) ?? undefined;
}

/** Who may transfer which zone, with which key. */
export class TransferPolicy {
  /** Every key configured. */
  readonly keys: TsigKeyring;
  readonly #rules: Rule[];
  readonly #secondaries = new Map<string, Secondary>();

  constructor(init: TransferPolicyInit) {
    this.keys = keyring(init.keys.map(parseTsigKey));
    for (const z of init.secondaries ?? []) {
      const hosts = z.primaries.map((p) => {
        const hp = parseHostPort(p, 53);
        return typeof hp === "string" ? p : hp.host;
      });
      this.#secondaries.set(z.zone, {
        primaries: new CidrSet(hosts),
        key: z.key ? this.#key(z.key) : undefined,
      });
    }
    this.#rules = init.transfers.map((t) => ({
      zones: t.zones.includes("*") ? undefined : new Set(t.zones.map(zoneName)),
      allow: new CidrSet(t.allow),
      key: t.key ? this.#key(t.key) : undefined,
      notify: t.notify,
    }));
  }

  #key(name: string): TsigKey {
    const key = this.keys.get(tsigKeyLookup(name));
    if (!key) throw new Error(`TSIG key "${name}" is not among the dns.tsig_key entries`);
    return key;
  }

  /** Whether any transfer may ever be allowed or any key is set (else the old REFUSED path stays). */
  get active(): boolean {
    return this.#rules.length > 0 || this.keys.size > 0 || this.#secondaries.size > 0;
  }

  /** Whether `zone` (absolute, lower case) is a secondary zone. */
  isSecondary(zone: string): boolean {
    return this.#secondaries.has(zone);
  }

  /**
   * Whether a NOTIFY for the secondary `zone` from `client`, signed with
   * `key` (verified), is to be obeyed: only from a primary's address, signed
   * with the zone's key when it has one.
   */
  notifyAccess(zone: string, client: Uint8Array | undefined, key: TsigKey | undefined): Access {
    const z = this.#secondaries.get(zone);
    if (!z || !client || !z.primaries.has(client)) return "refused";
    if (z.key && (!key || key.name !== z.key.name)) return "notauth";
    return "allowed";
  }

  /** NOTIFY targets of `zone` (absolute, lower case), each with the key of its rule. */
  notifyTargets(zone: string): { address: string; key?: TsigKey }[] {
    const out: { address: string; key?: TsigKey }[] = [];
    for (const r of this.#rules) {
      if (r.zones && !r.zones.has(zone)) continue;
      for (const address of r.notify) {
        if (!out.some((t) => t.address === address)) out.push({ address, key: r.key });
      }
    }
    return out;
  }

  /** Whether `client` may transfer `zone` having signed with `key` (already verified). */
  access(zone: string, client: Uint8Array | undefined, key: TsigKey | undefined): Access {
    let networkOk = false;
    for (const r of this.#rules) {
      if (r.zones && !r.zones.has(zone)) continue;
      if (!client || !r.allow.has(client)) continue;
      networkOk = true;
      if (!r.key || (key && r.key.name === key.name)) return "allowed";
    }
    return networkOk ? "notauth" : "refused";
  }
}

/** The question of a transfer query, and the client's serial for IXFR. */
export interface TransferQuery {
  /** Query ID. */
  id: number;
  /** Lookup key of the zone asked. */
  qkey: string;
  /** AXFR, IXFR (or another type for signed plain queries). */
  qtype: number;
  /** Class. */
  qclass: number;
  /** Offset after the question. */
  questionEnd: number;
  /** IXFR: the serial in the authority SOA. */
  clientSerial?: number;
}

/** Reads the question (and IXFR's authority SOA); undefined when malformed. */
export function parseTransferQuery(msg: Uint8Array): TransferQuery | undefined {
  const length = msg.length;
  if (length < 17 || ((msg[4] << 8) | msg[5]) !== 1) return undefined;
  const qnameEnd = skipName(msg, 12);
  if (qnameEnd < 0 || qnameEnd + 4 > length) return undefined;
  const qkey = readNameKey(msg, 12);
  if (!qkey) return undefined;
  const q: TransferQuery = {
    id: (msg[0] << 8) | msg[1],
    qkey,
    qtype: (msg[qnameEnd] << 8) | msg[qnameEnd + 1],
    qclass: (msg[qnameEnd + 2] << 8) | msg[qnameEnd + 3],
    questionEnd: qnameEnd + 4,
  };
  const an = (msg[6] << 8) | msg[7];
  const ns = (msg[8] << 8) | msg[9];
  if (q.qtype === TYPE.IXFR) {
    if (ns < 1) return undefined; // RFC 1995 section 3: the client's SOA in authority
    let p = q.questionEnd;
    for (let i = 0; i < an; i++) {
      p = skipName(msg, p);
      if (p < 0 || p + 10 > length) return undefined;
      p += 10 + ((msg[p + 8] << 8) | msg[p + 9]);
    }
    p = skipName(msg, p);
    if (p < 0 || p + 10 > length || ((msg[p] << 8) | msg[p + 1]) !== TYPE.SOA) return undefined;
    const rdEnd = p + 10 + ((msg[p + 8] << 8) | msg[p + 9]);
    if (rdEnd > length) return undefined;
    const rdata = msg.subarray(0, rdEnd);
    let r = skipName(rdata, p + 10);
    if (r >= 0) r = skipName(rdata, r);
    if (r < 0 || r + 20 > rdEnd) return undefined;
    q.clientSerial = ((msg[r] << 24) | (msg[r + 1] << 16) | (msg[r + 2] << 8) | msg[r + 3]) >>> 0;
  }
  return q;
}

/** A request after its signature check. */
export type CheckedRequest =
  | { ok: true; body: Uint8Array; key?: TsigKey; mac?: Uint8Array; tsig?: TsigRecord }
  | { ok: false; reply: Uint8Array; error: string };

/**
 * Checks the TSIG of a request, if any: a sound one is removed (the body
 * is the message as unsigned); a wrong one gets its NOTAUTH answer.
 */
export function checkSignature(msg: Uint8Array, keys: TsigKeyring): CheckedRequest {
  const tsig = findTsig(msg);
  if (tsig === undefined) return { ok: true, body: msg };
  if (tsig === "malformed") {
    return { ok: false, reply: errorReply(msg, RCODE.FORMERR), error: "malformed message" };
  }
  const v = verifyTsig(msg, tsig, { keys });
  if (v.error === -1) {
    return {
      ok: false,
      reply: errorReply(msg, RCODE.FORMERR),
      error: "truncated TSIG MAC",
    };
  }
  if (v.error !== TSIG_ERROR.NONE) {
    const base = errorReply(msg.subarray(0, tsig.at), RCODE.NOTAUTH);
    const reply = v.error === TSIG_ERROR.BADTIME
      ? signMessage(base, v.key!, {
        priorMac: tsig.mac,
        error: TSIG_ERROR.BADTIME,
        timeSigned: tsig.timeSigned,
        other: serverTimeData(),
      }).message
      : unsignedTsigError(base, tsig, { error: v.error });
    return { ok: false, reply, error: `${tsigErrorName(v.error)} (key ${tsig.keyName})` };
  }
  const body = msg.slice(0, tsig.at);
  const ar = ((body[10] << 8) | body[11]) - 1;
  body[10] = ar >> 8;
  body[11] = ar & 0xff;
  body[0] = tsig.originalId >> 8;
  body[1] = tsig.originalId & 0xff;
  return { ok: true, body, key: v.key, mac: v.mac, tsig };
}

/** A header-and-question answer with `rcode` (the question is dropped when it cannot be read). */
export function errorReply(msg: Uint8Array, rcode: number): Uint8Array {
  const length = msg.length;
  const qd = length >= 12 ? (msg[4] << 8) | msg[5] : 0;
  let end = 12;
  if (qd === 1) {
    const p = skipName(msg, 12);
    end = p >= 0 && p + 4 <= length ? p + 4 : 12;
  }
  const out = new Uint8Array(end);
  out.set(msg.subarray(0, end));
  out[2] = 0x80 | (msg[2] & 0x79); // QR, opcode and RD kept
  out[3] = rcode & 15;
  out[4] = 0;
  out[5] = end > 12 ? 1 : 0;
  out.fill(0, 6, 12);
  return out;
}

/** Signs a reply to a checked request when the request was signed (the first message of an answer). */
export function signReply(
  reply: Uint8Array,
  request: { key?: TsigKey; mac?: Uint8Array },
): Uint8Array {
  if (!request.key) return reply;
  return signMessage(reply, request.key, { priorMac: request.mac }).message;
}

/** Counters of transfers out. */
export interface TransferStats {
  /** AXFR answers sent in full. */
  axfr: number;
  /** IXFR answers sent from the journal. */
  ixfr: number;
  /** IXFR answered with the whole zone (journal too short). */
  ixfr_full: number;
  /** IXFR answered with the SOA only (client up to date, or UDP). */
  ixfr_up_to_date: number;
  /** Refused by network. */
  refused: number;
  /** Refused for a missing or wrong signature. */
  notauth: number;
  /** Messages sent in transfers. */
  messages: number;
  /** Last transfer out, per zone (ISO time). */
  last: Record<string, string>;
}

/** Options for {@linkcode TransferServer}. */
export interface TransferServerOptions {
  /** The current policy. */
  policy: () => TransferPolicy;
  /** The zones served now. */
  db: () => ZoneDb;
  /** The change journal. */
  journal: ZoneJournal;
  /** Where refusals and transfers are logged. */
  log: Logger;
  /** Largest message of a transfer. @default 16384 */
  messageSize?: number;
}

/** Answers AXFR and IXFR over TCP. */
export class TransferServer {
  readonly #o: TransferServerOptions;
  /** Counters. */
  readonly stats: TransferStats = {
    axfr: 0,
    ixfr: 0,
    ixfr_full: 0,
    ixfr_up_to_date: 0,
    refused: 0,
    notauth: 0,
    messages: 0,
    last: {},
  };

  constructor(options: TransferServerOptions) {
    this.#o = options;
  }

  /** Whether a TCP message is for this server (an AXFR or IXFR query). */
  static wants(msg: Uint8Array, length: number): boolean {
    if (length < 17 || (msg[2] & 0xf8) !== 0 || msg[4] !== 0 || msg[5] !== 1) return false;
    const p = skipName(msg.subarray(0, length), 12);
    if (p < 0 || p + 2 > length) return false;
    const qtype = (msg[p] << 8) | msg[p + 1];
    return qtype === TYPE.AXFR || qtype === TYPE.IXFR;
  }

  /** Answers one transfer query on `send` (a frame writer of the connection). */
  async serve(
    msg: Uint8Array,
    options: {
      client: { address: Uint8Array | undefined; text: string };
      /** Writes one message with its two-byte length in front (see {@linkcode framed}). */
      send: (frame: Uint8Array) => Promise<void>;
    },
  ): Promise<void> {
    const { client, send } = options;
    const policy = this.#o.policy();
    const log = this.#o.log;
    const checked = checkSignature(msg, policy.keys);
    if (!checked.ok) {
      this.stats.notauth++;
      log.warn("transfer refused: bad signature", { client: client.text, error: checked.error });
      await send(framed(checked.reply));
      return;
    }
    const body = checked.body;
    const q = parseTransferQuery(body);
    if (!q || q.qclass !== CLASS.IN) {
      await send(framed(signReply(errorReply(body, RCODE.FORMERR), checked)));
      return;
    }
    const zone = this.#o.db().zones.get(q.qkey);
    const zoneText = keyToText(q.qkey);
    if (!zone) {
      await send(framed(signReply(errorReply(body, RCODE.NOTAUTH), checked)));
      return;
    }
    if (zone.servfail) {
      // An expired secondary zone (or one not transferred yet) has nothing sound to give.
      await send(framed(signReply(errorReply(body, RCODE.SERVFAIL), checked)));
      return;
    }
    const access = policy.access(zone.name, client.address, checked.key);
    if (access !== "allowed") {
      const rcode = access === "refused" ? RCODE.REFUSED : RCODE.NOTAUTH;
      if (access === "refused") this.stats.refused++;
      else this.stats.notauth++;
      log.warn("transfer refused", {
        client: client.text,
        zone: zoneText,
        reason: access === "refused"
          ? "network not allowed"
          : checked.key
          ? `signed with key ${checked.key.name}, another is required`
          : "not signed, a key is required",
      });
      await send(framed(signReply(errorReply(body, rcode), checked)));
      return;
    }
    const stream = new TransferStream(body, q, {
      signer: checked,
      send,
      size: this.#o.messageSize ?? 16384,
      apex: zone.apex,
    });
    const serial = soaSerial(zone.soa.rdatas[0]);
    let kind = "AXFR";
    if (q.qtype === TYPE.IXFR) {
      const from = q.clientSerial!;
      if (from === serial || serialGreater(from, serial)) {
        await stream.record(zone.apex, TYPE.SOA, zone.soa.ttls[0], zone.soa.rdatas[0]);
        await stream.end();
        this.stats.ixfr_up_to_date++;
        kind = "IXFR (up to date)";
      } else {
        const changes = this.#o.journal.changesSince(zone.name, { from, to: serial });
        if (changes) {
          const soaTtl = zone.soa.ttls[0];
          await stream.record(zone.apex, TYPE.SOA, soaTtl, zone.soa.rdatas[0]);
          for (const c of changes) {
            await stream.record(zone.apex, TYPE.SOA, c.soaTtl, c.soaFrom);
            for (const r of c.removed) await stream.record(r.name, r.type, r.ttl, r.rdata);
            await stream.record(zone.apex, TYPE.SOA, c.soaTtl, c.soaTo);
            for (const r of c.added) await stream.record(r.name, r.type, r.ttl, r.rdata);
          }
          await stream.record(zone.apex, TYPE.SOA, soaTtl, zone.soa.rdatas[0]);
          await stream.end();
          this.stats.ixfr++;
          kind = `IXFR ${from}->${serial} (${changes.length} changes)`;
        } else {
          await fullZone(zone, stream);
          this.stats.ixfr_full++;
          kind = `IXFR ${from}->${serial} as a full zone (journal does not reach back)`;
        }
      }
    } else {
      await fullZone(zone, stream);
      this.stats.axfr++;
    }
    this.stats.messages += stream.messages;
    this.stats.last[zone.name] = new Date().toISOString();
    log.info("transfer out", {
      client: client.text,
      zone: zone.name,
      kind,
      serial,
      records: stream.records,
      messages: stream.messages,
      ...(checked.key ? { key: checked.key.name } : {}),
    });
  }
}

/** Every record of a zone, SOA first and last (RFC 5936 section 2.2). */
async function fullZone(zone: Zone, stream: TransferStream): Promise<void> {
  const soa = zone.soa;
  await stream.record(zone.apex, TYPE.SOA, soa.ttls[0], soa.rdatas[0]);
  // A node's RRsets are gathered with forEach into one reused array: an
  // iterator per node is garbage enough, on a big zone, to make V8 grow its
  // young generation by tens of MB during the transfer.
  const sets: RRset[] = [];
  const gather = (set: RRset) => {
    if (set.type !== TYPE.SOA) sets.push(set); // only the apex has one: sent first and last
  };
  for (const node of zone.nodes.values()) {
    sets.length = 0;
    node.rrsets.forEach(gather);
    // One owner array per node, so that the stream sees the repeat by reference.
    const owner = sets[0]?.owner;
    for (let k = 0; k < sets.length; k++) {
      const set = sets[k];
      for (let i = 0; i < set.rdatas.length; i++) {
        // Awaited only when a message is full: an await per record costs more than writing it.
        if (!stream.add(owner, set.type, set.ttls[i], set.rdatas[i])) {
          await stream.record(owner, set.type, set.ttls[i], set.rdatas[i]);
        }
      }
    }
  }
  await stream.record(zone.apex, TYPE.SOA, soa.ttls[0], soa.rdatas[0]);
  await stream.end();
}

/** Room kept in each message for its TSIG record. */
const TSIG_ROOM = 400;

/**
 * Messages of one transfer answer, each sent when full, signed in a chain
 * when the request was. Owners are compressed without the general
 * writer's dictionary (whose string keys cost more than the rest of a
 * record): an owner equal to the previous one becomes a pointer to it, and
 * one below the apex its own labels and a pointer to the apex written
 * earlier in the message, which is what full compression gives for the
 * names of a zone walked node by node. RDATA names go through the writer.
 */
class TransferStream {
  readonly #query: Uint8Array;
  readonly #q: TransferQuery;
  readonly #key: TsigKey | undefined;
  #mac: Uint8Array | undefined;
  readonly #send: (message: Uint8Array) => Promise<void>;
  readonly #writer: MessageWriter;
  readonly #frame: Uint8Array;
  /** The record being written past its owner (one object reused for every record). */
  readonly #rr: { type: number; ttl: number; rdata: Uint8Array; limit: number };
  /** The apex, lower case, wire form. */
  readonly #apex: Uint8Array;
  /** Where the apex is written in full in this message (-1: not yet). */
  #apexAt = -1;
  #lastOwner: Uint8Array = ROOT;
  /** Where the last owner starts in this message (-1: none). */
  #lastOwnerAt = -1;
  #count = 0;
  #first = true;
  /** Messages sent. */
  messages = 0;
  /** Records sent. */
  records = 0;

  constructor(
    query: Uint8Array,
    q: TransferQuery,
    options: {
      signer: { key?: TsigKey; mac?: Uint8Array };
      send: (message: Uint8Array) => Promise<void>;
      size: number;
      apex: Uint8Array;
    },
  ) {
    this.#query = query;
    this.#q = q;
    this.#key = options.signer.key;
    this.#mac = options.signer.mac;
    this.#send = options.send;
    // Two bytes in front of the message for its TCP length: an unsigned message is sent in place.
    this.#frame = new Uint8Array(2 + Math.min(65535, options.size + TSIG_ROOM));
    this.#writer = new MessageWriter(this.#frame.subarray(2));
    this.#rr = { type: 0, ttl: 0, rdata: ROOT, limit: options.size };
    this.#apex = options.apex.slice();
    for (let i = 0; i < this.#apex.length; i++) {
      const c = this.#apex[i];
      if (c >= 0x41 && c <= 0x5a) this.#apex[i] = c | 0x20;
    }
    this.#begin();
  }

  #begin(): void {
    const w = this.#writer;
    w.reset();
    const b = w.buf;
    b[0] = this.#q.id >> 8;
    b[1] = this.#q.id & 0xff;
    b[2] = 0x84 | (this.#query[2] & 1); // QR, AA, RD copied
    b[3] = 0;
    b.fill(0, 4, 12);
    w.pos = 12;
    this.#apexAt = -1;
    this.#lastOwnerAt = -1;
    if (this.#first) {
      // The question in the first message only (RFC 5936 section 2.2.1 allows leaving it out later).
      w.question(this.#query, this.#q.questionEnd);
      b[5] = 1;
      this.#apexAt = 12; // the question name is the apex
    }
    this.#count = 0;
  }

  /** Whether `owner` ends with the apex at `prefix` (a label boundary). */
  #belowApex(owner: Uint8Array, prefix: number): boolean {
    let p = 0;
    while (p < prefix) p += owner[p] + 1;
    if (p !== prefix) return false;
    const apex = this.#apex;
    for (let i = 0; i < apex.length; i++) {
      const c = owner[prefix + i];
      if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== apex[i]) return false;
    }
    return true;
  }

  #owner(owner: Uint8Array): boolean {
    const w = this.#writer;
    const last = this.#lastOwner;
    if (this.#lastOwnerAt >= 0 && owner === last) {
      return w.u16(0xc000 | this.#lastOwnerAt);
    }
    const at = w.pos;
    const prefix = owner.length - this.#apex.length;
    const below = prefix >= 0 && this.#belowApex(owner, prefix);
    let ok: boolean;
    if (below && this.#apexAt >= 0) {
      // The labels before the apex copied by hand: a subarray per record is garbage.
      ok = at + prefix + 2 <= w.buf.length;
      if (ok) {
        const buf = w.buf;
        for (let i = 0; i < prefix; i++) buf[at + i] = owner[i];
        w.pos = at + prefix;
        ok = w.u16(0xc000 | this.#apexAt);
      }
    } else {
      ok = w.bytes(owner);
      if (ok && below && at + prefix < 0x4000) this.#apexAt = at + prefix;
    }
    if (ok && at < 0x4000) {
      this.#lastOwner = owner;
      this.#lastOwnerAt = at;
    }
    return ok;
  }

  /**
   * Adds a record to the message under way; false when it does not fit
   * (nothing is written then: send the message with {@linkcode TransferStream.record}).
   */
  add(owner: Uint8Array, type: number, ttl: number, rdata: Uint8Array): boolean {
    const w = this.#writer;
    const start = w.pos;
    const rr = this.#rr;
    rr.type = type;
    rr.ttl = ttl;
    rr.rdata = rdata;
    if (this.#owner(owner) && writeRecordAfterOwner(w, rr)) {
      this.#count++;
      this.records++;
      return true;
    }
    w.rollback(start);
    if (this.#apexAt >= start) this.#apexAt = -1;
    if (this.#lastOwnerAt >= start) this.#lastOwnerAt = -1;
    if (this.#count === 0) throw new Error("a record larger than a transfer message");
    return false;
  }

  /** Adds a record, sending the message first when it is full. */
  async record(owner: Uint8Array, type: number, ttl: number, rdata: Uint8Array): Promise<void> {
    if (this.add(owner, type, ttl, rdata)) return;
    await this.#flush();
    if (!this.add(owner, type, ttl, rdata)) {
      throw new Error("a record larger than a transfer message");
    }
  }

  async #flush(): Promise<void> {
    const w = this.#writer;
    const b = w.buf;
    b[6] = this.#count >> 8;
    b[7] = this.#count & 0xff;
    let frame: Uint8Array;
    if (this.#key) {
      const signed = signMessage(b.subarray(0, w.pos), this.#key, {
        priorMac: this.#mac,
        timersOnly: !this.#first,
      });
      frame = framed(signed.message);
      this.#mac = signed.mac;
    } else {
      this.#frame[0] = w.pos >> 8;
      this.#frame[1] = w.pos & 0xff;
      frame = this.#frame.subarray(0, w.pos + 2);
    }
    this.#first = false;
    this.messages++;
    await this.#send(frame);
    this.#begin();
  }

  /** Sends the last message. */
  async end(): Promise<void> {
    if (this.#count > 0 || this.#first) await this.#flush();
  }
}

/**
 * Answers, in the UDP slow path or for a signed plain query over TCP, what
 * the plain answer path cannot: signed queries (checked, answered signed)
 * and IXFR over UDP (the current SOA only). Plain data and synchronous, so
 * each UDP worker has its own.
 */
export class SignedAnswers {
  readonly #policy: TransferPolicy;
  readonly #writer = new MessageWriter(new Uint8Array(65535));
  /** Requests refused for a bad signature, by error. */
  readonly failures = { badsig: 0, badkey: 0, badtime: 0, formerr: 0 };

  readonly #onNotify: ((zone: string) => void) | undefined;
  /** NOTIFYs for secondary zones: obeyed, and refused (by network or key). */
  readonly notifies = { obeyed: 0, refused: 0 };

  constructor(policy: TransferPolicy, options: { onNotify?: (zone: string) => void } = {}) {
    this.#policy = policy;
    this.#onNotify = options.onNotify;
  }

  /** Whether the message may need this path (cheap: an additional record, IXFR asked, or a NOTIFY). */
  static wants(msg: Uint8Array, length: number): boolean {
    if (length < 12) return false;
    if (msg[10] !== 0 || msg[11] !== 0) return true;
    if ((msg[2] & 0xf8) === OPCODE.NOTIFY << 3) return true;
    return TransferServer.wants(msg, length);
  }

  /**
   * Answers `msg`, or returns undefined for the plain path. `plain(body)`
   * writes the plain answer to an unsigned body (returning its bytes);
   * `limit` is the largest answer allowed.
   */
  answer(
    msg: Uint8Array,
    length: number,
    options: {
      tcp: boolean;
      client: Uint8Array | undefined;
      db: ZoneDb;
      limit: number;
      plain: (body: Uint8Array, limit: number) => Uint8Array | undefined;
    },
  ): Uint8Array | undefined {
    const message = msg.subarray(0, length);
    const tsig = findTsig(message);
    const ixfr = !options.tcp && TransferServer.wants(msg, length);
    const notify = (msg[2] & 0xf8) === OPCODE.NOTIFY << 3 && this.#notifiedZone(message);
    if (tsig === undefined && !ixfr && !notify) return undefined;
    if (tsig === "malformed") return undefined; // the plain path answers FORMERR
    const checked = checkSignature(message, this.#policy.keys);
    if (!checked.ok) {
      const e = checked.error;
      if (e.startsWith("BADSIG")) this.failures.badsig++;
      else if (e.startsWith("BADKEY")) this.failures.badkey++;
      else if (e.startsWith("BADTIME")) this.failures.badtime++;
      else this.failures.formerr++;
      return checked.reply;
    }
    const body = checked.body;
    if (notify) return this.#notify(body, notify, { ...checked, client: options.client });
    if (ixfr) return this.#ixfrUdp(body, checked, options);
    const reserve = checked.key ? TSIG_ROOM : 0;
    const plain = options.plain(body, Math.max(512, options.limit - reserve));
    if (!plain) return undefined;
    return signReply(plain, checked);
  }

  /** The secondary zone a NOTIFY is about, if it is one of ours (RFC 1996: question zone SOA). */
  #notifiedZone(msg: Uint8Array): string | undefined {
    if (msg.length < 17 || msg[4] !== 0 || msg[5] !== 1 || (msg[2] & 0x80) !== 0) return undefined;
    const key = readNameKey(msg, 12);
    if (!key) return undefined;
    const zone = keyToText(key).toLowerCase();
    return this.#policy.isSecondary(zone) ? zone : undefined;
  }

  /** Answers a NOTIFY for a secondary zone and, from a primary, starts a check. */
  #notify(
    body: Uint8Array,
    zone: string,
    signer: { key?: TsigKey; mac?: Uint8Array; client: Uint8Array | undefined },
  ): Uint8Array {
    const access = this.#policy.notifyAccess(zone, signer.client, signer.key);
    if (access !== "allowed") {
      this.notifies.refused++;
      const rcode = access === "refused" ? RCODE.REFUSED : RCODE.NOTAUTH;
      return signReply(errorReply(body, rcode), signer);
    }
    this.notifies.obeyed++;
    this.#onNotify?.(zone);
    const reply = errorReply(body, RCODE.NOERROR);
    reply[2] |= 0x04; // AA (RFC 1996 section 4.7)
    return signReply(reply, signer);
  }

  #ixfrUdp(
    body: Uint8Array,
    signer: { key?: TsigKey; mac?: Uint8Array },
    options: { client: Uint8Array | undefined; db: ZoneDb },
  ): Uint8Array {
    const reply = (rcode: number) => {
      return signReply(errorReply(body, rcode), signer);
    };
    const q = parseTransferQuery(body);
    if (!q) return reply(RCODE.FORMERR);
    const zone = options.db.zones.get(q.qkey);
    if (!zone) return reply(RCODE.NOTAUTH);
    const access = this.#policy.access(zone.name, options.client, signer.key);
    if (access !== "allowed") return reply(access === "refused" ? RCODE.REFUSED : RCODE.NOTAUTH);
    const w = this.#writer;
    w.reset();
    const b = w.buf;
    b.set(body.subarray(0, 4), 0);
    b[2] = 0x84 | (body[2] & 1);
    b[3] = 0;
    b.fill(0, 4, 12);
    w.pos = 12;
    w.question(body, q.questionEnd);
    b[5] = 1;
    writeRecord(w, {
      owner: zone.apex,
      type: TYPE.SOA,
      ttl: zone.soa.ttls[0],
      rdata: zone.soa.rdatas[0],
      limit: 65535,
    });
    b[7] = 1;
    return signReply(b.slice(0, w.pos), signer);
  }
}

/** A message with its two-byte length in front (RFC 1035 section 4.2.2), as `send` writes it. */
export function framed(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(message.length + 2);
  out[0] = message.length >> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}
