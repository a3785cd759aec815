/**
 * The parts behind the server, without TLS: open list formats and refresh
 * (last good copy kept, on disk too), the resolver pool (TTL cache, coalesced
 * lookups, early answer, failures), the decision rule, branch selection with
 * MaxMind's own test databases, and the config checks.
 */

import assert from "node:assert/strict";
import { sharedTestdata } from "../_env.ts";
import { configSchema } from "../../lib/app/mod.ts";
import { ConfigError } from "../../lib/config/mod.ts";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import { openGeo } from "../../lib/geo/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { BranchDirectory } from "../../lib/veridns/branches.ts";
import { ipv4ToNumber } from "../../lib/veridns/codec.ts";
import type { OpenListConfig } from "../../lib/veridns/config.ts";
import { dohQuery } from "../../lib/veridns/doh.ts";
import { jsonPathStrings, OpenLists, parseOpenList } from "../../lib/veridns/open_lists.ts";
import {
  lookupA,
  type QuestionAnswer,
  ResolverPool,
  type TrustedResolver,
} from "../../lib/veridns/resolvers.ts";
import { decide, outsideOpenLists } from "../../lib/veridns/verify.ts";
import { veridnsModule } from "../../lib/veridns/mod.ts";
import { startDoh } from "./_fixtures.ts";

const geoDir = `${sharedTestdata ?? "../shared/testdata"}/geoip`;
const haveShared = sharedTestdata !== null;
if (!haveShared) {
  console.log(`SKIP veridns shared GeoIP test: ${geoDir} is absent`);
}

const quiet = createLogger({ level: "error", write: () => {} });
const n = ipv4ToNumber;

Deno.test("open list formats: lines, CSV column, JSON paths of the providers' files", () => {
  const lines = parseOpenList(
    "# Cloudflare ips-v4\n173.245.48.0/20\n\n103.21.244.0/22 ; comment\nnot-a-range\n173.245.48.0/20\n",
    { format: "lines" },
  );
  assert.deepEqual(lines.ranges, ["173.245.48.0/20", "103.21.244.0/22"]);
  assert.equal(lines.invalid, 1);

  const csv = parseOpenList(
    '\uFEFFPrefix,Region\n"13.64.0.0/11",westus\n2603:1000::/24,x\n,empty\n',
    { format: "csv", column: "prefix" },
  );
  assert.deepEqual(csv.ranges, ["13.64.0.0/11", "2603:1000::/24"]);
  assert.throws(() => parseOpenList("A,B\n1,2\n", { format: "csv", column: "Prefix" }), TypeError);

  const goog = JSON.stringify({
    syncToken: "1",
    prefixes: [{ ipv4Prefix: "8.8.4.0/24" }, { ipv6Prefix: "2001:4860::/32" }, {
      ipv4Prefix: "8.8.8.0/24",
    }],
  });
  assert.deepEqual(
    parseOpenList(goog, { format: "json", jsonPath: ["prefixes[].ipv4Prefix"] }).ranges,
    ["8.8.4.0/24", "8.8.8.0/24"],
  );
  const github = JSON.stringify({
    verifiable_password_authentication: true,
    ssh_keys: ["ssh-ed25519 AAAA"],
    hooks: ["192.30.252.0/22"],
    web: ["140.82.112.0/20", "192.30.252.0/22"],
    domains: { website: ["*.github.com"] },
  });
  const gh = parseOpenList(github, { format: "json", jsonPath: ["*[]"] });
  assert.deepEqual(gh.ranges, ["192.30.252.0/22", "140.82.112.0/20"]);
  assert.equal(gh.invalid, 1); // the ssh key
  const fastly = JSON.stringify({
    addresses: ["23.235.32.0/20"],
    ipv6_addresses: ["2a04:4e40::/32"],
  });
  assert.deepEqual(
    parseOpenList(fastly, { format: "json", jsonPath: ["addresses"] }).ranges,
    ["23.235.32.0/20"],
  );
  assert.deepEqual(jsonPathStrings({ a: { b: [{ c: "x" }, { c: 1 }] } }, "a.b[].c"), ["x"]);
  assert.throws(() => parseOpenList("<html>", { format: "json", jsonPath: ["x"] }), TypeError);
});

function listConfig(source: string, extra: Partial<OpenListConfig> = {}): OpenListConfig {
  return {
    name: "",
    source,
    format: "lines",
    column: "Prefix",
    json_path: [],
    refresh: 3_600_000,
    timeout: 2000,
    ca: "",
    ...extra,
  };
}

