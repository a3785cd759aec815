/**
 * What the shipper ships: one stream per local table, each with how to read
 * its next rows from the local store (the outbox) and how to write them
 * centrally.
 *
 * - `append` streams (events, scans, VeriDNS events) are read by row id
 *   after the shipped position and COPYed straight into their table; the
 *   position moves in the same PostgreSQL transaction, so a batch is
 *   either wholly in with its position or not at all.
 * - `upsert` streams (alerts, whose repeat count grows after they are
 *   stored, and devices, whose counts and last seen change) go through a
 *   temporary table and `INSERT ... ON CONFLICT DO UPDATE`.
 *
 * @module
 */

import type { Store } from "../store/mod.ts";
import { EventsReader } from "../sniffer/mod.ts";
import {
  encoders,
  eventBinaryPlan,
  eventEncoders,
  type LocalRow,
  type ValueEncoder,
} from "./encode.ts";
import { type EventBatch, EventBatchReader } from "./event_batches.ts";
import { CENTRAL_EVENT_COLUMNS } from "./schema.ts";

/** How a stream's rows are written centrally. */
export type StreamMode = "append" | "upsert";

/** One local table shipped to one central table. */
export interface Stream {
  /** Name (`vigia.shipping.stream`, metrics label). */
  name: string;
  /** Central table (schema-qualified). */
  table: string;
  /** Central columns in COPY order. */
  columns: readonly string[];
  /** One encoder per column. */
  encoders: readonly ValueEncoder[];
  /** How rows are written. */
  mode: StreamMode;
  /** The conflict key (upsert streams), and the columns an update sets. */
  conflict?: { key: string[]; update: string[] };
  /**
   * The next rows after `position`, at most `limit`, in position order; an
   * upsert stream may also return changed rows at or below it.
   */
  read(position: number, limit: number): LocalRow[];
  /** The position of a row (its local id). */
  positionOf(row: LocalRow): number;
  /** Rows waiting locally after `position` (an estimate from row ids: deleted rows count). */
  backlog(position: number): number;
  /** Reads at most this often (ms); 0: every cycle. */
  minIntervalMs?: number;
  /** The local time column of row `id` (append streams), or undefined when there is no such row. */
  timeAt?(id: number): number | undefined;
  /** Called once rows are committed centrally (upsert streams remember what they sent). */
  shipped?(rows: readonly LocalRow[]): void;
  /** Releases what it holds open. */
  close?(): void;
  /**
   * The bulk path of a large append stream: the next rows after `position`
   * (at most `limit`) as one binary COPY's data, read and encoded off the
   * main thread.
   */
  readBatch?(position: number, limit: number): Promise<EventBatch>;
}

function tableExists(store: Store, name: string): boolean {
  return store.get("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", name) !==
    undefined;
}

/** The sniffer's events with their flow's client MAC and vendor, from the events database. */
export function eventStream(eventsDb: string, sensor: string): Stream {
  const reader = new EventsReader(eventsDb);
  const batches = new EventBatchReader(eventsDb, eventBinaryPlan(sensor));
  return {
    name: "events",
    table: "vigia.events",
    columns: CENTRAL_EVENT_COLUMNS.map((c) => c.name),
    encoders: eventEncoders(sensor),
    mode: "append",
    read: (position, limit) =>
      reader.query(
        `SELECT e.*, f.client_mac, f.vendor FROM events e JOIN flows f ON f.id = e.flow
         WHERE e.id > ? ORDER BY e.id LIMIT ?`,
        position,
        limit,
      ),
    positionOf: (row) => Number(row.id),
    backlog: (position) =>
      Math.max(
        0,
        Number(reader.get<{ m: number | null }>("SELECT max(id) AS m FROM events")?.m ?? 0) -
          position,
      ),
    close: () => {
      batches.close();
      reader.close();
    },
    timeAt: (id) => {
      const r = reader.get<{ time: number }>("SELECT time FROM events WHERE id = ?", id);
      return r === undefined ? undefined : Number(r.time);
    },
    readBatch: (position, limit) => batches.read(position, limit),
  };
}

function sensorEncoder(sensor: string): ValueEncoder {
  return () => sensor;
}

/** An append stream of a shared-store table read by `id`. */
function storeStream(
  store: Store,
  options: {
    name: string;
    local: string;
    columns: [string, ValueEncoder][];
    sensor: string;
  },
): Stream {
  const { name, local, columns, sensor } = options;
  return {
    name,
    table: `vigia.${name}`,
    columns: ["sensor", "local_id", ...columns.map(([c]) => c)],
    encoders: [sensorEncoder(sensor), encoders.int("id"), ...columns.map(([, e]) => e)],
    mode: "append",
    read: (position, limit) =>
      tableExists(store, local)
        ? store.query(`SELECT * FROM ${local} WHERE id > ? ORDER BY id LIMIT ?`, position, limit)
        : [],
    positionOf: (row) => Number(row.id),
    timeAt: (id) => {
      if (!tableExists(store, local)) return undefined;
      const r = store.get<{ time: number }>(`SELECT time FROM ${local} WHERE id = ?`, id);
      return r === undefined ? undefined : Number(r.time);
    },
    backlog: (position) =>
      tableExists(store, local)
        ? Math.max(
          0,
          Number(store.get<{ m: number | null }>(`SELECT max(id) AS m FROM ${local}`)?.m ?? 0) -
            position,
        )
        : 0,
  };
}

