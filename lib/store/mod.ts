/**
 * vigia's SQLite store (`node:sqlite`, WAL). Every component writes through
 * one batched writer: rows are queued and committed in one transaction per
 * `batchRows` rows or `batchInterval` ms, whichever comes first. Reads use a
 * separate connection, so WAL readers never block the writer.
 *
 * Components own their tables: each passes its migrations, versioned per
 * component, to {@linkcode Store.migrate}.
 *
 * @example
 * ```ts
 * import { openStore } from "./mod.ts";
 * const store = openStore("var/lib/vigia.db");
 * store.migrate("example", [{ version: 1, sql: "CREATE TABLE t (a TEXT)" }]);
 * const insert = store.batched("INSERT INTO t (a) VALUES (?)");
 * insert("hello");
 * store.flush();
 * store.query("SELECT a FROM t"); // [{ a: "hello" }]
 * store.close();
 * ```
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";

/** One schema step of a component. Versions start at 1 and only grow. */
export interface Migration {
  /** Version reached after this step. */
  version: number;
  /** SQL run in one transaction (several statements allowed). */
  sql: string;
}

const VERSIONS_TABLE =
  "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL, applied_at TEXT NOT NULL)";

/** What {@linkcode migrate} applies. */
export interface MigrateOptions {
  /** Component name, the key of its version in `schema_versions`. */
  component: string;
  /** Its migrations (any order). */
  migrations: Migration[];
}

/**
 * Applies `component`'s migrations above the version recorded in the
 * connection's `schema_versions` table (created when missing), each in its
 * own immediate transaction; returns the version reached. Works on any
 * connection: the store's writer, or a component's own database file.
 */
export function migrate(db: DatabaseSync, options: MigrateOptions): number {
  const { component, migrations } = options;
  db.exec(VERSIONS_TABLE);
  const row = db.prepare("SELECT version FROM schema_versions WHERE component = ?").get(
    component,
  ) as { version: number } | undefined;
  let current = row?.version ?? 0;
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  for (const m of sorted) {
    if (m.version <= current) continue;
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(m.sql);
      db.prepare(
        "INSERT INTO schema_versions (component, version, applied_at) VALUES (?, ?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at",
      ).run(component, m.version, new Date().toISOString());
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw new Error(`migration ${component} v${m.version} failed: ${(e as Error).message}`);
    }
    current = m.version;
  }
  return current;
}

/** Options for {@linkcode openStore}. */
export interface StoreOptions {
  /** Rows per write transaction at most. @default 5000 */
  batchRows?: number;
  /** Milliseconds a queued row may wait before its transaction commits. @default 200 */
  batchInterval?: number;
  /** Milliseconds a connection waits on a lock held by another process. @default 5000 */
  busyTimeout?: number;
  /** Rows kept queued at most while the database stays locked; older ones are dropped. @default 1000000 */
  maxQueued?: number;
}

/** A value bound to an SQL parameter. */
export type SqlValue = SQLInputValue;

/** Queues one row for a prepared statement; returns immediately. */
export type BatchedWrite = (...params: SqlValue[]) => void;

/** Counters of the batched writer, for `ctl stats`. */
export interface StoreStats {
  /** Rows committed since start. */
  rowsWritten: number;
  /** Transactions committed since start. */
  transactions: number;
  /** Rows waiting in the queue now. */
  queued: number;
  /** Rows that failed to write (logged, then dropped). */
  failedRows: number;
  /** Milliseconds the last commit took. */
  lastCommitMs: number;
}

