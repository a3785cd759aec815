/**
 * vigia as a secondary of a fake primary written here (real TCP and UDP on
 * loopback), which can be told to send a sound zone or a bad one: a record
 * outside the zone, a message cut short, a transfer that stops early, a
 * closing SOA with another serial, more records than `max_zone_records`.
 * Each bad transfer is counted and logged and the old copy keeps being
 * served; a NOTIFY from the primary starts a check at once and one from
 * elsewhere is REFUSED; the zone is transferred onward (kdig AXFR/IXFR); a
 * restart serves the stored copy with the primary gone; a zone whose
 * primary stays away expires into SERVFAIL, and one never transferred is
 * SERVFAIL from the start.
 */

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { hasCommand } from "../_helpers.ts";
import { notifyMessage } from "../../lib/dns/notify.ts";
import { readNameKey, skipName } from "../../lib/dns/tsig.ts";
import { keyToText, TYPE } from "../../lib/dns/wire.ts";
import { parseZoneText, type ZoneRecord } from "../../lib/dns/zone_file.ts";
import { freeDnsPort, kdig, startDns, type TestDns, UdpClient } from "./_harness.ts";
import { buildQuery, decode } from "./_packets.ts";

const haveKdig = hasCommand("kdig");
if (!haveKdig) console.log("SKIP dns secondary test: kdig is needed (knot-dnsutils)");

type Mode = "good" | "outside" | "truncated" | "early-end" | "other-serial" | "oversized";

