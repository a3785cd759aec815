/**
 * The `dns` component's metric families, read at scrape time from the
 * counter arrays the responders count into (the main thread's and each UDP
 * worker's SharedArrayBuffer): requests by zone, transport, address family
 * and query type; responses by zone and rcode; the request duration
 * histogram; RRL drops and slips; and each served zone's serial and record
 * count. The zone label only takes served zones (the first
 * {@linkcode METRIC_ZONES} - 1 of them) and `other`.
 *
 * @module
 */

import type { MetricsScope } from "../metrics/registry.ts";
import {
  COUNTER,
  DURATION_BUCKETS,
  METRIC,
  METRIC_QTYPES,
  METRIC_ZONES,
  metricZone,
} from "./engine.ts";
import { rcodeName } from "./wire.ts";
import type { ZoneStatus } from "./zone_status.ts";
import type { TransferStats } from "./xfr_out.ts";
import type { TransferInStats } from "./secondary.ts";

/** What the families read. */
export interface DnsMetricsSources {
  /** Every counter array (main thread and workers). */
  arrays: () => Float64Array[];
  /** Served zones with their stats slot. */
  zones: () => { name: string; slot: number }[];
  /** Serial and records per zone. */
  zoneStatus: () => ZoneStatus[];
  /** Zone transfer counters: out (as primary) and in (secondary zones), when configured. */
  transfers?: () => { out?: TransferStats; in?: TransferInStats };
}

const PROTOS = ["udp", "tcp"];
const FAMILIES = ["ipv4", "ipv6"];

/** Registers the `vigia_dns_*` families in `scope`. */
export function registerDnsMetrics(scope: MetricsScope, sources: DnsMetricsSources): void {
  const sum = (arrays: Float64Array[], i: number) => {
    let n = 0;
    for (const a of arrays) n += a[i];
    return n;
  };
  /** Metric zones with their label: served zones, then `other`. */
  const zoneLabels = (): [number, string][] => {
    const out: [number, string][] = [];
    for (const z of sources.zones()) {
      const m = metricZone(z.slot);
      if (m !== 0) out.push([m, z.name]);
    }
    out.push([0, "other"]);
    return out;
  };
  scope.collect({
    name: "vigia_dns_requests_total",
    help:
      "DNS requests received, by zone (served zones, else other), transport, address family and query type.",
    type: "counter",
    labels: ["zone", "proto", "family", "type"],
  }, (emit) => {
    const arrays = sources.arrays();
    for (const [m, zone] of zoneLabels()) {
      for (let t = 0; t < METRIC_QTYPES.length; t++) {
        const at = METRIC.REQUESTS + (m * METRIC_QTYPES.length + t) * 4;
        for (let pf = 0; pf < 4; pf++) {
          const n = sum(arrays, at + pf);
          if (n > 0) emit([zone, PROTOS[pf >> 1], FAMILIES[pf & 1], METRIC_QTYPES[t]], n);
        }
      }
    }
  });
  scope.collect({
    name: "vigia_dns_responses_total",
    help: "DNS responses decided, by zone and rcode (before rate limiting).",
    type: "counter",
    labels: ["zone", "rcode"],
  }, (emit) => {
    const arrays = sources.arrays();
    for (const [m, zone] of zoneLabels()) {
      for (let r = 0; r < 24; r++) {
        const n = sum(arrays, METRIC.RESPONSES + m * 24 + r);
        if (n > 0) emit([zone, rcodeName(r)], n);
      }
    }
  });
  scope.collect({
    name: "vigia_dns_request_duration_seconds",
    help:
      "Time from a request's arrival in vigia to its answer handed to the kernel (UDP: per batch).",
    type: "histogram",
    labels: ["proto"],
    buckets: DURATION_BUCKETS,
  }, (emit) => {
    const arrays = sources.arrays();
    for (let p = 0; p < 2; p++) {
      const at = METRIC.DURATION + p * (DURATION_BUCKETS.length + 2);
      for (let b = 0; b < DURATION_BUCKETS.length + 2; b++) emit([PROTOS[p]], sum(arrays, at + b));
    }
  });
  scope.collect({
    name: "vigia_dns_rrl_dropped_total",
    help: "UDP responses dropped by response rate limiting.",
    type: "counter",
  }, (emit) => emit([], sum(sources.arrays(), COUNTER.RRL_DROPPED)));
  scope.collect({
    name: "vigia_dns_rrl_slipped_total",
    help: "UDP responses replaced by a truncated slip by response rate limiting.",
    type: "counter",
  }, (emit) => emit([], sum(sources.arrays(), COUNTER.RRL_SLIPPED)));
  scope.collect({
    name: "vigia_dns_zone_serial",
    help: "SOA serial served, per zone.",
    type: "gauge",
    labels: ["zone"],
  }, (emit) => {
    for (const z of sources.zoneStatus().slice(0, METRIC_ZONES - 1)) emit([z.zone], z.serial);
  });
  scope.collect({
    name: "vigia_dns_transfers_total",
    help:
      "Zone transfers served (direction out: axfr, ixfr, ixfr_full, ixfr_up_to_date, refused, notauth) and checks of secondary zones (in: axfr, ixfr, up_to_date, ixfr_fallback).",
    type: "counter",
    labels: ["direction", "kind"],
  }, (emit) => {
    const t = sources.transfers?.();
    const kinds = {
      out: ["axfr", "ixfr", "ixfr_full", "ixfr_up_to_date", "refused", "notauth"],
      in: ["axfr", "ixfr", "up_to_date", "ixfr_fallback"],
    };
    for (const direction of ["out", "in"] as const) {
      const counts = t?.[direction];
      if (!counts) continue;
      const byKind = counts as unknown as Record<string, number>;
      for (const kind of kinds[direction]) emit([direction, kind], byKind[kind] ?? 0);
    }
  });
  scope.collect({
    name: "vigia_dns_transfer_in_failures_total",
    help:
      "Failed transfers of secondary zones (the old copy kept), by reason: network, refused, signature, malformed, oversized.",
    type: "counter",
    labels: ["reason"],
  }, (emit) => {
    const failed = sources.transfers?.().in?.failed;
    if (failed) { for (const [reason, n] of Object.entries(failed)) emit([reason], n); }
  });
  scope.collect({
    name: "vigia_dns_zone_records",
    help: "Records served, per zone.",
    type: "gauge",
    labels: ["zone"],
  }, (emit) => {
    for (const z of sources.zoneStatus().slice(0, METRIC_ZONES - 1)) emit([z.zone], z.records);
  });
}
