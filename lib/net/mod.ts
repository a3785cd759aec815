/**
 * Address helpers shared by every component: IP and CIDR parsing, prefix
 * matching, MAC normalisation and `host:port` splitting. Pure functions, no I/O.
 *
 * @example
 * ```ts
 * import { CidrSet } from "./mod.ts";
 * const set = new CidrSet(["10.0.0.0/8", "2001:db8::/32"]);
 * set.has("10.1.2.3"); // true
 * ```
 *
 * @module
 */

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

/** Parses a dotted-quad IPv4 address into 4 bytes, or null. */
export function parseIpv4(text: string): IpBytes | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/** Parses an IPv6 address (with `::` and an optional embedded IPv4 tail) into 16 bytes, or null. */
export function parseIpv6(text: string): IpBytes | null {
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address into bytes, or null when it is neither. */
export function parseIp(text: string): IpBytes | null {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/** Formats 4 or 16 address bytes as text (IPv6 in RFC 5952 canonical form). */
export function formatIp(bytes: Uint8Array, offset = 0, length = bytes.length - offset): string {
  if (length === 4) {
    return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
  }
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1]);
  // The longest run of two or more zero groups becomes "::" (RFC 5952 section 4.2).
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart === 0 && bestLen === 5 && g[5] === 0xffff) {
    return `::ffff:${g[6] >> 8}.${g[6] & 0xff}.${g[7] >> 8}.${g[7] & 0xff}`;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** A parsed CIDR range. */
export interface Cidr {
  /** Network bytes with host bits cleared. */
  bytes: IpBytes;
  /** Prefix length in bits. */
  prefix: number;
}

/** Parses `ADDR/LEN` (or a bare address, meaning a single host), or null. Host bits are cleared. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const addr = parseIp(slash < 0 ? text.trim() : text.slice(0, slash).trim());
  if (!addr) return null;
  const bits = addr.length * 8;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > bits) return null;
  }
  const bytes = addr.slice();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    bytes[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return { bytes, prefix };
}

/** Formats a CIDR as `ADDR/LEN`. */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c.bytes)}/${c.prefix}`;
}

function cidrContains(c: Cidr, addr: Uint8Array): boolean {
  if (c.bytes.length !== addr.length) return false;
  let bits = c.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i] & mask) !== c.bytes[i]) return false;
  }
  return true;
}

/**
 * A set of CIDR ranges with fast membership for IPv4 (sorted, coalesced
 * intervals, binary search) and a linear scan for the rarer IPv6 ranges.
 */
export class CidrSet {
  #v4Starts = new Uint32Array(0);
  #v4Ends = new Uint32Array(0);
  #v6: Cidr[] = [];
  /** The ranges as given (deduplicated, normalised). */
  readonly ranges: string[];

  /** Parses `ranges` (CIDR notation); throws on an invalid one. */
  constructor(ranges: Iterable<string>) {
    const v4: [number, number][] = [];
    const seen = new Set<string>();
    for (const r of ranges) {
      const c = parseCidr(r);
      if (!c) throw new Error(`invalid CIDR range "${r}"`);
      const key = formatCidr(c);
      if (seen.has(key)) continue;
      seen.add(key);
      if (c.bytes.length === 4) {
        const start = ((c.bytes[0] << 24) | (c.bytes[1] << 16) | (c.bytes[2] << 8) | c.bytes[3]) >>>
          0;
        const size = 2 ** (32 - c.prefix);
        v4.push([start, start + size - 1]);
      } else {
        this.#v6.push(c);
      }
    }
    this.ranges = [...seen];
    v4.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of v4) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    this.#v4Starts = Uint32Array.from(merged.map((m) => m[0]));
    this.#v4Ends = Uint32Array.from(merged.map((m) => m[1]));
  }

  /** Number of coalesced IPv4 intervals plus IPv6 ranges. */
  get size(): number {
    return this.#v4Starts.length + this.#v6.length;
  }

  /** Coalesced IPv4 intervals as CIDR-free `[start, end]` numbers, for reporting. */
  get v4Intervals(): [number, number][] {
    return Array.from(this.#v4Starts, (s, i) => [s, this.#v4Ends[i]]);
  }

  /** True when the address (text or bytes) lies in one of the ranges. */
  has(addr: string | Uint8Array): boolean {
    const bytes = typeof addr === "string" ? parseIp(addr) : addr;
    if (!bytes) return false;
    if (bytes.length === 4) {
      return this.hasV4(((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0);
    }
    for (const c of this.#v6) if (cidrContains(c, bytes)) return true;
    return false;
  }

  /** True when the IPv4 address given as an unsigned 32-bit number lies in a range. */
  hasV4(n: number): boolean {
    let lo = 0, hi = this.#v4Starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (n < this.#v4Starts[mid]) hi = mid - 1;
      else if (n > this.#v4Ends[mid]) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

/** Normalises a MAC address (`:`, `-` or `.` separated, any case) to `aa:bb:cc:dd:ee:ff`, or null. */
export function parseMac(text: string): string | null {
  const hex = text.trim().toLowerCase().replace(/[:\-.]/g, "");
  if (!/^[0-9a-f]{12}$/.test(hex)) return null;
  if (
    !/^([0-9a-f]{1,2}[:-]){5}[0-9a-f]{1,2}$|^[0-9a-f]{12}$|^([0-9a-f]{4}\.){2}[0-9a-f]{4}$/.test(
      text.trim().toLowerCase(),
    )
  ) {
    return null;
  }
  return hex.match(/../g)!.join(":");
}

/** A host and port split from `IP:PORT`, `[IPv6]:PORT` or a bare address. */
export interface HostPort {
  /** Address without brackets. */
  host: string;
  /** Port number. */
  port: number;
}

/** Options for {@linkcode parseHostPort}. */
export interface HostPortOptions {
  /** Accept a host name (letters, digits, dots, hyphens) as well as an address. @default false */
  allowNames?: boolean;
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/**
 * Splits `IP:PORT`, `[IPv6]:PORT` or a bare `IP` or IPv6 address (then
 * `defaultPort` applies); with `allowNames`, `NAME:PORT` too. Returns an
 * error message string when the text is not such an address.
 */
export function parseHostPort(
  text: string,
  defaultPort?: number,
  options: HostPortOptions = {},
): HostPort | string {
  const what = options.allowNames ? "HOST:PORT" : "IP:PORT";
  const bad = `"${text}" is not ${
    options.allowNames ? what : `an address ${what}`
  } (IPv6 as [ADDR]:PORT)`;
  let host = text, portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1];
    portText = bracket[2];
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host, portText] = text.split(":");
  }
  const hostOk = parseIp(host) !== null ||
    (options.allowNames === true && !host.includes(":") && HOST_NAME.test(host));
  if (!hostOk) return bad;
  if (portText === undefined) {
    if (defaultPort === undefined) return `"${text}" needs a port: write ${what}`;
    return { host, port: defaultPort };
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    return `port in "${text}" must be from 1 to 65535`;
  }
  return { host, port };
}
