/**
 * The sniffer component: captures DNS and DHCP with libpcap on the
 * configured interfaces, logs every message per MAC address into SQLite and
 * the daily log file, names each MAC's maker from the IEEE OUI list, keeps a
 * device registry and raises `unauthorized-dns`, `unauthorized-mac`,
 * `rogue-dhcp`, `dns-flood`, `new-station` and `packet-drops` alerts.
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

import { createHash } from "node:crypto";
import type { AlertPublisher } from "../alerts/mod.ts";
import { type CaptureCounters, CaptureError, readCaptureFile } from "../capture/mod.ts";
import type { DailyLog } from "../daylog/mod.ts";
import {
  type ComponentModule,
  type PruneCounts,
  type PruneCutoffs,
  type PruneEnv,
  sectionOf,
  type VigiaConfig,
} from "../daemon/types.ts";
import type { Logger } from "../log/mod.ts";
import type { Store } from "../store/mod.ts";
import { snifferChecks, type SnifferConfig, snifferSection } from "./config.ts";
import { type EventWriter, openEventWriter } from "./event_writer.ts";
import {
  beginCapture,
  type CaptureRecord,
  deleteCapture,
  describeCaptureFile,
  findCapturesOfSize,
  finishCapture,
  hashRest,
  recordCaptureHash,
} from "./captures.ts";
import { eventsDbPath, openEventsDb } from "./events_db.ts";
import type { HashReply, HashRequest } from "./hash_worker.ts";
import { Pipeline } from "./pipeline.ts";
import { snifferMigrations } from "./schema.ts";
import { snifferVerbGroups, snifferVerbs } from "./verbs.ts";
import { Sniffer } from "./component.ts";
import { boundEventsDb, pruneEventsDb } from "./events_db.ts";

export { type SnifferConfig, snifferSection } from "./config.ts";
export {
  eventsDbPath,
  EventsReader,
  type PruneCutoffs as EventsPruneCutoffs,
  type Reader,
} from "./events_db.ts";
export type { Sniffer } from "./component.ts";
export { vendorOf } from "./oui.ts";
// For the central store (lib/central): the event's one definition and its stored forms.
export {
  type ColumnKind,
  DEVICE_FIELDS,
  DHCP_FIELDS,
  DNS_FIELDS,
  EVENT_COLUMNS,
  type EventColumn,
  type EventField,
  type FieldType,
  type JsonForm,
  type Storage,
} from "./fields.ts";
export { cidrToKeyRange, intToMac, type IpKey, ipToKey, keyToIp, macToInt } from "./codec.ts";
export { type EventRow, presentEvent } from "./present.ts";
export { deviceArgs, logArgs } from "./queries.ts";

/** The sniffer component module. */
export const snifferModule: ComponentModule<SnifferConfig, Sniffer> = {
  name: "sniffer",
  schema: snifferSection,
  // The checks read only their own section.
  checks: snifferChecks.map((check) => (config, report, context) =>
    check({ sniffer: sectionOf(snifferModule, config) }, report, context)
  ),
  enabled: (section) => section.enabled,
  migrations: snifferMigrations,
  create: (ctx) => new Sniffer(ctx),
  verbs: snifferVerbs,
  verbGroups: snifferVerbGroups,
  prune: pruneSnifferEvents,
};

/**
 * The module's prune: deletes live events older than `cutoffs.before` and
 * the captures ingested before `cutoffs.ingestBefore` (ms) through the
 * running sniffer's writer (so the deletion never competes with its
 * inserts), else on a connection of its own; then keeps the events under
 * `cutoffs.maxEventsBytes`, telling the holders (`env.lost`) how many
 * unshipped events that deleted.
 */
export async function pruneSnifferEvents(
  env: PruneEnv<Pick<Sniffer, "pruneEvents">>,
  cutoffs: PruneCutoffs,
): Promise<PruneCounts> {
  const sniffer = env.running();
  let events = sniffer
    ? await sniffer.pruneEvents(cutoffs)
    : pruneEventsDb(eventsDbPath(env.store), cutoffs);
  if (cutoffs.maxEventsBytes) {
    const bound = await boundEventsDb(eventsDbPath(env.store), {
      maxBytes: cutoffs.maxEventsBytes,
      keepAbove: cutoffs.keepAbove?.events,
    });
    events += bound.deleted;
    if (bound.unshipped > 0) env.lost?.({ events: bound.unshipped });
  }
  return { events };
}

/** What {@linkcode runIngest} needs. */
export interface IngestOptions {
  /** The whole validated config (its `[sniffer]` section applies, whatever `enabled` says). */
  config: VigiaConfig;
  /** A logger. */
  log: Logger;
  /** The store (migrations are applied here if needed). */
  store: Store;
  /** The daily log files. */
  dailyLog: DailyLog;
  /** The alert bus. */
  alerts: AlertPublisher;
  /**
   * Ingest a file already ingested (same SHA-256): its new events replace
   * the earlier ingest's. Without it such a file is refused. @default false
   */
  force?: boolean;
}

/** What {@linkcode runIngest} did: every packet accounted for. */
export interface IngestResult {
  /** The capture id of this ingest (`ctl captures`, `ctl logs --capture ID`). */
  capture: number;
  /** SHA-256 of the file, hex. */
  sha256: string;
  /** Earlier ingests of the same file whose events this one replaced (`force`). */
  replaced: number[];
  /** Packets read from the file: `decoded + ignored + Σ malformed + pending`. */
  packets: number;
  /** Packets whose DNS/DHCP payload was decoded (each fragment or TCP segment of a message). */
  decoded: number;
  /** DNS and DHCP messages decoded and stored. */
  events: number;
  /** Packets ignored (not DNS/DHCP, unsupported link or PPP protocol, fragments never completed). */
  ignored: number;
  /** Ignored packets by reason. */
  ignored_by: Record<string, number>;
  /** Malformed packets by reason. */
  malformed: Record<string, number>;
  /** Packets still held by a reassembler at the end (0 once the file is read). */
  pending: number;
  /** Wall time, seconds. */
  seconds: number;
}

