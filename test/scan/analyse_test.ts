import assert from "node:assert/strict";
import { type GeoDb, openGeo } from "../../lib/geo/mod.ts";
import { sharedTestdata } from "../_env.ts";
import { analyseDomain, renderReport, type ScanResult } from "../../lib/scan/mod.ts";
import {
  startZoneServer,
  type ZoneRecord,
  type ZoneServer,
  type ZoneServerOptions,
} from "../resolver/_zone_server.ts";
import { asnRecord, cityRecord, hasMmdbWriter, writeMmdb } from "./_mmdb.ts";

const geoDir = `${sharedTestdata ?? "../shared/testdata"}/geoip`;
const sharedGeo = sharedTestdata !== null;
if (!sharedGeo) console.log(`SKIP shared geo scan tests: ${geoDir} is absent`);
const writer = hasMmdbWriter();
if (!writer) console.log("SKIP own-mmdb scan tests: perl MaxMind::DB::Writer is not installed");

// Own databases: Recife, Fortaleza and points on the equator for the hand-computed statistics.
const tmp = await Deno.makeTempDir({ prefix: "vigia-scan-test-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(tmp, { recursive: true });
  } catch { /* already gone */ }
});
let ownGeo: GeoDb | undefined;
if (writer) {
  const recife = { latitude: -8.05, longitude: -34.9, time_zone: "America/Recife" };
  await writeMmdb(`${tmp}/city.mmdb`, "GeoLite2-City", [
    { network: "200.238.0.0/16", data: cityRecord("BR", "Brazil", "Recife", recife) },
    {
      network: "177.10.0.0/16",
      data: cityRecord("BR", "Brazil", "Fortaleza", {
        latitude: -3.72,
        longitude: -38.54,
        time_zone: "America/Fortaleza",
      }),
    },
    // Equator points at longitudes 0, 1, 3 with offsets +1, +2, +4 h (values 10000, 20000, 40000).
    {
      network: "100.64.0.0/24",
      data: cityRecord("GA", "Gabon", "E0", { latitude: 0, longitude: 0, time_zone: "Etc/GMT-1" }),
    },
    {
      network: "100.64.1.0/24",
      data: cityRecord("GA", "Gabon", "E1", { latitude: 0, longitude: 1, time_zone: "Etc/GMT-2" }),
    },
    {
      network: "100.64.3.0/24",
      data: cityRecord("GA", "Gabon", "E3", { latitude: 0, longitude: 3, time_zone: "Etc/GMT-4" }),
    },
  ]);
  await writeMmdb(`${tmp}/asn.mmdb`, "GeoLite2-ASN", [
    { network: "200.238.0.0/16", data: asnRecord(64500, "Recife Net") },
    { network: "177.10.0.0/16", data: asnRecord(64501, "Fortaleza Net") },
    { network: "100.64.0.0/16", data: asnRecord(64502, "Equator Net") },
  ]);
  ownGeo = await openGeo({ cityDb: `${tmp}/city.mmdb`, asnDb: `${tmp}/asn.mmdb` });
}

const SOA = (zone: string) => ({
  mname: `ns1.${zone}`,
  rname: `hostmaster.${zone}`,
  serial: 1,
  refresh: 3600,
  retry: 600,
  expire: 86400,
  minimum: 60,
});

/** A zone with two name servers at the given addresses, plus `records`. */
function zone(apex: string, nsAddrs: [string, string], records: ZoneRecord[]): ZoneRecord[] {
  return [
    { name: apex, type: "SOA", data: SOA(apex) },
    { name: apex, type: "NS", data: `ns1.${apex}` },
    { name: apex, type: "NS", data: `ns2.${apex}` },
    { name: `ns1.${apex}`, type: "A", data: nsAddrs[0] },
    { name: `ns2.${apex}`, type: "A", data: nsAddrs[1] },
    ...records,
  ];
}

