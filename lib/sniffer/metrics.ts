/**
 * The sniffer's metric families, read at scrape time from the capture
 * counters each capture worker reports and from the pipeline's counters:
 * packets by interface and result, malformed by reason, kernel, interface
 * and queue drops, drops by stage (`drops.ts`), events by kind, devices
 * known. Interfaces come from the
 * config; malformed and ignored reasons are fixed in the decoders.
 *
 * @module
 */

import type { CaptureCounters } from "../capture/mod.ts";
import type { MetricsScope } from "../metrics/registry.ts";
import type { DropCounts } from "./drops.ts";

/** What the families read. */
export interface SnifferMetricsSources {
  /** Each configured interface with its capture counters. */
  interfaces: () => { name: string; counters: CaptureCounters }[];
  /** Devices known and events the store dropped, from the pipeline. */
  pipeline: () => { devices: number; storeDrops: number; writerBacklog: number } | undefined;
  /** Drops so far by stage, all interfaces together: what the `packet-drops` alert reports. */
  drops: () => DropCounts;
}

/** Registers the `vigia_sniffer_*` families in `scope`. */
export function registerSnifferMetrics(scope: MetricsScope, sources: SnifferMetricsSources): void {
  const perInterface = (
    name: string,
    help: string,
    value: (c: CaptureCounters) => number,
  ) =>
    scope.collect({ name, help, type: "counter", labels: ["interface"] }, (emit) => {
      for (const i of sources.interfaces()) emit([i.name], value(i.counters));
    });
  scope.collect({
    name: "vigia_sniffer_packets_total",
    help:
      "Packets captured, by interface and result (stored as DNS/DHCP events, ignored, malformed).",
    type: "counter",
    labels: ["interface", "result"],
  }, (emit) => {
    for (const { name, counters: c } of sources.interfaces()) {
      let malformed = 0;
      for (const k in c.malformed) malformed += c.malformed[k];
      emit([name, "stored"], c.dns + c.dhcp);
      emit([name, "ignored"], c.ignored);
      emit([name, "malformed"], malformed);
    }
  });
  scope.collect({
    name: "vigia_sniffer_malformed_total",
    help: "Malformed packets counted and skipped, by interface and reason.",
    type: "counter",
    labels: ["interface", "reason"],
  }, (emit) => {
    for (const { name, counters } of sources.interfaces()) {
      for (const [reason, n] of Object.entries(counters.malformed)) emit([name, reason], Number(n));
    }
  });
  perInterface(
    "vigia_sniffer_kernel_drops_total",
    "Packets the kernel dropped before vigia could read them (capture buffer full).",
    (c) => c.kernelDrops,
  );
  perInterface(
    "vigia_sniffer_interface_drops_total",
    "Packets the network interface dropped, as libpcap reports them.",
    (c) => c.ifDrops,
  );
  perInterface(
    "vigia_sniffer_queue_drops_total",
    "Packets vigia dropped because its queue to the pipeline was full.",
    (c) => c.vigiaDrops,
  );
  scope.collect({
    name: "vigia_sniffer_drops_total",
    help: "Packets lost, by the stage that dropped them: kernel (capture buffer full, or the " +
      "interface dropped), capture (decoding fell behind the capture worker), store (the events " +
      "database fell behind: not stored, still in the daily log). The packet-drops alert counts the same.",
    type: "counter",
    labels: ["stage"],
  }, (emit) => {
    const d = sources.drops();
    emit(["kernel"], d.kernel);
    emit(["capture"], d.capture);
    emit(["store"], d.store);
  });
  scope.collect({
    name: "vigia_sniffer_store_drops_total",
    help: "Events dropped because the event store could not keep up.",
    type: "counter",
  }, (emit) => {
    const p = sources.pipeline();
    if (p) emit([], p.storeDrops);
  });
  scope.collect({
    name: "vigia_sniffer_writer_backlog_rows",
    help:
      "Events waiting in the event writer (buffered or handed to its worker, not yet committed).",
    type: "gauge",
  }, (emit) => {
    const p = sources.pipeline();
    if (p) emit([], p.writerBacklog);
  });
  scope.collect({
    name: "vigia_sniffer_events_total",
    help: "DNS and DHCP events decoded, by kind.",
    type: "counter",
    labels: ["kind"],
  }, (emit) => {
    let dns = 0, dhcp = 0;
    for (const { counters } of sources.interfaces()) {
      dns += counters.dns;
      dhcp += counters.dhcp;
    }
    emit(["dns"], dns);
    emit(["dhcp"], dhcp);
  });
  scope.collect({
    name: "vigia_sniffer_devices",
    help: "Devices (MAC addresses) known to the sniffer.",
    type: "gauge",
  }, (emit) => {
    const p = sources.pipeline();
    if (p) emit([], p.devices);
  });
}
