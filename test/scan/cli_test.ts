// End to end: `vigia analyse` and `vigia ctl scan ...` as processes, against a loopback DNS server.
import assert from "node:assert/strict";
import { runVigia, startDaemon } from "../_helpers.ts";
import { startZoneServer, type ZoneRecord } from "../resolver/_zone_server.ts";
import { asnRecord, cityRecord, hasMmdbWriter, writeMmdb } from "./_mmdb.ts";

const writer = hasMmdbWriter();
if (!writer) console.log("SKIP geo parts of CLI scan tests: perl MaxMind::DB::Writer is missing");

const SOA = {
  mname: "ns1.pe.gov.test",
  rname: "h.pe.gov.test",
  serial: 1,
  refresh: 1,
  retry: 1,
  expire: 1,
  minimum: 60,
};
const RECORDS: ZoneRecord[] = [
  { name: "pe.gov.test", type: "SOA", data: SOA },
  { name: "pe.gov.test", type: "NS", data: "ns1.pe.gov.test" },
  { name: "pe.gov.test", type: "NS", data: "ns2.pe.gov.test" },
  { name: "ns1.pe.gov.test", type: "A", data: "200.238.1.53" },
  { name: "ns2.pe.gov.test", type: "A", data: "200.238.2.53" },
  { name: "servicos.sds.pe.gov.test", type: "A", ttl: 21594, data: "200.238.10.5" },
];

async function geoFiles(dir: string): Promise<{ city: string; asn: string }> {
  if (!writer) return { city: "", asn: "" };
  await writeMmdb(`${dir}/city.mmdb`, "GeoLite2-City", [{
    network: "200.238.0.0/16",
    data: cityRecord("BR", "Brazil", "Recife", {
      latitude: -8.05,
      longitude: -34.9,
      time_zone: "America/Recife",
    }),
  }]);
  await writeMmdb(`${dir}/asn.mmdb`, "GeoLite2-ASN", [
    { network: "200.238.0.0/16", data: asnRecord(64500, "Recife Net") },
  ]);
  return { city: `${dir}/city.mmdb`, asn: `${dir}/asn.mmdb` };
}

Deno.test("vigia analyse: report, --json, usage and failure exit codes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-analyse-" });
  const server = await startZoneServer({ records: RECORDS });
  const silent = await startZoneServer({ records: [], udp: () => "drop" });
  try {
    const geo = await geoFiles(dir);
    const configPath = `${dir}/vigia.toml`;
    await Deno.writeTextFile(
      configPath,
      `[geoip]\ncity_db = "${geo.city}"\nasn_db = "${geo.asn}"\n[scanner]\nround_interval = "1ms"\nquery_timeout = "300ms"\n`,
    );
    const resolver = `127.0.0.1:${server.port}`;
    const json = await runVigia([
      "analyse",
      "-d",
      "servicos.sds.pe.gov.test",
      "--resolver",
      resolver,
      "--json",
      "--rounds",
      "2",
      "--config",
      configPath,
    ]);
    assert.equal(json.code, 0, json.stderr);
    const r = JSON.parse(json.stdout);
    assert.equal(r.domain, "servicos.sds.pe.gov.test");
    assert.equal(r.rounds, 2);
    assert.equal(r.counts.numServers, 1);
    assert.equal(r.flux.modifiedHolz.printed, writer ? -30 : -48);
    assert.equal(r.flux.jaroslawPatrycja.printed, writer ? 7 : 3);
    assert.equal(r.flux.verdict, "Clean");
    // Next to the verdict in the JSON: what it is, and how the numeric scores side with it.
    assert.match(r.flux.verdictNote, /original FFanalyse rule, kept on purpose/);
    assert.equal(r.flux.scoresAgreement.agree, 3);
    assert.equal(r.zone, "pe.gov.test");
    if (writer) {
      assert.equal(r.addresses[0].mgrs, "25LBM9061009688");
      assert.equal(r.addresses[0].values.mgrs, 32166584392400);
      assert.equal(json.stderr, "");
    }

    const text = await runVigia([
      "analyse",
      "--domain",
      "servicos.sds.pe.gov.test",
      "--resolver",
      resolver,
      "--resolver",
      resolver,
      "--rounds",
      "1",
      "--config",
      configPath,
    ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /Qname +\| TTL +\| A Records \| Ranges \| ASNs \| Countries \| Cities \| NumServers/,
    );
    assert.match(text.stdout, /servicos\.sds\.pe\.gov\.test \| 21594 \| 1 /);
    assert.match(text.stdout, /WARNING \| ADDRESS_SINGLE/);
    // The same resolver twice is asked once.
    assert.match(text.stdout, /1 resolver\(s\)/);

    const usage = await runVigia(["analyse", "-d", "not a domain", "--config", configPath]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /"not a domain" is not a domain name/);
    const badResolver = await runVigia(["analyse", "-d", "x.test", "--resolver", "dns.example"]);
    assert.equal(badResolver.code, 2);
    assert.match(badResolver.stderr, /dns\.example/);

    const failed = await runVigia([
      "analyse",
      "-d",
      "servicos.sds.pe.gov.test",
      "--resolver",
      `127.0.0.1:${silent.port}`,
      "--rounds",
      "1",
      "--config",
      configPath,
    ]);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /ERROR +\| RESOLUTION_FAILED/);
  } finally {
    await server.close();
    await silent.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("daemon: scheduled scan, ctl scan run and ctl scan results", async () => {
  const geoDir = await Deno.makeTempDir({ prefix: "vigia-scan-geo-" });
  const server = await startZoneServer({ records: RECORDS });
  const geo = await geoFiles(geoDir);
  const d = await startDaemon({
    config: `
[geoip]
city_db = "${geo.city}"
asn_db = "${geo.asn}"
[scanner]
enabled = true
resolvers = ["127.0.0.1:${server.port}"]
domains = ["servicos.sds.pe.gov.test"]
start_delay = "0s"
interval = "1h"
rounds = 1
round_interval = "1ms"
`,
  });
  try {
    // start_delay 0: the first cycle runs at once.
    await d.waitForLog(/scanned.*servicos\.sds\.pe\.gov\.test/);
    const run = await d.ctlJson(["scan", "run", "servicos.sds.pe.gov.test"]) as Record<
      string,
      unknown
    >[];
    const rows = Array.isArray(run) ? run : [run];
    assert.equal(rows[0].domain, "servicos.sds.pe.gov.test");
    assert.equal(rows[0].addresses, 1);
    assert.equal(rows[0].flux, "Clean");
    const history = await d.ctlJson([
      "scan",
      "results",
      "servicos.sds.pe.gov.test",
      "--history",
      "5",
    ]) as Record<string, unknown>[];
    assert.equal(history.length, 2);
    const table = await d.ctl(["scan", "results"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /servicos\.sds\.pe\.gov\.test/);
    const missing = await d.ctl(["scan", "results", "other.test"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no scan of other\.test stored yet/);
    const files = [...Deno.readDirSync(d.logDir)].map((e) => e.name);
    assert.ok(files.some((f) => /^scan-\d{4}-\d{2}-\d{2}\.log$/.test(f)), files.join());
  } finally {
    await d.stop();
    await server.close();
    await Deno.remove(geoDir, { recursive: true });
  }
});
