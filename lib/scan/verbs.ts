/**
 * Control verbs of the scanner: `scan run` and `scan results`.
 *
 * @module
 */

import { type AnyConfig, type VerbArgs, type VerbEnv, VerbError } from "../daemon/types.ts";
import { openGeo } from "../geo/mod.ts";
import { normaliseDomain } from "./analyse.ts";
import {
  configuredResolvers,
  mapLimit,
  scanAndRecord,
  ScannerComponent,
  scanRow,
} from "./component.ts";
import type { ScannerConfig } from "./config.ts";
import type { ScanResult } from "./types.ts";

function domainArg(args: VerbArgs): string | undefined {
  const d = args.domain;
  if (d === undefined || d === null || d === "") return undefined;
  if (typeof d !== "string") throw new VerbError("domain must be a string");
  try {
    return normaliseDomain(d);
  } catch (e) {
    throw new VerbError((e as Error).message);
  }
}

function sectionOf(config: AnyConfig): ScannerConfig {
  return config.scanner as ScannerConfig;
}

/** `scan run [domain]`: scans now, in the running component when there is one. */
export async function scanRunVerb(args: VerbArgs, env: VerbEnv) {
  const one = domainArg(args);
  const section = sectionOf(env.config);
  const domains = one ? [one] : section.domains;
  if (domains.length === 0) throw new VerbError("no domain given and scanner.domains is empty");
  const running = env.running();
  let recorded;
  if (running instanceof ScannerComponent) {
    recorded = await running.scanNow(domains);
  } else {
    // The component is not running (disabled, or failed): scan once from this config.
    const geo = await openGeo({
      cityDb: env.config.geoip?.city_db,
      asnDb: env.config.geoip?.asn_db,
    });
    const resolvers = configuredResolvers(section);
    if (resolvers.length === 0) {
      throw new VerbError("no resolver to ask: check scanner.resolvers and /etc/resolv.conf");
    }
    const deps = {
      store: env.store,
      alerts: env.alerts,
      dailyLog: env.dailyLog,
      log: env.log,
      config: env.config,
      section,
      geo,
      resolvers,
    };
    recorded = await mapLimit(domains, section.concurrency, (d) => scanAndRecord(d, deps));
  }
  return recorded.map((r) => scanRow(r.result, r.changes));
}

interface StoredRow {
  domain: string;
  time: number;
  addresses: number;
  ranges: number;
  asns: number;
  countries: number;
  ttl: number | null;
  name_servers: number;
  flux: string;
  worst: string | null;
  findings: string;
  changes: string;
  result?: string;
}

/** `scan results [domain]`: the latest stored scans. */
export function scanResultsVerb(args: VerbArgs, env: VerbEnv) {
  const domain = domainArg(args);
  const history = args.history === undefined || args.history === null ? 1 : Number(args.history);
  if (!Number.isInteger(history) || history < 1 || history > 100000) {
    throw new VerbError(`history must be a whole number from 1 to 100000, found ${args.history}`);
  }
  const full = args.full === true;
  const rows = env.store.query<StoredRow>(
    `SELECT domain, time, addresses, ranges, asns, countries, ttl, name_servers, flux, worst,
            findings, changes${full ? ", result" : ""}
       FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY domain ORDER BY time DESC, id DESC) AS n
               FROM scans ${domain ? "WHERE domain = ?" : ""})
      WHERE n <= ? ORDER BY domain, time DESC`,
    ...(domain ? [domain, history] : [history]),
  );
  if (domain && rows.length === 0) throw new VerbError(`no scan of ${domain} stored yet`);
  if (full) return rows.map((r) => JSON.parse(r.result!) as ScanResult);
  return rows.map((r) => ({
    domain: r.domain,
    time: new Date(r.time).toISOString(),
    addresses: r.addresses,
    ranges: r.ranges,
    asns: r.asns,
    countries: r.countries,
    ttl: r.ttl,
    ns: r.name_servers,
    flux: r.flux,
    worst: r.worst ?? "OK",
    findings: r.findings,
    changes: (JSON.parse(r.changes) as { code: string }[]).map((c) => c.code).join(","),
  }));
}
