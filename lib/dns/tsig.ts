/**
 * TSIG (RFC 8945): HMAC signatures of DNS messages with shared keys, for
 * zone transfers, NOTIFY and the SOA queries of secondaries. Signing and
 * checking are synchronous (node:crypto HMAC), so the UDP workers use them
 * too. What is checked, in RFC 8945 section 5.2 order: the key is known and
 * of the algorithm named (else BADKEY), the MAC matches (else BADSIG; a MAC
 * truncated below half the hash or 10 bytes is FORMERR), the time is within
 * the fudge (else BADTIME, answered signed with the server's time). Errors
 * are answered with rcode NOTAUTH and the TSIG error in the TSIG record.
 * Multi-message answers (AXFR, IXFR) sign each message over the previous
 * MAC and the message with the timers only (section 5.3.1).
 *
 * @example
 * ```ts
 * import { parseTsigKey, newTsigSecret } from "./tsig.ts";
 * const key = parseTsigKey({ name: "xfr-key.", algorithm: "hmac-sha256", secret: newTsigSecret("hmac-sha256") });
 * ```
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { CLASS, nameFromText, nameKey, nameToText, TYPE } from "./wire.ts";

/** TSIG algorithms and their hash, with the hash's length in bytes. */
export const TSIG_ALGORITHMS: Record<string, { hash: string; size: number }> = {
  "hmac-sha256": { hash: "sha256", size: 32 },
  "hmac-sha512": { hash: "sha512", size: 64 },
  "hmac-sha384": { hash: "sha384", size: 48 },
  "hmac-sha224": { hash: "sha224", size: 28 },
  "hmac-sha1": { hash: "sha1", size: 20 },
};

/** TSIG error codes (RFC 8945 section 4.3, extended rcodes). */
export const TSIG_ERROR = { NONE: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;

/** Names of TSIG errors for logs. */
export function tsigErrorName(error: number): string {
  for (const [name, code] of Object.entries(TSIG_ERROR)) if (code === error) return name;
  return `TSIG error ${error}`;
}

/** Fudge of the time signed (seconds), as BIND, NSD and Knot use. */
export const DEFAULT_FUDGE = 300;

/** A shared key. */
export interface TsigKey {
  /** Key name, presentation form, absolute, lower case. */
  name: string;
  /** Key name, wire form, lower case (canonical, RFC 8945 section 4.3.3). */
  nameWire: Uint8Array;
  /** Algorithm name (`hmac-sha256`). */
  algorithm: string;
  /** Algorithm name, wire form. */
  algorithmWire: Uint8Array;
  /** The secret. */
  secret: Uint8Array;
}

/** A key as written in the config (`[[dns.tsig_key]]`), secret in base64. */
export interface TsigKeyText {
  /** Key name. */
  name: string;
  /** Algorithm. */
  algorithm: string;
  /** Base64 secret. */
  secret: string;
}

/** Builds a key from its config form; throws with a clear message when it is unusable. */
export function parseTsigKey(text: TsigKeyText): TsigKey {
  const algorithm = text.algorithm.toLowerCase().replace(/\.$/, "");
  if (!TSIG_ALGORITHMS[algorithm]) {
    throw new Error(
      `unknown TSIG algorithm "${text.algorithm}" (known: ${
        Object.keys(TSIG_ALGORITHMS).join(", ")
      })`,
    );
  }
  const secretText = text.secret.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secretText) || secretText.length % 4 !== 0) {
    throw new Error("the secret is not base64");
  }
  const secret = Uint8Array.from(atob(secretText), (c) => c.charCodeAt(0));
  if (secret.length < 16) {
    throw new Error(`the secret is too short (${secret.length} bytes; 16 at least)`);
  }
  const absolute = text.name.endsWith(".") ? text.name : `${text.name}.`;
  const nameWire = lowerWire(nameFromText(absolute));
  return {
    name: nameToText(nameWire),
    nameWire,
    algorithm,
    algorithmWire: nameFromText(`${algorithm}.`),
    secret,
  };
}

