/**
 * SOA serials: RFC 1982 serial number arithmetic, the three policies of
 * `dns.serial_policy` (Knot's names), and a content digest of a zone that
 * ignores the serial, so that every change vigia makes or sees (a zone-table
 * edit, `ctl zone add|del`, a zone file re-read with other content, a config
 * zone changed on reload) gets a new serial, while a zone file whose author
 * already raised the serial keeps it.
 *
 * @example
 * ```ts
 * import { nextSerial, serialGreater } from "./serial.ts";
 * serialGreater(1, 0xffffffff); // true: 1 follows 4294967295 (RFC 1982)
 * nextSerial(2026120305, "dateserial", new Date("2026-12-03T10:00:00Z")); // 2026120306
 * ```
 *
 * @module
 */

import { TYPE } from "./wire.ts";
import type { Zone } from "./zone_db.ts";

/** The policies of `dns.serial_policy`. */
export type SerialPolicy = "increment" | "unixtime" | "dateserial";

/** The policies, for the config schema. */
export const SERIAL_POLICIES: readonly SerialPolicy[] = ["increment", "unixtime", "dateserial"];

/** `a > b` in RFC 1982 serial arithmetic (SERIAL_BITS 32); undefined pairs (2^31 apart) are not greater. */
export function serialGreater(a: number, b: number): boolean {
  a >>>= 0;
  b >>>= 0;
  return (a < b && b - a > 0x80000000) || (a > b && a - b < 0x80000000);
}

/** `serial + n` modulo 2^32 (RFC 1982 section 3.1; n below 2^31). */
export function serialAdd(serial: number, n: number): number {
  return (serial + n) >>> 0;
}

/**
 * The serial after `current` under `policy`: one more (increment), the Unix
 * time (unixtime) or YYYYMMDDnn of `now` in UTC (dateserial), but always
 * greater than `current` in RFC 1982 terms, as Knot does.
 */
export function nextSerial(current: number, policy: SerialPolicy, now: Date = new Date()): number {
  const plusOne = serialAdd(current, 1);
  let wanted: number;
  if (policy === "unixtime") wanted = Math.floor(now.getTime() / 1000) >>> 0;
  else if (policy === "dateserial") {
    const day = now.getUTCFullYear() * 10000 + (now.getUTCMonth() + 1) * 100 + now.getUTCDate();
    wanted = (day * 100) >>> 0;
  } else return plusOne;
  return serialGreater(wanted, current) ? wanted : plusOne;
}

/** The serial field of SOA RDATA (MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM). */
export function soaSerial(rdata: Uint8Array): number {
  return soaField(rdata, 0);
}

/** One of the five numbers of SOA RDATA: 0 serial, 1 refresh, 2 retry, 3 expire, 4 minimum. */
export function soaField(rdata: Uint8Array, index: number): number {
  const at = rdata.length - 20 + index * 4;
  return ((rdata[at] << 24) | (rdata[at + 1] << 16) | (rdata[at + 2] << 8) | rdata[at + 3]) >>> 0;
}

/** A copy of SOA RDATA with another serial. */
export function withSerial(rdata: Uint8Array, serial: number): Uint8Array {
  const out = rdata.slice();
  new DataView(out.buffer).setUint32(out.length - 20, serial >>> 0);
  return out;
}

/**
 * A digest of a zone's content that does not depend on the SOA serial nor on
 * the order records came in: the sum of a 53-bit hash of each record (owner
 * in lower case, type, TTL, RDATA). Two zones with the same records have the
 * same digest; one changed record changes it.
 */
export function zoneDigest(zone: Zone): string {
  let hi = 0, lo = 0;
  for (const node of zone.nodes.values()) {
    const key = node.key;
    for (const set of node.rrsets.values()) {
      for (let i = 0; i < set.rdatas.length; i++) {
        let h1 = 0x811c9dc5, h2 = 0x01000193 ^ set.type;
        for (let c = 0; c < key.length; c++) {
          const x = key.charCodeAt(c);
          h1 = Math.imul(h1 ^ x, 0x01000193);
          h2 = Math.imul(h2 ^ x, 0x5bd1e995);
        }
        h1 = Math.imul(h1 ^ set.type, 0x01000193);
        h1 = Math.imul(h1 ^ set.ttls[i], 0x01000193);
        const rdata = set.rdatas[i];
        // The SOA serial is left out: it is what this digest decides.
        const skipFrom = set.type === TYPE.SOA ? rdata.length - 20 : -1;
        for (let b = 0; b < rdata.length; b++) {
          if (b >= skipFrom && b < skipFrom + 4) continue;
          h1 = Math.imul(h1 ^ rdata[b], 0x01000193);
          h2 = Math.imul(h2 ^ rdata[b], 0x5bd1e995);
        }
        lo = (lo + (h1 >>> 0)) >>> 0;
        hi = (hi + (h2 >>> 0)) >>> 0;
      }
    }
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}
