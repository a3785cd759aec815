/**
 * The daemon's own metric families: build info, each component's state and
 * restarts, the `process_*` set, the store, the alert bus and its mail
 * delivery, and control requests by verb and result.
 *
 * @module
 */

import type { AlertBus } from "../alerts/mod.ts";
import type { RemoteControl } from "../control/remote.ts";
import type { MetricsScope } from "../metrics/registry.ts";
import { registerProcessMetrics } from "../metrics/process.ts";
import type { Store } from "../store/mod.ts";
import type { Supervisor } from "./supervisor.ts";

/** What {@linkcode registerDaemonMetrics} reads at scrape time. */
export interface DaemonMetricsSources {
  /** Program version. */
  version: string;
  /** The supervisors, one per component module. */
  supervisors: () => Supervisor[];
  /** The store. */
  store: Store;
  /** The events database file (`vigia-events.db`), written by the sniffer. */
  eventsDb?: string;
  /** The alert bus. */
  alerts: AlertBus;
  /** The remote control listener, when enabled. */
  remote: () => RemoteControl | undefined;
}

/** Control request outcomes. */
export const CONTROL_RESULTS = ["ok", "error", "refused"] as const;

/** Counts control requests by origin, verb and result; verbs outside the known set count as `other`. */
export class ControlRequestCounter {
  readonly #counts = new Map<string, number>();
  readonly #known: () => Set<string>;

  /** @param known the registered verbs (bounds the label's values) */
  constructor(known: () => Set<string>) {
    this.#known = known;
  }

  /** Counts one request. */
  count(origin: string, verb: string, result: (typeof CONTROL_RESULTS)[number]): void {
    const v = this.#known().has(verb) ? verb : "other";
    const key = `${origin}\t${v}\t${result}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Registers `vigia_control_requests_total` in `scope`. */
  register(scope: MetricsScope): void {
    scope.collect({
      name: "vigia_control_requests_total",
      help: "Control requests answered, by origin (local socket or remote TLS), verb and result.",
      type: "counter",
      labels: ["origin", "verb", "result"],
    }, (emit) => {
      for (const [key, n] of this.#counts) emit(key.split("\t"), n);
    });
  }
}

function fileSize(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** Registers the daemon's families in `scope`. */
export function registerDaemonMetrics(scope: MetricsScope, sources: DaemonMetricsSources): void {
  const { store, alerts } = sources;
  scope.collect({
    name: "vigia_build_info",
    help: "Always 1; the version label names the running build.",
    type: "gauge",
    labels: ["version"],
  }, (emit) => emit([sources.version], 1));
  scope.collect({
    name: "vigia_component_up",
    help:
      "1 when the component is running, 0 when it is enabled but not running, absent when disabled.",
    type: "gauge",
    labels: ["component"],
  }, (emit) => {
    for (const s of sources.supervisors()) {
      const st = s.status();
      if (st.enabled) emit([st.name], st.state === "running" ? 1 : 0);
    }
  });
  scope.collect({
    name: "vigia_component_restarts_total",
    help: "Restarts of the component after it failed or died.",
    type: "counter",
    labels: ["component"],
  }, (emit) => {
    for (const s of sources.supervisors()) emit([s.module.name], s.restartsTotal);
  });
  registerProcessMetrics(scope);
  scope.collect({
    name: "vigia_store_database_bytes",
    help:
      "Size of the SQLite files: the store (db, wal) and the events database (events_db, events_wal).",
    type: "gauge",
    labels: ["file"],
  }, (emit) => {
    if (store.path === ":memory:") return;
    emit(["db"], fileSize(store.path));
    emit(["wal"], fileSize(`${store.path}-wal`));
    if (sources.eventsDb) {
      emit(["events_db"], fileSize(sources.eventsDb));
      emit(["events_wal"], fileSize(`${sources.eventsDb}-wal`));
    }
  });
  scope.collect({
    name: "vigia_store_queue_rows",
    help: "Rows waiting in the store's batched writer.",
    type: "gauge",
  }, (emit) => emit([], store.stats().queued));
  scope.collect({
    name: "vigia_store_rows_written_total",
    help: "Rows committed by the store's batched writer.",
    type: "counter",
  }, (emit) => emit([], store.stats().rowsWritten));
  scope.collect({
    name: "vigia_store_rows_failed_total",
    help: "Rows the store's writer could not write (logged, then dropped).",
    type: "counter",
  }, (emit) => emit([], store.stats().failedRows));
  scope.collect({
    name: "vigia_alerts_total",
    help: "Alerts raised (repeats inside the dedupe window not counted), by type and severity.",
    type: "counter",
    labels: ["type", "severity"],
  }, (emit) => {
    for (const { kind, severity, count } of alerts.counts()) emit([kind, severity], count);
  });
  scope.collect({
    name: "vigia_alert_deliveries_total",
    help: "Alert deliveries by channel (mail, syslog) and result (sent, failed, dropped).",
    type: "counter",
    labels: ["channel", "result"],
  }, (emit) => {
    for (const d of alerts.deliveries()) emit([d.channel, d.result], d.count);
  });
  scope.collect({
    name: "vigia_alert_queue_items",
    help: "Alerts waiting for delivery, by channel.",
    type: "gauge",
    labels: ["channel"],
  }, (emit) => {
    for (const q of alerts.queues()) emit([q.channel], q.queued);
  });
  scope.collect({
    name: "vigia_remote_connections_open",
    help: "Open remote control (TLS) connections.",
    type: "gauge",
  }, (emit) => {
    const r = sources.remote();
    if (r) emit([], Number(r.stats().connections_open ?? 0));
  });
}
