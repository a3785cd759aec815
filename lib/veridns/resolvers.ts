/**
 * The trusted resolvers: classic DNS servers (through `lib/resolver`) and
 * DNS-over-HTTPS endpoints, asked in parallel for a domain's A records
 * (CNAME chains followed), each answer cached by its TTL per resolver, with
 * concurrent lookups of one name coalesced into one query per resolver.
 *
 * @example
 * ```ts ignore
 * import { ResolverPool, trustedResolvers } from "./resolvers.ts";
 * const pool = new ResolverPool(await trustedResolvers(config.resolver), { cacheEntries: 1000 });
 * const r = await pool.resolve("www.example.com", [0x5db8d822]);
 * r.answered; // ["google", "cloudflare"]
 * ```
 *
 * @module
 */

import { formatResolver, parseResolver, query, type Rr } from "../resolver/mod.ts";
import { ipv4ToNumber } from "./codec.ts";
import type { ResolverConfig } from "./config.ts";
import { type DohFlavour, dohQuery } from "./doh.ts";

/** One question's answer as a resolver gives it. */
export interface QuestionAnswer {
  /** Response code mnemonic. */
  rcode: string;
  /** Answer section. */
  answers: Rr[];
}

/** A trusted resolver: a name and a way to ask it one A question. */
export interface TrustedResolver {
  /** Name in logs, events and stats. */
  readonly name: string;
  /** Milliseconds it may take for one name, CNAME re-asks included. */
  readonly timeoutMs: number;
  /** Asks one question. */
  ask(name: string, signal: AbortSignal): Promise<QuestionAnswer>;
  /** Releases held resources (HTTP clients). */
  close(): void;
}

/** A domain's A records from one resolver. */
export interface AddressAnswer {
  /** Response code of the last answer. */
  rcode: string;
  /** IPv4 addresses as u32 numbers. */
  addresses: number[];
  /** Smallest TTL along the chain in seconds; undefined when no record came. */
  ttl: number | undefined;
}

/** Rcodes that carry an answer; anything else (SERVFAIL, REFUSED, ...) is a failure. */
const ANSWERING = new Set(["NOERROR", "NXDOMAIN"]);

/**
 * Looks up the A records of `name` through `ask`, following CNAMEs inside an
 * answer and asking again for a chain's target left unexpanded, at most
 * `maxCnames` hops. Throws when the resolver fails (transport error or an
 * rcode other than NOERROR / NXDOMAIN).
 */
export async function lookupA(
  ask: (name: string) => Promise<QuestionAnswer>,
  name: string,
  maxCnames = 8,
): Promise<AddressAnswer> {
  let current = name;
  const seen = new Set([name]);
  let ttl: number | undefined;
  let rcode = "NOERROR";
  for (let asked = 0; asked <= maxCnames; asked++) {
    const askedName = current;
    const r = await ask(current);
    rcode = r.rcode;
    if (!ANSWERING.has(rcode)) throw new Error(`${rcode} for ${current}`);
    for (let hop = 0; hop <= maxCnames; hop++) {
      const addresses: number[] = [];
      for (const a of r.answers) {
        if (a.type !== "A" || a.name !== current) continue;
        const n = ipv4ToNumber(a.data);
        if (n < 0) continue;
        addresses.push(n);
        ttl = ttl === undefined ? a.ttl : Math.min(ttl, a.ttl);
      }
      if (addresses.length > 0) return { rcode, addresses, ttl };
      const cname = r.answers.find((a) => a.type === "CNAME" && a.name === current);
      if (!cname) break; // the chain leaves this answer: ask again for `current` below
      if (seen.has(cname.data) || seen.size > maxCnames) {
        return { rcode, addresses: [], ttl: undefined }; // a loop, or too long
      }
      seen.add(cname.data);
      ttl = ttl === undefined ? cname.ttl : Math.min(ttl, cname.ttl);
      current = cname.data;
    }
    if (rcode !== "NOERROR" || current === askedName) break;
  }
  return { rcode, addresses: [], ttl: undefined };
}

/**
 * Builds the trusted resolvers of the config. `address = "system"` becomes one
 * resolver per nameserver of /etc/resolv.conf. Throws when a CA file cannot be read.
 */
