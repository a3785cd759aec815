/**
 * Worker side of the event writer: its own SQLite connection to the events
 * database, resolving each row's flow and inserting the rows it is posted in
 * one transaction per message with multi-row statements. Keeping the
 * inserts (and the index maintenance, a few µs a row) off the main thread is
 * what lets capture, policy and the daily log run at full speed on the
 * other core.
 *
 * SQLite's busy handler retries a waiting writer at most every 100 ms and
 * gives a busy file to nobody in particular, so a writer that commits back
 * to back starves the others. When this worker had to wait for the lock (a
 * `vigia ingest` and the daemon writing at once), it leaves the file free
 * for {@linkcode CONTENDED_GAP_MS} after each transaction for a while, so
 * both make progress.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { deleteCapture } from "./captures.ts";
import { openEventsDb, type PruneCutoffs, pruneEventsDb } from "./events_db.ts";
import type { PackedRows } from "./event_writer.ts";
import { FlowResolver } from "./flows.ts";
import { DHCP_ROW_WIDTH, DNS_ROW_WIDTH, insertSql } from "./schema.ts";

/** Messages the worker accepts. */
export type WriterRequest =
  | { type: "open"; path: string; busyTimeout: number; bulk: boolean }
  | { type: "rows"; seq: number; dns: PackedRows; dhcp: PackedRows }
  | { type: "prune"; cutoffs: PruneCutoffs }
  | { type: "delete-capture"; id: number }
  | { type: "close" };

/** Messages the worker sends. */
export type WriterReply =
  | { type: "opened" }
  | {
    type: "written";
    seq: number;
    rows: number;
    failed: number;
    error?: string;
    ms: number;
    /** The rows' number buffers, moved back for reuse. */
    dnsBuffer?: ArrayBuffer;
    dhcpBuffer?: ArrayBuffer;
  }
  | { type: "pruned"; deleted: number; error?: string }
  | { type: "closed" }
  | { type: "fatal"; message: string };

/** Pause after each transaction while another writer is waiting for the file. */
export const CONTENDED_GAP_MS = 120;
/** A BEGIN that waited this long means another writer is active. */
const CONTENDED_WAIT_MS = 20;
/** How long the pauses continue after the last wait seen. */
const CONTENDED_FOR_MS = 10_000;

const MULTI = 64;
const DNS_WIDTH = DNS_ROW_WIDTH;
const DHCP_WIDTH = DHCP_ROW_WIDTH;

let db: DatabaseSync | undefined;
let dbPath = "";
let bulk = false;
let dnsOne: StatementSync, dnsMulti: StatementSync, dhcpOne: StatementSync;
let flows: FlowResolver;
let contendedUntil = 0;

/**
 * Inserts packed rows (see `RowBuffer`) `MULTI` at a time when `multi` is
 * given: each row's columns are unpacked into one reused argument array
 * (its last slot, the vendor, is kept aside), its flow resolved, and the
 * group bound, with no array of the whole batch built.
 */
function insertPacked(
  kind: 0 | 1,
  rows: PackedRows,
  one: StatementSync,
  multi: StatementSync | undefined,
): void {
  const { numbers, others, width } = rows;
  const cols = width - 1;
  const n = numbers.length / width;
  let r = 0, j = 0;
  const unpack = (args: unknown[], at: number): void => {
    const base = r * width;
    for (let k = 0; k < cols; k++) {
      const v = numbers[base + k];
      args[at + k] = v === v ? v : others[j++];
    }
    const v = numbers[base + cols];
    const vendor = (v === v ? v : others[j++]) as string;
    flows.resolve(kind, args, at, vendor);
    r++;
  };
  if (multi) {
    const args = new Array(MULTI * cols);
    while (r + MULTI <= n) {
      for (let g = 0; g < MULTI; g++) unpack(args, g * cols);
      // deno-lint-ignore no-explicit-any
      (multi.run as any)(...args);
    }
  }
  const args = new Array(cols);
  while (r < n) {
    unpack(args, 0);
    // deno-lint-ignore no-explicit-any
    (one.run as any)(...args);
  }
}

function insertAll(dns: PackedRows, dhcp: PackedRows): void {
  insertPacked(0, dns, dnsOne, dnsMulti);
  insertPacked(1, dhcp, dhcpOne, undefined);
}

function begin(): void {
  const t0 = performance.now();
  db!.exec("BEGIN IMMEDIATE");
  if (performance.now() - t0 > CONTENDED_WAIT_MS) contendedUntil = Date.now() + CONTENDED_FOR_MS;
}

function rowCount(dns: PackedRows, dhcp: PackedRows): number {
  return dns.numbers.length / DNS_WIDTH + dhcp.numbers.length / DHCP_WIDTH;
}