/** The keyring lookup key of a key name as written in the config (`xfr-key` or `xfr-key.`). */
export function tsigKeyLookup(name: string): string {
  return nameKey(lowerWire(nameFromText(name.endsWith(".") ? name : `${name}.`)));
}

/** A fresh random secret for `algorithm`, base64 (as long as the hash, like `tsig-keygen`). */
export function newTsigSecret(algorithm: string): string {
  const a = TSIG_ALGORITHMS[algorithm];
  if (!a) throw new Error(`unknown TSIG algorithm "${algorithm}"`);
  return btoa(String.fromCharCode(...randomBytes(a.size)));
}

function lowerWire(wire: Uint8Array): Uint8Array {
  const out = wire.slice();
  for (let i = 0; i < out.length; i++) if (out[i] >= 0x41 && out[i] <= 0x5a) out[i] |= 0x20;
  return out;
}

/** The TSIG record found at the end of a message. */
export interface TsigRecord {
  /** Offset where the TSIG RR starts (the message without it ends here). */
  at: number;
  /** Key name as a lookup key (lower case wire, latin1). */
  keyKey: string;
  /** Key name, presentation form. */
  keyName: string;
  /** Algorithm name, lower case, no trailing dot. */
  algorithm: string;
  /** Seconds since the epoch. */
  timeSigned: number;
  /** Allowed clock difference, seconds. */
  fudge: number;
  /** The MAC. */
  mac: Uint8Array;
  /** Message ID when signed. */
  originalId: number;
  /** TSIG error. */
  error: number;
  /** Other data. */
  other: Uint8Array;
}

/** Skips a possibly compressed name at `p`; returns the offset after it, or -1 when malformed. */
export function skipName(msg: Uint8Array, p: number): number {
  const length = msg.length;
  for (let labels = 0; labels < 128; labels++) {
    if (p >= length) return -1;
    const l = msg[p];
    if (l === 0) return p + 1;
    if ((l & 0xc0) === 0xc0) return p + 2 <= length ? p + 2 : -1;
    if (l > 63) return -1;
    p += l + 1;
  }
  return -1;
}

/** Reads a possibly compressed name as a lookup key (lower case wire, latin1); undefined when malformed. */
export function readNameKey(msg: Uint8Array, p: number): string | undefined {
  const length = msg.length;
  let key = "";
  for (let hops = 0; hops < 64;) {
    if (p >= length) return undefined;
    const l = msg[p];
    if (l === 0) return key + "\0";
    if ((l & 0xc0) === 0xc0) {
      if (p + 1 >= length) return undefined;
      p = ((l & 0x3f) << 8) | msg[p + 1];
      hops++;
      continue;
    }
    if (l > 63 || p + l >= length) return undefined;
    key += String.fromCharCode(l);
    for (let i = p + 1; i <= p + l; i++) {
      const c = msg[i];
      key += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
    }
    if (key.length > 255) return undefined;
    p += l + 1;
  }
  return undefined;
}

/** Offset of the first record after the header and the question(s); -1 when malformed. */
function afterQuestions(msg: Uint8Array): number {
  const length = msg.length;
  const qd = (msg[4] << 8) | msg[5];
  let p = 12;
  for (let i = 0; i < qd; i++) {
    p = skipName(msg, p);
    if (p < 0 || p + 4 > length) return -1;
    p += 4;
  }
  return p;
}

/**
 * The TSIG record of a message, if its last additional record is one;
 * `"malformed"` when the message cannot be walked or a TSIG is misplaced.
 */
