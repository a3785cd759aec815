/**
 * The shipper and `vigia central` against a real PostgreSQL (one server for
 * the file, a fresh database where a step needs its own): daemons ship
 * their stores, crash on either side, and central ends equal to local
 * (same count, same ids, no doubles) every time.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { freePort, runVigia, startDaemon } from "../_helpers.ts";
import { postgresMissing, startPostgres, type TestPostgres } from "./_pg.ts";
import { dhcpExchange, dnsPair, T0, writePcap } from "../sniffer/_fixtures.ts";
import {
  addEvents,
  assertCentralEqualsLocal,
  centralEventSummary,
  centralToml,
  localEventSummary,
  sensorDir,
  shipperStatus,
  until,
} from "./_central.ts";

const missing = postgresMissing();
if (missing) console.log(`SKIP: central shipper tests: ${missing}`);

async function central(args: string[], cwd: string) {
  return await runVigia(["central", ...args], { cwd });
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

Deno.test({
  name: "central: shipping to a real PostgreSQL",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const pg: TestPostgres = await startPostgres();
    const cleanup: (() => Promise<unknown>)[] = [];
    try {
      await t.step(
        "two sensors into one database, central logs --sensor, PostgreSQL killed -9 mid-shipping",
        async () => {
          const a = await sensorDir(), b = await sensorDir();
          cleanup.push(() => Deno.remove(a.dir, { recursive: true }));
          cleanup.push(() => Deno.remove(b.dir, { recursive: true }));
          addEvents(a.eventsDb, 12_000);
          addEvents(b.eventsDb, 8_000);
          const da = await startDaemon({
            config: a.paths + centralToml(pg, "station-a", { batch_rows: 2000 }),
          });
          const db = await startDaemon({ config: b.paths + centralToml(pg, "station-b") });
          try {
            await assertCentralEqualsLocal(pg, "station-a", a.eventsDb);
            await assertCentralEqualsLocal(pg, "station-b", b.eventsDb);
            const s = await shipperStatus(da);
            assert.equal(s.state, "connected");
            assert.equal(s.sensor, "station-a");
            assert.equal(s.backlog_rows, 0);

            // vigia central logs: the ctl logs rows of the sensor, plus the sensor column.
            const mac = "3c:22:fb:10:00:03";
            const local = await da.ctlJson(["logs", "--mac", mac, "--limit", "20"]) as Record<
              string,
              unknown
            >[];
            assert.equal(local.length, 20);
            const r = await central(
              [
                "logs",
                "--config",
                da.configPath,
                "--sensor",
                "station-a",
                "--mac",
                mac,
                "--limit",
                "20",
                "--json",
              ],
              a.dir,
            );
            assert.equal(r.code, 0, r.stderr);
            const lines = jsonLines(r.stdout);
            const cursor = lines.pop()!;
            assert.ok(typeof cursor.next_cursor === "string");
            assert.deepEqual(lines.map(({ sensor: _, ...rest }) => rest), local);
            assert.ok(lines.every((l) => l.sensor === "station-a"));
            // Both sensors, one MAC: rows of each, in time order.
            const both = await central(
              [
                "logs",
                "--config",
                da.configPath,
                "--sensor",
                "station-a",
                "--sensor",
                "station-b",
                "--mac",
                mac,
                "--all",
                "--json",
              ],
              a.dir,
            );
            assert.equal(both.code, 0, both.stderr);
            const all = jsonLines(both.stdout).filter((l) => !("next_cursor" in l));
            const sensors = new Set(all.map((l) => l.sensor));
            assert.deepEqual([...sensors].sort(), ["station-a", "station-b"]);
            const count = Number(
              await pg.psql(`SELECT count(*) FROM vigia.events WHERE mac = '${mac}'`, {
                db: "vigia",
              }),
            );
            assert.equal(all.length, count);
            // A page of the table form names the sensor column.
            const table = await central(["logs", "--config", da.configPath, "--limit", "3"], a.dir);
            assert.equal(table.code, 0, table.stderr);
            assert.match(table.stdout.split("\n")[0], /^SENSOR\s+TIME\s+KIND/);

            const st = await central(["status", "--config", da.configPath, "--json"], a.dir);
            assert.equal(st.code, 0, st.stderr);
            const events = jsonLines(st.stdout).filter((l) => l.stream === "events");
            assert.deepEqual(events.map((l) => l.sensor), ["station-a", "station-b"]);
            assert.equal(events[0].rows_shipped, localEventSummary(a.eventsDb).count);

            // More rows, then PostgreSQL dies mid-shipping and comes back.
            const shipped = localEventSummary(a.eventsDb).count +
              localEventSummary(b.eventsDb).count;
            addEvents(a.eventsDb, 12_000);
            addEvents(a.eventsDb, 24_000);
            await until("shipping to start", async () => {
              const n = Number(await pg.psql("SELECT count(*) FROM vigia.events", { db: "vigia" }));
              return n > shipped + 2000;
            });
            await pg.kill9();
            await until(
              "the shipper to see PostgreSQL down",
              async () => (await shipperStatus(da)).state === "down",
            );
            const down = await shipperStatus(da);
            assert.match(String(down.reason), /refused|closed|terminat|connect/i);
            // Rows stored while it is down are counted as backlog (the batches in flight
            // when it died may have been the last ones: shipping 36k rows takes well under 1 s).
            addEvents(a.eventsDb, 2_000);
            await until(
              "the backlog to show while PostgreSQL is down",
              async () => Number((await shipperStatus(da)).backlog_rows) > 0,
            );
            // The daemon still answers ctl while central is down.
            assert.equal((await da.ctl(["status"])).code, 0);
            await pg.start();
            await assertCentralEqualsLocal(pg, "station-a", a.eventsDb, { timeoutMs: 60_000 });
            await assertCentralEqualsLocal(pg, "station-b", b.eventsDb);
            assert.equal((await shipperStatus(da)).state, "connected");
          } catch (e) {
            console.error("daemon a:\n" + da.logs().slice(-3000));
            throw e;
          } finally {
            await da.stop();
            await db.stop();
          }
        },
      );

      await t.step("the daemon killed -9 mid-batch, then started again", async () => {
        await pg.freshDatabase("crash");
        // Over the Unix socket this time: the socket directory as host.
        const url = pg.socketUrl.replace("/vigia?", "/crash?");
        const c = await sensorDir();
        cleanup.push(() => Deno.remove(c.dir, { recursive: true }));
        addEvents(c.eventsDb, 20_000);
        const config = c.paths + centralToml(pg, "station-c", { batch_rows: 2000 }, url);
        const d1 = await startDaemon({ config });
        await until(
          "shipping to start",
          async () => (await centralEventSummary(pg, "station-c", "crash")).count > 1000,
        );
        d1.signal("SIGKILL");
        await d1.exited();
        const partial = await centralEventSummary(pg, "station-c", "crash");
        assert.ok(partial.count < localEventSummary(c.eventsDb).count, "killed before the end");
        const d2 = await startDaemon({ config });
        try {
          await assertCentralEqualsLocal(pg, "station-c", c.eventsDb, {
            db: "crash",
            timeoutMs: 60_000,
          });
        } finally {
          await d2.stop();
          await d1.stop();
        }
      });

      await t.step(
        "PostgreSQL down at daemon start; wrong password; a second daemon with the same sensor name",
        async () => {
          const url = await pg.freshDatabase("later");
          // Local retention of 30 days, older events, PostgreSQL down: nothing unshipped may go.
          const e = await sensorDir(30);
          cleanup.push(() => Deno.remove(e.dir, { recursive: true }));
          addEvents(e.eventsDb, 5_000);
          const before = localEventSummary(e.eventsDb).count;
          await pg.stop();
          const d = await startDaemon({ config: e.paths + centralToml(pg, "station-e", {}, url) });
          // Wrong password: a file of its own.
          const badFile = `${e.dir}/bad.pw`;
          const badPassword = "not-the-password-" + crypto.randomUUID().slice(0, 6);
          await Deno.writeTextFile(badFile, badPassword + "\n");
          const f = await sensorDir();
          cleanup.push(() => Deno.remove(f.dir, { recursive: true }));
          const bad = await startDaemon({
            config: f.paths +
              centralToml(pg, "station-f", {}, url).replace(pg.passwordFile, badFile),
          });
          try {
            await until(
              "the shipper to report PostgreSQL down",
              async () => (await shipperStatus(d)).state === "down",
            );
            assert.match(String((await shipperStatus(d)).reason), /connection refused/);
            assert.equal((await d.ctl(["status"])).code, 0);
            await d.waitForLog(/pruned old events|ready/);
            assert.equal(localEventSummary(e.eventsDb).count, before, "unshipped events kept");
            await pg.start();
            await assertCentralEqualsLocal(pg, "station-e", e.eventsDb, { db: "later" });

            await until(
              "the wrong password to be reported",
              async () =>
                /password authentication failed/.test(String((await shipperStatus(bad)).reason)),
            );
            const text = JSON.stringify(await bad.call("status")) + bad.logs();
            assert.ok(!text.includes(badPassword), "the password never shows");
            const cli = await central(["status", "--config", bad.configPath], f.dir);
            assert.equal(cli.code, 1);
            assert.match(cli.stderr, /password authentication failed/);
            assert.ok(!cli.stderr.includes(badPassword));

            // The same sensor name from a second daemon: refused, the first keeps shipping.
            const g = await sensorDir();
            cleanup.push(() => Deno.remove(g.dir, { recursive: true }));
            const twin = await startDaemon({
              config: g.paths + centralToml(pg, "station-e", {}, url),
            });
            try {
              await until(
                "the twin to be refused",
                async () =>
                  /in use by another vigia daemon/.test(String((await shipperStatus(twin)).reason)),
              );
              addEvents(e.eventsDb, 1_000);
              await assertCentralEqualsLocal(pg, "station-e", e.eventsDb, { db: "later" });
            } finally {
              await twin.stop();
            }
          } finally {
            await d.stop();
            await bad.stop();
          }
        },
      );

      await t.step(
        "vigia ingest beside the daemon: events, devices and alerts shipped; backlog alerts",
        async () => {
          const url = await pg.freshDatabase("ingest");
          const i = await sensorDir();
          cleanup.push(() => Deno.remove(i.dir, { recursive: true }));
          const records = [];
          for (let n = 0; n < 20; n++) {
            records.push(...dnsPair({
              ts: T0 / 1000 + n,
              clientMac: `02:00:00:00:00:${(n + 16).toString(16)}`,
              clientIp: `10.9.0.${n + 10}`,
              serverIp: "10.9.0.53",
              id: 100 + n,
              qname: `host${n}.example`,
            }));
          }
          records.push(...dhcpExchange({
            ts: T0 / 1000 + 30,
            clientMac: "02:00:00:00:00:99",
            serverMac: "00:11:22:33:44:55",
            serverIp: "10.9.0.1",
            offer: "10.9.0.99",
            xid: 77,
            hostName: "laptop-99",
          }));
          const pcap = await writePcap(i.dir, "day.pcap", records);
          await pg.stop();
          const metricsPort = freePort();
          const d = await startDaemon({
            config: i.paths + centralToml(pg, "station-i", { backlog_alert_rows: 20 }, url) +
              `\n[metrics]\nenabled = true\nlisten = "127.0.0.1:${metricsPort}"\n`,
          });
          const metric = async (name: string) => {
            const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
            return [...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "gm"))]
              .reduce((n, m) => n + Number(m[2]), 0);
          };
          try {
            const ingest = await runVigia(["ingest", pcap, "--config", d.configPath], {
              cwd: i.dir,
            });
            assert.equal(ingest.code, 0, ingest.stderr);
            const kinds = async () =>
              ((await d.ctlJson(["alerts", "--all"])) as { kind: string }[]).map((a) => a.kind);
            await until(
              "the backlog alert",
              async () => (await kinds()).includes("central-backlog"),
            );
            assert.ok((await metric("vigia_central_backlog_rows")) >= 20);
            assert.equal(await metric("vigia_central_up"), 0);
            await pg.start();
            await assertCentralEqualsLocal(pg, "station-i", i.eventsDb, { db: "ingest" });
            await until(
              "the metrics to show the drain",
              async () =>
                (await metric("vigia_central_up")) === 1 &&
                (await metric("vigia_central_backlog_rows")) === 0,
            );
            assert.ok((await metric("vigia_central_rows_shipped_total")) >= 40);
            await until(
              "the drained alert",
              async () => (await kinds()).includes("central-backlog-drained"),
            );
            const config = d.configPath;
            await until("both alerts centrally", async () => {
              const r = await central(["alerts", "--config", config, "--json", "--all"], i.dir);
              const got = jsonLines(r.stdout).map((l) => l.kind);
              return got.includes("central-backlog") && got.includes("central-backlog-drained");
            });
            // Devices: the ctl devices rows, plus the sensor.
            const local = await d.ctlJson(["devices", "--all"]) as Record<string, unknown>[];
            assert.ok(local.length >= 20);
            await until("the devices centrally", async () => {
              const r = await central(["devices", "--config", config, "--json", "--all"], i.dir);
              const rows = jsonLines(r.stdout).filter((l) => !("next_cursor" in l));
              return JSON.stringify(rows.map(({ sensor: _, ...rest }) => rest)) ===
                JSON.stringify(local);
            });
            const dhcp = await central(
              ["logs", "--config", config, "--kind", "dhcp", "--json", "--all"],
              i.dir,
            );
            assert.ok(jsonLines(dhcp.stdout).some((l) => l.host_name === "laptop-99"));
          } catch (e) {
            console.error("daemon i:\n" + d.logs().slice(-3000));
            throw e;
          } finally {
            await d.stop();
          }
        },
      );

      await t.step("every local event pruned, ids handed out again: nothing lost", async () => {
        const url = await pg.freshDatabase("reuse");
        const u = await sensorDir();
        cleanup.push(() => Deno.remove(u.dir, { recursive: true }));
        addEvents(u.eventsDb, 2_000);
        const first = localEventSummary(u.eventsDb).count;
        const config = u.paths + centralToml(pg, "station-u", {}, url);
        const d1 = await startDaemon({ config });
        try {
          await assertCentralEqualsLocal(pg, "station-u", u.eventsDb, { db: "reuse" });
        } finally {
          await d1.stop();
        }
        // As local retention does on a quiet sensor: the table empties, SQLite starts ids at 1.
        const db = new DatabaseSync(u.eventsDb);
        const cols = (db.prepare("PRAGMA table_info(events)").all() as { name: string }[])
          .map((c) => c.name).filter((c) => c !== "id");
        db.exec(`CREATE TEMP TABLE later AS SELECT ${cols.join(", ")} FROM events`);
        db.exec("UPDATE later SET time = time + 86400000000");
        db.exec("DELETE FROM events");
        db.exec(`INSERT INTO events (${cols.join(", ")}) SELECT * FROM later`);
        assert.equal((db.prepare("SELECT min(id) AS m FROM events").get() as { m: number }).m, 1);
        db.close();
        const d2 = await startDaemon({ config });
        try {
          await until(
            "the new events centrally",
            async () => (await centralEventSummary(pg, "station-u", "reuse")).count === 2 * first,
          );
          const keys = Number(
            await pg.psql(
              "SELECT count(DISTINCT (time, local_id)) FROM vigia.events WHERE sensor = 'station-u'",
              { db: "reuse" },
            ),
          );
          assert.equal(keys, 2 * first);
          assert.match(d2.logs(), /central position is past the local rows/);
        } finally {
          await d2.stop();
        }
      });

      await t.step("central init from empty and again; a newer schema is refused", async () => {
        await pg.freshDatabase("fresh");
        const h = await sensorDir();
        cleanup.push(() => Deno.remove(h.dir, { recursive: true }));
        const config = `${h.dir}/vigia.toml`;
        await Deno.writeTextFile(
          config,
          h.paths +
            centralToml(
              pg,
              "station-h",
              { auto_migrate: false },
              pg.url.replace(/vigia$/, "fresh"),
            ),
        );
        // Before init, the daemon reports what to do.
        const d = await startDaemon({ config: await Deno.readTextFile(config) });
        try {
          await until(
            "the missing schema to be reported",
            async () => /vigia central init/.test(String((await shipperStatus(d)).reason)),
          );
        } finally {
          await d.stop();
        }
        const first = await central(["init", "--config", config, "--json"], h.dir);
        assert.equal(first.code, 0, first.stderr);
        assert.deepEqual(JSON.parse(first.stdout), {
          schema: "vigia",
          from: 0,
          version: 2,
          migrated: true,
        });
        const again = await central(["init", "--config", config, "--json"], h.dir);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(JSON.parse(again.stdout).migrated, false);
        const tables = await pg.psql(
          "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'vigia' AND tablename NOT LIKE 'events_%'",
          { db: "fresh" },
        );
        assert.equal(
          tables.trim(),
          "alerts,devices,events,scans,schema_version,sensors,shipping,veridns_events",
        );
        await pg.psql("INSERT INTO vigia.schema_version (version, program) VALUES (99, 'future')", {
          db: "fresh",
        });
        const newer = await central(["init", "--config", config], h.dir);
        assert.equal(newer.code, 1);
        assert.match(newer.stderr, /schema is version 99, newer than this vigia understands/);
      });

      await t.step("retention_days drops old day partitions", async () => {
        const url = await pg.freshDatabase("retention");
        const r = await sensorDir();
        cleanup.push(() => Deno.remove(r.dir, { recursive: true }));
        // The synthetic events are of 2026-11-01 and -02 (UTC).
        addEvents(r.eventsDb, 4_000);
        const keep = Math.floor((Date.now() - Date.parse("2026-11-02T00:00:00Z")) / 86_400_000);
        const d1 = await startDaemon({ config: r.paths + centralToml(pg, "station-r", {}, url) });
        try {
          await assertCentralEqualsLocal(pg, "station-r", r.eventsDb, { db: "retention" });
        } finally {
          await d1.stop();
        }
        const parts = () =>
          pg.psql(
            "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r' AND c.relname LIKE 'events_202611%'",
            { db: "retention" },
          );
        assert.equal((await parts()).trim(), "events_20261101,events_20261102");
        const d2 = await startDaemon({
          config: r.paths + centralToml(pg, "station-r", { retention_days: keep }, url),
        });
        try {
          await until(
            "the old partition to be dropped",
            async () => (await parts()).trim() === "events_20261102",
          );
          const left = Number(
            await pg.psql("SELECT count(*) FROM vigia.events WHERE time < '2026-11-02'", {
              db: "retention",
            }),
          );
          assert.equal(left, 0);
          assert.ok((await centralEventSummary(pg, "station-r", "retention")).count > 0);
        } finally {
          await d2.stop();
        }
      });
    } finally {
      await pg.close();
      for (const c of cleanup) await c().catch(() => {});
    }
  },
});
