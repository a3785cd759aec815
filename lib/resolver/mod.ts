/**
 * A small stub DNS client over `npm:dns-packet`: one question to one server,
 * over UDP from a fresh socket (random source port chosen by the kernel, random
 * 16-bit id), with the answer checked against the question (source address,
 * id, name, type, class) and a retry over TCP when the answer is truncated.
 * Packets that do not match are ignored, so a blind spoofer must win a race
 * against the real server rather than simply being first.
 *
 * @example
 * ```ts ignore
 * import { parseResolver, query, resolveAddresses } from "./mod.ts";
 * const [server] = parseResolver("127.0.0.1:5300");
 * const r = await query(server, "vigia.test", { type: "A" });
 * r.answers; // [{ name: "vigia.test", type: "A", ttl: 300, data: "127.0.0.1" }]
 * const a = await resolveAddresses(server, "www.vigia.test");
 * a.addresses; // [{ ip: "127.0.0.1", ttl: 300, type: "A" }]
 * ```
 *
 * @module
 */

import dnsPacket from "dns-packet";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { parseHostPort, parseIp } from "../net/mod.ts";

/** A DNS server to ask. */
export interface ResolverAddress {
  /** Address literal (IPv4 or IPv6, no brackets). */
  host: string;
  /** UDP/TCP port. */
  port: number;
}

/** Why a query failed. */
export type ResolverErrorReason = "timeout" | "network" | "malformed" | "mismatch";

/** A query that produced no usable answer. */
export class ResolverError extends Error {
  /** What went wrong: no answer in time, a socket error, an undecodable or non-matching answer. */
  readonly reason: ResolverErrorReason;
  /** Makes an error of the given `reason` with a sentence naming server, name and type. */
  constructor(reason: ResolverErrorReason, message: string) {
    super(message);
    this.name = "ResolverError";
    this.reason = reason;
  }
}

/** Where the system's resolvers are listed. */
export const RESOLV_CONF = "/etc/resolv.conf";

/**
 * The `nameserver` lines of a resolv.conf file, port 53. A missing or
 * unreadable file gives an empty list (the caller reports "no resolvers").
 */
export function systemResolvers(path: string = RESOLV_CONF): ResolverAddress[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  const out: ResolverAddress[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    // A link-local IPv6 resolver carries a zone (`fe80::1%eth0`); keep it, the socket layer needs it.
    const host = m[1];
    if (!parseIp(host.split("%")[0])) continue;
    out.push({ host, port: 53 });
  }
  return out;
}

/**
 * Parses one resolver spelling: `IP`, `IP:PORT`, `[IPv6]:PORT`, or `system`
 * (every nameserver in /etc/resolv.conf). Throws a `TypeError` that quotes the
 * text when it is none of these.
 */
export function parseResolver(
  text: string,
  options: { resolvConf?: string } = {},
): ResolverAddress[] {
  const t = text.trim();
  if (t === "system") return systemResolvers(options.resolvConf);
  const hp = parseHostPort(t, 53);
  if (typeof hp === "string") {
    throw new TypeError(`resolver ${hp}, or "system"`);
  }
  return [{ host: hp.host, port: hp.port }];
}

/** Formats a resolver as `IP:PORT` (`[IPv6]:PORT`). */
export function formatResolver(server: ResolverAddress): string {
  return server.host.includes(":")
    ? `[${server.host}]:${server.port}`
    : `${server.host}:${server.port}`;
}

/** One resource record, with its data as text. */
export interface Rr {
  /** Owner name, lower case, without the trailing dot. */
  name: string;
  /** Type mnemonic (`A`, `AAAA`, `CNAME`, `NS`, ...). */
  type: string;
  /** Time to live in seconds. */
  ttl: number;
  /**
   * Data as text: an address for A/AAAA, a name for CNAME/NS/PTR/DNAME,
   * `PREF NAME` for MX, the zone-file fields for SOA, the joined strings for TXT.
   */
  data: string;
}

/** A decoded answer to {@linkcode query}. */
export interface DnsResponse {
  /** Response code (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, ...). */
  rcode: string;
  /** Answer section. */
  answers: Rr[];
  /** Authority section. */
  authority: Rr[];
  /** Additional section (OPT records left out). */
  additional: Rr[];
  /** The TC flag of the answer used (true only when TCP was off or also truncated). */
  truncated: boolean;
  /** The server that answered, `IP:PORT`. */
  server: string;
  /** Round-trip time of the whole exchange in milliseconds. */
  rttMs: number;
  /** Whether the answer came over TCP. */
  tcp: boolean;
}

