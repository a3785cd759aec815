/**
 * `[log] format` through the real entry points: `config check` names a bad
 * value with FILE:LINE:COL, `vigia ingest` writes JSON daily files when the
 * config says so (every line parsed by jq), and a reload that changes the
 * format keeps the running one and says it applies at the next restart,
 * like the rest of `[log]` but `level`.
 */

import assert from "node:assert/strict";
import { runVigia, startDaemon } from "../_helpers.ts";
import { skipUnless } from "../_env.ts";
import { hasJq, jqLines } from "../daylog/_jq.ts";
import { writeDnsCapture } from "../../scripts/bench/ingest_data.ts";

Deno.test("log format: config check refuses an unknown format at FILE:LINE:COL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-log-format-" });
  try {
    const path = `${dir}/vigia.toml`;
    await Deno.writeTextFile(path, '[log]\ntimezone = "UTC"\nformat = "xml"\n');
    const r = await runVigia(["config", "check", "--config", path]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /vigia\.toml:3:10: log\.format: expected one of "text", "json", found "xml"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "log format: vigia ingest writes JSON lines; a reload changing the format keeps it until restart",
  ignore: skipUnless(hasJq, "jq is not installed (APT_PACKAGES in scripts/setup.sh)"),
  async fn() {
    const d = await startDaemon({
      config: `[log]\ntimezone = "UTC"\nformat = "json"\n[sniffer]\nenabled = false\n`,
    });
    try {
      const capture = `${d.dir}/traffic.pcap`;
      const packets = await writeDnsCapture(capture, {
        packets: 2000,
        clients: 20,
        start: Date.parse("2026-11-21T08:00:00Z"),
        spanMs: 60_000,
      });
      const r = await runVigia(["ingest", capture, "--config", d.configPath, "--json"], {
        cwd: d.dir,
      });
      assert.equal(r.code, 0, r.stderr);
      const lines = await jqLines(`${d.dir}/log/2026-11-21.log`);
      const dns = lines.filter((l) => l.kind === "dns");
      assert.equal(dns.length, packets);
      assert.ok(dns.every((l) => typeof l.ts === "number" && typeof l["id.orig_h"] === "string"));
      assert.ok(lines.some((l) => l.kind === "new-station"));

      const good = await Deno.readTextFile(d.configPath);
      await Deno.writeTextFile(
        d.configPath,
        good.replace('format = "json"', 'format = "text"\nlevel = "debug"'),
      );
      const reload = await d.ctl(["reload", "--json"]);
      assert.equal(reload.code, 0, reload.stderr);
      assert.deepEqual(JSON.parse(reload.stdout).warnings, [
        "[log] format changed: takes effect at the next restart",
      ]);
    } finally {
      assert.equal(await d.stop(), 0);
    }
  },
});