export async function trustedResolvers(configs: ResolverConfig[]): Promise<TrustedResolver[]> {
  const out: TrustedResolver[] = [];
  for (const c of configs) {
    if (c.type === "dns") {
      const servers = parseResolver(c.address);
      for (const server of servers) {
        const label = formatResolver(server);
        const name = c.name === "" ? label : servers.length > 1 ? `${c.name} ${label}` : c.name;
        out.push({
          name,
          timeoutMs: c.timeout,
          ask: (q, signal) =>
            query(server, q, { type: "A", timeoutMs: c.timeout, tcp: c.tcp, signal }),
          close() {},
        });
      }
    } else {
      const client = c.ca === ""
        ? undefined
        : Deno.createHttpClient({ caCerts: [await Deno.readTextFile(c.ca)] });
      out.push({
        name: c.name === "" ? c.url : c.name,
        timeoutMs: c.timeout,
        ask: (q, signal) =>
          dohQuery(c.url, q, {
            flavour: c.flavour as DohFlavour,
            timeoutMs: c.timeout,
            client,
            signal,
          }),
        close: () => client?.close(),
      });
    }
  }
  return out;
}

/** Cache settings of {@linkcode ResolverPool}. */
export interface PoolOptions {
  /** Answers kept per resolver at most; 0 disables the cache. @default 20000 */
  cacheEntries?: number;
  /** Milliseconds an answer is kept at least. @default 10000 */
  minTtlMs?: number;
  /** Milliseconds an answer is kept at most. @default 3600000 */
  maxTtlMs?: number;
  /** Milliseconds a name without addresses is kept. @default 60000 */
  negativeTtlMs?: number;
  /** Milliseconds a failure is remembered (the resolver is not asked again). @default 5000 */
  failureTtlMs?: number;
  /** Called for each failed lookup (for the daemon log). */
  onFailure?: (resolver: string, domain: string, error: Error) => void;
}

interface Entry {
  expires: number;
  /** Addresses, or null for a remembered failure. */
  addresses: ReadonlySet<number> | null;
}

interface ResolverState {
  resolver: TrustedResolver;
  cache: Map<string, Entry>;
  inflight: Map<string, Promise<Entry>>;
  queries: number;
  answers: number;
  failures: number;
  hits: number;
  lastError: string;
}

/** What the resolvers said about a domain. */
export interface Resolution {
  /** Address sets of the resolvers that answered. */
  sets: ReadonlySet<number>[];
  /** Names of the resolvers that answered (cached answers included). */
  answered: string[];
  /** Names of the resolvers that failed (timeout, SERVFAIL, network). */
  failed: string[];
}

const EMPTY: ReadonlySet<number> = new Set();

/** Trusted resolvers with a per-resolver TTL cache and coalesced lookups. */
export class ResolverPool {
  readonly #states: ResolverState[];
  readonly #cacheEntries: number;
  readonly #minTtl: number;
  readonly #maxTtl: number;
  readonly #negativeTtl: number;
  readonly #failureTtl: number;
  readonly #onFailure: PoolOptions["onFailure"];