/** Options for {@linkcode query}. */
export interface QueryOptions {
  /** Question type mnemonic (`A`, `AAAA`, `NS`, `SOA`, ...). */
  type: string;
  /** Milliseconds to wait for each transport's answer. @default 2000 */
  timeoutMs?: number;
  /** Ask over TCP from the start. @default false */
  tcp?: boolean;
  /** Aborts the query (rejects with reason `timeout`). */
  signal?: AbortSignal;
  /** Set the RD (recursion desired) flag. @default true */
  rd?: boolean;
}

const RD = 1 << 8;

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}

function trimDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** A question or record as `dns-packet` decodes it (the package has no types of its own). */
export interface DecodedRecord {
  /** Owner name, without the final dot. */
  name: string;
  /** Type mnemonic (`A`, `MX`, `OPT`). */
  type: string;
  /** Class mnemonic (`IN`). */
  class?: string;
  /** TTL, seconds (records only). */
  ttl?: number;
  /** A string for names and addresses, a Buffer for unknown types, an object for MX, SOA, SRV... */
  data?: unknown;
}

/** A message as `dns-packet` decodes it: the fields vigia reads. */
export interface DecodedMessage {
  /** Message id. */
  id?: number;
  /** `query` or `response`. */
  type?: string;
  /** Response code mnemonic (`NOERROR`, `NXDOMAIN`). */
  rcode?: string;
  /** The TC (truncated) flag. */
  flag_tc?: boolean;
  /** Question section. */
  questions?: DecodedRecord[];
  /** Answer section. */
  answers?: DecodedRecord[];
  /** Authority section. */
  authorities?: DecodedRecord[];
  /** Additional section. */
  additionals?: DecodedRecord[];
}

type Packet = DecodedMessage;

/** The fields of MX, SOA, SRV data and TXT strings, as `dns-packet` decodes them. */
type DecodedData = Record<string, string | number> & (string | Buffer)[];