export function findTsig(msg: Uint8Array): TsigRecord | undefined | "malformed" {
  const length = msg.length;
  if (length < 12) return "malformed";
  const ar = (msg[10] << 8) | msg[11];
  if (ar === 0) return undefined;
  const total = ((msg[6] << 8) | msg[7]) + ((msg[8] << 8) | msg[9]) + ar;
  let p = afterQuestions(msg);
  if (p < 0) return "malformed";
  let last = -1;
  for (let i = 0; i < total; i++) {
    last = p;
    p = skipName(msg, p);
    if (p < 0 || p + 10 > length) return "malformed";
    const type = (msg[p] << 8) | msg[p + 1];
    const rdlen = (msg[p + 8] << 8) | msg[p + 9];
    if (type === TYPE.TSIG && i !== total - 1) return "malformed"; // TSIG must come last
    p += 10 + rdlen;
    if (p > length) return "malformed";
  }
  const nameEnd = skipName(msg, last);
  if (((msg[nameEnd] << 8) | msg[nameEnd + 1]) !== TYPE.TSIG) return undefined;
  const keyKey = readNameKey(msg, last);
  let r = nameEnd + 10;
  const rdEnd = r + ((msg[nameEnd + 8] << 8) | msg[nameEnd + 9]);
  const rdata = msg.subarray(0, rdEnd);
  const algKey = readNameKey(rdata, r);
  r = skipName(rdata, r);
  if (!keyKey || !algKey || r < 0 || r + 10 > rdEnd) return "malformed";
  const timeSigned = timeSignedOf(msg, r);
  const fudge = (msg[r + 6] << 8) | msg[r + 7];
  const macLen = (msg[r + 8] << 8) | msg[r + 9];
  r += 10;
  if (r + macLen + 6 > rdEnd) return "malformed";
  const mac = msg.subarray(r, r + macLen);
  r += macLen;
  const originalId = (msg[r] << 8) | msg[r + 1];
  const error = (msg[r + 2] << 8) | msg[r + 3];
  const otherLen = (msg[r + 4] << 8) | msg[r + 5];
  if (r + 6 + otherLen !== rdEnd) return "malformed";
  return {
    at: last,
    keyKey,
    keyName: keyText(keyKey),
    algorithm: keyText(algKey).replace(/\.$/, ""),
    timeSigned,
    fudge,
    mac,
    originalId,
    error,
    other: msg.subarray(r + 6, r + 6 + otherLen),
  };
}

function timeSignedOf(msg: Uint8Array, r: number): number {
  const hi = (msg[r] << 8) | msg[r + 1];
  const lo = ((msg[r + 2] << 24) | (msg[r + 3] << 16) | (msg[r + 4] << 8) | msg[r + 5]) >>> 0;
  return hi * 2 ** 32 + lo;
}

function keyText(key: string): string {
  const wire = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) wire[i] = key.charCodeAt(i);
  return nameToText(wire);
}

/** Keys by lookup key of their name. */
export type TsigKeyring = Map<string, TsigKey>;

/** A keyring of `keys`. */
export function keyring(keys: TsigKey[]): TsigKeyring {
  return new Map(keys.map((k) => [nameKey(k.nameWire), k]));
}

/** Options of {@linkcode verifyTsig}. */
export interface VerifyOptions {
  /** Keys known. */
  keys: TsigKeyring;
  /** For a response: the MAC of the request (first message) or of the previous signed message. */
  priorMac?: Uint8Array;
  /** Later messages of a multi-message answer: timers only, and the unsigned messages before it. */
  timersOnly?: boolean;
  /** Bytes of unsigned messages since the last signed one (multi-message answers). */
  unsigned?: Uint8Array[];
  /** Now, seconds since the epoch. @default the clock */
  now?: number;
}

/** Outcome of {@linkcode verifyTsig}. */
export interface Verified {
  /** `TSIG_ERROR.NONE` when sound; BADKEY, BADSIG, BADTIME, or -1 for a malformed (FORMERR) TSIG. */
  error: number;
  /** The key, when known. */
  key?: TsigKey;
  /** The MAC of the message (to sign the answer over, or to chain the next message). */
  mac: Uint8Array;
}

