/**
 * The hot path: answers a query message in place, from pre-encoded answers.
 *
 * The first time a question is seen (lower-cased name, type, class, EDNS
 * on/off, DO bit, response size limit, transport) the answer layer decides
 * and writes the full response; its bytes after the question are kept. The
 * next identical question is answered by patching the header flags and
 * counts and copying those bytes over the request, right after its own
 * question: the ID and the letter case of the name are already in place,
 * and every compression pointer into the question stays valid because the
 * name has the same labels. One hash over the name bytes, one compare, one
 * copy — no allocation.
 *
 * Also counts every query for `ctl stats` into a `Float64Array` that can
 * live in a SharedArrayBuffer (workers count, the main thread reads) and
 * applies response rate limiting to UDP.
 *
 * @module
 */

import {
  AnswerKind,
  decideFor,
  parseQuery,
  QueryStatus,
  responseLimit,
  writeResponse,
} from "./answer.ts";
import { RateLimiter, type RrlOptions, RrlVerdict } from "./rrl.ts";
import { SignedAnswers } from "./xfr_out.ts";
import type { ZoneDb } from "./zone_db.ts";
import { MessageWriter, RCODE, TYPE } from "./wire.ts";

/** Indexes of the counters in a stats array. */
export const COUNTER = {
  QUERIES_UDP: 0,
  QUERIES_TCP: 1,
  DROPPED_MALFORMED: 2,
  RRL_DROPPED: 3,
  RRL_SLIPPED: 4,
  CACHE_HITS: 5,
  CACHE_MISSES: 6,
  TRUNCATED: 7,
  /** First of 24 counters: responses per rcode 0..23 (16 = BADVERS). */
  RCODE: 8,
  /** Signed queries and IXFR over UDP answered off the cached path. */
  SIGNED: 32,
  /** Of those, refused (NOTAUTH for a bad signature, REFUSED by network). */
  SIGNED_REFUSED: 33,
  /** First of {@linkcode MAX_ZONE_SLOTS} counters: queries per zone slot. */
  ZONE: 34,
} as const;

/** Zone counters available; the last one collects every zone past the limit. */
export const MAX_ZONE_SLOTS = 1024;

/**
 * Query types with a label of their own in the metrics; every other type
 * counts as `other` (the last index), so the label's cardinality is fixed.
 */
export const METRIC_QTYPES = [
  "A",
  "NS",
  "CNAME",
  "SOA",
  "PTR",
  "MX",
  "TXT",
  "AAAA",
  "SRV",
  "NAPTR",
  "DS",
  "DNSKEY",
  "SVCB",
  "HTTPS",
  "CAA",
  "AXFR",
  "IXFR",
  "ANY",
  "other",
] as const;

const QTYPE_NUMBERS = [1, 2, 5, 6, 12, 15, 16, 28, 33, 35, 43, 48, 64, 65, 257, 252, 251, 255];

/** Metric type index of every qtype (65536 entries, `other` for the unlisted). */
const QTYPE_INDEX = (() => {
  const t = new Uint8Array(65536).fill(METRIC_QTYPES.length - 1);
  QTYPE_NUMBERS.forEach((n, i) => (t[n] = i));
  return t;
})();

/**
 * Zones with metrics of their own: metric zone 0 is `other` (names outside
 * every served zone, and zones past the limit), zone slot `s` is `s + 1`.
 */
export const METRIC_ZONES = 256;

/** Protocol x family combinations per (zone, type): udp/ipv4, udp/ipv6, tcp/ipv4, tcp/ipv6. */
const PROTO_FAMILY = 4;

/** Upper bounds (seconds) of the request duration histogram. */
export const DURATION_BUCKETS = [
  0.00001,
  0.000025,
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.05,
];

/** Where the metric regions of a stats array start (after the `ctl stats` counters). */
export const METRIC = {
  /** requests[zone][type][proto][family] */
  REQUESTS: COUNTER.ZONE + MAX_ZONE_SLOTS,
  /** responses[zone][rcode 0..23] */
  RESPONSES: COUNTER.ZONE + MAX_ZONE_SLOTS + METRIC_ZONES * METRIC_QTYPES.length * PROTO_FAMILY,
  /** duration[proto]: DURATION_BUCKETS.length + 1 buckets, then the sum */
  DURATION: COUNTER.ZONE + MAX_ZONE_SLOTS +
    METRIC_ZONES * METRIC_QTYPES.length * PROTO_FAMILY + METRIC_ZONES * 24,
} as const;

