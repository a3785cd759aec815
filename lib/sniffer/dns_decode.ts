/**
 * A lean DNS message decoder for the fields vigia logs: header flags, the
 * first question, the answer section (type, TTL, presentation data for the
 * common types) and the EDNS extended rcode. Authority and additional
 * sections are walked, not decoded, to find the OPT record.
 *
 * It never throws: a malformed message is counted under a reason and
 * yields null. Names are built into one reused scratch buffer and turned
 * into strings through a small cache, since traffic repeats names.
 *
 * @module
 */

import { dnsRcodeName, dnsTypeName } from "../net/dns_names.ts";
import { countMalformed } from "../capture/counters.ts";
import { hexAt, ipv4At, ipv6At } from "../capture/format.ts";
import type { CaptureCounters, DnsAnswer, DnsFields } from "../capture/types.ts";

// ---- scratch text building ----------------------------------------------

/** Presentation text of a name or record data is written here, then turned into a string. */
const text = new Uint8Array(4 * 65536 + 64);
let textLen = 0;
const latin1 = new TextDecoder("latin1");

function textString(start: number, end: number): string {
  // Everything written is printable ASCII, so latin1 and code units agree.
  if (end - start <= 48) {
    return String.fromCharCode.apply(null, text.subarray(start, end) as unknown as number[]);
  }
  return latin1.decode(text.subarray(start, end));
}

function putDecimal(n: number): void {
  if (n === 0) {
    text[textLen++] = 0x30;
    return;
  }
  let digits = 0;
  for (let x = n; x > 0; x = Math.floor(x / 10)) digits++;
  let p = textLen + digits;
  textLen = p;
  for (let x = n; x > 0; x = Math.floor(x / 10)) text[--p] = 0x30 + (x % 10);
}

function putEscaped(ch: number): void {
  text[textLen++] = 0x5c;
  text[textLen++] = 0x30 + Math.floor(ch / 100);
  text[textLen++] = 0x30 + (Math.floor(ch / 10) % 10);
  text[textLen++] = 0x30 + (ch % 10);
}

// ---- names -------------------------------------------------------------

/** Why the last decode step failed; set just before returning a failure value. */
let failure = "";

const NAME_SLOTS = 8192;
const NAME_MAX_CACHED = 64;
const nameSlab = new Uint8Array(NAME_SLOTS * NAME_MAX_CACHED);
const nameSlotLen = new Int32Array(NAME_SLOTS).fill(-1);
const nameSlotStr: string[] = new Array(NAME_SLOTS).fill("");
let nameHash = 0;

/**
 * Reads the (possibly compressed) name at `pos` of the message starting at
 * `msg`, ending at `end`. Returns the offset just past the name as stored
 * at `pos`, or -1 with `failure` set. With `build`, the presentation form is
 * appended to `text` and its FNV-1a hash left in `nameHash`.
 *
 * Loops are impossible by construction: every pointer must point before the
 * start of the run of labels that contains it, so run starts strictly
 * decrease (a legitimate compressor only points at earlier names).
 */
function readName(buf: Uint8Array, msg: number, end: number, pos: number, build: boolean): number {
  let p = pos;
  let runStart = pos;
  let after = -1;
  let wire = 1;
  let h = 0x811c9dc5 | 0;
  const first = textLen;
  for (;;) {
    if (p >= end) {
      failure = "dns-name-overrun";
      return -1;
    }
    const len = buf[p];
    if (len === 0) {
      if (after < 0) after = p + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= end) {
        failure = "dns-name-overrun";
        return -1;
      }
      const target = msg + (((len & 0x3f) << 8) | buf[p + 1]);
      if (target >= runStart) {
        failure = "dns-label-loop";
        return -1;
      }
      if (after < 0) after = p + 2;
      p = runStart = target;
      continue;
    }
    if (kind !== 0) {
      failure = "dns-bad-label";
      return -1;
    }
    if (p + 1 + len > end) {
      failure = "dns-name-overrun";
      return -1;
    }
    wire += len + 1;
    if (wire > 255) {
      failure = "dns-name-too-long";
      return -1;
    }
    if (build) {
      if (textLen !== first) {
        text[textLen++] = 0x2e;
        h = Math.imul(h ^ 0x2e, 16777619);
      }
      for (let i = p + 1, e = p + 1 + len; i < e; i++) {
        const ch = buf[i];
        if (ch > 0x20 && ch < 0x7f && ch !== 0x2e && ch !== 0x5c) {
          text[textLen++] = ch;
        } else if (ch === 0x2e || ch === 0x5c) {
          text[textLen++] = 0x5c;
          text[textLen++] = ch;
        } else {
          putEscaped(ch);
        }
        h = Math.imul(h ^ ch, 16777619);
      }
    }
    p += 1 + len;
  }
  if (build && textLen === first) {
    text[textLen++] = 0x2e; // the root
    h = Math.imul(h ^ 0x2e, 16777619);
  }
  nameHash = h;
  return after;
}

