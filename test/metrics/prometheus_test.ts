/**
 * The metrics component against the real thing: Debian's Prometheus scrapes
 * a running daemon every second (with a bearer token) and its query API
 * sees exactly the DNS queries the test sent and every component up;
 * `promtool check metrics` finds nothing to report on the exposition.
 */

import assert from "node:assert/strict";
import { freePort, hasCommand, skipUnless, startDaemon } from "../_helpers.ts";
import { startPrometheus } from "./_prometheus.ts";
import { askEach } from "./_dns.ts";

const skip = skipUnless(
  hasCommand("prometheus") && hasCommand("promtool"),
  "prometheus/promtool are not installed (apt-get install prometheus)",
);

/** Runs `promtool check metrics` on an exposition. */
export async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test({
  name: "prometheus: scrapes vigia every second; requests equal the queries sent; components up",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dnsPort = freePort();
    const metricsPort = freePort();
    const tokenDir = await Deno.makeTempDir({ prefix: "vigia-token-" });
    const tokenFile = `${tokenDir}/token`;
    await Deno.writeTextFile(tokenFile, "s3cret-scrape-token\n");
    const d = await startDaemon({
      config: `[dns]\nenabled = true\nlisten = ["127.0.0.1:${dnsPort}"]\n\n[metrics]\n` +
        `enabled = true\nlisten = "127.0.0.1:${metricsPort}"\ntoken_file = "${tokenFile}"\n`,
    });
    const prom = await startPrometheus({
      targets: [`127.0.0.1:${metricsPort}`],
      tokenFile,
    }).catch(async (e) => {
      await d.stop();
      throw e;
    });
    try {
      const base = `http://127.0.0.1:${metricsPort}/metrics`;
      // Without the token: refused.
      const refused = await fetch(base);
      await refused.body?.cancel();
      assert.equal(refused.status, 401);
      const auth = { authorization: "Bearer s3cret-scrape-token" };

      // Queries over UDP, each answered before the next.
      const sent = 37;
      await askEach(
        dnsPort,
        Array.from({ length: sent }, (_, i) => i % 3 === 0 ? "nowhere.example." : "vigia.test."),
      );

      const result = await prom.until(
        "sum(vigia_dns_requests_total)",
        (r) => r.length === 1 && Number(r[0].value[1]) === sent,
      );
      assert.equal(Number(result[0].value[1]), sent);
      // By zone: served zone and `other` for the names outside it.
      const byZone = await prom.query("sum by (zone) (vigia_dns_requests_total)");
      const zones = Object.fromEntries(byZone.map((r) => [r.metric.zone, Number(r.value[1])]));
      assert.deepEqual(zones, { "vigia.test.": 24, other: 13 });
      const up = await prom.until("vigia_component_up", (r) => r.length >= 2);
      assert.deepEqual(
        Object.fromEntries(up.map((r) => [r.metric.component, r.value[1]])),
        { dns: "1", metrics: "1" },
      );
      const build = await prom.query("vigia_build_info");
      assert.equal(build.length, 1);
      assert.match(build[0].metric.version, /^\d+\.\d+\.\d+/);
      const rss = await prom.query("process_resident_memory_bytes");
      assert.ok(Number(rss[0].value[1]) > 1e6);

      // The same exposition passes promtool's lint; OpenMetrics when asked.
      const text = await (await fetch(base, { headers: auth })).text();
      const lint = await promtoolCheck(text);
      assert.equal(lint.code, 0, lint.output);
      assert.equal(lint.output.trim(), "");
      const om = await fetch(base, {
        headers: { ...auth, accept: "application/openmetrics-text; version=1.0.0" },
      });
      assert.match(om.headers.get("content-type")!, /^application\/openmetrics-text/);
      const omText = await om.text();
      assert.match(omText, /^# TYPE vigia_dns_requests counter$/m);
      assert.ok(omText.endsWith("# EOF\n"));
    } finally {
      await prom.stop();
      await d.stop();
      await Deno.remove(tokenDir, { recursive: true });
    }
  },
});