/** The time as the captures list shows it. */
function isoMicros(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

/**
 * Runs the sniffer pipeline over a capture file into the store, the events
 * database and the daily logs, recording the ingest (path, size, SHA-256,
 * link type, counts) as a capture whose id every stored event carries.
 * The same file again is refused (a {@linkcode CaptureError} naming the
 * earlier ingest) unless `force` is given, which replaces the earlier
 * ingest's events once this one has finished.
 */
export async function runIngest(file: string, options: IngestOptions): Promise<IngestResult> {
  const { config, log, store, dailyLog, alerts } = options;
  const section = sectionOf(snifferModule, config);
  const t0 = performance.now();
  store.migrate("sniffer", snifferMigrations);
  const facts = await describeCaptureFile(file, { hash: false });
  const db = openEventsDb(eventsDbPath(store));
  try {
    // Only a file of a size ingested before can be a file ingested before: hash that one first.
    // Any other is hashed while it is read (one pass over the file, not two).
    const sameSize = findCapturesOfSize(db, facts.size);
    let earlier: CaptureRecord[] = [];
    let hashing: Promise<{ sha256: string; size: number }> | undefined;
    if (sameSize.length > 0) {
      Object.assign(facts, await describeCaptureFile(file));
      // No SHA-256 yet: an ingest still running, or killed, that may have been of this file.
      earlier = sameSize.filter((e) => e.sha256 === facts.sha256 || e.sha256 === "");
    } else {
      // Hashed on a thread of its own while this one decodes (awaited, and its failure
      // handled, below; the empty catch only keeps an early exit from leaving it unhandled).
      hashing = hashOnWorker(file);
      hashing.catch(() => {});
    }
    if (earlier.length > 0 && !options.force) {
      const e = earlier[0];
      throw new CaptureError(
        `${file} was already ingested: capture ${e.id} (${e.path}, ${e.events} events, ingested ${
          isoMicros(e.ingested_at)
        }${e.state === "done" ? "" : `, ${e.state}`}, SHA-256 ${
          e.sha256 || "not recorded yet"
        }); vigia ingest --force replaces that ingest's events`,
      );
    }
    const capture = beginCapture(db, facts);
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
      capture,
    });
    let firstMs = Infinity, lastMs = -Infinity;
    let counters: CaptureCounters;
    try {
      counters = await readCaptureFile(file, {
        dnsPorts: section.dns_ports,
        fragments: { timeoutMs: section.fragment_timeout },
        onBatch: (events) => {
          for (let i = 0; i < events.length; i++) {
            const ts = events[i].meta.ts;
            if (ts < firstMs) firstMs = ts;
            if (ts > lastMs) lastMs = ts;
          }
          return pipeline.process(events);
        },
      });
    } catch (e) {
      await closeBoth(pipeline, writer);
      // Nothing half-written stays: the rows this ingest stored go with its record.
      deleteCapture(db, capture);
      throw e;
    }
    await closeBoth(pipeline, writer);
    if (hashing) {
      // The whole file, also when a cut or corrupt record ended the read early.
      let digest: { sha256: string; size: number };
      try {
        digest = await hashing;
      } catch (e) {
        log.warn("hashing thread failed; hashing here", { error: (e as Error).message });
        const hash = createHash("sha256");
        digest = { size: await hashRest(file, hash, 0), sha256: "" };
        digest.sha256 = hash.digest("hex");
      }
      facts.sha256 = digest.sha256;
      facts.size = digest.size;
      recordCaptureHash(db, capture, facts);
    }
    const stats = writer.stats();
    if (stats.rows_failed > 0) {
      log.error("some events could not be stored", { rows: stats.rows_failed });
    }
    const events = stats.rows_written;
    const result: Omit<IngestResult, "seconds"> = {
      capture,
      sha256: facts.sha256,
      replaced: earlier.map((e) => e.id),
      packets: counters.packets,
      decoded: counters.decoded,
      events,
      ignored: counters.ignored,
      ignored_by: counters.ignoredBy,
      malformed: counters.malformed,
      pending: counters.pending,
    };
    finishCapture(db, capture, {
      state: "done",
      packets: counters.packets,
      events,
      counts: {
        decoded: result.decoded,
        ignored: result.ignored,
        ignored_by: result.ignored_by,
        malformed: result.malformed,
        pending: result.pending,
        rows_failed: stats.rows_failed,
      },
      firstMs: events > 0 ? firstMs : undefined,
      lastMs: events > 0 ? lastMs : undefined,
    });
    for (const e of earlier) deleteCapture(db, e.id);
    return { ...result, seconds: (performance.now() - t0) / 1000 };
  } finally {
    db.close();
  }
}

/** SHA-256 and size of the file at `path`, computed on a worker thread (`hash_worker.ts`). */
function hashOnWorker(path: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./hash_worker.ts", import.meta.url).href, {
      type: "module",
      name: "vigia-ingest-hash",
    });
    worker.onmessage = (e: MessageEvent<HashReply>) => {
      worker.terminate();
      const r = e.data;
      if ("error" in r) reject(new Error(r.error));
      else resolve(r);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      reject(new Error(e.message));
    };
    worker.postMessage({ path } satisfies HashRequest);
  });
}

async function closeBoth(pipeline: Pipeline, writer: EventWriter): Promise<void> {
  try {
    await pipeline.close();
  } finally {
    await writer.close();
  }
}
