/**
 * The scanner component: scans the configured domains on a schedule (first
 * cycle at a random moment within `start_delay`, then every `interval` plus up
 * to `jitter`), `concurrency` domains at a time, and for each scan:
 *
 * - stores it in the `scans` table (summary columns + the full result JSON);
 * - writes one `scan` line to the daily log (`YYYY-MM-DD.log`) with the
 *   counts, verdict, finding codes and change codes;
 * - appends the human report to `<log_dir>/scan-YYYY-MM-DD.log` (the daily
 *   scan report; dated in the log time zone, pruned after `keep_days`);
 * - compares it with the domain's previous stored scan and publishes a
 *   `scan-degraded` alert when it got worse (see `compareScans`).
 *
 * @module
 */

import type { AlertPublisher } from "../alerts/mod.ts";
import type { Component, ComponentContext, VigiaConfig } from "../daemon/types.ts";
import type { DailyLog } from "../daylog/mod.ts";
import { type GeoDb, openGeo } from "../geo/mod.ts";
import type { Logger } from "../log/mod.ts";
import { parseResolver, type ResolverAddress } from "../resolver/mod.ts";
import type { Store } from "../store/mod.ts";
import { analyseDomain } from "./analyse.ts";
import type { ScannerConfig } from "./config.ts";
import { compareScans, type ScanChange } from "./findings.ts";
import { renderReport } from "./report.ts";
import type { ScanResult } from "./types.ts";
import { ScanMetrics } from "./prometheus.ts";

/** The summary of a stored scan, as `scan run` and `scan results` print it. */
export interface ScanRow {
  /** Domain. */
  domain: string;
  /** Scan start, ISO 8601. */
  time: string;
  /** Distinct addresses. */
  addresses: number;
  /** Distinct /24 and /48 prefixes. */
  ranges: number;
  /** Distinct ASNs. */
  asns: number;
  /** Distinct countries. */
  countries: number;
  /** Minimum TTL. */
  ttl: number | null;
  /** Name servers. */
  ns: number;
  /** Rule-based flux verdict. */
  flux: string;
  /** Most severe finding level, or "OK". */
  worst: string;
  /** Finding codes. */
  findings: string;
  /** Change codes against the previous scan. */
  changes: string;
}

/** What scanning and recording needs; the component and the one-shot verb both provide it. */
export interface ScanDeps {
  /** The store (migrated). */
  store: Store;
  /** The alert bus. */
  alerts: AlertPublisher;
  /** The daily log. */
  dailyLog: DailyLog;
  /** A logger. */
  log: Logger;
  /** The whole config (`paths.log_dir`). */
  config: VigiaConfig;
  /** The `[scanner]` section. */
  section: ScannerConfig;
  /** Open geolocation databases. */
  geo: GeoDb;
  /** Resolvers to ask. */
  resolvers: ResolverAddress[];
  /** Stops scans early. */
  signal?: AbortSignal;
  /** Counts alerts published. */
  onAlert?: () => void;
}

/**
 * The resolvers of a `[scanner]` section: `resolvers` then `public_resolvers`,
 * `system` expanded from resolv.conf, duplicates dropped.
 */