/** The string of the name just built at `text[start..textLen)`, through the cache. */
function nameString(start: number): string {
  const len = textLen - start;
  if (len > NAME_MAX_CACHED) return textString(start, textLen);
  const slot = (nameHash >>> 0) & (NAME_SLOTS - 1);
  const base = slot * NAME_MAX_CACHED;
  if (nameSlotLen[slot] === len) {
    let i = 0;
    while (i < len && nameSlab[base + i] === text[start + i]) i++;
    if (i === len) return nameSlotStr[slot];
  }
  const s = textString(start, textLen);
  nameSlab.set(text.subarray(start, textLen), base);
  nameSlotLen[slot] = len;
  nameSlotStr[slot] = s;
  return s;
}

/** Reads a name into a string; "" with `failure` set (and `readPos` -1) on error. */
let readPos = 0;
function nameAt(buf: Uint8Array, msg: number, end: number, pos: number): string {
  textLen = 0;
  readPos = readName(buf, msg, end, pos, true);
  if (readPos < 0) return "";
  return nameString(0);
}

// ---- record data ---------------------------------------------------------

/** Presentation of rdata at [p, e); null with `failure` set when it does not parse. */
function rdataText(
  buf: Uint8Array,
  view: DataView,
  msg: number,
  type: number,
  p: number,
  e: number,
): string | null {
  const len = e - p;
  switch (type) {
    case 1:
      if (len !== 4) break;
      return ipv4At(buf, p);
    case 28:
      if (len !== 16) break;
      return ipv6At(buf, p);
    case 2:
    case 5:
    case 12:
    case 39: {
      const s = nameAt(buf, msg, e, p);
      if (readPos < 0 || readPos !== e) break;
      return s;
    }
    case 15: {
      if (len < 3) break;
      textLen = 0;
      putDecimal(view.getUint16(p));
      text[textLen++] = 0x20;
      const q = readName(buf, msg, e, p + 2, true);
      if (q !== e) break;
      return textString(0, textLen);
    }
    case 33: {
      if (len < 7) break;
      textLen = 0;
      putDecimal(view.getUint16(p));
      text[textLen++] = 0x20;
      putDecimal(view.getUint16(p + 2));
      text[textLen++] = 0x20;
      putDecimal(view.getUint16(p + 4));
      text[textLen++] = 0x20;
      const q = readName(buf, msg, e, p + 6, true);
      if (q !== e) break;
      return textString(0, textLen);
    }
    case 6: {
      textLen = 0;
      let q = readName(buf, msg, e, p, true);
      if (q < 0) break;
      text[textLen++] = 0x20;
      q = readName(buf, msg, e, q, true);
      if (q < 0 || q + 20 !== e) break;
      for (let i = 0; i < 5; i++) {
        text[textLen++] = 0x20;
        putDecimal(view.getUint32(q + 4 * i));
      }
      return textString(0, textLen);
    }
    case 16: {
      textLen = 0;
      let q = p;
      while (q < e) {
        const n = buf[q];
        if (q + 1 + n > e) {
          failure = "dns-bad-rdata";
          return null;
        }
        if (q !== p) text[textLen++] = 0x20;
        text[textLen++] = 0x22;
        for (let i = q + 1; i <= q + n; i++) {
          const ch = buf[i];
          if (ch === 0x22 || ch === 0x5c) {
            text[textLen++] = 0x5c;
            text[textLen++] = ch;
          } else if (ch >= 0x20 && ch < 0x7f) {
            text[textLen++] = ch;
          } else {
            putEscaped(ch);
          }
        }
        text[textLen++] = 0x22;
        q += 1 + n;
      }
      return textString(0, textLen);
    }
    default:
      // RFC 3597 generic form for everything not decoded above.
      return "\\# " + len + (len > 0 ? " " + hexAt(buf, p, len) : "");
  }
  failure = "dns-bad-rdata";
  return null;
}

