/**
 * The real daemon and CLI: `vigia run` with a `[veridns]` section, then
 * `vigia veridns branch|verify` as processes (exit codes 0/1/2/3, --json,
 * --ca/--insecure), and the control socket's status, stats and events verb.
 */

import assert from "node:assert/strict";
import { runVigia, startDaemon } from "../_helpers.ts";
import { freeTcpPort, startDns } from "./_fixtures.ts";

Deno.test({
  name: "vigia daemon serves VeriDNS; vigia veridns branch/verify talk to it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dns = await startDns({ "www.example.test": { a: ["192.0.2.10"] } });
    const port = freeTcpPort();
    const server = `127.0.0.1:${port}`;
    const daemon = await startDaemon({
      config: `
[geoip]
city_db = ""
asn_db = ""

[veridns]
listen = ["${server}"]
root_address = "192.0.2.1"

[[veridns.resolver]]
name = "loopback"
address = "${dns.address}"
`,
    });
    try {
      const ca = `${daemon.dir}/lib/veridns.crt`;
      const fingerprint = /sha256=([0-9A-F:]{95})/.exec(
        await daemon.waitForLog(/veridns.*listening/),
      )?.[1];
      assert.ok(fingerprint, daemon.logs());

      let r = await runVigia(["veridns", "branch", "--server", server, "--ca", ca, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const branch = JSON.parse(r.stdout);
      assert.deepEqual(branch.addresses, ["192.0.2.1"]);
      assert.ok(Number.isInteger(branch.seq));

      const verify = (...args: string[]) =>
        runVigia(["veridns", "verify", "--server", server, ...args]);
      const seenMalicious = ["www.example.test", "192.0.2.10", "203.0.113.7"];
      r = await verify("--insecure", "--json", ...seenMalicious);
      // An answer that is not verified has its own exit code (3), distinct from a failure (1).
      assert.equal(r.code, 3, r.stderr);
      const verdict = JSON.parse(r.stdout);
      assert.equal(verdict.verified, false);
      assert.deepEqual(verdict.malicious, ["203.0.113.7"]);
      // The same answer again: one alert, whose stored repeat count is 1 at once.
      r = await verify("--insecure", ...seenMalicious);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stdout, /^NOT verified: malicious 203\.0\.113\.7/);
      const alerts = await daemon.ctlJson(["alerts", "--kind", "veridns-malicious"]) as {
        repeats: number;
      }[];
      assert.deepEqual(alerts.map((a) => a.repeats), [1], JSON.stringify(alerts));

      r = await verify("--ca", ca, "www.example.test", "192.0.2.10");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^verified/);

      // Without --ca the self-signed certificate fails verification: exit 1 with a hint.
      r = await runVigia(["veridns", "branch", "--server", server]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--ca FILE.*--insecure/);
      // Usage errors: exit 2.
      r = await runVigia([
        "veridns",
        "verify",
        "--server",
        server,
        "--insecure",
        "x.test",
        "2001:db8::1",
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /not an IPv4 address/);
      r = await runVigia(["veridns", "branch", "--server", server, "--insecure", "--ca", ca]);
      assert.equal(r.code, 2, r.stderr);

      // The control socket: status (listening, fingerprint), stats, and the stored events.
      const status = await daemon.call("status") as Record<string, unknown>;
      assert.match(JSON.stringify(status), new RegExp(fingerprint!));
      const stats = await daemon.call("stats") as Record<string, Record<string, number>>;
      assert.equal(stats.veridns.verifications, 3);
      assert.equal(stats.veridns.malicious_addresses, 2);
      const events = (await daemon.call("veridns events", { malicious: true }) as {
        rows: { domain: string; malicious: string }[];
      }).rows;
      assert.equal(events.length, 2);
      assert.deepEqual([events[0].domain, events[0].malicious], [
        "www.example.test",
        "203.0.113.7",
      ]);
    } finally {
      await daemon.stop();
      await dns.close();
    }
    // Nothing listens any more: exit 1 with the reason.
    const r = await runVigia([
      "veridns",
      "branch",
      "--server",
      server,
      "--insecure",
      "--timeout",
      "2000",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /vigia veridns: /);
  },
});