export function configuredResolvers(
  section: Pick<ScannerConfig, "resolvers" | "public_resolvers">,
  options: { resolvConf?: string } = {},
): ResolverAddress[] {
  const out: ResolverAddress[] = [];
  const seen = new Set<string>();
  for (const text of [...section.resolvers, ...section.public_resolvers]) {
    for (const r of parseResolver(text, options)) {
      const key = `${r.host}#${r.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(r);
    }
  }
  return out;
}

/** Runs `fn` over `items`, at most `limit` at a time, results in input order. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return out;
}

/** The previous stored result of `domain`, if any. */
export function latestScan(store: Store, domain: string): ScanResult | undefined {
  const row = store.get<{ result: string }>(
    "SELECT result FROM scans WHERE domain = ? ORDER BY time DESC, id DESC LIMIT 1",
    domain,
  );
  if (!row) return undefined;
  try {
    return JSON.parse(row.result) as ScanResult;
  } catch {
    return undefined;
  }
}

/** Turns a result into its summary row. */
export function scanRow(r: ScanResult, changes: ScanChange[]): ScanRow {
  return {
    domain: r.domain,
    time: r.startedAt,
    addresses: r.counts.numServers,
    ranges: r.counts.ranges,
    asns: r.counts.asns,
    countries: r.counts.countries,
    ttl: r.ttl,
    ns: r.counts.nameServers,
    flux: r.flux.verdict,
    worst: r.worst ?? "OK",
    findings: r.findings.map((f) => f.code).join(","),
    changes: changes.map((c) => c.code).join(","),
  };
}

/** A scan and how it compares with the previous one. */
export interface RecordedScan {
  /** The result. */
  result: ScanResult;
  /** Ways it got worse than the previous scan. */
  changes: ScanChange[];
}

/** Scans one domain and records it everywhere (store, daily log, report file, alert). */
export async function scanAndRecord(domain: string, deps: ScanDeps): Promise<RecordedScan> {
  const s = deps.section;
  const result = await analyseDomain(domain, {
    resolvers: deps.resolvers,
    geo: deps.geo,
    rounds: s.rounds,
    roundIntervalMs: s.round_interval,
    timeoutMs: s.query_timeout,
    deadlineMs: s.scan_timeout,
    signal: deps.signal,
  });
  const previous = latestScan(deps.store, result.domain);
  const changes = previous ? compareScans(previous, result) : [];
  const time = new Date(result.startedAt);
  deps.store.run(
    `INSERT INTO scans (domain, time, duration_ms, resolved, addresses, a_records, ranges, asns,
       countries, cities, ttl, name_servers, flux, modified_holz, jaroslaw_patrycja, worst, findings,
       changes, result)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    result.domain,
    time.getTime(),
    result.durationMs,
    result.resolved ? 1 : 0,
    result.counts.numServers,
    result.counts.aRecords,
    result.counts.ranges,
    result.counts.asns,
    result.counts.countries,
    result.counts.cities,
    result.ttl,
    result.counts.nameServers,
    result.flux.verdict,
    result.flux.modifiedHolz.score,
    result.flux.jaroslawPatrycja.score,
    result.worst,
    result.findings.map((f) => f.code).join(","),
    JSON.stringify(changes),
    JSON.stringify(result),
  );
  deps.dailyLog.event("scan", {
    domain: result.domain,
    resolved: result.resolved,
    addresses: result.counts.numServers,
    ranges: result.counts.ranges,
    asns: result.counts.asns,
    countries: result.counts.countries,
    ttl: result.ttl ?? undefined,
    ns: result.counts.nameServers,
    flux: result.flux.verdict,
    worst: result.worst ?? "OK",
    findings: result.findings.map((f) => f.code),
    changes: changes.map((c) => c.code),
  }, time);
  if (s.report_file) writeReportFile(result, deps);
  if (changes.length > 0 && s.alert_on_worsening) {
    const published = deps.alerts.publish({
      kind: "scan-degraded",
      severity: changes.some((c) => c.code === "RESOLUTION_LOST") ? "error" : "warning",
      // The codes are part of the subject so that a different worsening inside the bus's
      // de-duplication window (say, resolution lost after addresses lost) is not folded away.
      subject: `${result.domain}: ${changes.map((c) => c.code).join(",")}`,
      details: {
        domain: result.domain,
        changes: changes.map((c) => c.code),
        summary: changes.map((c) => c.message).join(" "),
        addresses: result.counts.numServers,
        worst: result.worst ?? "OK",
      },
      time,
    });
    if (published) deps.onAlert?.();
  }
  return { result, changes };
}

function writeReportFile(result: ScanResult, deps: ScanDeps): void {
  const dir = String(deps.config.paths?.log_dir ?? ".");
  const { day, timestamp } = deps.dailyLog.stamp(new Date(result.startedAt));
  const text = `# ${timestamp} scan of ${result.domain}\n${renderReport(result)}\n`;
  try {
    Deno.mkdirSync(dir, { recursive: true });
    // One append per report: O_APPEND keeps concurrent reports from interleaving.
    Deno.writeTextFileSync(`${dir}/scan-${day}.log`, text, { append: true, mode: 0o640 });
  } catch (e) {
    deps.log.warn("cannot write the scan report file", { dir, error: (e as Error).message });
  }
}

/**
 * Deletes stored scans and scan report files older than `keepDays` (0
 * keeps everything); scans with an id above `keepAbove` stay whatever their
 * age (not shipped to the central store yet).
 */
export function pruneScans(
  store: Store,
  logDir: string,
  keepDays: number,
  now: Date = new Date(),
  keepAbove: number = Number.MAX_SAFE_INTEGER,
): number {
  if (keepDays <= 0) return 0;
  const cutoff = now.getTime() - keepDays * 86_400_000;
  const { changes } = store.run("DELETE FROM scans WHERE time < ? AND id <= ?", cutoff, keepAbove);
  try {
    for (const e of Deno.readDirSync(logDir)) {
      const m = /^scan-(\d{4}-\d{2}-\d{2})\.log$/.exec(e.name);
      if (!m || !e.isFile) continue;
      if (new Date(`${m[1]}T00:00:00Z`).getTime() < cutoff - 86_400_000) {
        try {
          Deno.removeSync(`${logDir}/${e.name}`);
        } catch { /* removed meanwhile */ }
      }
    }
  } catch { /* no log dir yet */ }
  return changes;
}

// setTimeout's delay is a signed 32-bit count of ms; longer waits are chained.
const MAX_TIMER = 2 ** 31 - 1;

/** The running scanner. */
export class ScannerComponent implements Component {
  readonly #ctx: ComponentContext<ScannerConfig>;
  readonly #random: () => number;
  readonly #onCycle: ((scans: RecordedScan[]) => void) | undefined;
  #geo: GeoDb | undefined;
  #resolvers: ResolverAddress[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextAt = 0;
  #abort = new AbortController();
  #inFlight = new Set<Promise<unknown>>();
  #stopped = false;
  #scanMetrics: ScanMetrics | undefined;
  #stats = {
    cycles: 0,
    scans: 0,
    resolutionFailures: 0,
    alerts: 0,
    lastCycleMs: 0,
    lastCycleAt: "",
  };

  /**
   * `random` draws the start delay and jitter (tests pin it); `onCycle` is
   * called after each scheduled cycle with its scans.
   */
  constructor(
    ctx: ComponentContext<ScannerConfig>,
    options: { random?: () => number; onCycle?: (scans: RecordedScan[]) => void } = {},
  ) {
    this.#ctx = ctx;
    this.#random = options.random ?? Math.random;
    this.#onCycle = options.onCycle;
  }

  /** Opens the geo databases, reads the resolvers and schedules the first cycle. */
  async start(): Promise<void> {
    const ctx = this.#ctx;
    this.#scanMetrics = new ScanMetrics(ctx.section.domains);
    this.#scanMetrics.register(ctx.metrics);
    this.#geo = await openGeo({
      cityDb: ctx.config.geoip?.city_db,
      asnDb: ctx.config.geoip?.asn_db,
    });
    for (const w of this.#geo.warnings) ctx.log.warn(w);
    this.#resolvers = configuredResolvers(ctx.section);
    if (this.#resolvers.length === 0) {
      ctx.log.warn("no resolver to ask (resolv.conf has no nameserver?); scans will fail");
    }
    this.#prune();
    this.#schedule(this.#random() * ctx.section.start_delay);
  }

  /** Old scans go, except those the central store has not received yet. */
  #prune(): void {
    const ctx = this.#ctx;
    pruneScans(
      ctx.store,
      String(ctx.config.paths?.log_dir ?? "."),
      ctx.section.keep_days,
      new Date(),
      ctx.holds?.()?.scans,
    );
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#nextAt = Date.now() + delayMs;
    this.#arm();
  }

  #arm(): void {
    const wait = Math.max(0, this.#nextAt - Date.now());
    this.#timer = setTimeout(() => {
      if (this.#nextAt - Date.now() > 0) return this.#arm();
      this.#timer = undefined;
      this.#track(this.#cycle());
    }, Math.min(wait, MAX_TIMER));
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    p.finally(() => this.#inFlight.delete(p)).catch(() => {});
    return p;
  }

  async #cycle(): Promise<void> {
    const t0 = performance.now();
    let scans: RecordedScan[] = [];
    try {
      scans = await this.#scan(this.#ctx.section.domains);
      this.#prune();
    } catch (e) {
      this.#ctx.log.error("scan cycle failed", { error: (e as Error).message });
    }
    this.#stats.cycles++;
    this.#stats.lastCycleMs = Math.round(performance.now() - t0);
    this.#stats.lastCycleAt = new Date().toISOString();
    const section = this.#ctx.section;
    this.#schedule(section.interval + this.#random() * section.jitter);
    this.#onCycle?.(scans);
  }

  async #scan(domains: string[]): Promise<RecordedScan[]> {
    const ctx = this.#ctx;
    const deps: ScanDeps = {
      store: ctx.store,
      alerts: ctx.alerts,
      dailyLog: ctx.dailyLog,
      log: ctx.log,
      config: ctx.config,
      section: ctx.section,
      geo: this.#geo!,
      resolvers: this.#resolvers,
      signal: this.#abort.signal,
      onAlert: () => this.#stats.alerts++,
    };
    const results = await mapLimit(domains, ctx.section.concurrency, async (d) => {
      if (this.#abort.signal.aborted) return undefined;
      try {
        const r = await scanAndRecord(d, deps);
        this.#stats.scans++;
        this.#scanMetrics?.record(d, r.result);
        if (!r.result.resolved || r.result.addresses.length === 0) {
          this.#stats.resolutionFailures++;
        }
        ctx.log.info("scanned", {
          domain: r.result.domain,
          addresses: r.result.counts.numServers,
          worst: r.result.worst ?? "OK",
          changes: r.changes.map((c) => c.code).join(",") || "none",
        });
        return r;
      } catch (e) {
        if (!this.#abort.signal.aborted) this.#scanMetrics?.record(d, undefined);
        ctx.log.error("scan failed", { domain: d, error: (e as Error).message });
        return undefined;
      }
    });
    return results.filter((r): r is RecordedScan => r !== undefined);
  }

  /** Scans `domains` (default: the configured list) now, outside the schedule. */
  scanNow(domains?: string[]): Promise<RecordedScan[]> {
    if (this.#stopped) return Promise.reject(new Error("scanner is stopping"));
    return this.#track(this.#scan(domains ?? this.#ctx.section.domains));
  }

  /** Cancels the schedule and in-flight scans and waits for them to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
  }

  /** For `ctl status`. */
  status(): Record<string, unknown> {
    return {
      domains: this.#ctx.section.domains.length,
      resolvers: this.#resolvers.map((r) => `${r.host}:${r.port}`).join(", "),
      next_scan: this.#stopped || !this.#nextAt ? null : new Date(this.#nextAt).toISOString(),
      last_cycle: this.#stats.lastCycleAt || null,
    };
  }

  /** For `ctl stats`. */
  stats(): Record<string, unknown> {
    return {
      cycles: this.#stats.cycles,
      scans: this.#stats.scans,
      resolution_failures: this.#stats.resolutionFailures,
      alerts: this.#stats.alerts,
      last_cycle_ms: this.#stats.lastCycleMs,
      in_flight: this.#inFlight.size,
    };
  }
}