/** Checks the TSIG of `msg` found by {@linkcode findTsig} against `options.keys`. */
export function verifyTsig(msg: Uint8Array, tsig: TsigRecord, options: VerifyOptions): Verified {
  const key = options.keys.get(tsig.keyKey);
  if (!key || key.algorithm !== tsig.algorithm) {
    return { error: TSIG_ERROR.BADKEY, mac: tsig.mac };
  }
  const size = TSIG_ALGORITHMS[key.algorithm].size;
  if (tsig.mac.length > size || tsig.mac.length < Math.max(10, size / 2)) {
    return { error: tsig.mac.length === 0 ? TSIG_ERROR.BADSIG : -1, key, mac: tsig.mac };
  }
  const body = msg.slice(0, tsig.at);
  body[0] = tsig.originalId >> 8;
  body[1] = tsig.originalId & 0xff;
  const ar = ((body[10] << 8) | body[11]) - 1;
  body[10] = ar >> 8;
  body[11] = ar & 0xff;
  const hmac = createHmac(TSIG_ALGORITHMS[key.algorithm].hash, key.secret);
  if (options.priorMac) hmac.update(u16(options.priorMac.length)).update(options.priorMac);
  for (const m of options.unsigned ?? []) hmac.update(m);
  hmac.update(body);
  hmac.update(
    options.timersOnly
      ? timers(tsig.timeSigned, tsig.fudge)
      : variables(key, tsig.timeSigned, tsig.fudge, tsig.error, tsig.other),
  );
  const expected = new Uint8Array(hmac.digest()).subarray(0, tsig.mac.length);
  if (!timingSafeEqual(expected, tsig.mac)) return { error: TSIG_ERROR.BADSIG, key, mac: tsig.mac };
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) {
    return { error: TSIG_ERROR.BADTIME, key, mac: tsig.mac };
  }
  return { error: TSIG_ERROR.NONE, key, mac: tsig.mac };
}

function u16(n: number): Uint8Array {
  return new Uint8Array([n >> 8, n & 0xff]);
}

function time48(t: number): Uint8Array {
  const hi = Math.floor(t / 2 ** 32);
  const lo = t >>> 0;
  return new Uint8Array([
    hi >> 8,
    hi & 0xff,
    lo >>> 24,
    (lo >>> 16) & 0xff,
    (lo >>> 8) & 0xff,
    lo & 0xff,
  ]);
}

function timers(timeSigned: number, fudge: number): Uint8Array {
  const out = new Uint8Array(8);
  out.set(time48(timeSigned), 0);
  out[6] = fudge >> 8;
  out[7] = fudge & 0xff;
  return out;
}

/** The TSIG variables of RFC 8945 section 4.3.3 (key name, class ANY, TTL 0, algorithm, timers, error, other). */
function variables(
  key: TsigKey,
  timeSigned: number,
  fudge: number,
  error: number,
  other: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(
    key.nameWire.length + 6 + key.algorithmWire.length + 8 + 4 + other.length,
  );
  let p = 0;
  out.set(key.nameWire, p);
  p += key.nameWire.length;
  out[p++] = 0;
  out[p++] = CLASS.ANY;
  p += 4; // TTL 0
  out.set(lowerWire(key.algorithmWire), p);
  p += key.algorithmWire.length;
  out.set(timers(timeSigned, fudge), p);
  p += 8;
  out[p++] = error >> 8;
  out[p++] = error & 0xff;
  out[p++] = other.length >> 8;
  out[p++] = other.length & 0xff;
  out.set(other, p);
  return out;
}

/** Options of {@linkcode signMessage}. */
export interface SignOptions {
  /** For a response: the request's MAC (first message) or the previous message's MAC. */
  priorMac?: Uint8Array;
  /** Later messages of a multi-message answer: sign the timers only. */
  timersOnly?: boolean;
  /** TSIG error to send (BADTIME is signed; BADKEY and BADSIG carry no MAC, use {@linkcode unsignedTsigError}). */
  error?: number;
  /** Time signed, seconds. @default now */
  timeSigned?: number;
  /** @default 300 */
  fudge?: number;
  /** Other data (the server's time for BADTIME). */
  other?: Uint8Array;
}

