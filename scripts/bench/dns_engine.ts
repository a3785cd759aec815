/**
 * The JavaScript cost of counting on the DNS fast path, without the kernel
 * and without a load generator: the UDP worker's per-batch loop (copy 64
 * queries into their slots, tick, answer each in place with the
 * {@linkcode Responder}, record the batch's duration) run in this process
 * over the query mix of `scripts/bench/dns.ts`, with the metric regions
 * counted (`metrics` on) and not (off), in alternating rounds of the same
 * length. Prints each round's ns per query for both, the per-round ratio
 * on/off and the median of those ratios.
 *
 * This isolates what `[metrics]` adds per query (a few typed-array
 * increments); `scripts/bench/dns.ts --metrics both` measures the same cost
 * end to end, where it is a small part of the server's CPU per query.
 *
 * Usage: deno run -A scripts/bench/dns_engine.ts [--rounds 9] [--chunks 200] [--hosts 2000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { COUNTER_COUNT, Responder } from "../../lib/dns/engine.ts";
import { buildZoneDb } from "../../lib/dns/zone_db.ts";
import { parseZoneText } from "../../lib/dns/zone_file.ts";
import { benchQueries, benchZone, wireQuery } from "./_dns_data.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "9" },
    chunks: { type: "string", default: "200" },
    hosts: { type: "string", default: "2000" },
    child: { type: "string", default: "" },
  },
});
const rounds = Number(values.rounds);
const chunks = Number(values.chunks);
const CHUNK = 4096;
const hosts = Number(values.hosts);

const { records } = parseZoneText(benchZone(hosts), { file: "bench.zone" });
const queries = benchQueries(hosts).map(([name, type], i) => wireQuery(name, type, i & 0xffff));
const BATCH = 64;
const slots = Array.from({ length: BATCH }, () => new Uint8Array(1232));
const client = new Uint8Array([127, 0, 0, 1]);

function responder(metrics: boolean): Responder {
  return new Responder(buildZoneDb(records, { slotOf: () => 0 }).db, {
    maxUdpPayload: 1232,
    cacheEntries: 100_000,
    counters: new Float64Array(new SharedArrayBuffer(COUNTER_COUNT * 8)),
    metrics,
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
let next = 0;
/** Answers `count` queries in batches; returns the wall time in ms. */
function run(r: Responder, count: number): number {
  const start = performance.now();
  for (let n = 0; n < count; n += BATCH) {
    const first = next;
    for (let i = 0; i < BATCH; i++) {
      slots[i].set(queries[next]);
      next = next + 1 === queries.length ? 0 : next + 1;
    }
    const t0 = performance.now();
    r.tick(t0);
    for (let i = 0, q = first; i < BATCH; i++, q = q + 1 === queries.length ? 0 : q + 1) {
      r.client(client, false);
      r.udp(slots[i], queries[q].length);
    }
    r.observe((performance.now() - t0) / 1000, BATCH, false);
  }
  return performance.now() - start;
}

if (values.child) {
  // One variant in a process of its own: warm up, then the median time of `chunks` chunks.
  const r = responder(values.child === "on");
  for (let i = 0; i < 20; i++) run(r, 40_000);
  const times: number[] = [];
  for (let c = 0; c < chunks; c++) times.push(run(r, CHUNK));
  console.log(JSON.stringify({ ns: (median(times) * 1e6) / CHUNK }));
  Deno.exit(0);
}

async function child(metrics: boolean): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--child",
      metrics ? "on" : "off",
      "--chunks",
      String(chunks),
      "--hosts",
      String(hosts),
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("the measuring process failed");
  return JSON.parse(new TextDecoder().decode(out.stdout)).ns;
}

const ratios: number[] = [];
console.log(
  `engine loop, batches of ${BATCH}, ${queries.length} queries over ${hosts} hosts; one process per variant per round (alternating order), warmed up, median time of ${chunks} chunks of ${CHUNK} queries`,
);
for (let round = 1; round <= rounds; round++) {
  const ns: Record<string, number> = {};
  for (const m of round % 2 === 1 ? [false, true] : [true, false]) {
    ns[m ? "on" : "off"] = await child(m);
  }
  ratios.push(ns.on / ns.off);
  console.log(
    `round ${round}  off ${ns.off.toFixed(1)} ns/query  on ${ns.on.toFixed(1)} ns/query  on/off ${
      (ns.on / ns.off).toFixed(3)
    }`,
  );
}
console.log(`median of the rounds' on/off: ${median(ratios).toFixed(3)} (${rounds} rounds)`);
