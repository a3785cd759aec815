/**
 * `deno run -A scripts/bench/central.ts [--rows N] [--runs R]`: ships N
 * stored events (default 1,000,000) from a sensor's store to a local
 * PostgreSQL with the shipper (`lib/central`), and copies the same rows as
 * CSV with `psql \copy` into the same table in the same run, as the
 * reference. Prints rows/s of each and their ratio, per run.
 *
 * Needs Debian's postgresql (15) and root (PostgreSQL runs as `postgres`).
 * The machine may be shared: quote the ratio.
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
import { fillEvents } from "../../test/sniffer/_bulk.ts";
import { startPostgres } from "../../test/central/_pg.ts";
import { connectCentral } from "../../lib/central/connect.ts";
import type { ComponentContext } from "../../lib/daemon/types.ts";
import type { CentralConfig } from "../../lib/central/config.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "1000000" },
    runs: { type: "string", default: "2" },
    "batch-rows": { type: "string", default: "20000" },
  },
});
const wanted = Number(values.rows), runs = Number(values.runs);

const pg = await startPostgres();
const dir = await Deno.makeTempDir({ prefix: "vigia-bench-central-" });
try {
  const t0 = performance.now();
  // The synthetic set adds DHCP exchanges to the DNS rows: count what is there.
  fillEvents(`${dir}/vigia-events.db`, { rows: wanted, clients: 500, days: 2 });
  const rows =
    (new DatabaseSync(`${dir}/vigia-events.db`).prepare("SELECT count(*) AS n FROM events")
      .get() as { n: number }).n;
  console.log(`filled ${rows} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const store = openStore(`${dir}/vigia.db`);
  store.migrate("central", centralMigrations);
  for (let run = 1; run <= runs; run++) {
    const url = await pg.freshDatabase(`bench${run}`);
    const section: CentralConfig = {
      ...Object.fromEntries(
        Object.entries(centralSection.fields).map((
          [k, f],
        ) => [k, (f as { default: unknown }).default]),
      ),
      enabled: true,
      url,
      password_file: pg.passwordFile,
      sensor: "bench",
      tls: "disable",
      flush_interval: 20,
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
    const s0 = performance.now();
    await shipper.start();
    for (;;) {
      const s = shipper.snapshot();
      if (s.streams.events?.shipped >= rows) break;
      if (performance.now() - s0 > 600_000) throw new Error("shipping took over 10 minutes");
      await new Promise((r) => setTimeout(r, 50));
    }
    const shipS = (performance.now() - s0) / 1000;
    await shipper.stop();

    // Reference: the same rows as CSV, loaded with psql \copy into the same table.
    const csv = `${dir}/events.csv`;
    const cols = (await admin.sql`SELECT string_agg(column_name, ',' ORDER BY ordinal_position) AS c
      FROM information_schema.columns WHERE table_schema = 'vigia' AND table_name = 'events'`)[0].c;
    await pg.psql(`\\copy (SELECT ${cols} FROM vigia.events) TO '${csv}' CSV`, {
      db: `bench${run}`,
    });
    await pg.psql(`TRUNCATE vigia.events`, { db: `bench${run}` });
    const p0 = performance.now();
    await pg.psql(`\\copy vigia.events (${cols}) FROM '${csv}' CSV`, { db: `bench${run}` });
    const psqlS = (performance.now() - p0) / 1000;
    const n = Number(await pg.psql("SELECT count(*) FROM vigia.events", { db: `bench${run}` }));
    if (n !== rows) throw new Error(`psql loaded ${n} rows, expected ${rows}`);
    await admin.close();
    await Deno.remove(csv);
    console.log(
      `run ${run}: shipper ${Math.round(rows / shipS)} rows/s (${shipS.toFixed(2)} s), ` +
        `psql \\copy ${Math.round(rows / psqlS)} rows/s (${psqlS.toFixed(2)} s), ` +
        `ratio ${(psqlS / shipS).toFixed(2)}x`,
    );
  }
  store.close();
} finally {
  await pg.close();
  await Deno.remove(dir, { recursive: true });
}
