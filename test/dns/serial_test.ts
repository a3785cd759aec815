/**
 * SOA serials: RFC 1982 arithmetic, the three policies, and the running
 * server giving every change it makes or sees a new serial (asked with dig),
 * keeping an author's raised serial and the served serial across a restart.
 */

import assert from "node:assert/strict";
import { verbNamed } from "../../lib/daemon/types.ts";
import { hasCommand } from "../_helpers.ts";
import { nextSerial, serialGreater, soaSerial, withSerial } from "../../lib/dns/serial.ts";
import { dnsModule, type DnsServer, dnsVerbs } from "../../lib/dns/mod.ts";
import { dig, startDns } from "./_harness.ts";
import { MetricsRegistry } from "../../lib/metrics/registry.ts";

Deno.test("RFC 1982: greater across the wrap, undefined halfway, policies always move forward", () => {
  assert.equal(serialGreater(2, 1), true);
  assert.equal(serialGreater(1, 2), false);
  assert.equal(serialGreater(0, 0xffffffff), true);
  assert.equal(serialGreater(0xffffffff, 0), false);
  assert.equal(serialGreater(0x80000000, 0), false); // 2^31 apart: undefined, not greater
  assert.equal(serialGreater(5, 5), false);
  const day = new Date("2026-12-03T10:00:00Z");
  assert.equal(nextSerial(7, "increment", day), 8);
  assert.equal(nextSerial(0xffffffff, "increment", day), 0);
  assert.equal(nextSerial(7, "unixtime", day), day.getTime() / 1000);
  assert.equal(nextSerial(2_000_000_000, "unixtime", day), 2_000_000_001); // ahead of the clock
  assert.equal(nextSerial(4_000_000_000, "unixtime", day), day.getTime() / 1000); // the clock is past it (RFC 1982 wrap)
  assert.equal(nextSerial(7, "dateserial", day), 2026120300);
  assert.equal(nextSerial(2026120300, "dateserial", day), 2026120301);
  assert.equal(nextSerial(2027010100, "dateserial", day), 2027010101);
  const rdata = new Uint8Array([0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
  assert.equal(soaSerial(rdata), 7);
  assert.equal(soaSerial(withSerial(rdata, 0xfffffffe)), 0xfffffffe);
  assert.equal(soaSerial(rdata), 7, "withSerial copies");
});

const ready = hasCommand("dig");
if (!ready) console.log("SKIP dns serial server test: dig is needed (bind9-dnsutils)");

async function servedSerial(port: number, zone: string): Promise<number> {
  const r = await dig(port, ["+short", zone, "SOA"]);
  return Number(r.out.trim().split(/\s+/)[2]);
}

Deno.test({
  name: "serials: edits bump, an author's raised serial is kept, a restart keeps what was served",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const zoneDir = await Deno.makeTempDir({ prefix: "vigia-serial-" });
    const file = `${zoneDir}/example.test.zone`;
    const zone = (serial: number, extra = "") =>
      `$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hostmaster ${serial} 3600 900 604800 300\n` +
      `@ NS ns1\nns1 A 192.0.2.53\n${extra}`;
    await Deno.writeTextFile(file, zone(10));
    const t = await startDns(`zone_files = ["${file}"]\nzone = []\ntable_poll = "1h"\n`);
    let server = t.server;
    try {
      assert.equal(await servedSerial(t.port, "example.test"), 10);
      await verbNamed(dnsVerbs, "zone add").run({
        name: "a.example.test",
        type: "A",
        value: "192.0.2.1",
      }, t.env);
      assert.equal(await servedSerial(t.port, "example.test"), 11, "zone add bumps");
      await verbNamed(dnsVerbs, "zone del").run({ name: "a.example.test" }, t.env);
      assert.equal(await servedSerial(t.port, "example.test"), 12, "zone del bumps");
      server.reloadZones(true);
      assert.equal(await servedSerial(t.port, "example.test"), 12, "no change: same serial");
      // The file edited without touching the serial: vigia gives it one.
      await Deno.writeTextFile(file, zone(10, "b A 192.0.2.2\n"));
      server.reloadZones(true);
      assert.equal(await servedSerial(t.port, "example.test"), 13);
      // The author raises the serial past ours: theirs is kept.
      await Deno.writeTextFile(file, zone(50, "b A 192.0.2.3\n"));
      server.reloadZones(true);
      assert.equal(await servedSerial(t.port, "example.test"), 50);
      // The author raises it, but not past ours, and changes content: ours moves on.
      await Deno.writeTextFile(file, zone(20, "b A 192.0.2.4\n"));
      server.reloadZones(true);
      assert.equal(await servedSerial(t.port, "example.test"), 51);
      const status = server.zoneStatus().find((z) => z.zone === "example.test.");
      assert.equal(status?.serial, 51);

      // A restart with the same store keeps 51; a change made while down gets 52.
      await server.stop();
      await Deno.writeTextFile(file, zone(20, "b A 192.0.2.5\n"));
      server = dnsModule.create({
        ...t.env,
        section: t.section,
        log: t.env.log,
        metrics: new MetricsRegistry().scope("dns"),
      }) as DnsServer;
      await server.start();
      t.env.running = () => server;
      assert.equal(await servedSerial(t.port, "example.test"), 52);
    } finally {
      await server.stop();
      await t.stop().catch(() => {});
      await Deno.remove(zoneDir, { recursive: true });
    }
  },
});
