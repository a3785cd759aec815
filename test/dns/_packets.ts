/**
 * Test zones and packet helpers: queries built byte by byte (so malformed
 * ones are easy), responses decoded with `npm:dns-packet` (an independent
 * decoder) into comparable text.
 *
 * @module
 */

import dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";

/** The main test zone: every answer shape the server must get right. */
export const EX_ZONE = `$ORIGIN ex.test.
$TTL 3600
@ IN SOA ns1 hostmaster ( 2024010101 ; serial
            7200 3600 1209600 300 )
@ NS ns1
@ NS ns2.other.test.
@ A 192.0.2.1
@ MX 10 mail
@ MX 20 mail.other.test.
@ TXT "hello world" "second"
ns1 A 192.0.2.53
ns1 AAAA 2001:db8::53
mail A 192.0.2.25
www CNAME @
alias CNAME www
ext CNAME www.other.test.
ext2 CNAME www.elsewhere.example.
loop1 CNAME loop2
loop2 CNAME loop1
dangling CNAME nothere
*.wild A 192.0.2.99
*.wild TXT "wild"
sub.wild A 192.0.2.98
*.wc CNAME www
*.ent.x A 192.0.2.5
y.ent.x A 192.0.2.6
a.b.c A 192.0.2.7
deleg NS ns.deleg
deleg NS ns.outside.test.
ns.deleg A 192.0.2.200
deleg2 NS ns1
tod CNAME x.deleg
_sip._tcp SRV 10 5 5060 sip
sip A 192.0.2.60
sip AAAA 2001:db8::60
caa CAA 0 issue "letsencrypt.org"
ptr PTR www
unk TYPE65000 \\# 3 010203
mx2 MX 5 ns.deleg
mx2 MX 6 sip
mx2 MX 7 x.wild
ttls 300 A 192.0.2.30
ttls 300 A 192.0.2.31
multi A 192.0.2.40
multi AAAA 2001:db8::40
multi TXT "multi"
big TXT "${"a".repeat(200)}1"
big TXT "${"a".repeat(200)}2"
big TXT "${"a".repeat(200)}3"
esc\\.dot A 192.0.2.41
`;

/** A second zone, target of cross-zone CNAMEs. */
export const OTHER_ZONE = `$ORIGIN other.test.
$TTL 600
@ SOA ns1.other.test. h.other.test. 1 2 3 4 7200
@ NS ns2
ns2 A 198.51.100.2
www A 198.51.100.80
`;

/** Options of a built query. */
export interface QueryOptions {
  /** Message ID. @default 0x1234 */
  id?: number;
  /** Recursion desired. @default false */
  rd?: boolean;
  /** Add an OPT record. */
  edns?: { payload?: number; do?: boolean; version?: number };
  /** Query class. @default 1 (IN) */
  qclass?: number;
  /** Raw header flags OR-ed in (opcode, TC, CD, ...). */
  flags?: number;
}

/** Encodes a presentation name (no escapes) to wire form, keeping case. */
export function wireName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split(".").filter(Boolean)) {
    const bytes = new TextEncoder().encode(label);
    out.push(bytes.length, ...bytes);
  }
  out.push(0);
  return out;
}

const TYPES: Record<string, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  DS: 43,
  ANY: 255,
  CAA: 257,
  AXFR: 252,
  IXFR: 251,
};

/** The number of a type name (`TYPE65000` allowed). */
export function typeNumber(type: string): number {
  const m = /^TYPE(\d+)$/.exec(type);
  return m ? Number(m[1]) : TYPES[type];
}

/** Builds a query message. */
export function buildQuery(name: string, type: string, options: QueryOptions = {}): Uint8Array {
  const { id = 0x1234, rd = false, edns, qclass = 1, flags = 0 } = options;
  const t = typeNumber(type);
  const f = (rd ? 0x0100 : 0) | flags;
  const bytes = [
    id >> 8,
    id & 255,
    f >> 8,
    f & 255,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    edns ? 1 : 0,
    ...wireName(name),
    t >> 8,
    t & 255,
    qclass >> 8,
    qclass & 255,
  ];
  if (edns) {
    const size = edns.payload ?? 1232;
    bytes.push(0, 0, 41, size >> 8, size & 255, 0, edns.version ?? 0, edns.do ? 0x80 : 0, 0, 0, 0);
  }
  return new Uint8Array(bytes);
}

/** A decoded response, reduced to what the tests compare. */
export interface Decoded {
  id: number;
  /** Header flags without the rcode. */
  flags: number;
  /** rcode including the extended bits from OPT. */
  rcode: number;
  qd: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  question: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  /** The OPT record, if any. */
  opt?: { payload: number; version: number; do: boolean; options: number[]; ede?: number };
}

function dataText(rr: { type: string; data: unknown }): string {
  const d = rr.data as unknown;
  const conv = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
    if (Array.isArray(v)) return v.map(conv);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, conv(x)]),
      );
    }
    return v;
  };
  return typeof d === "string" ? d : JSON.stringify(conv(d));
}

/** Decodes a response with dns-packet. */
export function decode(bytes: Uint8Array): Decoded {
  // deno-lint-ignore no-explicit-any
  const p = dnsPacket.decode(Buffer.from(bytes)) as any;
  const flags = (bytes[2] << 8) | bytes[3];
  // deno-lint-ignore no-explicit-any
  const rr = (r: any) => `${r.name}. ${r.ttl} ${r.class} ${r.type} ${dataText(r)}`;
  // deno-lint-ignore no-explicit-any
  const optRr = p.additionals.find((r: any) => r.type === "OPT");
  let opt: Decoded["opt"];
  let rcode = flags & 15;
  if (optRr) {
    // deno-lint-ignore no-explicit-any
    const options = (optRr.options ?? []) as any[];
    const ede = options.find((o) => o.code === 15);
    opt = {
      payload: optRr.udpPayloadSize,
      version: optRr.ednsVersion ?? 0,
      do: (optRr.flags & 0x8000) !== 0,
      options: options.map((o) => o.code),
      ede: ede ? Buffer.from(ede.data).readUInt16BE(0) : undefined,
    };
    rcode |= (optRr.extendedRcode ?? 0) << 4;
  }
  return {
    id: p.id,
    flags: flags & 0xfff0,
    rcode,
    qd: (bytes[4] << 8) | bytes[5],
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    // deno-lint-ignore no-explicit-any
    question: p.questions.map((q: any) => `${q.name}. ${q.class} ${q.type}`),
    answer: p.answers.map(rr),
    authority: p.authorities.map(rr),
    // deno-lint-ignore no-explicit-any
    additional: p.additionals.filter((r: any) => r.type !== "OPT").map(rr),
    opt,
  };
}

/** What the differential tests compare: rcode, flags, OPT and the record set of every section. */
export interface Comparable {
  rcode: number;
  flags: number;
  qd: number;
  question: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  opt?: Decoded["opt"];
}

/** A response reduced to {@linkcode Comparable} (sections sorted), or null for no response. */
export function comparable(bytes: Uint8Array | null): Comparable | null {
  if (!bytes) return null;
  const d = decode(bytes);
  return {
    rcode: d.rcode,
    flags: d.flags,
    qd: d.qd,
    question: d.question,
    answer: [...d.answer].sort(),
    authority: [...d.authority].sort(),
    additional: [...d.additional].sort(),
    opt: d.opt,
  };
}
