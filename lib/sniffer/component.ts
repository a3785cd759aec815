/**
 * The running sniffer: live captures on the configured interfaces feeding
 * the pipeline, and the event writer behind it.
 *
 * @module
 */

import {
  addCounters,
  type CaptureCounters,
  CaptureError,
  type LiveCapture,
  newCounters,
  startLiveCapture,
} from "../capture/mod.ts";
import { type Component, type ComponentContext, ComponentUnavailable } from "../daemon/types.ts";
import type { SnifferConfig } from "./config.ts";
import { type EventWriter, openEventWriter } from "./event_writer.ts";
import { eventsDbPath, EventsReader, openEventsDb, type PruneCutoffs } from "./events_db.ts";
import { deleteCapture } from "./captures.ts";
import { Pipeline } from "./pipeline.ts";
import { registerSnifferMetrics } from "./metrics.ts";
import { type DropCounts, DropWatch } from "./drops.ts";

/** The running sniffer. */
export class Sniffer implements Component {
  readonly #ctx: ComponentContext<SnifferConfig>;
  #writer: EventWriter | undefined;
  #pipeline: Pipeline | undefined;
  #captures: LiveCapture[] = [];
  #linkTypes: Record<string, number> = {};
  #stopping = false;
  #startedAt = 0;
  #drops: DropWatch | undefined;
  #dropAlerts = 0;
  #rejectDone!: (e: Error) => void;
  /** Rejects when a capture worker or the writer dies after start. */
  readonly done: Promise<void>;

