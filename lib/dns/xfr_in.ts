/**
 * Zone transfers in, the client side of RFC 5936 (AXFR) and RFC 1995
 * (IXFR): one TCP connection to a primary, an SOA query first, and only
 * when the primary's serial is greater (RFC 1982) an IXFR from the serial
 * held (or an AXFR when none is held). Every message of the answer is read
 * as it comes and checked: header (ID, QR, opcode, rcode, no TC), question,
 * records well formed with names decompressed (RDATA names too, for the
 * types whose names may be compressed), every owner inside the zone, the
 * SOA first and last, and the record count under `max_zone_records`. When
 * a key is set, every signed message is verified (RFC 8945 section 5.3.1:
 * the first one over the request's MAC, each next one over the previous
 * MAC, the timers and the unsigned messages between; at most 99 unsigned
 * in a row, and the last one must be signed). Anything wrong aborts the
 * transfer with a {@linkcode TransferError} naming why; the caller keeps
 * its old copy.
 *
 * @module
 */

import { readNameKey, signMessage, skipName, tsigErrorName, type TsigKey } from "./tsig.ts";
import { findTsig, verifyTsig } from "./tsig.ts";
import { serialGreater, soaSerial } from "./serial.ts";
import { CLASS, isSubdomain, nameFromText, nameKey, RCODE, rcodeName, TYPE } from "./wire.ts";
import type { ZoneRecord } from "./zone_file.ts";

/** Why a transfer in failed; `kind` is what the counters count. */
export class TransferError extends Error {
  /** `network` (connect, reset, timeout), `refused` (an error rcode), `signature`, `malformed`, `oversized`. */
  readonly kind: "network" | "refused" | "signature" | "malformed" | "oversized";

