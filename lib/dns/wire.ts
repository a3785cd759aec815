/**
 * DNS wire format basics (RFC 1035 section 3 and 4): type, class and rcode
 * numbers, domain names in wire and presentation form, and a message writer
 * with name compression. Everything that knows about bytes of a message
 * lives here or in `rdata.ts`; the answer layer works with these helpers.
 *
 * Names are handled as their uncompressed wire form (`Uint8Array`, original
 * letter case) and, for lookups, as a *key*: the wire form lower-cased and
 * read as a latin1 string. A key is unambiguous (labels are length-prefixed,
 * so a dot inside a label is just a byte) and the key of a parent name is a
 * suffix of its child's key.
 *
 * @module
 */

import {
  DNS_OPCODES,
  DNS_RCODES,
  DNS_TYPES,
  dnsRcodeName,
  dnsTypeName,
  dnsTypeNumber,
} from "../net/dns_names.ts";

/** Resource record type numbers by mnemonic (those without special handling are served in RFC 3597 form). */
export const TYPE = DNS_TYPES;

/** Classes. Only IN is served; CH is answered REFUSED as NSD does with hidden identity. */
export const CLASS = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

/** Response codes by mnemonic, including the extended BADVERS (RFC 6891). */
export const RCODE = DNS_RCODES;

/** Opcodes by mnemonic. */
export const OPCODE = DNS_OPCODES;

/** Extended DNS Error codes used here (RFC 8914). */
export const EDE = { PROHIBITED: 18, NOT_AUTHORITATIVE: 20, NOT_SUPPORTED: 21 } as const;

// The mnemonics are spelled once, in lib/net/dns_names.ts (shared with the sniffer).

/** The mnemonic of a type number (`TYPE65000` for unknown ones, RFC 3597 section 5). */
export function typeName(type: number): string {
  return dnsTypeName(type);
}

/** The number of a type mnemonic or `TYPEnnn`; undefined when it is neither. */
export function typeFromName(text: string): number | undefined {
  const n = dnsTypeNumber(text);
  return n !== undefined && n <= 65535 ? n : undefined;
}

/** The mnemonic of an rcode (`RCODE23` when unnamed). */
export function rcodeName(rcode: number): string {
  return dnsRcodeName(rcode);
}

/** The wire form of the root name. */
export const ROOT: Uint8Array = new Uint8Array([0]);

/** Thrown when a name or value in presentation form cannot be read. */
export class SyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SyntaxError";
  }
}

/**
 * Parses a domain name in presentation form (`www.example.org.`, with `\.`
 * and `\DDD` escapes) into wire form. A name without a trailing dot is
 * relative to `origin`; `@` is the origin itself.
 */
export function nameFromText(text: string, origin?: Uint8Array): Uint8Array {
  if (text === "@") {
    if (!origin) throw new SyntaxError('"@" used but no origin is known (add $ORIGIN)');
    return origin;
  }
  if (text === ".") return ROOT;
  if (text === "") throw new SyntaxError("empty name");
  // Labels are written into a scratch buffer: position `start` holds the length byte of the current label.
  const out = NAME_SCRATCH;
  let start = 0;
  let pos = 1;
  let absolute = false;
  const endLabel = () => {
    const len = pos - start - 1;
    if (len === 0) throw new SyntaxError(`empty label in "${text}"`);
    if (len > 63) throw new SyntaxError(`label longer than 63 bytes in "${text}"`);
    out[start] = len;
    start = pos;
    pos++;
  };
  const put = (b: number) => {
    if (pos >= 256) throw new SyntaxError(`name longer than 255 bytes: "${text}"`);
    out[pos++] = b;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) {
      const d = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (d) {
        const n = Number(d[0]);
        if (n > 255) throw new SyntaxError(`escape \\${d[0]} is above 255 in "${text}"`);
        put(n);
        i += 3;
      } else if (i + 1 < text.length) {
        put(text.charCodeAt(++i) & 0xff);
      } else throw new SyntaxError(`name ends with a backslash: "${text}"`);
    } else if (c === 0x2e /* . */) {
      endLabel();
      if (i === text.length - 1) absolute = true;
    } else {
      if (c > 0x7e || c < 0x21) {
        throw new SyntaxError(`character ${JSON.stringify(text[i])} in "${text}" must be escaped`);
      }
      put(c);
    }
  }
  let length: number;
  if (absolute) {
    out[start] = 0;
    length = start + 1;
  } else {
    if (pos > start + 1) endLabel();
    if (!origin) {
      throw new SyntaxError(`relative name "${text}" but no origin is known (add $ORIGIN)`);
    }
    length = start + origin.length;
  }
  if (length > 255) throw new SyntaxError(`name longer than 255 bytes: "${text}"`);
  const wire = new Uint8Array(length);
  wire.set(out.subarray(0, start));
  if (absolute) wire[start] = 0;
  else wire.set(origin!, start);
  return wire;
}

const NAME_SCRATCH = new Uint8Array(260);

