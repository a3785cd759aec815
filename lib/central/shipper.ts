/**
 * The shipper: the `central` component inside the daemon. It reads what
 * landed in the local store (the outbox) after the shipped position of
 * each stream and sends it in batches through COPY; the position moves in
 * the same PostgreSQL transaction as the rows, and the local copy of it
 * (which keeps local retention off unshipped rows) only after the commit.
 * A batch cut by a crash of either side is re-read from the position
 * PostgreSQL holds, so nothing is lost and nothing doubled.
 *
 * It never holds up the daemon: `start()` returns at once, PostgreSQL being
 * down only marks it down (with the reason) and it reconnects with backoff.
 * Rows are read and encoded in small chunks with the event loop free in
 * between, so capture, DNS and `ctl` keep answering while it drains a
 * backlog.
 *
 * A sensor name is held by one daemon at a time: a lease in
 * `vigia.sensors`, taken over only when it ran out or its PostgreSQL
 * session is gone (so a daemon killed with -9 can restart at once).
 *
 * @module
 */

import type { Component, ComponentContext } from "../daemon/types.ts";
import type { Migration, Store } from "../store/mod.ts";
import { eventsDbPath } from "../sniffer/mod.ts";
import { type CentralConfig, sensorName } from "./config.ts";
import {
  type CentralConnection,
  connectCentral,
  NoAnswer,
  targetLabel,
  type TxSql,
} from "./connect.ts";
import { encodeRows, type LocalRow } from "./encode.ts";
import { dropOldPartitions, ensurePartitions, migrateCentral, requireSchema } from "./schema.ts";
import {
  alertStream,
  deviceStream,
  eventStream,
  scanStream,
  type Stream,
  veridnsStream,
} from "./streams.ts";
import type { EventBatch } from "./event_batches.ts";

/** How long a sensor's lease lasts without renewal. */
const LEASE_SECONDS = 60;
/** Rows read and encoded between two yields to the event loop. */
const CHUNK_ROWS = 2000;
/** Reconnect backoff bounds. */
const BACKOFF_MIN_MS = 500, BACKOFF_MAX_MS = 30_000;
/** Bulk batches in flight at once, each in its own transaction and connection. */
const BULK_IN_FLIGHT = 2;
/** How long a bulk stream ships before the other streams get their turn. */
const BULK_SLICE_MS = 5000;
/** Bytes per write of a binary COPY's data. */
const WRITE_BYTES = 1 << 20;

/**
 * Starts `COPY ... FROM STDIN` in `tx`: its stream, its end, and a wait for
 * its buffer to drain that fails as soon as the stream does (a server gone
 * mid-COPY never drains).
 *
 * `npm:postgres` 3.4.9 loses an error PostgreSQL reports after the last row
 * was sent (a refused value found late): the stream is already ended, its
 * `finish` never comes, and the error only reaches the query's `reject`,
 * a no-op once the query has resolved with the stream. That `reject` is
 * wrapped here so the error ends `finished`.
 */
async function startCopy(tx: TxSql, statement: string): Promise<{
  writable: NodeJS.WritableStream;
  finished: Promise<void>;
  drained: () => Promise<void>;
}> {
  const query = tx.unsafe(statement);
  let fail: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {});
  const hooked = query as unknown as { reject: (e: unknown) => void };
  const reject = hooked.reject;
  hooked.reject = (e) => {
    fail(e);
    reject(e);
  };
  const writable = await query.writable();
  const finished = Promise.race([
    new Promise<void>((resolve, reject) => {
      writable.on("finish", resolve);
      writable.on("error", reject);
    }),
    failed,
  ]);
  // Awaited later; an early failure must not count as an unhandled rejection meanwhile.
  finished.catch(() => {});
  return {
    writable,
    finished,
    drained: () =>
      Promise.race([
        new Promise<void>((r) => writable.once("drain", () => r())),
        finished.then(() => {
          throw new Error("the COPY stream ended early");
        }),
      ]),
  };
}

/** Thrown when another daemon holds this sensor's name. */
export class SensorInUse extends Error {
  /** An error naming the sensor and who holds it. */
  constructor(sensor: string, holder: string) {
    super(
      `sensor name "${sensor}" is in use by another vigia daemon (${holder}): give each daemon its own central.sensor`,
    );
    this.name = "SensorInUse";
  }
}

/** Local table of shipped positions, in the shared store (read by local retention). */
export const SHIPPED_TABLE = "central_shipped";

/** Local table of the last error by stream ("" for the connection, every stream). */
export const ERRORS_TABLE = "central_errors";

/** Local table of the rows PostgreSQL refused, kept with its error instead of being shipped. */
export const QUARANTINE_TABLE = "central_quarantine";

/** Local table of rows a store bound deleted before they were shipped. */
export const LOST_TABLE = "central_lost";

/** Store migrations of the central component. */
export const centralMigrations: Migration[] = [{
  version: 1,
  sql: `CREATE TABLE ${SHIPPED_TABLE} (
    stream TEXT PRIMARY KEY,
    position INTEGER NOT NULL,      -- last local id committed centrally
    shipped_at INTEGER NOT NULL     -- ms since the epoch
  );`,
}, {
  version: 2,
  sql: `CREATE TABLE ${ERRORS_TABLE} (
    stream TEXT PRIMARY KEY,        -- "" : the connection (every stream)
    error TEXT NOT NULL,            -- never holds the password
    at INTEGER NOT NULL,            -- ms since the epoch, last time seen
    reported INTEGER NOT NULL DEFAULT 0   -- 1 once written to vigia.shipping
  );
  CREATE TABLE ${QUARANTINE_TABLE} (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    local_id INTEGER,               -- the row's id in its local table
    at INTEGER NOT NULL,            -- ms since the epoch
    error TEXT NOT NULL,            -- PostgreSQL's refusal
    row TEXT NOT NULL               -- the row as it was sent (COPY text)
  );`,
}, {
  version: 3,
  sql: `CREATE TABLE ${LOST_TABLE} (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,           -- the local table: events, alerts, scans, veridns_events
    rows INTEGER NOT NULL,          -- deleted by a bound (store.max_events_mb) before shipping
    at INTEGER NOT NULL,            -- ms since the epoch
    alerted INTEGER NOT NULL DEFAULT 0,
    reported INTEGER NOT NULL DEFAULT 0   -- added to vigia.shipping.rows_lost
  );`,
}];

