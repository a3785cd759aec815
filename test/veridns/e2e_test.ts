/**
 * End to end over real TLS on loopback: the veridns component with trusted
 * resolvers that are real DNS servers (UDP/TCP) and DoH endpoints (wire and
 * JSON, plain http and https with a private CA) on loopback, open lists from
 * files, GeoIP from an `.mmdb` the test writes, and clients appearing from
 * 127.0.0.x source addresses mapped to countries by `client_map`.
 */

import assert from "node:assert/strict";
import { sectionOf, verbNamed } from "../../lib/daemon/types.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { ensureSelfSigned } from "../../lib/tls/mod.ts";
import { veridnsBranch, VeridnsSession, veridnsVerify } from "../../lib/veridns/mod.ts";
import { veridnsModule } from "../../lib/veridns/mod.ts";
import {
  freeTcpPort,
  type Harness,
  hasMmdbWriter,
  startDns,
  startDoh,
  startHarness,
  type TestDns,
  type TestDoh,
  type TestZone,
  writeGeoDb,
} from "./_fixtures.ts";

const haveWriter = hasMmdbWriter();
if (!haveWriter) console.log("SKIP veridns e2e: perl MaxMind::DB::Writer is not installed");

const ZONE_A: TestZone = {
  "www.example.test": { a: ["192.0.2.10", "192.0.2.11"] },
  "alias.example.test": { cname: "www.example.test" },
  "big.example.test": { a: ["192.0.2.50"], behaviour: "truncate" },
  "fail.example.test": { behaviour: "servfail" },
};
const ZONE_B: TestZone = {
  "www.example.test": { a: ["192.0.2.12"] },
  "alias.example.test": { cname: "www.example.test" },
  "fail.example.test": { behaviour: "servfail" },
};
const ZONE_DOH_JSON: TestZone = {
  "doh.example.test": { a: ["203.0.113.5"] },
  "fail.example.test": { behaviour: "servfail" },
};
const ZONE_DOH_WIRE: TestZone = {
  "doh.example.test": { a: ["203.0.113.6"] },
  "fail.example.test": { behaviour: "servfail" },
};

interface World {
  dir: string;
  dnsA: TestDns;
  dnsB: TestDns;
  dohJson: TestDoh;
  dohTls: TestDoh;
  dohGet: TestDoh;
  harness: Harness;
  ca: string;
}

async function setUp(): Promise<World> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-veridns-e2e-" });
  const dnsA = await startDns(ZONE_A);
  const dnsB = await startDns(ZONE_B);
  const dohJson = startDoh(ZONE_DOH_JSON);
  const dohGet = startDoh(ZONE_DOH_WIRE);
  const dohCert = await ensureSelfSigned(`${dir}/doh`, {
    commonName: "doh test",
    altNames: ["127.0.0.1"],
  });
  const dohTls = startDoh(ZONE_DOH_WIRE, {
    cert: await Deno.readTextFile(dohCert.certPath),
    key: await Deno.readTextFile(dohCert.keyPath),
  });
  await Deno.writeTextFile(`${dir}/open.txt`, "# private ranges\n\n10.0.0.0/8   # ten\n;x\n");
  await Deno.writeTextFile(`${dir}/open.csv`, 'Prefix,Type\n172.16.0.0/12,x\n"172.20.0.0/16",y\n');
  await Deno.writeTextFile(
    `${dir}/open.json`,
    JSON.stringify({
      prefixes: [{ ipv4Prefix: "100.64.0.0/10" }, { ipv6Prefix: "2001:db8::/32" }],
    }),
  );
  await writeGeoDb(`${dir}/city.mmdb`, [
    { network: "81.2.69.0/24", country: "GB", countryName: "United Kingdom", continent: "EU" },
    { network: "175.16.199.0/24", country: "CN", countryName: "China", continent: "AS" },
    { network: "89.160.20.0/24", country: "SE", countryName: "Sweden", continent: "EU" },
    { network: "216.160.83.0/24", country: "US", countryName: "United States", continent: "NA" },
  ]);
  const port = freeTcpPort();
  const harness = await startHarness(
    `
[geoip]
city_db = "${dir}/city.mmdb"
asn_db = ""

[veridns]
listen = ["127.0.0.1:${port}"]
root_address = "192.0.2.1"
branches = { GB = ["198.51.100.10", "198.51.100.11"], "china" = ["198.51.100.20"] }
continent_branches = { EU = ["198.51.100.30"] }
client_map = { "127.0.0.2" = "81.2.69.142", "127.0.0.3" = "175.16.199.1", "127.0.0.4" = "89.160.20.112", "127.0.0.5/32" = "216.160.83.56" }
requests_per_second = 0

[[veridns.resolver]]
name = "dns-a"
address = "${dnsA.address}"

[[veridns.resolver]]
name = "dns-b"
address = "${dnsB.address}"
timeout = "1s"

[[veridns.resolver]]
name = "doh-json"
type = "doh"
url = "${dohJson.jsonUrl}"
flavour = "json"

[[veridns.resolver]]
name = "doh-tls"
type = "doh"
url = "${dohTls.wireUrl}"
ca = "${dohCert.certPath}"

[[veridns.resolver]]
name = "doh-get"
type = "doh"
url = "${dohGet.wireUrl}"
flavour = "wire-get"

[[veridns.open_list]]
source = "${dir}/open.txt"

[[veridns.open_list]]
source = "${dir}/open.csv"
format = "csv"
column = "prefix"

[[veridns.open_list]]
source = "${dir}/open.json"
format = "json"
json_path = ["prefixes[].ipv4Prefix"]
`,
    `${dir}/daemon`,
  );
  const ca = `${dir}/daemon/lib/veridns.crt`;
  return { dir, dnsA, dnsB, dohJson, dohTls, dohGet, harness, ca };
}