async function withServer<T>(
  options: ZoneServerOptions,
  fn: (s: ZoneServer) => Promise<T>,
): Promise<T> {
  const s = await startZoneServer(options);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

const fast = { rounds: 2, roundIntervalMs: 1, timeoutMs: 1000 };
const codes = (r: ScanResult) => r.findings.map((f) => f.code).sort();

function twentyTwo(name: string, prefix: string): ZoneRecord[] {
  return Array.from({ length: 22 }, (_, i) => ({
    name,
    type: "A",
    ttl: 297,
    data: `${prefix}.${i + 1}`,
  }));
}

Deno.test({
  name: "scan (own mmdb): one address, TTL 21594 → modified Holz −30, J/P 7, Clean",
  ignore: !writer,
  fn: async () => {
    const records = zone("pe.gov.test", ["177.10.0.53", "200.238.1.53"], [
      { name: "servicos.sds.pe.gov.test", type: "A", ttl: 21594, data: "200.238.10.5" },
    ]);
    const r = await withServer(
      { records },
      (s) => analyseDomain("Servicos.SDS.pe.gov.test.", { resolvers: [s], geo: ownGeo!, ...fast }),
    );
    assert.equal(r.domain, "servicos.sds.pe.gov.test");
    assert.equal(r.resolved, true);
    assert.equal(r.ttl, 21594);
    assert.deepEqual(r.counts, {
      aRecords: 1,
      aaaaRecords: 0,
      ranges: 1,
      asns: 1,
      countries: 1,
      cities: 1,
      numServers: 1,
      nameServers: 2,
      nameServerAddresses: 2,
    });
    assert.equal(r.flux.modifiedHolz.printed, -30);
    assert.equal(r.flux.jaroslawPatrycja.printed, 7);
    assert.equal(r.flux.holz2008.printed, -122);
    assert.equal(r.flux.verdict, "Clean");
    assert.equal(r.zone, "pe.gov.test");
    assert.deepEqual(r.nameServers.map((n) => n.name), ["ns1.pe.gov.test", "ns2.pe.gov.test"]);
    assert.deepEqual(codes(r), ["ADDRESS_NO_IPV6", "ADDRESS_SINGLE", "NS_NO_IPV6"]);
    assert.equal(r.worst, "WARNING");
    const a = r.addresses[0];
    assert.equal(a.city, "Recife");
    assert.equal(a.asn, 64500);
    assert.equal(a.prefix, "200.238.10.0/24");
    assert.equal(a.timeZone, "America/Recife");
    assert.equal(a.utcOffset2012, "-0300");
    assert.deepEqual(a.utm, { zone: 25, band: "L" });
    assert.equal(a.mgrs, "25LBM9061009688");
    assert.deepEqual(a.values, {
      timeZone: 30000,
      utm: 1900,
      utmOriginal: 2088,
      mgrs: 32166584392400,
    });
    assert.equal(a.rounds, 2);
    assert.deepEqual(r.spatial.timeZone, { moranI: 0, gearyC: 0 });
    assert.equal(r.spatial.located, 1);

    const text = renderReport(r);
    for (
      const s of [
        "List of IPs (1)",
        "List of ranges /24 (/48) (1)",
        "List of ASNs (1)",
        "AS64500  Recife Net",
        "List of countries (1)",
        "List of cities (1)",
        "Qname                    | TTL   | A Records | Ranges | ASNs | Countries | Cities | NumServers",
        "servicos.sds.pe.gov.test | 21594 | 1         | 1      | 1    | 1         | 1      | 1",
        "25LBM9061009688",
        "32166584392400",
        "Moran's I",
        "Geary's C",
        "Combined",
        "Unigram entropy",
        "WARNING | ADDRESS_SINGLE",
        "Verdict (rule-based): Clean: the original FFanalyse rule, kept on purpose",
        "; 3 of 3 numeric scores agree with it (Clean: Holz 2008, modified Holz, Jaroslaw/Patrycja).",
      ]
    ) assert.ok(text.includes(s), `report lacks ${JSON.stringify(s)}:\n${text}`);
    assert.match(text, /Modified Holz +\| [^|]+\| -30 +\| Clean/);
    assert.match(text, /Jaroslaw\/Patrycja +\| [^|]+\| 7 +\| Clean/);
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  },
});

Deno.test({
  name:
    "scan (own mmdb): 22 addresses in one /24 and one ASN, TTL 297, over TCP → 2, 50, Fast-Flux",
  ignore: !writer,
  fn: async () => {
    const records = zone("sinesp.gov.test", ["177.10.0.53", "200.238.1.53"], [
      ...twentyTwo("delegaciavirtual.sinesp.gov.test", "200.238.99"),
    ]);
    // Every UDP answer for the service name is truncated: the client must retry over TCP.
    const r = await withServer({
      records,
      udp: (name) => (name.startsWith("delegaciavirtual") ? "truncate" : "answer"),
    }, async (s) => {
      const out = await analyseDomain("delegaciavirtual.sinesp.gov.test", {
        resolvers: [s],
        geo: ownGeo!,
        ...fast,
      });
      assert.ok(s.counts.tcp >= 2, `TCP used ${s.counts.tcp} times`);
      return out;
    });
    assert.equal(r.counts.aRecords, 22);
    assert.equal(r.counts.numServers, 22);
    assert.equal(r.counts.ranges, 1);
    assert.equal(r.counts.asns, 1);
    assert.equal(r.counts.countries, 1);
    assert.equal(r.ttl, 297);
    assert.equal(r.flux.ttlFlag, 1);
    assert.equal(r.flux.modifiedHolz.printed, 2);
    assert.equal(r.flux.jaroslawPatrycja.printed, 50);
    assert.equal(r.flux.verdict, "Fast-Flux");
    assert.deepEqual(codes(r), [
      "ADDRESS_NO_IPV6",
      "ADDRESS_ONE_ASN",
      "ADDRESS_ONE_PREFIX",
      "FAST_FLUX",
      "NS_NO_IPV6",
    ]);
    // All 22 share one location: every weight is 0, so the statistics are 0, not NaN.
    assert.deepEqual(r.spatial.mgrs, { moranI: 0, gearyC: 0 });
    assert.deepEqual(r.spatial.combined, { moranI: 0, gearyC: 0 });
    assert.equal(r.addresses[21].ip, "200.238.99.22");
  },
});

Deno.test({
  name: "scan (shared MaxMind test DBs): the two published cases",
  ignore: !sharedGeo,
  fn: async () => {
    const geo = await openGeo({
      cityDb: `${geoDir}/GeoLite2-City-Test.mmdb`,
      asnDb: `${geoDir}/GeoLite2-ASN-Test.mmdb`,
    });
    const records = zone("gov.test", ["89.160.20.113", "81.2.69.142"], [
      { name: "servicos.sds.pe.gov.test", type: "A", ttl: 21594, data: "89.160.20.112" },
      ...twentyTwo("delegaciavirtual.sinesp.gov.test", "214.78.0"),
    ]);
    await withServer({ records }, async (s) => {
      const one = await analyseDomain("servicos.sds.pe.gov.test", {
        resolvers: [s],
        geo,
        ...fast,
      });
      assert.equal(one.addresses[0].city, "Linköping");
      assert.equal(one.addresses[0].asn, 29518);
      assert.equal(one.counts.countries, 1);
      assert.equal(one.flux.modifiedHolz.printed, -30);
      assert.equal(one.flux.jaroslawPatrycja.printed, 7);
      assert.equal(one.flux.verdict, "Clean");
      // 81.2.69.142 has no ASN in the test DB: AS diversity of the name servers is unknown.
      assert.ok(!codes(one).includes("NS_ONE_ASN"));
      const many = await analyseDomain("delegaciavirtual.sinesp.gov.test", {
        resolvers: [s],
        geo,
        ...fast,
      });
      assert.equal(many.counts.ranges, 1);
      assert.equal(many.counts.asns, 1);
      assert.equal(many.lists.asns[0].asn, 721);
      assert.equal(many.lists.cities[0].city, "San Diego");
      assert.equal(many.flux.modifiedHolz.printed, 2);
      assert.equal(many.flux.jaroslawPatrycja.printed, 50);
      assert.equal(many.flux.verdict, "Fast-Flux");
    });
  },
});

Deno.test({
  name: "scan (own mmdb): Moran's I and Geary's C end to end against the hand computation",
  ignore: !writer,
  fn: async () => {
    const records = zone("eq.test", ["100.64.0.53", "100.64.1.53"], [
      { name: "www.eq.test", type: "A", data: "100.64.0.10" },
      { name: "www.eq.test", type: "A", data: "100.64.1.10" },
      { name: "www.eq.test", type: "A", data: "100.64.3.10" },
      { name: "www.eq.test", type: "A", data: "192.0.2.1" }, // unlocated: left out
    ]);
    const r = await withServer(
      { records },
      (s) => analyseDomain("www.eq.test", { resolvers: [s], geo: ownGeo!, ...fast }),
    );
    assert.deepEqual(r.addresses.map((a) => a.values.timeZone), [10000, 20000, 40000, 0]);
    assert.equal(r.spatial.located, 3);
    assert.equal(r.spatial.unlocated, 1);
    const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);
    near(r.spatial.timeZone.moranI, -31 / 154);
    near(r.spatial.timeZone.gearyC, 54 / 77);
    // All three points are in UTM zone 31N: equal UTM values, no variance → 0.
    assert.deepEqual(r.spatial.utm, { moranI: 0, gearyC: 0 });
    near(r.spatial.combined.moranI, r.spatial.timeZone.moranI * 0 * r.spatial.mgrs.moranI);
    assert.ok(Object.is(r.spatial.combined.moranI, 0));
    assert.ok(r.spatial.mgrs.moranI !== 0 && Number.isFinite(r.spatial.mgrs.moranI));
    assert.deepEqual(codes(r), [
      "ADDRESS_ASN_UNKNOWN",
      "ADDRESS_NO_IPV6",
      "FAST_FLUX",
      "NS_NO_IPV6",
      "NS_ONE_ASN",
    ]);
  },
});