Deno.test("open lists merge and coalesce; a failed refresh keeps the last good copy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-lists-" });
  let body = "10.0.0.0/9\n10.128.0.0/9\n";
  let status = 200;
  const ac = new AbortController();
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    () => new Response(body, { status }),
  );
  const url = `http://127.0.0.1:${http.addr.port}/ips-v4`;
  try {
    await Deno.writeTextFile(`${dir}/a.txt`, "192.0.2.0/25\n192.0.2.128/25\n");
    const lists = new OpenLists([listConfig(`${dir}/a.txt`), listConfig(url, { name: "web" })], {
      copyDir: `${dir}/copies`,
      log: quiet,
    });
    await lists.start();
    await lists.ready;
    // Two halves of 10/8 and two halves of 192.0.2/24 coalesce into two intervals.
    assert.equal(lists.set.size, 2);
    assert.ok(lists.hasV4(n("10.200.1.1")) && lists.hasV4(n("192.0.2.200")));
    assert.ok(!lists.hasV4(n("11.0.0.1")));
    assert.match(await Deno.readTextFile(`${dir}/copies/web.txt`), /10\.128\.0\.0\/9/);

    // The URL now fails (HTTP 500, then an error page with 200): the old ranges stay.
    status = 500;
    await lists.refreshAll();
    assert.ok(lists.hasV4(n("10.1.1.1")));
    status = 200;
    body = "<html>maintenance</html>";
    await lists.refreshAll();
    assert.ok(lists.hasV4(n("10.1.1.1")));
    const web = lists.status().find((s) => s.name === "web")!;
    assert.equal(web.failures, 2);
    assert.match(web.lastError, /no CIDR range/);
    // A file that disappears keeps its last copy too.
    await Deno.remove(`${dir}/a.txt`);
    await lists.refreshAll();
    assert.ok(lists.hasV4(n("192.0.2.1")));
    lists.stop();

    // A restart while the URL is down starts from the disk copy.
    status = 503;
    const again = new OpenLists([listConfig(url, { name: "web" })], {
      copyDir: `${dir}/copies`,
      log: quiet,
    });
    await again.start();
    assert.ok(again.hasV4(n("10.1.1.1")));
    await again.ready;
    assert.ok(again.hasV4(n("10.1.1.1")));
    assert.equal(again.status()[0].fromDiskCopy, true);
    again.stop();
  } finally {
    ac.abort();
    await http.finished;
    await Deno.remove(dir, { recursive: true });
  }
});

/** A resolver whose answers the test controls, counting questions. */
function fakeResolver(
  name: string,
  answers: Record<string, QuestionAnswer | "fail" | "hang">,
  delayMs = 0,
): TrustedResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    name,
    timeoutMs: 200,
    asked,
    async ask(q, signal) {
      asked.push(q);
      const a = answers[q] ?? { rcode: "NXDOMAIN", answers: [] };
      if (a === "hang") {
        await new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("aborted")))
        );
      }
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (a === "fail") throw new Error("SERVFAIL");
      return a as QuestionAnswer;
    },
    close() {},
  };
}

const A = (name: string, data: string, ttl = 300) => ({ name, type: "A", ttl, data });

Deno.test("lookupA follows CNAMEs across answers and stops on loops", async () => {
  const zone: Record<string, QuestionAnswer> = {
    "a.test": {
      rcode: "NOERROR",
      answers: [{ name: "a.test", type: "CNAME", ttl: 60, data: "b.test" }],
    },
    "b.test": { rcode: "NOERROR", answers: [A("b.test", "192.0.2.1", 30)] },
    "loop.test": {
      rcode: "NOERROR",
      answers: [
        { name: "loop.test", type: "CNAME", ttl: 60, data: "loop2.test" },
        { name: "loop2.test", type: "CNAME", ttl: 60, data: "loop.test" },
      ],
    },
  };
  const ask = (q: string) => Promise.resolve(zone[q] ?? { rcode: "NXDOMAIN", answers: [] });
  assert.deepEqual(await lookupA(ask, "a.test"), {
    rcode: "NOERROR",
    addresses: [n("192.0.2.1")],
    ttl: 30,
  });
  assert.deepEqual((await lookupA(ask, "loop.test")).addresses, []);
  await assert.rejects(
    () => lookupA(() => Promise.resolve({ rcode: "SERVFAIL", answers: [] }), "x.test"),
    /SERVFAIL/,
  );
});

