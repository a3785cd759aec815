/**
 * The VeriDNS wire format: four frame types, each a 12-byte header (Type,
 * Length, SequenceNumber; u32 big-endian) and a body. Encoders for each type
 * and a streaming decoder that accepts partial frames and several frames per
 * read, checks each header against the type's layout and the configured limits
 * before buffering a byte of the body, and never allocates from an untrusted
 * Length. See `shared/veridns-protocol.md`.
 *
 * IPv4 addresses travel as unsigned 32-bit numbers here (`0x01010101` is
 * 1.1.1.1); {@linkcode ipv4ToNumber} and {@linkcode numberToIpv4} convert.
 *
 * @example
 * ```ts
 * import { encodeBranchQuery, FrameDecoder, type Frame } from "./codec.ts";
 * const decoder = new FrameDecoder({ role: "server" });
 * const frames: Frame[] = [];
 * decoder.feed(encodeBranchQuery(1257935), frames); // null: no error
 * frames[0]; // { type: 0, seq: 1257935 }
 * ```
 *
 * @module
 */

/** Frame type numbers. */
export const FrameType = {
  /** Branch Server Address Query (client → server), no body. */
  BranchQuery: 0,
  /** Branch Server Address Answer (server → client). */
  BranchAnswer: 1,
  /** VeriDNS Request (client → server). */
  VerifyRequest: 2,
  /** VeriDNS Response (server → client). */
  VerifyResponse: 3,
} as const;

/** Bytes of the header (Type, Length, SequenceNumber). */
export const HEADER_LENGTH = 12;
/** Bytes of the DomainName field of a request. */
export const DOMAIN_FIELD_LENGTH = 256;
/** Length of a request without addresses. */
export const REQUEST_BASE_LENGTH = HEADER_LENGTH + DOMAIN_FIELD_LENGTH + 4;
/** Length of a branch answer without addresses. */
export const ANSWER_BASE_LENGTH = HEADER_LENGTH + 4;
/** Length of a response that says "verified" and leaves out the address fields. */
export const RESPONSE_VERIFIED_LENGTH = HEADER_LENGTH + 1;
/** Length of a response with a NumberOfAddr field and no addresses. */
export const RESPONSE_BASE_LENGTH = HEADER_LENGTH + 1 + 4;

/** A decoded Branch Server Address Query. */
export interface BranchQueryFrame {
  type: 0;
  seq: number;
}
/** A decoded Branch Server Address Answer. */
export interface BranchAnswerFrame {
  type: 1;
  seq: number;
  /** Branch servers, first to try first, as u32 IPv4 numbers. */
  addresses: number[];
}
/** A decoded VeriDNS Request. */
export interface VerifyRequestFrame {
  type: 2;
  seq: number;
  /** Domain as sent: cut at the first NUL and trimmed of ASCII whitespace/control bytes. */
  domain: string;
  /** Reported addresses as u32 IPv4 numbers. */
  addresses: number[];
}
/** A decoded VeriDNS Response. */
export interface VerifyResponseFrame {
  type: 3;
  seq: number;
  /** Verification byte: true when every address checked out. */
  verified: boolean;
  /** Addresses the server found malicious, as u32 IPv4 numbers. */
  malicious: number[];
}
/** Any VeriDNS frame. */
export type Frame = BranchQueryFrame | BranchAnswerFrame | VerifyRequestFrame | VerifyResponseFrame;

/** Why a frame was refused; also the keys of the server's bad-frame counters. */
export type BadFrameReason =
  | "unknown_type"
  | "unexpected_type"
  | "too_long"
  | "bad_length"
  | "count_mismatch"
  | "too_many_addresses"
  | "bad_domain"
  | "truncated"
  | "stalled";

/** A frame the decoder refused; the connection that sent it must be closed. */
export class FrameError extends Error {
  /** Counter key. */
  readonly reason: BadFrameReason;
  constructor(reason: BadFrameReason, message: string) {
    super(message);
    this.name = "FrameError";
    this.reason = reason;
  }
}

