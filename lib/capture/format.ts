/**
 * Text forms of MACs, IP addresses and byte strings for the decode hot path.
 *
 * Traffic repeats the same few addresses, so each formatter keeps a small
 * direct-mapped cache keyed by the raw bytes: a hit costs a few integer
 * compares and no allocation; a miss builds the string once.
 *
 * @module
 */

import { formatIp } from "../net/mod.ts";

const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

const MAC_SLOTS = 1024;
const macHi = new Uint32Array(MAC_SLOTS);
const macLo = new Uint32Array(MAC_SLOTS);
const macStr: (string | undefined)[] = new Array(MAC_SLOTS).fill(undefined);

/** `aa:bb:cc:dd:ee:ff` for the 6 bytes at `off`. */
export function macAt(buf: Uint8Array, off: number): string {
  const hi = (buf[off] << 8) | buf[off + 1];
  const lo = ((buf[off + 2] << 24) | (buf[off + 3] << 16) | (buf[off + 4] << 8) | buf[off + 5]) >>>
    0;
  const slot = (Math.imul(lo ^ (hi << 7), 0x9e3779b1) >>> 22) & (MAC_SLOTS - 1);
  const cached = macStr[slot];
  if (cached !== undefined && macLo[slot] === lo && macHi[slot] === hi) return cached;
  const s = HEX2[buf[off]] + ":" + HEX2[buf[off + 1]] + ":" + HEX2[buf[off + 2]] + ":" +
    HEX2[buf[off + 3]] + ":" + HEX2[buf[off + 4]] + ":" + HEX2[buf[off + 5]];
  macHi[slot] = hi;
  macLo[slot] = lo;
  macStr[slot] = s;
  return s;
}

/** Colon-separated hex of `len` bytes (hardware addresses that are not 6 bytes long). */
export function colonHexAt(buf: Uint8Array, off: number, len: number): string {
  if (len === 6) return macAt(buf, off);
  let s = "";
  for (let i = 0; i < len; i++) s += (i === 0 ? "" : ":") + HEX2[buf[off + i]];
  return s;
}

/** Plain lower-case hex of `len` bytes. */
export function hexAt(buf: Uint8Array, off: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += HEX2[buf[off + i]];
  return s;
}

const V4_SLOTS = 4096;
const v4Key = new Uint32Array(V4_SLOTS);
const v4Str: (string | undefined)[] = new Array(V4_SLOTS).fill(undefined);
const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i));

/** Dotted quad for the 4 bytes at `off`. */
export function ipv4At(buf: Uint8Array, off: number): string {
  const key = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
  const slot = Math.imul(key, 0x9e3779b1) >>> 20;
  const cached = v4Str[slot];
  if (cached !== undefined && v4Key[slot] === key) return cached;
  const s = DEC[buf[off]] + "." + DEC[buf[off + 1]] + "." + DEC[buf[off + 2]] + "." +
    DEC[buf[off + 3]];
  v4Key[slot] = key;
  v4Str[slot] = s;
  return s;
}

const V6_SLOTS = 1024;
const v6Key = new Int32Array(V6_SLOTS * 4);
const v6Str: (string | undefined)[] = new Array(V6_SLOTS).fill(undefined);

/** RFC 5952 text for the 16 bytes at `off`. */
export function ipv6At(buf: Uint8Array, off: number): string {
  const a = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
  const b = (buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7];
  const c = (buf[off + 8] << 24) | (buf[off + 9] << 16) | (buf[off + 10] << 8) | buf[off + 11];
  const d = (buf[off + 12] << 24) | (buf[off + 13] << 16) | (buf[off + 14] << 8) | buf[off + 15];
  const slot = (Math.imul(a ^ Math.imul(b, 31) ^ Math.imul(c, 961) ^ d, 0x9e3779b1) >>> 22) &
    (V6_SLOTS - 1);
  const k = slot * 4;
  const cached = v6Str[slot];
  if (
    cached !== undefined && v6Key[k] === a && v6Key[k + 1] === b && v6Key[k + 2] === c &&
    v6Key[k + 3] === d
  ) {
    return cached;
  }
  const s = formatIp(buf, off, 16);
  v6Key[k] = a;
  v6Key[k + 1] = b;
  v6Key[k + 2] = c;
  v6Key[k + 3] = d;
  v6Str[slot] = s;
  return s;
}

/**
 * Printable form of a byte string from a packet (DHCP host name, vendor
 * class): printable ASCII stays, a backslash and every other byte become
 * `\DDD` (decimal, as in DNS presentation format), so a log line never holds
 * control characters. Trailing NULs, which some DHCP clients send, are dropped.
 */
export function printableAt(buf: Uint8Array, off: number, len: number): string {
  while (len > 0 && buf[off + len - 1] === 0) len--;
  let plain = true;
  for (let i = 0; i < len; i++) {
    const ch = buf[off + i];
    if (ch < 0x20 || ch > 0x7e || ch === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return String.fromCharCode.apply(null, buf.subarray(off, off + len) as never);
  let s = "";
  for (let i = 0; i < len; i++) {
    const ch = buf[off + i];
    if (ch < 0x20 || ch > 0x7e || ch === 0x5c) s += "\\" + String(ch).padStart(3, "0");
    else s += String.fromCharCode(ch);
  }
  return s;
}
