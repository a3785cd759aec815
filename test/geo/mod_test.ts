import assert from "node:assert/strict";
import {
  formatUtcOffset,
  mgrsReference,
  mgrsValue,
  openGeo,
  timeZoneValue,
  utcOffsetMinutes,
  utmBand,
  utmCell,
  utmValue,
} from "../../lib/geo/mod.ts";
import { sharedTestdata } from "../_env.ts";
import { asnRecord, cityRecord, hasMmdbWriter, writeMmdb } from "../scan/_mmdb.ts";

const geoDir = `${sharedTestdata ?? "../shared/testdata"}/geoip`;
const sharedGeo = sharedTestdata !== null;
if (!sharedGeo) console.log(`SKIP shared geo tests: ${geoDir} is absent`);
const writer = hasMmdbWriter();
if (!writer) console.log("SKIP mmdb writer tests: perl MaxMind::DB::Writer is not installed");

Deno.test("utmCell: Recife is 25L; bands, polar limits and the Norway/Svalbard exceptions", () => {
  assert.deepEqual(utmCell(-8.05, -34.9), { zone: 25, band: "L" });
  assert.equal(utmValue(utmCell(-8.05, -34.9)), 25 * 76);
  assert.equal(utmBand(-80), "C");
  assert.equal(utmBand(84), "X");
  assert.equal(utmBand(0), "N");
  assert.equal(utmBand(-0.0001), "M");
  assert.equal(utmCell(85, 0), null);
  assert.equal(utmCell(-80.5, 0), null);
  assert.equal(utmCell(Number.NaN, 0), null);
  assert.deepEqual(utmCell(60, 5), { zone: 32, band: "V" }); // Bergen: widened 32V
  assert.deepEqual(utmCell(78, 20), { zone: 33, band: "X" }); // Svalbard
  assert.deepEqual(utmCell(78, 8.9), { zone: 31, band: "X" });
  assert.deepEqual(utmCell(0, 180), { zone: 1, band: "N" });
  assert.deepEqual(utmCell(0, -180), { zone: 1, band: "N" });
  assert.deepEqual(utmCell(0, 179.99), { zone: 60, band: "N" });
  assert.equal(utmValue(null), null);
});

Deno.test("utm: the original's swapped latitude/longitude values for Brazilian capitals", () => {
  // fault-tolerance-metrics.md: Recife 2088, Fortaleza 2160, São Luís 2130, Rio 1917.
  const swapped = (lat: number, lon: number) => utmValue(utmCell(lon, lat));
  assert.equal(swapped(-8.05, -34.9), 2088);
  assert.equal(swapped(-3.72, -38.54), 2160);
  assert.equal(swapped(-2.53, -44.3), 2130);
  assert.equal(swapped(-22.9, -43.2), 1917);
});

Deno.test("utmCell agrees with npm:mgrs's zone and band over a world grid", () => {
  let compared = 0;
  for (let lat = -79.5; lat <= 83.5; lat += 3.7) {
    for (let lon = -179.5; lon < 180; lon += 4.3) {
      const m = mgrsReference(lat, lon)!;
      const cell = utmCell(lat, lon)!;
      assert.equal(m.slice(0, m.length - 12), `${cell.zone}${cell.band}`, `at ${lat},${lon}`);
      compared++;
    }
  }
  assert.ok(compared > 3000);
});

Deno.test("mgrs: Recife at 1 m precision and its published value", () => {
  const ref = mgrsReference(-8.05, -34.9);
  assert.equal(ref, "25LBM9061009688");
  assert.equal(mgrsValue(ref), 32166584392400);
  assert.equal(mgrsValue("25LBM9061009688"), 25 * (76 + 66) * 9061009688);
  assert.equal(mgrsReference(85, 10), null);
  assert.equal(mgrsReference(Number.NaN, 10), null);
  assert.equal(mgrsValue(null), null);
  assert.equal(mgrsValue("garbage"), null);
});