  constructor(resolvers: TrustedResolver[], options: PoolOptions = {}) {
    const {
      cacheEntries = 20000,
      minTtlMs = 10_000,
      maxTtlMs = 3_600_000,
      negativeTtlMs = 60_000,
      failureTtlMs = 5000,
    } = options;
    this.#states = resolvers.map((resolver) => ({
      resolver,
      cache: new Map(),
      inflight: new Map(),
      queries: 0,
      answers: 0,
      failures: 0,
      hits: 0,
      lastError: "",
    }));
    this.#cacheEntries = cacheEntries;
    this.#minTtl = minTtlMs;
    this.#maxTtl = maxTtlMs;
    this.#negativeTtl = negativeTtlMs;
    this.#failureTtl = failureTtlMs;
    this.#onFailure = options.onFailure;
  }

  /** Number of resolvers. */
  get size(): number {
    return this.#states.length;
  }

  /**
   * Asks every resolver about `domain` (a normalised name) in parallel, from
   * the cache where fresh. Resolves once every resolver answered or failed, or
   * earlier as soon as every address of `needed` was found in some answer
   * (the others keep going and fill the cache).
   */
  resolve(domain: string, needed: readonly number[]): Promise<Resolution> {
    const now = Date.now();
    const result: Resolution = { sets: [], answered: [], failed: [] };
    const pending: [ResolverState, Promise<Entry>][] = [];
    for (const s of this.#states) {
      const e = s.cache.get(domain);
      if (e !== undefined && e.expires > now) {
        s.hits++;
        this.#apply(s, e, result);
        continue;
      }
      if (e !== undefined) s.cache.delete(domain);
      pending.push([s, this.#lookup(s, domain)]);
    }
    if (pending.length === 0 || covered(needed, result.sets)) return Promise.resolve(result);
    return new Promise((resolve) => {
      let left = pending.length;
      let done = false;
      for (const [s, p] of pending) {
        p.then((e) => {
          if (done) return;
          this.#apply(s, e, result);
          if (--left === 0 || covered(needed, result.sets)) {
            done = true;
            resolve({
              sets: [...result.sets],
              answered: [...result.answered],
              failed: [...result.failed],
            });
          }
        });
      }
    });
  }

  #apply(s: ResolverState, e: Entry, out: Resolution): void {
    if (e.addresses === null) out.failed.push(s.resolver.name);
    else {
      out.sets.push(e.addresses);
      out.answered.push(s.resolver.name);
    }
  }

  #lookup(s: ResolverState, domain: string): Promise<Entry> {
    const running = s.inflight.get(domain);
    if (running) return running;
    const p = this.#ask(s, domain).finally(() => s.inflight.delete(domain));
    s.inflight.set(domain, p);
    return p;
  }

  async #ask(s: ResolverState, domain: string): Promise<Entry> {
    s.queries++;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), s.resolver.timeoutMs);
    let entry: Entry;
    try {
      const a = await lookupA((q) => s.resolver.ask(q, ctl.signal), domain);
      s.answers++;
      const ttlMs = a.addresses.length === 0 || a.ttl === undefined
        ? this.#negativeTtl
        : Math.min(this.#maxTtl, Math.max(this.#minTtl, a.ttl * 1000));
      entry = {
        expires: Date.now() + ttlMs,
        addresses: a.addresses.length === 0 ? EMPTY : new Set(a.addresses),
      };
      if (ttlMs > 0) this.#store(s, domain, entry);
    } catch (e) {
      s.failures++;
      const err = ctl.signal.aborted
        ? new Error(`no answer within ${s.resolver.timeoutMs} ms`)
        : e as Error;
      s.lastError = err.message;
      entry = { expires: Date.now() + this.#failureTtl, addresses: null };
      if (this.#failureTtl > 0) this.#store(s, domain, entry);
      this.#onFailure?.(s.resolver.name, domain, err);
    } finally {
      clearTimeout(timer);
    }
    return entry;
  }

  #store(s: ResolverState, domain: string, entry: Entry): void {
    if (this.#cacheEntries === 0) return;
    if (s.cache.size >= this.#cacheEntries) {
      // Oldest insertion first: Map iteration order is insertion order.
      const oldest = s.cache.keys().next().value;
      if (oldest !== undefined) s.cache.delete(oldest);
    }
    s.cache.set(domain, entry);
  }

  /** Counters per resolver, for `ctl stats`. */
  stats(): Record<string, unknown>[] {
    return this.#states.map((s) => ({
      name: s.resolver.name,
      queries: s.queries,
      answers: s.answers,
      failures: s.failures,
      cache_hits: s.hits,
      cached: s.cache.size,
      last_error: s.lastError,
    }));
  }

  /** Empties every cache. */
  clear(): void {
    for (const s of this.#states) s.cache.clear();
  }

  /** Releases the resolvers' resources. */
  close(): void {
    for (const s of this.#states) s.resolver.close();
  }
}

function covered(needed: readonly number[], sets: readonly ReadonlySet<number>[]): boolean {
  if (sets.length === 0) return false;
  outer: for (const n of needed) {
    for (const s of sets) if (s.has(n)) continue outer;
    return false;
  }
  return true;
}
