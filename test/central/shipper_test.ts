/**
 * The shipper against a real PostgreSQL: daemons ship their stores, crash
 * on either side, and central ends equal to local every time.
 */

import assert from "node:assert/strict";
import { startDaemon, type TestDaemon } from "../_helpers.ts";
import { postgresMissing, startPostgres, type TestPostgres } from "./_pg.ts";
import { addEvents, assertCentralEqualsLocal, centralToml, until } from "./_central.ts";

const missing = postgresMissing();
if (missing) console.log(`SKIP: central shipper tests: ${missing}`);

async function withPg(fn: (pg: TestPostgres) => Promise<void>): Promise<void> {
  const pg = await startPostgres();
  try {
    await fn(pg);
  } finally {
    await pg.close();
  }
}

/** A state dir of its own, so a daemon can be killed and started again on the same store. */
async function sensorDir(): Promise<{ dir: string; paths: string; eventsDb: string }> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-sensor-" });
  return {
    dir,
    paths:
      `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n\n`,
    eventsDb: `${dir}/lib/vigia-events.db`,
  };
}

async function status(d: TestDaemon): Promise<Record<string, unknown>> {
  const s = await d.call("status") as { components: { name: string; details: unknown }[] };
  return s.components.find((c) => c.name === "central")!.details as Record<string, unknown>;
}

Deno.test({
  name: "central: two sensors ship into one database; PostgreSQL killed -9 mid-shipping",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPg(async (pg) => {
      const a = await sensorDir(), b = await sensorDir();
      await Deno.mkdir(`${a.dir}/lib`, { recursive: true });
      await Deno.mkdir(`${b.dir}/lib`, { recursive: true });
      addEvents(a.eventsDb, 30_000);
      addEvents(b.eventsDb, 20_000);
      const da = await startDaemon({
        config: a.paths + centralToml(pg, "station-a", { batch_rows: 5000 }),
      });
      const db = await startDaemon({ config: b.paths + centralToml(pg, "station-b") });
      try {
        await assertCentralEqualsLocal(pg, "station-a", a.eventsDb);
        await assertCentralEqualsLocal(pg, "station-b", b.eventsDb);
        const s = await status(da);
        assert.equal(s.state, "connected");
        assert.equal(s.sensor, "station-a");
        assert.equal(s.backlog_rows, 0);

        // More rows, then PostgreSQL dies mid-shipping and comes back.
        addEvents(a.eventsDb, 30_000);
        addEvents(a.eventsDb, 60_000);
        await until("shipping to start", async () => {
          const n = Number(await pg.psql("SELECT count(*) FROM vigia.events", { db: "vigia" }));
          return n > 55_000;
        });
        await pg.kill9();
        await until("the shipper to see PostgreSQL down", async () =>
          (await status(da)).state === "down");
        const down = await status(da);
        assert.match(String(down.reason), /refused|closed|terminat|ECONN|connect/i);
        // The daemon still answers ctl while central is down.
        assert.ok((await da.call("stats")) !== undefined);
        await pg.start();
        await assertCentralEqualsLocal(pg, "station-a", a.eventsDb, { timeoutMs: 60_000 });
        await assertCentralEqualsLocal(pg, "station-b", b.eventsDb);
        assert.equal((await status(da)).state, "connected");
      } catch (e) {
        console.error("daemon a:\n" + da.logs().slice(-3000));
        throw e;
      } finally {
        await da.stop();
        await db.stop();
        await Deno.remove(a.dir, { recursive: true });
        await Deno.remove(b.dir, { recursive: true });
      }
    }),
});
