/**
 * The shipper's guarantees where things go wrong, against a real
 * PostgreSQL: the network cut (reset, then a silent blackhole) and
 * restored, a wrong password fixed, a row PostgreSQL refuses, local
 * retention with unshipped rows. Central ends equal to local each time, the
 * errors show with their time, and the password shows nowhere.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { runVigia, startDaemon, type TestDaemon } from "../_helpers.ts";
import { postgresMissing, startPostgres, type TestPostgres } from "./_pg.ts";
import { startRelay } from "./_relay.ts";
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
if (missing) console.log(`SKIP: central guarantee tests: ${missing}`);

function jsonLines(text: string): Record<string, unknown>[] {
  return text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** `vigia central status --json` rows of one sensor. */
async function centralStatus(
  d: TestDaemon,
  cwd: string,
  sensor: string,
): Promise<Record<string, unknown>[]> {
  const r = await runVigia(
    ["central", "status", "--config", d.configPath, "--sensor", sensor, "--json"],
    { cwd },
  );
  assert.equal(r.code, 0, r.stderr);
  return jsonLines(r.stdout);
}

/** The text of every file under `dir` (the daily logs, alerts included). */
function filesUnder(dir: string): string {
  let text = "";
  try {
    for (const e of Deno.readDirSync(dir)) {
      const path = `${dir}/${e.name}`;
      text += e.isDirectory ? filesUnder(path) : e.isFile ? Deno.readTextFileSync(path) : "";
    }
  } catch { /* not made */ }
  return text;
}

/** Everything a user or a log reader sees of the daemon: log, ctl status (JSON and table). */
async function everythingShown(d: TestDaemon): Promise<string> {
  const table = await d.ctl(["status"]);
  return d.logs() + JSON.stringify(await d.call("status")) + table.stdout + table.stderr;
}

