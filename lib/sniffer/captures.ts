/**
 * Provenance of ingested capture files: every `vigia ingest` is one row of
 * the `captures` table in the events database (file path, size, SHA-256,
 * link type, packets, first and last packet time, when it was ingested,
 * counts by result), and every event it stored carries its id in
 * `events.capture` (live events: NULL).
 *
 * An ingest's events occupy the id range recorded with it
 * (`first_event_id`..`last_event_id`; live rows written meanwhile by the
 * daemon may sit in the same range and are told apart by `capture`), so
 * reading or deleting one capture's events walks that range of the rowid
 * and needs no index of its own (an index costs every insert ~2 µs).
 *
 * The same file again (same SHA-256) is refused unless forced, which
 * replaces the earlier ingest's events. Ingested events age out by their
 * ingestion time (`store.ingest_retention_days`), not by their packet time,
 * so an old capture stays queryable after the daemon starts.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { DatabaseSync } from "node:sqlite";
import { CaptureError } from "../capture/mod.ts";
import type { ZonedClock } from "../daylog/mod.ts";
import type { Reader } from "./events_db.ts";

/** One recorded ingest. */
export interface CaptureRecord {
  /** Capture id (`events.capture`). */
  id: number;
  /** The file as given to `vigia ingest`, made absolute. */
  path: string;
  /** Bytes. */
  size: number;
  /** SHA-256 of the file, hex. */
  sha256: string;
  /** `pcap` or `pcapng`. */
  format: string;
  /** Link types (pcap LINKTYPE_ numbers) of the file, comma separated. */
  link_type: string;
  /** Packets read. */
  packets: number;
  /** Capture time of the first and the last DNS/DHCP packet stored, µs (null: none). */
  first_packet: number | null;
  /** See `first_packet`. */
  last_packet: number | null;
  /** When the ingest started, µs since the epoch. */
  ingested_at: number;
  /** `running`, `done` or `failed`. */
  state: string;
  /** Events stored. */
  events: number;
  /** Counts by result: `{stored, ignored, malformed, pending, ignored_by, malformed_by}` (JSON). */
  counts: string;
  /** Lowest and highest events.id the ingest may have written. */
  first_event_id: number;
  /** See `first_event_id`. */
  last_event_id: number;
}

/** Table of recorded ingests (created by migration 2 of the events database). */
export const CAPTURES_SQL = `
    CREATE TABLE captures (
      id INTEGER PRIMARY KEY,
      path TEXT NOT NULL,
      size INTEGER NOT NULL,
      sha256 TEXT NOT NULL,
      format TEXT NOT NULL,
      link_type TEXT NOT NULL,
      packets INTEGER NOT NULL DEFAULT 0,
      first_packet INTEGER,            -- µs since the epoch
      last_packet INTEGER,
      ingested_at INTEGER NOT NULL,    -- µs since the epoch
      state TEXT NOT NULL,             -- 'running' | 'done' | 'failed'
      events INTEGER NOT NULL DEFAULT 0,
      counts TEXT NOT NULL DEFAULT '{}',
      first_event_id INTEGER NOT NULL,
      last_event_id INTEGER NOT NULL
    );
    CREATE INDEX captures_sha256 ON captures (sha256);
    CREATE INDEX captures_ingested_at ON captures (ingested_at);`;

/** What {@linkcode describeCaptureFile} found. */
export interface CaptureFileFacts {
  /** Absolute path. */
  path: string;
  /** Bytes. */
  size: number;
  /** SHA-256, hex. */
  sha256: string;
  /** `pcap`, `pcapng` or `unknown`. */
  format: string;
  /** Link types found in the file header(s), comma separated. */
  linkType: string;
}

/** Link types of a pcap header or of the pcapng interface blocks in `head`. */
function headerFacts(head: Uint8Array): { format: string; linkType: string } {
  if (head.length < 24) return { format: "unknown", linkType: "" };
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = v.getUint32(0, true);
  if ([0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1].includes(magic)) {
    const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
    return { format: "pcap", linkType: String(v.getUint32(20, le) & 0x03ffffff) };
  }
  if (magic !== 0x0a0d0d0a) return { format: "unknown", linkType: "" };
  const le = v.getUint32(8, true) === 0x1a2b3c4d;
  const types = new Set<number>();
  for (let p = 0; p + 12 <= head.length;) {
    const type = v.getUint32(p, le), len = v.getUint32(p + 4, le);
    if (len < 12 || len % 4 !== 0) break;
    if (type === 1 && p + 10 <= head.length) types.add(v.getUint16(p + 8, le));
    p += len;
  }
  return { format: "pcapng", linkType: [...types].join(",") };
}

