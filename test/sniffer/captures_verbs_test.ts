/**
 * `vigia ctl captures`, `ctl captures del ID` and `ctl logs --capture ID`
 * through the real daemon and its control socket, on captures ingested by
 * the real `vigia ingest`: with the sniffer down (the verbs open the
 * events database themselves) and, as root, with it capturing on `lo` (the
 * deletion goes through its running writer).
 */

import assert from "node:assert/strict";
import { isRoot, runVigia, startDaemon, type TestDaemon } from "../_helpers.ts";
import { writeDnsCapture } from "../../scripts/bench/ingest_data.ts";
import { verbCatalogue, verbRoles } from "../../lib/daemon/verbs.ts";
import { components } from "../../lib/app/mod.ts";

interface CaptureRow {
  id: number;
  path: string;
  state: string;
  packets: number;
  events: number;
  ignored: number;
  malformed: number;
  first_packet: string | null;
  last_packet: string | null;
  ingested_at: string;
  sha256: string;
  link_type: string;
  counts: Record<string, unknown>;
}

async function ingest(daemon: TestDaemon, name: string, start: string, packets: number) {
  const file = `${daemon.dir}/${name}`;
  const n = await writeDnsCapture(file, {
    packets,
    clients: 7,
    start: Date.parse(start),
    spanMs: 60_000,
  });
  const r = await runVigia(["ingest", file, "--config", daemon.configPath, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { capture: number; events: number; sha256: string };
  assert.equal(result.events, n);
  return { file, packets: n, ...result };
}

async function exercise(daemon: TestDaemon): Promise<void> {
  const old = await ingest(daemon, "2020.pcap", "2020-06-10T08:00:00Z", 300);
  // Another file of the same hour: its first 150 packets are the same as the first's.
  const twin = await ingest(daemon, "2020-twin.pcap", "2020-06-10T08:00:00Z", 150);
  const recent = await ingest(daemon, "recent.pcap", "2026-11-20T12:00:00Z", 200);

  const list = await daemon.ctlJson(["captures"]) as CaptureRow[];
  assert.deepEqual(
    list.map((c) => c.id),
    [recent.capture, twin.capture, old.capture],
    "newest first",
  );
  const [r, , o] = list;
  assert.equal(o.path, old.file);
  assert.equal(o.sha256, old.sha256);
  assert.equal(o.state, "done");
  assert.equal(o.packets, 300);
  assert.equal(o.events, 300);
  assert.equal(o.ignored, 0);
  assert.equal(o.malformed, 0);
  assert.equal(o.link_type, "1");
  assert.equal(o.counts.decoded, 300);
  assert.match(String(o.first_packet), /^2020-06-10T08:00:00\.000\+00:00$/);
  assert.match(String(o.last_packet), /^2020-06-10T08:0[01]:/);
  assert.ok(Date.now() - Date.parse(o.ingested_at) < 300_000, o.ingested_at);
  assert.equal(r.events, 200);
  assert.ok(!("first_event_id" in o), "the id range is not shown");
  const text = await daemon.ctl(["captures"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^ID\s+INGESTED_AT\s+PATH/);
  assert.ok(text.stdout.includes(old.file) && text.stdout.includes(recent.file));

  // --capture: exactly that ingest's events (not its twin's of the same hour), in every plan.
  // Straight to the control socket (no CLI process per query); the CLI is exercised below.
  const logs = async (args: Record<string, unknown>) =>
    ((await daemon.call("logs", { limit: 1000, ...args })) as { rows: { time: string }[] }).rows;
  const all2020 = await logs({ day: "2020-06-10" });
  assert.equal(all2020.length, 450);
  for (const sort of ["date", "ip", "mac"]) {
    for (const [c, n] of [[old.capture, 300], [twin.capture, 150]]) {
      const rows = await logs({ capture: c, sort });
      assert.equal(rows.length, n, `capture ${c} --sort ${sort}`);
      assert.ok(rows.every((e) => e.time.startsWith("2020-06-10T08:0")), `--sort ${sort}`);
    }
  }
  const ofOneClient = await logs({ capture: twin.capture, ip: "10.1.0.4" });
  const ofClientAll = await logs({ day: "2020-06-10", ip: "10.1.0.4" });
  assert.ok(ofOneClient.length > 0 && ofOneClient.length < ofClientAll.length);
  const paged = await daemon.ctlJson([
    "logs",
    "--capture",
    String(recent.capture),
    "--limit",
    "64",
    "--all",
  ]) as { time: string }[];
  assert.equal(paged.length, 200);
  assert.ok(paged.every((e) => e.time.startsWith("2026-11-20T12:0")));
  const otherDay = await logs({ capture: recent.capture, day: "2020-06-10" });
  assert.equal(otherDay.length, 0, "the other filters still apply");

  const unknown = await daemon.ctl(["logs", "--capture", "9999"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no capture 9999 \(vigia ctl captures lists them\)/);
  const bad = await daemon.ctl(["logs", "--capture", "abc"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--capture must be an integer/);

  // del: that capture's events and record go; the other stays whole.
  const deleted = await daemon.ctlJson(["captures", "del", String(old.capture)]) as {
    capture: number;
    deleted: boolean;
    events: number;
  };
  assert.deepEqual(
    { capture: deleted.capture, deleted: deleted.deleted, events: deleted.events },
    { capture: old.capture, deleted: true, events: 300 },
  );
  const after = await daemon.call("captures") as CaptureRow[];
  assert.deepEqual(after.map((c) => c.id), [recent.capture, twin.capture]);
  assert.equal((await logs({})).length, 350);
  assert.equal((await logs({ capture: twin.capture })).length, 150);
  const gone = await daemon.ctl(["logs", "--capture", String(old.capture)]);
  assert.equal(gone.code, 1);
  const again = await daemon.ctl(["captures", "del", String(old.capture)]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, new RegExp(`no capture ${old.capture} `));
  const missing = await daemon.ctl(["captures", "del"]);
  assert.equal(missing.code, 2);
  // Deleted evidence can be ingested again (its SHA-256 is no longer on record).
  const reingest = await runVigia(["ingest", old.file, "--config", daemon.configPath, "--json"]);
  assert.equal(reingest.code, 0, reingest.stderr);
  assert.equal(JSON.parse(reingest.stdout).events, 300);
}

Deno.test("ctl captures, captures del, logs --capture: sniffer down", async () => {
  const daemon = await startDaemon({
    config: `[log]\ntimezone = "UTC"\n[sniffer]\nenabled = false\n`,
  });
  try {
    await exercise(daemon);
  } finally {
    await daemon.stop();
  }
});

Deno.test({
  name: "ctl captures del through the running sniffer's writer",
  ignore: !isRoot,
  async fn() {
    const daemon = await startDaemon({
      // Captures on lo, but nothing matches its filter: the events are the ingests'.
      config: `[log]\ntimezone = "UTC"\n[sniffer]\ninterfaces = ["lo"]\n` +
        `filter = "udp port 9"\nnew_station_alert = false\n`,
    });
    try {
      const status = await daemon.ctlJson(["status"]) as {
        components: { name: string; state: string }[];
      };
      assert.equal(status.components.find((c) => c.name === "sniffer")?.state, "running");
      await exercise(daemon);
    } finally {
      await daemon.stop();
    }
  },
});
if (!isRoot) console.log("SKIP ctl captures through the running sniffer: needs root (CAP_NET_RAW)");

Deno.test("captures verbs: declared once, with their roles", () => {
  const roles = verbRoles(verbCatalogue(components));
  assert.equal(roles("captures"), "read");
  assert.equal(roles("captures del"), "admin");
});