/**
 * Appends a TSIG record signing `msg` (a copy, with ARCOUNT raised);
 * returns the signed message and its MAC.
 */
export function signMessage(
  msg: Uint8Array,
  key: TsigKey,
  options: SignOptions = {},
): { message: Uint8Array; mac: Uint8Array } {
  const length = msg.length;
  const timeSigned = options.timeSigned ?? Math.floor(Date.now() / 1000);
  const fudge = options.fudge ?? DEFAULT_FUDGE;
  const error = options.error ?? 0;
  const other = options.other ?? new Uint8Array(0);
  const hmac = createHmac(TSIG_ALGORITHMS[key.algorithm].hash, key.secret);
  if (options.priorMac) hmac.update(u16(options.priorMac.length)).update(options.priorMac);
  hmac.update(msg.subarray(0, length));
  hmac.update(
    options.timersOnly
      ? timers(timeSigned, fudge)
      : variables(key, timeSigned, fudge, error, other),
  );
  const mac = new Uint8Array(hmac.digest());
  const id = (msg[0] << 8) | msg[1];
  return {
    message: appendTsig(msg, length, key, { timeSigned, fudge, mac, id, error, other }),
    mac,
  };
}

/** A TSIG record carrying an error without a MAC (BADKEY, BADSIG: RFC 8945 section 5.3.2). */
export function unsignedTsigError(
  msg: Uint8Array,
  tsig: TsigRecord,
  options: { error: number },
): Uint8Array {
  const { error } = options;
  const key = {
    nameWire: keyToWireLower(tsig.keyKey),
    algorithmWire: nameFromText(`${tsig.algorithm}.`),
  } as TsigKey;
  return appendTsig(msg, msg.length, key, {
    timeSigned: tsig.timeSigned,
    fudge: tsig.fudge,
    mac: new Uint8Array(0),
    id: tsig.originalId,
    error,
    other: new Uint8Array(0),
  });
}

function keyToWireLower(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

function appendTsig(
  msg: Uint8Array,
  length: number,
  key: Pick<TsigKey, "nameWire" | "algorithmWire">,
  t: {
    timeSigned: number;
    fudge: number;
    mac: Uint8Array;
    id: number;
    error: number;
    other: Uint8Array;
  },
): Uint8Array {
  const rdlen = key.algorithmWire.length + 10 + t.mac.length + 6 + t.other.length;
  const out = new Uint8Array(length + key.nameWire.length + 10 + rdlen);
  out.set(msg.subarray(0, length), 0);
  let p = length;
  out.set(key.nameWire, p);
  p += key.nameWire.length;
  const dv = new DataView(out.buffer);
  dv.setUint16(p, TYPE.TSIG);
  dv.setUint16(p + 2, CLASS.ANY);
  dv.setUint32(p + 4, 0);
  dv.setUint16(p + 8, rdlen);
  p += 10;
  out.set(key.algorithmWire, p);
  p += key.algorithmWire.length;
  out.set(timers(t.timeSigned, t.fudge), p);
  p += 8;
  dv.setUint16(p, t.mac.length);
  p += 2;
  out.set(t.mac, p);
  p += t.mac.length;
  dv.setUint16(p, t.id);
  dv.setUint16(p + 2, t.error);
  dv.setUint16(p + 4, t.other.length);
  p += 6;
  out.set(t.other, p);
  const ar = ((out[10] << 8) | out[11]) + 1;
  out[10] = ar >> 8;
  out[11] = ar & 0xff;
  return out;
}

/** The server's time as TSIG other data (for BADTIME answers). */
export function serverTimeData(now = Math.floor(Date.now() / 1000)): Uint8Array {
  return time48(now);
}