Deno.test("scan: rotation across rounds, CNAME chain, IPv6 /48 and NS found through the SOA", async () => {
  let n = 0;
  const pool = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"];
  const records = zone("rot.test", ["127.0.0.1", "127.0.0.2"], [
    { name: "www.deep.rot.test", type: "CNAME", data: "pool.rot.test" },
    ...pool.map((ip) => ({ name: "pool.rot.test", type: "A", ttl: 60, data: ip })),
    { name: "pool.rot.test", type: "AAAA", ttl: 60, data: "2001:db8:aa:bb::1" },
  ]);
  const r = await withServer({
    records,
    // Serve two of the four A records, a different pair each time.
    rewrite: (answers, _name, type) => {
      if (type !== "A" || answers.length < 4) return answers;
      const k = n++ % 2;
      return answers.filter((a) => a.type !== "A" || pool.indexOf(String(a.data)) % 2 === k);
    },
  }, (s) =>
    analyseDomain("www.deep.rot.test", {
      resolvers: [s],
      geo: ownGeo ?? new (class {})() as GeoDb,
      rounds: 3,
      roundIntervalMs: 1,
    }));
  assert.deepEqual(r.cnames, ["pool.rot.test"]);
  assert.deepEqual(r.addresses.map((a) => a.ip), [...pool, "2001:db8:aa:bb::1"]);
  assert.equal(r.addresses[4].prefix, "2001:db8:aa::/48");
  assert.equal(r.resolvers[0].rotated, true);
  assert.ok(codes(r).includes("ADDRESS_ROTATION"));
  assert.equal(r.zone, "rot.test");
  assert.equal(r.counts.nameServers, 2);
  assert.equal(r.ttl, 60);
});

