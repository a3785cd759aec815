/**
 * A bad edit of a zone source keeps the last good copy served (issue 13
 * item 1), in the real daemon asked with `dig`: a zone file whose SOA line is
 * deleted, one with a syntax error, one moved away, and a broken zone-table
 * row. Each time the error is logged with its FILE:LINE, shown by `ctl
 * status` and `ctl zone status`, and the zone recovers when it is fixed.
 */

import assert from "node:assert/strict";
import { hasCommand, startDaemon } from "../_helpers.ts";
import { openStore } from "../../lib/store/mod.ts";
import { freeDnsPort } from "./_harness.ts";

const ready = hasCommand("dig");
if (!ready) console.log("SKIP dns last-good-copy test: dig is needed (bind9-dnsutils)");

async function dig(port: number, name: string, type = "A"): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+time=2", "+tries=2", "+norec", name, type],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

function answers(text: string): string[] {
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(text)?.[1] ?? "";
  return section.split("\n").filter(Boolean).map((l) => l.split(/\s+/).slice(3).join(" "));
}

function status(text: string): string {
  return /status: (\w+)/.exec(text)?.[1] ?? "no answer";
}

const GOOD = `$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 7 3600 900 604800 300
@ NS ns1
ns1 A 192.0.2.53
www A 192.0.2.1
`;

interface ZoneRow {
  zone: string;
  state: string;
  serial: number;
  records: number;
  errors: string[];
}

Deno.test({
  name: "daemon: a broken zone file or zone-table row keeps its last good copy served",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = await freeDnsPort();
    const dir = await Deno.makeTempDir({ prefix: "vigia-lastgood-" });
    const file = `${dir}/example.test.zone`;
    await Deno.writeTextFile(file, GOOD);
    const daemon = await startDaemon({
      config: `[dns]\nlisten = ["127.0.0.1:${port}"]\nzone_files = ["${file}"]\n` +
        `table_poll = "200ms"\nzone = []\n`,
    });
    const zoneStatus = async () => {
      const out = await daemon.ctlJson(["zone", "status", "example.test"]) as ZoneRow | ZoneRow[];
      return Array.isArray(out) ? out[0] : out;
    };
    try {
      assert.deepEqual(answers(await dig(port, "www.example.test")), ["A 192.0.2.1"]);
      assert.equal((await zoneStatus()).state, "ok");

      // 1. The SOA line deleted: the last good copy stays, the error names the file and line.
      await Deno.writeTextFile(file, GOOD.replace(/^@ SOA.*\n/m, ""));
      const broken = await daemon.waitForLog(/zone source broken.*no SOA record/);
      assert.ok(broken.includes(`${file}:3:`), broken);
      assert.deepEqual(answers(await dig(port, "www.example.test")), ["A 192.0.2.1"]);
      assert.equal(status(await dig(port, "example.test", "SOA")), "NOERROR");
      let zs = await zoneStatus();
      assert.equal(zs.state, "error");
      assert.equal(zs.serial, 7);
      assert.match(zs.errors[0], /no SOA record.*serving its last good copy/);
      assert.ok(zs.errors[0].startsWith(`${file}:3:`), zs.errors[0]);
      const st = await daemon.ctlJson(["status"]) as {
        components: { name: string; status?: { zone_errors?: string[] } }[];
      };
      const dns = st.components.find((c) => c.name === "dns");
      assert.match(JSON.stringify(dns), /no SOA record/);
      const human = await daemon.ctl(["zone", "status"]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /example\.test\.\s+primary\s+7\s+4\s+.*error/);

      // 2. Fixed, with a new record: served, error gone.
      await Deno.writeTextFile(file, GOOD.replace(" 7 ", " 9 ") + "new A 192.0.2.9\n");
      await daemon.waitForLog(/zone source fixed/);
      assert.deepEqual(answers(await dig(port, "new.example.test")), ["A 192.0.2.9"]);
      zs = await zoneStatus();
      assert.deepEqual([zs.state, zs.serial, zs.errors], ["ok", 9, []]);

      // 3. A syntax error on line 6: FILE:6 in the log, the copy with "new" still served.
      await Deno.writeTextFile(file, GOOD.replace("192.0.2.1", "192.0.2.999"));
      await daemon.waitForLog(new RegExp(`zone source broken.*${file}:6:`));
      assert.deepEqual(answers(await dig(port, "new.example.test")), ["A 192.0.2.9"]);
      assert.deepEqual(answers(await dig(port, "www.example.test")), ["A 192.0.2.1"]);

      // 4. The file moved away: still served.
      await Deno.remove(file);
      await daemon.waitForLog(/zone source broken.*cannot read zone file: no such file/);
      assert.deepEqual(answers(await dig(port, "www.example.test")), ["A 192.0.2.1"]);
      assert.match((await zoneStatus()).errors.join(), /no such file/);

      // 5. Back again: the new content is served.
      await Deno.writeTextFile(file, GOOD.replace("192.0.2.1", "192.0.2.2"));
      await daemon.waitForLog(/zone source fixed.*was=.*no such file/);
      assert.deepEqual(answers(await dig(port, "www.example.test")), ["A 192.0.2.2"]);
      assert.equal(status(await dig(port, "new.example.test")), "NXDOMAIN");

      // 6. A zone-table row broken behind the daemon's back keeps its last good value.
      const add = await daemon.ctl(["zone", "add", "cam.example.test", "A", "192.0.2.80"]);
      assert.equal(add.code, 0, add.stderr);
      assert.deepEqual(answers(await dig(port, "cam.example.test")), ["A 192.0.2.80"]);
      const store = openStore(`${daemon.dir}/lib/vigia.db`);
      try {
        store.run(
          "UPDATE dns_records SET value = 'not-an-address' WHERE name = 'cam.example.test.'",
        );
        await daemon.waitForLog(/zone source broken.*zone table row \d+/);
        assert.deepEqual(answers(await dig(port, "cam.example.test")), ["A 192.0.2.80"]);
        assert.match((await zoneStatus()).errors.join(), /zone table row \d+: .*serving its last/);
        store.run("UPDATE dns_records SET value = '192.0.2.81' WHERE name = 'cam.example.test.'");
        await daemon.waitForLog(/zone source fixed.*zone table row/);
        assert.deepEqual(answers(await dig(port, "cam.example.test")), ["A 192.0.2.81"]);
        assert.equal((await zoneStatus()).state, "ok");
      } finally {
        store.close();
      }
      const unknown = await daemon.ctl(["zone", "status", "nope.test"]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /nope\.test\. is not served/);
    } finally {
      assert.equal(await daemon.stop(), 0);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
