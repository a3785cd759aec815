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