async function tearDown(w: World): Promise<void> {
  await w.harness.close();
  await w.dnsA.close();
  await w.dnsB.close();
  await w.dohJson.close();
  await w.dohTls.close();
  await w.dohGet.close();
  await Deno.remove(w.dir, { recursive: true }).catch(() => {});
}

Deno.test({
  name: "veridns end to end over TLS with real resolvers, open lists and GeoIP",
  ignore: !haveWriter,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const w = await setUp();
    const server = w.harness.address;
    const opts = { server, ca: w.ca, timeoutMs: 5000 };
    try {
      await t.step("self-signed certificate made under state_dir, fingerprint logged", async () => {
        const st = await Deno.stat(w.ca);
        assert.ok(st.isFile);
        const line = w.harness.logLines.find((l) => l.includes("self-signed certificate"));
        assert.ok(line, w.harness.logLines.join("\n"));
        assert.match(line!, /sha256=([0-9A-F]{2}:){31}[0-9A-F]{2}/);
      });

      await t.step(
        "branch answers by country code, country name, continent, else root",
        async () => {
          const cases: [string, string[]][] = [
            ["127.0.0.2", ["198.51.100.10", "198.51.100.11"]], // GB by ISO code, order kept
            ["127.0.0.3", ["198.51.100.20"]], // China by (case-insensitive) name
            ["127.0.0.4", ["198.51.100.30"]], // Sweden: none for SE, continent EU
            ["127.0.0.5", ["192.0.2.1"]], // United States: nothing configured: root
            ["127.0.0.1", ["192.0.2.1"]], // loopback itself: not in the database: root
          ];
          for (const [local, want] of cases) {
            const r = await veridnsBranch({ ...opts, localAddress: local });
            assert.deepEqual(r.addresses, want, `client ${local}`);
          }
        },
      );

      await t.step("verification against merged resolvers and open lists", async () => {
        // 192.0.2.10 from dns-a, .12 only from dns-b: merged answers trust both.
        let r = await veridnsVerify({
          ...opts,
          domain: "www.example.test",
          addresses: ["192.0.2.10", "192.0.2.12"],
        });
        assert.deepEqual([r.verified, r.malicious], [true, []]);
        // One unknown address among an open-list address and a resolver address.
        r = await veridnsVerify({
          ...opts,
          domain: "WWW.Example.Test.",
          addresses: ["192.0.2.10", "203.0.113.99", "10.1.2.3", "203.0.113.99"],
        });
        assert.deepEqual([r.verified, r.malicious], [false, ["203.0.113.99"]]);
        // CNAME followed; TCP retry on truncation; DoH JSON + wire (https with CA) + wire GET.
        r = await veridnsVerify({
          ...opts,
          domain: "alias.example.test",
          addresses: ["192.0.2.11"],
        });
        assert.equal(r.verified, true);
        r = await veridnsVerify({ ...opts, domain: "big.example.test", addresses: ["192.0.2.50"] });
        assert.equal(r.verified, true);
        assert.ok(w.dnsA.queries.some((q) => q.name === "big.example.test" && q.tcp));
        r = await veridnsVerify({
          ...opts,
          domain: "doh.example.test",
          addresses: ["203.0.113.5", "203.0.113.6"],
        });
        assert.equal(r.verified, true);
        assert.ok(w.dohJson.requests.json > 0);
        assert.ok(w.dohTls.requests["wire-post"] > 0);
        assert.ok(w.dohGet.requests["wire-get"] > 0);
        // Every address in an open list (lines, CSV, JSON): no resolver asked.
        const before = w.dnsA.queries.length;
        r = await veridnsVerify({
          ...opts,
          domain: "anything.example.test",
          addresses: ["10.9.9.9", "172.20.1.1", "100.64.0.1"],
        });
        assert.equal(r.verified, true);
        assert.equal(w.dnsA.queries.length, before);
        // A name no resolver knows: every address outside the open lists is malicious.
        r = await veridnsVerify({
          ...opts,
          domain: "nowhere.example.test",
          addresses: ["198.18.0.1", "10.0.0.1"],
        });
        assert.deepEqual(r.malicious, ["198.18.0.1"]);
      });

      await t.step("answers are cached: repeated verifications ask no resolver", async () => {
        const before = w.dnsA.queries.length + w.dnsB.queries.length;
        for (let i = 0; i < 3; i++) {
          const r = await veridnsVerify({
            ...opts,
            domain: "www.example.test",
            addresses: ["192.0.2.11"],
          });
          assert.equal(r.verified, true);
        }
        assert.equal(w.dnsA.queries.length + w.dnsB.queries.length, before);
      });

      await t.step("no resolver answers: trust by policy, counted and logged", async () => {
        const r = await veridnsVerify({
          ...opts,
          domain: "fail.example.test",
          addresses: ["198.18.0.7"],
        });
        w.harness.store.flush();
        assert.equal(
          r.verified,
          true,
          JSON.stringify(
            w.harness.store.query(
              "SELECT * FROM veridns_events WHERE domain = 'fail.example.test'",
            ),
          ),
        );
        const stats = w.harness.component.stats!() as Record<string, number>;
        assert.equal(stats.trust_on_failure, 1);
        assert.ok(stats.resolver_failures >= 5);
        assert.ok(w.harness.logLines.some((l) => /no trusted resolver answered/.test(l)));
      });

      await t.step(
        "one session: several requests, pipelined, sequence numbers checked",
        async () => {
          const s = await VeridnsSession.open({ ...opts, initialSeq: 0xfffffffe });
          try {
            const answers = await Promise.all([
              s.branch(),
              s.verify("www.example.test", ["192.0.2.10"]),
              s.verify("www.example.test", ["192.0.2.99"]),
              s.branch(),
            ]);
            assert.deepEqual(answers.map((a) => a.seq), [0xfffffffe, 0xffffffff, 0, 1]);
            assert.equal((answers[1] as { verified: boolean }).verified, true);
            assert.deepEqual((answers[2] as { malicious: string[] }).malicious, ["192.0.2.99"]);
          } finally {
            s.close();
          }
          // Raw pipelining: three frames in one write, three answers in order.
          const conn = await Deno.connectTls({
            hostname: "127.0.0.1",
            port: Number(server.split(":")[1]),
            caCerts: [await Deno.readTextFile(w.ca)],
          });
          const { encodeBranchQuery, encodeVerifyRequest, FrameDecoder } = await import(
            "../../lib/veridns/codec.ts"
          );
          const q1 = encodeBranchQuery(10),
            q2 = encodeVerifyRequest(11, "www.example.test", [
              0xC000020A,
            ]),
            q3 = encodeBranchQuery(12);
          const all = new Uint8Array(q1.length + q2.length + q3.length);
          all.set(q1);
          all.set(q2, q1.length);
          all.set(q3, q1.length + q2.length);
          await conn.write(all);
          const d = new FrameDecoder({ role: "client" });
          // deno-lint-ignore no-explicit-any
          const got: any[] = [];
          const buf = new Uint8Array(4096);
          while (got.length < 3) {
            const n = await conn.read(buf);
            assert.ok(n !== null, "server closed early");
            assert.equal(d.feed(buf.subarray(0, n), got), null);
          }
          assert.deepEqual(got.map((f) => [f.type, f.seq]), [[1, 10], [3, 11], [1, 12]]);
          conn.close();
        },
      );

      await t.step("events stored, daily log lines, malicious alert raised", async () => {
        w.harness.store.flush();
        w.harness.dailyLog.flush();
        const rows = w.harness.store.query<Record<string, string | number>>(
          "SELECT * FROM veridns_events WHERE domain = 'www.example.test' AND verified = 0 ORDER BY id",
        );
        assert.ok(rows.length >= 1);
        assert.equal(rows[0].client, "127.0.0.1");
        assert.equal(rows[0].reported, "192.0.2.10,203.0.113.99,10.1.2.3,203.0.113.99");
        assert.equal(rows[0].malicious, "203.0.113.99");
        assert.equal(rows[0].decision, "resolvers");
        assert.match(String(rows[0].answered), /dns-a/);
        const alerts = w.harness.store.query<{ subject: string }>(
          "SELECT subject FROM alerts WHERE kind = 'veridns-malicious'",
        );
        assert.ok(alerts.some((a) => a.subject === "www.example.test 203.0.113.99"));
        const day = new Date().toISOString().slice(0, 10);
        const text = await Deno.readTextFile(`${w.harness.dir}/log/${day}.log`);
        const line = text.split("\n").find((l) =>
          l.includes("\tveridns\t") && l.includes("malicious=203.0.113.99")
        );
        assert.ok(line, text.slice(0, 2000));
        assert.match(line!, /\tclient=127\.0\.0\.1\t/);
        assert.match(line!, /\tresolvers=[^\t]*dns-a/);
        const blacklist = await Deno.readTextFile(`${w.harness.dir}/log/alerts-${day}.log`);
        assert.match(blacklist, /veridns-malicious/);
        // The events verb reads them back.
        const { config, store, dailyLog } = w.harness;
        const listed = (await verbNamed(veridnsModule.verbs, "veridns events").run(
          { domain: "www.example.test", malicious: true },
          {
            store,
            config,
            section: sectionOf(veridnsModule, config),
            alerts: w.harness.alerts,
            dailyLog,
            log: createLogger({ level: "error" }),
            running: () => undefined,
          },
        ) as { rows: Record<string, unknown>[] }).rows;
        assert.ok(listed.length >= 1);
        assert.equal(listed[0].domain, "www.example.test");
        // Retention pruning removes old rows only.
        assert.deepEqual(
          await veridnsModule.prune!({ store, running: () => undefined }, { before: 0 }),
          {
            veridns_events: 0,
          },
        );
      });

      await t.step("stats count connections, frames, verifications and malicious", () => {
        const s = w.harness.component.stats!() as Record<string, unknown>;
        assert.ok((s.verifications as number) >= 10);
        assert.ok((s.malicious_addresses as number) >= 3);
        assert.ok((s.connections_total as number) >= 10);
        const fin = s.frames_in as Record<string, number>;
        assert.ok(fin.branch_query >= 7 && fin.verify_request >= 10);
        assert.ok((s.decided_by_open_list as number) >= 1);
        const status = w.harness.component.status!() as Record<string, unknown>;
        assert.equal(status.open_ranges, 3); // 10/8, 172.16/12 (holds 172.20/16), 100.64/10
      });
    } finally {
      await tearDown(w);
    }
  },
});

Deno.test({
  name: "veridns distrust policy reports addresses outside open lists when no resolver answers",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dns = await startDns({ "x.test": { behaviour: "drop" } });
    const port = freeTcpPort();
    const h = await startHarness(`
[geoip]
city_db = ""
asn_db = ""
[veridns]
listen = ["127.0.0.1:${port}"]
on_resolver_failure = "distrust"
[[veridns.resolver]]
address = "${dns.address}"
timeout = "200ms"
`);
    try {
      const r = await veridnsVerify({
        server: h.address,
        insecure: true,
        domain: "x.test",
        addresses: ["198.18.0.1", "198.18.0.2"],
      });
      assert.deepEqual(r.malicious, ["198.18.0.1", "198.18.0.2"]);
      const s = h.component.stats!() as Record<string, number>;
      assert.equal(s.distrust_on_failure, 1);
      // No GeoIP database: every client gets the root address.
      const b = await veridnsBranch({ server: h.address, insecure: true });
      assert.deepEqual(b.addresses, ["127.0.0.1"]);
    } finally {
      await h.close();
      await dns.close();
    }
  },
});
