import assert from "node:assert/strict";
import { PacketLog } from "../../lib/sniffer/packet_log.ts";

Deno.test("packet log: lines written piece by piece are byte for byte those of write()", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = new PacketLog({ dir: `${dir}/a`, timeZone: "UTC", flushBytes: 4096 });
    const b = new PacketLog({ dir: `${dir}/b`, timeZone: "UTC", flushBytes: 4096 });
    const t0 = Date.parse("2026-11-21T23:59:59.000Z");
    const long = "x".repeat(20_000) + "\u00e9\u{1f600}" + "y".repeat(300);
    const texts = ["plain", "caf\u00e9.example", "\u{1f600}.test", "lone\ud800", long, ""];
    const ints = [0, 9, 10, 53, 65535, 4294967295, 123456789012];
    for (let i = 0; i < 400; i++) {
      const ms = t0 + i * 7.25; // crosses midnight: two daily files
      const s = texts[i % texts.length], n = ints[i % ints.length];
      a.write("dns", ms, `q=${s}\tn=${n}\tm=${i}`);
      assert.ok(b.begin("dns", ms));
      b.text("q=");
      b.text(s);
      b.text("\tn=");
      b.int(n);
      b.text("\tm=");
      b.int(i);
      b.end();
    }
    a.close();
    b.close();
    assert.ok(!b.begin("dns", t0), "closed log refuses lines");
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