Deno.test("resolver pool: merged answers, TTL cache, coalescing, early answer, failures", async () => {
  const fast = fakeResolver("fast", {
    "w.test": { rcode: "NOERROR", answers: [A("w.test", "192.0.2.1")] },
  });
  const slow = fakeResolver(
    "slow",
    { "w.test": { rcode: "NOERROR", answers: [A("w.test", "192.0.2.2")] } },
    50,
  );
  const broken = fakeResolver("broken", { "w.test": "fail" });
  const pool = new ResolverPool([fast, slow, broken], { failureTtlMs: 60_000 });
  // Needs .1 only: answered as soon as "fast" has it, before "slow" is done.
  const t0 = performance.now();
  const early = await pool.resolve("w.test", [n("192.0.2.1")]);
  assert.ok(performance.now() - t0 < 45);
  assert.deepEqual(early.answered, ["fast"]);
  // Needs .2: waits for "slow"; the in-flight query is shared, not repeated.
  const both = await pool.resolve("w.test", [n("192.0.2.2")]);
  assert.deepEqual(both.answered.sort(), ["fast", "slow"]);
  assert.deepEqual(both.failed, ["broken"]);
  assert.equal(slow.asked.length, 1);
  // Everything cached now, the failure included: nobody is asked again.
  const cached = await pool.resolve("w.test", [n("192.0.2.9")]);
  assert.deepEqual(decide([n("192.0.2.9")], cached, "trust").malicious, [n("192.0.2.9")]);
  assert.deepEqual([fast.asked.length, slow.asked.length, broken.asked.length], [1, 1, 1]);
  // Concurrent lookups of a new name are coalesced into one question per resolver.
  await Promise.all([1, 2, 3].map(() => pool.resolve("other.test", [1])));
  assert.equal(fast.asked.filter((q) => q === "other.test").length, 1);
  const stats = pool.stats();
  assert.equal(stats.find((s) => s.name === "broken")!.failures, 1);
});

Deno.test("resolver pool: a hanging resolver is cut at its timeout", async () => {
  const hang = fakeResolver("hang", { "h.test": "hang" });
  const errors: string[] = [];
  const pool = new ResolverPool([hang], { onFailure: (_r, _d, e) => errors.push(e.message) });
  const t0 = performance.now();
  const r = await pool.resolve("h.test", [1]);
  const ms = performance.now() - t0;
  assert.ok(ms >= 150 && ms < 1500, `${ms} ms`);
  assert.deepEqual(r.failed, ["hang"]);
  assert.match(errors[0], /no answer within 200 ms/);
});

Deno.test("decision rule: open lists, merged resolvers, failure policy", () => {
  const open = (x: number) => x === n("10.0.0.1");
  const needed = outsideOpenLists(
    [n("10.0.0.1"), n("192.0.2.1"), n("192.0.2.9"), n("192.0.2.9")],
    open,
  );
  assert.deepEqual(needed, [n("192.0.2.1"), n("192.0.2.9")]);
  const ev = { sets: [new Set([n("192.0.2.1")])], answered: ["a"], failed: ["b"] };
  assert.deepEqual(decide(needed, ev, "trust"), {
    malicious: [n("192.0.2.9")],
    decision: "resolvers",
  });
  const none = { sets: [], answered: [], failed: ["a", "b"] };
  assert.deepEqual(decide(needed, none, "trust"), { malicious: [], decision: "trust-on-failure" });
  assert.deepEqual(decide(needed, none, "distrust"), {
    malicious: needed,
    decision: "distrust-on-failure",
  });
  assert.deepEqual(decide([], null, "distrust"), { malicious: [], decision: "open-list" });
});

Deno.test("DoH client: wire POST/GET and JSON flavours, HTTP errors", async () => {
  const doh = startDoh({ "x.test": { a: ["192.0.2.7"] }, "bad.test": { behaviour: "servfail" } });
  try {
    for (const flavour of ["wire-post", "wire-get"] as const) {
      const r = await dohQuery(doh.wireUrl, "X.test.", { flavour });
      assert.deepEqual(r, { rcode: "NOERROR", answers: [A("x.test", "192.0.2.7")] });
    }
    const j = await dohQuery(doh.jsonUrl, "x.test", { flavour: "json" });
    assert.deepEqual(j.answers, [A("x.test", "192.0.2.7")]);
    assert.equal((await dohQuery(doh.jsonUrl, "bad.test", { flavour: "json" })).rcode, "SERVFAIL");
    assert.equal((await dohQuery(doh.wireUrl, "nx.test")).rcode, "NXDOMAIN");
    await assert.rejects(
      () => dohQuery(doh.wireUrl.replace("/dns-query", "/nope"), "x.test"),
      /HTTP 404/,
    );
  } finally {
    await doh.close();
  }
});