function write(dns: PackedRows, dhcp: PackedRows): { failed: number; error?: string } {
  const rows = rowCount(dns, dhcp);
  try {
    begin();
  } catch (e) {
    return { failed: rows, error: `cannot begin a write: ${(e as Error).message}` };
  }
  try {
    insertAll(dns, dhcp);
    flows.commitCounts();
    db!.exec("COMMIT");
    return { failed: 0 };
  } catch (e) {
    try {
      db!.exec("ROLLBACK");
    } catch { /* the failed statement may have ended the transaction already */ }
    // Flows created in the rolled-back transaction are gone: their cached ids are wrong.
    flows.forget();
    return { failed: rows, error: (e as Error).message };
  }
}

/**
 * Ends a bulk load: back to `synchronous = NORMAL`, a passive checkpoint
 * (which syncs what it copies) and an fsync of the WAL and the database
 * file, so every committed row is on disk whether or not a reader kept the
 * checkpoint from copying all of it.
 */
function makeDurable(db: DatabaseSync): void {
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  for (const path of [`${dbPath}-wal`, dbPath]) {
    let f: Deno.FsFile | undefined;
    try {
      f = Deno.openSync(path, { read: true });
      f.syncSync();
    } catch (e) {
      // No WAL file left (fully checkpointed and removed) is fine; anything else is not.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    } finally {
      f?.close();
    }
  }
}

function handle(m: WriterRequest): void {
  if (m.type === "open") {
    db = openEventsDb(m.path, m.busyTimeout);
    dbPath = m.path;
    bulk = m.bulk;
    // A bulk load commits without fsync (about 7% of the insert cost); close() makes it durable.
    if (bulk) db.exec("PRAGMA synchronous = OFF");
    // Each multi-row INSERT keeps a statement journal of the pages it changes (one per flow's
    // index leaf, well past SQLite's 64 KiB in-memory limit) so that it could be undone alone;
    // in a temp file that was two write syscalls a page, 2.6 a row, 14x the bytes of the WAL.
    db.exec("PRAGMA temp_store = MEMORY");
    // A bigger page cache keeps the hot index leaves in memory between transactions.
    db.exec("PRAGMA cache_size = -65536");
    // Checkpoint every 80 MB of WAL rather than 4 MB: index pages changed by many transactions
    // are copied back once, not once per transaction (about 5% of the insert cost).
    db.exec("PRAGMA wal_autocheckpoint = 20000");
    dnsOne = db.prepare(insertSql("dns", 1));
    dnsMulti = db.prepare(insertSql("dns", MULTI));
    dhcpOne = db.prepare(insertSql("dhcp", 1));
    flows = new FlowResolver(db);
    self.postMessage({ type: "opened" } satisfies WriterReply);
  } else if (m.type === "rows") {
    const t0 = performance.now();
    const r = write(m.dns, m.dhcp);
    const rows = rowCount(m.dns, m.dhcp);
    const dnsBuffer = m.dns.numbers.buffer, dhcpBuffer = m.dhcp.numbers.buffer;
    self.postMessage(
      {
        type: "written",
        seq: m.seq,
        rows: rows - r.failed,
        failed: r.failed,
        error: r.error,
        ms: performance.now() - t0,
        dnsBuffer,
        dhcpBuffer,
      } satisfies WriterReply,
      [dnsBuffer, dhcpBuffer],
    );
  } else if (m.type === "prune" || m.type === "delete-capture") {
    try {
      const deleted = m.type === "prune" ? pruneEventsDb(db!, m.cutoffs) : deleteCapture(db!, m.id);
      self.postMessage({ type: "pruned", deleted } satisfies WriterReply);
    } catch (e) {
      self.postMessage({ type: "pruned", deleted: 0, error: (e as Error).message });
    }
  } else if (m.type === "close") {
    if (db && bulk) makeDurable(db);
    db?.close();
    db = undefined;
    self.postMessage({ type: "closed" } satisfies WriterReply);
  }
}

const queue: WriterRequest[] = [];
let running = false;

async function drain(): Promise<void> {
  running = true;
  try {
    while (queue.length > 0) {
      const m = queue.shift()!;
      handle(m);
      if (m.type !== "open" && m.type !== "close" && Date.now() < contendedUntil) {
        await new Promise((r) => setTimeout(r, CONTENDED_GAP_MS));
      }
    }
  } catch (err) {
    self.postMessage({ type: "fatal", message: (err as Error).message } satisfies WriterReply);
  } finally {
    running = false;
  }
}

self.onmessage = (e: MessageEvent<WriterRequest>) => {
  queue.push(e.data);
  if (!running) void drain();
};