  constructor(kind: TransferError["kind"], message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Where and how to ask. */
export interface TransferSource {
  /** Zone apex, absolute (`other.test.`). */
  zone: string;
  /** Primary address. */
  host: string;
  /** Primary port. */
  port: number;
  /** Sign requests and verify answers with this key. */
  key?: TsigKey;
  /** Most records accepted (`dns.max_zone_records`). */
  maxRecords: number;
  /** Longest wait for the next bytes. @default 10000 */
  idleTimeoutMs?: number;
}

/** One change of an incremental transfer. */
export interface IncomingChange {
  /** Serial before. */
  from: number;
  /** Serial after. */
  to: number;
  /** Records removed. */
  removed: ZoneRecord[];
  /** Records added. */
  added: ZoneRecord[];
}

/** What a check brought. */
export type TransferResult =
  | { kind: "up-to-date"; serial: number }
  | { kind: "full"; serial: number; records: ZoneRecord[]; messages: number; bytes: number }
  | {
    kind: "incremental";
    serial: number;
    /** The new SOA record. */
    soa: ZoneRecord;
    changes: IncomingChange[];
    messages: number;
    bytes: number;
  };

/** Options of {@linkcode checkPrimary}. */
export interface CheckOptions {
  /** Serial held now; absent: no copy yet (AXFR). */
  serial?: number;
  /** Ask IXFR when a copy is held. @default true */
  ixfr?: boolean;
  /** Transfer even when the primary's serial is not greater (a forced AXFR). */
  force?: boolean;
}

/**
 * Asks the primary's SOA and, when it is newer (or `force`), transfers the
 * zone: IXFR from `options.serial` when held, AXFR otherwise.
 */
export async function checkPrimary(
  source: TransferSource,
  options: CheckOptions = {},
): Promise<TransferResult> {
  let conn: Deno.TcpConn;
  try {
    conn = await withTimeout(
      Deno.connect({ hostname: source.host, port: source.port }),
      source.idleTimeoutMs ?? 10_000,
    );
  } catch (e) {
    throw new TransferError("network", `cannot connect: ${(e as Error).message}`);
  }
  const reader = new FrameReader(conn, source.idleTimeoutMs ?? 10_000);
  try {
    const soaReply = await exchange(conn, reader, source, TYPE.SOA, undefined);
    const primarySerial = soaReply.serial;
    const held = options.serial;
    if (held !== undefined && !options.force && !serialGreater(primarySerial, held)) {
      return { kind: "up-to-date", serial: primarySerial };
    }
    const ixfr = held !== undefined && options.ixfr !== false && !options.force;
    return await transfer(conn, reader, source, { ixfr, held });
  } catch (e) {
    if (e instanceof TransferError) throw e;
    throw new TransferError("network", (e as Error).message);
  } finally {
    reader.close();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Reads length-framed messages from a TCP connection, each within the idle timeout. */
class FrameReader {
  readonly #conn: Deno.TcpConn;
  readonly #idleMs: number;
  #buf = new Uint8Array(65537 * 2);
  #start = 0;
  #end = 0;
  #closed = false;
  /** Bytes read. */
  bytes = 0;

  constructor(conn: Deno.TcpConn, idleMs: number) {
    this.#conn = conn;
    this.#idleMs = idleMs;
  }

  /** The next message (a copy), or throws on end of stream or timeout. */
  async next(): Promise<Uint8Array> {
    for (;;) {
      const have = this.#end - this.#start;
      if (have >= 2) {
        const len = (this.#buf[this.#start] << 8) | this.#buf[this.#start + 1];
        if (have >= 2 + len) {
          const msg = this.#buf.slice(this.#start + 2, this.#start + 2 + len);
          this.#start += 2 + len;
          return msg;
        }
      }
      if (this.#start > 0 && this.#buf.length - this.#end < 65537) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), this.#idleMs);
      });
      const n = await Promise.race([this.#conn.read(this.#buf.subarray(this.#end)), timedOut])
        .finally(() => clearTimeout(timer));
      if (n === "timeout") {
        throw new TransferError("network", `nothing read for ${this.#idleMs} ms`);
      }
      if (n === null) {
        throw new TransferError(
          have > 0 ? "malformed" : "network",
          have > 0 ? "the connection closed inside a message" : "the primary closed the connection",
        );
      }
      this.#end += n;
      this.bytes += n;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

async function writeFrame(conn: Deno.TcpConn, msg: Uint8Array): Promise<void> {
  const out = new Uint8Array(msg.length + 2);
  out[0] = msg.length >> 8;
  out[1] = msg.length & 0xff;
  out.set(msg, 2);
  for (let off = 0; off < out.length;) off += await conn.write(out.subarray(off));
}

/** A query for the zone: SOA, AXFR, or IXFR with the held SOA (serial only matters) in authority. */
export function transferQuery(
  zone: string,
  options: { id: number; qtype: number; serial?: number },
): Uint8Array {
  const apex = nameFromText(zone);
  const ixfr = options.qtype === TYPE.IXFR;
  const size = 12 + apex.length + 4 + (ixfr ? 2 + 10 + 2 + 20 : 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, options.id);
  dv.setUint16(4, 1);
  if (ixfr) dv.setUint16(8, 1);
  out.set(apex, 12);
  let p = 12 + apex.length;
  dv.setUint16(p, options.qtype);
  dv.setUint16(p + 2, CLASS.IN);
  p += 4;
  if (ixfr) {
    // RFC 1995 section 3: the client's SOA; MNAME and RNAME are the root, only the serial is read.
    dv.setUint16(p, 0xc00c);
    dv.setUint16(p + 2, TYPE.SOA);
    dv.setUint16(p + 4, CLASS.IN);
    dv.setUint16(p + 10, 22);
    p += 12;
    out[p++] = 0;
    out[p++] = 0;
    dv.setUint32(p, options.serial! >>> 0);
  }
  return out;
}

interface Signer {
  key?: TsigKey;
  mac?: Uint8Array;
  unsigned: Uint8Array[];
  signedOnce: boolean;
}

async function send(
  conn: Deno.TcpConn,
  source: TransferSource,
  qtype: number,
  serial: number | undefined,
): Promise<{ id: number; signer: Signer }> {
  const id = (Math.random() * 0x10000) & 0xffff;
  let msg = transferQuery(source.zone, { id, qtype, serial });
  const signer: Signer = { key: source.key, unsigned: [], signedOnce: false };
  if (source.key) {
    const signed = signMessage(msg, source.key);
    msg = signed.message;
    signer.mac = signed.mac;
  }
  await writeFrame(conn, msg);
  return { id, signer };
}

/**
 * Checks the TSIG of one message of an answer (RFC 8945 section 5.3.1);
 * returns the message without it.
 */
function checkAnswerSignature(msg: Uint8Array, signer: Signer, first: boolean): Uint8Array {
  if (!signer.key) return msg;
  const tsig = findTsig(msg);
  if (tsig === "malformed") throw new TransferError("malformed", "a message cannot be walked");
  if (tsig === undefined) {
    if (first && (msg[3] & 15) !== RCODE.NOERROR) {
      throw new TransferError("refused", `the primary answered ${rcodeName(msg[3] & 15)}`);
    }
    if (first) throw new TransferError("signature", "the answer is not signed");
    signer.unsigned.push(msg);
    if (signer.unsigned.length > 99) {
      throw new TransferError("signature", "more than 99 unsigned messages in a row");
    }
    return msg;
  }
  const v = verifyTsig(msg, tsig, {
    keys: new Map([[tsig.keyKey, signer.key]]),
    priorMac: signer.mac,
    timersOnly: !first,
    unsigned: signer.unsigned,
  });
  if (tsig.error !== 0) {
    throw new TransferError(
      "signature",
      `the primary answered ${tsigErrorName(tsig.error)} (rcode ${rcodeName(msg[3] & 15)})`,
    );
  }
  if (v.error !== 0) {
    throw new TransferError(
      "signature",
      `the answer's signature is wrong: ${v.error === -1 ? "FORMERR" : tsigErrorName(v.error)}`,
    );
  }
  signer.mac = v.mac;
  signer.unsigned = [];
  signer.signedOnce = true;
  // The records are read from the message without its TSIG.
  const body = msg.slice(0, tsig.at);
  const ar = ((body[10] << 8) | body[11]) - 1;
  body[10] = ar >> 8;
  body[11] = ar & 0xff;
  return body;
}

/** Header and question checks; returns the offset of the first answer record. */
function checkHeader(
  msg: Uint8Array,
  expect: { id: number; qtype: number; zoneKey: string; first: boolean },
): number {
  if (msg.length < 12) throw new TransferError("malformed", `a ${msg.length}-byte message`);
  if (((msg[0] << 8) | msg[1]) !== expect.id) {
    throw new TransferError("malformed", "a message with another ID");
  }
  if ((msg[2] & 0x80) === 0) throw new TransferError("malformed", "a message that is not a reply");
  if (((msg[2] >> 3) & 15) !== 0) throw new TransferError("malformed", "a reply of another opcode");
  if (msg[2] & 0x02) throw new TransferError("malformed", "a truncated (TC) reply over TCP");
  const rcode = msg[3] & 15;
  if (rcode !== RCODE.NOERROR) {
    throw new TransferError("refused", `the primary answered ${rcodeName(rcode)}`);
  }
  const qd = (msg[4] << 8) | msg[5];
  if (qd > 1 || (expect.first && qd !== 1)) {
    throw new TransferError("malformed", `a reply with ${qd} questions`);
  }
  let p = 12;
  if (qd === 1) {
    const key = readNameKey(msg, 12);
    p = skipName(msg, 12);
    if (!key || p < 0 || p + 4 > msg.length) {
      throw new TransferError("malformed", "a question that cannot be read");
    }
    const qtype = (msg[p] << 8) | msg[p + 1];
    if (key !== expect.zoneKey || qtype !== expect.qtype) {
      throw new TransferError("malformed", "a reply to another question");
    }
    p += 4;
  }
  return p;
}

/** Reads a possibly compressed name as uncompressed wire bytes (case kept). */
function readName(msg: Uint8Array, at: number): { name: Uint8Array; next: number } {
  const parts: number[] = [];
  let p = at;
  let next = -1;
  for (let hops = 0; hops < 128;) {
    if (p >= msg.length) throw new TransferError("malformed", "a name runs past the message");
    const l = msg[p];
    if (l === 0) {
      parts.push(0);
      if (next < 0) next = p + 1;
      if (parts.length > 255) throw new TransferError("malformed", "a name longer than 255 bytes");
      return { name: Uint8Array.from(parts), next };
    }
    if ((l & 0xc0) === 0xc0) {
      if (p + 1 >= msg.length) throw new TransferError("malformed", "a cut compression pointer");
      if (next < 0) next = p + 2;
      const target = ((l & 0x3f) << 8) | msg[p + 1];
      if (target >= p) throw new TransferError("malformed", "a forward compression pointer");
      p = target;
      hops++;
      continue;
    }
    if (l > 63) throw new TransferError("malformed", "a label of an unknown kind");
    if (p + l >= msg.length) throw new TransferError("malformed", "a label runs past the message");
    for (let i = p; i <= p + l; i++) parts.push(msg[i]);
    if (parts.length > 255) throw new TransferError("malformed", "a name longer than 255 bytes");
    p += l + 1;
  }
  throw new TransferError("malformed", "a compression loop");
}

/**
 * RDATA layout of the types whose names a sender may compress (RFC 3597
 * section 4 and the types before it): fixed bytes before each name, and
 * bytes after the last one. `n` names.
 */
const NAMED_RDATA: Record<number, { before: number; names: number }> = {
  2: { before: 0, names: 1 }, // NS
  3: { before: 0, names: 1 }, // MD
  4: { before: 0, names: 1 }, // MF
  5: { before: 0, names: 1 }, // CNAME
  6: { before: 0, names: 2 }, // SOA, then 20 bytes
  7: { before: 0, names: 1 }, // MB
  8: { before: 0, names: 1 }, // MG
  9: { before: 0, names: 1 }, // MR
  12: { before: 0, names: 1 }, // PTR
  14: { before: 0, names: 2 }, // MINFO
  15: { before: 2, names: 1 }, // MX
  17: { before: 0, names: 2 }, // RP
  18: { before: 2, names: 1 }, // AFSDB
  21: { before: 2, names: 1 }, // RT
  26: { before: 2, names: 2 }, // PX
  33: { before: 6, names: 1 }, // SRV
  36: { before: 2, names: 1 }, // KX
};

function readRdata(msg: Uint8Array, type: number, start: number, end: number): Uint8Array {
  const layout = NAMED_RDATA[type];
  if (!layout) return msg.slice(start, end);
  const rd = msg.subarray(0, end);
  const parts: Uint8Array[] = [msg.slice(start, start + layout.before)];
  let p = start + layout.before;
  if (p > end) throw new TransferError("malformed", "RDATA shorter than its type needs");
  for (let i = 0; i < layout.names; i++) {
    const { name, next } = readName(rd, p);
    parts.push(name);
    p = next;
  }
  if (type === TYPE.SOA && end - p !== 20) {
    throw new TransferError("malformed", "SOA RDATA of the wrong length");
  }
  if (type !== TYPE.SOA && p !== end) {
    throw new TransferError("malformed", "RDATA longer than its type allows");
  }
  parts.push(msg.slice(p, end));
  let size = 0;
  for (const x of parts) size += x.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const x of parts) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

/** The records of the answer section of `msg`, from `at`. */
function answerRecords(msg: Uint8Array, at: number, zoneKey: string): ZoneRecord[] {
  const an = (msg[6] << 8) | msg[7];
  const out: ZoneRecord[] = [];
  let p = at;
  for (let i = 0; i < an; i++) {
    const { name, next } = readName(msg, p);
    p = next;
    if (p + 10 > msg.length) throw new TransferError("malformed", "a record header is cut");
    const type = (msg[p] << 8) | msg[p + 1];
    const klass = (msg[p + 2] << 8) | msg[p + 3];
    const ttl = ((msg[p + 4] << 24) | (msg[p + 5] << 16) | (msg[p + 6] << 8) | msg[p + 7]) >>> 0;
    const rdlen = (msg[p + 8] << 8) | msg[p + 9];
    p += 10;
    if (p + rdlen > msg.length) throw new TransferError("malformed", "RDATA runs past the message");
    if (klass !== CLASS.IN) throw new TransferError("malformed", `a record of class ${klass}`);
    if (type === TYPE.OPT || type === TYPE.TSIG || type === TYPE.AXFR || type === TYPE.IXFR) {
      throw new TransferError("malformed", `a record of type ${type} in the answer`);
    }
    if (!isSubdomain(nameKey(name), zoneKey)) {
      throw new TransferError("malformed", "a record outside the zone");
    }
    out.push({
      name,
      type,
      ttl: ttl > 0x7fffffff ? 0 : ttl,
      rdata: readRdata(msg, type, p, p + rdlen),
      file: "",
      line: 0,
    });
    p += rdlen;
  }
  return out;
}

async function exchange(
  conn: Deno.TcpConn,
  reader: FrameReader,
  source: TransferSource,
  qtype: number,
  serial: number | undefined,
): Promise<{ serial: number }> {
  const zoneKey = nameKey(nameFromText(source.zone));
  const { id, signer } = await send(conn, source, qtype, serial);
  const raw = await reader.next();
  const msg = checkAnswerSignature(raw, signer, true);
  const at = checkHeader(msg, { id, qtype, zoneKey, first: true });
  const records = answerRecords(msg, at, zoneKey);
  const soa = records.find((r) => r.type === TYPE.SOA && nameKey(r.name) === zoneKey);
  if (!soa) throw new TransferError("malformed", "the SOA answer holds no SOA of the zone");
  return { serial: soaSerial(soa.rdata) };
}

async function transfer(
  conn: Deno.TcpConn,
  reader: FrameReader,
  source: TransferSource,
  options: { ixfr: boolean; held?: number },
): Promise<TransferResult> {
  const zoneKey = nameKey(nameFromText(source.zone));
  const qtype = options.ixfr ? TYPE.IXFR : TYPE.AXFR;
  const { id, signer } = await send(conn, source, qtype, options.held);
  const bytesBefore = reader.bytes;
  const stream = new RecordStream(zoneKey, {
    ixfr: options.ixfr,
    held: options.held,
    maxRecords: source.maxRecords,
  });
  let messages = 0;
  for (let first = true; !stream.done; first = false) {
    const raw = await reader.next().catch((e) => {
      // A primary that hangs up inside a transfer sent a truncated one.
      if (messages > 0 && e instanceof TransferError && e.kind === "network") {
        throw new TransferError("malformed", `the transfer ended early: ${e.message}`);
      }
      throw e;
    });
    messages++;
    const msg = checkAnswerSignature(raw, signer, first);
    const at = checkHeader(msg, { id, qtype, zoneKey, first });
    const records = answerRecords(msg, at, zoneKey);
    if (records.length === 0) throw new TransferError("malformed", "a message without records");
    for (let i = 0; i < records.length; i++) {
      stream.push(records[i]);
      if (stream.done && i !== records.length - 1) {
        throw new TransferError("malformed", "records after the closing SOA");
      }
    }
    // A one-record IXFR answer: the primary says we are up to date (RFC 1995 section 4).
    if (first && options.ixfr && records.length === 1 && stream.single) break;
  }
  if (source.key && signer.unsigned.length > 0) {
    throw new TransferError("signature", "the last message of the answer is not signed");
  }
  const bytes = reader.bytes - bytesBefore;
  return stream.result(messages, bytes);
}

/** Follows the record stream of an AXFR or IXFR answer (RFC 1995 section 4, RFC 5936 section 2.2). */
class RecordStream {
  readonly #zoneKey: string;
  readonly #ixfr: boolean;
  readonly #held: number | undefined;
  readonly #max: number;
  #first: ZoneRecord | undefined;
  #serial = 0;
  #mode: "start" | "full" | "incremental" = "start";
  #records: ZoneRecord[] = [];
  #changes: IncomingChange[] = [];
  /** Incremental: "deleting" after an old SOA, "adding" after a new one. */
  #phase: "deleting" | "adding" = "adding";
  #count = 0;
  done = false;

  constructor(zoneKey: string, o: { ixfr: boolean; held?: number; maxRecords: number }) {
    this.#zoneKey = zoneKey;
    this.#ixfr = o.ixfr;
    this.#held = o.held;
    this.#max = o.maxRecords;
  }

  /** Only the first SOA so far. */
  get single(): boolean {
    return this.#first !== undefined && this.#mode === "start";
  }

  #isApexSoa(r: ZoneRecord): boolean {
    return r.type === TYPE.SOA && nameKey(r.name) === this.#zoneKey;
  }

  push(r: ZoneRecord): void {
    if (++this.#count > 2 * this.#max + 4) {
      throw new TransferError("oversized", `more than ${this.#max} records (dns.max_zone_records)`);
    }
    if (r.type === TYPE.SOA && !this.#isApexSoa(r)) {
      throw new TransferError("malformed", "an SOA record below the apex");
    }
    if (!this.#first) {
      if (!this.#isApexSoa(r)) {
        throw new TransferError("malformed", "the transfer does not start with the zone's SOA");
      }
      this.#first = r;
      this.#serial = soaSerial(r.rdata);
      return;
    }
    if (this.#mode === "start") {
      if (this.#ixfr && this.#isApexSoa(r) && soaSerial(r.rdata) === this.#held) {
        this.#mode = "incremental";
        this.#phase = "deleting";
        this.#changes.push({ from: this.#held!, to: 0, removed: [], added: [] });
        return;
      }
      this.#mode = "full";
      this.#records.push(this.#first);
    }
    if (this.#mode === "full") {
      if (this.#isApexSoa(r)) {
        if (soaSerial(r.rdata) !== this.#serial) {
          throw new TransferError("malformed", "the closing SOA has another serial");
        }
        this.done = true;
        return;
      }
      if (this.#records.length >= this.#max) {
        throw new TransferError(
          "oversized",
          `more than ${this.#max} records (dns.max_zone_records)`,
        );
      }
      this.#records.push(r);
      return;
    }
    const change = this.#changes[this.#changes.length - 1];
    if (!this.#isApexSoa(r)) {
      (this.#phase === "deleting" ? change.removed : change.added).push(r);
      return;
    }
    const serial = soaSerial(r.rdata);
    if (this.#phase === "deleting") {
      change.to = serial;
      this.#phase = "adding";
      return;
    }
    if (serial === this.#serial && change.to === this.#serial) {
      this.done = true;
      return;
    }
    if (serial !== change.to) {
      throw new TransferError("malformed", "an IXFR change that does not start where one ended");
    }
    this.#changes.push({ from: serial, to: 0, removed: [], added: [] });
    this.#phase = "deleting";
  }

  result(messages: number, bytes: number): TransferResult {
    if (this.#mode === "start") {
      if (!this.#first) throw new TransferError("malformed", "an empty transfer");
      if (this.#ixfr) return { kind: "up-to-date", serial: this.#serial };
      throw new TransferError("malformed", "the transfer does not end with the zone's SOA");
    }
    if (!this.done) throw new TransferError("malformed", "the transfer ended early");
    if (this.#mode === "full") {
      return { kind: "full", serial: this.#serial, records: this.#records, messages, bytes };
    }
    return {
      kind: "incremental",
      serial: this.#serial,
      soa: this.#first!,
      changes: this.#changes,
      messages,
      bytes,
    };
  }
}
