/**
 * Helpers of the central tests: daemons shipping into a test PostgreSQL,
 * local events made in bulk, and the "central equals local" check.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { fillEvents } from "../sniffer/_bulk.ts";
import type { TestPostgres } from "./_pg.ts";
import type { TestDaemon } from "../_helpers.ts";

/** The `[central]` section for a daemon shipping to `url` as `sensor`. */
export function centralToml(
  pg: TestPostgres,
  sensor: string,
  extra: Record<string, string | number | boolean> = {},
  url = pg.url,
): string {
  const keys: Record<string, string | number | boolean> = {
    enabled: true,
    url,
    password_file: pg.passwordFile,
    sensor,
    tls: "disable",
    flush_interval: "50ms",
    auto_migrate: true,
    ...extra,
  };
  const lines = ["[central]"];
  for (const [k, v] of Object.entries(keys)) {
    lines.push(`${k} = ${typeof v === "string" ? `"${v}"` : v}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Adds `rows` events to the events database at `path`: a fresh synthetic
 * set when it is empty, else copies of the first rows a second later.
 */
export function addEvents(path: string, rows: number): void {
  let empty = true;
  try {
    Deno.statSync(path);
    const db = new DatabaseSync(path);
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get();
    empty = !has || !db.prepare("SELECT 1 FROM events LIMIT 1").get();
    db.close();
  } catch { /* missing: fill */ }
  if (empty) {
    fillEvents(path, { rows, clients: 50, days: 2 });
    return;
  }
  const db = new DatabaseSync(path);
  db.exec("PRAGMA busy_timeout = 10000");
  const cols = (db.prepare("PRAGMA table_info(events)").all() as { name: string }[])
    .map((c) => c.name).filter((c) => c !== "id");
  const list = cols.join(", ");
  const select = cols.map((c) => (c === "time" ? "time + 1000000" : c)).join(", ");
  db.prepare(
    `INSERT INTO events (${list}) SELECT ${select} FROM events ORDER BY id LIMIT ?`,
  ).run(rows);
  db.close();
}

/** Local event ids of the events database. */
export function localEventSummary(path: string): { count: number; sum: number; max: number } {
  const db = new DatabaseSync(path, { readOnly: true });
  const r = db.prepare("SELECT count(*) AS c, total(id) AS s, max(id) AS m FROM events").get() as {
    c: number;
    s: number;
    m: number | null;
  };
  db.close();
  return { count: r.c, sum: r.s, max: r.m ?? 0 };
}

/** Central events of one sensor: count, sum of local ids, duplicates. */
export async function centralEventSummary(
  pg: TestPostgres,
  sensor: string,
  db = "vigia",
): Promise<{ count: number; sum: number; max: number; dups: number }> {
  let out: string;
  try {
    out = await pg.psql(
      `SELECT count(*), coalesce(sum(local_id), 0), coalesce(max(local_id), 0),
         count(*) - count(DISTINCT local_id) FROM vigia.events WHERE sensor = '${sensor}'`,
      { db },
    );
  } catch (e) {
    // The daemon has not made the schema yet.
    if (/relation "vigia.events" does not exist/.test((e as Error).message)) {
      return { count: 0, sum: 0, max: 0, dups: 0 };
    }
    throw e;
  }
  const [count, sum, max, dups] = out.trim().split("|").map(Number);
  return { count, sum, max, dups };
}

/** Polls `probe` until it returns true (bounded); throws with `what` on time-out. */
export async function until(
  what: string,
  probe: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until central holds exactly the local events of `sensor` (same count and ids, no doubles). */
export async function assertCentralEqualsLocal(
  pg: TestPostgres,
  sensor: string,
  eventsDb: string,
  options: { db?: string; timeoutMs?: number } = {},
): Promise<void> {
  let last: unknown;
  await until(`central events of ${sensor} to equal local`, async () => {
    const local = localEventSummary(eventsDb);
    // Before the daemon made the schema, or while the server restarts: not yet.
    const central = await centralEventSummary(pg, sensor, options.db).catch(() => undefined);
    if (!central) return false;
    last = { local, central };
    return central.count === local.count && central.sum === local.sum && central.dups === 0;
  }, options.timeoutMs ?? 30_000).catch((e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)}`);
  });
  const local = localEventSummary(eventsDb);
  const central = await centralEventSummary(pg, sensor, options.db);
  assert.equal(central.count, local.count);
  assert.equal(central.sum, local.sum);
  assert.equal(central.max, local.max);
  assert.equal(central.dups, 0);
}

/**
 * A state dir of its own, so a daemon can be killed and started again on
 * the same store: its `[paths]` and `[store]` sections and its two
 * databases. Local retention is off unless `retentionDays` is given (the
 * synthetic events are of 2026-11-01).
 */
export async function sensorDir(
  retentionDays = 0,
): Promise<{ dir: string; paths: string; eventsDb: string; storeDb: string }> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-sensor-" });
  await Deno.mkdir(`${dir}/lib`, { recursive: true });
  return {
    dir,
    paths:
      `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n\n` +
      `[store]\nretention_days = ${retentionDays}\n\n`,
    eventsDb: `${dir}/lib/vigia-events.db`,
    storeDb: `${dir}/lib/vigia.db`,
  };
}

/** The central component's details in a running daemon's `ctl status`. */
export async function shipperStatus(d: TestDaemon): Promise<Record<string, unknown>> {
  const s = await d.call("status") as { components: { name: string; details: unknown }[] };
  return s.components.find((c) => c.name === "central")!.details as Record<string, unknown>;
}
