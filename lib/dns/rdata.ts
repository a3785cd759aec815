/**
 * RDATA of each supported type: from presentation form (zone files, config,
 * `ctl zone add`) to uncompressed wire bytes, back to text, and where the
 * domain names inside sit (for compression and additional-section lookups).
 * Any type, known or not, may also be written in the RFC 3597 generic form
 * `\# LENGTH HEX`.
 *
 * @module
 */

import { formatIp, parseIpv4, parseIpv6 } from "../net/mod.ts";
import { nameFromText, nameLength, nameToText, SyntaxError, TYPE, typeName } from "./wire.ts";

/** One token of a record's text: its characters and whether it was quoted. */
export interface Token {
  /** The text, escapes of quoted strings left in place. */
  text: string;
  /** True when written in double quotes. */
  quoted: boolean;
}

/** Types whose names may be compressed in answers (RFC 3597 section 4). */
export const COMPRESSIBLE: ReadonlySet<number> = new Set([
  TYPE.NS,
  TYPE.CNAME,
  TYPE.SOA,
  TYPE.PTR,
  TYPE.MX,
]);

/** Parses a TTL: seconds or BIND units (`1h30m`, `2d`, `1w`). Returns NaN when invalid. */
export function parseTtl(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n <= 0x7fffffff ? n : NaN;
  }
  const re = /(\d+)([smhdw])/giy;
  const unit: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  let total = 0, at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * unit[m[2].toLowerCase()];
    at = re.lastIndex;
  }
  if (at !== text.length || at === 0 || total > 0x7fffffff) return NaN;
  return total;
}

function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function int(token: Token | undefined, what: string, max: number): number {
  if (!token) throw new SyntaxError(`missing ${what}`);
  if (!/^\d+$/.test(token.text) || Number(token.text) > max) {
    throw new SyntaxError(`${what} must be an integer from 0 to ${max}, found "${token.text}"`);
  }
  return Number(token.text);
}

function hex(text: string, what: string): number[] {
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) {
    throw new SyntaxError(`${what} must be an even number of hex digits, found "${text}"`);
  }
  const out: number[] = [];
  for (let i = 0; i < text.length; i += 2) out.push(parseInt(text.slice(i, i + 2), 16));
  return out;
}

/** Reads a character-string (RFC 1035 section 5.1 escapes) into bytes, at most 255. */
function characterString(token: Token): number[] {
  const out: number[] = [];
  const t = token.text;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 0x5c) {
      const d = /^\d{3}/.exec(t.slice(i + 1, i + 4));
      if (d) {
        if (Number(d[0]) > 255) throw new SyntaxError(`escape \\${d[0]} is above 255`);
        out.push(Number(d[0]));
        i += 3;
      } else if (i + 1 < t.length) out.push(t.charCodeAt(++i) & 0xff);
      else throw new SyntaxError("string ends with a backslash");
    } else if (c > 0x7f) {
      for (const b of new TextEncoder().encode(t[i])) out.push(b);
    } else out.push(c);
  }
  if (out.length > 255) {
    throw new SyntaxError(`character-string longer than 255 bytes (${out.length}); split it`);
  }
  return [out.length, ...out];
}

function need(tokens: Token[], n: number, type: number): void {
  if (tokens.length < n) {
    throw new SyntaxError(
      `${typeName(type)} needs ${n} field${n === 1 ? "" : "s"}, found ${tokens.length}`,
    );
  }
  if (tokens.length > n) {
    throw new SyntaxError(
      `${typeName(type)} takes ${n} field${
        n === 1 ? "" : "s"
      }, found ${tokens.length}: unexpected "${tokens[n].text}"`,
    );
  }
}

function nameOf(token: Token, origin: Uint8Array | undefined): number[] {
  return Array.from(nameFromText(token.text, origin));
}

/**
 * Converts RDATA tokens of `type` to wire bytes. Relative names are completed
 * with `options.origin`. Throws {@linkcode SyntaxError} with a message naming the field.
 */
