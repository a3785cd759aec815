/**
 * `vigia ingest` as a process while the daemon runs on the same files: the
 * rows land in the shared databases, the daemon's own writes (a deny entry)
 * and queries keep working during the ingest, and a bad file exits 1; the
 * same file again exits 1 unless `--force` replaces the earlier ingest.
 */

import assert from "node:assert/strict";
import { runVigia, startDaemon } from "../_helpers.ts";
import { writeDnsCapture } from "../../scripts/bench/ingest_data.ts";

Deno.test("ingest CLI: runs beside the daemon; its rows are queryable there; exit codes", async () => {
  const daemon = await startDaemon({
    config: `[log]\ntimezone = "UTC"\n[sniffer]\nenabled = false\n`,
  });
  try {
    const capture = `${daemon.dir}/traffic.pcap`;
    const packets = await writeDnsCapture(capture, {
      packets: 40_000,
      clients: 50,
      start: Date.parse("2026-11-21T08:00:00Z"),
      spanMs: 600_000,
    });
    const ingest = runVigia(["ingest", capture, "--config", daemon.configPath, "--json"], {
      cwd: daemon.dir,
    });
    // The daemon keeps writing its own store while the ingest runs.
    const added = await daemon.ctlJson(["deny", "dns", "add", "203.0.113.53"]) as {
      added: boolean;
    };
    assert.equal(added.added, true);
    const r = await ingest;
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim());
    assert.equal(result.packets, packets);
    assert.equal(result.events, packets);
    assert.deepEqual(result.malformed, {});
    const rows = await daemon.ctlJson([
      "logs",
      "--day",
      "2026-11-21",
      "--sort",
      "ip",
      "--limit",
      "5",
    ]) as Record<string, unknown>[];
    assert.equal(rows.length, 5);
    assert.match(String(rows[0].time), /^2026-11-21T0[89]:/);
    assert.equal(rows[0].src_ip, "10.1.0.1"); // the lowest client IP comes first
    const apple = await daemon.ctlJson(["devices", "--vendor", "apple"]) as Record<
      string,
      unknown
    >[];
    assert.ok(apple.length > 0 && apple.every((d) => d.vendor === "Apple"));
    // Alerts of the ingest carry the packet's time and the time raised; --since means raised.
    const raised = await daemon.ctlJson(["alerts", "--since", "5m", "--kind", "new-station"]) as {
      time: string;
      raised: string;
    }[];
    assert.ok(raised.length >= 50, String(raised.length)); // the clients and the server
    assert.ok(raised.every((a) => /^2026-11-21T0[89]:/.test(a.time)), JSON.stringify(raised[0]));
    assert.ok(Date.now() - Date.parse(raised[0].raised) < 300_000, raised[0].raised);
    const happened = await daemon.ctlJson([
      "alerts",
      "--since",
      "5m",
      "--by",
      "event",
      "--kind",
      "new-station",
    ]) as unknown[];
    assert.equal(happened.length, 0);
    const lines = await Deno.readTextFile(`${daemon.logDir}/2026-11-21.log`);
    assert.equal(lines.split("\n").filter((l) => l.includes("\tdns\t")).length, packets);

    const bad = await runVigia([
      "ingest",
      `${daemon.dir}/nope.pcap`,
      "--config",
      daemon.configPath,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Cannot read capture file .*nope\.pcap/);
    const usage = await runVigia(["ingest"]);
    assert.equal(usage.code, 2);
  } finally {
    await daemon.stop();
  }
});

Deno.test("ingest CLI: an old capture stays queryable after the daemon starts; the same file again exits 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-old-capture-" });
  const config = `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\n` +
    `runtime_dir = "${dir}/run"\n[log]\ntimezone = "UTC"\n[store]\nretention_days = 30\n` +
    `[sniffer]\nenabled = false\n`;
  const configPath = `${dir}/vigia.toml`;
  await Deno.writeTextFile(configPath, config);
  try {
    const capture = `${dir}/2020.pcap`;
    const packets = await writeDnsCapture(capture, {
      packets: 200,
      clients: 5,
      start: Date.parse("2020-06-10T08:00:00Z"),
      spanMs: 60_000,
    });
    const first = await runVigia(["ingest", capture, "--config", configPath, "--json"]);
    assert.equal(first.code, 0, first.stderr);
    const result = JSON.parse(first.stdout);
    assert.equal(result.events, packets);
    // The same file again is refused, naming the earlier ingest.
    const again = await runVigia(["ingest", capture, "--config", configPath]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`already ingested: capture ${result.capture} `));
    // --force replaces the earlier ingest's events (the day's rows below are not doubled).
    const forced = await runVigia(["ingest", capture, "--config", configPath, "--json", "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    const replaced = JSON.parse(forced.stdout);
    assert.deepEqual(replaced.replaced, [result.capture]);
    assert.equal(replaced.events, packets);
    // One live event as old as the capture: the start-up prune must take it, and only it.
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(`${dir}/lib/vigia-events.db`);
    const flow = db.prepare("SELECT id FROM flows LIMIT 1").get() as { id: number };
    db.prepare("INSERT INTO events (time, kind, flow, to_client) VALUES (?, 'dns', ?, 0)").run(
      Date.parse("2020-06-10T08:00:00Z") * 1000,
      flow.id,
    );
    db.close();
    const daemon = await startDaemon({ config });
    try {
      // The live event, counted by table (and old alerts).
      const pruned = await daemon.waitForLog(/pruned old events /);
      assert.match(pruned, /\bevents=1\b/);
      // The capture's alerts, raised just now for packets of 2020, are kept too.
      assert.match(pruned, /\balerts=0\b/);
      const alerts = await daemon.ctlJson(["alerts", "--by", "event", "--until", "2021-01-01"]) as {
        time: string;
      }[];
      assert.ok(alerts.length > 0 && alerts.every((a) => a.time.startsWith("2020-06-10")));
      const rows = await daemon.ctlJson(["logs", "--day", "2020-06-10", "--limit", "1000"]) as {
        time: string;
      }[];
      assert.equal(rows.length, packets);
      assert.ok(rows.every((r) => r.time.startsWith("2020-06-10T08:")));
    } finally {
      await daemon.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
