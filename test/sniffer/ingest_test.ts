/**
 * `runIngest` over captures the test writes (every link/IP variety the
 * sniffer logs) and over every real capture in ../shared/testdata/pcap,
 * whose stored rows must agree packet for packet with `tcpdump -nn -e`.
 */

import assert from "node:assert/strict";
import { pruneSnifferEvents, runIngest } from "../../lib/sniffer/mod.ts";
import { openEventWriter } from "../../lib/sniffer/event_writer.ts";
import type { PruneCutoffs } from "../../lib/sniffer/events_db.ts";
import { dnsTypeName, dnsTypeNumber } from "../../lib/net/dns_names.ts";
import { intToMac, keyToIp } from "../../lib/sniffer/codec.ts";
import { CaptureError } from "../../lib/capture/mod.ts";
import { sharedTestdata } from "../_helpers.ts";
import { tcpdump, timeOfDay } from "../capture/_tcpdump.ts";
import { hasTcpdump } from "../capture/_tcpdump.ts";
import { dnsMessage, ethernet, ip, nullLoop, pcapBytes, udpIp } from "../capture/_frames.ts";
import { dhcpExchange, dnsPair, makeEnv, readable, T0, writePcap } from "./_fixtures.ts";

Deno.test("ingest: a capture written by the test is stored, logged and counted", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  const records = [
    ...dnsPair({
      ts: T0,
      clientMac: "3c:22:fb:00:00:01",
      clientIp: "10.0.0.2",
      serverIp: "10.0.0.1",
      id: 1,
      qname: "example.com",
    }),
    ...dnsPair({
      ts: T0 + 10,
      clientMac: "f0:d1:a9:00:00:02",
      clientIp: "2001:db8::2",
      serverIp: "2001:db8::53",
      id: 2,
      qname: "ipv6.example.com",
      qtype: 28,
      answer: [{ type: 28, ttl: 60, data: ip("2001:db8::80") }],
      vlans: [20],
    }),
    ...dhcpExchange({
      ts: T0 + 20,
      clientMac: "da:a1:19:00:00:07",
      serverMac: "00:11:22:33:44:55",
      serverIp: "10.0.0.1",
      offer: "10.0.0.50",
      xid: 0x1234,
      hostName: "phone",
    }),
    // A DNS query cut short: malformed, counted, skipped.
    {
      ts: T0 + 30,
      data: ethernet(
        "3c:22:fb:00:00:01",
        "00:11:22:33:44:55",
        udpIp({ src: "10.0.0.2", dst: "10.0.0.1" }, 40001, 53, new Uint8Array([0, 1, 1, 0, 0, 1])),
      ),
    },
  ];
  const file = await writePcap(env.dir, "t.pcap", records);
  const r = await runIngest(file, { ...env, alerts: env.bus });
  assert.equal(r.packets, 9);
  assert.equal(r.events, 8);
  assert.equal(Object.values(r.malformed).reduce((a, b) => a + b, 0), 1);
  assert.ok(r.seconds > 0 && r.seconds < 30);
  const rows = readable(env);
  assert.equal(rows.length, 8);
  const v6 = rows.find((x) => x.query === "ipv6.example.com" && x.to_client === 1)!;
  assert.equal(v6.vlan, 20);
  assert.equal(v6.client_mac, "f0:d1:a9:00:00:02");
  assert.equal(v6.vendor, "Apple");
  assert.equal(v6.qtype, 28);
  assert.deepEqual(JSON.parse(v6.answers as string), [[
    "ipv6.example.com",
    "AAAA",
    60,
    "2001:db8::80",
  ]]);
  const dhcp = rows.filter((x) => x.kind === "dhcp").map((x) => x.msg_type);
  assert.deepEqual(dhcp.sort(), ["ACK", "DISCOVER", "OFFER", "REQUEST"]);
  const lines = env.logFile("2026-11-21.log").split("\n").filter((l) => /\t(dns|dhcp)\t/.test(l));
  assert.equal(lines.length, 8);
  assert.ok(lines.some((l) => l.includes("\tsrc_ip=2001:db8::53\t") && l.includes("\tvlan=20\t")));
  await env.close();
});

Deno.test("ingest: raw captures without MACs (BSD loopback) are stored with no MAC", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  const q = dnsMessage({ id: 9, qname: "loop.example", qtype: 1 });
  const file = `${env.dir}/null.pcap`;
  await Deno.writeFile(
    file,
    pcapBytes(0, [{
      ts: T0,
      data: nullLoop(udpIp({ src: "127.0.0.1", dst: "127.0.0.1" }, 5555, 53, q)),
    }]),
  );
  const r = await runIngest(file, { ...env, alerts: env.bus });
  assert.equal(r.events, 1);
  const [row] = readable(env);
  assert.equal(row.src_mac, null);
  assert.equal(row.client_mac, null);
  assert.equal(row.vendor, "");
  assert.match(env.logFile("2026-11-21.log"), /\tdns\tsrc_ip=127\.0\.0\.1\tsrc_port=5555\t/);
  await env.close();
});

Deno.test("ingest: an unreadable or foreign file is a CaptureError, and nothing is half-written", async () => {
  const env = await makeEnv();
  await assert.rejects(
    () => runIngest(`${env.dir}/missing.pcap`, { ...env, alerts: env.bus }),
    CaptureError,
  );
  await Deno.writeTextFile(`${env.dir}/text.pcap`, "this is not a capture file at all\n");
  await assert.rejects(
    () => runIngest(`${env.dir}/text.pcap`, { ...env, alerts: env.bus }),
    CaptureError,
  );
  assert.equal(readable(env).length, 0);
  await env.close();
});

