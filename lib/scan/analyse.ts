/**
 * One fault-tolerance scan of one domain: resolve through every resolver for
 * several rounds, find the zone's name servers, locate every address, and
 * compute the counts, scores, statistics and findings.
 *
 * @module
 */

import {
  formatUtcOffset,
  type GeoDb,
  mgrsReference,
  mgrsValue,
  TIME_ZONE_VALUE_DATE,
  timeZoneValue,
  utcOffsetMinutes,
  utmCell,
  utmValue,
} from "../geo/mod.ts";
import { formatIp, parseIpv4, parseIpv6 } from "../net/mod.ts";
import {
  formatResolver,
  query,
  resolveAddresses,
  type ResolvedAddress,
  type ResolverAddress,
} from "../resolver/mod.ts";
import { evaluateFindings, worstLevel } from "./findings.ts";
import {
  analyseName,
  type Autocorrelation,
  autocorrelation,
  fluxScores,
  type LocatedValue,
} from "./metrics.ts";
import type {
  AddressInfo,
  NameServerInfo,
  ResolverOutcome,
  ScanCounts,
  ScanResult,
  SpatialStats,
} from "./types.ts";

/** Options for {@linkcode analyseDomain}. */
export interface AnalyseOptions {
  /** Resolvers to ask, each in every round. */
  resolvers: ResolverAddress[];
  /** Geolocation databases (a GeoDb without files gives empty fields). */
  geo: GeoDb;
  /** Resolution rounds, spaced within the TTL to catch rotation. @default 3 */
  rounds?: number;
  /** Per-query timeout, ms. @default 2000 */
  timeoutMs?: number;
  /**
   * Pause between rounds, ms; shortened to TTL / rounds when the TTL is
   * smaller, so the rounds stay within one TTL. @default 1000
   */
  roundIntervalMs?: number;
  /** The whole scan stops after this many ms and reports what it has. @default 20000 */
  deadlineMs?: number;
  /** Stops the scan early (e.g. daemon shutdown). */
  signal?: AbortSignal;
  /** Clock for `startedAt` and the "UTC offset now" column. @default () => new Date() */
  now?: () => Date;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/**
 * Lower-cases a domain name and drops a trailing dot; throws a `TypeError`
 * quoting the text when it is not a host name.
 */
export function normaliseDomain(text: string): string {
  const name = text.trim().toLowerCase().replace(/\.$/, "");
  if (name === "" || name.length > 253 || !name.split(".").every((l) => LABEL.test(l))) {
    throw new TypeError(`"${text}" is not a domain name (letters, digits, "-", "_" and dots)`);
  }
  return name;
}

/** The /24 of an IPv4 or /48 of an IPv6 address, as CIDR text. */
export function addressPrefix(ip: string): string {
  const v4 = parseIpv4(ip);
  if (v4) return `${v4[0]}.${v4[1]}.${v4[2]}.0/24`;
  const v6 = parseIpv6(ip);
  if (!v6) return ip;
  const p = new Uint8Array(16);
  p.set(v6.subarray(0, 6));
  return `${formatIp(p)}/48`;
}

function compareIps(a: string, b: string): number {
  const a4 = parseIpv4(a), b4 = parseIpv4(b);
  if (a4 && !b4) return -1;
  if (!a4 && b4) return 1;
  const x = a4 ?? parseIpv6(a), y = b4 ?? parseIpv6(b);
  if (!x || !y) return a.localeCompare(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

interface ResolverState {
  server: string;
  answered: number;
  failed: number;
  rcode: string | null;
  error: string | null;
  addresses: Set<string>;
  rttTotal: number;
  lastSet: string | null;
  rotated: boolean;
}

interface Seen {
  type: "A" | "AAAA";
  ttl: number;
  resolvers: Set<string>;
  rounds: Set<number>;
}

/** Finds the zone apex of `name` and its NS names through one resolver. */
async function findZone(
  server: ResolverAddress,
  name: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ zone: string; names: string[] } | null> {
  let candidate = name;
  const tried = new Set<string>();
  while (candidate.includes(".") && !tried.has(candidate)) {
    tried.add(candidate);
    const r = await query(server, candidate, { type: "NS", timeoutMs, signal });
    const ns = r.answers.filter((a) => a.type === "NS" && a.name === candidate);
    if (ns.length > 0) {
      return {
        zone: candidate,
        names: [...new Set(ns.map((a) => a.data))].sort(),
      };
    }
    // NODATA / NXDOMAIN carry the enclosing zone's SOA: jump straight to that apex.
    const soa = r.authority.find((a) => a.type === "SOA");
    const aliased = r.answers.some((a) => a.type === "CNAME" && a.name === candidate);
    if (
      soa && !aliased && (r.rcode === "NOERROR" || r.rcode === "NXDOMAIN") &&
      soa.name !== candidate && candidate.endsWith(`.${soa.name}`) && !tried.has(soa.name)
    ) {
      candidate = soa.name;
      continue;
    }
    candidate = candidate.slice(candidate.indexOf(".") + 1);
  }
  return null;
}

async function findNameServers(
  resolvers: ResolverAddress[],
  name: string,
  options: { timeoutMs: number; signal: AbortSignal; geo: GeoDb },
): Promise<{ zone: string | null; nameServers: NameServerInfo[]; error: string | null }> {
  let lastError = "no resolver";
  for (const server of resolvers) {
    if (options.signal.aborted) break;
    let found;
    try {
      found = await findZone(server, name, options.timeoutMs, options.signal);
    } catch (e) {
      lastError = (e as Error).message;
      continue;
    }
    if (!found) return { zone: null, nameServers: [], error: "no NS records up the name's labels" };
    const nameServers = await Promise.all(found.names.map(async (ns): Promise<NameServerInfo> => {
      try {
        const r = await resolveAddresses(server, ns, {
          timeoutMs: options.timeoutMs,
          signal: options.signal,
        });
        return {
          name: ns,
          addresses: r.addresses.sort((a, b) => compareIps(a.ip, b.ip)).map((a) => {
            const g = options.geo.lookup(a.ip);
            return {
              ip: a.ip,
              type: a.type,
              prefix: addressPrefix(a.ip),
              asn: g.asn ?? null,
              asOrg: g.asOrg ?? null,
              countryCode: g.countryCode ?? null,
            };
          }),
          error: r.addresses.length === 0 ? `no address (${r.rcode})` : null,
        };
      } catch (e) {
        return { name: ns, addresses: [], error: (e as Error).message };
      }
    }));
    return { zone: found.zone, nameServers, error: null };
  }
  return { zone: null, nameServers: [], error: lastError };
}

/** Builds the located description of one address. */
function describe(ip: string, seen: Seen, geo: GeoDb, now: Date): AddressInfo {
  const g = geo.lookup(ip);
  const lat = g.latitude ?? null, lon = g.longitude ?? null;
  const located = lat !== null && lon !== null;
  const tz = g.timeZone ?? null;
  const offNow = tz ? utcOffsetMinutes(tz, now) : null;
  const off2012 = tz ? utcOffsetMinutes(tz, TIME_ZONE_VALUE_DATE) : null;
  const utm = located ? utmCell(lat, lon) : null;
  const mgrs = located ? mgrsReference(lat, lon) : null;
  return {
    ip,
    type: seen.type,
    ttl: seen.ttl,
    prefix: addressPrefix(ip),
    resolvers: [...seen.resolvers].sort(),
    rounds: seen.rounds.size,
    asn: g.asn ?? null,
    asOrg: g.asOrg ?? null,
    countryCode: g.countryCode ?? null,
    countryName: g.countryName ?? null,
    city: g.city ?? null,
    latitude: lat,
    longitude: lon,
    accuracyRadius: g.accuracyRadius ?? null,
    timeZone: tz,
    utcOffsetNow: offNow === null ? null : formatUtcOffset(offNow),
    utcOffset2012: off2012 === null ? null : formatUtcOffset(off2012),
    utm,
    mgrs,
    values: {
      timeZone: timeZoneValue(tz),
      utm: utmValue(utm),
      // The original passed (lon, lat) where (lat, lon) was expected.
      utmOriginal: located ? utmValue(utmCell(lon, lat)) : null,
      mgrs: mgrsValue(mgrs),
    },
  };
}

/** Counts of the FFanalyse table from the located addresses and name servers. */
export function countAddresses(
  addresses: AddressInfo[],
  nameServers: NameServerInfo[],
): { counts: ScanCounts; lists: ScanResult["lists"] } {
  const ranges = new Set<string>();
  const asns = new Map<number, { asn: number; org: string | null; addresses: number }>();
  const countries = new Map<string, { code: string; name: string | null; addresses: number }>();
  const cities = new Map<string, { city: string; countryCode: string | null; addresses: number }>();
  for (const a of addresses) {
    ranges.add(a.prefix);
    if (a.asn !== null) {
      const e = asns.get(a.asn) ?? { asn: a.asn, org: a.asOrg, addresses: 0 };
      e.addresses++;
      asns.set(a.asn, e);
    }
    if (a.countryCode) {
      const e = countries.get(a.countryCode) ??
        { code: a.countryCode, name: a.countryName, addresses: 0 };
      e.addresses++;
      countries.set(a.countryCode, e);
    }
    if (a.city) {
      const key = `${a.countryCode ?? ""}/${a.city}`;
      const e = cities.get(key) ?? { city: a.city, countryCode: a.countryCode, addresses: 0 };
      e.addresses++;
      cities.set(key, e);
    }
  }
  const nsAddrs = new Set<string>();
  for (const n of nameServers) for (const a of n.addresses) nsAddrs.add(a.ip);
  return {
    counts: {
      aRecords: addresses.filter((a) => a.type === "A").length,
      aaaaRecords: addresses.filter((a) => a.type === "AAAA").length,
      ranges: ranges.size,
      asns: asns.size,
      countries: countries.size,
      cities: cities.size,
      numServers: addresses.length,
      nameServers: nameServers.length,
      nameServerAddresses: nsAddrs.size,
    },
    lists: {
      ranges: [...ranges].sort((a, b) => compareIps(a.split("/")[0], b.split("/")[0])),
      asns: [...asns.values()].sort((a, b) => a.asn - b.asn),
      countries: [...countries.values()].sort((a, b) => a.code.localeCompare(b.code)),
      cities: [...cities.values()].sort((a, b) => a.city.localeCompare(b.city)),
    },
  };
}

/** Moran's I and Geary's C of the three values over the located addresses, and their products. */
export function spatialStats(addresses: AddressInfo[]): SpatialStats {
  const located = addresses.filter((a) => a.latitude !== null && a.longitude !== null);
  const set = (pick: (a: AddressInfo) => number | null): Autocorrelation => {
    const pts: LocatedValue[] = [];
    for (const a of located) {
      const v = pick(a);
      if (v !== null) pts.push({ lat: a.latitude!, lon: a.longitude!, value: v });
    }
    return autocorrelation(pts);
  };
  const timeZone = set((a) => a.values.timeZone);
  const utm = set((a) => a.values.utm);
  const mgrs = set((a) => a.values.mgrs);
  const product = (x: number) => (x === 0 ? 0 : x); // never print -0
  return {
    located: located.length,
    unlocated: addresses.length - located.length,
    timeZone,
    utm,
    mgrs,
    combined: {
      moranI: product(timeZone.moranI * utm.moranI * mgrs.moranI),
      gearyC: product(timeZone.gearyC * utm.gearyC * mgrs.gearyC),
    },
  };
}

/**
 * Scans one domain. Never throws for network trouble: a domain that fails to
 * resolve gives a result whose findings say so. Throws a `TypeError` only for
 * a `domain` that is not a host name.
 *
 * @example
 * ```ts ignore
 * import { openGeo } from "../geo/mod.ts";
 * import { analyseDomain } from "./analyse.ts";
 * const geo = await openGeo({ cityDb: "GeoLite2-City.mmdb", asnDb: "GeoLite2-ASN.mmdb" });
 * const r = await analyseDomain("servicos.sds.pe.gov.br", {
 *   resolvers: [{ host: "127.0.0.1", port: 53 }], geo,
 * });
 * r.flux.modifiedHolz.printed; // -30 for one address in one AS with TTL 21594
 * ```
 */
export async function analyseDomain(domain: string, options: AnalyseOptions): Promise<ScanResult> {
  const {
    resolvers,
    geo,
    rounds = 3,
    timeoutMs = 2000,
    roundIntervalMs = 1000,
    deadlineMs = 20000,
    signal,
    now = () => new Date(),
  } = options;
  const name = normaliseDomain(domain);
  const started = now();
  const t0 = performance.now();
  const ac = new AbortController();
  let deadlineHit = false;
  const deadline = setTimeout(() => {
    deadlineHit = true;
    ac.abort();
  }, deadlineMs);
  const onAbort = () => ac.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) ac.abort();

  const states: ResolverState[] = resolvers.map((r) => ({
    server: formatResolver(r),
    answered: 0,
    failed: 0,
    rcode: null,
    error: null,
    addresses: new Set(),
    rttTotal: 0,
    lastSet: null,
    rotated: false,
  }));
  const seen = new Map<string, Seen>();
  const cnames: string[] = [];
  let roundsRun = 0;
  try {
    const nsPromise = findNameServers(resolvers, name, { timeoutMs, signal: ac.signal, geo });
    const roundCount = resolvers.length === 0 ? 0 : Math.max(1, rounds);
    for (let round = 0; round < roundCount && !ac.signal.aborted; round++) {
      if (round > 0) {
        let minTtl = Infinity;
        for (const s of seen.values()) minTtl = Math.min(minTtl, s.ttl);
        const within = Number.isFinite(minTtl) ? (minTtl * 1000) / rounds : roundIntervalMs;
        await sleep(Math.min(roundIntervalMs, within), ac.signal);
        if (ac.signal.aborted) break;
      }
      roundsRun++;
      await Promise.all(resolvers.map(async (server, i) => {
        const st = states[i];
        const q0 = performance.now();
        try {
          const r = await resolveAddresses(server, name, { timeoutMs, signal: ac.signal });
          st.answered++;
          st.rttTotal += performance.now() - q0;
          st.rcode = r.rcode;
          for (const c of r.cnames) if (!cnames.includes(c)) cnames.push(c);
          const key = r.addresses.map((a) => a.ip).sort().join(" ");
          if (st.lastSet !== null && st.lastSet !== key) st.rotated = true;
          st.lastSet = key;
          for (const a of r.addresses) record(a, st.server, round);
        } catch (e) {
          st.failed++;
          st.error = (e as Error).message;
        }
      }));
    }
    const ns = await nsPromise;
    const when = now();
    const addresses = [...seen.entries()]
      .sort((a, b) => compareIps(a[0], b[0]))
      .map(([ip, s]) => describe(ip, s, geo, when));
    const { counts, lists } = countAddresses(addresses, ns.nameServers);
    let ttl: number | null = null;
    for (const a of addresses) ttl = ttl === null ? a.ttl : Math.min(ttl, a.ttl);
    const flux = fluxScores({
      aRecords: counts.aRecords,
      asns: counts.asns,
      ranges: counts.ranges,
      countries: counts.countries,
      numServers: counts.numServers,
      nameServers: counts.nameServers,
      ttl,
    });
    const outcomes: ResolverOutcome[] = states.map((s) => ({
      server: s.server,
      answered: s.answered,
      failed: s.failed,
      rcode: s.rcode,
      error: s.error,
      addresses: [...s.addresses].sort(compareIps),
      rttMs: s.answered > 0 ? Math.round((s.rttTotal / s.answered) * 100) / 100 : null,
      rotated: s.rotated,
    }));
    const answering = outcomes.filter((o) => o.answered > 0);
    const rcode = addresses.length > 0
      ? "NOERROR"
      : answering.find((o) => o.rcode === "NXDOMAIN")?.rcode ?? answering[0]?.rcode ?? null;
    const findingInputs = {
      resolvers: outcomes,
      addresses,
      nameServers: ns.nameServers,
      nameServerError: ns.error,
      flux,
      rcode,
    };
    const findings = evaluateFindings(findingInputs);
    const warnings = [...geo.warnings];
    if (deadlineHit) {
      warnings.push(`scan stopped at its ${deadlineMs} ms deadline; results are partial`);
    } else if (signal?.aborted) warnings.push("scan was cancelled; results are partial");
    return {
      version: 1,
      domain: name,
      startedAt: started.toISOString(),
      durationMs: Math.round(performance.now() - t0),
      rounds: roundsRun,
      resolved: answering.length > 0,
      rcode,
      cnames,
      ttl,
      resolvers: outcomes,
      addresses,
      zone: ns.zone,
      nameServers: ns.nameServers,
      nameServerError: ns.error,
      counts,
      lists,
      flux,
      spatial: spatialStats(addresses),
      name: analyseName(name),
      findings,
      worst: worstLevel(findings),
      warnings,
    };
  } finally {
    clearTimeout(deadline);
    signal?.removeEventListener("abort", onAbort);
  }

  function record(a: ResolvedAddress, server: string, round: number) {
    let s = seen.get(a.ip);
    if (!s) {
      s = { type: a.type, ttl: a.ttl, resolvers: new Set(), rounds: new Set() };
      seen.set(a.ip, s);
    }
    s.ttl = Math.min(s.ttl, a.ttl);
    s.resolvers.add(server);
    s.rounds.add(round);
    states.find((x) => x.server === server)!.addresses.add(a.ip);
  }
}
