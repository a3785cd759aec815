/**
 * DNS over HTTPS client: RFC 8484 wire format (`application/dns-message`,
 * POST or GET with `?dns=`) and the JSON API (`application/dns-json`, as
 * served by Google, Cloudflare, AliDNS, Quad9). One question per call; the
 * caller follows CNAME chains across calls when a server leaves one open.
 *
 * @example
 * ```ts ignore
 * import { dohQuery } from "./doh.ts";
 * const r = await dohQuery("https://dns.google/resolve", "example.com", { flavour: "json" });
 * r.answers; // [{ name: "example.com", type: "A", ttl: 300, data: "93.184.215.14" }]
 * ```
 *
 * @module
 */

import dnsPacket from "dns-packet";
import { dnsRcodeName, dnsTypeName } from "../net/dns_names.ts";
import { Buffer } from "node:buffer";
import {
  type DecodedMessage,
  type DecodedRecord,
  ResolverError,
  type Rr,
} from "../resolver/mod.ts";

/** DoH dialects. */
export type DohFlavour = "wire-post" | "wire-get" | "json";

/** Options for {@linkcode dohQuery}. */
export interface DohQueryOptions {
  /** Which dialect the endpoint speaks. @default "wire-post" */
  flavour?: DohFlavour;
  /** Question type. @default "A" */
  type?: string;
  /** Milliseconds for the whole HTTP exchange. @default 2000 */
  timeoutMs?: number;
  /** HTTP client (custom CA certificates); the global one when absent. */
  client?: Deno.HttpClient;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** The answer to one DoH question. */
export interface DohAnswer {
  /** Response code mnemonic: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... */
  rcode: string;
  /** Answer section; names lower case without the trailing dot. */
  answers: Rr[];
}

const WIRE_TYPE = "application/dns-message";
const JSON_TYPE = "application/dns-json";
/** Largest DNS message over DoH (RFC 8484 section 6: 65535 octets). */
const MAX_WIRE = 65535;
const MAX_JSON = 1 << 20;

function trimDot(name: string): string {
  return (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function readLimited(res: Response, limit: number, what: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await res.body?.cancel();
    throw new ResolverError("malformed", `${what}: body of ${declared} bytes is over ${limit}`);
  }
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw new ResolverError("malformed", `${what}: body over ${limit} bytes`);
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function wireRrs(list: DecodedRecord[] | undefined): Rr[] {
  const out: Rr[] = [];
  for (const r of list ?? []) {
    const type = String(r.type);
    if (type === "OPT") continue;
    const data = typeof r.data === "string"
      ? (type === "A" || type === "AAAA" ? r.data : trimDot(r.data))
      : "";
    out.push({ name: trimDot(String(r.name)), type, ttl: Number(r.ttl ?? 0), data });
  }
  return out;
}

/**
 * Asks one question of a DoH endpoint. Rejects with a `ResolverError`:
 * `timeout` when no answer came in time, `network` for connection errors and
 * non-200 statuses, `malformed` for an undecodable body, `mismatch` when the
 * answer's question is not ours.
 */
export async function dohQuery(
  url: string,
  name: string,
  options: DohQueryOptions = {},
): Promise<DohAnswer> {
  const { flavour = "wire-post", type = "A", timeoutMs = 2000, client, signal } = options;
  const qname = trimDot(name);
  const timeout = AbortSignal.timeout(timeoutMs);
  const abort = signal ? AbortSignal.any([timeout, signal]) : timeout;
  let request: Request;
  if (flavour === "json") {
    const u = new URL(url);
    u.searchParams.set("name", qname);
    u.searchParams.set("type", type);
    request = new Request(u, { headers: { accept: JSON_TYPE } });
  } else {
    // RFC 8484 section 4.1: id 0 keeps the request cacheable by HTTP caches.
    const msg = new Uint8Array(dnsPacket.encode({
      type: "query",
      id: 0,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name: qname, class: "IN" }],
    }));
    if (flavour === "wire-get") {
      const u = new URL(url);
      u.searchParams.set("dns", base64url(msg));
      request = new Request(u, { headers: { accept: WIRE_TYPE } });
    } else {
      request = new Request(url, {
        method: "POST",
        headers: { accept: WIRE_TYPE, "content-type": WIRE_TYPE },
        body: msg,
      });
    }
  }
  let res: Response;
  try {
    res = await fetch(request, { signal: abort, client });
  } catch (e) {
    if (timeout.aborted) {
      throw new ResolverError("timeout", `no answer from ${url} for ${qname} in ${timeoutMs} ms`);
    }
    throw new ResolverError("network", `${url}: ${(e as Error).message}`);
  }
  try {
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new ResolverError("network", `${url}: HTTP ${res.status} for ${qname}`);
    }
    if (flavour === "json") {
      const body = await readLimited(res, MAX_JSON, url);
      return parseJsonAnswer(new TextDecoder().decode(body), qname, url);
    }
    const body = await readLimited(res, MAX_WIRE, url);
    let p: DecodedMessage;
    try {
      p = dnsPacket.decode(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    } catch (e) {
      throw new ResolverError("malformed", `${url}: undecodable answer: ${(e as Error).message}`);
    }
    const q = p.questions?.[0];
    if (p.type !== "response" || (q && (trimDot(String(q.name)) !== qname || q.type !== type))) {
      throw new ResolverError("mismatch", `${url}: the answer is not for ${qname} ${type}`);
    }
    return { rcode: String(p.rcode ?? "NOERROR"), answers: wireRrs(p.answers) };
  } catch (e) {
    if (e instanceof ResolverError) throw e;
    if (timeout.aborted) {
      throw new ResolverError("timeout", `no answer from ${url} for ${qname} in ${timeoutMs} ms`);
    }
    throw new ResolverError("network", `${url}: ${(e as Error).message}`);
  }
}

function parseJsonAnswer(text: string, qname: string, url: string): DohAnswer {
  // deno-lint-ignore no-explicit-any
  let j: any;
  try {
    j = JSON.parse(text);
  } catch {
    throw new ResolverError("malformed", `${url}: the answer is not JSON`);
  }
  if (j === null || typeof j !== "object" || typeof j.Status !== "number") {
    throw new ResolverError("malformed", `${url}: no Status in the JSON answer`);
  }
  const q = Array.isArray(j.Question) ? j.Question[0] : undefined;
  if (q && typeof q.name === "string" && trimDot(q.name) !== qname) {
    throw new ResolverError("mismatch", `${url}: the answer is for ${q.name}, not ${qname}`);
  }
  const answers: Rr[] = [];
  for (const a of Array.isArray(j.Answer) ? j.Answer : []) {
    if (!a || typeof a.name !== "string" || typeof a.data !== "string") continue;
    const type = dnsTypeName(Number(a.type));
    const data = type === "A" || type === "AAAA" ? a.data : trimDot(a.data);
    answers.push({ name: trimDot(a.name), type, ttl: Number(a.TTL ?? 0), data });
  }
  return { rcode: dnsRcodeName(Number(j.Status)), answers };
}
