/**
 * With a million stored events, every documented `ctl logs` query shape
 * reads the events table through an index: a SEARCH, or an in-order walk of
 * the time index that stops at the page size — never a SCAN of the table,
 * never a walk of a whole index (the ORDER BY ip over one day trap), and a
 * temp B-tree sort only over a bounded SEARCH. Timings are in
 * scripts/bench/queries.ts, not here.
 */

import assert from "node:assert/strict";
import { EventsReader } from "../../lib/sniffer/events_db.ts";
import { parseLogArgs, queryLogs } from "../../lib/sniffer/queries.ts";
import { BULK_START, fillEvents } from "./_bulk.ts";

/** The documented shapes: each filter alone and combined with a day, under every sort. */
export const SHAPES: Record<string, unknown>[] = [
  {},
  { mac: "3c:22:fb:10:00:07" },
  { vendor: "apple" },
  { vendor: "locally" },
  { kind: "dhcp" },
  { kind: "dns" },
  { ip: "10.1.1.7" },
  { ip: "10.1.0.53" },
  { ip: "10.66.0.53" },
  { ip: "10.1.0.0/16" },
  { day: "2026-11-03" },
  { since: "2026-11-04T00:00:00Z", until: "2026-11-04T06:00:00Z" },
  { day: "2026-11-03", kind: "dhcp" },
  { day: "2026-11-03", mac: "3c:22:fb:10:00:07" },
  { day: "2026-11-03", vendor: "apple" },
  { day: "2026-11-03", ip: "10.66.0.53" },
];

/** Sorts, each both ways. */
export const SORTS = ["date", "ip", "mac", "vendor"];

Deno.test("query plans: every logs query shape uses an index on 1M events", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-plans-" });
  const rows = fillEvents(`${dir}/vigia-events.db`, { rows: 1_000_000, clients: 500, days: 7 });
  const store = new EventsReader(`${dir}/vigia-events.db`);
  assert.equal(rows, 1_000_000);
  const now = BULK_START + 7 * 86_400_000;
  let statements = 0;
  for (const shape of SHAPES) {
    for (const sort of SORTS) {
      for (const desc of [false, true]) {
        const args = { ...shape, sort, desc, limit: 50 };
        const what = JSON.stringify(args);
        const q = parseLogArgs(args, { timeZone: "UTC", now });
        const { rows, trace } = queryLogs(store, q);
        assert.ok(rows.length > 0, `${what}: the data set has rows for it`);
        assert.ok(rows.length <= 50);
        for (const sql of trace.sql) {
          statements++;
          const plan = store.explain(sql);
          const events = plan.filter((l) => /\b(SCAN|SEARCH) e\b/.test(l));
          assert.ok(events.length > 0, `${what}: reads events\n${plan.join("\n")}`);
          for (const l of events) {
            assert.ok(
              /^SEARCH e USING INDEX events_flow \(flow=\?/.test(l) ||
                /^SEARCH e USING INDEX events_(dhcp_)?time \(time>\?/.test(l) ||
                /^SCAN e USING INDEX events_(dhcp_)?time$/.test(l),
              `${what}: ${l}\n${plan.join("\n")}`,
            );
            // An unbounded walk is only the time index in time order, stopped by LIMIT.
            if (l.startsWith("SCAN")) {
              assert.equal(q.sort, "date", `${what}: ${l}`);
              assert.ok(!plan.some((p) => p.includes("TEMP B-TREE")), `${what}: walk + sort`);
            }
          }
          // A sort happens only over a bounded search of a few flows' rows.
          if (plan.some((p) => p.includes("USE TEMP B-TREE FOR ORDER BY"))) {
            assert.ok(
              events.every((l) => l.startsWith("SEARCH e USING INDEX events_flow")),
              `${what}: sort over\n${plan.join("\n")}`,
            );
          }
        }
      }
    }
  }
  // The known trap: one day in IP order visits flows in IP order, each searched by (flow, time).
  const q = parseLogArgs({ day: "2026-11-03", sort: "ip", limit: 50 }, { timeZone: "UTC" });
  const { rows: page, trace } = queryLogs(store, q);
  assert.equal(trace.plan, "ip-group-scan");
  assert.equal(page.length, 50);
  assert.ok(page.every((r) => r.time >= Date.parse("2026-11-03T00:00:00Z") * 1000));
  assert.equal(page[0].client_ip, 0, "DHCP rows (client 0.0.0.0) sort first");
  assert.ok(statements > 100);
  store.close();
  await Deno.remove(dir, { recursive: true });
});
