/**
 * Alerts to a real rsyslog (Debian's rsyslogd, started here on loopback with
 * its own config): an unauthorized DNS server in an ingested capture arrives
 * over UDP and TCP with its structured data; TCP loses nothing across an
 * rsyslog restart; TLS and a local datagram socket deliver; a collector
 * that is down never blocks publishing, and a full queue drops (counted).
 */

import assert from "node:assert/strict";
import { AlertBus, type AlertsConfig } from "../../lib/alerts/mod.ts";
import { alertsSection } from "../../lib/alerts/config.ts";
import { loadConfig, section } from "../../lib/config/mod.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { createLogger } from "../../lib/log/mod.ts";
import { openStore } from "../../lib/store/mod.ts";
import { freePort, runVigia, skipUnless } from "../_helpers.ts";
import { dnsPair, T0, writePcap } from "../sniffer/_fixtures.ts";
import { haveGtls, haveRsyslog, makeCaAndCertificate, startRsyslog } from "./_rsyslog.ts";

const SKIP = skipUnless(haveRsyslog, "rsyslogd not installed (Debian rsyslog): syslog delivery");

async function alertsConfig(toml: string): Promise<AlertsConfig> {
  const { config } = await loadConfig(section("t", { alerts: alertsSection }), { text: toml });
  return config.alerts as AlertsConfig;
}