export function parseRdata(
  type: number,
  tokens: Token[],
  options: { origin?: Uint8Array } = {},
): Uint8Array {
  const { origin } = options;
  if (tokens.length > 0 && tokens[0].text === "\\#" && !tokens[0].quoted) {
    const bytes = parseGeneric(tokens);
    validateWire(type, bytes);
    return bytes;
  }
  let out: number[];
  switch (type) {
    case TYPE.A: {
      need(tokens, 1, type);
      const a = parseIpv4(tokens[0].text);
      if (!a) throw new SyntaxError(`A needs an IPv4 address, found "${tokens[0].text}"`);
      out = Array.from(a);
      break;
    }
    case TYPE.AAAA: {
      need(tokens, 1, type);
      const a = parseIpv6(tokens[0].text);
      if (!a) throw new SyntaxError(`AAAA needs an IPv6 address, found "${tokens[0].text}"`);
      out = Array.from(a);
      break;
    }
    case TYPE.NS:
    case TYPE.CNAME:
    case TYPE.PTR:
      need(tokens, 1, type);
      out = nameOf(tokens[0], origin);
      break;
    case TYPE.MX:
      need(tokens, 2, type);
      out = [...u16(int(tokens[0], "MX preference", 65535)), ...nameOf(tokens[1], origin)];
      break;
    case TYPE.SOA: {
      need(tokens, 7, type);
      out = [...nameOf(tokens[0], origin), ...nameOf(tokens[1], origin)];
      const fields = ["serial", "refresh", "retry", "expire", "minimum"];
      for (let i = 0; i < 5; i++) {
        const t = tokens[2 + i].text;
        const v = i === 0
          ? (/^\d+$/.test(t) && Number(t) <= 0xffffffff ? Number(t) : NaN)
          : parseTtl(t);
        if (Number.isNaN(v)) throw new SyntaxError(`SOA ${fields[i]} is not a number: "${t}"`);
        out.push(...u32(v));
      }
      break;
    }
    case TYPE.TXT:
      if (tokens.length === 0) throw new SyntaxError("TXT needs at least one string");
      out = tokens.flatMap(characterString);
      break;
    case TYPE.HINFO:
      need(tokens, 2, type);
      out = [...characterString(tokens[0]), ...characterString(tokens[1])];
      break;
    case TYPE.SRV:
      need(tokens, 4, type);
      out = [
        ...u16(int(tokens[0], "SRV priority", 65535)),
        ...u16(int(tokens[1], "SRV weight", 65535)),
        ...u16(int(tokens[2], "SRV port", 65535)),
        ...nameOf(tokens[3], origin),
      ];
      break;
    case TYPE.NAPTR:
      need(tokens, 6, type);
      out = [
        ...u16(int(tokens[0], "NAPTR order", 65535)),
        ...u16(int(tokens[1], "NAPTR preference", 65535)),
        ...characterString(tokens[2]),
        ...characterString(tokens[3]),
        ...characterString(tokens[4]),
        ...nameOf(tokens[5], origin),
      ];
      break;
    case TYPE.CAA: {
      need(tokens, 3, type);
      const tag = tokens[1].text;
      if (!/^[A-Za-z0-9]{1,255}$/.test(tag)) {
        throw new SyntaxError(`CAA tag must be letters and digits, found "${tag}"`);
      }
      const value = characterString(tokens[2]).slice(1);
      out = [
        int(tokens[0], "CAA flags", 255),
        tag.length,
        ...new TextEncoder().encode(tag),
        ...value,
      ];
      break;
    }
    case TYPE.DS:
    case TYPE.SSHFP:
    case TYPE.TLSA: {
      const fixed = type === TYPE.DS ? 3 : type === TYPE.SSHFP ? 2 : 3;
      if (tokens.length < fixed + 1) {
        throw new SyntaxError(`${typeName(type)} needs ${fixed} numbers and hex data`);
      }
      out = type === TYPE.DS
        ? u16(int(tokens[0], "DS key tag", 65535))
        : [int(tokens[0], "field 1", 255)];
      for (let i = 1; i < fixed; i++) out.push(int(tokens[i], `field ${i + 1}`, 255));
      out.push(...hex(tokens.slice(fixed).map((t) => t.text).join(""), `${typeName(type)} data`));
      break;
    }
    default:
      throw new SyntaxError(
        `type ${
          typeName(type)
        } has no text form here; write its RDATA as \\# LENGTH HEX (RFC 3597)`,
      );
  }
  return new Uint8Array(out);
}

function parseGeneric(tokens: Token[]): Uint8Array {
  const length = int(tokens[1], "\\# length", 65535);
  const bytes = hex(tokens.slice(2).map((t) => t.text).join(""), "\\# data");
  if (bytes.length !== length) {
    throw new SyntaxError(`\\# says ${length} bytes but ${bytes.length} follow`);
  }
  return new Uint8Array(bytes);
}

