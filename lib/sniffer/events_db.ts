/**
 * The events database: `vigia-events.db` in the store's directory, holding
 * the `flows` and `events` tables (see `schema.ts` for why they have their
 * own file). The event writer worker is its only writer; queries read it
 * through {@linkcode EventsReader}; old rows are pruned with
 * {@linkcode pruneEventsDb}.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { migrate, type SqlValue, type Store } from "../store/mod.ts";
import { pruneCaptures } from "./captures.ts";
import { vigiaFiles } from "../daemon/config.ts";
import { eventMigrations } from "./schema.ts";

/** Path of the events database that goes with `store`. */
export function eventsDbPath(store: Store): string {
  if (store.path === ":memory:" || store.path === "") {
    throw new Error(
      "the sniffer needs a store file: its events database is kept beside it, and an in-memory store has no directory",
    );
  }
  const slash = store.path.lastIndexOf("/");
  const dir = slash < 0 ? "." : store.path.slice(0, slash);
  return vigiaFiles({ state_dir: dir, runtime_dir: dir }).eventsDb;
}

/** Applies the events migrations (own version table in the events file). */
export function migrateEventsDb(db: DatabaseSync): number {
  return migrate(db, { component: "sniffer-events", migrations: eventMigrations });
}

/** Opens (creating and migrating) the events database for writing. */
export function openEventsDb(path: string, busyTimeout = 60_000): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA busy_timeout = ${busyTimeout}`);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  migrateEventsDb(db);
  return db;
}

/** What the queries need from a database connection (a Store fits too). */
export interface Reader {
  /** All rows of a query. */
  query<T = Record<string, unknown>>(sql: string, ...params: SqlValue[]): T[];
  /** The first row, or undefined. */
  get<T = Record<string, unknown>>(sql: string, ...params: SqlValue[]): T | undefined;
  /** The query plan, one line per step. */
  explain(sql: string, ...params: SqlValue[]): string[];
}

/**
 * A read-only connection to the events database with cached statements.
 * Until the file exists (no event written yet) every query returns nothing.
 */
export class EventsReader implements Reader {
  /** The events database file. */
  readonly path: string;
  #db: DatabaseSync | undefined;
  #cache = new Map<string, StatementSync>();

  /** A reader of the file at `path`; nothing is opened until the first query. */
  constructor(path: string) {
    this.path = path;
  }

  #open(): DatabaseSync | undefined {
    if (this.#db) return this.#db;
    try {
      Deno.statSync(this.path);
    } catch {
      return undefined;
    }
    const db = new DatabaseSync(this.path, { readOnly: true });
    db.exec("PRAGMA busy_timeout = 5000");
    // A file made by an older process may lack tables; a query on it must still not throw.
    const ok = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get();
    if (!ok) {
      db.close();
      return undefined;
    }
    this.#db = db;
    return db;
  }

  #stmt(sql: string): StatementSync | undefined {
    const db = this.#open();
    if (!db) return undefined;
    let s = this.#cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      if (this.#cache.size > 500) this.#cache.clear();
      this.#cache.set(sql, s);
    }
    return s;
  }

  query<T = Record<string, unknown>>(sql: string, ...params: SqlValue[]): T[] {
    return (this.#stmt(sql)?.all(...params) ?? []) as T[];
  }

  get<T = Record<string, unknown>>(sql: string, ...params: SqlValue[]): T | undefined {
    return this.#stmt(sql)?.get(...params) as T | undefined;
  }

  explain(sql: string, ...params: SqlValue[]): string[] {
    const db = this.#open();
    if (!db) return [];
    return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
      .map((r) => r.detail);
  }

  /** Closes the connection (a later query reopens it). */
  close(): void {
    this.#cache.clear();
    this.#db?.close();
    this.#db = undefined;
  }
}

/** Rows deleted per statement when pruning. */
const PRUNE_CHUNK = 20_000;

/** What {@linkcode boundEventsDb} did. */
export interface BoundResult {
  /** Events deleted. */
  deleted: number;
  /** Of those, events above `keepAbove` (not shipped to the central store yet). */
  unshipped: number;
  /** Bytes the rows took before and after. */
  before: number;
  /** Bytes the rows take now. */
  after: number;
}

/** Bytes the rows of an events database take (its pages minus the free ones). */
export function eventsDbUsedBytes(db: DatabaseSync): number {
  const one = (pragma: string) => Number(Object.values(db.prepare(`PRAGMA ${pragma}`).get()!)[0]);
  return (one("page_count") - one("freelist_count")) * one("page_size");
}

/**
 * Keeps the rows of the events database under `maxBytes` (`store.max_events_mb`):
 * deletes the oldest events (by id, live or ingested) until they fit, even
 * those above `keepAbove` (not shipped centrally yet), which it counts, and
 * the flows left without events. Opens its own connection beside the
 * writer (WAL); a missing file is nothing to do.
 */
export async function boundEventsDb(
  path: string,
  options: { maxBytes: number; keepAbove?: number },
): Promise<BoundResult> {
  const none = { deleted: 0, unshipped: 0, before: 0, after: 0 };
  try {
    Deno.statSync(path);
  } catch {
    return none;
  }
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    migrateEventsDb(db);
    const before = eventsDbUsedBytes(db);
    let used = before, deleted = 0, unshipped = 0;
    const keep = options.keepAbove ?? Number.MAX_SAFE_INTEGER;
    const next = db.prepare(
      "SELECT max(id) AS last, max(time) AS time, count(*) AS n FROM (SELECT id, time FROM events ORDER BY id LIMIT ?)",
    );
    const del = db.prepare("DELETE FROM events WHERE id <= ?");
    const above = db.prepare("SELECT count(*) AS n FROM events WHERE id > ? AND id <= ?");
    let newest = 0;
    while (used > options.maxBytes) {
      // A chunk in proportion to the excess (rows take about the same room), at least 1000.
      const rows = Number(db.prepare("SELECT count(*) AS n FROM events").get()!.n);
      if (rows === 0) break;
      const chunk = Math.min(
        PRUNE_CHUNK,
        Math.max(1000, Math.ceil(rows * (used - options.maxBytes) / used)),
      );
      const r = next.get(chunk) as { last: number; time: number; n: number };
      db.exec("BEGIN IMMEDIATE");
      try {
        unshipped += Number((above.get(keep, r.last) as { n: number }).n);
        deleted += Number(del.run(r.last).changes);
        db.exec("COMMIT");
      } catch (e) {
        db.exec("ROLLBACK");
        throw e;
      }
      newest = Math.max(newest, Number(r.time));
      used = eventsDbUsedBytes(db);
      // Capture, DNS and ctl run between chunks.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (deleted > 0) {
      // Flows idle since the newest event deleted: the writer may cache a recent one's id.
      db.prepare(
        `DELETE FROM flows WHERE last_seen <= ?
           AND NOT EXISTS (SELECT 1 FROM events WHERE flow = flows.id)`,
      ).run(newest);
    }
    return { deleted, unshipped, before, after: eventsDbUsedBytes(db) };
  } finally {
    db.close();
  }
}

/** What {@linkcode pruneEventsDb} deletes. */
export interface PruneCutoffs {
  /** Live events (no capture) whose packet time is older than this, ms since the epoch. */
  before?: number;
  /** Ingested captures (with their events) ingested before this, ms; undefined keeps them. */
  ingestBefore?: number;
  /** Time spent at most on live events, ms. @default 2000 */
  budgetMs?: number;
  /** Events with an id above this are kept whatever their age (not shipped centrally yet). */
  keepAbove?: Record<string, number>;
}

/**
 * Deletes live events older than `before` in chunks within the budget
 * (and flows idle since then left without events), and every capture
 * ingested before `ingestBefore` with its events; returns the events
 * deleted. Works on an open writer
 * connection (the worker's) or opens its own.
 */
export function pruneEventsDb(target: DatabaseSync | string, cutoffs: PruneCutoffs): number {
  let db: DatabaseSync;
  if (typeof target === "string") {
    try {
      Deno.statSync(target);
    } catch {
      return 0;
    }
    db = new DatabaseSync(target);
    db.exec("PRAGMA busy_timeout = 2000");
    try {
      migrateEventsDb(db);
    } catch (e) {
      db.close();
      throw e;
    }
  } else db = target;
  const t0 = performance.now();
  const budgetMs = cutoffs.budgetMs ?? 2000;
  let total = 0;
  try {
    const keep = cutoffs.keepAbove?.events ?? Number.MAX_SAFE_INTEGER;
    if (cutoffs.ingestBefore !== undefined) {
      total += pruneCaptures(db, cutoffs.ingestBefore, keep);
    }
    if (cutoffs.before !== undefined) {
      const us = Math.floor(cutoffs.before * 1000);
      // Ingested events age by their capture's ingestion time (above), not by packet time.
      const del = db.prepare(
        `DELETE FROM events WHERE id IN
           (SELECT id FROM events INDEXED BY events_time WHERE time < ? AND capture IS NULL
              AND id <= ?
            ORDER BY time LIMIT ${PRUNE_CHUNK})`,
      );
      for (;;) {
        const n = Number(del.run(us, keep).changes);
        total += n;
        if (n < PRUNE_CHUNK || performance.now() - t0 > budgetMs) break;
      }
      // Only flows idle since the cutoff: a writer may hold the id of a recent one in its cache.
      db.prepare(
        `DELETE FROM flows WHERE last_seen < ?
           AND NOT EXISTS (SELECT 1 FROM events WHERE flow = flows.id)`,
      ).run(us);
    }
  } finally {
    if (typeof target === "string") db.close();
  }
  return total;
}
