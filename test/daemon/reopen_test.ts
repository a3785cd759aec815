/**
 * The running daemon's daily files follow their paths: after `mv` with
 * SIGHUP, after `rm` with `vigia ctl reopen`, and after a plain `mv` with
 * nothing said (noticed within a second), the next lines go to a new file
 * at the path. `reopen` is an admin verb for remote tokens.
 */

import assert from "node:assert/strict";
import { runVigia, startDaemon } from "../_helpers.ts";
import { freeTcpPort, startDns } from "../veridns/_fixtures.ts";
import { verbCatalogue, verbRoles } from "../../lib/daemon/verbs.ts";
import { components } from "../../lib/app/mod.ts";

/** Polls `path` (bounded) until `test` accepts its text; the daemon's writes are timer-flushed. */
async function waitForFile(path: string, test: (text: string) => boolean): Promise<string> {
  let text = "";
  for (let i = 0; i < 200; i++) {
    try {
      text = await Deno.readTextFile(path);
      if (test(text)) return text;
    } catch { /* not there yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${path} never matched; last text: ${JSON.stringify(text)}`);
}

Deno.test({
  name: "reopen: daily files are reopened on SIGHUP, on ctl reopen, and when moved away unasked",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dns = await startDns({ "www.example.test": { a: ["192.0.2.10"] } });
    const server = `127.0.0.1:${freeTcpPort()}`;
    const d = await startDaemon({
      config: `[log]\ntimezone = "UTC"\n[geoip]\ncity_db = ""\nasn_db = ""\n` +
        `[veridns]\nlisten = ["${server}"]\nroot_address = "192.0.2.1"\n` +
        `[[veridns.resolver]]\nname = "loopback"\naddress = "${dns.address}"\n`,
    });
    try {
      await d.waitForLog(/veridns.*listening/);
      const today = new Date().toISOString().slice(0, 10);
      const file = `${d.logDir}/${today}.log`;
      let asked = 0;
      const branch = async () => {
        const r = await runVigia(["veridns", "branch", "--server", server, "--insecure"]);
        assert.equal(r.code, 0, r.stderr);
        asked++;
      };
      const branchLines = (t: string) => t.split("\n").filter((l) => /\tveridns-branch\t/.test(l));

      await branch();
      await waitForFile(file, (t) => branchLines(t).length === 1);
      // mv, then SIGHUP (logrotate's postrotate signal): the next line is in a new file.
      await Deno.rename(file, `${file}.1`);
      d.signal("SIGHUP");
      await d.waitForLog(/daily log files reopened/);
      await branch();
      await waitForFile(file, (t) => branchLines(t).length === 1);
      assert.equal(branchLines(await Deno.readTextFile(`${file}.1`)).length, 1);
      // rm, then ctl reopen.
      await Deno.remove(file);
      const r = await d.ctl(["reopen"]);
      assert.equal(r.code, 0, r.stderr);
      await branch();
      await waitForFile(file, (t) => branchLines(t).length === 1);
      // mv and say nothing: within a second of checks, lines go to a new file again.
      await Deno.rename(file, `${file}.2`);
      for (let i = 0; i < 40; i++) {
        await branch();
        try {
          if (branchLines(await Deno.readTextFile(file)).length > 0) break;
        } catch { /* not yet */ }
        await new Promise((r) => setTimeout(r, 100));
      }
      const fresh = await waitForFile(file, (t) => branchLines(t).length > 0);
      const moved = await Deno.readTextFile(`${file}.2`);
      // Every line is in one of the two files, none lost.
      await waitForFile(
        file,
        (t) => branchLines(t).length + branchLines(moved).length === asked - 2,
      );
      assert.ok(branchLines(fresh).length >= 1);
    } finally {
      await d.stop();
      await dns.close();
    }
    assert.equal(verbRoles(verbCatalogue(components))("reopen"), "admin");
  },
});
