/**
 * Mnemonics of DNS numbers (RR types, response codes, opcodes, classes),
 * shared by every part that decodes or prints DNS: the capture decoder, the
 * sniffer's queries, VeriDNS's DoH client. Unknown numbers print in RFC 3597
 * style (`TYPE65280`, `RCODE23`, `CLASS7`, `OPCODE9`).
 *
 * @example
 * ```ts
 * import { dnsTypeName, dnsTypeNumber } from "./dns_names.ts";
 * dnsTypeName(28); // "AAAA"
 * dnsTypeNumber("type65280"); // 65280
 * ```
 *
 * @module
 */

/** RR type numbers by mnemonic (IANA "DNS Parameters"): the one place each is spelled. */
export const DNS_TYPES = {
  A: 1,
  NS: 2,
  MD: 3,
  MF: 4,
  CNAME: 5,
  SOA: 6,
  MB: 7,
  MG: 8,
  MR: 9,
  NULL: 10,
  WKS: 11,
  PTR: 12,
  HINFO: 13,
  MINFO: 14,
  MX: 15,
  TXT: 16,
  RP: 17,
  AFSDB: 18,
  X25: 19,
  ISDN: 20,
  RT: 21,
  NSAP: 22,
  "NSAP-PTR": 23,
  SIG: 24,
  KEY: 25,
  PX: 26,
  GPOS: 27,
  AAAA: 28,
  LOC: 29,
  NXT: 30,
  EID: 31,
  NIMLOC: 32,
  SRV: 33,
  ATMA: 34,
  NAPTR: 35,
  KX: 36,
  CERT: 37,
  A6: 38,
  DNAME: 39,
  SINK: 40,
  OPT: 41,
  APL: 42,
  DS: 43,
  SSHFP: 44,
  IPSECKEY: 45,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  DHCID: 49,
  NSEC3: 50,
  NSEC3PARAM: 51,
  TLSA: 52,
  SMIMEA: 53,
  HIP: 55,
  NINFO: 56,
  RKEY: 57,
  TALINK: 58,
  CDS: 59,
  CDNSKEY: 60,
  OPENPGPKEY: 61,
  CSYNC: 62,
  ZONEMD: 63,
  SVCB: 64,
  HTTPS: 65,
  SPF: 99,
  UINFO: 100,
  UID: 101,
  GID: 102,
  UNSPEC: 103,
  NID: 104,
  L32: 105,
  L64: 106,
  LP: 107,
  EUI48: 108,
  EUI64: 109,
  TKEY: 249,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
  URI: 256,
  CAA: 257,
  AVC: 258,
  DOA: 259,
  AMTRELAY: 260,
  TA: 32768,
  DLV: 32769,
} as const;

const TYPES: Record<number, string> = Object.fromEntries(
  Object.entries(DNS_TYPES).map(([name, n]) => [n, name]),
);

/** Response codes by mnemonic, EDNS-extended ones included. */
export const DNS_RCODES = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  DSOTYPENI: 12,
  BADVERS: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADMODE: 19,
  BADNAME: 20,
  BADALG: 21,
  BADTRUNC: 22,
  BADCOOKIE: 23,
} as const;

const RCODES: Record<number, string> = Object.fromEntries(
  Object.entries(DNS_RCODES).map(([name, n]) => [n, name]),
);

/** Opcodes by mnemonic. */
export const DNS_OPCODES = {
  QUERY: 0,
  IQUERY: 1,
  STATUS: 2,
  NOTIFY: 4,
  UPDATE: 5,
  DSO: 6,
} as const;

const OPCODES: Record<number, string> = Object.fromEntries(
  Object.entries(DNS_OPCODES).map(([name, n]) => [n, name]),
);

// Zeek's dns.log names classes this way (C_INTERNET for IN).
const CLASSES: Record<number, string> = {
  1: "C_INTERNET",
  3: "C_CHAOS",
  4: "C_HESIOD",
  254: "NONE",
  255: "ANY",
};

const unknownTypes = new Map<number, string>();

/** `A`, `AAAA`, ... or `TYPEn`. Cached: the capture decoder calls it per record. */
export function dnsTypeName(type: number): string {
  const known = TYPES[type];
  if (known !== undefined) return known;
  let s = unknownTypes.get(type);
  if (s === undefined) {
    s = "TYPE" + type;
    if (unknownTypes.size < 4096) unknownTypes.set(type, s);
  }
  return s;
}

/** `NOERROR`, `NXDOMAIN`, ... (EDNS-extended codes too) or `RCODEn`. */
export function dnsRcodeName(rcode: number): string {
  return RCODES[rcode] ?? "RCODE" + rcode;
}

/** `QUERY`, `NOTIFY`, ... or `OPCODEn`. */
export function dnsOpcodeName(opcode: number): string {
  return OPCODES[opcode] ?? "OPCODE" + opcode;
}

/** `C_INTERNET` (Zeek's name for IN), ... or `CLASSn`. */
export function dnsClassName(qclass: number): string {
  return CLASSES[qclass] ?? "CLASS" + qclass;
}

/** The type number of a mnemonic (`AAAA` → 28, `TYPE99` → 99), or undefined. */
export function dnsTypeNumber(name: string): number | undefined {
  const upper = name.toUpperCase();
  const m = /^TYPE(\d+)$/.exec(upper);
  if (m) return Number(m[1]);
  return (DNS_TYPES as Record<string, number>)[upper];
}