Deno.test({
  name: "central: guarantees when things go wrong",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const pg: TestPostgres = await startPostgres();
    const cleanup: (() => Promise<unknown> | void)[] = [];
    try {
      await t.step("the network cut (reset, then a silent blackhole) and restored", async () => {
        const url = await pg.freshDatabase("netcut");
        const relay = startRelay(pg.port);
        cleanup.push(() => relay.close());
        const n = await sensorDir();
        cleanup.push(() => Deno.remove(n.dir, { recursive: true }));
        addEvents(n.eventsDb, 20_000);
        const d = await startDaemon({
          config: n.paths +
            centralToml(
              pg,
              "station-n",
              { batch_rows: 1000, timeout: "2s" },
              url.replace(`:${pg.port}/`, `:${relay.port}/`),
            ),
        });
        try {
          await until(
            "shipping to start",
            async () => (await centralEventSummary(pg, "station-n", "netcut")).count > 0,
          );
          // Both halves closed: the shipper sees resets, then refused connections.
          relay.cut();
          addEvents(n.eventsDb, 5_000);
          await until(
            "the shipper to see the cut",
            async () => (await shipperStatus(d)).state === "down",
          );
          assert.match(String((await shipperStatus(d)).reason), /reset|closed|refused/);
          assert.equal((await d.ctl(["status"])).code, 0);
          relay.restore();
          await assertCentralEqualsLocal(pg, "station-n", n.eventsDb, {
            db: "netcut",
            timeoutMs: 60_000,
          });
          assert.equal((await shipperStatus(d)).state, "connected");

          // Nothing answers, nothing resets: only the timeout (2 s here) can tell.
          const blackholedAt = (await pg.psql("SELECT now()")).trim();
          relay.blackhole();
          const since = relay.accepted();
          addEvents(n.eventsDb, 20_000);
          await until(
            "the shipper to give the silent connection up",
            async () =>
              /no answer from PostgreSQL for 2 s/.test(String((await shipperStatus(d)).reason)),
            30_000,
          );
          assert.equal((await shipperStatus(d)).state, "down");
          assert.ok(Number((await shipperStatus(d)).backlog_rows) > 0);
          // Its reconnects go into the blackhole too, and are given up the same way.
          await until("a reconnect into the blackhole", () => relay.accepted() > since + 1, 30_000);
          assert.equal((await d.ctl(["status"])).code, 0, "ctl answers meanwhile");
          assert.equal((await shipperStatus(d)).state, "down");
          relay.restore();
          await assertCentralEqualsLocal(pg, "station-n", n.eventsDb, {
            db: "netcut",
            timeoutMs: 90_000,
          });
          // The sessions the blackhole left on the server (holding row locks) were ended:
          // the daemon's pool of two (made since) is all there is.
          const sessions = await pg.psql(
            `SELECT count(*) FILTER (WHERE backend_start < '${blackholedAt}'), count(*)
             FROM pg_stat_activity WHERE application_name = 'vigia station-n'`,
          );
          const [stale, all] = sessions.trim().split("|").map(Number);
          assert.equal(stale, 0, sessions);
          assert.ok(all >= 1 && all <= 2, sessions);
          assert.match(d.logs(), /ended a stale central session/);
          const shown = await everythingShown(d);
          assert.ok(!shown.includes(pg.password), "the password never shows");
        } catch (e) {
          console.error("daemon n:\n" + d.logs().slice(-4000));
          throw e;
        } finally {
          await d.stop();
        }
      });

      await t.step(
        "a wrong password, then the right one: the last error and when, in ctl status and central status",
        async () => {
          const url = await pg.freshDatabase("password");
          const f = await sensorDir();
          cleanup.push(() => Deno.remove(f.dir, { recursive: true }));
          addEvents(f.eventsDb, 2_000);
          const file = `${f.dir}/central.pw`;
          const wrong = "not-the-password-" + crypto.randomUUID().slice(0, 6);
          await Deno.writeTextFile(file, wrong + "\n");
          const d = await startDaemon({
            config: f.paths + centralToml(pg, "station-f", {}, url).replace(pg.passwordFile, file),
          });
          try {
            await until(
              "the wrong password to be reported",
              async () =>
                /password authentication failed/.test(String((await shipperStatus(d)).reason)),
            );
            const down = await shipperStatus(d);
            assert.match(String(down.last_error), /password authentication failed/);
            const firstAt = Date.parse(String(down.last_error_at));
            assert.ok(Math.abs(Date.now() - firstAt) < 60_000, String(down.last_error_at));
            const table = await d.ctl(["status"]);
            assert.match(table.stdout, /last_error=password authentication failed/);
            assert.match(table.stdout, /last_error_at=\d{4}-\d\d-\d\dT/);
            // Kept locally, for a restart and for the central side later.
            const local = new DatabaseSync(f.storeDb, { readOnly: true });
            const row = local.prepare("SELECT error, at FROM central_errors WHERE stream = ''")
              .get() as { error: string; at: number };
            local.close();
            assert.match(row.error, /password authentication failed/);
            let shown = await everythingShown(d);
            assert.ok(!shown.includes(wrong), "the wrong password never shows");

            // Fixed: the shipper connects, ships, and the central status tells what happened.
            await Deno.writeTextFile(file, pg.password + "\n");
            await assertCentralEqualsLocal(pg, "station-f", f.eventsDb, {
              db: "password",
              timeoutMs: 60_000,
            });
            const up = await shipperStatus(d);
            assert.equal(up.state, "connected");
            assert.equal(up.reason, null);
            assert.match(String(up.last_error), /password authentication failed/);
            const rows = await centralStatus(d, f.dir, "station-f");
            const events = rows.find((r) => r.stream === "events")!;
            assert.match(String(events.last_error), /password authentication failed/);
            assert.ok(events.last_error_at !== null);
            assert.ok(
              Date.parse(String(events.last_error_at)) < Date.parse(String(events.last_ship)),
              "the error came before the last ship",
            );
            assert.ok(
              rows.every((r) => /password authentication failed/.test(String(r.last_error))),
            );
            shown = await everythingShown(d) + JSON.stringify(rows) + filesUnder(`${f.dir}/log`);
            assert.ok(!shown.includes(wrong) && !shown.includes(pg.password), "no password shows");
          } catch (e) {
            console.error("daemon f:\n" + d.logs().slice(-3000));
            throw e;
          } finally {
            await d.stop();
          }
        },
      );

      await t.step("a row PostgreSQL refuses is quarantined; the rows around it ship", async () => {
        const url = await pg.freshDatabase("refuse");
        const q = await sensorDir();
        cleanup.push(() => Deno.remove(q.dir, { recursive: true }));
        addEvents(q.eventsDb, 3_000);
        // Values jsonb cannot read: a corrupted store, a decoder's bug.
        const db = new DatabaseSync(q.eventsDb);
        db.exec("UPDATE events SET answers = '[[\"a\", 1' WHERE id IN (700, 2101)");
        db.close();
        const d = await startDaemon({
          config: q.paths + centralToml(pg, "station-q", { batch_rows: 1000 }, url),
        });
        try {
          const local = localEventSummary(q.eventsDb);
          await until(
            "the good rows centrally",
            async () =>
              (await centralEventSummary(pg, "station-q", "refuse")).count === local.count - 2,
            60_000,
          );
          const central = await centralEventSummary(pg, "station-q", "refuse");
          assert.equal(central.sum, local.sum - 700 - 2101);
          assert.equal(central.dups, 0);
          const status = await shipperStatus(d);
          assert.equal(status.rows_quarantined, 2);
          assert.equal(status.backlog_rows, 0);
          assert.match(String(status.last_error), /json/i);
          const store = new DatabaseSync(q.storeDb, { readOnly: true });
          const kept = store.prepare(
            "SELECT stream, local_id, error, row FROM central_quarantine ORDER BY local_id",
          ).all() as { stream: string; local_id: number; error: string; row: string }[];
          store.close();
          assert.deepEqual(kept.map((k) => [k.stream, k.local_id]), [["events", 700], [
            "events",
            2101,
          ]]);
          assert.ok(kept.every((k) => /json/i.test(k.error) && /SQLSTATE 22P02/.test(k.error)));
          assert.ok(kept.every((k) => k.row.includes('[["a", 1')));
          const alerts = await d.ctlJson(["alerts", "--all"]) as {
            kind: string;
            repeats: number;
          }[];
          assert.ok(alerts.some((a) => a.kind === "central-row-refused"));
          const rows = await centralStatus(d, q.dir, "station-q");
          const events = rows.find((r) => r.stream === "events")!;
          assert.equal(events.rows_quarantined, 2);
          assert.match(String(events.last_error), /json/i);
          // An upserted stream too: an alert whose details jsonb cannot read.
          const sdb = new DatabaseSync(q.storeDb);
          sdb.exec("PRAGMA busy_timeout = 5000");
          const bad = Number(
            sdb.prepare(
              `INSERT INTO alerts (time, raised_at, kind, severity, subject, details, repeats)
               VALUES (?, ?, 'test-bad', 'info', 'bad details', '{"a": ', 0) RETURNING id`,
            ).get(Date.now(), Date.now())!.id,
          );
          sdb.close();
          await until("the bad alert quarantined", () => {
            const db = new DatabaseSync(q.storeDb, { readOnly: true });
            const r = db.prepare(
              "SELECT local_id FROM central_quarantine WHERE stream = 'alerts'",
            ).all() as { local_id: number }[];
            db.close();
            return r.length === 1 && r[0].local_id === bad;
          });
          await until("every other alert centrally", async () => {
            // Counted in SQLite: ctl alerts cannot read the bad row's details either.
            const db = new DatabaseSync(q.storeDb, { readOnly: true });
            const local = Number(
              (db.prepare("SELECT count(*) AS n FROM alerts").get() as { n: number }).n,
            );
            db.close();
            const n = await pg.psql(
              "SELECT count(*) FROM vigia.alerts WHERE sensor = 'station-q'",
              { db: "refuse" },
            );
            return Number(n.trim()) === local - 1;
          });
          // Shipping goes on; the copies of the two bad rows are refused in turn.
          addEvents(q.eventsDb, 3_000);
          await until(
            "the next rows centrally",
            async () =>
              (await centralEventSummary(pg, "station-q", "refuse")).count ===
                localEventSummary(q.eventsDb).count - 4,
          );
          assert.equal((await shipperStatus(d)).rows_quarantined, 5);
        } catch (e) {
          console.error("daemon q:\n" + d.logs().slice(-3000));
          console.error(
            JSON.stringify({
              local: localEventSummary(q.eventsDb),
              central: await centralEventSummary(pg, "station-q", "refuse"),
              status: await shipperStatus(d),
            }),
          );
          throw e;
        } finally {
          await d.stop();
        }
      });
      await t.step(
        "local retention keeps every unshipped table; a size bound that deletes unshipped events alerts with the count",
        async () => {
          const url = await pg.freshDatabase("bound");
          const relay = startRelay(pg.port);
          cleanup.push(() => relay.close());
          // Central unreachable for the whole local part.
          relay.cut();
          const b = await sensorDir(30);
          cleanup.push(() => Deno.remove(b.dir, { recursive: true }));
          // The synthetic events are of 2026-11-01 and -02: past retention_days = 30.
          addEvents(b.eventsDb, 20_000);
          const central = centralToml(
            pg,
            "station-b",
            {},
            url.replace(`:${pg.port}/`, `:${relay.port}/`),
          );
          const scanner =
            `[geoip]\ncity_db = ""\nasn_db = ""\n[scanner]\nenabled = true\nresolvers = ["127.0.0.1:9"]\n` +
            `domains = ["www.a.test"]\nstart_delay = "1h"\nkeep_days = 1\n`;
          // A first run makes the local tables.
          const d1 = await startDaemon({ config: b.paths + central + scanner });
          await d1.stop();
          const events = localEventSummary(b.eventsDb).count;
          const old = Date.now() - 40 * 86_400_000;
          const store = new DatabaseSync(b.storeDb);
          const insertScan = store.prepare(
            `INSERT INTO scans (domain, time, duration_ms, resolved, addresses, a_records, ranges, asns,
               countries, cities, ttl, name_servers, flux, modified_holz, jaroslaw_patrycja, worst,
               findings, changes, result)
             VALUES ('www.a.test', ?, 5, 1, 1, 1, 1, 1, 1, 1, 300, 2, 'Clean', 0, 0, NULL, '', '[]', '{}')`,
          );
          for (let i = 0; i < 3; i++) insertScan.run(old + i);
          store.prepare(
            `INSERT INTO alerts (time, raised_at, kind, severity, subject, details, repeats)
             VALUES (?, ?, 'test-old', 'info', 'an old alert', '{}', 0)`,
          ).run(old, old);
          store.close();
          const count = (sql: string) => {
            const db = new DatabaseSync(b.storeDb, { readOnly: true });
            const n = Number((db.prepare(sql).get() as { n: number }).n);
            db.close();
            return n;
          };

          // The bound: 1 MB of event rows, far less than the 20,000 events take.
          const bounded = b.paths.replace("[store]\n", "[store]\nmax_events_mb = 1\n");
          const d = await startDaemon({ config: bounded + central + scanner });
          try {
            const alerts = async () =>
              await d.ctlJson(["alerts", "--all"]) as {
                kind: string;
                subject: string;
                details: Record<string, unknown>;
              }[];
            await until(
              "the lost-rows alert",
              async () => (await alerts()).some((a) => a.kind === "central-rows-lost"),
            );
            const left = localEventSummary(b.eventsDb).count;
            assert.ok(left < events, "the bound deleted events");
            const lostAlert = (await alerts()).find((a) => a.kind === "central-rows-lost")!;
            // Nothing was shipped: every deleted event was lost, and the alert says how many.
            assert.equal(lostAlert.details.rows, events - left);
            assert.match(
              lostAlert.subject,
              new RegExp(`^${events - left} events rows were deleted`),
            );
            const status = await shipperStatus(d);
            assert.equal(status.rows_lost, events - left);
            assert.equal(status.state, "down");
            const db = new DatabaseSync(b.eventsDb, { readOnly: true });
            const used = Number(
              (db.prepare(
                "SELECT (page_count - freelist_count) * page_size AS n FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
              ).get() as { n: number }).n,
            );
            db.close();
            assert.ok(used <= 1_000_000, `events rows take ${used} bytes`);
            // Unshipped scans and alerts outlived their retention (keep_days = 1, retention_days = 30).
            assert.equal(count("SELECT count(*) AS n FROM scans"), 3);
            assert.equal(count("SELECT count(*) AS n FROM alerts WHERE kind = 'test-old'"), 1);

            relay.restore();
            await assertCentralEqualsLocal(pg, "station-b", b.eventsDb, {
              db: "bound",
              timeoutMs: 60_000,
            });
            await until("the scans and the old alert centrally", async () => {
              const n = await pg.psql(
                "SELECT (SELECT count(*) FROM vigia.scans) || ',' || (SELECT count(*) FROM vigia.alerts WHERE kind = 'test-old')",
                { db: "bound" },
              ).catch(() => "");
              return n.trim() === "3,1";
            });
            await until("the loss counted centrally", async () => {
              const rows = await centralStatus(d, b.dir, "station-b");
              return rows.find((r) => r.stream === "events")?.rows_lost === events - left;
            });
          } catch (e) {
            console.error("daemon b:\n" + d.logs().slice(-3000));
            throw e;
          } finally {
            await d.stop();
          }
        },
      );
      await t.step(
        "the sensor's row deleted centrally (its positions gone with it): rows already there are skipped, not retried forever",
        async () => {
          const url = await pg.freshDatabase("forgot");
          const g = await sensorDir();
          cleanup.push(() => Deno.remove(g.dir, { recursive: true }));
          addEvents(g.eventsDb, 3_000);
          const config = g.paths + centralToml(pg, "station-g", {}, url);
          const d1 = await startDaemon({ config });
          try {
            await assertCentralEqualsLocal(pg, "station-g", g.eventsDb, { db: "forgot" });
          } finally {
            await d1.stop();
          }
          // What an administrator freeing a sensor name does; vigia.shipping cascades.
          await pg.psql("DELETE FROM vigia.sensors WHERE name = 'station-g'", { db: "forgot" });
          addEvents(g.eventsDb, 1_000);
          const d2 = await startDaemon({ config });
          try {
            await assertCentralEqualsLocal(pg, "station-g", g.eventsDb, { db: "forgot" });
            assert.match(d2.logs(), /central rows already present: re-sending without duplicates/);
            assert.equal((await shipperStatus(d2)).state, "connected");
          } catch (e) {
            console.error("daemon g:\n" + d2.logs().slice(-3000));
            throw e;
          } finally {
            await d2.stop();
          }
        },
      );
    } finally {
      for (const c of cleanup) await Promise.resolve(c()).catch(() => {});
      await pg.close();
    }
  },
});