/** An alert bus on a temp store, as the daemon has one. */
async function bus(toml: string) {
  const dir = await Deno.makeTempDir({ prefix: "vigia-syslog-bus-" });
  const store = openStore(`${dir}/vigia.db`);
  const dailyLog = new DailyLog({ dir: `${dir}/log`, timeZone: "UTC", retentionDays: 0 });
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l), journal: false });
  const alerts = new AlertBus({ store, dailyLog, log, config: await alertsConfig(toml) });
  const syslog = () => alerts.stats().syslog as Record<string, number | string | boolean>;
  return {
    alerts,
    lines,
    syslog,
    close: async () => {
      await alerts.close(1000);
      store.close();
      await dailyLog.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The alert's line rsyslog wrote, by a text in it. */
function lineWith(lines: string[], text: string): string | undefined {
  return lines.find((l) => l.includes(text));
}

Deno.test({
  name:
    "syslog: an unauthorized DNS server in an ingested capture reaches rsyslog over UDP and TCP",
  ignore: SKIP,
  fn: async () => {
    const rsyslog = await startRsyslog();
    const dir = await Deno.makeTempDir({ prefix: "vigia-syslog-ingest-" });
    try {
      const capture = await writePcap(dir, "traffic.pcap", [
        ...dnsPair({
          ts: T0,
          clientMac: "02:00:00:00:00:05",
          clientIp: "10.0.0.5",
          serverIp: "203.0.113.53",
          id: 7,
          qname: "exfil.example.com",
        }),
        ...dnsPair({
          ts: T0 + 1000,
          clientMac: "02:00:00:00:00:06",
          clientIp: "10.0.0.6",
          serverIp: "192.0.2.53",
          id: 8,
          qname: "fine.example.com",
        }),
      ]);
      for (const [transport, port] of [["udp", rsyslog.udpPort], ["tcp", rsyslog.tcpPort]]) {
        const config = `${dir}/${transport}.toml`;
        await Deno.writeTextFile(
          config,
          `[paths]
state_dir = "${dir}/${transport}/lib"
log_dir = "${dir}/${transport}/log"
runtime_dir = "${dir}/${transport}/run"
[sniffer]
enabled = false
unauthorized_dns = ["203.0.113.53"]
[alerts.syslog]
enabled = true
target = "${transport}://127.0.0.1:${port}"
facility = "local3"
app_name = "vigia-${transport}"
min_severity = "warning"
`,
        );
        const r = await runVigia(["ingest", capture, "--config", config, "--json"]);
        assert.equal(r.code, 0, r.stderr);
        // The ingest exits after its alerts went out: they are in the file already or soon.
        const lines = await rsyslog.waitFor((l) => !!lineWith(l, `vigia-${transport} `));
        const line = lineWith(lines, `vigia-${transport} `)!;
        // local3 (19) * 8 + warning (4) = 156; MSGID the kind; the alert's fields as SD-PARAMs.
        assert.match(line, /^<156>1 \S+ \S+ vigia-(udp|tcp) \d+ unauthorized-dns \[vigia@32473 /);
        assert.match(line, / kind="unauthorized-dns" severity="warning" /);
        assert.match(line, / subject="10\.0\.0\.5 \(02:00:00:00:00:05\) -> 203\.0\.113\.53" /);
        assert.match(line, / time="2026-11-21T12:00:00\.000Z" /);
        assert.match(line, / client_ip="10\.0\.0\.5" /);
        assert.match(line, / server="203\.0\.113\.53" /);
        assert.match(line, / query="exfil\.example\.com" /);
        assert.match(line, /\] \uFEFF?unauthorized-dns: 10\.0\.0\.5 /);
        // new-station alerts are notices: below min_severity, not sent; the allowed server raised none.
        const ours = lines.filter((l) => l.includes(` vigia-${transport} `));
        assert.equal(ours.length, 1, ours.join("\n"));
      }
    } finally {
      await rsyslog.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "syslog: TCP loses nothing while rsyslog is stopped and restarted",
  ignore: SKIP,
  fn: async () => {
    const rsyslog = await startRsyslog();
    const t = await bus(`[alerts.syslog]
enabled = true
target = "tcp://127.0.0.1:${rsyslog.tcpPort}"
min_severity = "info"
`);
    try {
      const publish = (i: number) =>
        t.alerts.publish({
          kind: "rogue-dhcp",
          severity: "error",
          subject: `server 10.0.0.${i}`,
          details: { server: `10.0.0.${i}` },
        });
      const seen = (lines: string[], from: number, to: number) => {
        for (let i = from; i < to; i++) {
          if (!lines.some((l) => l.includes(`subject="server 10.0.0.${i}"`))) return false;
        }
        return true;
      };
      for (let i = 0; i < 5; i++) publish(i);
      await rsyslog.waitFor((l) => seen(l, 0, 5));
      await rsyslog.stop();
      // The collector is gone: publishing returns at once, the alerts wait in the queue.
      const t0 = performance.now();
      for (let i = 5; i < 15; i++) publish(i);
      assert.ok(performance.now() - t0 < 200, "publish did not wait for the collector");
      await rsyslog.start();
      const lines = await rsyslog.waitFor((l) => seen(l, 0, 15), 15_000);
      for (let i = 0; i < 15; i++) {
        const n = lines.filter((l) => l.includes(`subject="server 10.0.0.${i}"`)).length;
        assert.equal(n, 1, `alert ${i} arrived ${n} times`);
      }
      const stats = t.syslog();
      assert.equal(stats.sent, 15);
      assert.equal(stats.dropped, 0);
      assert.equal(stats.queued, 0);
      assert.ok(Number(stats.connects) >= 2, JSON.stringify(stats)); // it reconnected
      assert.ok(t.lines.some((l) => l.includes("syslog collector connected")));
    } finally {
      await t.close();
      await rsyslog.close();
    }
  },
});

Deno.test({
  name: "syslog: a collector that is down never blocks; a full queue drops the oldest (counted)",
  ignore: SKIP,
  fn: async () => {
    const port = freePort(); // nothing listens there
    const t = await bus(`[alerts.syslog]
enabled = true
target = "tcp://127.0.0.1:${port}"
queue_max = 3
`);
    try {
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) {
        t.alerts.publish({ kind: "x", severity: "warning", subject: `s${i}` });
      }
      assert.ok(performance.now() - t0 < 200, "publish did not wait for the collector");
      assert.equal(t.syslog().dropped, 7);
      assert.equal(t.syslog().queued, 3);
      const failed = await (async () => {
        for (let i = 0; i < 100; i++) {
          if (Number(t.syslog().failed) >= 1) return true;
          await new Promise((r) => setTimeout(r, 20));
        }
        return false;
      })();
      assert.ok(failed, JSON.stringify(t.syslog()));
      assert.match(String(t.syslog().last_error), /refused/i);
      const deliveries = t.alerts.deliveries().filter((d) => d.channel === "syslog");
      assert.deepEqual(
        Object.fromEntries(deliveries.map((d) => [d.result, d.count > 0])),
        { sent: false, failed: true, dropped: true },
      );
      assert.deepEqual(t.alerts.queues(), [{ channel: "syslog", queued: 3 }]);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name: "syslog: TLS (RFC 5425) to rsyslog's gtls input, and the frames are octet-counted",
  ignore: SKIP,
  fn: async () => {
    // A TLS listener of our own reads the raw stream: each frame is LENGTH SP MESSAGE.
    const dir = await Deno.makeTempDir({ prefix: "vigia-syslog-tls-" });
    const { caPath, certPath, keyPath } = await makeCaAndCertificate(dir);
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(certPath),
      key: await Deno.readTextFile(keyPath),
    });
    const port = (listener.addr as Deno.NetAddr).port;
    const received = (async () => {
      const conn = await listener.accept();
      const chunks: Uint8Array[] = [];
      const buf = new Uint8Array(4096);
      const frames: string[] = [];
      const dec = new TextDecoder();
      while (frames.length < 2) {
        const n = await conn.read(buf);
        if (n === null) break;
        chunks.push(buf.slice(0, n));
        const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
        let at = 0;
        for (const c of chunks) (all.set(c, at), at += c.length);
        frames.length = 0;
        for (let off = 0; off < all.length;) {
          const sp = all.indexOf(0x20, off);
          const len = Number(dec.decode(all.subarray(off, sp)));
          if (sp < 0 || off + len > all.length) break;
          frames.push(dec.decode(all.subarray(sp + 1, sp + 1 + len)));
          off = sp + 1 + len;
        }
      }
      conn.close();
      return frames;
    })();
    const t = await bus(`[alerts.syslog]
enabled = true
target = "tls://127.0.0.1:${port}"
ca_file = "${caPath}"
`);
    try {
      t.alerts.publish({ kind: "a", severity: "warning", subject: "first\nwith a newline" });
      t.alerts.publish({ kind: "b", severity: "critical", subject: "second" });
      const frames = await received;
      assert.equal(frames.length, 2);
      assert.match(
        frames[0],
        /^<28>1 .* a \[vigia@32473 kind="a" .*subject="first\nwith a newline"/,
      );
      assert.match(frames[1], /^<26>1 .* b \[vigia@32473 kind="b" severity="critical"/);
    } finally {
      await t.close();
      listener.close();
    }

    if (skipUnless(haveGtls, "rsyslog-gnutls not installed: TLS to rsyslog itself")) {
      await Deno.remove(dir, { recursive: true });
      return;
    }
    const rsyslog = await startRsyslog({ tls: true });
    const t2 = await bus(`[alerts.syslog]
enabled = true
target = "tls://127.0.0.1:${rsyslog.tlsPort}"
ca_file = "${rsyslog.caPath}"
`);
    try {
      t2.alerts.publish({
        kind: "remote-ban",
        severity: "warning",
        subject: "192.0.2.9",
        details: { client: "192.0.2.9", failures: 5 },
      });
      const lines = await rsyslog.waitFor((l) => !!lineWith(l, "remote-ban"));
      assert.match(
        lineWith(lines, "remote-ban")!,
        /^<28>1 .* remote-ban \[vigia@32473 kind="remote-ban" severity="warning" subject="192\.0\.2\.9" time="[^"]+" client="192\.0\.2\.9" failures="5"\]/,
      );
    } finally {
      await t2.close();
      await rsyslog.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "syslog: a local datagram socket (unix://) gets the /dev/log form, as rsyslog's imuxsock reads it",
  ignore: SKIP,
  fn: async () => {
    const rsyslog = await startRsyslog();
    const t = await bus(`[alerts.syslog]
enabled = true
target = "unix://${rsyslog.socketPath}"
facility = "auth"
`);
    try {
      t.alerts.publish({
        kind: "unauthorized-mac",
        severity: "warning",
        subject: "de:ad:be:ef:00:01 uses DHCP",
        details: { mac: "de:ad:be:ef:00:01" },
      });
      const lines = await rsyslog.waitFor((l) => !!lineWith(l, "unauthorized-mac"));
      // The local form: rsyslog takes APP-NAME and PID from the tag; the structured data is in MSG.
      assert.match(
        lineWith(lines, "unauthorized-mac")!,
        /^<36>1 \S+ \S+ vigia \d+ - - {1,2}unauthorized-mac: de:ad:be:ef:00:01 uses DHCP \[vigia@32473 kind="unauthorized-mac" .* mac="de:ad:be:ef:00:01"\]$/,
      );
      assert.equal(t.syslog().sent, 1);
    } finally {
      await t.close();
      await rsyslog.close();
    }
  },
});

Deno.test({
  name: "syslog: a reload onto another target moves the queued alerts there; counters carry over",
  ignore: SKIP,
  fn: async () => {
    const rsyslog = await startRsyslog();
    const dead = freePort();
    const toml = (port: number) =>
      `[alerts.syslog]\nenabled = true\ntarget = "tcp://127.0.0.1:${port}"\n`;
    const t = await bus(toml(dead));
    try {
      for (let i = 0; i < 3; i++) {
        t.alerts.publish({ kind: "dns-flood", severity: "error", subject: `flood ${i}` });
      }
      for (let i = 0; i < 100 && Number(t.syslog().failed) === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(t.syslog().queued, 3);
      await t.alerts.reconfigure(await alertsConfig(toml(rsyslog.tcpPort)));
      await rsyslog.waitFor((l) => [0, 1, 2].every((i) => !!lineWith(l, `subject="flood ${i}"`)));
      const totals = Object.fromEntries(
        t.alerts.deliveries().filter((d) => d.channel === "syslog").map((d) => [d.result, d.count]),
      );
      assert.equal(totals.sent, 3);
      assert.ok(totals.failed >= 1, JSON.stringify(totals)); // the old target's failures still count
      assert.equal(totals.dropped, 0);
    } finally {
      await t.close();
      await rsyslog.close();
    }
  },
});

Deno.test({
  name:
    "syslog: a collector that accepts but never reads blocks nothing; every alert is sent or dropped",
  fn: async () => {
    // Not rsyslog: a peer that stops reading is the slow collector at its worst.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const peer = listener.accept();
    const t = await bus(`[alerts.syslog]
enabled = true
target = "tcp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}"
queue_max = 100
`);
    try {
      // ~10 KB per message: 1000 of them are far more than the socket buffers hold.
      const details = Object.fromEntries(
        Array.from({ length: 10 }, (_, i) => [`pad${i}`, "x".repeat(1000)]),
      );
      let slowestTick = 0;
      for (let round = 0; round < 10; round++) {
        const t0 = performance.now();
        for (let i = 0; i < 100; i++) {
          t.alerts.publish({
            kind: "slow",
            severity: "warning",
            subject: `s${round}-${i}`,
            details,
          });
        }
        await new Promise((r) => setTimeout(r, 0));
        slowestTick = Math.max(slowestTick, performance.now() - t0);
      }
      assert.ok(slowestTick < 1000, `publishing 100 alerts took ${slowestTick} ms`);
      // The writer is stuck in a write the peer never reads; the queue is bounded.
      let stats = t.syslog();
      for (let i = 0; i < 100 && Number(stats.dropped) === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        stats = t.syslog();
      }
      assert.ok(Number(stats.dropped) > 0, JSON.stringify(stats));
      assert.ok(Number(stats.queued) <= 100, JSON.stringify(stats));
      assert.ok(Number(stats.sent) < 1000, JSON.stringify(stats));
    } finally {
      await t.alerts.close(300);
      const stats = t.syslog();
      // Nothing is lost without being counted: each alert was written whole, or dropped.
      assert.equal(Number(stats.sent) + Number(stats.dropped), 1000, JSON.stringify(stats));
      await t.close();
      (await peer).close();
      listener.close();
    }
  },
});