function rrText(type: string, data: unknown): string {
  if (data === undefined || data === null) return "";
  if (typeof data === "string") {
    return type === "A" || type === "AAAA" ? data : trimDot(data).toLowerCase();
  }
  if (Buffer.isBuffer(data)) return (data as Buffer).toString("hex");
  const d = data as DecodedData;
  switch (type) {
    case "MX":
      return `${d.preference} ${trimDot(String(d.exchange)).toLowerCase()}`;
    case "SOA":
      return `${trimDot(String(d.mname))} ${
        trimDot(String(d.rname))
      } ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case "TXT":
      return (Array.isArray(d) ? d : [d]).map((b: unknown) => String(b)).join("");
    case "SRV":
      return `${d.priority} ${d.weight} ${d.port} ${trimDot(String(d.target))}`;
    default:
      return JSON.stringify(d);
  }
}

function toRrs(list: DecodedRecord[] | undefined): Rr[] {
  if (!list) return [];
  const out: Rr[] = [];
  for (const r of list) {
    if (r.type === "OPT") continue;
    out.push({
      name: trimDot(String(r.name)).toLowerCase(),
      type: String(r.type),
      ttl: Number(r.ttl ?? 0),
      data: rrText(String(r.type), r.data),
    });
  }
  return out;
}

function normName(name: string): string {
  return trimDot(name).toLowerCase();
}

/** Encodes a question; `rd` sets recursion desired. */
function encodeQuestion(id: number, name: string, type: string, rd: boolean): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: rd ? RD : 0,
    questions: [{ type, name: normName(name), class: "IN" }],
  });
}

/** Checks a decoded packet answers our question; returns why not, or undefined. */
function mismatch(p: Packet, id: number, name: string, type: string): string | undefined {
  if (p.id !== id) return `id ${p.id} is not ${id}`;
  if (p.type !== "response") return "not a response";
  const q = p.questions?.[0];
  // A FORMERR/NOTIMP answer may omit the question; accept it only with the right id.
  if (!q) return p.rcode === "NOERROR" ? "no question in answer" : undefined;
  if (normName(String(q.name)) !== normName(name)) return `question name ${q.name}`;
  if (String(q.type) !== type) return `question type ${q.type}`;
  if (q.class !== undefined && q.class !== "IN") return `question class ${q.class}`;
  return undefined;
}

function toResponse(p: Packet, server: ResolverAddress, t0: number, tcp: boolean): DnsResponse {
  return {
    rcode: String(p.rcode ?? "NOERROR"),
    answers: toRrs(p.answers),
    authority: toRrs(p.authorities),
    additional: toRrs(p.additionals),
    truncated: Boolean(p.flag_tc),
    server: formatResolver(server),
    rttMs: performance.now() - t0,
    tcp,
  };
}

function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  // node:dgram reports IPv4-mapped forms on dual-stack sockets.
  return a.replace(/^::ffff:/, "") === b.replace(/^::ffff:/, "");
}

function udpExchange(
  server: ResolverAddress,
  name: string,
  type: string,
  options: { timeoutMs: number; rd: boolean; signal?: AbortSignal },
): Promise<Packet> {
  const id = randomId();
  const msg = encodeQuestion(id, name, type, options.rd);
  const family = server.host.includes(":") ? "udp6" : "udp4";
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(family);
    let settled = false;
    let lastBad: ResolverError | undefined;
    const finish = (err: ResolverError | undefined, p?: Packet) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      try {
        sock.close();
      } catch { /* already closed by an error */ }
      if (err) reject(err);
      else resolve(p as Packet); // an answer comes with no error
    };
    const onAbort = () => finish(new ResolverError("timeout", `query ${name} ${type} aborted`));
    const timer = setTimeout(() => {
      finish(
        lastBad ??
          new ResolverError(
            "timeout",
            `no answer from ${
              formatResolver(server)
            } for ${name} ${type} in ${options.timeoutMs} ms`,
          ),
      );
    }, options.timeoutMs);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    sock.on("error", (e: Error) => {
      finish(new ResolverError("network", `${formatResolver(server)}: ${e.message}`));
    });
    sock.on("message", (buf: Buffer, rinfo: { address: string; port: number }) => {
      if (!sameHost(rinfo.address, server.host) || rinfo.port !== server.port) return;
      let p: Packet;
      try {
        p = dnsPacket.decode(buf);
      } catch (e) {
        lastBad = new ResolverError(
          "malformed",
          `undecodable answer from ${formatResolver(server)}: ${(e as Error).message}`,
        );
        return;
      }
      const why = mismatch(p, id, name, type);
      if (why) {
        lastBad = new ResolverError(
          "mismatch",
          `answer from ${formatResolver(server)} does not match ${name} ${type}: ${why}`,
        );
        return;
      }
      finish(undefined, p);
    });
    sock.send(msg, server.port, server.host, (e: Error | null) => {
      if (e) finish(new ResolverError("network", `${formatResolver(server)}: ${e.message}`));
    });
  });
}

async function tcpExchange(
  server: ResolverAddress,
  name: string,
  type: string,
  options: { timeoutMs: number; rd: boolean; signal?: AbortSignal },
): Promise<Packet> {
  const id = randomId();
  const msg = encodeQuestion(id, name, type, options.rd);
  let conn: Deno.TcpConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn?.close();
    } catch { /* closed */ }
  }, options.timeoutMs);
  const onAbort = () => {
    timedOut = true;
    try {
      conn?.close();
    } catch { /* closed */ }
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const connecting = Deno.connect({ hostname: server.host, port: server.port });
    conn = await connecting;
    if (timedOut) throw new Error("timed out");
    const framed = new Uint8Array(2 + msg.length);
    framed[0] = msg.length >> 8;
    framed[1] = msg.length & 0xff;
    framed.set(msg, 2);
    let off = 0;
    while (off < framed.length) off += await conn.write(framed.subarray(off));
    const len = await readExactly(conn, 2);
    const body = await readExactly(conn, (len[0] << 8) | len[1]);
    let p: Packet;
    try {
      p = dnsPacket.decode(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    } catch (e) {
      throw new ResolverError(
        "malformed",
        `undecodable TCP answer from ${formatResolver(server)}: ${(e as Error).message}`,
      );
    }
    const why = mismatch(p, id, name, type);
    if (why) {
      throw new ResolverError(
        "mismatch",
        `TCP answer from ${formatResolver(server)} does not match ${name} ${type}: ${why}`,
      );
    }
    return p;
  } catch (e) {
    if (e instanceof ResolverError) throw e;
    if (timedOut) {
      throw new ResolverError(
        "timeout",
        `no TCP answer from ${
          formatResolver(server)
        } for ${name} ${type} in ${options.timeoutMs} ms`,
      );
    }
    throw new ResolverError("network", `${formatResolver(server)} (TCP): ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    try {
      conn?.close();
    } catch { /* closed on timeout */ }
  }
}

async function readExactly(conn: Deno.TcpConn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) throw new Error(`connection closed after ${off} of ${n} bytes`);
    off += got;
  }
  return out;
}

/**
 * Asks `server` one question. UDP first (unless `tcp`), then TCP when the UDP
 * answer has TC set. Rejects with {@linkcode ResolverError}: `timeout` when no
 * matching answer arrives in time, `network` on a socket error, `malformed` or
 * `mismatch` when only undecodable or non-matching packets came back.
 */
