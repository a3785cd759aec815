/**
 * Mnemonics for the DNS numbers the store keeps (type, class, rcode,
 * opcode), used when rows are read back. Unknown numbers print as
 * `TYPE65280`, `CLASS7`, `RCODE23` (RFC 3597 style).
 *
 * @module
 */

const TYPES: Record<number, string> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  12: "PTR",
  13: "HINFO",
  15: "MX",
  16: "TXT",
  17: "RP",
  18: "AFSDB",
  24: "SIG",
  25: "KEY",
  28: "AAAA",
  29: "LOC",
  33: "SRV",
  35: "NAPTR",
  36: "KX",
  37: "CERT",
  39: "DNAME",
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
  59: "CDS",
  60: "CDNSKEY",
  61: "OPENPGPKEY",
  62: "CSYNC",
  63: "ZONEMD",
  64: "SVCB",
  65: "HTTPS",
  99: "SPF",
  108: "EUI48",
  109: "EUI64",
  249: "TKEY",
  250: "TSIG",
  251: "IXFR",
  252: "AXFR",
  255: "ANY",
  256: "URI",
  257: "CAA",
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

const CLASSES: Record<number, string> = {
  1: "C_INTERNET",
  3: "C_CHAOS",
  4: "C_HESIOD",
  254: "NONE",
  255: "ANY",
};

/** `A`, `AAAA`, ... or `TYPEn`. */
export function qtypeName(n: number): string {
  return TYPES[n] ?? `TYPE${n}`;
}

/** `NOERROR`, `NXDOMAIN`, ... or `RCODEn`. */
export function rcodeName(n: number): string {
  return RCODES[n] ?? `RCODE${n}`;
}

/** `QUERY`, `NOTIFY`, ... or `OPCODEn`. */
export function opcodeName(n: number): string {
  return OPCODES[n] ?? `OPCODE${n}`;
}

/** `C_INTERNET` (Zeek's name for IN), ... or `CLASSn`. */
export function qclassName(n: number): string {
  return CLASSES[n] ?? `CLASS${n}`;
}

/** The type number of a mnemonic (`AAAA` → 28, `TYPE99` → 99), or undefined. */
export function qtypeNumber(name: string): number | undefined {
  const upper = name.toUpperCase();
  const m = /^TYPE(\d+)$/.exec(upper);
  if (m) return Number(m[1]);
  for (const [k, v] of Object.entries(TYPES)) if (v === upper) return Number(k);
  return undefined;
}