/** Parses dotted-quad IPv4 text into an unsigned 32-bit number, or -1 when it is not one. */
export function ipv4ToNumber(text: string): number {
  let n = 0, part = 0, digits = 0, dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero: "01" is ambiguous (octal in some tools)
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

/** Formats an unsigned 32-bit number as dotted-quad IPv4 text. */
export function numberToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

function header(buf: Uint8Array, type: number, length: number, seq: number): DataView {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  v.setUint32(0, type);
  v.setUint32(4, length);
  v.setUint32(8, seq >>> 0);
  return v;
}

/** Encodes a Branch Server Address Query. */
export function encodeBranchQuery(seq: number): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH);
  header(out, FrameType.BranchQuery, HEADER_LENGTH, seq);
  return out;
}

/** Encodes a Branch Server Address Answer listing `addresses` (u32 IPv4) in order. */
export function encodeBranchAnswer(seq: number, addresses: readonly number[]): Uint8Array {
  const length = ANSWER_BASE_LENGTH + 4 * addresses.length;
  const out = new Uint8Array(length);
  const v = header(out, FrameType.BranchAnswer, length, seq);
  v.setUint32(12, addresses.length);
  for (let i = 0; i < addresses.length; i++) v.setUint32(16 + 4 * i, addresses[i]);
  return out;
}

const utf8 = new TextEncoder();

/**
 * Encodes a VeriDNS Request. The domain is written as UTF-8 padded with NUL
 * bytes to 256; throws a `RangeError` when it does not fit or holds a NUL.
 */
export function encodeVerifyRequest(
  seq: number,
  domain: string,
  addresses: readonly number[],
): Uint8Array {
  const name = utf8.encode(domain);
  if (name.length > DOMAIN_FIELD_LENGTH) {
    throw new RangeError(
      `domain "${
        domain.slice(0, 40)
      }..." takes ${name.length} bytes; the field holds ${DOMAIN_FIELD_LENGTH}`,
    );
  }
  if (name.includes(0)) throw new RangeError("domain must not contain a NUL character");
  const length = REQUEST_BASE_LENGTH + 4 * addresses.length;
  const out = new Uint8Array(length);
  const v = header(out, FrameType.VerifyRequest, length, seq);
  out.set(name, HEADER_LENGTH);
  v.setUint32(HEADER_LENGTH + DOMAIN_FIELD_LENGTH, addresses.length);
  for (let i = 0; i < addresses.length; i++) v.setUint32(REQUEST_BASE_LENGTH + 4 * i, addresses[i]);
  return out;
}

/**
 * Encodes a VeriDNS Response. With no malicious address it is the short
 * 13-byte "verified" form; otherwise Verification 0, NumberOfAddr and the list.
 */
export function encodeVerifyResponse(seq: number, malicious: readonly number[]): Uint8Array {
  if (malicious.length === 0) {
    const out = new Uint8Array(RESPONSE_VERIFIED_LENGTH);
    header(out, FrameType.VerifyResponse, RESPONSE_VERIFIED_LENGTH, seq);
    out[12] = 1;
    return out;
  }
  const length = RESPONSE_BASE_LENGTH + 4 * malicious.length;
  const out = new Uint8Array(length);
  const v = header(out, FrameType.VerifyResponse, length, seq);
  out[12] = 0;
  v.setUint32(13, malicious.length);
  for (let i = 0; i < malicious.length; i++) v.setUint32(17 + 4 * i, malicious[i]);
  return out;
}

/** Encodes any frame. */
export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case 0:
      return encodeBranchQuery(frame.seq);
    case 1:
      return encodeBranchAnswer(frame.seq, frame.addresses);
    case 2:
      return encodeVerifyRequest(frame.seq, frame.domain, frame.addresses);
    case 3:
      return encodeVerifyResponse(frame.seq, frame.verified ? [] : frame.malicious);
  }
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

function isSpaceOrControl(b: number): boolean {
  return b <= 0x20 || b === 0x7f;
}

/**
 * Reads the 256-byte DomainName field at `offset`: cut at the first NUL, ASCII
 * whitespace and control bytes trimmed at both ends (the original
 * specification's sample carries a stray 0x0A). Returns null for invalid UTF-8.
 */
