import assert from "node:assert/strict";
import {
  DailyLog,
  escapeField,
  FieldEncoder,
  type LineField,
  LineWriter,
} from "../../lib/daylog/mod.ts";

Deno.test("line writer: pieces, escaping and numbers are byte for byte the text they stand for", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = new LineWriter({ dir: `${dir}/a`, timeZone: "UTC", flushBytes: 4096 });
    const b = new LineWriter({ dir: `${dir}/b`, timeZone: "UTC", flushBytes: 4096 });
    const t0 = Date.parse("2026-11-21T23:59:59.000Z");
    const long = "x".repeat(20_000) + "\u00e9\u{1f600}" + "y\t".repeat(300);
    const texts = [
      "plain",
      "caf\u00e9.exa\tmple",
      "\u{1f600}.test",
      "lone\ud800",
      long,
      "",
      "a\\b\r\n",
    ];
    const ints = [0, 9, 10, 53, 65535, 4294967295, 123456789012];
    for (let i = 0; i < 400; i++) {
      const ms = t0 + i * 7.25; // crosses midnight: two daily files
      const s = texts[i % texts.length], n = ints[i % ints.length];
      assert.ok(a.begin("dns", ms));
      a.text(`\tq=${escapeField(s)}\tn=${n}\tm=${i}`);
      a.end();
      assert.ok(b.begin("dns", ms));
      b.text("\tq=");
      b.escaped(s);
      b.text("\tn=");
      b.int(n);
      b.text("\tm=");
      b.int(i);
      b.end();
    }
    a.close();
    b.close();
    assert.ok(!b.begin("dns", t0), "closed writer refuses lines");
    assert.equal(a.lines, b.lines);
    const files = [...Deno.readDirSync(`${dir}/a`)].map((e) => e.name).sort();
    assert.deepEqual(files, ["2026-11-21.log", "2026-11-22.log"]);
    assert.deepEqual([...Deno.readDirSync(`${dir}/b`)].map((e) => e.name).sort(), files);
    for (const f of files) {
      assert.deepEqual(Deno.readFileSync(`${dir}/b/${f}`), Deno.readFileSync(`${dir}/a/${f}`), f);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("field encoder: lines are byte for byte what DailyLog.event writes for the same fields", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-line-" });
  const ref = new DailyLog({ dir: `${dir}/ref`, timeZone: "America/Recife", retentionDays: 0 });
  const out = new LineWriter({ dir: `${dir}/fast`, timeZone: "America/Recife" });
  const fields: LineField[] = [
    { name: "mac", text: "text" },
    { name: "query", text: "text" },
    { name: "n", text: "int" },
    { name: "vlan", text: "int", skip: 0 },
    { name: "hidden", text: "none" },
    { name: "AA", text: "tf" },
    { name: "qr", text: "qr" },
    { name: "list", text: "list" },
    { name: "answers", text: "answer-data" },
    { name: "TTLs", text: "answer-ttls" },
  ];
  const enc = new FieldEncoder({ out, kind: "dns", fields });
  // 02:30:00.250 UTC on the 22nd is 23:30:00.250 on the 21st in Recife; also a day switch.
  const times = [
    Date.parse("2026-11-22T02:30:00.250Z") + 0.9,
    Date.parse("2026-11-22T03:00:00.007Z"),
  ];
  const answers = [{ data: "a\tb", ttl: 60 }, { data: "1.2.3.4", ttl: 300 }];
  for (const t of times) {
    ref.event("dns", {
      mac: "aa:bb:cc:dd:ee:ff",
      query: "a\tb\\c\nd",
      n: 5,
      AA: "T",
      qr: "R",
      list: "1,x\ty",
      answers: "a\tb,1.2.3.4",
      TTLs: "60,300",
    }, new Date(t));
    enc.write(t, {
      mac: "aa:bb:cc:dd:ee:ff",
      query: "a\tb\\c\nd",
      n: 5,
      vlan: 0,
      hidden: "x",
      AA: true,
      qr: true,
      list: [1, "x\ty"],
      answers,
      TTLs: answers,
    });
    // Empty values, skip values and answers without data leave their fields out.
    ref.event("dns", { n: 0, vlan: 7, AA: "F", qr: "Q" }, new Date(t));
    enc.write(t, {
      mac: "",
      query: null,
      n: 0,
      vlan: 7,
      AA: false,
      qr: false,
      list: [],
      answers: [{ data: "", ttl: 5 }],
      TTLs: [{ data: "", ttl: 5 }],
    });
  }
  await ref.close();
  out.close();
  for (const day of ["2026-11-21", "2026-11-22"]) {
    assert.equal(
      await Deno.readTextFile(`${dir}/fast/${day}.log`),
      await Deno.readTextFile(`${dir}/ref/${day}.log`),
      day,
    );
  }
  await Deno.remove(dir, { recursive: true });
});
