import assert from "node:assert/strict";
import { FloodDetector, type FloodOptions, type FloodReport } from "../../lib/sniffer/flood.ts";

const OPTIONS: FloodOptions = {
  window: 1000,
  per_source: 50,
  per_destination: 0,
  global: 0,
  cooldown: 60_000,
  top_talkers: 3,
  max_tracked: 1000,
};

function feed(d: FloodDetector, packets: [number, string, string][]): FloodReport[] {
  const out: FloodReport[] = [];
  for (const [t, src, dst] of packets) {
    d.add(
      t,
      src,
      src,
      `02:00:00:00:00:${src.split(".")[3].padStart(2, "0")}`,
      dst,
      dst,
      (r) => out.push(r),
    );
  }
  return out;
}

Deno.test("flood: 50 packets from one source within 1 s is a flood (the seed rule); 49 is not", () => {
  const d = new FloodDetector(OPTIONS);
  const t0 = 1_000_000;
  const under = feed(
    d,
    Array.from({ length: 49 }, (_, i) => [t0 + i * 20, "10.0.0.5", "10.0.0.1"]),
  );
  assert.equal(under.length, 0);
  const over = feed(d, [[t0 + 49 * 20, "10.0.0.5", "10.0.0.1"]]);
  assert.equal(over.length, 1);
  assert.equal(over[0].scope, "source");
  assert.equal(over[0].ip, "10.0.0.5");
  assert.equal(over[0].count, 50);
  assert.equal(over[0].threshold, 50);
  assert.equal(over[0].mac, "02:00:00:00:00:05");
  assert.deepEqual(over[0].topSources, ["10.0.0.5 (02:00:00:00:00:05) 50"]);
});

Deno.test("flood: the window slides — the same 50 packets spread over 2 s are not a flood", () => {
  const d = new FloodDetector(OPTIONS);
  const reports = feed(
    d,
    Array.from({ length: 60 }, (_, i) => [5_000_000 + i * 40, "10.0.0.6", "10.0.0.1"]),
  );
  // 40 ms apart: at most 25 packets fall in any 1 s window.
  assert.equal(reports.length, 0);
});

Deno.test("flood: one alert per cooldown per source; sources are counted separately", () => {
  const d = new FloodDetector({ ...OPTIONS, cooldown: 10_000 });
  const burst = (t: number, src: string) =>
    Array.from({ length: 100 }, (_, i) => [t + i, src, "10.0.0.1"] as [number, string, string]);
  const a = feed(d, [...burst(0, "10.0.0.7"), ...burst(0, "10.0.0.8")]);
  assert.deepEqual(a.map((r) => r.ip), ["10.0.0.7", "10.0.0.8"]);
  assert.equal(feed(d, burst(5000, "10.0.0.7")).length, 0, "inside the cooldown");
  const again = feed(d, burst(11_000, "10.0.0.7"));
  assert.equal(again.length, 1, "after the cooldown");
});

Deno.test("flood: global and per-destination thresholds with top talkers, busiest first", () => {
  const d = new FloodDetector({
    ...OPTIONS,
    per_source: 0,
    per_destination: 30,
    global: 40,
    top_talkers: 2,
  });
  const packets: [number, string, string][] = [];
  for (let i = 0; i < 40; i++) {
    const src = i % 4 === 0 ? "10.0.0.21" : i % 4 === 1 ? "10.0.0.22" : "10.0.0.23";
    packets.push([i, src, i < 30 ? "10.0.0.1" : "10.0.0.2"]);
  }
  const reports = feed(d, packets);
  assert.deepEqual(reports.map((r) => r.scope), ["destination", "global"]);
  assert.equal(reports[0].ip, "10.0.0.1");
  assert.equal(reports[0].count, 30);
  assert.equal(reports[1].count, 40);
  assert.deepEqual(reports[1].topSources, [
    "10.0.0.23 (02:00:00:00:00:23) 20",
    "10.0.0.21 (02:00:00:00:00:21) 10",
  ]);
  assert.deepEqual(reports[1].topDestinations, ["10.0.0.1 30", "10.0.0.2 10"]);
});

Deno.test("flood: tracking is bounded; idle counters are dropped", () => {
  const d = new FloodDetector({ ...OPTIONS, max_tracked: 10, per_destination: 1000 });
  const packets: [number, string, string][] = [];
  for (let i = 0; i < 100; i++) packets.push([i, `10.9.0.${i}`, "10.0.0.1"]);
  feed(d, packets);
  assert.equal(d.untracked, 90);
  assert.ok(d.tracked <= 11);
  // Two windows later every counter is idle and swept at the next packet.
  feed(d, [[5000, "10.0.0.99", "10.0.0.1"]]);
  assert.equal(d.tracked, 2);
});