export function readDomainField(bytes: Uint8Array, offset: number): string | null {
  let end = offset;
  const limit = offset + DOMAIN_FIELD_LENGTH;
  let ascii = true;
  while (end < limit && bytes[end] !== 0) {
    if (bytes[end] >= 0x80) ascii = false;
    end++;
  }
  let start = offset;
  while (start < end && isSpaceOrControl(bytes[start])) start++;
  while (end > start && isSpaceOrControl(bytes[end - 1])) end--;
  if (ascii) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }
  try {
    return fatalUtf8.decode(bytes.subarray(start, end));
  } catch {
    return null;
  }
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Normalises a domain for resolving and caching: lower case, one trailing dot
 * removed, internationalised names to their A-label (punycode) form. Returns
 * null when it cannot be a DNS name (empty, a label over 63 bytes, more than
 * 253 bytes, characters outside letters, digits, `-` and `_`).
 */
export function normalizeDomain(text: string): string | null {
  let name = text.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name.length === 0) return null;
  // deno-lint-ignore no-control-regex
  if (/[^\x00-\x7f]/.test(name)) {
    try {
      name = new URL(`http://${name}/`).hostname;
    } catch {
      return null;
    }
  }
  if (name.length > 253) return null;
  const labels = name.split(".");
  for (const label of labels) if (!LABEL.test(label)) return null;
  return name;
}

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Which side decodes: a server accepts queries and requests (types 0 and 2),
   * a client answers and responses (types 1 and 3).
   */
  role: "server" | "client";
  /** Largest Length accepted. @default 4096 */
  maxFrameLength?: number;
  /** Largest NumberOfAddr accepted. @default 64 */
  maxAddresses?: number;
}

/**
 * A streaming decoder for one connection. Feed it every chunk read; it
 * returns complete frames and keeps the tail of a partial one. The first bad
 * frame ends decoding: the caller closes the connection.
 */
export class FrameDecoder {
  readonly #role: "server" | "client";
  readonly #maxFrameLength: number;
  readonly #maxAddresses: number;
  #buf: Uint8Array | undefined;
  #have = 0;
  #need = 0;
  #failed: FrameError | null = null;

  constructor(options: FrameDecoderOptions) {
    const { role, maxFrameLength = 4096, maxAddresses = 64 } = options;
    if (maxFrameLength < RESPONSE_BASE_LENGTH) {
      throw new RangeError(`maxFrameLength must be at least ${RESPONSE_BASE_LENGTH}`);
    }
    this.#role = role;
    this.#maxFrameLength = maxFrameLength;
    this.#maxAddresses = maxAddresses;
  }

  /** Bytes of an incomplete frame held; non-zero means the peer is mid-frame. */
  get pendingBytes(): number {
    return this.#have;
  }