/** Checks that generic-form RDATA of a known type is well formed (names parse, sizes fit). */
function validateWire(type: number, b: Uint8Array): void {
  const nameEnd = (at: number): number => {
    let p = at;
    while (p < b.length && b[p] !== 0) {
      if (b[p] > 63) throw new SyntaxError(`${typeName(type)} RDATA holds a bad name`);
      p += b[p] + 1;
    }
    if (p >= b.length) throw new SyntaxError(`${typeName(type)} RDATA holds a truncated name`);
    return p + 1;
  };
  const exact = (n: number) => {
    if (n !== b.length) throw new SyntaxError(`${typeName(type)} RDATA has the wrong length`);
  };
  switch (type) {
    case TYPE.A:
      return exact(4);
    case TYPE.AAAA:
      return exact(16);
    case TYPE.NS:
    case TYPE.CNAME:
    case TYPE.PTR:
      return exact(nameEnd(0));
    case TYPE.MX:
      return exact(nameEnd(2));
    case TYPE.SRV:
      return exact(nameEnd(6));
    case TYPE.SOA:
      return exact(nameEnd(nameEnd(0)) + 20);
  }
}

/** The name in RDATA that additional-section processing looks up (NS, MX, SRV), if any. */
export function additionalTarget(type: number, rdata: Uint8Array): Uint8Array | undefined {
  switch (type) {
    case TYPE.NS:
      return rdata;
    case TYPE.MX:
      return rdata.subarray(2);
    case TYPE.SRV:
      return rdata.subarray(6);
    default:
      return undefined;
  }
}

function readU16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

function stringText(b: Uint8Array, at: number): [string, number] {
  const len = b[at];
  let s = '"';
  for (let i = at + 1; i <= at + len; i++) {
    const c = b[i];
    if (c === 0x22 || c === 0x5c) s += "\\" + String.fromCharCode(c);
    else if (c < 0x20 || c > 0x7e) s += "\\" + String(c).padStart(3, "0");
    else s += String.fromCharCode(c);
  }
  return [s + '"', at + 1 + len];
}

function hexText(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Presentation form of RDATA (RFC 3597 `\#` form for types without a text form here). */
export function formatRdata(type: number, rdata: Uint8Array): string {
  try {
    switch (type) {
      case TYPE.A:
      case TYPE.AAAA:
        return formatIp(rdata);
      case TYPE.NS:
      case TYPE.CNAME:
      case TYPE.PTR:
        return nameToText(rdata);
      case TYPE.MX:
        return `${readU16(rdata, 0)} ${nameToText(rdata, 2)}`;
      case TYPE.SRV:
        return `${readU16(rdata, 0)} ${readU16(rdata, 2)} ${readU16(rdata, 4)} ${
          nameToText(rdata, 6)
        }`;
      case TYPE.SOA: {
        const n1 = nameLength(rdata, 0);
        const n2 = nameLength(rdata, n1);
        const t = n1 + n2;
        const nums = [0, 4, 8, 12, 16].map((o) => readU32(rdata, t + o));
        return `${nameToText(rdata, 0)} ${nameToText(rdata, n1)} ${nums.join(" ")}`;
      }
      case TYPE.TXT:
      case TYPE.HINFO: {
        const parts: string[] = [];
        for (let at = 0; at < rdata.length;) {
          const [s, next] = stringText(rdata, at);
          parts.push(s);
          at = next;
        }
        return parts.join(" ");
      }
      case TYPE.CAA: {
        const tagLen = rdata[1];
        const tag = new TextDecoder().decode(rdata.subarray(2, 2 + tagLen));
        const value = rdata.subarray(2 + tagLen);
        const [s] = stringText(new Uint8Array([value.length, ...value]), 0);
        return `${rdata[0]} ${tag} ${s}`;
      }
      case TYPE.DS:
        return `${readU16(rdata, 0)} ${rdata[2]} ${rdata[3]} ${hexText(rdata.subarray(4))}`;
      case TYPE.SSHFP:
        return `${rdata[0]} ${rdata[1]} ${hexText(rdata.subarray(2))}`;
      case TYPE.TLSA:
        return `${rdata[0]} ${rdata[1]} ${rdata[2]} ${hexText(rdata.subarray(3))}`;
    }
  } catch { /* malformed stored RDATA: fall back to the generic form */ }
  return `\\# ${rdata.length}${rdata.length ? " " + hexText(rdata) : ""}`;
}