Deno.test("scan: resolvers that disagree, one silent resolver, NXDOMAIN", async () => {
  const geo = await openGeo({});
  const base = (ip: string) =>
    zone("dis.test", ["127.0.0.1", "127.0.0.2"], [{ name: "www.dis.test", type: "A", data: ip }]);
  const good = await startZoneServer({ records: base("192.0.2.10") });
  const evil = await startZoneServer({ records: base("203.0.113.66") });
  const silent = await startZoneServer({ records: base("192.0.2.10"), udp: () => "drop" });
  try {
    const r = await analyseDomain("www.dis.test", {
      resolvers: [good, evil],
      geo,
      ...fast,
    });
    assert.ok(codes(r).includes("RESOLVERS_DISAGREE"), codes(r).join());
    assert.deepEqual(r.addresses.find((a) => a.ip === "203.0.113.66")?.resolvers, [
      `127.0.0.1:${evil.port}`,
    ]);
    const t0 = performance.now();
    const s = await analyseDomain("www.dis.test", {
      resolvers: [good, silent],
      geo,
      rounds: 1,
      timeoutMs: 150,
    });
    assert.ok(performance.now() - t0 < 2000);
    assert.ok(codes(s).includes("RESOLVER_FAILED"));
    assert.ok(!codes(s).includes("RESOLVERS_DISAGREE"));
    assert.equal(s.counts.numServers, 1);
    assert.equal(s.resolvers[1].answered, 0);
    assert.equal(s.resolvers[1].error?.includes("no answer"), true);
    const nx = await analyseDomain("nope.dis.test", { resolvers: [good], geo, ...fast });
    assert.equal(nx.rcode, "NXDOMAIN");
    assert.ok(codes(nx).includes("NAME_NOT_FOUND"));
    assert.equal(nx.zone, "dis.test");
  } finally {
    await Promise.all([good.close(), evil.close(), silent.close()]);
  }
});