/** Options of {@linkcode describeCaptureFile}. */
export interface DescribeOptions {
  /**
   * Read the whole file for its SHA-256; false reads only its head and
   * leaves `sha256` empty (the ingest hashes while reading). @default true
   */
  hash?: boolean;
}

/** Path, size, SHA-256 and link type of a capture file (read once, streaming). */
export async function describeCaptureFile(
  path: string,
  options: DescribeOptions = {},
): Promise<CaptureFileFacts> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new CaptureError(`Cannot read capture file ${path}: ${(e as Error).message}`);
  }
  const hash = createHash("sha256");
  let size = 0;
  let head: Uint8Array | undefined;
  try {
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      if (!head) head = chunk.slice(0, 65_536);
      if (options.hash === false) {
        size = (await file.stat()).size;
        break;
      }
      hash.update(chunk);
      size += n;
    }
  } finally {
    file.close();
  }
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const sha256 = options.hash === false ? "" : hash.digest("hex");
  return { path: abs, size, sha256, ...headerFacts(head ?? new Uint8Array()) };
}

/**
 * Hashes the rest of the file at `path` from `offset` into `hash` (after a read
 * that stopped early); returns the bytes hashed.
 */
export async function hashRest(
  path: string,
  hash: { update(b: Uint8Array): unknown },
  offset: number,
): Promise<number> {
  const file = await Deno.open(path, { read: true });
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(1 << 20);
    let total = 0;
    for (;;) {
      const n = await file.read(buf);
      if (n === null) return total;
      hash.update(buf.subarray(0, n));
      total += n;
    }
  } finally {
    file.close();
  }
}

/** A capture row as stored (SQLite integers may come back as bigint). */
function toRecord(r: Record<string, unknown>): CaptureRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = typeof v === "bigint" ? Number(v) : v;
  return out as unknown as CaptureRecord;
}

/** The ingests of the file with this SHA-256 (newest first; running ones too). */
export function findCaptures(db: DatabaseSync, sha256: string): CaptureRecord[] {
  return (db.prepare("SELECT * FROM captures WHERE sha256 = ? ORDER BY id DESC").all(
    sha256,
  ) as Record<string, unknown>[]).map(toRecord);
}

/**
 * The ingests that may have been of a file of `size` bytes: those of that
 * size, newest first. An ingest hashes while it reads, so one that never
 * finished has no SHA-256 and is matched by size alone.
 */
export function findCapturesOfSize(db: DatabaseSync, size: number): CaptureRecord[] {
  return (db.prepare("SELECT * FROM captures WHERE size = ? ORDER BY id DESC").all(
    size,
  ) as Record<string, unknown>[]).map(toRecord);
}

/** Records the SHA-256 and size of an ingest that hashed its file while reading it. */
export function recordCaptureHash(
  db: DatabaseSync,
  id: number,
  facts: { sha256: string; size: number },
): void {
  db.prepare("UPDATE captures SET sha256 = ?, size = ? WHERE id = ?").run(
    facts.sha256,
    facts.size,
    id,
  );
}

/** Records the start of an ingest; returns its capture id. */
export function beginCapture(db: DatabaseSync, facts: CaptureFileFacts): number {
  const max = db.prepare("SELECT max(id) AS m FROM events").get() as { m: number | null };
  const next = Number(max.m ?? 0) + 1;
  const r = db.prepare(
    `INSERT INTO captures (path, size, sha256, format, link_type, ingested_at, state,
       first_event_id, last_event_id) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)`,
  ).run(
    facts.path,
    facts.size,
    facts.sha256,
    facts.format,
    facts.linkType,
    Date.now() * 1000,
    next,
    next,
  );
  return Number(r.lastInsertRowid);
}

/** What an ingest ended with. */
export interface CaptureOutcome {
  /** `done` or `failed`. */
  state: "done" | "failed";
  /** Packets read. */
  packets: number;
  /** Events stored. */
  events: number;
  /** Counts by result (stored as JSON). */
  counts: Record<string, unknown>;
  /** Capture time of the first and last event stored, ms (undefined: none). */
  firstMs?: number;
  /** See `firstMs`. */
  lastMs?: number;
}

