import assert from "node:assert/strict";
import { DailyLog, ZonedClock } from "../../lib/daylog/mod.ts";
import { repoRoot } from "../_helpers.ts";

Deno.test("daylog: lines go to the local day's file, tab-separated and escaped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-daylog-" });
  const log = new DailyLog({ dir, timeZone: "America/Recife", retentionDays: 0 });
  // 02:30 UTC on the 22nd is still the 21st in Recife (UTC-3).
  log.event(
    "dns",
    { mac: "aa:bb:cc:dd:ee:ff", query: "a\tb\nc", empty: "" },
    new Date("2026-11-22T02:30:00.250Z"),
  );
  log.alert("dns-flood", { packets: 51 }, new Date("2026-11-22T03:00:00Z"));
  await log.close();
  const day21 = await Deno.readTextFile(`${dir}/2026-11-21.log`);
  assert.equal(
    day21,
    "2026-11-21T23:30:00.250-03:00\tdns\tmac=aa:bb:cc:dd:ee:ff\tquery=a\\tb\\nc\n",
  );
  const day22 = await Deno.readTextFile(`${dir}/2026-11-22.log`);
  assert.equal(day22, "2026-11-22T00:00:00.000-03:00\tdns-flood\tpackets=51\n");
  const alerts = await Deno.readTextFile(`${dir}/alerts-2026-11-22.log`);
  assert.equal(alerts, day22);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("daylog: files older than retention_days are removed at the day switch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-daylog-" });
  for (const name of ["2026-01-01.log", "alerts-2026-01-01.log", "2026-11-20.log", "notes.txt"]) {
    await Deno.writeTextFile(`${dir}/${name}`, "x\n");
  }
  const log = new DailyLog({ dir, timeZone: "UTC", retentionDays: 30 });
  log.event("dns", { a: 1 }, new Date("2026-11-21T10:00:00Z"));
  await new Promise((r) => queueMicrotask(() => r(null)));
  await log.close();
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(names, ["2026-11-20.log", "2026-11-21.log", "notes.txt"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("daylog: offsets follow daylight saving time", () => {
  const clock = new ZonedClock("Europe/Berlin");
  assert.equal(
    clock.stamp(new Date("2026-07-01T12:00:00Z")).timestamp,
    "2026-07-01T14:00:00.000+02:00",
  );
  assert.equal(
    clock.stamp(new Date("2026-12-01T12:00:00Z")).timestamp,
    "2026-12-01T13:00:00.000+01:00",
  );
  assert.equal(
    new ZonedClock("Asia/Kathmandu").stamp(new Date("2026-12-01T12:00:00Z")).timestamp,
    "2026-12-01T17:45:00.000+05:45",
  );
});

Deno.test("daylog: two processes appending at once never split a line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-daylog-" });
  const script = `${dir}/writer.ts`;
  await Deno.writeTextFile(
    script,
    `import { DailyLog } from "${repoRoot}/lib/daylog/mod.ts";
const log = new DailyLog({ dir: ${
      JSON.stringify(dir)
    }, timeZone: "UTC", flushBytes: 4096, retentionDays: 0 });
const t = new Date("2026-11-21T12:00:00Z");
for (let i = 0; i < 20000; i++) log.event("dns", { writer: Deno.args[0], seq: i, pad: "x".repeat(i % 97) }, t);
await log.close();
`,
  );
  const run = (id: string) =>
    new Deno.Command(Deno.execPath(), { args: ["run", "-A", "--quiet", script, id], cwd: repoRoot })
      .output();
  const [a, b] = await Promise.all([run("a"), run("b")]);
  assert.equal(a.code, 0, new TextDecoder().decode(a.stderr));
  assert.equal(b.code, 0, new TextDecoder().decode(b.stderr));
  const lines = (await Deno.readTextFile(`${dir}/2026-11-21.log`)).split("\n").filter(Boolean);
  assert.equal(lines.length, 40000);
  const re = /^2026-11-21T12:00:00\.000\+00:00\tdns\twriter=[ab]\tseq=(\d+)(\tpad=x+)?$/;
  for (const l of lines) assert.match(l, re);
  for (const w of ["a", "b"]) {
    const seqs = lines.filter((l) => l.includes(`writer=${w}`)).map((l) => Number(re.exec(l)![1]));
    assert.deepEqual(
      seqs,
      Array.from({ length: 20000 }, (_, i) => i),
      `writer ${w} lines in order, none lost`,
    );
  }
  await Deno.remove(dir, { recursive: true });
});