/** A primary that answers SOA, AXFR and IXFR (always as a full zone) from zone text, or badly. */
class FakePrimary {
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.Conn>();
  readonly zones = new Map<string, { serial: number; timers: string; www: string }>();
  mode: Mode = "good";
  transfers = 0;

  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accept();
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) {
      this.#conns.add(conn);
      this.#serve(conn).catch(() => {}).finally(() => {
        this.#conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  }

  records(zone: string): ZoneRecord[] {
    const z = this.zones.get(zone)!;
    let text = `$ORIGIN ${zone}\n$TTL 300\n@ SOA ns1 hostmaster ${z.serial} ${z.timers}\n` +
      `@ NS ns1\nns1 A 127.0.0.1\nwww A ${z.www}\nmail MX 10 www\n`;
    if (this.mode === "outside") text += "evil.elsewhere.test. A 192.0.2.66\n";
    if (this.mode === "oversized") {
      for (let i = 0; i < 100; i++) text += `h${i} A 10.0.0.${i}\n`;
    }
    return parseZoneText(text, { file: "fake" }).records;
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) return;
      const next = new Uint8Array(buf.length + n);
      next.set(buf);
      next.set(chunk.subarray(0, n), buf.length);
      buf = next;
      while (buf.length >= 2 && buf.length >= 2 + ((buf[0] << 8) | buf[1])) {
        const query = buf.slice(2, 2 + ((buf[0] << 8) | buf[1]));
        buf = buf.slice(2 + query.length);
        if (!await this.#answer(conn, query)) return;
      }
    }
  }

  /** Answers one query; false to hang up. */
  async #answer(conn: Deno.Conn, query: Uint8Array): Promise<boolean> {
    const qend = skipName(query, 12) + 4;
    const zone = keyToText(readNameKey(query, 12)!);
    const qtype = (query[qend - 4] << 8) | query[qend - 3];
    if (!this.zones.has(zone)) return false;
    const records = this.records(zone);
    const soa = records[0];
    const send = (rrs: ZoneRecord[]) => write(conn, message(query, qend, rrs));
    if (qtype === TYPE.SOA) {
      await send([soa]);
      return true;
    }
    this.transfers++;
    const rest = records.slice(1);
    switch (this.mode) {
      case "truncated":
        await send([soa, ...rest.slice(0, 2)]);
        // A frame that says 300 bytes and brings 20, then the primary hangs up.
        await write(conn, new Uint8Array(20).fill(7), 300);
        return false;
      case "early-end":
        await send([soa, ...rest]);
        return false;
      case "other-serial": {
        const other = { ...soa, rdata: soa.rdata.slice() };
        new DataView(other.rdata.buffer).setUint32(other.rdata.length - 20, 999);
        await send([soa, ...rest]);
        await send([other]);
        return true;
      }
      default:
        await send([soa, ...rest.slice(0, 3)]);
        await send([...rest.slice(3), soa]);
        return true;
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** A reply to `query` with uncompressed records in the answer section. */
function message(query: Uint8Array, qend: number, rrs: ZoneRecord[]): Uint8Array {
  let size = qend;
  for (const r of rrs) size += r.name.length + 10 + r.rdata.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set(query.subarray(0, qend));
  out[2] = 0x84;
  out[3] = 0;
  dv.setUint16(6, rrs.length);
  dv.setUint16(8, 0);
  dv.setUint16(10, 0);
  let p = qend;
  for (const r of rrs) {
    out.set(r.name, p);
    p += r.name.length;
    dv.setUint16(p, r.type);
    dv.setUint16(p + 2, 1);
    dv.setUint32(p + 4, r.ttl);
    dv.setUint16(p + 8, r.rdata.length);
    out.set(r.rdata, p + 10);
    p += 10 + r.rdata.length;
  }
  return out;
}

async function write(conn: Deno.Conn, msg: Uint8Array, claimed = msg.length): Promise<void> {
  const out = new Uint8Array(msg.length + 2);
  out[0] = claimed >> 8;
  out[1] = claimed & 0xff;
  out.set(msg, 2);
  for (let off = 0; off < out.length;) off += await conn.write(out.subarray(off));
}

/** Sends a NOTIFY for `zone` from `from` and returns the reply's rcode and AA bit. */
async function sendNotify(
  port: number,
  zone: string,
  from = "127.0.0.1",
): Promise<{ rcode: number; aa: boolean }> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, from, () => r()));
  try {
    const reply = await new Promise<Uint8Array | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 2000);
      s.on("message", (m: Uint8Array) => {
        clearTimeout(timer);
        resolve(new Uint8Array(m));
      });
      s.send(notifyMessage(zone, 4321), port, "127.0.0.1");
    });
    assert.ok(reply, `no answer to the NOTIFY for ${zone} from ${from}`);
    return { rcode: reply[3] & 15, aa: (reply[2] & 4) !== 0 };
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/** Polls `check` (a query or a counter: nothing to subscribe to) every 50 ms, at most `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 8000) {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

async function answerOf(client: UdpClient, port: number, name: string, type = "A") {
  const reply = await client.exchange(port, buildQuery(name, type, { id: 7 }), { timeoutMs: 500 });
  return reply ? decode(reply) : undefined;
}

const wwwIs = (client: UdpClient, port: number, ip: string) => async () =>
  (await answerOf(client, port, "www.keep.test"))?.answer.some((a) => a.endsWith(` ${ip}`)) ??
    false;

interface InStats {
  transfers_in: {
    checks: number;
    axfr: number;
    ixfr_fallback: number;
    notify_in: number;
    failed: Record<string, number>;
  };
}
const statsOf = (t: TestDns) => (t.server.stats() as unknown as InStats).transfers_in;

Deno.test({
  name:
    "secondary zones: bad transfers keep the old copy, NOTIFY checks at once, onward transfer, restart, expiry",
  ignore: !haveKdig,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const primary = new FakePrimary();
    primary.zones.set("keep.test.", { serial: 1, timers: "3600 3600 86400 300", www: "192.0.2.1" });
    primary.zones.set("exp.test.", { serial: 1, timers: "1 1 3 300", www: "192.0.2.9" });
    const nowhere = await freeDnsPort();
    // A downstream secondary of vigia: told of each new serial of keep.test.
    const downstream = dgram.createSocket("udp4");
    await new Promise<void>((r) => downstream.bind(0, "127.0.0.1", () => r()));
    const downstreamPort = downstream.address().port;
    const notified: string[] = [];
    let onDownstreamNotify = () => {};
    downstream.on("message", (m: Uint8Array, rinfo: { port: number; address: string }) => {
      const msg = new Uint8Array(m);
      notified.push(keyToText(readNameKey(msg, 12)!));
      const reply = msg.slice();
      reply[2] |= 0x80;
      downstream.send(reply, rinfo.port, rinfo.address);
      onDownstreamNotify();
    });
    const dir = await Deno.makeTempDir({ prefix: "vigia-secondary-" });
    const toml = `zone = []\ntable_poll = "1h"\nmax_zone_records = 60\n` +
      `[[dns.secondary]]\norigin = "keep.test."\nprimaries = ["127.0.0.1:${primary.port}"]\n` +
      `[[dns.secondary]]\norigin = "exp.test"\nprimaries = ["127.0.0.1:${primary.port}"]\n` +
      `[[dns.secondary]]\norigin = "none.test."\nprimaries = ["127.0.0.1:${nowhere}"]\n` +
      `[[dns.transfer]]\nzones = ["keep.test."]\nallow = ["127.0.0.1"]\n` +
      `notify = ["127.0.0.1:${downstreamPort}"]\n`;
    const client = await UdpClient.open();
    let t = await startDns(toml, { dir });
    try {
      await until("first transfer of keep.test", wwwIs(client, t.port, "192.0.2.1"));
      const none = await answerOf(client, t.port, "none.test", "SOA");
      assert.equal(none?.rcode, 2, "a zone never transferred answers SERVFAIL");
      let status = t.server.zoneStatus();
      const keep = status.find((z) => z.zone === "keep.test.")!;
      assert.equal(keep.role, "secondary");
      assert.equal(keep.serial, 1);
      assert.equal(keep.state, "ok");
      assert.match(keep.last_transfer_in ?? "", /AXFR from 127\.0\.0\.1:\d+, serial none -> 1/);
      assert.ok(keep.next_refresh && Date.parse(keep.next_refresh) > Date.now() + 3000_000);
      assert.equal(status.find((z) => z.zone === "none.test.")?.state, "pending");

      // Transferred onward, by kdig.
      const onward = await kdig(t.port, ["+tcp", "AXFR", "keep.test."]);
      assert.match(onward.out, /www\.keep\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.1/, onward.out);

      // Each bad transfer: counted, the old copy kept.
      const bad: [Mode, string, RegExp][] = [
        ["outside", "malformed", /outside the zone/],
        ["truncated", "malformed", /closed inside a message|ended early/],
        ["early-end", "malformed", /ended early/],
        ["other-serial", "malformed", /closing SOA has another serial/],
        ["oversized", "oversized", /more than 60 records/],
      ];
      const keepZone = primary.zones.get("keep.test.")!;
      keepZone.serial = 2;
      keepZone.www = "192.0.2.2";
      for (const [mode, kind, error] of bad) {
        primary.mode = mode;
        const before = statsOf(t).failed[kind];
        const notify = await sendNotify(t.port, "keep.test.");
        assert.deepEqual(notify, { rcode: 0, aa: true });
        await until(`${mode} counted`, () => statsOf(t).failed[kind] > before);
        assert.ok(await wwwIs(client, t.port, "192.0.2.1")(), `${mode}: the old copy is served`);
        const row = t.server.zoneStatus().find((z) => z.zone === "keep.test.")!;
        assert.equal(row.serial, 1, mode);
        assert.equal(row.state, "error", mode);
        assert.match(row.last_error ?? "", error, mode);
      }
      assert.ok(statsOf(t).ixfr_fallback >= bad.length, "each IXFR failure was retried as AXFR");
      const failures: Record<string, number> = {};
      t.metrics.families().find((f) => f.name === "vigia_dns_transfer_in_failures_total")!
        .read((labels, n) => (failures[labels[0]] = n));
      assert.ok(failures.malformed >= 4 && failures.oversized >= 1, JSON.stringify(failures));

      // A NOTIFY from an address that is not a primary: REFUSED, no check.
      const notifies = statsOf(t).notify_in;
      assert.equal((await sendNotify(t.port, "keep.test.", "127.0.0.2")).rcode, 5);
      assert.equal(statsOf(t).notify_in, notifies);

      primary.mode = "good";
      notified.length = 0; // the first transfer (serial 1) was told too
      const toldDownstream = new Promise<void>((r) => (onDownstreamNotify = r));
      assert.equal((await sendNotify(t.port, "keep.test.")).rcode, 0);
      await until("serial 2 after NOTIFY", wwwIs(client, t.port, "192.0.2.2"));
      await toldDownstream;
      assert.deepEqual(notified, ["keep.test."], "vigia's own secondary is notified of serial 2");
      status = t.server.zoneStatus();
      assert.equal(status.find((z) => z.zone === "keep.test.")?.last_error, null);
      // Onward IXFR from the journal: one change, the old www out and the new one in.
      const ixfr = await kdig(t.port, ["+tcp", "IXFR=1", "keep.test."]);
      assert.match(ixfr.out, /192\.0\.2\.1[\s\S]*192\.0\.2\.2/, ixfr.out);
      assert.match(ixfr.out, /\(\d+ messages?, 6 records\)/, ixfr.out);

      // The primary goes away: exp.test (expire 3 s) answers SERVFAIL, keep.test is still served.
      await primary.close();
      await until(
        "exp.test expired",
        async () => (await answerOf(client, t.port, "www.exp.test"))?.rcode === 2,
      );
      assert.ok(await wwwIs(client, t.port, "192.0.2.2")());
      assert.equal(t.server.zoneStatus().find((z) => z.zone === "exp.test.")?.state, "expired");
      const expiredOut = await kdig(t.port, ["+tcp", "AXFR", "exp.test."]);
      assert.match(expiredOut.out, /SERVFAIL|REFUSED/, expiredOut.out);

      // A restart with no primary: the stored copy at once, the expired zone still SERVFAIL.
      await t.stop();
      t = await startDns(toml, { dir });
      assert.ok(await wwwIs(client, t.port, "192.0.2.2")(), "the stored copy is served");
      assert.equal((await answerOf(client, t.port, "www.exp.test"))?.rcode, 2);
      const restarted = t.server.zoneStatus().find((z) => z.zone === "keep.test.")!;
      assert.equal(restarted.serial, 2);
      assert.equal(restarted.role, "secondary");
    } finally {
      downstream.close();
      await client.close();
      await t.stop();
      await primary.close().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
