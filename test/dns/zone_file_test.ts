import assert from "node:assert/strict";
import { formatRdata, parseTtl } from "../../lib/dns/rdata.ts";
import { nameFromText, nameToText, typeName } from "../../lib/dns/wire.ts";
import { parseZoneFile, parseZoneText, type ZoneRecord } from "../../lib/dns/zone_file.ts";

function text(r: ZoneRecord): string {
  return `${nameToText(r.name)} ${r.ttl} ${typeName(r.type)} ${formatRdata(r.type, r.rdata)}`;
}

Deno.test("master file syntax: $ORIGIN, $TTL, @, relative names, blank owners, parentheses, comments", () => {
  const { records, problems } = parseZoneText(
    `; a comment line
$ORIGIN Example.ORG.
$TTL 1h
@   IN  SOA ns1 hostmaster (
        2024010101 ; serial
        2h 1h 2w 5m )
    NS  ns1                 ; blank owner = the previous one (@)
    IN 300 MX 10 mail       ; class before TTL
ns1 600 IN A 192.0.2.1      ; TTL before class
www CNAME @
$ORIGIN sub.example.org.
host AAAA 2001:DB8::1
txt TXT "a \\"quoted\\" string; not a comment" unquoted \\065
abs.example.net. A 198.51.100.1
`,
    { file: "example.org.zone" },
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(records.map(text), [
    "Example.ORG. 3600 SOA ns1.Example.ORG. hostmaster.Example.ORG. 2024010101 7200 3600 1209600 300",
    "Example.ORG. 3600 NS ns1.Example.ORG.",
    "Example.ORG. 300 MX 10 mail.Example.ORG.",
    "ns1.Example.ORG. 600 A 192.0.2.1",
    "www.Example.ORG. 3600 CNAME Example.ORG.",
    "host.sub.example.org. 3600 AAAA 2001:db8::1",
    'txt.sub.example.org. 3600 TXT "a \\"quoted\\" string; not a comment" "unquoted" "A"',
    "abs.example.net. 3600 A 198.51.100.1",
  ]);
  assert.deepEqual(records.map((r) => r.line), [4, 7, 8, 9, 10, 12, 13, 14]);
});

Deno.test("RFC 3597: TYPEnnn and \\# for unknown and known types; escapes in names", () => {
  const { records, problems } = parseZoneText(
    `$ORIGIN ex.
$TTL 60
a TYPE65000 \\# 3 010203
b A \\# 4 C0000201
e\\.dot TYPE1 \\# 4 c0000202
z TYPE0 \\# 0
`,
    { file: "z" },
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(records.map(text), [
    "a.ex. 60 TYPE65000 \\# 3 010203",
    "b.ex. 60 A 192.0.2.1",
    "e\\.dot.ex. 60 A 192.0.2.2",
    "z.ex. 60 TYPE0 \\# 0",
  ]);
  assert.equal(nameFromText("e\\.dot.ex.")[0], 5, "one label of five bytes");
  assert.equal(nameToText(nameFromText("a\\032b.ex.")), "a\\032b.ex.");
  assert.throws(() => nameFromText(`${"l".repeat(64)}.ex.`), /longer than 63/);
  assert.throws(() => nameFromText(`${"abcdefghi.".repeat(26)}`), /longer than 255/);
  assert.throws(() => nameFromText("a..ex."), /empty label/);
  assert.throws(() => nameFromText("www"), /no origin/);
  assert.equal(nameFromText(`${"abcdefghi.".repeat(25)}abc.`).length, 255);
  assert.deepEqual([...nameFromText("A.b", nameFromText("C."))], [1, 65, 1, 98, 1, 67, 0]);
});

Deno.test("every type's text form round-trips", () => {
  const lines = [
    "a A 192.0.2.1",
    "a AAAA 2001:db8::1",
    "a NS ns.ex.",
    "a CNAME t.ex.",
    "a PTR t.ex.",
    "a MX 10 mx.ex.",
    "a SOA ns.ex. h.ex. 1 2 3 4 5",
    'a TXT "x y" "z"',
    "a SRV 1 2 3 t.ex.",
    'a CAA 0 issue "ca.example"',
    'a HINFO "cpu" "os"',
    "a DS 12345 8 2 ABCDEF01",
    "a SSHFP 1 2 abcd",
    "a TLSA 3 1 1 00ff",
  ];
  const { records, problems } = parseZoneText(`$ORIGIN ex.\n$TTL 1\n${lines.join("\n")}`, {
    file: "z",
  });
  assert.deepEqual(problems, []);
  for (const r of records) {
    const again = parseZoneText(`$ORIGIN ex.\n$TTL 1\n${text(r)}`, { file: "z" });
    assert.deepEqual(again.problems, [], text(r));
    assert.deepEqual(again.records[0].rdata, r.rdata, text(r));
  }
});

Deno.test("problems are reported with their line and parsing goes on", () => {
  const { records, problems } = parseZoneText(
    `$ORIGIN ex.
$TTL 60
good A 192.0.2.1
bad A 192.0.2.300
nottype FOO bar
mx MX 10
txt TXT "${"x".repeat(300)}"
long ${"l".repeat(64)} A 192.0.2.1
( unbalanced
`,
    { file: "bad.zone" },
  );
  assert.equal(records.length, 1);
  const where = problems.map((p) => `${p.file}:${p.line}`);
  assert.deepEqual(where.slice(0, 4), ["bad.zone:4", "bad.zone:5", "bad.zone:6", "bad.zone:7"]);
  assert.match(problems[0].message, /IPv4/);
  assert.match(problems[1].message, /unknown type "FOO"/);
  assert.match(problems[2].message, /MX needs 2 fields/);
  assert.match(problems[3].message, /longer than 255/);
  assert.ok(problems.some((p) => /never closed/.test(p.message)));
});

Deno.test("relative names need an origin; records need a TTL; CH class is refused", () => {
  const noOrigin = parseZoneText("www A 192.0.2.1\n", { file: "z", defaultTtl: 60 });
  assert.match(noOrigin.problems[0].message, /no origin/);
  const noTtl = parseZoneText("$ORIGIN ex.\nwww A 192.0.2.1\n", { file: "z" });
  assert.match(noTtl.problems[0].message, /no TTL/);
  const soaDefault = parseZoneText(
    "$ORIGIN ex.\n@ SOA ns h 1 2 3 4 99\n@ 30 NS ns\nns A 192.0.2.1\n",
    {
      file: "z",
    },
  );
  assert.deepEqual(
    soaDefault.records.map((r) => r.ttl),
    [99, 30, 30],
    "SOA minimum, then the last TTL",
  );
  assert.match(
    parseZoneText("$ORIGIN ex.\n$TTL 1\nx CH TXT a\n", { file: "z" }).problems[0].message,
    /only IN/,
  );
  assert.equal(parseTtl("1w2d3h4m5s"), 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
  assert.ok(Number.isNaN(parseTtl("5x")));
});

Deno.test("$INCLUDE reads a file relative to the including one, with its own origin", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/hosts.inc`, "host1 A 192.0.2.11\nhost2 A 192.0.2.12\n");
    await Deno.writeTextFile(
      `${dir}/main.zone`,
      "$ORIGIN ex.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n$INCLUDE hosts.inc lan.ex.\n$INCLUDE missing.inc\n",
    );
    const { records, problems } = parseZoneFile(`${dir}/main.zone`);
    assert.deepEqual(records.map(text).slice(1), [
      "host1.lan.ex. 60 A 192.0.2.11",
      "host2.lan.ex. 60 A 192.0.2.12",
    ]);
    assert.equal(records[1].file, "hosts.inc");
    assert.equal(records[2].line, 2);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].line, 5);
    assert.match(problems[0].message, /cannot read \$INCLUDE file "missing.inc"/);
    const missing = parseZoneFile(`${dir}/nope.zone`);
    assert.match(missing.problems[0].message, /no such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
