/**
 * The scanner's Prometheus families (`metrics.ts` here holds the
 * fault-tolerance measures of a scan, not these): runs by result, and per
 * configured domain the last successful scan time, findings by level and
 * the fast-flux verdict. Only configured domains get a domain label, so a
 * `ctl scan run` of any other name cannot grow the label set.
 *
 * @module
 */

import type { MetricsScope } from "../metrics/registry.ts";
import { LEVELS, type ScanResult } from "./types.ts";

/** Outcomes of one domain's scan. */
export const RUN_RESULTS = ["ok", "unresolved", "failed"] as const;

/** Keeps what the families show; fed by the component after every scan. */
export class ScanMetrics {
  readonly #runs = new Float64Array(RUN_RESULTS.length);
  readonly #last = new Map<string, { success: number; levels: number[]; verdict: string }>();
  #domains: Set<string>;

  /** @param domains the configured domains (the only domain label values) */
  constructor(domains: string[]) {
    this.#domains = new Set(domains);
  }

  /** Records a finished scan (`result`) or a failed one (undefined). */
  record(domain: string, result: ScanResult | undefined): void {
    const outcome = !result
      ? "failed"
      : !result.resolved || result.addresses.length === 0
      ? "unresolved"
      : "ok";
    this.#runs[RUN_RESULTS.indexOf(outcome)]++;
    if (!this.#domains.has(domain) || !result || outcome !== "ok") return;
    const levels = LEVELS.map((l) => result.findings.filter((f) => f.level === l).length);
    this.#last.set(domain, { success: Date.now() / 1000, levels, verdict: result.flux.verdict });
  }

  /** Registers the `vigia_scanner_*` families in `scope`. */
  register(scope: MetricsScope): void {
    scope.collect({
      name: "vigia_scanner_runs_total",
      help: "Domain scans finished, by result (ok, unresolved: no address, failed: an error).",
      type: "counter",
      labels: ["result"],
    }, (emit) => RUN_RESULTS.forEach((r, i) => emit([r], this.#runs[i])));
    scope.collect({
      name: "vigia_scanner_last_success_timestamp_seconds",
      help: "When the last scan of the domain that resolved finished (unix seconds).",
      type: "gauge",
      labels: ["domain"],
    }, (emit) => {
      for (const [domain, l] of this.#last) emit([domain], l.success);
    });
    scope.collect({
      name: "vigia_scanner_findings",
      help: "Fault-tolerance findings of the domain's last successful scan, by level.",
      type: "gauge",
      labels: ["domain", "level"],
    }, (emit) => {
      for (const [domain, l] of this.#last) {
        LEVELS.forEach((level, i) => emit([domain, level], l.levels[i]));
      }
    });
    scope.collect({
      name: "vigia_scanner_flux_verdict",
      help: "1 for the fast-flux verdict (Clean, Fast-Flux) of the domain's last successful scan.",
      type: "gauge",
      labels: ["domain", "verdict"],
    }, (emit) => {
      for (const [domain, l] of this.#last) emit([domain, l.verdict], 1);
    });
  }
}