Deno.test("time zones: offsets through Intl, DST, formatting and the 2012 value", () => {
  assert.equal(utcOffsetMinutes("America/Recife", new Date("2012-01-01T12:00:00Z")), -180);
  assert.equal(utcOffsetMinutes("America/Los_Angeles", new Date("2020-07-01T12:00:00Z")), -420);
  assert.equal(utcOffsetMinutes("America/Los_Angeles", new Date("2020-01-01T12:00:00Z")), -480);
  assert.equal(utcOffsetMinutes("Asia/Kolkata", new Date("2020-01-01T12:00:00Z")), 330);
  assert.equal(utcOffsetMinutes("Europe/London", new Date("2020-01-01T12:00:00Z")), 0);
  assert.equal(utcOffsetMinutes("Not/AZone", new Date()), null);
  assert.equal(formatUtcOffset(-180), "-0300");
  assert.equal(formatUtcOffset(330), "+0530");
  assert.equal(formatUtcOffset(0), "+0000");
  assert.equal(timeZoneValue("America/Recife"), 30000);
  assert.equal(timeZoneValue("Asia/Kolkata"), 53000);
  assert.equal(timeZoneValue("Europe/London"), 0);
  assert.equal(timeZoneValue(null), 0);
  assert.equal(timeZoneValue("Not/AZone"), 0);
  // Sao Paulo had DST in January 2012 (-0200), which the 2012 reference date captures.
  assert.equal(timeZoneValue("America/Sao_Paulo"), 20000);
});

Deno.test("openGeo: missing databases give empty fields and one warning each", async () => {
  const geo = await openGeo({ cityDb: "/nonexistent/city.mmdb", asnDb: "/nonexistent/asn.mmdb" });
  assert.equal(geo.warnings.length, 2);
  assert.match(geo.warnings[0], /city database \/nonexistent\/city\.mmdb not usable/);
  assert.deepEqual(geo.lookup("89.160.20.112"), {});
  assert.equal(geo.hasCity, false);
});

Deno.test({
  name: "openGeo: databases written by MaxMind::DB::Writer",
  ignore: !writer,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await writeMmdb(`${dir}/city.mmdb`, "GeoLite2-City", [{
        network: "200.238.0.0/16",
        data: cityRecord("BR", "Brazil", "Recife", {
          latitude: -8.05,
          longitude: -34.9,
          time_zone: "America/Recife",
          accuracy_radius: 50,
        }),
      }, {
        network: "2804:10::/32",
        data: cityRecord("BR", "Brazil", undefined, { latitude: -10, longitude: -55 }),
      }]);
      await writeMmdb(`${dir}/asn.mmdb`, "GeoLite2-ASN", [
        { network: "200.238.0.0/16", data: asnRecord(64500, "Example Recife") },
      ]);
      const geo = await openGeo({ cityDb: `${dir}/city.mmdb`, asnDb: `${dir}/asn.mmdb` });
      assert.deepEqual(geo.warnings, []);
      const g = geo.lookup("200.238.1.2");
      assert.equal(g.countryCode, "BR");
      assert.equal(g.city, "Recife");
      assert.equal(g.latitude, -8.05);
      assert.equal(g.longitude, -34.9);
      assert.equal(g.timeZone, "America/Recife");
      assert.equal(g.accuracyRadius, 50);
      assert.equal(g.asn, 64500);
      assert.equal(g.asOrg, "Example Recife");
      assert.equal(geo.lookup("2804:10::1").countryCode, "BR");
      assert.equal(geo.lookup("2804:10::1").city, undefined);
      assert.deepEqual(geo.lookup("192.0.2.1"), {});
      assert.deepEqual(geo.lookup("not an ip"), {});
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "openGeo: MaxMind's test databases (shared testdata)",
  ignore: !sharedGeo,
  fn: async () => {
    const geo = await openGeo({
      cityDb: `${geoDir}/GeoLite2-City-Test.mmdb`,
      asnDb: `${geoDir}/GeoLite2-ASN-Test.mmdb`,
    });
    const g = geo.lookup("89.160.20.112");
    assert.equal(g.countryCode, "SE");
    assert.equal(g.city, "Linköping");
    assert.equal(g.asn, 29518);
    assert.equal(geo.lookup("214.78.0.1").city, "San Diego");
    assert.equal(geo.lookup("214.78.0.1").asn, 721);
    assert.equal(geo.lookup("81.2.69.142").asn, undefined);
  },
});
