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

const TYPES: Record<number, string> = {
  1: "A",
  2: "NS",
  3: "MD",
  4: "MF",
  5: "CNAME",
  6: "SOA",
  7: "MB",
  8: "MG",
  9: "MR",
  10: "NULL",
  11: "WKS",
  12: "PTR",
  13: "HINFO",
  14: "MINFO",
  15: "MX",
  16: "TXT",
  17: "RP",
  18: "AFSDB",
  19: "X25",
  20: "ISDN",
  21: "RT",
  22: "NSAP",
  23: "NSAP-PTR",
  24: "SIG",
  25: "KEY",
  26: "PX",
  27: "GPOS",
  28: "AAAA",
  29: "LOC",
  30: "NXT",
  31: "EID",
  32: "NIMLOC",
  33: "SRV",
  34: "ATMA",
  35: "NAPTR",
  36: "KX",
  37: "CERT",
  38: "A6",
  39: "DNAME",
  40: "SINK",
  41: "OPT",
  42: "APL",
  43: "DS",
  44: "SSHFP",
  45: "IPSECKEY",
  46: "RRSIG",
  47: "NSEC",
  48: "DNSKEY",
  49: "DHCID",
  50: "NSEC3",
  51: "NSEC3PARAM",
  52: "TLSA",
  53: "SMIMEA",
  55: "HIP",
  56: "NINFO",
  57: "RKEY",
  58: "TALINK",
  59: "CDS",
  60: "CDNSKEY",
  61: "OPENPGPKEY",
  62: "CSYNC",
  63: "ZONEMD",
  64: "SVCB",
  65: "HTTPS",
  99: "SPF",
  100: "UINFO",
  101: "UID",
  102: "GID",
  103: "UNSPEC",
  104: "NID",
  105: "L32",
  106: "L64",
  107: "LP",
  108: "EUI48",
  109: "EUI64",
  249: "TKEY",
  250: "TSIG",
  251: "IXFR",
  252: "AXFR",
  253: "MAILB",
  254: "MAILA",
  255: "ANY",
  256: "URI",
  257: "CAA",
  258: "AVC",
  259: "DOA",
  260: "AMTRELAY",
  32768: "TA",
  32769: "DLV",
};

const RCODES: Record<number, string> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  6: "YXDOMAIN",
  7: "YXRRSET",
  8: "NXRRSET",
  9: "NOTAUTH",
  10: "NOTZONE",
  12: "DSOTYPENI",
  16: "BADVERS",
  17: "BADKEY",
  18: "BADTIME",
  19: "BADMODE",
  20: "BADNAME",
  21: "BADALG",
  22: "BADTRUNC",
  23: "BADCOOKIE",
};

const OPCODES: Record<number, string> = {
  0: "QUERY",
  1: "IQUERY",
  2: "STATUS",
  4: "NOTIFY",
  5: "UPDATE",
  6: "DSO",
};

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
  for (const [k, v] of Object.entries(TYPES)) if (v === upper) return Number(k);
  return undefined;
}
