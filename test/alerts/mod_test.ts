import assert from "node:assert/strict";
import { AlertBus, type AlertsConfig } from "../../lib/alerts/mod.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { loadConfig, section } from "../../lib/config/mod.ts";
import { alertsSection } from "../../lib/alerts/config.ts";
import { freePort, makeTestCertificate, startSmtp } from "../_helpers.ts";

async function alertsConfig(toml: string): Promise<AlertsConfig> {
  const { config } = await loadConfig(section("t", { alerts: alertsSection }), { text: toml });
  return config.alerts as AlertsConfig;
}

async function setup(toml: string) {
  const dir = await Deno.makeTempDir({ prefix: "vigia-alerts-" });
  const store = openStore(`${dir}/vigia.db`);
  const dailyLog = new DailyLog({ dir: `${dir}/log`, timeZone: "UTC", retentionDays: 0 });
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l), journal: false });
  const bus = new AlertBus({ store, dailyLog, log, config: await alertsConfig(toml) });
  const close = async () => {
    await bus.close();
    store.close();
    await dailyLog.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { dir, store, dailyLog, bus, lines, close };
}

Deno.test("alerts: stored, written to the alerts file and logged; repeats folded within the window", async () => {
  const t = await setup('[alerts]\ndedupe_window = "1m"\n');
  const time = new Date("2026-11-21T12:00:00Z");
  const alert = {
    kind: "unauthorized-dns",
    severity: "warning" as const,
    subject: "aa:bb:cc:dd:ee:ff -> 203.0.113.9",
    details: { server: "203.0.113.9" },
  };
  assert.equal(t.bus.publish({ ...alert, time }), true);
  assert.equal(t.bus.publish({ ...alert, time: new Date(time.getTime() + 10_000) }), false);
  assert.equal(t.bus.publish({ ...alert, time: new Date(time.getTime() + 20_000) }), false);
  assert.equal(t.bus.publish({ ...alert, time: new Date(time.getTime() + 61_000) }), true);
  t.store.flush();
  const rows = t.store.query<{ kind: string; repeats: number; details: string }>(
    "SELECT kind, repeats, details FROM alerts ORDER BY id",
  );
  // The repeats land on the alert they repeat, not on the next one after the window.
  assert.deepEqual(rows.map((r) => r.repeats), [2, 0]);
  assert.deepEqual(JSON.parse(rows[0].details), { server: "203.0.113.9" });
  t.dailyLog.flush();
  const file = await Deno.readTextFile(`${t.dir}/log/alerts-2026-11-21.log`);
  assert.equal(file.split("\n").filter(Boolean).length, 2);
  assert.match(
    file,
    /\tunauthorized-dns\tseverity=warning\tsubject=aa:bb:cc:dd:ee:ff -> 203\.0\.113\.9\tserver=203\.0\.113\.9\n/,
  );
  assert.ok(t.lines.some((l) => l.includes("alert unauthorized-dns")));
  assert.deepEqual((t.bus.stats() as { suppressed_repeats: number }).suppressed_repeats, 2);
  await t.close();
});

Deno.test("alerts: the stored repeat count grows as repeats arrive, and survives a restart", async () => {
  const t = await setup('[alerts]\ndedupe_window = "1m"\n');
  const alert = { kind: "veridns-malicious", severity: "warning" as const, subject: "x.test" };
  const repeatsStored = () => {
    t.store.flush();
    return t.store.query<{ repeats: number }>("SELECT repeats FROM alerts").map((r) => r.repeats);
  };
  assert.equal(t.bus.publish(alert), true);
  assert.deepEqual(repeatsStored(), [0]);
  assert.equal(t.bus.publish(alert), false);
  assert.deepEqual(repeatsStored(), [1]);
  // Many repeats in one turn of the event loop: one count, all of them.
  for (let i = 0; i < 5; i++) t.bus.publish(alert);
  await Promise.resolve();
  assert.deepEqual(repeatsStored(), [6]);
  await t.bus.close();
  // A new bus on the same store (a restart) is still inside the window: the repeat adds to the row.
  const lines: string[] = [];
  const bus = new AlertBus({
    store: t.store,
    dailyLog: t.dailyLog,
    log: createLogger({ write: (l) => lines.push(l), journal: false }),
    config: await alertsConfig('[alerts]\ndedupe_window = "1m"\n'),
  });
  assert.equal(bus.publish(alert), false);
  assert.deepEqual(repeatsStored(), [7]);
  await bus.close();
  await t.close();
});

