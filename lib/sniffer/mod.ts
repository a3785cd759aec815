/**
 * The sniffer component: captures DNS and DHCP with libpcap on the
 * configured interfaces, logs every message per MAC address into SQLite and
 * the daily log file, names each MAC's maker from the IEEE OUI list, keeps a
 * device registry and raises `unauthorized-dns`, `unauthorized-mac`,
 * `rogue-dhcp`, `dns-flood` and `new-station` alerts.
 *
 * - {@linkcode snifferModule}: the daemon component (config `[sniffer]`,
 *   migrations, verbs `logs`, `devices`, `deny dns|mac add|del|list`).
 * - {@linkcode runIngest}: the same pipeline over a pcap/pcapng file
 *   (`vigia ingest FILE`).
 *
 * The event's fields are declared once in `fields.ts` (the daily line,
 * `ctl logs`, the columns and the README tables come from it); the tables
 * in `schema.ts`; the query plans in `queries.ts`.
 *
 * @example
 * ```ts ignore
 * import { runIngest } from "./lib/sniffer/mod.ts";
 * const r = await runIngest("capture.pcap", { config, log, store, dailyLog, alerts });
 * console.log(`${r.packets} packets, ${r.events} events in ${r.seconds} s`);
 * ```
 *
 * @module
 */

import type { AlertPublisher } from "../alerts/mod.ts";
import { type CaptureCounters, readCaptureFile } from "../capture/mod.ts";
import type { DailyLog } from "../daylog/mod.ts";
import type { AnyConfig, ComponentModule } from "../daemon/types.ts";
import type { Logger } from "../log/mod.ts";
import type { Store } from "../store/mod.ts";
import { snifferChecks, type SnifferConfig, snifferSection } from "./config.ts";
import { openEventWriter } from "./event_writer.ts";
import { Pipeline } from "./pipeline.ts";
import { snifferMigrations } from "./schema.ts";
import { snifferVerbs } from "./verbs.ts";
import { pruneEvents, Sniffer } from "./component.ts";

export { type SnifferConfig, snifferSection } from "./config.ts";
export { EVENTS_DB_NAME, eventsDbPath, EventsReader } from "./events_db.ts";
export { vendorOf } from "./oui.ts";

/** The sniffer component module. */
export const snifferModule: ComponentModule<SnifferConfig> = {
  name: "sniffer",
  schema: snifferSection,
  checks: snifferChecks as unknown as ComponentModule["checks"],
  enabled: (section) => section.enabled,
  migrations: snifferMigrations,
  create: (ctx) => new Sniffer(ctx),
  verbs: snifferVerbs,
  prune: pruneEvents,
};

/** What {@linkcode runIngest} needs. */
export interface IngestOptions {
  /** The whole validated config (its `[sniffer]` section applies, whatever `enabled` says). */
  config: AnyConfig;
  /** A logger. */
  log: Logger;
  /** The store (migrations are applied here if needed). */
  store: Store;
  /** The daily log files. */
  dailyLog: DailyLog;
  /** The alert bus. */
  alerts: AlertPublisher;
}

/** What {@linkcode runIngest} did. */
export interface IngestResult {
  /** Packets read from the file. */
  packets: number;
  /** DNS and DHCP messages decoded and stored. */
  events: number;
  /** Malformed packets by reason. */
  malformed: Record<string, number>;
  /** Wall time, seconds. */
  seconds: number;
}

/**
 * Runs the sniffer pipeline over a pcap or pcapng file: every DNS/DHCP
 * message is stored, written to the daily log, checked against the policy
 * and counted for floods, exactly as a live capture would. Safe while the
 * daemon runs (SQLite WAL with a busy timeout; the daily log is appended
 * with O_APPEND in whole lines). Throws CaptureError for an unreadable or
 * unknown file. Flushes the daily log but does not close it or the store.
 */
export async function runIngest(file: string, options: IngestOptions): Promise<IngestResult> {
  const { config, log, store, dailyLog, alerts } = options;
  const section = config.sniffer as SnifferConfig;
  const t0 = performance.now();
  store.migrate("sniffer", snifferMigrations);
  const writer = await openEventWriter(store, { log, bulk: true });
  const pipeline = new Pipeline({
    section,
    store,
    writer,
    dailyLog,
    alerts,
    log,
    timeZone: config.log?.timezone || undefined,
    backpressure: "wait",
  });
  let counters: CaptureCounters;
  try {
    counters = await readCaptureFile(file, {
      dnsPorts: section.dns_ports,
      fragments: { timeoutMs: section.fragment_timeout },
      onBatch: (events) => pipeline.process(events),
    });
  } finally {
    try {
      await pipeline.close();
    } finally {
      await writer.close();
    }
  }
  const stats = writer.stats();
  if (stats.rows_failed > 0) {
    log.error("some events could not be stored", { rows: stats.rows_failed });
  }
  return {
    packets: counters.packets,
    events: counters.dns + counters.dhcp,
    malformed: counters.malformed,
    seconds: (performance.now() - t0) / 1000,
  };
}