Deno.test({
  name: "branch selection through MaxMind's own GeoLite2 City and Country test databases",
  ignore: !haveShared,
  fn: async () => {
    for (const db of ["GeoLite2-City-Test.mmdb", "GeoLite2-Country-Test.mmdb"]) {
      const geo = await openGeo({ cityDb: `${geoDir}/${db}` });
      assert.ok(geo.hasCity, db);
      const dir = new BranchDirectory({
        branches: { GB: ["198.51.100.1"], "bhutan": ["198.51.100.2"] },
        continent_branches: { EU: ["198.51.100.3"] },
        client_map: { "127.0.0.0/8": "216.160.83.56", "127.0.0.2": "81.2.69.142" },
        root_address: "192.0.2.1",
      }, geo);
      assert.deepEqual(dir.lookup("81.2.69.142").addresses, [n("198.51.100.1")], db);
      assert.equal(dir.lookup("81.2.69.142").match, "country");
      // Bhutan by its (case-insensitive) English name.
      assert.deepEqual(dir.lookup("67.43.156.1").addresses, [n("198.51.100.2")], db);
      // Linköping, Sweden: no SE branch, the EU continent one.
      const se = dir.lookup("89.160.20.112");
      assert.deepEqual([se.country, se.continent, se.match], ["SE", "EU", "continent"]);
      // Client map: the /32 beats the /8; the /8 maps loopback to Milton, US: root.
      assert.equal(dir.lookup("127.0.0.2").country, "GB");
      assert.deepEqual(dir.lookup("::ffff:127.0.0.5").addresses, [n("192.0.2.1")]);
      assert.equal(dir.lookup("127.0.0.5").match, "root");
    }
  },
});

Deno.test("config checks: files, resolver and list entries, branch keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-veridns-cfg-" });
  try {
    const text = `
[veridns]
cert = "${dir}/missing.crt"
root_address = "192.0.2.1"
continent_branches = { XX = ["192.0.2.3"] }
client_map = { "not-a-cidr" = "192.0.2.4" }
[[veridns.resolver]]
type = "dns"
[[veridns.resolver]]
type = "doh"
url = "http://192.0.2.9/dns-query"
[[veridns.open_list]]
source = "${dir}/nope.txt"
[[veridns.open_list]]
source = "https://example.test/x.json"
format = "json"
`;
    const err = await loadVigiaConfig(configSchema(), {
      path: "v.toml",
      text,
      checks: veridnsModule.checks,
    }).then(() => null, (e) => e);
    assert.ok(err instanceof ConfigError);
    const messages = err.issues.map((i) => `${i.path}: ${i.message}`).join("\n");
    for (
      const want of [
        /veridns\.key: set both cert and key/,
        /veridns\.cert: .*missing\.crt: no such file/,
        /veridns\.resolver\[0\]\.address: type "dns" needs an address/,
        /veridns\.resolver\[1\]\.url: .*plain http is allowed only to a loopback/,
        /veridns\.open_list\[0\]\.source: .*nope\.txt: no such file/,
        /veridns\.open_list\[1\]\.json_path: format "json" needs at least one path/,
        /continent_branches.*"XX" is not a continent code/,
        /client_map.*"not-a-cidr" is not an IP address or CIDR range/,
      ]
    ) assert.match(messages, want);
    // Shapes: an IPv6 branch and a bad duration carry file positions.
    const shape = await loadVigiaConfig(configSchema(), {
      path: "v.toml",
      text: `[veridns]\nbranches = { BR = ["2001:db8::1"] }\nidle_timeout = "soon"\n`,
    }).then(() => null, (e) => e);
    assert.ok(shape instanceof ConfigError);
    assert.match(
      shape.message,
      /v\.toml:2:\d+: veridns\.branches\.BR\[0\]: expected an IPv4 address/,
    );
    assert.match(shape.message, /v\.toml:3:\d+: veridns\.idle_timeout: invalid duration/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