/** Scan results of the scanner. */
export function scanStream(store: Store, sensor: string): Stream {
  const e = encoders;
  return storeStream(store, {
    name: "scans",
    local: "scans",
    sensor,
    columns: [
      ["domain", e.text("domain")],
      ["time", e.ms("time")],
      ["duration_ms", e.int("duration_ms")],
      ["resolved", e.bool("resolved")],
      ["addresses", e.int("addresses")],
      ["a_records", e.int("a_records")],
      ["ranges", e.int("ranges")],
      ["asns", e.int("asns")],
      ["countries", e.int("countries")],
      ["cities", e.int("cities")],
      ["ttl", e.int("ttl")],
      ["name_servers", e.int("name_servers")],
      ["flux", e.text("flux")],
      ["modified_holz", e.real("modified_holz")],
      ["jaroslaw_patrycja", e.real("jaroslaw_patrycja")],
      ["worst", e.text("worst")],
      ["findings", e.text("findings")],
      ["changes", e.text("changes")],
      ["result", e.text("result")],
    ],
  });
}

/** VeriDNS verifications. */
export function veridnsStream(store: Store, sensor: string): Stream {
  const e = encoders;
  return storeStream(store, {
    name: "veridns_events",
    local: "veridns_events",
    sensor,
    columns: [
      ["time", e.ms("time")],
      ["client", e.text("client")],
      ["domain", e.text("domain")],
      ["reported", e.text("reported")],
      ["malicious", e.text("malicious")],
      ["verified", e.bool("verified")],
      ["decision", e.text("decision")],
      ["answered", e.text("answered")],
      ["failed", e.text("failed")],
    ],
  });
}

/** How long after it was raised an alert's repeat count is still watched for changes. */
const REPEAT_WATCH_MS = 3_600_000;

/**
 * Alerts (also the remote-control audit, which goes through the alert bus):
 * new ones by id, and recent ones again when their repeat count grew.
 */
export function alertStream(store: Store, sensor: string): Stream {
  const e = encoders;
  const sentRepeats = new Map<number, number>();
  const base = storeStream(store, {
    name: "alerts",
    local: "alerts",
    sensor,
    columns: [
      ["time", e.ms("time")],
      ["raised_at", e.ms("raised_at")],
      ["kind", e.text("kind")],
      ["severity", e.text("severity")],
      ["subject", e.text("subject")],
      ["details", e.text("details")],
      ["repeats", e.int("repeats")],
    ],
  });
  return {
    ...base,
    mode: "upsert",
    conflict: { key: ["sensor", "local_id"], update: ["repeats"] },
    read: (position, limit) => {
      const fresh = base.read(position, limit);
      if (!tableExists(store, "alerts")) return fresh;
      const recent = store.query(
        "SELECT * FROM alerts WHERE raised_at > ? AND id <= ? AND repeats > 0 ORDER BY id",
        Date.now() - REPEAT_WATCH_MS,
        position,
      ).filter((r) => sentRepeats.has(Number(r.id)) && sentRepeats.get(Number(r.id)) !== r.repeats);
      return recent.length ? [...recent, ...fresh] : fresh;
    },
    shipped: (rows) => {
      const cutoff = Date.now() - REPEAT_WATCH_MS;
      for (const r of rows) sentRepeats.set(Number(r.id), Number(r.repeats));
      if (sentRepeats.size > 10_000) {
        for (const r of rows) if (Number(r.raised_at) < cutoff) sentRepeats.delete(Number(r.id));
        if (sentRepeats.size > 10_000) sentRepeats.clear();
      }
    },
  };
}

/**
 * Devices: every row whose counts or last seen changed since it was last
 * shipped (all of them after a start), upserted on (sensor, mac).
 */
export function deviceStream(store: Store, sensor: string): Stream {
  const e = encoders;
  const sent = new Map<number, string>();
  const signature = (r: LocalRow) =>
    `${r.last_seen}/${r.first_seen}/${r.dns_count}/${r.dhcp_count}`;
  const columns: [string, ValueEncoder][] = [
    ["mac", e.mac48("mac")],
    ["vendor", e.text("vendor")],
    ["first_seen", e.us("first_seen")],
    ["last_seen", e.us("last_seen")],
    ["ips", e.text("ips")],
    ["host_names", e.text("host_names")],
    ["client_software", e.text("client_software")],
    ["dns", e.int("dns_count")],
    ["dhcp", e.int("dhcp_count")],
    ["vlan", e.int("vlan")],
  ];
  let pending = 0;
  return {
    name: "devices",
    table: "vigia.devices",
    columns: ["sensor", ...columns.map(([c]) => c)],
    encoders: [sensorEncoder(sensor), ...columns.map(([, enc]) => enc)],
    mode: "upsert",
    conflict: { key: ["sensor", "mac"], update: columns.slice(1).map(([c]) => c) },
    read: (_position, limit) => {
      if (!tableExists(store, "devices")) return [];
      const changed = store.query("SELECT * FROM devices ORDER BY mac").filter((r) =>
        sent.get(Number(r.mac)) !== signature(r)
      );
      pending = changed.length;
      return changed.slice(0, limit);
    },
    // Devices are not numbered: the position stays 0 and the backlog is what changed.
    positionOf: () => 0,
    backlog: () => pending,
    minIntervalMs: 5000,
    shipped: (rows) => {
      for (const r of rows) sent.set(Number(r.mac), signature(r));
      pending = Math.max(0, pending - rows.length);
    },
  };
}