// ---- message -----------------------------------------------------------

/**
 * Decodes the DNS message at `buf[msg..end)`. `truncated` says the capture
 * cut the message short (snap length, first fragment): records past the
 * cut are left out and the message is counted in `counters.truncated`
 * instead of as malformed. Returns null when the message is malformed,
 * after counting the reason in `counters.malformed`.
 */
export function decodeDns(
  buf: Uint8Array,
  view: DataView,
  msg: number,
  end: number,
  truncated: boolean,
  counters: CaptureCounters,
): DnsFields | null {
  if (end - msg < 12) {
    countMalformed(counters, "dns-short-header");
    return null;
  }
  const flags = view.getUint16(msg + 2);
  const qd = view.getUint16(msg + 4);
  const an = view.getUint16(msg + 6);
  const ns = view.getUint16(msg + 8);
  const ar = view.getUint16(msg + 10);
  let rcode = flags & 0xf;
  let query = "";
  let qtype = 0;
  let qclass = 0;
  let p = msg + 12;
  let cut = false;
  if (qd > 0) {
    query = nameAt(buf, msg, end, p);
    p = readPos;
    if (p < 0 || p + 4 > end) {
      if (p >= 0) failure = "dns-question-overrun";
      countMalformed(counters, truncated ? "dns-truncated" : failure);
      return null;
    }
    qtype = view.getUint16(p);
    qclass = view.getUint16(p + 2);
    p += 4;
    for (let i = 1; i < qd; i++) {
      p = readName(buf, msg, end, p, false);
      if (p < 0 || p + 4 > end) {
        if (truncated) {
          cut = true;
          break;
        }
        countMalformed(counters, p < 0 ? failure : "dns-question-overrun");
        return null;
      }
      p += 4;
    }
  }
  const answers: DnsAnswer[] = [];
  const total = an + ns + ar;
  for (let i = 0; i < total && !cut; i++) {
    const isAnswer = i < an;
    const nameStart = p;
    let owner = "";
    if (isAnswer) {
      owner = nameAt(buf, msg, end, p);
      p = readPos;
    } else {
      p = readName(buf, msg, end, p, false);
    }
    if (p < 0 || p + 10 > end) {
      if (truncated) {
        cut = true;
        break;
      }
      countMalformed(counters, p < 0 ? failure : "dns-rr-overrun");
      return null;
    }
    const type = view.getUint16(p);
    const ttl = view.getUint32(p + 4);
    const rdlen = view.getUint16(p + 8);
    const rd = p + 10;
    const rdEnd = rd + rdlen;
    if (rdEnd > end) {
      if (truncated) {
        cut = true;
        break;
      }
      countMalformed(counters, "dns-rr-overrun");
      return null;
    }
    if (isAnswer) {
      const data = rdataText(buf, view, msg, type, rd, rdEnd);
      if (data === null) {
        countMalformed(counters, failure);
        return null;
      }
      answers.push({ name: owner, type: dnsTypeName(type), ttl, data });
    } else if (type === 41 && i >= an + ns && buf[nameStart] === 0) {
      // OPT: the top 8 bits of the 12-bit rcode sit in the TTL field (RFC 6891 6.1.3).
      rcode |= (ttl >>> 24) << 4;
    }
    p = rdEnd;
  }
  if (cut) counters.truncated = (counters.truncated ?? 0) + 1;
  return {
    trans_id: view.getUint16(msg),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >>> 11) & 0xf,
    rcode,
    rcode_name: dnsRcodeName(rcode),
    AA: (flags & 0x0400) !== 0,
    TC: (flags & 0x0200) !== 0,
    RD: (flags & 0x0100) !== 0,
    RA: (flags & 0x0080) !== 0,
    query,
    qtype,
    qtype_name: qd > 0 ? dnsTypeName(qtype) : "",
    qclass,
    answers,
  };
}
