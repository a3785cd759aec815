/**
 * Scanner benchmark: 1,000 domains × 3 resolvers against three DNS servers on
 * loopback (started here), through `analyseDomain` with bounded concurrency.
 * Prints the total time and, as the reference measured in the same run, the
 * time the bare DNS client takes for the same number of service-address
 * queries at the same concurrency.
 *
 * Run: deno run -A scripts/bench/scan.ts [--domains 1000] [--concurrency 64] [--rounds 1]
 *
 * @module
 */

import { openGeo } from "../../lib/geo/mod.ts";
import { query, type ResolverAddress } from "../../lib/resolver/mod.ts";
import { analyseDomain } from "../../lib/scan/mod.ts";
import { mapLimit } from "../../lib/scan/component.ts";
import { startZoneServer, type ZoneRecord } from "../../test/resolver/_zone_server.ts";
import { asnRecord, cityRecord, hasMmdbWriter, writeMmdb } from "../../test/scan/_mmdb.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const DOMAINS = arg("domains", 1000);
const CONCURRENCY = arg("concurrency", 64);
const ROUNDS = arg("rounds", 1);

const records: ZoneRecord[] = [
  {
    name: "bench.test",
    type: "SOA",
    data: {
      mname: "ns1.bench.test",
      rname: "h.bench.test",
      serial: 1,
      refresh: 1,
      retry: 1,
      expire: 1,
      minimum: 60,
    },
  },
  { name: "bench.test", type: "NS", data: "ns1.bench.test" },
  { name: "bench.test", type: "NS", data: "ns2.bench.test" },
  { name: "ns1.bench.test", type: "A", data: "200.238.1.53" },
  { name: "ns2.bench.test", type: "A", data: "177.10.1.53" },
];
const names: string[] = [];
for (let i = 0; i < DOMAINS; i++) {
  const name = `d${String(i).padStart(4, "0")}.bench.test`;
  names.push(name);
  records.push(
    { name, type: "A", ttl: 300, data: `200.238.${i % 250}.${1 + (i % 200)}` },
    { name, type: "A", ttl: 300, data: `177.10.${i % 250}.${1 + (i % 200)}` },
    { name, type: "AAAA", ttl: 300, data: `2001:db8:${i.toString(16)}::1` },
  );
}

const servers = await Promise.all([0, 1, 2].map(() => startZoneServer({ records })));
const resolvers: ResolverAddress[] = servers.map((s) => ({ host: s.host, port: s.port }));

const dir = await Deno.makeTempDir({ prefix: "vigia-bench-scan-" });
let geoNote = "no geo databases (perl MaxMind::DB::Writer missing)";
let cityDb = "", asnDb = "";
if (hasMmdbWriter()) {
  await writeMmdb(`${dir}/city.mmdb`, "GeoLite2-City", [
    {
      network: "200.238.0.0/16",
      data: cityRecord("BR", "Brazil", "Recife", {
        latitude: -8.05,
        longitude: -34.9,
        time_zone: "America/Recife",
      }),
    },
    {
      network: "177.10.0.0/16",
      data: cityRecord("BR", "Brazil", "Fortaleza", {
        latitude: -3.72,
        longitude: -38.54,
        time_zone: "America/Fortaleza",
      }),
    },
  ]);
  await writeMmdb(`${dir}/asn.mmdb`, "GeoLite2-ASN", [
    { network: "200.238.0.0/16", data: asnRecord(64500, "Recife Net") },
    { network: "177.10.0.0/16", data: asnRecord(64501, "Fortaleza Net") },
  ]);
  cityDb = `${dir}/city.mmdb`;
  asnDb = `${dir}/asn.mmdb`;
  geoNote = "geo from mmdb files written by MaxMind::DB::Writer";
}
const geo = await openGeo({ cityDb, asnDb });

// Warm up the code paths (JIT, sockets) outside the measurement.
await mapLimit(
  names.slice(0, 20),
  8,
  (d) => analyseDomain(d, { resolvers, geo, rounds: 1, timeoutMs: 2000 }),
);

const queriesBefore = servers.reduce((n, s) => n + s.counts.udp + s.counts.tcp, 0);
const t0 = performance.now();
const results = await mapLimit(
  names,
  CONCURRENCY,
  (d) => analyseDomain(d, { resolvers, geo, rounds: ROUNDS, roundIntervalMs: 0, timeoutMs: 2000 }),
);
const scanMs = performance.now() - t0;
const queries = servers.reduce((n, s) => n + s.counts.udp + s.counts.tcp, 0) - queriesBefore;

const failed = results.filter((r) => r.counts.numServers !== 3 || r.counts.nameServers !== 2);
const wrongFlux = results.filter((r) => r.flux.verdict !== "Fast-Flux");

// Reference: the bare client asking A and AAAA of every domain at every resolver, same concurrency.
const jobs: { name: string; server: ResolverAddress; type: string }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const name of names) {
    for (const server of resolvers) {
      jobs.push({ name, server, type: "A" }, { name, server, type: "AAAA" });
    }
  }
}
const r0 = performance.now();
// Each analyseDomain keeps up to 2 × 3 queries in flight; match that.
await mapLimit(jobs, CONCURRENCY * 6, (j) => query(j.server, j.name, { type: j.type }));
const refMs = performance.now() - r0;

for (const s of servers) await s.close();
await Deno.remove(dir, { recursive: true });

console.log(
  `scanner benchmark: ${DOMAINS} domains × ${resolvers.length} resolvers, ${ROUNDS} round(s), concurrency ${CONCURRENCY}; ${geoNote}`,
);
console.log(
  `  scan total:        ${(scanMs / 1000).toFixed(2)} s  (${
    (DOMAINS / (scanMs / 1000)).toFixed(0)
  } domains/s, ${queries} DNS queries, ${(queries / (scanMs / 1000)).toFixed(0)} q/s)`,
);
console.log(
  `  reference (bare client, ${jobs.length} A/AAAA queries): ${(refMs / 1000).toFixed(2)} s`,
);
console.log(
  `  ratio scan / reference: ${(scanMs / refMs).toFixed(2)} (scan also finds NS, locates, scores)`,
);
console.log(`  target < 10 s: ${scanMs < 10_000 ? "met" : "NOT met"}`);
if (failed.length > 0 || wrongFlux.length > 0) {
  console.log(
    `  WRONG RESULTS: ${failed.length} incomplete, ${wrongFlux.length} unexpected verdicts`,
  );
  Deno.exit(1);
}