/** Records that a bound deleted `rows` (by table) before they were shipped (the module's `lost`). */
export function recordLost(store: Store, rows: Record<string, number>): void {
  const at = Date.now();
  for (const [stream, n] of Object.entries(rows)) {
    if (n > 0) {
      store.run(`INSERT INTO ${LOST_TABLE} (stream, rows, at) VALUES (?, ?, ?)`, stream, n, at);
    }
  }
}

/**
 * Whether PostgreSQL refused a row of the batch for what it holds (a value
 * of the wrong form, a constraint, a row too large): sending it again can
 * never succeed, unlike a lost connection.
 */
export function rowRejected(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return (/^2[23][0-9A-Z]{3}$/.test(code) && code !== "23505") || code === "54000";
}

/** Per-stream state. */
interface StreamState {
  stream: Stream;
  position: number;
  shipped: number;
  backlog: number;
  lastRead: number;
  /** Re-send after a position mismatch: through a staging table, duplicates skipped. */
  dedupe: boolean;
  /** Local time of the row at `position` when it was shipped (null: unknown). */
  positionTime: number | null;
  /** The same for the batch in flight, until it commits. */
  pendingTime?: number | null;
  /** Rows per batch while a refused batch is halved down to the row PostgreSQL refuses. */
  limit?: number;
  /** Rows quarantined locally (refused by PostgreSQL). */
  quarantined: number;
}

/** What `ctl status` and the metrics show of the shipper. */
export interface ShipperStatus {
  /** `connected`, `down` (see `reason`), or `starting` before the first attempt. */
  state: "starting" | "connected" | "down";
  /** Why it is down (no password in it), or null. */
  reason: string | null;
  /** The sensor name it ships as. */
  sensor: string;
  /** Where it ships (`host:port/db as user`). */
  target: string;
  /** Rows waiting locally, all streams. */
  backlog_rows: number;
  /** Rows shipped per second, smoothed over a few seconds. */
  rows_per_s: number;
  /** Rows committed centrally since start. */
  rows_shipped: number;
  /** Time of the last commit, ISO 8601, or null. */
  last_ship: string | null;
  /** The last error (no password in it), kept after recovery, or null. */
  last_error: string | null;
  /** When it last happened, ISO 8601, or null. */
  last_error_at: string | null;
  /** Rows PostgreSQL refused, kept locally in `central_quarantine` with the error. */
  rows_quarantined: number;
  /** Rows a store bound (`store.max_events_mb`) deleted before they were shipped, ever. */
  rows_lost: number;
  /** Position, rows shipped, backlog and rows quarantined by stream. */
  streams: Record<
    string,
    { position: number; shipped: number; backlog: number; quarantined: number }
  >;
}

/** The running shipper. */
export class CentralShipper implements Component {
  readonly #ctx: ComponentContext<CentralConfig>;
  readonly #sensor: string;
  readonly #holder: string;
  #conn: CentralConnection | undefined;
  #state: ShipperStatus["state"] = "starting";
  #reason: string | null = null;
  #streams: StreamState[] = [];
  #stopping = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #days = new Set<number>();
  #lastAhead = 0;
  #lastRetention = 0;
  #lastLease = 0;
  #backlogAlerted = false;
  #lastShip: number | null = null;
  #rate = { rows: 0, since: performance.now(), perSecond: 0 };
  #total = 0;
  #lastError: { reason: string; at: number } | null = null;
  /** Rows lost to a store bound, ever (from `central_lost`). */
  #lost = 0;
  /** The stream whose batch is in flight ("" between batches). */
  #current = "";
  /** Backend pids of this daemon's connections (a pool of two), ended if left behind by a cut. */
  readonly #sessions = new Set<number>();
  /** When the operation in flight is given up for lost (performance.now()). */
  #deadline = 0;

  /** A shipper for the component's context (nothing runs until `start`). */
  constructor(ctx: ComponentContext<CentralConfig>) {
    this.#ctx = ctx;
    this.#sensor = sensorName(ctx.section);
    let host = "host";
    try {
      host = Deno.hostname();
    } catch { /* no --allow-sys */ }
    this.#holder = `${host} pid ${Deno.pid} since ${new Date().toISOString()}`;
  }

