/**
 * Control verbs of the scanner: `scan run` and `scan results`.
 *
 * @module
 */

import { decodeCursor, encodeCursor, type Page, paging } from "../daemon/args.ts";
import { type VerbEnv, VerbError, verbsOf, type VerbSpec } from "../daemon/types.ts";
import { openGeo } from "../geo/mod.ts";
import { normaliseDomain } from "./analyse.ts";
import {
  configuredResolvers,
  mapLimit,
  scanAndRecord,
  type ScannerComponent,
  scanRow,
} from "./component.ts";
import type { ScannerConfig } from "./config.ts";
import type { ScanResult } from "./types.ts";

const verb = verbsOf<ScannerConfig, ScannerComponent>();

function domainArg(d: string | undefined): string | undefined {
  if (d === undefined) return undefined;
  try {
    return normaliseDomain(d);
  } catch (e) {
    throw new VerbError((e as Error).message);
  }
}

/** `scan run [domain]`: scans now, in the running component when there is one. */
async function scanRun(domain: string | undefined, env: VerbEnv<ScannerConfig, ScannerComponent>) {
  const one = domainArg(domain);
  const section = env.section;
  const domains = one ? [one] : section.domains;
  if (domains.length === 0) throw new VerbError("no domain given and scanner.domains is empty");
  const running = env.running();
  let recorded;
  if (running) {
    recorded = await running.scanNow(domains);
  } else {
    // The component is not running (disabled, or failed): scan once from this config.
    const geo = await openGeo({
      cityDb: env.config.geoip.city_db,
      asnDb: env.config.geoip.asn_db,
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

/** `scan results [domain]`: the latest stored scans, a page of domains at a time. */
function scanResults(
  args: { domain?: string; history: number; full?: boolean; limit: number; cursor?: string },
  env: VerbEnv<ScannerConfig, ScannerComponent>,
): Page<unknown> {
  const domain = domainArg(args.domain);
  const after = args.cursor === undefined ? undefined : decodeCursor(args.cursor, ["string"])[0];
  // Domains of this page first, then each one's latest scan and `history` previous ones.
  const domains = domain ? [domain] : env.store.query<{ domain: string }>(
    `SELECT DISTINCT domain FROM scans ${after === undefined ? "" : "WHERE domain > ?"}
      ORDER BY domain LIMIT ?`,
    ...(after === undefined ? [] : [after]),
    args.limit + 1,
  ).map((r) => r.domain);
  const more = domains.length > args.limit;
  if (more) domains.length = args.limit;
  const page: Page<unknown> = { rows: [] };
  if (more) page.next_cursor = encodeCursor([domains[domains.length - 1]]);
  if (domains.length === 0) return page;
  const history = args.history + 1;
  const full = args.full === true;
  const rows = env.store.query<StoredRow>(
    `SELECT domain, time, addresses, ranges, asns, countries, ttl, name_servers, flux, worst,
            findings, changes${full ? ", result" : ""}
       FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY domain ORDER BY time DESC, id DESC) AS n
               FROM scans WHERE domain IN (${domains.map(() => "?").join(", ")}))
      WHERE n <= ? ORDER BY domain, time DESC`,
    ...domains,
    history,
  );
  if (domain && rows.length === 0) throw new VerbError(`no scan of ${domain} stored yet`);
  if (full) {
    page.rows = rows.map((r) => JSON.parse(r.result!) as ScanResult);
    return page;
  }
  page.rows = rows.map((r) => ({
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
  return page;
}

/** Every verb of the scanner. */
export const scannerVerbs: VerbSpec<ScannerConfig, ScannerComponent>[] = [
  verb({
    name: "scan run",
    describe: "scan now (one domain or all)",
    role: "admin",
    output: "list",
    timeoutMs: 600_000,
    args: { domain: { type: "string", positional: true, describe: "the domain (default: all)" } },
    run: (args, env) => scanRun(args.domain, env),
  }),
  verb({
    name: "scan results",
    describe: "latest scan results",
    role: "read",
    output: "paged",
    args: {
      domain: { type: "string", positional: true, describe: "only this domain" },
      history: {
        type: "integer",
        describe: "also show the N previous scans of each domain (default 0)",
        min: 0,
        max: 100_000,
        default: 0,
      },
      full: { type: "boolean", describe: "whole stored results (JSON)" },
      ...paging(100),
    },
    run: (args, env) => scanResults(args, env),
  }),
];

/** Help lines of the scanner's verb groups. */
export const scannerVerbGroups: Record<string, string> = { scan: "fault-tolerance scans" };
