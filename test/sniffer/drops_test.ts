/**
 * Drops raise `packet-drops` alerts (`drops.ts`): real store drops made by
 * a live-mode pipeline whose events database is more than
 * `max_queued_rows` behind, counted by stage and published through the
 * real alert bus into the store and the alerts file; at most one alert a
 * minute, the next one carrying what came since. The same counts are in
 * `vigia_sniffer_drops_total{stage}`.
 */

import assert from "node:assert/strict";
import { openEventWriter } from "../../lib/sniffer/event_writer.ts";
import { DROP_ALERT_EVERY_MS, DropWatch } from "../../lib/sniffer/drops.ts";
import { Pipeline } from "../../lib/sniffer/pipeline.ts";
import { registerSnifferMetrics } from "../../lib/sniffer/metrics.ts";
import { MetricsRegistry, render } from "../../lib/metrics/mod.ts";
import type { SnifferConfig } from "../../lib/sniffer/config.ts";
import { dnsEvent, makeEnv, meta, T0 } from "./_fixtures.ts";

function batch(n: number, from: number) {
  return Array.from(
    { length: n },
    (_, i) => dnsEvent(meta({ ts: T0 + from + i }), { trans_id: (from + i) & 0xffff }),
  );
}

Deno.test("drops: store drops are counted by stage and raise one alert a minute", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\nmax_queued_rows = 10000\n");
  const writer = await openEventWriter(env.store, { log: env.log });
  const pipeline = new Pipeline({
    section: env.config.sniffer as SnifferConfig,
    store: env.store,
    writer,
    dailyLog: env.dailyLog,
    alerts: env.bus,
    log: env.log,
    timeZone: "UTC",
    backpressure: "drop",
  });
  const kernel = { n: 0 };
  const read = () => ({ kernel: kernel.n, capture: 0, store: pipeline.stats().store_drops });
  const watch = new DropWatch(env.bus, { interfaces: ["lo"], read });
  const registry = new MetricsRegistry();
  registerSnifferMetrics(registry.scope("sniffer"), {
    interfaces: () => [],
    pipeline: () => undefined,
    drops: read,
  });
  const scraped = (stage: string) =>
    Number(
      new RegExp(`^vigia_sniffer_drops_total\\{stage="${stage}"\\} (\\S+)$`, "m")
        .exec(render(registry, "text"))?.[1],
    );
  try {
    const t = Date.now();
    assert.equal(watch.check(t), false, "no drops, no alert");
    // 10000 rows handed to the writer, none committed yet: the next batch finds the store full.
    pipeline.process(batch(10_000, 0));
    writer.post();
    pipeline.process(batch(500, 10_000));
    assert.equal(pipeline.stats().store_drops, 500);
    assert.equal(watch.check(t + 1), true);
    // More drops within the minute: counted, not alerted yet.
    kernel.n = 7;
    assert.equal(watch.check(t + 2), false);
    assert.equal(watch.check(t + 1 + DROP_ALERT_EVERY_MS), true);
    assert.equal(watch.check(t + 2 + 2 * DROP_ALERT_EVERY_MS), false, "nothing new");
    assert.equal(watch.alerts, 2);
    // What the alerts said, by stage, is what Prometheus scrapes.
    assert.deepEqual([scraped("kernel"), scraped("capture"), scraped("store")], [7, 0, 500]);
    await pipeline.flush();
    const alerts = env.store.query<{ subject: string; severity: string; details: string }>(
      "SELECT subject, severity, details FROM alerts WHERE kind = 'packet-drops' ORDER BY id",
    );
    assert.deepEqual(alerts.map((a) => a.subject), [
      "500 packets dropped on lo (store 500)",
      "7 packets dropped on lo (kernel 7)",
    ]);
    assert.equal(alerts[0].severity, "error");
    const d = JSON.parse(alerts[1].details);
    assert.deepEqual(
      [d.kernel, d.capture, d.store, d.total_kernel, d.total_store],
      [7, 0, 0, 7, 500],
    );
    const file = env.logFile(`alerts-${new Date().toISOString().slice(0, 10)}.log`);
    assert.match(file, /packet-drops/);
    // Dropped rows were still logged: every packet has its daily line.
    const day = env.logFile(`${new Date(T0).toISOString().slice(0, 10)}.log`);
    assert.equal(day.split("\n").filter((l) => l.includes("\tdns\t")).length, 10_500);
  } finally {
    await pipeline.close();
    await writer.close();
    await env.close();
  }
});
