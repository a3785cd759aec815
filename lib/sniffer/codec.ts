/**
 * How the sniffer stores addresses: compact, ordered and cheap to index.
 *
 * - MAC addresses are 48-bit integers (`aa:bb:cc:dd:ee:ff` → 0xaabbccddeeff),
 *   so they sort like their text and an index entry takes 7 bytes, not 18.
 * - IPv4 addresses are 32-bit integers (sorting numerically, so 10.0.0.9
 *   comes before 10.0.0.10) and IPv6 addresses 16-byte blobs; SQLite orders
 *   integers before blobs, so every IPv4 address sorts before every IPv6 one.
 *
 * The `events_readable` view turns them back into text for ad-hoc SQL.
 *
 * @module
 */

import { formatIp, parseIpv6 } from "../net/mod.ts";

/** A stored IP: integer for IPv4, 16 bytes for IPv6. */
export type IpKey = number | Uint8Array;

const TWO24 = 0x1000000;

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * `aa:bb:cc:dd:ee:ff` (as the capture layer writes it) to a 48-bit integer,
 * or null for "" and anything else. Allocation-free.
 */
export function macToInt(text: string): number | null {
  if (text.length !== 17) return null;
  let hi = 0, lo = 0;
  for (let i = 0; i < 6; i++) {
    const a = hexVal(text.charCodeAt(i * 3));
    const b = hexVal(text.charCodeAt(i * 3 + 1));
    if (a < 0 || b < 0 || (i < 5 && text.charCodeAt(i * 3 + 2) !== 58)) return null;
    if (i < 3) hi = (hi << 8) | (a << 4) | b;
    else lo = (lo << 8) | (a << 4) | b;
  }
  return hi * TWO24 + lo;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** A 48-bit integer back to `aa:bb:cc:dd:ee:ff`. */
export function intToMac(n: number): string {
  const hi = Math.floor(n / TWO24), lo = n % TWO24;
  return `${HEX[(hi >>> 16) & 255]}:${HEX[(hi >>> 8) & 255]}:${HEX[hi & 255]}:${
    HEX[(lo >>> 16) & 255]
  }:${HEX[(lo >>> 8) & 255]}:${HEX[lo & 255]}`;
}

/** Dotted-quad IPv4 to an unsigned integer, or -1. Allocation-free. */
export function ipv4ToInt(text: string): number {
  let n = 0, part = 0, digits = 0, dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

/** An IP as text to its stored key (integer or 16 bytes), or null when it is not an address. */
export function ipToKey(text: string): IpKey | null {
  if (text === "") return null;
  const v4 = ipv4ToInt(text);
  if (v4 >= 0) return v4;
  return parseIpv6(text);
}

/** A stored IP key back to text. */
export function keyToIp(key: unknown): string {
  if (typeof key === "number") {
    return `${(key >>> 24) & 255}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}`;
  }
  if (typeof key === "bigint") return keyToIp(Number(key));
  if (key instanceof Uint8Array && key.length === 16) return formatIp(key);
  return "";
}

/**
 * The range of stored keys an address or CIDR covers, for `--ip` filters:
 * a single address gives `[k, k]`; `10.0.0.0/8` the first and last address.
 * Returns null for text that is neither.
 */
export function cidrToKeyRange(text: string): [IpKey, IpKey] | null {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const key = ipToKey(addr.trim());
  if (key === null) return null;
  const bits = typeof key === "number" ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return null;
    prefix = Number(p);
  }
  if (typeof key === "number") {
    const size = 2 ** (32 - prefix);
    const start = Math.floor(key / size) * size;
    return [start, start + size - 1];
  }
  const lo = key.slice(), hi = key.slice();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    lo[i] &= mask;
    hi[i] = (hi[i] & mask) | (~mask & 0xff);
  }
  return [lo, hi];
}
