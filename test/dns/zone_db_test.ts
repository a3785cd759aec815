import assert from "node:assert/strict";
import { ConfigError } from "../../lib/config/mod.ts";
import { configSchema } from "../../lib/app/mod.ts";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import { sectionOf } from "../../lib/daemon/types.ts";
import { dnsModule } from "../../lib/dns/mod.ts";
import { buildZoneDb } from "../../lib/dns/zone_db.ts";
import { parseZoneText } from "../../lib/dns/zone_file.ts";
import { TYPE } from "../../lib/dns/wire.ts";

function problemsOf(text: string): string[] {
  const parsed = parseZoneText(text, { file: "t.zone" });
  assert.deepEqual(parsed.problems, []);
  return buildZoneDb(parsed.records).problems.map((p) => `${p.line}: ${p.message}`);
}

const HEAD = "$ORIGIN ex.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

Deno.test("a sound zone has no problems; empty non-terminals and cuts are marked", () => {
  const parsed = parseZoneText(HEAD + "a.b.c A 192.0.2.2\nd NS ns.d\nns.d A 192.0.2.3\n", {
    file: "t",
  });
  const { db, problems } = buildZoneDb(parsed.records);
  assert.deepEqual(problems, []);
  const zone = db.zones.get("\x02ex\x00")!;
  assert.ok(zone.nodes.has("\x01c\x02ex\x00"), "c.ex. is an empty non-terminal");
  assert.equal(zone.nodes.get("\x01b\x01c\x02ex\x00")!.rrsets.size, 0, "so is b.c.ex.");
  assert.equal(zone.nodes.get("\x02ns\x01d\x02ex\x00")!.cut, "\x01d\x02ex\x00");
  assert.equal(zone.negativeTtl, 5);
  assert.equal(db.records, 6);
  assert.ok(zone.soa.type === TYPE.SOA);
});

Deno.test("one SOA per zone", () => {
  assert.deepEqual(problemsOf(HEAD + "@ SOA ns h 2 2 3 4 5\n"), [
    "6: zone ex. has more than one SOA record; this one is ignored",
  ]);
});

Deno.test("CNAME exclusivity", () => {
  assert.deepEqual(
    problemsOf(
      HEAD + "w CNAME ns\nw A 192.0.2.9\nv A 192.0.2.9\nv CNAME ns\nu CNAME ns\nu CNAME w\n",
    ),
    [
      "7: w.ex. A beside a CNAME (RFC 1034 section 3.6.2); this record is ignored",
      "9: v.ex. has a CNAME and other data (RFC 1034 section 3.6.2); the CNAME is ignored",
      "11: u.ex. has more than one CNAME record; this one is ignored",
    ],
  );
});

Deno.test("out-of-zone data", () => {
  assert.deepEqual(problemsOf(HEAD + "www.elsewhere. A 192.0.2.1\n"), [
    "6: www.elsewhere. A is outside every zone (no SOA at or above it)",
  ]);
});

Deno.test("glue: missing for in-zone name servers, and nothing but glue below a cut", () => {
  assert.deepEqual(
    problemsOf("$ORIGIN ex.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n@ NS ns.other.\n"),
    [
      "4: name server ns.ex. (NS of ex.) has no A or AAAA record in zone ex.",
    ],
  );
  assert.deepEqual(problemsOf(HEAD + "d NS ns.d\nd NS ns.other.\nx.d TXT hidden\n"), [
    "8: x.d.ex. TXT is below the delegation at d.ex. and will not be served (only glue A/AAAA may be there)",
    "6: delegation ns.d.ex. (NS of d.ex.) has no A or AAAA record in zone ex. (missing glue)",
  ]);
  assert.deepEqual(problemsOf(HEAD + "d NS ns.d\nns.d A 192.0.2.5\nd A 192.0.2.6\n"), [
    "8: d.ex. A is below the delegation at d.ex. and will not be served (only glue A/AAAA may be there)",
  ]);
  assert.deepEqual(problemsOf("$ORIGIN ex.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n"), [
    "3: zone ex. has no NS records at its apex",
  ]);
});

Deno.test("config check reports zone files at FILE:LINE and config records at their key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/a.zone`,
      "$ORIGIN a.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nw CNAME ns\nw TXT x\nbad A 1.2.3\n",
    );
    const text = `[dns]
zone_files = ["${dir}/a.zone", "${dir}/missing.zone"]

[[dns.zone]]
origin = "b.test."
records = ["@ SOA ns h 1 2 3 4 5", "@ NS ns", "ns A 192.0.2.2", "x MX 10"]

[[dns.zone]]
origin = "c.test."
records = ["@ NS ns.b.test."]
`;
    const error = await loadVigiaConfig(configSchema(), {
      text,
      path: `${dir}/vigia.toml`,
      checks: dnsModule.checks,
    }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(error instanceof ConfigError, String(error));
    const lines = error.issues.map((i) =>
      `${i.file}:${i.line}: ${i.path}: ${i.message}`.replaceAll(dir, "D")
    );
    assert.deepEqual(lines, [
      "D/a.zone:7: dns.zone_files[0]: w.a.test. TXT beside a CNAME (RFC 1034 section 3.6.2); this record is ignored",
      'D/a.zone:8: dns.zone_files[0]: A needs an IPv4 address, found "1.2.3"',
      "D/vigia.toml:2: dns.zone_files[1]: D/missing.zone: cannot read zone file: no such file",
      "D/vigia.toml:6: dns.zone[0].records[3]: MX needs 2 fields, found 1",
      'D/vigia.toml:10: dns.zone[1].records: zone c.test. has no SOA record at its origin ("@ SOA MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM")',
      "D/vigia.toml:10: dns.zone[1].records[0]: c.test. NS is outside every zone (no SOA at or above it)",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the embedded default serves vigia.test. with SOA, NS, A, AAAA, MX, TXT and passes the checks", async () => {
  const { config } = await loadVigiaConfig(configSchema(), { checks: dnsModule.checks });
  const dns = sectionOf(dnsModule, config);
  assert.deepEqual(dns.listen, ["127.0.0.1:5300"]);
  assert.deepEqual(dns.zone_files, []);
  assert.equal(dns.zone[0].origin, "vigia.test.");
  const text = dns.zone[0].records.join("\n");
  for (const type of ["SOA", "NS", " A ", "AAAA", "MX", "TXT"]) {
    assert.ok(text.includes(type), type);
  }
  assert.equal(dns.rrl.enabled, true);
  assert.equal(dns.udp_workers, 1);
  assert.equal(dns.fast_path, "auto");
});