/** Records how an ingest ended: its counts, packet times and the id range it may have written. */
export function finishCapture(db: DatabaseSync, id: number, outcome: CaptureOutcome): void {
  const c = db.prepare("SELECT first_event_id FROM captures WHERE id = ?").get(id) as {
    first_event_id: number;
  };
  const max = db.prepare("SELECT max(id) AS m FROM events").get() as { m: number | null };
  const last = Math.max(Number(c.first_event_id) - 1, Number(max.m ?? 0));
  const us = (ms: number | undefined) => ms === undefined ? null : Math.round(ms * 1000);
  db.prepare(
    `UPDATE captures SET state = ?, packets = ?, events = ?, counts = ?, last_event_id = ?,
       first_packet = ?, last_packet = ? WHERE id = ?`,
  ).run(
    outcome.state,
    outcome.packets,
    outcome.events,
    JSON.stringify(outcome.counts),
    last,
    us(outcome.firstMs),
    us(outcome.lastMs),
    id,
  );
}

/** Deletes one capture's events (and its row); returns the events deleted, -1 when unknown. */
export function deleteCapture(db: DatabaseSync, id: number): number {
  const c = db.prepare("SELECT first_event_id, last_event_id FROM captures WHERE id = ?").get(
    id,
  ) as { first_event_id: number; last_event_id: number } | undefined;
  if (!c) return -1;
  db.exec("BEGIN IMMEDIATE");
  try {
    const n = db.prepare("DELETE FROM events WHERE id BETWEEN ? AND ? AND capture = ?").run(
      c.first_event_id,
      c.last_event_id,
      id,
    ).changes;
    db.prepare("DELETE FROM captures WHERE id = ?").run(id);
    db.exec("COMMIT");
    return Number(n);
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

/** Deletes every capture ingested before `before` (ms) with its events; returns the events deleted. */
export function pruneCaptures(
  db: DatabaseSync,
  before: number,
  keepAbove = Number.MAX_SAFE_INTEGER,
): number {
  // A capture with events not shipped centrally yet (ids above keepAbove) waits.
  const old = db.prepare(
    "SELECT id FROM captures WHERE ingested_at < ? AND state <> 'running' AND last_event_id <= ?",
  ).all(Math.floor(before * 1000), keepAbove) as { id: number }[];
  let n = 0;
  for (const c of old) n += Math.max(0, deleteCapture(db, Number(c.id)));
  return n;
}

/** Every recorded ingest, newest first (for `ctl captures`). */
export function listCaptures(reader: Reader): CaptureRecord[] {
  const hasTable = reader.get("SELECT 1 AS ok FROM sqlite_master WHERE name = 'captures'");
  if (!hasTable) return [];
  return reader.query("SELECT * FROM captures ORDER BY id DESC").map(toRecord);
}

/** One recorded ingest, or undefined. */
export function getCapture(reader: Reader, id: number): CaptureRecord | undefined {
  const hasTable = reader.get("SELECT 1 AS ok FROM sqlite_master WHERE name = 'captures'");
  if (!hasTable) return undefined;
  const r = reader.get("SELECT * FROM captures WHERE id = ?", id);
  return r ? toRecord(r) : undefined;
}

/**
 * A recorded ingest as `ctl captures` shows it: times in the configured
 * zone with their offset (as the daily files write them), the counts by
 * result as an object, without the id range (an internal of the storage).
 */
export function presentCapture(c: CaptureRecord, clock: ZonedClock): Record<string, unknown> {
  const stamp = (us: number | null) =>
    us === null ? null : clock.stamp(new Date(Math.floor(us / 1000))).timestamp;
  let counts: Record<string, unknown> = {};
  try {
    counts = JSON.parse(c.counts);
  } catch { /* an unreadable record shows no counts */ }
  const malformed = Object.values(counts.malformed ?? {}).reduce<number>(
    (n, v) => n + (typeof v === "number" ? v : 0),
    0,
  );
  return {
    id: c.id,
    ingested_at: stamp(c.ingested_at),
    path: c.path,
    state: c.state,
    packets: c.packets,
    events: c.events,
    ignored: typeof counts.ignored === "number" ? counts.ignored : 0,
    malformed,
    first_packet: stamp(c.first_packet),
    last_packet: stamp(c.last_packet),
    size: c.size,
    format: c.format,
    link_type: c.link_type,
    sha256: c.sha256,
    counts,
  };
}