  /**
   * Decodes `chunk`, appending complete frames to `out`. Returns null, or the
   * error of the first bad frame (frames before it are still in `out`); after
   * an error every later call returns the same error.
   */
  feed(chunk: Uint8Array, out: Frame[]): FrameError | null {
    if (this.#failed) return this.#failed;
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.#have === 0) {
        const avail = n - off;
        if (avail >= 8) {
          const len = this.#checkHeader(chunk, off);
          if (len < 0) return this.#failed;
          if (avail >= len) {
            const f = this.#parse(chunk, off, len);
            if (f === null) return this.#failed;
            out.push(f);
            off += len;
            continue;
          }
          this.#need = len;
        }
        // A partial frame: its Length (when known) has passed the limit check, so the buffer is bounded.
        this.#buf ??= new Uint8Array(this.#maxFrameLength);
        this.#buf.set(chunk.subarray(off), 0);
        this.#have = avail;
        return null;
      }
      const buf = this.#buf!;
      if (this.#need === 0) {
        const take = Math.min(8 - this.#have, n - off);
        buf.set(chunk.subarray(off, off + take), this.#have);
        this.#have += take;
        off += take;
        if (this.#have < 8) return null;
        const len = this.#checkHeader(buf, 0);
        if (len < 0) return this.#failed;
        this.#need = len;
        if (this.#have < len) continue;
      }
      const take = Math.min(this.#need - this.#have, n - off);
      buf.set(chunk.subarray(off, off + take), this.#have);
      this.#have += take;
      off += take;
      if (this.#have === this.#need) {
        const f = this.#parse(buf, 0, this.#need);
        this.#have = 0;
        this.#need = 0;
        if (f === null) return this.#failed;
        out.push(f);
      }
    }
    return null;
  }

  #fail(reason: BadFrameReason, message: string): -1 {
    this.#failed = new FrameError(reason, message);
    return -1;
  }

  /** Checks Type and Length at `off`; returns Length, or -1 after recording the error. */
  #checkHeader(b: Uint8Array, off: number): number {
    const type = ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
    const len = ((b[off + 4] << 24) | (b[off + 5] << 16) | (b[off + 6] << 8) | b[off + 7]) >>> 0;
    if (type > 3) return this.#fail("unknown_type", `unknown frame type ${type}`);
    const mine = this.#role === "server" ? type === 0 || type === 2 : type === 1 || type === 3;
    if (!mine) {
      return this.#fail("unexpected_type", `frame type ${type} is not sent to a ${this.#role}`);
    }
    if (len > this.#maxFrameLength) {
      return this.#fail("too_long", `Length ${len} is over the limit ${this.#maxFrameLength}`);
    }
    let ok: boolean;
    switch (type) {
      case 0:
        ok = len === HEADER_LENGTH;
        break;
      case 1:
        ok = len >= ANSWER_BASE_LENGTH && (len - ANSWER_BASE_LENGTH) % 4 === 0;
        break;
      case 2:
        ok = len >= REQUEST_BASE_LENGTH && (len - REQUEST_BASE_LENGTH) % 4 === 0;
        break;
      default:
        ok = len === RESPONSE_VERIFIED_LENGTH ||
          (len >= RESPONSE_BASE_LENGTH && (len - RESPONSE_BASE_LENGTH) % 4 === 0);
    }
    if (!ok) return this.#fail("bad_length", `Length ${len} does not fit frame type ${type}`);
    return len;
  }

  #addresses(b: Uint8Array, countAt: number, end: number): number[] | null {
    const count =
      ((b[countAt] << 24) | (b[countAt + 1] << 16) | (b[countAt + 2] << 8) | b[countAt + 3]) >>> 0;
    const room = (end - countAt - 4) / 4;
    if (count !== room) {
      this.#fail("count_mismatch", `NumberOfAddr ${count} but the frame holds ${room} addresses`);
      return null;
    }
    if (count > this.#maxAddresses) {
      this.#fail("too_many_addresses", `${count} addresses, over the limit ${this.#maxAddresses}`);
      return null;
    }
    const out = new Array<number>(count);
    for (let i = 0, p = countAt + 4; i < count; i++, p += 4) {
      out[i] = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
    }
    return out;
  }

  /** Parses a complete frame at `off` of `len` bytes whose header passed the checks. */
  #parse(b: Uint8Array, off: number, len: number): Frame | null {
    const type = b[off + 3];
    const seq = ((b[off + 8] << 24) | (b[off + 9] << 16) | (b[off + 10] << 8) | b[off + 11]) >>> 0;
    const end = off + len;
    switch (type) {
      case 0:
        return { type: 0, seq };
      case 1: {
        const addresses = this.#addresses(b, off + 12, end);
        return addresses && { type: 1, seq, addresses };
      }
      case 2: {
        const domain = readDomainField(b, off + HEADER_LENGTH);
        if (domain === null) {
          this.#fail("bad_domain", "DomainName is not valid UTF-8");
          return null;
        }
        const addresses = this.#addresses(b, off + HEADER_LENGTH + DOMAIN_FIELD_LENGTH, end);
        return addresses && { type: 2, seq, domain, addresses };
      }
      default: {
        const verified = b[off + 12] === 1;
        if (len === RESPONSE_VERIFIED_LENGTH) return { type: 3, seq, verified, malicious: [] };
        const malicious = this.#addresses(b, off + 13, end);
        return malicious && { type: 3, seq, verified, malicious };
      }
    }
  }
}