/** Length of a stats array. */
export const COUNTER_COUNT: number = METRIC.DURATION + 2 * (DURATION_BUCKETS.length + 2);

/** The metric zone of a zone slot (see {@linkcode METRIC_ZONES}). */
export function metricZone(slot: number): number {
  return slot + 1 < METRIC_ZONES ? slot + 1 : 0;
}

/** Options for {@linkcode Responder}. */
export interface ResponderOptions {
  /** Largest UDP response and the size advertised in OPT. */
  maxUdpPayload: number;
  /** Pre-encoded answers kept at most (the cache is emptied when full). */
  cacheEntries: number;
  /** Response rate limiting for UDP; absent = off. */
  rrl?: RrlOptions;
  /** Where to count; a fresh array when absent. */
  counters?: Float64Array;
  /** Count the metric regions too (requests by zone/type/transport, responses, duration). @default true */
  metrics?: boolean;
  /** Answers signed queries and IXFR over UDP (off the cached path); absent = none configured. */
  signed?: SignedAnswers;
}

interface Entry {
  /** Lower-case query name, wire form. */
  name: Uint8Array;
  qtype: number;
  qclass: number;
  variant: number;
  /** Response bytes after the question. */
  tail: Uint8Array;
  /** Header byte 2 without RD, byte 3. */
  flags2: number;
  flags3: number;
  an: number;
  ns: number;
  ar: number;
  rcodeCounter: number;
  zoneCounter: number;
  /** First of the 4 request metric slots of this zone and type. */
  requestMetric: number;
  /** The response metric slot of this zone and rcode. */
  responseMetric: number;
  rrlClass: number;
  next: Entry | undefined;
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

function stringHash(kind: number, text: string): number {
  let h = Math.imul(FNV_OFFSET ^ kind, FNV_PRIME);
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h;
}

const ERROR_CLASS = stringHash(AnswerKind.ERROR, "");

/** Answers queries against one zone database; see the module doc. */
export class Responder {
  /** The counters (see {@linkcode COUNTER}). */
  readonly counters: Float64Array;
  readonly #maxUdp: number;
  readonly #cacheLimit: number;
  readonly #rrl: RateLimiter | undefined;
  readonly #writer = new MessageWriter(new Uint8Array(65535));
  #db: ZoneDb;
  #cache = new Map<number, Entry>();
  #cached = 0;
  // Scratch state of the last parse, to avoid returning objects from the hot path.
  #qend = 0;
  #nameLen = 0;
  #qtype = 0;
  #qclass = 0;
  #variant = 0;
  #limit = 0;
  #addr: Uint8Array = new Uint8Array(16);
  #v6 = false;
  readonly #metrics: boolean;

  constructor(db: ZoneDb, options: ResponderOptions) {
    this.#db = db;
    this.#maxUdp = options.maxUdpPayload;
    this.#cacheLimit = options.cacheEntries;
    this.#rrl = options.rrl ? new RateLimiter(options.rrl) : undefined;
    this.counters = options.counters ?? new Float64Array(COUNTER_COUNT);
    this.#metrics = options.metrics !== false;
    this.#signed = options.signed;
  }

  /**
   * Records `count` requests of one transport that took `seconds` each
   * (from their arrival in vigia to their answer handed to the kernel).
   */
  observe(seconds: number, count: number, tcp: boolean): void {
    if (!this.#metrics) return;
    const at = METRIC.DURATION + (tcp ? DURATION_BUCKETS.length + 2 : 0);
    const c = this.counters;
    let b = 0;
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]) b++;
    c[at + b] += count;
    c[at + DURATION_BUCKETS.length + 1] += seconds * count;
  }

