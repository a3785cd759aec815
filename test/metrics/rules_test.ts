/**
 * `config/prometheus/vigia.rules.yml` under `promtool check rules` and
 * `promtool test rules`: each alert fires on the series that should raise
 * it, after its `for`, and stays quiet on the healthy ones.
 */

import assert from "node:assert/strict";
import { hasCommand, repoRoot, skipUnless } from "../_helpers.ts";

const skip = skipUnless(
  hasCommand("promtool"),
  "promtool is not installed (apt-get install prometheus)",
);
const RULES = `${repoRoot}/config/prometheus/vigia.rules.yml`;

async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command("promtool", { args, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** One promtool unit-test group: the series, and per evaluation time the alerts expected. */
const TESTS = `
rule_files:
  - ${RULES}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'vigia_component_up{job="vigia",instance="s1",component="dns"}'
        values: '1 1 0x20'
      - series: 'vigia_component_up{job="vigia",instance="s1",component="metrics"}'
        values: '1x22'
      - series: 'vigia_sniffer_kernel_drops_total{job="vigia",instance="s1",interface="eth0"}'
        values: '0+5x30'
      - series: 'vigia_sniffer_kernel_drops_total{job="vigia",instance="s1",interface="eth1"}'
        values: '7x30'
      - series: 'vigia_sniffer_drops_total{job="vigia",instance="s1",stage="store"}'
        values: '0x5 0+30x5 150x30'
      - series: 'vigia_sniffer_drops_total{job="vigia",instance="s1",stage="capture"}'
        values: '0x40'
      - series: 'vigia_sniffer_drops_total{job="vigia",instance="s1",stage="kernel"}'
        values: '0+5x40'
      - series: 'vigia_alert_deliveries_total{job="vigia",instance="s1",channel="mail",result="failed"}'
        values: '0+1x60'
      - series: 'vigia_alert_deliveries_total{job="vigia",instance="s1",channel="mail",result="sent"}'
        values: '4x60'
      - series: 'vigia_alert_deliveries_total{job="vigia",instance="s2",channel="mail",result="failed"}'
        values: '0+1x60'
      - series: 'vigia_alert_deliveries_total{job="vigia",instance="s2",channel="mail",result="sent"}'
        values: '0+2x60'
      - series: 'vigia_alert_deliveries_total{job="vigia",instance="s1",channel="syslog",result="dropped"}'
        values: '0x10 0+3x10'
      - series: 'vigia_alert_deliveries_total{job="vigia",instance="s1",channel="syslog",result="failed"}'
        values: '0+2x60'
      - series: 'vigia_alert_queue_items{job="vigia",instance="s1",channel="syslog"}'
        values: '7x60'
      - series: 'vigia_alert_deliveries_total{job="vigia",instance="s2",channel="syslog",result="failed"}'
        values: '0x10 1x50'
      - series: 'vigia_alert_queue_items{job="vigia",instance="s2",channel="syslog"}'
        values: '5x10 0x50'
      - series: 'vigia_central_backlog_rows{job="vigia",instance="s1"}'
        values: '20000+100x60'
      - series: 'vigia_central_backlog_rows{job="vigia",instance="s2"}'
        values: '50000-100x60'
    alert_rule_test:
      - eval_time: 4m
        alertname: VigiaComponentDown
        exp_alerts: []
      - eval_time: 10m
        alertname: VigiaComponentDown
        exp_alerts:
          - exp_labels: {severity: critical, job: vigia, instance: s1, component: dns}
            exp_annotations:
              summary: "vigia dns is down on s1"
              description: "The component is enabled but has not been running for 5 minutes; see \`vigia ctl status\`."
      - eval_time: 5m
        alertname: VigiaKernelDropsRising
        exp_alerts: []
      - eval_time: 25m
        alertname: VigiaKernelDropsRising
        exp_alerts:
          - exp_labels: {severity: warning, job: vigia, instance: s1, interface: eth0}
            exp_annotations:
              summary: "vigia on s1 loses packets in the kernel on eth0"
              description: "50 packets dropped by the kernel in the last 10 minutes: capture buffer too small or the sniffer too slow."
      - eval_time: 4m
        alertname: VigiaSnifferDropping
        exp_alerts: []
      - eval_time: 10m
        alertname: VigiaSnifferDropping
        exp_alerts:
          - exp_labels: {severity: warning, job: vigia, instance: s1, stage: store}
            exp_annotations:
              summary: "vigia on s1 drops packets at the store stage"
              description: "120 packets lost in the last 10 minutes because the sniffer fell behind (capture: decoding; store: the events database)."
      - eval_time: 25m
        alertname: VigiaSnifferDropping
        exp_alerts: []
      - eval_time: 50m
        alertname: VigiaMailFailing
        exp_alerts:
          - exp_labels: {severity: critical, job: vigia, instance: s1}
            exp_annotations:
              summary: "vigia on s1 cannot deliver alert mail"
              description: "Alert mails failed and none was sent in the last 30 minutes; check [alerts.mail] and the SMTP server."
      - eval_time: 9m
        alertname: VigiaSyslogDropping
        exp_alerts: []
      - eval_time: 15m
        alertname: VigiaSyslogDropping
        exp_alerts:
          - exp_labels: {severity: warning, job: vigia, instance: s1, channel: syslog, result: dropped}
            exp_annotations:
              summary: "vigia on s1 drops alerts meant for syslog"
              description: "The syslog queue overflowed: the collector is down or too slow."
      - eval_time: 5m
        alertname: VigiaSyslogUnreachable
        exp_alerts: []
      - eval_time: 30m
        alertname: VigiaSyslogUnreachable
        exp_alerts:
          - exp_labels: {severity: warning, job: vigia, instance: s1}
            exp_annotations:
              summary: "vigia on s1 cannot reach its syslog collector"
              description: "30 sends to the [alerts.syslog] target failed in 15 minutes while alerts wait in the queue; see \`vigia ctl status\` (alert_delivery)."
      - eval_time: 20m
        alertname: VigiaCentralBacklogGrowing
        exp_alerts: []
      - eval_time: 55m
        alertname: VigiaCentralBacklogGrowing
        exp_alerts:
          - exp_labels: {severity: warning, job: vigia, instance: s1}
            exp_annotations:
              summary: "vigia on s1 is falling behind shipping to the central store"
              description: "25500 rows wait for the central PostgreSQL and the backlog keeps growing."
  - interval: 1h
    input_series:
      - series: 'vigia_scanner_last_success_timestamp_seconds{job="vigia",instance="s1",domain="stale.example"}'
        values: '3600x30'
      - series: 'vigia_scanner_last_success_timestamp_seconds{job="vigia",instance="s1",domain="fresh.example"}'
        values: '0+3600x30'
    alert_rule_test:
      - eval_time: 20h
        alertname: VigiaScanFailing
        exp_alerts: []
      - eval_time: 26h
        alertname: VigiaScanFailing
        exp_alerts:
          - exp_labels: {severity: warning, job: vigia, instance: s1, domain: stale.example}
            exp_annotations:
              summary: "vigia has not scanned stale.example successfully for a day"
              description: "The last successful fault-tolerance scan of stale.example on s1 is more than 24 hours old."
`;

Deno.test({
  name: "rules: promtool check rules accepts the file; promtool test rules passes every case",
  ignore: skip,
  async fn() {
    const check = await promtool(["check", "rules", RULES]);
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, /SUCCESS: 8 rules found/);
    const dir = await Deno.makeTempDir({ prefix: "vigia-rules-" });
    try {
      await Deno.writeTextFile(`${dir}/vigia_test.yml`, TESTS);
      const r = await promtool(["test", "rules", `${dir}/vigia_test.yml`]);
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, /SUCCESS/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "rules: a broken expectation makes promtool test rules fail (the test can fail)",
  ignore: skip,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigia-rules-" });
    try {
      await Deno.writeTextFile(
        `${dir}/vigia_test.yml`,
        TESTS.replace(
          "eval_time: 4m\n        alertname: VigiaComponentDown",
          "eval_time: 10m\n        alertname: VigiaComponentDown",
        ),
      );
      const r = await promtool(["test", "rules", `${dir}/vigia_test.yml`]);
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /VigiaComponentDown/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
