/**
 * JSON daily lines (`format: "json"`, lib/daylog/line.ts): strings escaped
 * per RFC 8259 straight into the buffer, read back by JSON.parse and by jq;
 * the same record encoded in both formats carries the same values; JSON
 * files rotate at local midnight, are pruned by retention and sealed and
 * verified exactly like text files.
 */

import assert from "node:assert/strict";
import {
  DailyLog,
  FieldEncoder,
  type LineField,
  LineWriter,
  SEAL_FILE,
  verifyLogs,
} from "../../lib/daylog/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { skipUnless } from "../_env.ts";
import { hasJq, jqLines } from "./_jq.ts";

const root = await Deno.makeTempDir({ prefix: "vigia-json-line-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
let n = 0;

/** Every code unit below 0x80, quotes and backslashes, multi-byte text, and a long value. */
const TRICKY = [
  "",
  "plain.example.com",
  Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join(""),
  'a "quoted" \\back\\slash\\',
  "caf\u00e9 \u00fc\u00df \u4e2d\u6587 \u{1f600} \u2028\u2029 \u007f",
  "x".repeat(70_000) + "\u00e9\n" + '"'.repeat(5000),
  "\\065\\000weird\\255.label", // the decoder's presentation escapes stay text
];

Deno.test("json lines: strings and numbers read back exactly (JSON.parse and jq), valid UTF-8, one object per line", async () => {
  const dir = `${root}/strings-${++n}`;
  const w = new LineWriter({ dir, timeZone: "UTC", flushBytes: 4096, format: "json" });
  const numbers = [0, 7, 10, 65535, 4294967295, 123456789012, -1, 1.5, 1e21];
  const t0 = Date.parse("2026-11-21T12:00:00Z");
  for (let i = 0; i < TRICKY.length * 3; i++) {
    assert.ok(w.begin("test", t0 + i * 1.001));
    w.text(',"s":');
    w.jsonString(TRICKY[i % TRICKY.length]);
    w.text(',"n":');
    w.number(numbers[i % numbers.length]);
    w.text(',"i":');
    w.int(i);
    w.end();
  }
  // NaN and infinities have no JSON form.
  w.begin("test", t0);
  w.text(',"nan":');
  w.number(NaN);
  w.text(',"inf":');
  w.number(-Infinity);
  w.end();
  w.close();
  const text = new TextDecoder("utf-8", { fatal: true }).decode(
    await Deno.readFile(`${dir}/2026-11-21.log`),
  );
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, TRICKY.length * 3 + 1);
  lines.forEach((line, i) => {
    assert.match(line, /^\{"ts":\d{10}\.\d{6},"kind":"test",/);
    const o = JSON.parse(line);
    if (i === lines.length - 1) {
      assert.deepEqual(o, { ts: t0 / 1000, kind: "test", nan: null, inf: null });
      return;
    }
    assert.equal(o.s, TRICKY[i % TRICKY.length], `line ${i}`);
    assert.equal(o.n, numbers[i % numbers.length]);
    assert.equal(o.i, i);
    // ts: seconds with microseconds, rounded from the fractional ms given.
    assert.equal(Math.round(o.ts * 1e6), Math.round((t0 + i * 1.001) * 1000));
  });
  if (skipUnless(hasJq, "jq is not installed: the jq half of this test is skipped")) return;
  const viaJq = await jqLines(`${dir}/2026-11-21.log`);
  assert.deepEqual(viaJq.map((o) => o.s), lines.map((l) => JSON.parse(l).s));
});

Deno.test("json lines: a lone UTF-16 surrogate becomes U+FFFD (valid UTF-8 that jq 1.6 accepts), a pair stays", async () => {
  const dir = `${root}/surrogates-${++n}`;
  const w = new LineWriter({ dir, timeZone: "UTC", format: "json" });
  const cases = [
    "lone\ud800",
    "\udc00first",
    "pair\ud83d\ude00ok",
    "\ud83d",
    "a\ud83d\ud83d\ude00",
  ];
  for (const s of cases) {
    w.begin("t", Date.parse("2026-11-21T00:00:00Z"));
    w.text(',"s":');
    w.jsonString(s);
    w.end();
  }
  w.close();
  const file = `${dir}/2026-11-21.log`;
  const got = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(file))
    .trimEnd().split("\n").map((l) => JSON.parse(l).s);
  // Exactly what TextEncoder makes of the same strings (the text format's encoding).
  const expected = cases.map((s) => new TextDecoder().decode(new TextEncoder().encode(s)));
  assert.deepEqual(got, expected);
  assert.equal(got[0], "lone\ufffd");
  assert.equal(got[2], "pair\u{1f600}ok");
  if (skipUnless(hasJq, "jq is not installed: jq half skipped")) return;
  assert.deepEqual((await jqLines(file)).map((o) => o.s), expected);
});

Deno.test("json lines: the field encoder writes the same record as text and as JSON, value for value", () => {
  const dir = `${root}/encoder-${++n}`;
  const fields: LineField[] = [
    { name: "mac", text: "text" },
    { name: "src_ip", zeek: "id.orig_h", text: "text" },
    { name: "n", text: "int", json: "number" },
    { name: "vlan", text: "int", json: "number", skip: 0 },
    { name: "hidden", text: "none", json: "number" },
    { name: "AA", text: "tf", json: "bool" },
    { name: "qr", text: "qr" },
    { name: "list", text: "list", json: "array" },
    { name: "answers", text: "answer-data", json: "array" },
    { name: "TTLs", text: "answer-ttls", json: "array" },
  ];
  const text = new LineWriter({ dir: `${dir}/text`, timeZone: "America/Recife" });
  const json = new LineWriter({ dir: `${dir}/json`, timeZone: "America/Recife", format: "json" });
  const encoders = [text, json].map((out) => new FieldEncoder({ out, kind: "dns", fields }));
  const answers = [{ data: 'a\tb"c', ttl: 60 }, { data: "1.2.3.4", ttl: 300 }];
  const records = [
    {
      mac: "aa:bb:cc:dd:ee:ff",
      src_ip: "10.0.0.1",
      n: 53,
      vlan: 7,
      hidden: 9,
      AA: true,
      qr: true,
      list: ["x", 'y"'],
      answers,
      TTLs: answers,
    },
    // Empty, skipped and no-data values are left out of both.
    { mac: "", n: 0, vlan: 0, AA: false, qr: false, list: [], answers: [{ data: "", ttl: 1 }] },
  ];
  // 02:30 UTC on the 22nd is 23:30 on the 21st in Recife: both files are the 21st's.
  const ms = Date.parse("2026-11-22T02:30:00.250Z") + 0.75;
  for (const r of records) for (const e of encoders) e.write(ms, r);
  text.close();
  json.close();
  const textLines = Deno.readTextFileSync(`${dir}/text/2026-11-21.log`).trimEnd().split("\n");
  const jsonLines = Deno.readTextFileSync(`${dir}/json/2026-11-21.log`).trimEnd().split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(
    textLines[0],
    "2026-11-21T23:30:00.250-03:00\tdns\tmac=aa:bb:cc:dd:ee:ff\tsrc_ip=10.0.0.1\tn=53\tvlan=7" +
      '\tAA=T\tqr=R\tlist=x,y"\tanswers=a\\tb"c,1.2.3.4\tTTLs=60,300',
  );
  assert.deepEqual(jsonLines[0], {
    ts: Math.round(ms * 1000) / 1e6,
    kind: "dns",
    mac: "aa:bb:cc:dd:ee:ff",
    "id.orig_h": "10.0.0.1",
    n: 53,
    vlan: 7,
    hidden: 9,
    AA: true,
    qr: "R",
    list: ["x", 'y"'],
    answers: ['a\tb"c', "1.2.3.4"],
    TTLs: [60, 300],
  });
  assert.equal(textLines[1], "2026-11-21T23:30:00.250-03:00\tdns\tn=0\tAA=F\tqr=Q");
  assert.deepEqual(jsonLines[1], { ts: jsonLines[0].ts, kind: "dns", n: 0, AA: false, qr: "Q" });
});

Deno.test("json lines: DailyLog keeps value types, renames fields that would shadow ts and kind", async () => {
  const dir = `${root}/daily-${++n}`;
  const log = new DailyLog({ dir, timeZone: "UTC", retentionDays: 0, format: "json" });
  assert.equal(log.format, "json");
  const at = new Date("2026-11-21T10:00:00.123Z");
  log.alert("dns-flood", {
    severity: "warning",
    subject: 'flood "from" 10.0.0.9',
    count: 5000,
    exact: false,
    top_sources: ["10.0.0.9", "10.0.0.8"],
    kind: "source",
    ts: "shadow",
    empty: "",
    unknown: null,
  }, at);
  await log.close();
  const expected = {
    ts: 1795255200.123,
    kind: "dns-flood",
    severity: "warning",
    subject: 'flood "from" 10.0.0.9',
    count: 5000,
    exact: false,
    top_sources: ["10.0.0.9", "10.0.0.8"],
    kind_: "source",
    ts_: "shadow",
  };
  for (const file of ["2026-11-21.log", "alerts-2026-11-21.log"]) {
    const lines = (await Deno.readTextFile(`${dir}/${file}`)).trimEnd().split("\n");
    assert.equal(lines.length, 1, file);
    assert.deepEqual(JSON.parse(lines[0]), expected, file);
  }
  if (skipUnless(hasJq, "jq is not installed: jq half skipped")) return;
  assert.deepEqual(await jqLines(`${dir}/alerts-2026-11-21.log`), [expected]);
});

Deno.test("json lines: files rotate at local midnight, are retained, sealed and verified like text", async () => {
  const dir = `${root}/rotate-${++n}`;
  await Deno.mkdir(dir);
  // A file past retention, to be pruned at the first day switch.
  await Deno.writeTextFile(`${dir}/2020-01-01.log`, '{"ts":1577880000.000000,"kind":"old"}\n');
  const store = openStore(`${root}/store-${n}.db`);
  const log = new DailyLog({
    dir,
    timeZone: "America/Recife",
    retentionDays: 30,
    format: "json",
    seal: { store },
  });
  const packets = log.lineWriter();
  assert.equal(packets.format, "json");
  const enc = new FieldEncoder({
    out: packets,
    kind: "dns",
    fields: [{ name: "query", text: "text" }, { name: "qtype", text: "none", json: "number" }],
  });
  // 03:00:00 UTC on the 22nd is midnight in Recife.
  const midnight = Date.parse("2026-11-22T03:00:00.000Z");
  for (let i = 0; i < 200; i++) {
    const ms = midnight - 100 + i; // 100 lines each side of midnight
    enc.write(ms, { query: `q${i}.example`, qtype: 1 });
    if (i % 50 === 0) {
      log.alert("rogue-dhcp", { severity: "error", subject: `s${i}` }, new Date(ms));
    }
    if (i % 10 === 0) log.event("new-station", { mac: `02:00:00:00:00:${i % 100}` }, new Date(ms));
  }
  packets.close();
  await log.close();
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((x) => x !== SEAL_FILE)
    .sort();
  assert.deepEqual(names, [
    "2026-11-21.log",
    "2026-11-22.log",
    "alerts-2026-11-21.log",
    "alerts-2026-11-22.log",
  ], "the old file is pruned; each day has its files");
  const seals = (await Deno.readTextFile(`${dir}/${SEAL_FILE}`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  const last = new Map(seals.map((r) => [r.file, r.kind]));
  assert.equal(last.get("2026-11-21.log"), "final");
  assert.equal(last.get("alerts-2026-11-21.log"), "final");
  assert.equal(last.get("2020-01-01.log"), undefined, "never sealed, so nothing to record");
  let report = await verifyLogs(dir, { store });
  assert.deepEqual(report.problems, []);

  // Each file holds only its own local day, in order; every line is a JSON object.
  for (const name of names) {
    const lines = (await Deno.readTextFile(`${dir}/${name}`)).trimEnd().split("\n")
      .map((l) => JSON.parse(l));
    const day = name.replace(/^alerts-/, "").slice(0, 10);
    for (const o of lines) {
      const local = new Date(o.ts * 1000 - 3 * 3_600_000).toISOString().slice(0, 10);
      assert.equal(local, day, `${name}: ${JSON.stringify(o)}`);
    }
  }
  const dns = (await Deno.readTextFile(`${dir}/2026-11-21.log`)).trimEnd().split("\n")
    .map((l) => JSON.parse(l)).filter((o) => o.kind === "dns");
  assert.equal(dns.length, 100);
  assert.deepEqual(dns[0], {
    ts: (midnight - 100) / 1000,
    kind: "dns",
    query: "q0.example",
    qtype: 1,
  });

  if (!skipUnless(hasJq, "jq is not installed: jq half skipped")) {
    for (const name of names) await jqLines(`${dir}/${name}`);
  }

  // An edit inside a sealed JSON file is named like one in a text file.
  const path = `${dir}/2026-11-21.log`;
  const bytes = await Deno.readFile(path);
  bytes[bytes.indexOf(0x71 /* q */)] = 0x51;
  await Deno.writeFile(path, bytes);
  report = await verifyLogs(dir, { store });
  assert.deepEqual(report.problems.map((p) => `${p.kind} ${p.file}`), ["edited 2026-11-21.log"]);
  store.close();
});

Deno.test("json lines: ts before 1970 and at a second's last microsecond", () => {
  const dir = `${root}/ts-${++n}`;
  const w = new LineWriter({ dir, timeZone: "UTC", format: "json" });
  const times = [-1500.25, -0.001, 0, 999.9996, 1795262400999.999];
  for (const ms of times) {
    w.begin("t", ms);
    w.end();
  }
  w.close();
  const got = [...Deno.readDirSync(dir)].map((e) => e.name).sort().flatMap((f) =>
    Deno.readTextFileSync(`${dir}/${f}`).trimEnd().split("\n").map((l) => JSON.parse(l).ts)
  );
  assert.deepEqual(got, [-1.50025, -0.000001, 0, 1, 1795262400.999999]);
});
