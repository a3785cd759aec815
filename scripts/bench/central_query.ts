/**
 * `deno run -A scripts/bench/central_query.ts [--rows N] [--sensors S] [--runs R]`:
 * fills a local PostgreSQL's `vigia.events` with N synthetic events
 * (default 10,000,000) from S sensors (default 10) over 30 days, then
 * times the first page of `vigia central logs --mac M` (50 rows, newest
 * MAC's events in time order): in-process through the same query code,
 * R times (median and worst), and once as the CLI a user runs (process
 * start included). Reference in the same run: psql running the query's
 * SQL shape (`\timing`).
 *
 * Needs Debian's postgresql (15) and root (PostgreSQL runs as `postgres`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startPostgres } from "../../test/central/_pg.ts";
import { centralSection, connectCentral, migrateCentral } from "../../lib/central/mod.ts";
import { centralVerbs } from "../../lib/central/queries.ts";
import type { CentralConfig } from "../../lib/central/config.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "10000000" },
    sensors: { type: "string", default: "10" },
    runs: { type: "string", default: "20" },
  },
});
const rows = Number(values.rows), sensors = Number(values.sensors), runs = Number(values.runs);
const macs = 5000;

const pg = await startPostgres();
const dir = await Deno.makeTempDir({ prefix: "vigia-bench-cq-" });
try {
  const section = {
    ...Object.fromEntries(
      Object.entries(centralSection.fields).map((
        [k, f],
      ) => [k, (f as { default: unknown }).default]),
    ),
    url: pg.url,
    password_file: pg.passwordFile,
    tls: "disable",
  } as CentralConfig;
  const conn = connectCentral(section);
  await migrateCentral(conn.sql);
  const start = Date.now() - 30 * 86_400_000;
  await conn.sql`SELECT vigia.ensure_event_partitions(${
    new Date(start).toISOString().slice(0, 10)
  }::date, current_date)`;
  const t0 = performance.now();
  // Server-side generation: every row a DNS query of one of `macs` stations, spread over 30 days.
  await pg.psql(
    `INSERT INTO vigia.events (sensor, local_id, time, kind, mac, vendor, to_client, src_mac,
       src_ip, dst_ip, src_port, dst_port, proto, trans_id, query, qtype, qclass)
     SELECT 'sensor-' || (g % ${sensors}), g,
       to_timestamp(${start / 1000} + (g::double precision / ${rows}) * 30 * 86400),
       'dns', ('3c:22:fb:' || lpad(to_hex((g % ${macs}) >> 16), 2, '0') || ':' ||
         lpad(to_hex(((g % ${macs}) >> 8) & 255), 2, '0') || ':' ||
         lpad(to_hex((g % ${macs}) & 255), 2, '0'))::macaddr,
       'Apple', false, NULL, ('10.1.' || ((g % ${macs}) >> 8) || '.' || ((g % ${macs}) & 255))::inet,
       '10.1.0.53'::inet, 40000, 53, 'udp', g % 65536, 'host' || (g % 1000) || '.example', 1, 1
     FROM generate_series(1, ${rows}) g`,
    { db: "vigia" },
  );
  await pg.psql("ANALYZE vigia.events", { db: "vigia" });
  console.log(`filled ${rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const mac = "3c:22:fb:00:00:2a";
  // A fresh connection, as the CLI has: its first query also loads the partitions' catalog.
  await conn.close();
  const fresh = connectCentral(section);
  // Connecting (TCP, SCRAM authentication, npm:postgres's type lookup) timed on its own.
  const k0 = performance.now();
  await fresh.sql`SELECT 1`;
  const connectMs = performance.now() - k0;
  const logs = centralVerbs.find((v) => v.name === "logs")!;
  const times: number[] = [];
  let got = 0;
  for (let i = 0; i < runs; i++) {
    const q0 = performance.now();
    const page = await logs.run(fresh.sql, { mac, limit: 50 }, { sensors: [] }) as {
      rows: unknown[];
    };
    times.push(performance.now() - q0);
    got = page.rows.length;
  }
  const first = times[0];
  times.sort((a, b) => a - b);
  // Reference: the server's own execution time of the same SQL shape (EXPLAIN ANALYZE).
  const plan = await pg.psql(
    `EXPLAIN (ANALYZE) SELECT * FROM vigia.events WHERE mac = '${mac}' ORDER BY time, sensor, local_id LIMIT 50`,
    { db: "vigia" },
  );
  const psqlMs = /Execution Time: ([0-9.]+) ms/.exec(plan)?.[1] ?? "?";
  // psql's session is new: its planning pays the catalog loading a first query pays.
  const planMs = /Planning Time: ([0-9.]+) ms/.exec(plan)?.[1] ?? "?";
  await Deno.writeTextFile(
    `${dir}/v.toml`,
    `[central]\nurl = "${pg.url}"\npassword_file = "${pg.passwordFile}"\ntls = "disable"\n`,
  );
  const c0 = performance.now();
  const cli = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../main.ts", import.meta.url).pathname,
      "central",
      "logs",
      "--config",
      `${dir}/v.toml`,
      "--mac",
      mac,
      "--json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const cliMs = performance.now() - c0;
  if (!cli.success) throw new Error(new TextDecoder().decode(cli.stderr));
  console.log(
    `central logs --mac first page (${got} rows) on ${rows} rows / ${sensors} sensors: ` +
      `median ${times[Math.floor(times.length / 2)].toFixed(1)} ms, worst ${
        times[times.length - 1].toFixed(1)
      } ms over ${runs} runs in-process (the first after connecting ${
        first.toFixed(1)
      } ms; connecting itself ${
        connectMs.toFixed(1)
      } ms); PostgreSQL's execution time of the same SQL ${psqlMs} ms, planning it in a new session ${planMs} ms; ` +
      `the CLI process (start included) ${cliMs.toFixed(0)} ms`,
  );
  await fresh.close();
} finally {
  await pg.close();
  await Deno.remove(dir, { recursive: true });
}
