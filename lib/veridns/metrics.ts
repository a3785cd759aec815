/**
 * The VeriDNS component's metric families, read at scrape time from the
 * counters it keeps for `ctl stats`: connections (total and open), requests
 * by type and result, refused connections, upstream resolver errors per
 * configured resolver.
 *
 * @module
 */

import type { MetricsScope } from "../metrics/registry.ts";

/** Registers the `vigia_veridns_*` families; `stats` is the component's `ctl stats` object. */
export function registerVeridnsMetrics(
  scope: MetricsScope,
  stats: () => Record<string, unknown>,
): void {
  const n = (v: unknown) => Number(v ?? 0);
  scope.collect({
    name: "vigia_veridns_connections_total",
    help: "TLS connections accepted.",
    type: "counter",
  }, (emit) => emit([], n(stats().connections_total)));
  scope.collect({
    name: "vigia_veridns_connections_open",
    help: "TLS connections open now.",
    type: "gauge",
  }, (emit) => emit([], n(stats().connections_open)));
  scope.collect({
    name: "vigia_veridns_connections_refused_total",
    help: "Connections refused or closed early, by reason.",
    type: "counter",
    labels: ["reason"],
  }, (emit) => {
    const s = stats();
    emit(["total_limit"], n(s.refused_total_limit));
    emit(["per_ip_limit"], n(s.refused_per_ip_limit));
    emit(["handshake_failure"], n(s.handshake_failures));
    emit(["handshake_timeout"], n(s.handshake_timeouts));
    emit(["idle_timeout"], n(s.idle_timeouts));
  });
  scope.collect({
    name: "vigia_veridns_requests_total",
    help: "Requests answered, by type (branch, verify) and result.",
    type: "counter",
    labels: ["type", "result"],
  }, (emit) => {
    const s = stats();
    emit(["branch", "country"], n(s.branch_by_country));
    emit(["branch", "continent"], n(s.branch_by_continent));
    emit(["branch", "root"], n(s.branch_by_root));
    emit(["verify", "verified"], n(s.verified));
    emit(["verify", "not_verified"], n(s.not_verified));
  });
  scope.collect({
    name: "vigia_veridns_resolver_errors_total",
    help: "Failed queries to each trusted upstream resolver.",
    type: "counter",
    labels: ["resolver"],
  }, (emit) => {
    const resolvers = stats().resolvers as { name: string; failures: number }[] | undefined;
    for (const r of resolvers ?? []) emit([r.name], r.failures);
  });
}
