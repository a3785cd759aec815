/**
 * `deno run -A scripts/bench/central_drain.ts [--rows N] [--rate R] [--runs K]`:
 * the backlog after an outage. A sensor's store holds N unshipped events
 * (default 12,000,000: 10 minutes at 20,000 events/s), PostgreSQL comes
 * back, and the shipper drains the backlog while new events keep arriving
 * at R per second (default 20,000). Prints, per run, the time until the
 * backlog is down to at most one second of arrivals, and the rows/s
 * shipped meanwhile. Target: under 2 minutes.
 *
 * The store is generated once in SQL and kept in `.bench/` (the arrivals
 * of a run are deleted before the next). Needs Debian's postgresql (15) and
 * root (PostgreSQL runs as `postgres`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DatabaseSync } from "node:sqlite";
import { openStore } from "../../lib/store/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { MetricsRegistry } from "../../lib/metrics/registry.ts";
import { centralSection, CentralShipper, migrateCentral } from "../../lib/central/mod.ts";
import { centralMigrations } from "../../lib/central/shipper.ts";
import { connectCentral } from "../../lib/central/connect.ts";
import { fillEvents } from "../../test/sniffer/_bulk.ts";
import { startPostgres } from "../../test/central/_pg.ts";
import type { ComponentContext } from "../../lib/daemon/types.ts";
import type { CentralConfig } from "../../lib/central/config.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "12000000" },
    rate: { type: "string", default: "20000" },
    runs: { type: "string", default: "1" },
    "batch-rows": { type: "string", default: "20000" },
  },
});
const wanted = Number(values.rows), rate = Number(values.rate), runs = Number(values.runs);
const TICK_MS = 100;

const root = new URL("../../", import.meta.url).pathname;
const cacheDir = `${root}.bench`;
await Deno.mkdir(cacheDir, { recursive: true });
const eventsDb = `${cacheDir}/drain-${wanted}/vigia-events.db`;
try {
  Deno.statSync(eventsDb);
} catch {
  await Deno.mkdir(`${cacheDir}/drain-${wanted}`, { recursive: true });
  const t0 = performance.now();
  fillEvents(eventsDb, { rows: wanted, clients: 500, days: 1 });
  console.log(`generated ${wanted} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const events = new DatabaseSync(eventsDb);
events.exec("PRAGMA busy_timeout = 10000");
const baseMax = Number(
  (events.prepare("SELECT max(id) AS m FROM events").get() as { m: number }).m,
);
const cols = (events.prepare("PRAGMA table_info(events)").all() as { name: string }[])
  .map((c) => c.name).filter((c) => c !== "id");
// Arrivals: copies of stored rows, a day later, 1/10 s of them at a time.
const arrive = events.prepare(
  `INSERT INTO events (${cols.join(", ")}) SELECT ${
    cols.map((c) => (c === "time" ? "time + 86400000000" : c)).join(", ")
  } FROM events WHERE id > ? AND id <= ?`,
);
const perTick = Math.round((rate * TICK_MS) / 1000);

const pg = await startPostgres();
// The shipper finds the events database beside the store: a fresh store there.
const storePath = `${cacheDir}/drain-${wanted}/vigia.db`;
for (const f of ["", "-wal", "-shm"]) await Deno.remove(storePath + f).catch(() => {});
try {
  const store = openStore(storePath);
  store.migrate("central", centralMigrations);
  for (let run = 1; run <= runs; run++) {
    events.prepare("DELETE FROM events WHERE id > ?").run(baseMax);
    const url = await pg.freshDatabase(`drain${run}`);
    const section = {
      ...Object.fromEntries(
        Object.entries(centralSection.fields).map((
          [k, f],
        ) => [k, (f as { default: unknown }).default]),
      ),
      enabled: true,
      url,
      password_file: pg.passwordFile,
      sensor: "drain",
      tls: "disable",
      flush_interval: 100,
      batch_rows: Number(values["batch-rows"]),
      auto_migrate: true,
    } as CentralConfig;
    const admin = connectCentral(section);
    await migrateCentral(admin.sql);
    store.run("DELETE FROM central_shipped");
    const ctx = {
      section,
      store,
      alerts: { publish: () => true },
      log: createLogger({ level: "warn" }),
      metrics: new MetricsRegistry().scope("central"),
    } as unknown as ComponentContext<CentralConfig>;
    const shipper = new CentralShipper(ctx);
    let arrived = 0, copied = 0;
    const s0 = performance.now();
    // New events keep coming at `rate` while it drains (paced by the clock, not by the timer).
    const arrivals = setInterval(() => {
      const due = Math.floor(((performance.now() - s0) / 1000) * rate);
      while (arrived < due) {
        const n = Math.min(perTick, due - arrived);
        arrive.run(copied, copied + n);
        copied = (copied + n) % (baseMax - perTick);
        arrived += n;
      }
    }, TICK_MS);
    await shipper.start();
    let drainedS = 0, shippedAtDrain = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const s = shipper.snapshot();
      const last = baseMax + arrived;
      const backlog = last - s.streams.events.position;
      if (backlog <= rate) {
        drainedS = (performance.now() - s0) / 1000;
        shippedAtDrain = s.streams.events.shipped;
        break;
      }
      if (performance.now() - s0 > 280_000) {
        drainedS = NaN;
        shippedAtDrain = s.streams.events.shipped;
        break;
      }
    }
    clearInterval(arrivals);
    await shipper.stop();
    const n = Number(
      (await admin.sql`SELECT count(*)::bigint AS n FROM vigia.events`)[0].n,
    );
    await admin.close();
    const elapsed = Number.isNaN(drainedS) ? (performance.now() - s0) / 1000 : drainedS;
    console.log(
      `run ${run}: backlog ${baseMax} events + ${rate}/s arriving: ` +
        (Number.isNaN(drainedS)
          ? `NOT drained after ${elapsed.toFixed(1)} s`
          : `drained in ${drainedS.toFixed(1)} s`) +
        ` (${shippedAtDrain} rows shipped, ${Math.round(shippedAtDrain / elapsed)} rows/s; ` +
        `${arrived} arrived meanwhile; ${n} rows in vigia.events at stop)`,
    );
  }
  store.close();
} finally {
  events.prepare("DELETE FROM events WHERE id > ?").run(baseMax);
  events.close();
  await pg.close();
}