Deno.test("alerts: the time it happened and the time raised are both stored", async () => {
  const t = await setup("");
  const happened = new Date("2026-11-21T12:00:00Z");
  const before = Date.now();
  t.bus.publish({ kind: "rogue-dhcp", severity: "error", subject: "10.0.0.66", time: happened });
  t.store.flush();
  const [row] = t.store.query<{ time: number; raised_at: number }>(
    "SELECT time, raised_at FROM alerts",
  );
  assert.equal(row.time, happened.getTime());
  assert.ok(row.raised_at >= before && row.raised_at <= Date.now(), String(row.raised_at));
  await t.close();
});

Deno.test("alerts: mail digests reach a real SMTP server; low severities are not mailed", async () => {
  const smtp = await startSmtp();
  const t = await setup(`[alerts.mail]
enabled = true
server = "127.0.0.1:${smtp.port}"
tls = "none"
from = "vigia@test.invalid"
to = ["noc@test.invalid", "sec@test.invalid"]
digest_interval = "150ms"
`);
  t.bus.publish({
    kind: "dns-flood",
    severity: "error",
    subject: "global 80 pkt/s",
    details: { top: ["10.0.0.1=60"] },
  });
  t.bus.publish({ kind: "rogue-dhcp", severity: "critical", subject: "server 10.0.0.66" });
  t.bus.publish({ kind: "new-station", severity: "info", subject: "aa:bb:cc:dd:ee:01" });
  const [mail] = await smtp.waitFor(1);
  assert.deepEqual(mail.to, ["noc@test.invalid", "sec@test.invalid"]);
  assert.equal(mail.from, "vigia@test.invalid");
  assert.match(mail.raw, /Subject: \[vigia\] 2 alerts: dns-flood, rogue-dhcp/);
  assert.match(mail.raw, /global 80 pkt\/s/);
  assert.match(mail.raw, /top: 10\.0\.0\.1=60/);
  assert.doesNotMatch(mail.raw, /new-station/);
  await t.close();
  await smtp.close();
  assert.equal(smtp.messages.length, 1);
});

Deno.test("alerts: an unreachable SMTP server never blocks publishing and is counted", async () => {
  const port = freePort(); // nothing listens there
  const t = await setup(`[alerts.mail]
enabled = true
server = "127.0.0.1:${port}"
tls = "none"
to = ["noc@test.invalid"]
digest_interval = "0s"
retry_max = 1
`);
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) t.bus.publish({ kind: "x", severity: "error", subject: `s${i}` });
  assert.ok(performance.now() - t0 < 500, "publish returned without waiting for SMTP");
  await t.bus.close(3000);
  const mail = (t.bus.stats() as { mail: { failed: number; sent: number } }).mail;
  assert.equal(mail.sent, 0);
  assert.ok(mail.failed >= 1);
  assert.ok(t.lines.some((l) => l.includes("alert mail failed")));
  await t.close();
});

for (const tls of ["starttls", "implicit"] as const) {
  Deno.test(`alerts: mail over ${tls} TLS with AUTH from the config's password file`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "vigia-smtp-" });
    const { key, cert } = await makeTestCertificate(dir);
    const smtp = await startSmtp({ tls, key, cert, auth: { user: "vigia", pass: "s3cret" } });
    await Deno.writeTextFile(`${dir}/password`, "s3cret\n");
    const t = await setup(`[alerts.mail]
enabled = true
server = "127.0.0.1:${smtp.port}"
tls = "${tls}"
require_tls = true
verify_certificate = false
username = "vigia"
password_file = "${dir}/password"
to = ["noc@test.invalid"]
digest_interval = "0s"
`);
    t.bus.publish({
      kind: "unauthorized-mac",
      severity: "warning",
      subject: "de:ad:be:ef:00:01 did DHCP",
    });
    const [mail] = await smtp.waitFor(1);
    assert.match(
      mail.raw,
      /Subject: \[vigia\] WARNING unauthorized-mac: de:ad:be:ef:00:01 did DHCP/,
    );
    await t.close();
    await smtp.close();
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("alerts: a wrong SMTP password is a logged failure, not a crash", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-smtp-" });
  const { key, cert } = await makeTestCertificate(dir);
  const smtp = await startSmtp({
    tls: "starttls",
    key,
    cert,
    auth: { user: "vigia", pass: "right" },
  });
  await Deno.writeTextFile(`${dir}/password`, "wrong");
  const t = await setup(`[alerts.mail]
enabled = true
server = "127.0.0.1:${smtp.port}"
verify_certificate = false
username = "vigia"
password_file = "${dir}/password"
to = ["noc@test.invalid"]
digest_interval = "0s"
retry_max = 1
`);
  t.bus.publish({ kind: "x", severity: "error", subject: "y" });
  await t.close();
  assert.equal(smtp.messages.length, 0);
  assert.ok(
    t.lines.some((l) => /alert mail failed.*(Invalid login|invalid credentials|535)/i.test(l)),
    t.lines.join("\n"),
  );
  await smtp.close();
  await Deno.remove(dir, { recursive: true });
});
