/**
 * Query benchmark: a store with 1M synthetic events (test/sniffer/_bulk.ts),
 * then every documented `ctl logs` shape (test/sniffer/query_plans_test.ts)
 * under every sort, both directions: time of the first page (limit 50)
 * and of the page after it (through the cursor), median of `--repeat` runs.
 * Also `ctl devices`. Reference in the same run: `SELECT count(*) FROM
 * events` (one full pass over the time index).
 *
 * Usage: deno run -A scripts/bench/queries.ts [--rows 1000000] [--repeat 5] [--budget 50]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openStore } from "../../lib/store/mod.ts";
import { snifferMigrations } from "../../lib/sniffer/schema.ts";
import { EventsReader } from "../../lib/sniffer/events_db.ts";
import { devicesPage, encodeCursor, parseLogArgs, queryLogs } from "../../lib/sniffer/queries.ts";
import { BULK_START, fillEvents } from "../../test/sniffer/_bulk.ts";
import { SHAPES, SORTS } from "../../test/sniffer/query_plans_test.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "1000000" },
    repeat: { type: "string", default: "5" },
    budget: { type: "string", default: "50" },
  },
});
const ROWS = Number(values.rows);
const REPEAT = Number(values.repeat);
const BUDGET = Number(values.budget);

const root = new URL("../..", import.meta.url).pathname;
await Deno.mkdir(`${root}.bench`, { recursive: true });
const dir = await Deno.makeTempDir({ dir: `${root}.bench`, prefix: "queries-" });
const devices = openStore(`${dir}/vigia.db`);
devices.migrate("sniffer", snifferMigrations);
let t0 = performance.now();
fillEvents(`${dir}/vigia-events.db`, { rows: ROWS });
const store = new EventsReader(`${dir}/vigia-events.db`);
console.log(`filled ${ROWS} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

t0 = performance.now();
const count = store.get<{ n: number }>("SELECT count(*) AS n FROM events")!.n;
const countMs = performance.now() - t0;
console.log(`reference: SELECT count(*) FROM events (${count} rows) ${countMs.toFixed(1)} ms`);

const now = BULK_START + 7 * 86_400_000;
const results: { what: string; first: number; second: number; plan: string }[] = [];
for (const shape of SHAPES) {
  for (const sort of SORTS) {
    for (const desc of [false, true]) {
      const args = { ...shape, sort, desc, limit: 50 };
      const firsts: number[] = [], seconds: number[] = [];
      let plan = "";
      for (let r = 0; r < REPEAT; r++) {
        let t = performance.now();
        const q = parseLogArgs(args, { timeZone: "UTC", now });
        const page = queryLogs(store, q);
        firsts.push(performance.now() - t);
        plan = page.trace.plan;
        if (page.next) {
          t = performance.now();
          const q2 = parseLogArgs({ ...args, cursor: encodeCursor(q.sort, q.desc, page.next) }, {
            timeZone: "UTC",
            now,
          });
          queryLogs(store, q2);
          seconds.push(performance.now() - t);
        }
      }
      results.push({
        what: JSON.stringify(args).replace(/"limit":50,?/, ""),
        first: median(firsts),
        second: seconds.length ? median(seconds) : 0,
        plan,
      });
    }
  }
}
const devFirst: number[] = [];
for (let r = 0; r < REPEAT; r++) {
  const t = performance.now();
  devicesPage(devices, { vendor: "apple", limit: 50 });
  devFirst.push(performance.now() - t);
}
store.close();
devices.close();
await Deno.remove(dir, { recursive: true });

results.sort((a, b) => b.first - a.first);
console.log("\nslowest first pages (median ms of first page / next page, plan):");
for (const r of results.slice(0, 10)) {
  console.log(
    `  ${r.first.toFixed(1).padStart(6)}  ${r.second.toFixed(1).padStart(6)}  ${
      r.plan.padEnd(18)
    } ${r.what}`,
  );
}
const over = results.filter((r) => r.first > BUDGET || r.second > BUDGET);
const all = results.map((r) => r.first);
console.log(
  `\n${results.length} query shapes: first page median ${median(all).toFixed(1)} ms, max ${
    Math.max(...all).toFixed(1)
  } ms (${(Math.max(...all) / countMs).toFixed(2)}x a count(*) pass); devices --vendor: ${
    median(devFirst).toFixed(1)
  } ms; over ${BUDGET} ms: ${over.length}`,
);
