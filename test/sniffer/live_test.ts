/**
 * Live capture through the real daemon: `vigia run` with the sniffer on
 * `lo`, a DNS server on a loopback port answering real `dig` queries; the
 * queries and answers must appear in `ctl logs --json` and in the daily
 * file; a `ctl deny dns add` applies at once (the next query raises an
 * alert); a missing interface is reported without stopping the daemon.
 * Needs root (CAP_NET_RAW); skipped with a reason otherwise.
 */

import assert from "node:assert/strict";
import { freePort, hasCommand, isRoot, startDaemon, type TestDaemon } from "../_helpers.ts";
import { dnsMessage, ip } from "../capture/_frames.ts";

const digOk = hasCommand("dig");
if (!isRoot) console.log("SKIP sniffer/live: needs root (CAP_NET_RAW) for live capture on lo");
else if (!digOk) console.log("SKIP sniffer/live: dig is not installed");

/** A tiny authoritative answerer on 127.0.0.1:port: every A query gets 192.0.2.1. */
function dnsServer(port: number): { close(): void; done: Promise<void> } {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
  const done = (async () => {
    try {
      for await (const [msg, addr] of sock) {
        const id = (msg[0] << 8) | msg[1];
        let p = 12, name = "";
        while (p < msg.length && msg[p] !== 0) {
          name += (name ? "." : "") + new TextDecoder().decode(msg.subarray(p + 1, p + 1 + msg[p]));
          p += msg[p] + 1;
        }
        const reply = dnsMessage({
          id,
          response: true,
          aa: true,
          qname: name,
          qtype: 1,
          answers: [{ type: 1, ttl: 60, data: ip("192.0.2.1") }],
        });
        await sock.send(reply, addr);
      }
    } catch { /* closed */ }
  })();
  return { close: () => sock.close(), done };
}

async function dig(port: number, name: string): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["+tries=1", "+time=2", "@127.0.0.1", "-p", String(port), name, "A"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout);
}

/** Polls `ctl logs --json` (bounded) until `want` rows match. */
async function logsUntil(
  daemon: TestDaemon,
  args: string[],
  want: (rows: Record<string, unknown>[]) => boolean,
): Promise<Record<string, unknown>[]> {
  let rows: Record<string, unknown>[] = [];
  for (let i = 0; i < 40; i++) {
    rows = await daemon.ctlJson(["logs", ...args]) as Record<string, unknown>[];
    if (want(rows)) return rows;
    await new Promise((r) => setTimeout(r, 100)); // packets wait up to the pcap read timeout
  }
  return rows;
}

Deno.test({
  name: "live: dig queries on lo appear in ctl logs and the daily file; deny lists apply at once",
  ignore: !isRoot || !digOk,
  async fn() {
    const port = freePort();
    const server = dnsServer(port);
    const daemon = await startDaemon({
      config: `[log]\ntimezone = "UTC"\n[sniffer]\ninterfaces = ["lo"]\n` +
        `filter = "udp port ${port}"\ndns_ports = [${port}]\nnew_station_alert = false\n`,
    });
    try {
      for (const n of ["one", "two", "three"]) {
        assert.match(await dig(port, `${n}.live.test`), /192\.0\.2\.1/);
      }
      const rows = await logsUntil(
        daemon,
        ["--ip", "127.0.0.1", "--limit", "100"],
        (r) => r.length >= 6,
      );
      const seen = rows.map((r) => `${r.qr} ${r.query}`);
      for (const n of ["one", "two", "three"]) {
        assert.ok(seen.includes(`Q ${n}.live.test`), seen.join(", "));
        assert.ok(seen.includes(`R ${n}.live.test`), seen.join(", "));
      }
      const answer = rows.find((r) => r.qr === "R")!;
      assert.deepEqual(answer.answers, ["192.0.2.1"]);
      assert.equal(answer.src_port, port);
      assert.equal(answer.vendor, "(none)");
      const day = new Date().toISOString().slice(0, 10);
      const file = await Deno.readTextFile(`${daemon.logDir}/${day}.log`);
      for (const n of ["one", "two", "three"]) {
        assert.match(file, new RegExp(`\\tdns\\t.*\\tqr=Q\\tquery=${n}\\.live\\.test\\t`));
      }

      // A deny entry added now applies to the next query, without a reload.
      const added = await daemon.ctlJson(["deny", "dns", "add", "127.0.0.1"]) as { added: boolean };
      assert.equal(added.added, true);
      await dig(port, "after-deny.live.test");
      let alerts: Record<string, unknown>[] = [];
      for (let i = 0; i < 40 && alerts.length === 0; i++) {
        await daemon.ctlJson(["logs", "--limit", "1"]); // flushes the pipeline
        alerts = await daemon.ctlJson(["alerts", "--kind", "unauthorized-dns"]) as Record<
          string,
          unknown
        >[];
        if (alerts.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(alerts.length, 1);
      assert.match(String(alerts[0].subject), /127\.0\.0\.1 .* -> 127\.0\.0\.1/);
      assert.equal((alerts[0].details as Record<string, unknown>).query, "after-deny.live.test");

      const stats = await daemon.ctlJson(["stats"]) as { sniffer: Record<string, number> };
      assert.ok(stats.sniffer.packets >= 8, JSON.stringify(stats.sniffer));
      assert.equal(stats.sniffer.kernel_drops, 0);
      assert.equal(stats.sniffer.vigia_drops, 0);
    } finally {
      await daemon.stop();
      server.close();
      await server.done;
    }
  },
});

Deno.test({
  name: "live: a missing interface is named in the status and the rest of the daemon keeps running",
  ignore: !isRoot,
  async fn() {
    const daemon = await startDaemon({
      config: `[sniffer]\ninterfaces = ["nosuch0"]\n`,
    });
    try {
      const line = await daemon.waitForLog(/sniffer.*failed/);
      assert.match(line, /nosuch0/);
      const status = await daemon.ctlJson(["status"]) as Record<string, unknown>;
      assert.match(JSON.stringify(status), /nosuch0/);
    } finally {
      await daemon.stop();
    }
  },
});
