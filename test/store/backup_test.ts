/**
 * The README's backup and restore procedure, as an admin runs it: SQLite's
 * online backup of both databases (`vigia.db` and `vigia-events.db`) while
 * the daemon runs and events are being written, then a daemon started on
 * the restored copies answers queries with the data backed up.
 */

import assert from "node:assert/strict";
import { hasCommand, runVigia, skipUnless, startDaemon } from "../_helpers.ts";
import { dnsPair, T0, writePcap } from "../sniffer/_fixtures.ts";

const noSqlite = skipUnless(hasCommand("sqlite3"), "sqlite3 is not installed (apt: sqlite3)");

async function sqlite(args: string[]): Promise<string> {
  const out = await new Deno.Command("sqlite3", { args, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`sqlite3 ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout).trim();
}

function capture(first: number, count: number) {
  return Array.from({ length: count }, (_, i) =>
    dnsPair({
      ts: T0 + (first + i) * 10,
      clientMac: "3c:22:fb:00:00:01",
      clientIp: "10.0.0.7",
      serverIp: "10.0.0.1",
      id: (first + i) % 65536,
      qname: `h${first + i}.example`,
    })).flat();
}

Deno.test({
  name: "backup: online backup of both databases while the daemon writes; a restored copy answers",
  ignore: noSqlite,
  fn: async () => {
    const work = await Deno.makeTempDir({ prefix: "vigia-backup-" });
    const d = await startDaemon();
    try {
      const state = `${d.dir}/lib`;
      // Events stored before the backup: they must all be in it.
      const before = await writePcap(work, "before.pcap", capture(0, 300));
      const first = await runVigia(["ingest", before, "--config", d.configPath]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal((await d.ctl(["deny", "dns", "add", "203.0.113.9"])).code, 0);
      // More events arrive while the backup runs.
      const during = await writePcap(work, "during.pcap", capture(300, 20_000));
      const writing = runVigia(["ingest", during, "--config", d.configPath]);
      await Deno.mkdir(`${work}/backup`);
      for (const db of ["vigia.db", "vigia-events.db"]) {
        await sqlite([`${state}/${db}`, `.backup '${work}/backup/${db}'`]);
      }
      assert.equal((await writing).code, 0);
      for (const db of ["vigia.db", "vigia-events.db"]) {
        assert.equal(await sqlite([`${work}/backup/${db}`, "PRAGMA integrity_check"]), "ok");
      }
      const backedUp = Number(
        await sqlite([`${work}/backup/vigia-events.db`, "SELECT count(*) FROM events"]),
      );
      // A consistent copy: everything from before, and whatever part of the second run committed.
      assert.ok(backedUp >= 600 && backedUp <= 40_600, String(backedUp));

      // Restore into a fresh state directory and query it.
      await d.stop();
      const restored = `${work}/restored`;
      await Deno.mkdir(`${restored}/lib`, { recursive: true });
      for (const db of ["vigia.db", "vigia-events.db"]) {
        await Deno.copyFile(`${work}/backup/${db}`, `${restored}/lib/${db}`);
      }
      const r = await startDaemon({
        config:
          `[paths]\nstate_dir = "${restored}/lib"\nlog_dir = "${restored}/log"\nruntime_dir = "${restored}/run"\n`,
      });
      try {
        const denied = await r.ctlJson(["deny", "dns", "list"]) as { value: string }[];
        assert.deepEqual(denied.map((e) => e.value), ["203.0.113.9"]);
        const devices = await r.ctlJson(["devices"]) as { mac: string }[];
        assert.ok(devices.some((x) => x.mac === "3c:22:fb:00:00:01"), JSON.stringify(devices));
        const logs = await r.ctlJson(["logs", "--limit", "5"]) as { query?: string }[];
        assert.equal(logs.length, 5);
        assert.equal(logs[0].query, "h0.example");
      } finally {
        await r.stop();
      }
    } finally {
      await d.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});
