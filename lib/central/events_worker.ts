/**
 * Worker side of the shipper's event reading: its own read-only SQLite
 * connection to the events database; for each request it reads the events
 * after a position (rows as arrays, no object per row) and writes them as
 * one binary COPY (`copy_binary.ts`), handed back as a transferred buffer.
 * Keeping this off the main thread lets the daemon's loop move bytes to
 * PostgreSQL while the next batch is being read on the other core.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { type BinaryColumn, BinaryCopyEncoder } from "./copy_binary.ts";

/** Messages the worker accepts. */
export type EventsWorkerRequest =
  | {
    type: "open";
    /** The events database. */
    path: string;
    /** SELECT of the values (id first, time second) after `?` LIMIT `?`, in id order. */
    sql: string;
    /** The COPY's columns. */
    columns: BinaryColumn[];
  }
  | { type: "read"; id: number; from: number; limit: number };

/** Messages the worker sends. */
export type EventsWorkerReply =
  | {
    type: "batch";
    id: number;
    /** One COPY's data (header, rows, trailer). */
    bytes: Uint8Array;
    /** Rows in it. */
    n: number;
    /** The highest id in it (`from` when none). */
    last: number;
    /** The time of that row (µs), or null when none. */
    lastTime: number | null;
    /** The UTC days (since the epoch) of its rows. */
    days: number[];
    /** Values written as NULL because they were not of their column's type. */
    invalid: number;
  }
  | { type: "error"; id: number; message: string };

/** Rows per SQLite call: bounds the arrays alive at once. */
const READ_ROWS = 5000;
const DAY_US = 86_400_000_000;

let path = "";
let sql = "";
let encoder: BinaryCopyEncoder | undefined;
let db: DatabaseSync | undefined;
let stmt: StatementSync | undefined;

function close(): void {
  try {
    db?.close();
  } catch { /* already closed */ }
  db = undefined;
  stmt = undefined;
}

/** The statement, or undefined while the file or its tables do not exist yet. */
function statement(): StatementSync | undefined {
  if (stmt) return stmt;
  try {
    Deno.statSync(path);
  } catch {
    return undefined;
  }
  const d = new DatabaseSync(path, { readOnly: true });
  try {
    d.exec("PRAGMA busy_timeout = 5000");
    if (!d.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get()) {
      d.close();
      return undefined;
    }
    stmt = d.prepare(sql);
    // In Deno 2.9's node:sqlite, not yet in its types: rows as arrays, no object per row.
    (stmt as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
    db = d;
    return stmt;
  } catch (e) {
    d.close();
    throw e;
  }
}

function read(id: number, from: number, limit: number): EventsWorkerReply {
  const s = statement();
  const enc = encoder!;
  const days: number[] = [];
  let last = from, lastTime: number | null = null, n = 0, day = NaN;
  while (s && n < limit) {
    const want = Math.min(READ_ROWS, limit - n);
    const rows = s.all(last, want) as unknown as unknown[][];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      enc.row(r);
      const t = r[1] as number;
      const d = Math.floor(t / DAY_US);
      if (d !== day) {
        day = d;
        if (!days.includes(d)) days.push(d);
      }
    }
    n += rows.length;
    if (rows.length > 0) {
      const r = rows[rows.length - 1];
      last = r[0] as number;
      lastTime = r[1] as number;
    }
    if (rows.length < want) break;
  }
  const invalid = enc.invalid;
  const bytes = enc.take();
  return { type: "batch", id, bytes, n, last, lastTime, days, invalid };
}

self.onmessage = (e: MessageEvent<EventsWorkerRequest>) => {
  const m = e.data;
  if (m.type === "open") {
    close();
    path = m.path;
    sql = m.sql;
    encoder = new BinaryCopyEncoder(m.columns);
    return;
  }
  try {
    const reply = read(m.id, m.from, m.limit);
    self.postMessage(reply, reply.type === "batch" ? [reply.bytes.buffer as ArrayBuffer] : []);
  } catch (err) {
    // A store being replaced or a damaged file: open it afresh next time.
    close();
    encoder?.take();
    self.postMessage(
      { type: "error", id: m.id, message: (err as Error).message } satisfies EventsWorkerReply,
    );
  }
};