  get #applicationName(): string {
    return `vigia ${this.#sensor}`;
  }

  /** The sensor name shipped as. */
  get sensor(): string {
    return this.#sensor;
  }

  /** Starts the shipping loop; never waits for PostgreSQL. */
  start(): Promise<void> {
    const store = this.#ctx.store;
    const streams: Stream[] = [eventStream(eventsDbPath(store), this.#sensor)];
    streams.push(
      deviceStream(store, this.#sensor),
      alertStream(store, this.#sensor),
      scanStream(store, this.#sensor),
      veridnsStream(store, this.#sensor),
    );
    const local = new Map(
      store.query<{ stream: string; position: number }>(
        `SELECT stream, position FROM ${SHIPPED_TABLE}`,
      ).map((r) => [r.stream, r.position]),
    );
    const quarantined = new Map(
      store.query<{ stream: string; n: number }>(
        `SELECT stream, count(*) AS n FROM ${QUARANTINE_TABLE} GROUP BY stream`,
      ).map((r) => [r.stream, Number(r.n)]),
    );
    this.#streams = streams.map((stream) => ({
      stream,
      position: local.get(stream.name) ?? 0,
      shipped: 0,
      backlog: 0,
      lastRead: 0,
      dedupe: false,
      positionTime: null,
      quarantined: quarantined.get(stream.name) ?? 0,
    }));
    const last = store.get<{ error: string; at: number }>(
      `SELECT error, at FROM ${ERRORS_TABLE} ORDER BY at DESC LIMIT 1`,
    );
    if (last) this.#lastError = { reason: last.error, at: Number(last.at) };
    this.#lost = Number(
      store.get<{ n: number | null }>(`SELECT sum(rows) AS n FROM ${LOST_TABLE}`)?.n ?? 0,
    );
    this.#registerMetrics();
    this.#loop = this.#run();
    return Promise.resolve();
  }

  /** Stops after the batch in flight (bounded by the daemon's stop timeout). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    for (const s of this.#streams) s.stream.close?.();
  }

  /** Wakes the loop now (a test or `ctl` may want a flush). */
  poke(): void {
    this.#wake?.();
  }

  /** Connected or down (with the reason), backlog, rate. */
  status(): Record<string, unknown> {
    return { ...this.snapshot() };
  }

  /** Rows shipped and the backlog by stream. */
  stats(): Record<string, unknown> {
    const s = this.snapshot();
    return { rows_shipped: s.rows_shipped, backlog_rows: s.backlog_rows, streams: s.streams };
  }

  /** The current status. */
  snapshot(): ShipperStatus {
    const streams: ShipperStatus["streams"] = {};
    let backlog = 0, quarantined = 0;
    for (const s of this.#streams) {
      streams[s.stream.name] = {
        position: s.position,
        shipped: s.shipped,
        backlog: s.backlog,
        quarantined: s.quarantined,
      };
      backlog += s.backlog;
      quarantined += s.quarantined;
    }
    let target = "";
    try {
      target = this.#conn ? targetLabel(this.#conn.target) : "";
    } catch { /* not parsed */ }
    return {
      state: this.#state,
      reason: this.#reason,
      sensor: this.#sensor,
      target,
      backlog_rows: backlog,
      rows_per_s: Math.round(this.#rate.perSecond),
      rows_shipped: this.#total,
      last_ship: this.#lastShip === null ? null : new Date(this.#lastShip).toISOString(),
      last_error: this.#lastError?.reason ?? null,
      last_error_at: this.#lastError ? new Date(this.#lastError.at).toISOString() : null,
      rows_quarantined: quarantined,
      rows_lost: this.#lost,
      streams,
    };
  }

  #registerMetrics(): void {
    const scope = this.#ctx.metrics;
    scope.collect({
      name: "vigia_central_backlog_rows",
      help: "Rows stored locally that wait to be shipped to the central PostgreSQL, by stream.",
      type: "gauge",
      labels: ["stream"],
    }, (emit) => {
      for (const s of this.#streams) emit([s.stream.name], s.backlog);
    });
    scope.collect({
      name: "vigia_central_rows_shipped_total",
      help: "Rows committed to the central PostgreSQL since start, by stream.",
      type: "counter",
      labels: ["stream"],
    }, (emit) => {
      for (const s of this.#streams) emit([s.stream.name], s.shipped);
    });
    scope.collect({
      name: "vigia_central_rows_quarantined",
      help:
        "Rows the central PostgreSQL refused, kept locally in central_quarantine with the error, by stream.",
      type: "gauge",
      labels: ["stream"],
    }, (emit) => {
      for (const s of this.#streams) emit([s.stream.name], s.quarantined);
    });
    scope.collect({
      name: "vigia_central_rows_lost",
      help:
        "Rows a store bound (store.max_events_mb) deleted before they were shipped to the central PostgreSQL, ever.",
      type: "gauge",
    }, (emit) => emit([], this.#lost));
    scope.collect({
      name: "vigia_central_up",
      help: "1 when the shipper is connected to the central PostgreSQL.",
      type: "gauge",
    }, (emit) => emit([], this.#state === "connected" ? 1 : 0));
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  async #run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    while (!this.#stopping) {
      try {
        if (!this.#conn) await this.#connect();
        const moved = await this.#watched(() => this.#cycle());
        backoff = BACKOFF_MIN_MS;
        if (!moved) await this.#sleep(this.#ctx.section.flush_interval);
      } catch (e) {
        const conn = this.#conn;
        const reason = conn ? conn.describe(e) : (e as Error).message;
        if (this.#state !== "down" || this.#reason !== reason) {
          this.#ctx.log.warn("central store down", { reason, retry_ms: backoff });
        }
        this.#noteError(reason, this.#current);
        this.#current = "";
        this.#state = "down";
        this.#reason = reason;
        this.#conn = undefined;
        await conn?.close().catch(() => {});
        this.#refreshBacklog();
        this.#checkBacklogAlert();
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
    }
    this.#state = "down";
    this.#reason = "stopped";
    await this.#conn?.close().catch(() => {});
    this.#conn = undefined;
  }

  /** Records the last error locally (always) and for `vigia central status` at the next connect. */
  #noteError(reason: string, stream: string): void {
    const at = Date.now();
    this.#lastError = { reason, at };
    try {
      this.#ctx.store.run(
        `INSERT INTO ${ERRORS_TABLE} (stream, error, at, reported) VALUES (?, ?, ?, 0)
         ON CONFLICT (stream) DO UPDATE SET error = excluded.error, at = excluded.at, reported = 0`,
        stream,
        reason,
        at,
      );
    } catch (e) {
      this.#ctx.log.error("cannot record the central error locally", {
        error: (e as Error).message,
      });
    }
  }

  /** Writes the errors recorded locally since the last connection into `vigia.shipping`. */
  async #reportErrors(sql: CentralConnection["sql"]): Promise<void> {
    const store = this.#ctx.store;
    const pending = store.query<{ stream: string; error: string; at: number }>(
      `SELECT stream, error, at FROM ${ERRORS_TABLE} WHERE reported = 0 ORDER BY at`,
    );
    for (const p of pending) {
      const at = new Date(Number(p.at));
      await sql`UPDATE vigia.shipping SET last_error = ${p.error}, last_error_at = ${at}
        WHERE sensor = ${this.#sensor} AND (${p.stream} = '' OR stream = ${p.stream})
          AND (last_error_at IS NULL OR last_error_at <= ${at})`;
      store.run(
        `UPDATE ${ERRORS_TABLE} SET reported = 1 WHERE stream = ? AND at = ?`,
        p.stream,
        p.at,
      );
    }
  }

  /** Moves the deadline of the operation in flight: it made progress. */
  #progress(): void {
    this.#deadline = performance.now() + this.#ctx.section.timeout;
  }

  /**
   * Runs `work` on the current connection and gives it up (the connection
   * destroyed, a {@linkcode NoAnswer} thrown) when it makes no progress for
   * `central.timeout`: a blackholed network never answers nor resets.
   */
  async #watched<T>(work: () => Promise<T>): Promise<T> {
    const conn = this.#conn!;
    const timeout = this.#ctx.section.timeout;
    this.#progress();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      const check = () => {
        const left = this.#deadline - performance.now();
        if (left > 0) {
          timer = setTimeout(check, left);
          return;
        }
        reject(new NoAnswer(conn.target, timeout));
        // Rejects whatever is in flight on it (CONNECTION_DESTROYED).
        conn.sql.end({ timeout: 0 }).catch(() => {});
      };
      timer = setTimeout(check, timeout);
    });
    const done = work();
    done.catch(() => {});
    try {
      return await Promise.race([done, stalled]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #connect(): Promise<void> {
    const conn = connectCentral(this.#ctx.section, {
      applicationName: this.#applicationName,
      connections: BULK_IN_FLIGHT,
    });
    this.#conn = conn;
    await this.#watched(() => this.#open(conn));
  }

  /**
   * Ends this sensor's sessions left behind: ours from before a network
   * cut (the server cannot tell a silent network from an idle client, so
   * the old backend would hold its row locks for hours), or a holder's whose
   * lease ran out. Only sessions of the same role, which it may end.
   */
  async #endStaleSessions(sql: CentralConnection["sql"]): Promise<void> {
    const ours = `{${[...this.#sessions].join(",")}}`;
    const ended = await sql`
      SELECT a.pid, pg_terminate_backend(a.pid, 5000) AS ended
      FROM vigia.sensors s JOIN pg_stat_activity a
        ON a.pid = s.holder_pid OR (s.holder = ${this.#holder} AND a.pid = ANY(${ours}::int[])
          AND a.application_name = ${this.#applicationName})
      WHERE s.name = ${this.#sensor} AND a.pid <> pg_backend_pid() AND a.usename = current_user
        AND (s.holder = ${this.#holder} OR s.lease_until < now())`;
    this.#sessions.clear();
    for (const r of ended) {
      this.#ctx.log.info("ended a stale central session of this sensor", {
        backend_pid: r.pid,
        ended: r.ended,
      });
    }
  }

  async #open(conn: CentralConnection): Promise<void> {
    const section = this.#ctx.section;
    const sql = conn.sql;
    if (section.auto_migrate) {
      const r = await migrateCentral(sql, "vigia");
      if (r.from !== r.to) {
        this.#ctx.log.info("central schema migrated", { from: r.from, to: r.to });
      }
    } else await requireSchema(sql);
    await this.#endStaleSessions(sql);
    await this.#takeLease(sql);
    // PostgreSQL's positions are the truth: they moved with the rows.
    const rows = await sql<{ stream: string; position: number; position_time: number | null }[]>`
      SELECT stream, position, position_time FROM vigia.shipping WHERE sensor = ${this.#sensor}`;
    const central = new Map(rows.map((r) => [r.stream, r]));
    for (const s of this.#streams) {
      const row = central.get(s.stream.name);
      if (!row) {
        await sql`INSERT INTO vigia.shipping (sensor, stream) VALUES (${this.#sensor}, ${s.stream.name})
          ON CONFLICT DO NOTHING`;
      }
      s.position = Number(row?.position ?? 0);
      s.positionTime = row?.position_time === null || row?.position_time === undefined
        ? null
        : Number(row.position_time);
      s.dedupe = false;
      this.#checkPosition(s);
    }
    await this.#reportErrors(sql);
    this.#days.clear();
    this.#state = "connected";
    this.#reason = null;
    this.#ctx.log.info("central store connected", {
      target: targetLabel(conn.target),
      sensor: this.#sensor,
    });
  }

  /**
   * A central position beyond every local row means the rows it counted are
   * gone (a new store, every event pruned, the newest capture deleted) and
   * SQLite will hand their ids out again: ship again from the start,
   * through the staging table, skipping rows already present (the key holds
   * the time, so a reused id is a new row).
   */
  #checkPosition(s: StreamState): void {
    if (s.stream.mode !== "append" || s.position === 0 || s.dedupe) return;
    const backlog = s.stream.backlog(0);
    const time = s.stream.timeAt?.(s.position);
    const reused = time !== undefined && s.positionTime !== null && time !== s.positionTime;
    if (backlog < s.position || reused) {
      this.#ctx.log.warn("central position is past the local rows: re-sending without duplicates", {
        stream: s.stream.name,
        central_position: s.position,
        local_last: backlog,
      });
      // From the start: rows may already reuse ids up to the highest one seen.
      s.position = 0;
      s.dedupe = true;
    }
  }

  async #takeLease(sql: CentralConnection["sql"]): Promise<void> {
    const rows = await sql`
      INSERT INTO vigia.sensors AS s (name, holder, holder_pid, lease_until, version, last_seen)
      VALUES (${this.#sensor}, ${this.#holder}, pg_backend_pid(),
        now() + make_interval(secs => ${LEASE_SECONDS}), 'vigia', now())
      ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, holder_pid = EXCLUDED.holder_pid,
        lease_until = EXCLUDED.lease_until, last_seen = now()
      WHERE s.holder = EXCLUDED.holder OR s.holder IS NULL OR s.lease_until < now()
        OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = s.holder_pid)
      RETURNING name`;
    if (rows.length === 0) {
      const [h] = await sql`SELECT holder FROM vigia.sensors WHERE name = ${this.#sensor}`;
      throw new SensorInUse(this.#sensor, String(h?.holder ?? "unknown"));
    }
    this.#lastLease = Date.now();
  }

  async #renewLease(tx: TxSql): Promise<void> {
    const rows =
      await tx`UPDATE vigia.sensors SET lease_until = now() + make_interval(secs => ${LEASE_SECONDS}),
        holder_pid = pg_backend_pid(), last_seen = now()
      WHERE name = ${this.#sensor} AND holder = ${this.#holder} RETURNING name`;
    if (rows.length === 0) {
      const [h] = await tx`SELECT holder FROM vigia.sensors WHERE name = ${this.#sensor}`;
      throw new SensorInUse(this.#sensor, String(h?.holder ?? "nobody"));
    }
    this.#lastLease = Date.now();
  }

  /** One pass over the streams; true when some rows moved (then the next pass comes at once). */
  async #cycle(): Promise<boolean> {
    const conn = this.#conn!;
    const now = Date.now();
    if (now - this.#lastAhead > 3_600_000) {
      // Partitions made ahead: today and the next two days.
      await ensurePartitions(conn.sql, now, now + 2 * 86_400_000);
      this.#lastAhead = now;
    }
    const keep = this.#ctx.section.retention_days;
    if (keep > 0 && now - this.#lastRetention > 3_600_000) {
      const dropped = await dropOldPartitions(conn.sql, keep);
      if (dropped > 0) {
        this.#ctx.log.info("central partitions dropped", { dropped, keep_days: keep });
      }
      this.#lastRetention = now;
    }
    await this.#reportLost(conn.sql);
    let moved = false;
    for (const s of this.#streams) {
      if (this.#stopping) break;
      const min = s.stream.minIntervalMs ?? 0;
      if (min > 0 && now - s.lastRead < min) continue;
      s.lastRead = now;
      this.#current = s.stream.name;
      if (await this.#shipOrBisect(s)) moved = true;
      this.#current = "";
      this.#progress();
    }
    if (!moved && Date.now() - this.#lastLease > (LEASE_SECONDS * 1000) / 3) {
      await conn.sql.begin((tx) => this.#renewLease(tx));
    }
    this.#refreshBacklog();
    this.#checkBacklogAlert();
    this.#tickRate(0);
    return moved;
  }

  /** Alerts once for each loss a store bound recorded (`central_lost`), whether connected or not. */
  #checkLost(): void {
    const store = this.#ctx.store;
    const fresh = store.query<{ id: number; stream: string; rows: number; at: number }>(
      `SELECT id, stream, rows, at FROM ${LOST_TABLE} WHERE alerted = 0 ORDER BY id`,
    );
    for (const l of fresh) {
      this.#lost += Number(l.rows);
      store.run(`UPDATE ${LOST_TABLE} SET alerted = 1 WHERE id = ?`, l.id);
      this.#ctx.log.error("rows deleted locally before they were shipped to the central store", {
        stream: l.stream,
        rows: l.rows,
      });
      this.#ctx.alerts.publish({
        kind: "central-rows-lost",
        severity: "error",
        subject:
          `${l.rows} ${l.stream} rows were deleted by the store bound before they reached the central store`,
        details: {
          sensor: this.#sensor,
          stream: l.stream,
          rows: Number(l.rows),
          lost_total: this.#lost,
          bound: "store.max_events_mb",
        },
      });
    }
  }

  /** Adds the losses not yet counted centrally to `vigia.shipping.rows_lost`. */
  async #reportLost(sql: CentralConnection["sql"]): Promise<void> {
    const store = this.#ctx.store;
    const pending = store.query<{ id: number; stream: string; rows: number }>(
      `SELECT id, stream, rows FROM ${LOST_TABLE} WHERE reported = 0 ORDER BY id`,
    );
    for (const l of pending) {
      await sql`UPDATE vigia.shipping SET rows_lost = rows_lost + ${Number(l.rows)}
        WHERE sensor = ${this.#sensor} AND stream = ${l.stream}`;
      store.run(`UPDATE ${LOST_TABLE} SET reported = 1 WHERE id = ?`, l.id);
    }
  }

  #refreshBacklog(): void {
    try {
      this.#checkLost();
    } catch (e) {
      this.#ctx.log.error("cannot read central_lost", { error: (e as Error).message });
    }
    for (const s of this.#streams) {
      try {
        // The newest rows deleted locally (a capture removed): their ids come again.
        if (this.#state === "connected") this.#checkPosition(s);
        s.backlog = s.stream.backlog(s.position);
      } catch { /* a store being replaced: keep the last figure */ }
    }
  }

  #checkBacklogAlert(): void {
    const total = this.#streams.reduce((n, s) => n + s.backlog, 0);
    const limit = this.#ctx.section.backlog_alert_rows;
    if (!this.#backlogAlerted && total >= limit) {
      this.#backlogAlerted = true;
      this.#ctx.alerts.publish({
        kind: "central-backlog",
        severity: "warning",
        subject: `${total} rows wait to be shipped to the central store`,
        details: { sensor: this.#sensor, backlog_rows: total, limit, reason: this.#reason },
      });
    } else if (this.#backlogAlerted && total === 0) {
      this.#backlogAlerted = false;
      this.#ctx.alerts.publish({
        kind: "central-backlog-drained",
        severity: "info",
        subject: "the central store backlog has drained",
        details: { sensor: this.#sensor },
      });
    }
  }

  #tickRate(rows: number): void {
    const r = this.#rate;
    r.rows += rows;
    const dt = (performance.now() - r.since) / 1000;
    if (dt >= 1) {
      // Exponentially weighted: a figure that moves over a few seconds, not per batch.
      r.perSecond = r.perSecond * 0.5 + (r.rows / dt) * 0.5;
      r.rows = 0;
      r.since = performance.now();
    }
  }

  /**
   * Ships one batch of `s`. A batch PostgreSQL refuses for a row it holds
   * is halved until the refused row is alone; that row is then quarantined
   * locally with the error (counted, alerted, in `central status`) and
   * passed, so the good rows around it ship and nothing waits forever
   * behind one bad row. A batch whose rows are already there (a unique key
   * violated) is sent again through the staging table, skipping them.
   */
  async #shipOrBisect(s: StreamState): Promise<boolean> {
    const size = s.limit ?? this.#ctx.section.batch_rows;
    try {
      const moved = await this.#shipBatch(s);
      // Past the refused row's neighbours: the batches grow back to whole.
      if (s.limit !== undefined) {
        s.limit *= 2;
        if (s.limit >= this.#ctx.section.batch_rows) s.limit = undefined;
      }
      return moved;
    } catch (e) {
      const code = (e as { code?: unknown })?.code;
      if (code === "23505" && s.stream.mode === "append" && !s.dedupe) {
        this.#ctx.log.warn("central rows already present: re-sending without duplicates", {
          stream: s.stream.name,
          position: s.position,
        });
        s.dedupe = true;
        return true;
      }
      if (!rowRejected(e)) throw e;
      const reason = this.#conn!.describe(e) +
        ((e as { where?: string }).where ? ` [${(e as { where?: string }).where}]` : "");
      // A partition dropped meanwhile (central retention, another sensor) is made again.
      this.#days.clear();
      if (size > 1) {
        s.limit = Math.ceil(size / 2);
        this.#ctx.log.warn("central batch refused: halving it to find the row", {
          stream: s.stream.name,
          position: s.position,
          rows: s.limit,
          reason,
        });
        return true;
      }
      await this.#quarantine(s, reason);
      return true;
    }
  }

  /**
   * Passes the next row of `s`, which PostgreSQL refused alone: the central
   * position moves past it with the count and the error, then the row goes
   * to the local quarantine and an alert says so.
   */
  async #quarantine(s: StreamState, reason: string): Promise<void> {
    const { stream } = s;
    // The row as COPY text (the events' bulk path sends binary: the row is read again for this).
    const rows = (await this.#readBatch(s)).slice(0, 1);
    if (rows.length === 0) return;
    const text = encodeRows(rows, stream.encoders).replace(/\n$/, "");
    const last = Math.max(s.position, stream.positionOf(rows[0]));
    const localId = stream.positionOf(rows[0]) || null;
    const expected = s.position;
    await this.#conn!.sql.begin(async (tx) => {
      await this.#lockPosition(tx, s, expected);
      const time = stream.timeAt?.(last) ?? null;
      s.pendingTime = time;
      await tx`UPDATE vigia.shipping SET position = ${last}, position_time = ${time},
          rows_quarantined = rows_quarantined + 1, last_error = ${reason}, last_error_at = now()
        WHERE sensor = ${this.#sensor} AND stream = ${stream.name}`;
    });
    const at = Date.now();
    const store = this.#ctx.store;
    store.run(
      `INSERT INTO ${QUARANTINE_TABLE} (stream, local_id, at, error, row) VALUES (?, ?, ?, ?, ?)`,
      stream.name,
      localId,
      at,
      reason,
      text,
    );
    this.#noteError(reason, stream.name);
    store.run(`UPDATE ${ERRORS_TABLE} SET reported = 1 WHERE stream = ?`, stream.name);
    s.quarantined++;
    s.limit = undefined;
    this.#committed(s, last, 0, rows);
    this.#ctx.log.error("central row refused by PostgreSQL: quarantined locally", {
      stream: stream.name,
      local_id: localId,
      reason,
    });
    this.#ctx.alerts.publish({
      kind: "central-row-refused",
      severity: "warning",
      subject: `PostgreSQL refused a row of ${stream.name}: kept in ${QUARANTINE_TABLE}`,
      details: {
        sensor: this.#sensor,
        stream: stream.name,
        local_id: localId,
        error: reason,
        quarantined: s.quarantined,
      },
    });
  }

  /** Reads the next batch of `s` in chunks, yielding to the event loop between them. */
  async #readBatch(s: StreamState): Promise<LocalRow[]> {
    const { stream } = s;
    const limit = s.limit ?? this.#ctx.section.batch_rows;
    let rows = stream.read(s.position, Math.min(CHUNK_ROWS, limit));
    if (stream.mode === "upsert" || rows.length < CHUNK_ROWS) return rows;
    while (rows.length < limit) {
      await new Promise((r) => setTimeout(r, 0));
      const next = stream.read(
        stream.positionOf(rows[rows.length - 1]),
        Math.min(CHUNK_ROWS, limit - rows.length),
      );
      rows = rows.concat(next);
      if (next.length < CHUNK_ROWS) break;
    }
    return rows;
  }

  /**
   * Ships a stream with a bulk path, batch after batch until it has caught
   * up (or for {@linkcode BULK_SLICE_MS}, then the other streams get their
   * turn). A worker reads and encodes each batch as binary COPY, the next
   * one while this one is in PostgreSQL, and up to
   * {@linkcode BULK_IN_FLIGHT} transactions are in flight on their own
   * connections: while one commits, the next is already in COPY, so the
   * server's work never waits for a round trip and can use a second core.
   *
   * Each transaction checks the position it starts from only after its
   * rows are in and the batch before it committed (if that one failed, this
   * one rolls back), so batches commit in order, each position moving with
   * its rows, and nothing is lost or doubled.
   * While a refused batch is halved, or rows are re-sent without
   * duplicates, one batch at a time.
   */
  async #shipBulk(s: StreamState): Promise<boolean> {
    const { stream } = s;
    const limit = s.limit ?? this.#ctx.section.batch_rows;
    const window = s.dedupe || s.limit !== undefined ? 1 : BULK_IN_FLIGHT;
    const until = performance.now() + BULK_SLICE_MS;
    const pending: Promise<void>[] = [];
    let tail: Promise<void> = Promise.resolve();
    let from = s.position;
    let moved = false;
    let failed = false, failure: unknown;
    try {
      while (!this.#stopping) {
        const batch = await stream.readBatch!(from, limit);
        if (batch.n === 0) break;
        if (batch.invalid > 0) {
          this.#ctx.log.warn("central: values not of their column's type shipped as NULL", {
            stream: stream.name,
            values: batch.invalid,
            after: from,
          });
        }
        await this.#ensureDayList(batch.days);
        const before = tail;
        const sent = this.#copyBatch(s, batch, { expected: from, before });
        // Positions move in batch order, each once its batch and all before it committed.
        tail = Promise.all([before, sent]).then(() => {
          s.pendingTime = batch.lastTime;
          this.#committed(s, batch.last, batch.n, []);
          this.#progress();
        });
        tail.catch(() => {});
        pending.push(tail);
        moved = true;
        from = batch.last;
        if (batch.n < limit || performance.now() > until) break;
        if (pending.length >= window) await pending.shift();
      }
    } catch (e) {
      failed = true;
      failure = e;
    }
    // Every transaction started ends before the next pass; the first failure, in batch order, is the one told.
    for (const r of await Promise.allSettled(pending)) {
      if (r.status === "rejected" && !failed) {
        failed = true;
        failure = r.reason;
      }
    }
    if (failed) throw failure;
    return moved;
  }

  /** One bulk batch in its own transaction (on a free connection of the pool). */
  async #copyBatch(
    s: StreamState,
    batch: EventBatch,
    order: { expected: number; before: Promise<void> },
  ): Promise<void> {
    const { stream } = s;
    const cols = stream.columns.join(", ");
    await this.#conn!.sql.begin(async (tx) => {
      let into = stream.table;
      if (s.dedupe) into = await this.#staging(tx, stream);
      const { writable, finished, drained } = await startCopy(
        tx,
        `COPY ${into} (${cols}) FROM STDIN (FORMAT binary)`,
      );
      const bytes = batch.bytes;
      try {
        for (let at = 0; at < bytes.length; at += WRITE_BYTES) {
          if (!writable.write(bytes.subarray(at, at + WRITE_BYTES))) await drained();
          this.#progress();
        }
      } finally {
        writable.end();
      }
      await finished;
      if (s.dedupe) await this.#mergeStaging(tx, stream, into);
      // After the rows: the batch before must have committed (else this one rolls back),
      // then the position it left is checked under lock.
      await order.before;
      await this.#lockPosition(tx, s, order.expected);
      await this.#recordPosition(tx, s, batch.last, batch.n);
    });
  }

  /**
   * Renews the lease and locks the stream's position in one round trip;
   * throws when the lease is someone else's or the position moved.
   */
  async #lockPosition(tx: TxSql, s: StreamState, expected: number): Promise<void> {
    const [row] = await tx`
      WITH lease AS (
        UPDATE vigia.sensors SET lease_until = now() + make_interval(secs => ${LEASE_SECONDS}),
          holder_pid = pg_backend_pid(), last_seen = now()
        WHERE name = ${this.#sensor} AND holder = ${this.#holder} RETURNING name)
      SELECT sh.position, (SELECT count(*) FROM lease)::int AS leased, pg_backend_pid() AS pid
      FROM vigia.shipping sh WHERE sh.sensor = ${this.#sensor} AND sh.stream = ${s.stream.name}
      FOR UPDATE OF sh`;
    if (!row) throw new Error(`vigia.shipping has no row for ${s.stream.name}: reconnecting`);
    this.#sessions.add(Number(row.pid));
    if (row.leased === 0) {
      const [h] = await tx`SELECT holder FROM vigia.sensors WHERE name = ${this.#sensor}`;
      throw new SensorInUse(this.#sensor, String(h?.holder ?? "nobody"));
    }
    this.#lastLease = Date.now();
    if (Number(row.position) !== expected && !s.dedupe) {
      throw new Error(
        `the central position of ${s.stream.name} moved (${row.position}, expected ${expected}): reconnecting`,
      );
    }
  }

  async #staging(tx: TxSql, stream: Stream): Promise<string> {
    await tx.unsafe(
      `CREATE TEMP TABLE IF NOT EXISTS vigia_staging_${stream.name} (LIKE ${stream.table}) ON COMMIT DELETE ROWS`,
    );
    return `pg_temp.vigia_staging_${stream.name}`;
  }

  async #mergeStaging(tx: TxSql, stream: Stream, staging: string): Promise<void> {
    const cols = stream.columns.join(", ");
    const conflict = stream.conflict ??
      { key: ["time", "sensor", "local_id"], update: [] as string[] };
    const action = conflict.update.length
      ? `DO UPDATE SET ${conflict.update.map((c) => `${c} = EXCLUDED.${c}`).join(", ")}`
      : "DO NOTHING";
    await tx.unsafe(
      `INSERT INTO ${stream.table} (${cols}) SELECT ${cols} FROM ${staging}
       ON CONFLICT (${conflict.key.join(", ")}) ${action}`,
    );
  }

  async #recordPosition(tx: TxSql, s: StreamState, last: number, count: number): Promise<void> {
    const time = s.stream.timeAt?.(last) ?? null;
    s.pendingTime = time;
    await tx`UPDATE vigia.shipping SET position = ${last}, position_time = ${time},
        rows_shipped = rows_shipped + ${count},
        backlog = ${Math.max(0, s.stream.backlog(last))}, last_ship = now()
      WHERE sensor = ${this.#sensor} AND stream = ${s.stream.name}`;
  }

  /** After PostgreSQL committed: the positions move, and only now may local retention forget the rows. */
  #committed(s: StreamState, last: number, count: number, rows: readonly LocalRow[]): void {
    const { stream } = s;
    s.position = last;
    s.positionTime = s.pendingTime ?? null;
    s.shipped += count;
    this.#total += count;
    this.#lastShip = Date.now();
    if (s.dedupe && stream.backlog(last) === 0) s.dedupe = false;
    stream.shipped?.(rows);
    // Every numbered stream (alerts too, though upserted): local retention keeps what is above.
    if (stream.mode === "append" || last > 0) {
      this.#ctx.store.run(
        `INSERT INTO ${SHIPPED_TABLE} (stream, position, shipped_at) VALUES (?, ?, ?)
         ON CONFLICT (stream) DO UPDATE SET position = excluded.position, shipped_at = excluded.shipped_at`,
        stream.name,
        last,
        this.#lastShip,
      );
    }
    this.#tickRate(count);
  }

  /** Ships one batch of `s`; true when rows were committed. */
  async #shipBatch(s: StreamState): Promise<boolean> {
    const { stream } = s;
    if (stream.readBatch) return await this.#shipBulk(s);
    let rows = await this.#readBatch(s);
    // An upsert stream returns changed rows beyond the limit: a halved batch is cut to it.
    if (s.limit !== undefined) rows = rows.slice(0, s.limit);
    if (rows.length === 0) return false;
    const conn = this.#conn!;
    if (stream.name === "events") await this.#ensureDays(rows);
    const expected = s.position;
    let last = s.position;
    for (const r of rows) last = Math.max(last, stream.positionOf(r));
    const count = rows.length;
    const upsert = stream.mode === "upsert" || s.dedupe;
    const cols = stream.columns.join(", ");
    await conn.sql.begin(async (tx) => {
      await this.#lockPosition(tx, s, expected);
      const into = upsert ? await this.#staging(tx, stream) : stream.table;
      const { writable, finished, drained } = await startCopy(
        tx,
        `COPY ${into} (${cols}) FROM STDIN`,
      );
      try {
        for (let i = 0; i < rows.length; i += CHUNK_ROWS) {
          const text = encodeRows(rows.slice(i, i + CHUNK_ROWS), stream.encoders);
          if (!writable.write(text)) {
            await drained();
          } else if (i + CHUNK_ROWS < rows.length) {
            await new Promise((r) => setTimeout(r, 0));
          }
          this.#progress();
        }
      } finally {
        writable.end();
      }
      await finished;
      if (upsert) await this.#mergeStaging(tx, stream, into);
      await this.#recordPosition(tx, s, last, count);
    });
    this.#committed(s, last, count, rows);
    return true;
  }

  #missingDays(rows: readonly LocalRow[]): number[] {
    const missing: number[] = [];
    let prev = -1;
    for (const r of rows) {
      const day = Math.floor(Number(r.time) / 86_400_000_000);
      if (day === prev) continue;
      prev = day;
      if (!this.#days.has(day) && !missing.includes(day)) missing.push(day);
    }
    return missing;
  }

  async #ensureDays(rows: readonly LocalRow[]): Promise<void> {
    await this.#ensureDayList(this.#missingDays(rows));
  }

  async #ensureDayList(days: readonly number[]): Promise<void> {
    for (const day of days) {
      if (this.#days.has(day)) continue;
      await ensurePartitions(this.#conn!.sql, day * 86_400_000, day * 86_400_000);
      this.#days.add(day);
    }
  }
}
