/**
 * Component families seen through `/metrics`: the sniffer capturing real
 * traffic on `lo` (root only), and the scanner's per-domain families.
 */

import assert from "node:assert/strict";
import { freePort, isRoot, skipUnless, startDaemon } from "../_helpers.ts";
import { askEach, sample } from "./_dns.ts";
import { MetricsRegistry, render } from "../../lib/metrics/mod.ts";
import { ScanMetrics } from "../../lib/scan/prometheus.ts";
import type { ScanResult } from "../../lib/scan/types.ts";

Deno.test({
  name: "sniffer metrics: DNS packets captured on lo are counted as stored events per interface",
  ignore: skipUnless(isRoot, "live capture on lo needs root (CAP_NET_RAW)"),
  async fn() {
    const dnsPort = freePort();
    const metricsPort = freePort();
    const d = await startDaemon({
      config: `[dns]\nenabled = true\nlisten = ["127.0.0.1:${dnsPort}"]\n\n` +
        `[sniffer]\ninterfaces = ["lo"]\nfilter = "udp port ${dnsPort}"\ndns_ports = [${dnsPort}]\n` +
        `new_station_alert = false\n\n[metrics]\nenabled = true\nlisten = "127.0.0.1:${metricsPort}"\n`,
    });
    try {
      await askEach(dnsPort, ["a.vigia.test.", "b.vigia.test.", "c.vigia.test."]);
      const url = `http://127.0.0.1:${metricsPort}/metrics`;
      let events: number | undefined;
      for (let i = 0; i < 100 && events !== 6; i++) {
        events = await sample(url, 'vigia_sniffer_events_total{kind="dns"}');
        if (events !== 6) await new Promise((r) => setTimeout(r, 100));
      }
      // Three queries and their three answers.
      assert.equal(events, 6);
      assert.equal(
        await sample(url, 'vigia_sniffer_packets_total{interface="lo",result="stored"}'),
        6,
      );
      assert.equal(await sample(url, 'vigia_sniffer_kernel_drops_total{interface="lo"}'), 0);
      for (const stage of ["kernel", "capture", "store"]) {
        assert.equal(await sample(url, `vigia_sniffer_drops_total{stage="${stage}"}`), 0, stage);
      }
      // The events are committed: nothing waits in the writer, and the events database has a size.
      let backlog: number | undefined;
      for (let i = 0; i < 100 && backlog !== 0; i++) {
        backlog = await sample(url, "vigia_sniffer_writer_backlog_rows");
        if (backlog !== 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(backlog, 0);
      assert.ok(Number(await sample(url, 'vigia_store_database_bytes{file="events_db"}')) > 0);
      assert.equal(await sample(url, 'vigia_component_up{component="sniffer"}'), 1);
    } finally {
      await d.stop();
    }
  },
});

function result(verdict: string, levels: string[], resolved = true): ScanResult {
  return {
    resolved,
    addresses: resolved ? [{}] : [],
    flux: { verdict },
    findings: levels.map((level) => ({ level, code: "X", message: "" })),
  } as unknown as ScanResult;
}

Deno.test("scanner metrics: runs by result; per configured domain only: success, findings, verdict", () => {
  const registry = new MetricsRegistry();
  const m = new ScanMetrics(["a.example", "b.example"]);
  m.register(registry.scope("scanner"));
  m.record("a.example", result("Clean", ["WARNING", "WARNING", "INFO"]));
  m.record("b.example", result("Clean", [], false));
  m.record("b.example", undefined);
  m.record("elsewhere.example", result("Fast-Flux", ["ERROR"]));
  const text = render(registry, "text");
  assert.match(text, /^vigia_scanner_runs_total\{result="ok"\} 2$/m);
  assert.match(text, /^vigia_scanner_runs_total\{result="unresolved"\} 1$/m);
  assert.match(text, /^vigia_scanner_runs_total\{result="failed"\} 1$/m);
  assert.match(text, /^vigia_scanner_findings\{domain="a\.example",level="WARNING"\} 2$/m);
  assert.match(text, /^vigia_scanner_findings\{domain="a\.example",level="ERROR"\} 0$/m);
  assert.match(text, /^vigia_scanner_flux_verdict\{domain="a\.example",verdict="Clean"\} 1$/m);
  const ts = Number(
    /^vigia_scanner_last_success_timestamp_seconds\{domain="a\.example"\} (\S+)$/m.exec(text)![1],
  );
  assert.ok(Math.abs(ts - Date.now() / 1000) < 60);
  // Not configured, or never resolved: no per-domain series.
  assert.doesNotMatch(text, /elsewhere|b\.example/);
});