/** The open store. Create with {@linkcode openStore}. */
export class Store {
  /** The file path, or `:memory:`. */
  readonly path: string;
  readonly #writer: DatabaseSync;
  readonly #reader: DatabaseSync;
  readonly #batchRows: number;
  readonly #batchInterval: number;
  readonly #maxQueued: number;
  #queue: { stmt: StatementSync; params: SqlValue[] }[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #readCache = new Map<string, StatementSync>();
  #stats: StoreStats = {
    rowsWritten: 0,
    transactions: 0,
    queued: 0,
    failedRows: 0,
    lastCommitMs: 0,
  };
  #closed = false;
  #beforeFlush: (() => void)[] = [];
  #inBeforeFlush = false;
  /** Called with an error when a batch fails; defaults to printing on stderr. */
  onError: (error: Error, sql: string) => void = (e, sql) =>
    console.error(`store: write failed (${sql.slice(0, 60)}): ${e.message}`);

  /** Opens the database at `path` (`:memory:` for a private one); see {@linkcode openStore}. */
  constructor(path: string, options: StoreOptions = {}) {
    const { batchRows = 5000, batchInterval = 200, busyTimeout = 5000, maxQueued = 1_000_000 } =
      options;
    this.#maxQueued = maxQueued;
    this.path = path;
    this.#batchRows = batchRows;
    this.#batchInterval = batchInterval;
    this.#writer = new DatabaseSync(path);
    this.#writer.exec(`PRAGMA busy_timeout = ${busyTimeout}`);
    if (path !== ":memory:") this.#writer.exec("PRAGMA journal_mode = WAL");
    // NORMAL is durable across application crashes in WAL mode; only power loss can drop the last commits.
    this.#writer.exec("PRAGMA synchronous = NORMAL");
    this.#writer.exec("PRAGMA foreign_keys = ON");
    this.#writer.exec(VERSIONS_TABLE);
    this.#reader = path === ":memory:" ? this.#writer : new DatabaseSync(path, { readOnly: true });
    this.#reader.exec(`PRAGMA busy_timeout = ${busyTimeout}`);
  }

  /** Applies the component's migrations above its recorded version, each in its own transaction. */
  migrate(component: string, migrations: Migration[]): number {
    const version = migrate(this.#writer, { component, migrations });
    this.#readCache.clear();
    return version;
  }

  /** Prepares `sql` on the writer and returns a function that queues rows for it. */
  batched(sql: string): BatchedWrite {
    const stmt = this.#writer.prepare(sql);
    return (...params: SqlValue[]) => {
      if (this.#closed) throw new Error("store is closed");
      this.#queue.push({ stmt, params });
      if (this.#queue.length >= this.#batchRows) this.flush();
      else if (this.#timer === undefined) {
        this.#timer = setTimeout(() => this.flush(), this.#batchInterval);
      }
    };
  }

  /**
   * Registers `fn` to run at the start of every flush, so that a writer that
   * coalesces its rows (such as alert repeat counts) queues them in time for
   * any reader that flushes first.
   */
  beforeFlush(fn: () => void): void {
    this.#beforeFlush.push(fn);
  }

  /**
   * Commits every queued row now. A failing row is reported through `onError`
   * and skipped; when the database stays locked the rows are kept and retried
   * (returns false).
   */
  flush(): boolean {
    if (!this.#inBeforeFlush && this.#beforeFlush.length > 0) {
      this.#inBeforeFlush = true;
      try {
        for (const fn of this.#beforeFlush) fn();
      } finally {
        this.#inBeforeFlush = false;
      }
    }
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#queue.length === 0) return true;
    const queue = this.#queue;
    this.#queue = [];
    const t0 = performance.now();
    try {
      this.#writer.exec("BEGIN IMMEDIATE");
    } catch (e) {
      // Another process holds the write lock beyond busy_timeout: keep the rows and try again.
      this.#requeue(queue, e as Error);
      return false;
    }
    let written = 0;
    for (const { stmt, params } of queue) {
      try {
        stmt.run(...params);
        written++;
      } catch (e) {
        this.#stats.failedRows++;
        this.onError(e as Error, stmt.sourceSQL);
      }
    }
    try {
      this.#writer.exec("COMMIT");
    } catch (e) {
      try {
        this.#writer.exec("ROLLBACK");
      } catch { /* the failed COMMIT may have ended the transaction already */ }
      this.#requeue(queue, e as Error);
      return false;
    }
    this.#stats.rowsWritten += written;
    this.#stats.transactions++;
    this.#stats.lastCommitMs = performance.now() - t0;
    return true;
  }

  #requeue(rows: { stmt: StatementSync; params: SqlValue[] }[], error: Error): void {
    this.onError(error, "BEGIN/COMMIT (rows kept for a retry)");
    this.#queue = rows.concat(this.#queue);
    // Bounded: when the lock never comes back, the oldest rows go first (counted as failed).
    const excess = this.#queue.length - this.#maxQueued;
    if (excess > 0) {
      this.#queue.splice(0, excess);
      this.#stats.failedRows += excess;
    }
    if (!this.#closed && this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#batchInterval);
    }
  }

  /**
   * Runs a write now, outside the batch (after flushing it, so order holds).
   * For control-plane edits (deny lists, zone records) that the caller must see applied.
   */
  run(sql: string, ...params: SqlValue[]): { changes: number; lastInsertRowid: number } {
    this.flush();
    const r = this.#writer.prepare(sql).run(...params);
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }

  /** Runs `fn` inside one immediate transaction on the writer, after flushing the batch. */
  transaction<T>(fn: () => T): T {
    this.flush();
    this.#writer.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.#writer.exec("COMMIT");
      return out;
    } catch (e) {
      this.#writer.exec("ROLLBACK");
      throw e;
    }
  }

  /** Runs a read-only query on the reader connection; statements are cached by SQL text. */
  query<T = Record<string, unknown>>(sql: string, ...params: SqlValue[]): T[] {
    return this.#prepareRead(sql).all(...params) as T[];
  }

  /** Like {@linkcode Store.query} but returns the first row or undefined. */
  get<T = Record<string, unknown>>(sql: string, ...params: SqlValue[]): T | undefined {
    return this.#prepareRead(sql).get(...params) as T | undefined;
  }

  /** Explains a query plan on the reader, for tests that guard index use. */
  explain(sql: string, ...params: SqlValue[]): string[] {
    return (this.#reader.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as {
      detail: string;
    }[])
      .map((r) => r.detail);
  }

  #prepareRead(sql: string): StatementSync {
    let stmt = this.#readCache.get(sql);
    if (!stmt) {
      stmt = this.#reader.prepare(sql);
      this.#readCache.set(sql, stmt);
    }
    return stmt;
  }

  /** Counters of the batched writer. */
  stats(): StoreStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  /** Flushes, checkpoints the WAL and closes both connections. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    try {
      if (this.path !== ":memory:") this.#writer.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch { /* another process may hold the WAL; the checkpoint is only housekeeping */ }
    if (this.#reader !== this.#writer) this.#reader.close();
    this.#writer.close();
  }
}

/** Opens (creating when needed) the store at `path`. The directory must exist. */
export function openStore(path: string, options: StoreOptions = {}): Store {
  return new Store(path, options);
}