export async function query(
  server: ResolverAddress,
  name: string,
  options: QueryOptions,
): Promise<DnsResponse> {
  const { type, timeoutMs = 2000, tcp = false, signal, rd = true } = options;
  const t0 = performance.now();
  const o = { timeoutMs, rd, signal };
  if (!tcp) {
    const p = await udpExchange(server, name, type, o);
    if (!p.flag_tc) return toResponse(p, server, t0, false);
  }
  const p = await tcpExchange(server, name, type, o);
  return toResponse(p, server, t0, true);
}

/** One address found by {@linkcode resolveAddresses}. */
export interface ResolvedAddress {
  /** The address. */
  ip: string;
  /** TTL of its record in seconds. */
  ttl: number;
  /** Record type. */
  type: "A" | "AAAA";
}

/** Result of {@linkcode resolveAddresses}. */
export interface ResolvedName {
  /** Every distinct address (A first, then AAAA). */
  addresses: ResolvedAddress[];
  /** CNAME targets followed, in order, without duplicates. */
  cnames: string[];
  /** Response code of the last answer (NOERROR when any type succeeded). */
  rcode: string;
}

/** Options for {@linkcode resolveAddresses}. */
export interface ResolveOptions {
  /** Milliseconds per query. @default 2000 */
  timeoutMs?: number;
  /** CNAME hops to follow at most. @default 8 */
  maxCnames?: number;
  /** Types to ask. @default ["A", "AAAA"] */
  types?: ("A" | "AAAA")[];
  /** Aborts every query. */
  signal?: AbortSignal;
}

/**
 * Resolves `name` to addresses through `server`, following CNAME chains in the
 * answer and re-asking for a target the server did not expand. A and AAAA are
 * asked in parallel. Rejects with {@linkcode ResolverError} only when every
 * type failed at the transport level; an NXDOMAIN is a result with no address.
 */
export async function resolveAddresses(
  server: ResolverAddress,
  name: string,
  options: ResolveOptions = {},
): Promise<ResolvedName> {
  const { timeoutMs = 2000, maxCnames = 8, types = ["A", "AAAA"], signal } = options;
  const results = await Promise.allSettled(
    types.map((t) => resolveType(server, name, t, { timeoutMs, maxCnames, signal })),
  );
  const addresses: ResolvedAddress[] = [];
  const cnames: string[] = [];
  const seen = new Set<string>();
  let rcode: string | undefined;
  let firstError: unknown;
  for (const r of results) {
    if (r.status === "rejected") {
      firstError ??= r.reason;
      continue;
    }
    for (const a of r.value.addresses) {
      if (seen.has(a.ip)) continue;
      seen.add(a.ip);
      addresses.push(a);
    }
    for (const c of r.value.cnames) if (!cnames.includes(c)) cnames.push(c);
    if (rcode === undefined || r.value.rcode === "NOERROR") rcode = r.value.rcode;
  }
  if (rcode === undefined) throw firstError;
  return { addresses, cnames, rcode };
}

async function resolveType(
  server: ResolverAddress,
  name: string,
  type: "A" | "AAAA",
  options: { timeoutMs: number; maxCnames: number; signal?: AbortSignal },
): Promise<ResolvedName> {
  const cnames: string[] = [];
  let current = normName(name);
  let rcode = "NOERROR";
  for (let asked = 0; asked <= options.maxCnames; asked++) {
    const askedName = current;
    const r = await query(server, current, {
      type,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    });
    rcode = r.rcode;
    // Walk the chain inside this answer, bounded by the hop budget.
    for (let hop = 0; hop <= options.maxCnames; hop++) {
      const addrs = r.answers.filter((a) => a.type === type && a.name === current);
      if (addrs.length > 0) {
        return { addresses: addrs.map((a) => ({ ip: a.data, ttl: a.ttl, type })), cnames, rcode };
      }
      const cname = r.answers.find((a) => a.type === "CNAME" && a.name === current);
      if (!cname) break;
      if (cnames.includes(cname.data) || cname.data === normName(name)) {
        return { addresses: [], cnames, rcode }; // a CNAME loop
      }
      if (cnames.length >= options.maxCnames) return { addresses: [], cnames, rcode };
      cnames.push(cname.data);
      current = cname.data;
    }
    // The chain ended without data: ask again only if a CNAME moved us to a name not expanded here.
    if (r.rcode !== "NOERROR" || current === askedName) break;
  }
  return { addresses: [], cnames, rcode };
}