  /** Builds the sniffer from its context; {@linkcode Sniffer.start} opens the captures. */
  constructor(ctx: ComponentContext<SnifferConfig>) {
    this.#ctx = ctx;
    this.done = new Promise<void>((_, reject) => (this.#rejectDone = reject));
    this.done.catch(() => {});
  }

  async start(): Promise<void> {
    const { section, store, log } = this.#ctx;
    this.#writer = await openEventWriter(store, { log });
    this.#writer.onFatal = (e) => this.#die(e);
    this.#pipeline = new Pipeline({
      section,
      store,
      writer: this.#writer,
      dailyLog: this.#ctx.dailyLog,
      alerts: this.#ctx.alerts,
      log,
      timeZone: this.#ctx.config.log?.timezone || undefined,
      backpressure: "drop",
    });
    const pipeline = this.#pipeline;
    for (const iface of section.interfaces) {
      let capture: LiveCapture;
      try {
        capture = await startLiveCapture(iface, {
          filter: section.filter,
          bufferBytes: section.buffer_size,
          snaplen: section.snaplen,
          timeoutMs: Math.max(1, Math.min(10_000, Math.round(section.read_timeout))),
          promisc: section.promiscuous,
          dnsPorts: section.dns_ports,
          fragments: { timeoutMs: section.fragment_timeout },
          onBatch: (events) => void pipeline.process(events),
        });
      } catch (e) {
        await this.stop();
        const why = e instanceof CaptureError ? e.message : (e as Error).message;
        const message = `sniffer cannot capture on interface "${iface}": ${why}`;
        // No capability, library or FFI permission: retrying cannot help, so stay down and say why.
        // A missing interface may still appear, so that one is retried with backoff.
        if (e instanceof CaptureError && /CAP_NET_RAW|libpcap|--allow-ffi/.test(why)) {
          throw new ComponentUnavailable(message, { cause: e });
        }
        throw new Error(message);
      }
      this.#captures.push(capture);
      this.#linkTypes[iface] = capture.linkType;
      capture.done.catch((e) => this.#die(new Error(`capture on ${iface} failed: ${e.message}`)));
    }
    this.#startedAt = Date.now();
    this.#drops = new DropWatch(this.#ctx.alerts, {
      interfaces: section.interfaces,
      read: () => this.#dropCounts(),
    });
    this.#drops.start();
    registerSnifferMetrics(this.#ctx.metrics, {
      interfaces: () =>
        this.#captures.map((c, i) => ({ name: section.interfaces[i], counters: c.counters() })),
      pipeline: () => {
        const p = this.#pipeline?.stats();
        return p && {
          devices: p.devices,
          storeDrops: p.store_drops ?? 0,
          writerBacklog: this.#writer?.backlog ?? 0,
        };
      },
      drops: () => this.#dropCounts(),
    });
    log.info("capturing", {
      interfaces: section.interfaces.join(","),
      filter: section.filter,
      store: this.#writer.stats().mode,
    });
  }

  #die(e: Error): void {
    if (this.#stopping) return;
    this.#rejectDone(e);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const captures = this.#captures;
    this.#captures = [];
    await Promise.allSettled(captures.map((c) => c.stop()));
    // What the captures were still holding has been delivered; keep their final counters.
    this.#final = captures.map((c) => c.counters());
    // Drops not alerted yet (within the last minute) are alerted now, not lost with the counters.
    this.#drops?.stop();
    this.#dropAlerts = this.#drops?.alerts ?? this.#dropAlerts;
    this.#drops = undefined;
    try {
      await this.#pipeline?.close();
    } finally {
      await this.#writer?.close();
      this.#reader?.close();
      this.#reader = undefined;
    }
  }

  #reader: EventsReader | undefined;

  /** The reader of this sniffer's events database, for queries (`ctl logs`); kept open while running. */
  eventsReader(): EventsReader {
    return this.#reader ??= new EventsReader(eventsDbPath(this.#ctx.store));
  }

  #final: CaptureCounters[] = [];

  /** Drops so far by stage (`drops.ts`). */
  #dropCounts(): DropCounts {
    const counters = this.#captures.length ? this.#captures.map((c) => c.counters()) : this.#final;
    const d = { kernel: 0, capture: 0, store: this.#pipeline?.stats().store_drops ?? 0 };
    for (const c of counters) {
      d.kernel += c.kernelDrops + c.ifDrops;
      d.capture += c.vigiaDrops;
    }
    return d;
  }

  /** Re-reads the deny lists (called by the deny verbs). */
  reloadPolicy(): void {
    this.#pipeline?.reloadPolicy();
  }

  /**
   * Deletes events older than the cutoffs through the running writer, so
   * the deletion never competes with the inserts for the file; resolves
   * with the events deleted.
   */
  async pruneEvents(cutoffs: PruneCutoffs): Promise<number> {
    return this.#writer ? await this.#writer.prune(cutoffs) : 0;
  }

  /**
   * Deletes one ingested capture's events and record through the running
   * writer (between two of its write transactions); resolves with the
   * events deleted, -1 for an unknown id.
   */
  async deleteCapture(id: number): Promise<number> {
    if (this.#writer) return await this.#writer.deleteCapture(id);
    const db = openEventsDb(eventsDbPath(this.#ctx.store));
    try {
      return deleteCapture(db, id);
    } finally {
      db.close();
    }
  }

  /** Writes every pending event row and device (called before queries). */
  async flushEvents(): Promise<void> {
    await this.#pipeline?.flush();
  }

  status(): Record<string, unknown> {
    const p = this.#pipeline?.policy;
    return {
      interfaces: this.#ctx.section.interfaces,
      link_types: this.#linkTypes,
      filter: this.#ctx.section.filter,
      unauthorized_dns: p?.deniedDns.ranges.length ?? 0,
      unauthorized_macs: p?.deniedMacs.size ?? 0,
      allowed_dhcp_servers: this.#ctx.section.allowed_dhcp_servers.length,
      running_since: this.#startedAt ? new Date(this.#startedAt).toISOString() : null,
    };
  }

  stats(): Record<string, unknown> {
    const total = newCounters();
    const perIface: Record<string, unknown> = {};
    const counters = this.#captures.length ? this.#captures.map((c) => c.counters()) : this.#final;
    counters.forEach((c, i) => {
      addCounters(total, c);
      const iface = this.#ctx.section.interfaces[i];
      perIface[iface] = {
        packets: c.packets,
        kernel_drops: c.kernelDrops,
        if_drops: c.ifDrops,
        vigia_drops: c.vigiaDrops,
      };
    });
    const p = this.#pipeline?.stats();
    return {
      packets: total.packets,
      dns: total.dns,
      dhcp: total.dhcp,
      // packets = decoded + ignored + Σ malformed + pending (+ frames in flight or dropped: vigia_drops)
      decoded: total.decoded,
      ignored: total.ignored,
      ignored_by: total.ignoredBy,
      malformed: total.malformed,
      pending: total.pending,
      reassembled: total.reassembled ?? 0,
      truncated: total.truncated ?? 0,
      kernel_drops: total.kernelDrops,
      if_drops: total.ifDrops,
      vigia_drops: total.vigiaDrops + (p?.store_drops ?? 0),
      // vigia_drops by stage: frames shed because decoding fell behind, rows the store could not take.
      capture_drops: total.vigiaDrops,
      store_drops: p?.store_drops ?? 0,
      drop_alerts: this.#drops?.alerts ?? this.#dropAlerts,
      events: p?.events ?? 0,
      alerts: p?.alerts ?? {},
      new_stations: p?.new_stations ?? 0,
      new_station_alerts_limited: p?.new_station_alerts_limited ?? 0,
      devices: p?.devices ?? 0,
      flood: p?.flood,
      store: this.#writer?.stats(),
      interfaces: perIface,
    };
  }
}