/** Formats a wire name (uncompressed, starting at `offset`) in presentation form with a trailing dot. */
export function nameToText(wire: Uint8Array, offset = 0): string {
  let out = "";
  let p = offset;
  for (;;) {
    const len = wire[p];
    if (len === 0 || len === undefined) break;
    for (let i = p + 1; i <= p + len; i++) {
      const c = wire[i];
      if (c === 0x2e || c === 0x5c || c === 0x22 || c === 0x28 || c === 0x29 || c === 0x3b) {
        out += "\\" + String.fromCharCode(c);
      } else if (c < 0x21 || c > 0x7e) out += "\\" + String(c).padStart(3, "0");
      else out += String.fromCharCode(c);
    }
    out += ".";
    p += len + 1;
  }
  return out === "" ? "." : out;
}

/** Length in bytes of the uncompressed wire name at `offset`. */
export function nameLength(wire: Uint8Array, offset = 0): number {
  let p = offset;
  while (wire[p] !== 0) p += wire[p] + 1;
  return p + 1 - offset;
}

/** The lookup key of the wire name at `offset`: its bytes lower-cased, read as latin1. */
export function nameKey(wire: Uint8Array, offset = 0): string {
  let s = "";
  const end = offset + nameLength(wire, offset);
  for (let i = offset; i < end; i++) {
    const c = wire[i];
    s += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  }
  return s;
}

/** The wire bytes of a key (lower-case form of the name). */
export function keyToWire(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** The key of the parent name, or undefined for the root. */
export function parentKey(key: string): string | undefined {
  if (key.length <= 1) return undefined;
  return key.slice(key.charCodeAt(0) + 1);
}

/** True when `key` equals `ancestor` or lies below it. */
export function isSubdomain(key: string, ancestor: string): boolean {
  if (!key.endsWith(ancestor)) return false;
  if (key.length === ancestor.length) return true;
  // The suffix must start on a label boundary.
  for (let p = 0; p < key.length; p += key.charCodeAt(p) + 1) {
    if (key.length - p === ancestor.length) return true;
    if (key.length - p < ancestor.length) return false;
  }
  return false;
}

/** Presentation form of a key. */
export function keyToText(key: string): string {
  return nameToText(keyToWire(key));
}

/**
 * Writes a DNS message into a fixed buffer, compressing names (RFC 1035
 * section 4.1.4) against every name written before, case-insensitively.
 * Used on the slow path (first answer to a question, truncation, errors);
 * the fast path replays the bytes it produced.
 */
export class MessageWriter {
  /** The output buffer. */
  readonly buf: Uint8Array;
  /** Bytes written so far. */
  pos = 0;
  #names = new Map<string, number>();

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  /** Resets the writer to write a new message. */
  reset(): void {
    this.pos = 0;
    this.#names.clear();
  }

  /** Bytes left. */
  get room(): number {
    return this.buf.length - this.pos;
  }

  /** Writes a 16-bit value; false when it does not fit. */
  u16(v: number): boolean {
    if (this.pos + 2 > this.buf.length) return false;
    this.buf[this.pos++] = v >> 8;
    this.buf[this.pos++] = v & 0xff;
    return true;
  }

  /** Writes a 32-bit value; false when it does not fit. */
  u32(v: number): boolean {
    if (this.pos + 4 > this.buf.length) return false;
    this.buf[this.pos++] = (v >>> 24) & 0xff;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
    return true;
  }

  /** Writes raw bytes; false when they do not fit. */
  bytes(b: Uint8Array): boolean {
    const n = b.length;
    if (this.pos + n > this.buf.length) return false;
    if (n < 32) {
      // A loop beats TypedArray.set for the few bytes of a label or an address.
      const buf = this.buf;
      for (let i = 0, p = this.pos; i < n; i++, p++) buf[p] = b[i];
    } else this.buf.set(b, this.pos);
    this.pos += n;
    return true;
  }

  /**
   * Copies the question of `query` (the name starts at offset 12 in both
   * messages) and remembers its name so that later names compress against it.
   */
  question(query: Uint8Array, end: number): boolean {
    if (!this.bytes(query.subarray(12, end))) return false;
    for (let p = 12; query[p] !== 0 && p < 0x4000; p += query[p] + 1) {
      const key = nameKey(query, p);
      if (!this.#names.has(key)) this.#names.set(key, p);
    }
    return true;
  }

  /** Moves back to `pos`, forgetting names written after it. */
  rollback(pos: number): void {
    this.pos = pos;
    for (const [key, at] of this.#names) if (at >= pos) this.#names.delete(key);
  }

  /** Writes the name at the start of `wire`, compressed when `compress` (RFC 3597 limits that to well-known types). */
  name(wire: Uint8Array, compress = true): boolean {
    let p = 0;
    for (;;) {
      const len = wire[p];
      if (len === 0) {
        if (this.pos + 1 > this.buf.length) return false;
        this.buf[this.pos++] = 0;
        return true;
      }
      const key = nameKey(wire, p);
      const known = this.#names.get(key);
      if (compress && known !== undefined) return this.u16(0xc000 | known);
      if (this.pos + len + 1 > this.buf.length) return false;
      if (compress && this.pos < 0x4000 && known === undefined) this.#names.set(key, this.pos);
      this.buf.set(wire.subarray(p, p + len + 1), this.pos);
      this.pos += len + 1;
      p += len + 1;
    }
  }
}
