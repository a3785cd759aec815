/**
 * The `dns` component inside the real daemon (`vigia run`), driven by the
 * real CLI (`vigia ctl zone ...`, `vigia ctl stats`) and asked with `dig`.
 */

import assert from "node:assert/strict";
import { hasCommand, startDaemon } from "../_helpers.ts";
import { freeDnsPort } from "./_harness.ts";

const ready = hasCommand("dig");
if (!ready) console.log("SKIP dns daemon test: dig is needed (bind9-dnsutils)");

async function digShort(port: number, name: string, type: string): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+time=2", "+tries=2", "+short", name, type],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test({
  name: "daemon: dns serves its zones, ctl zone add/list/del work live, ctl stats counts queries",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = await freeDnsPort();
    const daemon = await startDaemon({ config: `[dns]\nlisten = ["127.0.0.1:${port}"]\n` });
    try {
      assert.equal(await digShort(port, "vigia.test", "A"), "127.0.0.1");
      const add = await daemon.ctl([
        "zone",
        "add",
        "cam1.vigia.test",
        "A",
        "192.0.2.80",
        "--ttl",
        "90",
      ]);
      assert.equal(add.code, 0, add.stderr);
      assert.equal(await digShort(port, "cam1.vigia.test", "A"), "192.0.2.80");
      const list = await daemon.ctlJson(["zone", "list"]) as Record<string, unknown>[];
      const row = list.find((r) => r.name === "cam1.vigia.test.");
      assert.deepEqual([row?.type, row?.value, row?.ttl], ["A", "192.0.2.80", 90]);
      const bad = await daemon.ctl(["zone", "add", "cam2.example.org", "A", "192.0.2.81"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /not inside any served zone/);
      const del = await daemon.ctl(["zone", "del", "cam1.vigia.test"]);
      assert.equal(del.code, 0, del.stderr);
      assert.equal(await digShort(port, "cam1.vigia.test", "A"), "");
      const stats = await daemon.ctlJson(["stats"]) as Record<string, Record<string, unknown>>;
      const dns = stats.dns as {
        queries: number;
        zones: Record<string, number>;
        rcode: Record<string, number>;
      };
      assert.ok(dns.queries >= 3, JSON.stringify(dns));
      assert.ok(dns.zones["vigia.test."] >= 3);
      assert.ok(dns.rcode.NOERROR >= 2 && dns.rcode.NXDOMAIN >= 1, JSON.stringify(dns.rcode));
      const status = await daemon.ctlJson(["status"]) as {
        components: { name: string; state: string; details: { listen?: unknown } }[];
      };
      const component = status.components.find((c) => c.name === "dns");
      assert.equal(component?.state, "running", JSON.stringify(status.components));
      assert.match(JSON.stringify(component.details.listen), new RegExp(`127\\.0\\.0\\.1:${port}`));
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
  },
});