Deno.test("scan: total failure and the deadline give findings, not exceptions", async () => {
  const geo = await openGeo({ cityDb: "/nonexistent/c.mmdb", asnDb: "/nonexistent/a.mmdb" });
  await withServer({ records: [], udp: () => "drop" }, async (s) => {
    const r = await analyseDomain("www.example.test", {
      resolvers: [s],
      geo,
      rounds: 1,
      timeoutMs: 100,
    });
    assert.equal(r.resolved, false);
    assert.deepEqual(codes(r), ["NS_NOT_FOUND", "RESOLUTION_FAILED"]);
    assert.equal(r.worst, "ERROR");
    assert.equal(r.rcode, null);
    assert.equal(r.ttl, null);
    assert.deepEqual(r.spatial.combined, { moranI: 0, gearyC: 0 });
    assert.equal(r.warnings.length, 2);
    assert.match(r.warnings[0], /city database/);
    assert.match(renderReport(r), /ERROR +\| RESOLUTION_FAILED/);

    const t0 = performance.now();
    const d = await analyseDomain("www.example.test", {
      resolvers: [s],
      geo,
      rounds: 3,
      timeoutMs: 5000,
      deadlineMs: 200,
    });
    assert.ok(performance.now() - t0 < 2000, "the deadline bounds the scan");
    assert.ok(d.warnings.some((w) => /deadline/.test(w)));
    assert.ok(codes(d).includes("RESOLUTION_FAILED"));
  });
  const none = await analyseDomain("www.example.test", { resolvers: [], geo });
  assert.deepEqual(codes(none), ["NO_RESOLVERS"]);
  await assert.rejects(
    analyseDomain("not a domain!", { resolvers: [], geo }),
    /is not a domain name/,
  );
});
