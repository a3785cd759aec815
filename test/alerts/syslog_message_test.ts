/**
 * The RFC 5424 form of an alert, RFC 6587 octet-counted frames, the syslog
 * target syntax, and `[alerts.syslog]` config errors at FILE:LINE:COL.
 */

import assert from "node:assert/strict";
import type { Alert } from "../../lib/alerts/mod.ts";
import { parseSyslogTarget } from "../../lib/alerts/config.ts";
import {
  escapeParamValue,
  formatLocalSyslogMessage,
  formatSyslogMessage,
  octetCountedFrame,
  sdName,
} from "../../lib/alerts/syslog_message.ts";
import { runVigia } from "../_helpers.ts";

const header = { facility: 3, hostname: "sensor-1", appName: "vigia", procId: "4242" };

function alert(o: Partial<Alert> = {}): Alert {
  return {
    id: 0,
    kind: "unauthorized-dns",
    severity: "warning",
    subject: "10.0.0.5 (aa:bb:cc:dd:ee:ff) -> 203.0.113.53",
    details: { server: "203.0.113.53", vlan: 10, answers: ["a", "b"], ok: false },
    time: new Date("2026-11-21T12:00:00.250Z"),
    raised: new Date("2026-12-03T17:00:01.500Z"),
    repeats: 0,
    ...o,
  };
}

Deno.test("syslog message: RFC 5424 header, structured data and UTF-8 MSG", () => {
  const m = formatSyslogMessage(alert(), header);
  assert.equal(
    m,
    // daemon (3) * 8 + warning (4) = 28; TIMESTAMP is when raised, time= when it happened.
    '<28>1 2026-12-03T17:00:01.500Z sensor-1 vigia 4242 unauthorized-dns [vigia@32473 kind="unauthorized-dns" severity="warning" subject="10.0.0.5 (aa:bb:cc:dd:ee:ff) -> 203.0.113.53" time="2026-11-21T12:00:00.250Z" server="203.0.113.53" vlan="10" answers="a,b" ok="false"] \uFEFFunauthorized-dns: 10.0.0.5 (aa:bb:cc:dd:ee:ff) -> 203.0.113.53',
  );
  const levels = ["info", "notice", "warning", "error", "critical"] as const;
  assert.deepEqual(
    levels.map((severity) => /^<(\d+)>/.exec(formatSyslogMessage(alert({ severity }), header))![1]),
    ["30", "29", "28", "27", "26"],
  );
  const local7 = formatSyslogMessage(alert({ severity: "critical" }), { ...header, facility: 23 });
  assert.match(local7, /^<186>1 /);
});

Deno.test('syslog message: PARAM-VALUE escapes " \\ ] and PARAM-NAME stays an SD-NAME', () => {
  assert.equal(escapeParamValue('a "q" ] \\ b'), 'a \\"q\\" \\] \\\\ b');
  assert.equal(escapeParamValue("é\nx=y"), "é\nx=y"); // only the three are escaped (RFC 5424 6.3.3)
  assert.equal(sdName('bad name="x"]'), "bad_name__x__");
  assert.equal(sdName("x".repeat(40)), "x".repeat(32));
  const m = formatSyslogMessage(
    alert({ subject: 'say "hi" ]', details: { 'we"ird key': "c:\\path]" } }),
    { ...header, hostname: "", appName: "vigia app" },
  );
  assert.match(m, / - vigia_app 4242 /);
  assert.match(m, / subject="say \\"hi\\" \\]" /);
  assert.match(m, / we_ird_key="c:\\\\path\\\]"\]/);
  // A huge value is cut, so a datagram stays far below the UDP limit.
  const long = formatSyslogMessage(alert({ details: { x: "y".repeat(100_000) } }), header);
  assert.ok(long.length < 2000, String(long.length));
});

Deno.test("syslog message: the local /dev/log form is glibc's, the structured data in MSG", () => {
  const raised = new Date(2026, 2, 5, 7, 8, 9); // local time, as syslog(3) writes it
  const m = formatLocalSyslogMessage(
    alert({ raised, subject: "two\nlines", details: { server: "203.0.113.53" } }),
    header,
  );
  assert.equal(
    m,
    '<28>Mar  5 07:08:09 vigia[4242]: unauthorized-dns: two lines [vigia@32473 kind="unauthorized-dns" severity="warning" subject="two\nlines" time="2026-11-21T12:00:00.250Z" server="203.0.113.53"]',
  );
});

Deno.test("syslog message: an octet-counted frame counts bytes, not characters", () => {
  const frame = octetCountedFrame("<14>1 - - - - - - olá\nsegunda linha");
  const text = new TextDecoder().decode(frame);
  // 35 characters, 36 bytes: "á" is two in UTF-8.
  assert.equal(text, "36 <14>1 - - - - - - olá\nsegunda linha");
  assert.equal(frame.length - "36 ".length, 36);
});

Deno.test("syslog target: the four schemes, default ports, and what is refused", () => {
  assert.deepEqual(parseSyslogTarget("unix:///dev/log"), { transport: "unix", path: "/dev/log" });
  assert.deepEqual(parseSyslogTarget("udp://127.0.0.1"), {
    transport: "udp",
    host: "127.0.0.1",
    port: 514,
  });
  assert.deepEqual(parseSyslogTarget("tcp://[::1]:1514"), {
    transport: "tcp",
    host: "::1",
    port: 1514,
  });
  assert.deepEqual(parseSyslogTarget("tls://logs.example.org"), {
    transport: "tls",
    host: "logs.example.org",
    port: 6514,
  });
  assert.match(String(parseSyslogTarget("relp://10.0.0.1:2514")), /unknown syslog scheme "relp"/);
  assert.match(String(parseSyslogTarget("10.0.0.1:514")), /is not a syslog target/);
  assert.match(String(parseSyslogTarget("unix://dev/log")), /absolute path/);
  assert.match(String(parseSyslogTarget("tcp://10.0.0.1:99999")), /port .* from 1 to 65535/);
});

Deno.test("syslog config: an unknown scheme, a bad APP-NAME and a missing CA file at FILE:LINE:COL", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/v.toml`,
      `[alerts.syslog]\nenabled = true\ntarget = "relp://127.0.0.1:2514"\napp_name = "my app"\n`,
    );
    let r = await runVigia(["config", "check", "--config", `${dir}/v.toml`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /v\.toml:3:10: alerts\.syslog\.target: unknown syslog scheme "relp"/);
    await Deno.writeTextFile(
      `${dir}/v.toml`,
      `[alerts.syslog]\nenabled = true\ntarget = "tls://127.0.0.1"\napp_name = "my app"\nca_file = "${dir}/none.pem"\n`,
    );
    r = await runVigia(["config", "check", "--config", `${dir}/v.toml`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /v\.toml:4:12: alerts\.syslog\.app_name: "my app" is not an APP-NAME/);
    assert.match(r.stderr, /v\.toml:5:11: alerts\.syslog\.ca_file: .*none\.pem: no such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
