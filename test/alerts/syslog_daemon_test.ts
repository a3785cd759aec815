/**
 * The running daemon sends its alerts to a real rsyslog over TCP: a VeriDNS
 * client reporting a malicious answer raises one, which arrives with its
 * structured data; `ctl status` and `/metrics` count the delivery; a reload
 * onto an unknown syslog scheme is refused at FILE:LINE:COL and the running
 * sender keeps delivering.
 */

import assert from "node:assert/strict";
import { freePort, hasCommand, runVigia, skipUnless, startDaemon } from "../_helpers.ts";
import { startDns } from "../veridns/_fixtures.ts";
import { haveRsyslog, startRsyslog } from "./_rsyslog.ts";

Deno.test({
  name:
    "syslog daemon: a VeriDNS alert reaches rsyslog; status and metrics count it; a bad reload keeps it",
  ignore: skipUnless(haveRsyslog, "rsyslogd not installed (Debian rsyslog): daemon to syslog"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const rsyslog = await startRsyslog();
    const dns = await startDns({ "www.example.test": { a: ["192.0.2.10"] } });
    const veridns = `127.0.0.1:${freePort()}`;
    const metrics = `127.0.0.1:${freePort()}`;
    const daemon = await startDaemon({
      config: `
[geoip]
city_db = ""
asn_db = ""

[alerts.syslog]
enabled = true
target = "tcp://127.0.0.1:${rsyslog.tcpPort}"

[metrics]
listen = "${metrics}"

[veridns]
listen = ["${veridns}"]
root_address = "192.0.2.1"

[[veridns.resolver]]
name = "loopback"
address = "${dns.address}"
`,
    });
    try {
      const verify = (bad: string) =>
        runVigia([
          "veridns",
          "verify",
          "--server",
          veridns,
          "--insecure",
          "www.example.test",
          "192.0.2.10",
          bad,
        ]);
      let r = await verify("203.0.113.7");
      assert.equal(r.code, 3, r.stderr); // not verified: the alert is raised
      let lines = await rsyslog.waitFor((l) => l.some((x) => x.includes("203.0.113.7")));
      const line = lines.find((x) => x.includes("203.0.113.7"))!;
      assert.match(line, /^<28>1 \S+ \S+ vigia \d+ veridns-malicious \[vigia@32473 /);
      assert.match(line, / subject="www\.example\.test 203\.0\.113\.7" /);
      assert.match(line, / domain="www\.example\.test" /);
      assert.match(line, / malicious="203\.0\.113\.7" /);
      assert.match(line, / reported="192\.0\.2\.10,203\.0\.113\.7" /);

      const status = await daemon.ctlJson(["status"]) as {
        alert_delivery: { syslog: Record<string, unknown> };
      };
      const syslog = status.alert_delivery.syslog;
      assert.equal(syslog.target, `tcp://127.0.0.1:${rsyslog.tcpPort}`);
      assert.equal(syslog.connected, true);
      assert.equal(syslog.sent, 1);
      assert.equal(syslog.dropped, 0);
      const human = await daemon.ctl(["status"]);
      assert.match(human.stdout, /^alert_delivery:\n {2}syslog:\n(?: {4}.*\n)* {4}sent +1$/m);
      const body = await (await fetch(`http://${metrics}/metrics`)).text();
      assert.match(body, /^vigia_alert_deliveries_total\{channel="syslog",result="sent"\} 1$/m);
      assert.match(body, /^vigia_alert_deliveries_total\{channel="syslog",result="dropped"\} 0$/m);
      assert.match(body, /^vigia_alert_queue_items\{channel="syslog"\} 0$/m);
      if (!skipUnless(hasCommand("promtool"), "promtool not installed: exposition lint")) {
        const lint = await new Deno.Command("promtool", {
          args: ["check", "metrics"],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const w = lint.stdin.getWriter();
        await w.write(new TextEncoder().encode(body));
        await w.close();
        const out = await lint.output();
        const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, said);
        assert.equal(said.trim(), "");
      }

      // A reload onto an unknown scheme is refused where it is written; the old sender stays.
      const text = await Deno.readTextFile(daemon.configPath);
      await Deno.writeTextFile(
        daemon.configPath,
        text.replace(`target = "tcp://`, `target = "relp://`),
      );
      r = await daemon.ctl(["reload"]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /vigia\.toml:\d+:10: alerts\.syslog\.target: unknown syslog scheme "relp"/,
      );
      r = await verify("203.0.113.8");
      assert.equal(r.code, 3, r.stderr);
      lines = await rsyslog.waitFor((l) => l.some((x) => x.includes("203.0.113.8")));
      assert.equal(lines.filter((x) => x.includes("veridns-malicious")).length, 2);
    } finally {
      await daemon.stop();
      await dns.close();
      await rsyslog.close();
    }
  },
});