// ---- real captures ---------------------------------------------------------

const dir = sharedTestdata ? `${sharedTestdata}/pcap` : null;
const tcpdumpOk = await hasTcpdump();
if (!dir) console.log("SKIP sniffer/ingest shared captures: ../shared/testdata/pcap is absent");
else if (!tcpdumpOk) console.log("SKIP sniffer/ingest shared captures: tcpdump is not installed");
const files = dir && tcpdumpOk
  ? [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /\.pcap(ng)?$/.test(n)).sort()
  : [];

function typeNumber(t: string): number | undefined {
  const m = /^Type(\d+)$/i.exec(t);
  return m ? Number(m[1]) : dnsTypeNumber(t);
}

Deno.test({
  name: "ingest: every shared capture is stored as tcpdump sees it, malformed ones counted",
  ignore: files.length === 0,
  async fn() {
    for (const name of files) {
      const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
      const path = `${dir}/${name}`;
      const packets = await tcpdump(path);
      const r = await runIngest(path, { ...env, alerts: env.bus });
      const expected = packets.filter((p) => (p.dns || p.dhcp) && !p.malformed);
      assert.equal(r.packets, packets.length, `${name}: packets`);
      assert.equal(r.events, expected.length, `${name}: events`);
      const malformed = Object.values(r.malformed).reduce((a, b) => a + b, 0);
      assert.equal(malformed, packets.filter((p) => p.malformed).length, `${name}: malformed`);
      if (/^(dns-zlip-|bootp_asan)/.test(name)) assert.ok(malformed > 0, `${name}: malformed`);
      const rows = readable(env);
      assert.equal(rows.length, expected.length, `${name}: rows`);
      const fromTcpdump = expected.map((p) =>
        [
          p.time,
          p.srcMac ?? "",
          p.dstMac ?? "",
          p.srcIp,
          p.srcPort,
          p.dstIp,
          p.dstPort,
          p.dns ? "dns" : "dhcp",
          p.dns ? p.dns.qname : p.dhcp!.msgType,
          p.dns ? typeNumber(p.dns.qtype) ?? p.dns.qtype : p.dhcp!.chaddr ?? "",
        ].join("|")
      ).sort();
      const mac = (n: number | null) => (n === null ? "" : intToMac(n));
      const stored = env.events.query<Record<string, number | string | null>>(
        `SELECT time, kind, src_mac, dst_mac, src_ip, dst_ip, src_port, dst_port, query, qtype,
           msg_type, chaddr FROM events`,
      ).map((x) =>
        [
          timeOfDay(Number(x.time) / 1000),
          mac(x.src_mac as number | null),
          mac(x.dst_mac as number | null),
          keyToIp(x.src_ip),
          x.src_port,
          keyToIp(x.dst_ip),
          x.dst_port,
          x.kind,
          x.kind === "dns" ? x.query : x.msg_type,
          x.kind === "dns" ? x.qtype : mac(x.chaddr as number | null),
        ].join("|")
      ).sort();
      // tcpdump names types it knows; the stored number must be that type.
      assert.deepEqual(
        stored.map((s) =>
          s.replace(/\|(\d+)$/, (_, n) => `|${typeNumber(dnsTypeName(Number(n))) ?? n}`)
        ),
        fromTcpdump,
        name,
      );
      await env.close();
    }
  },
});

Deno.test("prune: the hook keeps ingested events by packet time and deletes them by ingestion time, directly or through a running writer", async () => {
  const env = await makeEnv("[sniffer]\nnew_station_alert = false\n");
  const records = [];
  for (let i = 0; i < 10; i++) {
    records.push(...dnsPair({
      ts: T0 + i * 3_600_000,
      clientMac: `3c:22:fb:00:00:0${i}`,
      clientIp: `10.0.0.${10 + i}`,
      serverIp: "10.0.0.1",
      id: i,
      qname: `h${i}.example`,
    }));
  }
  await runIngest(await writePcap(env.dir, "p.pcap", records), { ...env, alerts: env.bus });
  const count = () =>
    env.events.get<{ n: number; f: number }>(
      "SELECT (SELECT count(*) FROM events) AS n, (SELECT count(*) FROM flows) AS f",
    )!;
  assert.deepEqual({ ...count() }, { n: 20, f: 10 });
  // No sniffer running: the hook deletes on its own connection.
  // Ingested events age by their ingestion time, not their packet time: a packet-time cutoff keeps them.
  assert.deepEqual(
    await pruneSnifferEvents({ store: env.store, running: () => undefined }, {
      before: T0 + 2.5 * 3_600_000,
    }),
    { events: 0 },
  );
  assert.deepEqual({ ...count() }, { n: 20, f: 10 });
  // A sniffer is running: the hook hands the work to its writer and reports what it deleted.
  const writer = await openEventWriter(env.store, { log: env.log });
  const running = { pruneEvents: (cutoffs: PruneCutoffs) => writer.prune(cutoffs) };
  assert.deepEqual(
    await pruneSnifferEvents({ store: env.store, running: () => running }, {
      before: T0 + 5.5 * 3_600_000,
      ingestBefore: Date.now() + 1000,
    }),
    { events: 20 },
  );
  assert.deepEqual({ ...count() }, { n: 0, f: 4 }); // flows idle since the live cutoff go too
  await writer.close();
  await env.close();
});