  /** Counts a request answered without a cacheable entry (errors, odd queries): zone and type `other`. */
  #countOther(rcode: number, tcp: boolean): void {
    if (!this.#metrics) return;
    const c = this.counters;
    c[
      METRIC.REQUESTS + (METRIC_QTYPES.length - 1) * PROTO_FAMILY + (tcp ? 2 : 0) +
      (this.#v6 ? 1 : 0)
    ]++;
    if (rcode >= 0) c[METRIC.RESPONSES + (rcode < 24 ? rcode : 23)]++;
  }

  readonly #signed: SignedAnswers | undefined;

  /** Signed queries and IXFR over UDP; -1 when they are not for this path. */
  #special(msg: Uint8Array, length: number, tcp: boolean): number {
    const reply = this.#signed!.answer(msg, length, {
      tcp,
      client: this.#addr.subarray(0, this.#v6 ? 16 : 4),
      db: this.#db,
      limit: tcp ? 65535 : this.#maxUdp,
      plain: (body, limit) => {
        const q = parseQuery(body, body.length);
        const d = decideFor(this.#db, q, { tcp });
        if (!d) return undefined;
        const l = Math.min(responseLimit(q, { tcp, maxUdpPayload: this.#maxUdp }), limit);
        const n = writeResponse(q, d, { writer: this.#writer, limit: l, ednsSize: this.#maxUdp });
        return this.#writer.buf.slice(0, n);
      },
    });
    if (!reply) return -1;
    const rcode = reply[3] & 15;
    this.counters[COUNTER.SIGNED]++;
    this.counters[COUNTER.RCODE + rcode]++;
    if (rcode === RCODE.NOTAUTH || rcode === RCODE.REFUSED) this.counters[COUNTER.SIGNED_REFUSED]++;
    this.#countOther(rcode, tcp);
    this.#writer.buf.set(reply, 0);
    return reply.length;
  }

  /** Serves a new database from now on (pre-encoded answers are dropped). */
  setDb(db: ZoneDb): void {
    this.#db = db;
    this.#cache.clear();
    this.#cached = 0;
  }

  /** Number of pre-encoded answers held. */
  get cacheSize(): number {
    return this.#cached;
  }

  /** Sets the clock (monotonic milliseconds) for rate limiting; once per batch of datagrams. */
  tick(nowMs: number): void {
    this.#rrl?.tick(nowMs);
  }

  /** Sets the client of the next {@linkcode Responder.udp} or {@linkcode Responder.tcp} call: its address at the start of `addr` (16 bytes when `v6`). */
  client(addr: Uint8Array, v6: boolean): void {
    this.#addr = addr;
    this.#v6 = v6;
  }

  /**
   * Answers the UDP query in `msg[0..length)` from the current
   * {@linkcode Responder.client} by writing the response over it (`msg` must
   * hold `maxUdpPayload` bytes). Returns the response length, or 0 to send nothing.
   */
  udp(msg: Uint8Array, length: number): number {
    const c = this.counters;
    c[COUNTER.QUERIES_UDP]++;
    let e = this.#scan(msg, length, false) ? this.#find(msg) : undefined;
    if (e) c[COUNTER.CACHE_HITS]++;
    else {
      const out = this.#slow(msg, length, false);
      if (out < 0) return 0;
      e = this.#lastEntry;
      if (!e) {
        // An uncacheable answer (errors without a question) was written to the writer buffer.
        if (out > msg.length) return 0;
        if (this.#rrl && this.#limited(ERROR_CLASS, msg, 12)) {
          return this.#slipLength;
        }
        msg.set(this.#writer.buf.subarray(0, out), 0);
        return out;
      }
    }
    c[e.rcodeCounter]++;
    if (e.zoneCounter >= 0) c[e.zoneCounter]++;
    if (this.#metrics) {
      c[e.requestMetric + (this.#v6 ? 1 : 0)]++;
      c[e.responseMetric]++;
    }
    if (this.#rrl && this.#limited(e.rrlClass, msg, this.#qend)) {
      return this.#slipLength;
    }
    if (e.flags2 & 2) c[COUNTER.TRUNCATED]++;
    return this.#apply(e, msg);
  }

  /**
   * Answers a TCP query (no size limit but 65535, no rate limiting). Returns
   * a view of the response, valid until the next call, or undefined to send nothing.
   */
  tcp(msg: Uint8Array, length: number, v6 = false): Uint8Array | undefined {
    const c = this.counters;
    this.#v6 = v6;
    c[COUNTER.QUERIES_TCP]++;
    let e = this.#scan(msg, length, true) ? this.#find(msg) : undefined;
    if (e) c[COUNTER.CACHE_HITS]++;
    else {
      const out = this.#slow(msg, length, true);
      if (out < 0) return undefined;
      e = this.#lastEntry;
      if (!e) return this.#writer.buf.subarray(0, out);
    }
    c[e.rcodeCounter]++;
    if (e.zoneCounter >= 0) c[e.zoneCounter]++;
    if (this.#metrics) {
      c[e.requestMetric + 2 + (v6 ? 1 : 0)]++;
      c[e.responseMetric]++;
    }
    const buf = this.#writer.buf;
    buf.set(msg.subarray(0, this.#qend), 0);
    return buf.subarray(0, this.#apply(e, buf));
  }

  #slipLength = 0;

  /** Applies RRL; when limited, leaves the slip answer (or nothing) in `msg` and returns true. */
  #limited(rrlClass: number, msg: Uint8Array, qend: number): boolean {
    const rrl = this.#rrl!;
    const verdict = rrl.check(rrl.network(this.#addr, this.#v6), rrlClass);
    if (verdict === RrlVerdict.SEND) return false;
    if (verdict === RrlVerdict.DROP) {
      this.counters[COUNTER.RRL_DROPPED]++;
      this.#slipLength = 0;
      return true;
    }
    this.counters[COUNTER.RRL_SLIPPED]++;
    // The slip: an empty answer with TC, so that a real client retries over TCP.
    msg[2] = 0x82 | (msg[2] & 1);
    msg[3] = 0;
    msg[6] =
      msg[7] =
      msg[8] =
      msg[9] =
      msg[10] =
      msg[11] =
        0;
    if (qend === 12) msg[4] = msg[5] = 0;
    this.#slipLength = qend;
    return true;
  }

  #apply(e: Entry, msg: Uint8Array): number {
    const qend = this.#qend;
    msg[2] = e.flags2 | (msg[2] & 1);
    msg[3] = e.flags3;
    msg[4] = 0;
    msg[5] = 1;
    msg[6] = e.an >> 8;
    msg[7] = e.an & 0xff;
    msg[8] = e.ns >> 8;
    msg[9] = e.ns & 0xff;
    msg[10] = e.ar >> 8;
    msg[11] = e.ar & 0xff;
    msg.set(e.tail, qend);
    return qend + e.tail.length;
  }

  /**
   * Checks a query cheaply and computes its cache hash; false sends it to
   * the slow path (anything unusual: errors, other opcodes, BADVERS).
   */
  #hash = 0;
  #scan(msg: Uint8Array, length: number, tcp: boolean): boolean {
    if (length < 17) return false;
    if ((msg[2] & 0xf8) !== 0 || (msg[3] & 0x0f) !== 0) return false;
    if (msg[4] !== 0 || msg[5] !== 1 || msg[6] !== 0 || msg[7] !== 0 || msg[8] !== 0) return false;
    if (msg[9] !== 0 || msg[10] !== 0 || msg[11] > 1) return false;
    let h = FNV_OFFSET;
    let p = 12;
    for (;;) {
      if (p >= length) return false;
      const l = msg[p];
      if (l === 0) break;
      if (l > 63 || p + l >= length) return false;
      h = Math.imul(h ^ l, FNV_PRIME);
      for (let i = p + 1; i <= p + l; i++) {
        const b = msg[i];
        h = Math.imul(h ^ (b >= 0x41 && b <= 0x5a ? b | 0x20 : b), FNV_PRIME);
      }
      p += l + 1;
    }
    const nameLen = p + 1 - 12;
    const qend = p + 5;
    if (nameLen > 255 || qend > length) return false;
    const qtype = (msg[p + 1] << 8) | msg[p + 2];
    const qclass = (msg[p + 3] << 8) | msg[p + 4];
    let variant: number;
    let limit: number;
    if (msg[11] === 1) {
      const o = qend;
      if (o + 11 > length || msg[o] !== 0 || msg[o + 1] !== 0 || msg[o + 2] !== TYPE.OPT) {
        return false;
      }
      if (msg[o + 6] !== 0) return false; // EDNS version > 0: BADVERS on the slow path
      const rdlen = (msg[o + 9] << 8) | msg[o + 10];
      const end = o + 11 + rdlen;
      if (end > length) return false;
      for (let x = o + 11; x < end;) {
        if (x + 4 > end) return false;
        x += 4 + ((msg[x + 2] << 8) | msg[x + 3]);
        if (x > end) return false;
      }
      const payload = (msg[o + 3] << 8) | msg[o + 4];
      limit = tcp ? 65535 : payload < 512 ? 512 : payload > this.#maxUdp ? this.#maxUdp : payload;
      variant = (limit << 3) | 1 | (msg[o + 7] & 0x80 ? 2 : 0) | (tcp ? 4 : 0);
    } else {
      limit = tcp ? 65535 : 512;
      variant = (limit << 3) | (tcp ? 4 : 0);
    }
    h = Math.imul(h ^ qtype, FNV_PRIME);
    h = Math.imul(h ^ qclass, FNV_PRIME);
    h = Math.imul(h ^ variant, FNV_PRIME);
    this.#hash = h;
    this.#qend = qend;
    this.#nameLen = nameLen;
    this.#qtype = qtype;
    this.#qclass = qclass;
    this.#variant = variant;
    this.#limit = limit;
    return true;
  }

  #find(msg: Uint8Array): Entry | undefined {
    const nameLen = this.#nameLen;
    for (let e = this.#cache.get(this.#hash); e !== undefined; e = e.next) {
      if (
        e.variant !== this.#variant || e.qtype !== this.#qtype || e.qclass !== this.#qclass ||
        e.name.length !== nameLen
      ) continue;
      const name = e.name;
      let i = 0;
      for (; i < nameLen; i++) {
        const b = msg[12 + i];
        if ((b >= 0x41 && b <= 0x5a ? b | 0x20 : b) !== name[i]) break;
      }
      if (i === nameLen) return e;
    }
    return undefined;
  }

  #lastEntry: Entry | undefined;

  /** Full decision; returns the response length in the writer, or -1 to drop. Sets #lastEntry when cacheable. */
  #slow(msg: Uint8Array, length: number, tcp: boolean): number {
    this.#lastEntry = undefined;
    const c = this.counters;
    c[COUNTER.CACHE_MISSES]++;
    if (this.#signed && SignedAnswers.wants(msg, length)) {
      const out = this.#special(msg, length, tcp);
      if (out >= 0) return out;
    }
    const q = parseQuery(msg, length);
    const d = decideFor(this.#db, q, { tcp });
    if (!d) {
      c[COUNTER.DROPPED_MALFORMED]++;
      this.#countOther(-1, tcp);
      return -1;
    }
    const limit = responseLimit(q, { tcp, maxUdpPayload: this.#maxUdp });
    const out = writeResponse(q, d, { writer: this.#writer, limit, ednsSize: this.#maxUdp });
    const buf = this.#writer.buf;
    // Cache only what the fast scan can find again: well-formed, question echoed, EDNS version 0.
    if (!d.withQuestion || q.status !== QueryStatus.OK || d.rcode === RCODE.BADVERS) {
      c[COUNTER.RCODE + (d.rcode < 24 ? d.rcode : 23)]++;
      this.#countOther(d.rcode, tcp);
      return out;
    }
    if (!this.#scan(msg, length, tcp) || this.#limit !== limit) {
      c[COUNTER.RCODE + (d.rcode < 24 ? d.rcode : 23)]++;
      this.#countOther(d.rcode, tcp);
      return out;
    }
    const qend = this.#qend;
    const name = new Uint8Array(this.#nameLen);
    for (let i = 0; i < name.length; i++) {
      const b = msg[12 + i];
      name[i] = b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
    }
    const e: Entry = {
      name,
      qtype: this.#qtype,
      qclass: this.#qclass,
      variant: this.#variant,
      tail: buf.slice(qend, out),
      flags2: buf[2] & 0xfe,
      flags3: buf[3],
      an: (buf[6] << 8) | buf[7],
      ns: (buf[8] << 8) | buf[9],
      ar: (buf[10] << 8) | buf[11],
      rcodeCounter: COUNTER.RCODE + (d.rcode < 24 ? d.rcode : 23),
      zoneCounter: d.zone ? COUNTER.ZONE + Math.min(d.zone.slot, MAX_ZONE_SLOTS - 1) : -1,
      requestMetric: METRIC.REQUESTS +
        ((d.zone ? metricZone(d.zone.slot) : 0) * METRIC_QTYPES.length +
            QTYPE_INDEX[this.#qtype]) * PROTO_FAMILY,
      responseMetric: METRIC.RESPONSES + (d.zone ? metricZone(d.zone.slot) : 0) * 24 +
        (d.rcode < 24 ? d.rcode : 23),
      rrlClass: stringHash(d.kind, d.kindName),
      next: undefined,
    };
    if (this.#cached >= this.#cacheLimit) {
      this.#cache.clear();
      this.#cached = 0;
    }
    e.next = this.#cache.get(this.#hash);
    this.#cache.set(this.#hash, e);
    this.#cached++;
    this.#lastEntry = e;
    return out;
  }
}
