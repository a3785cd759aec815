/**
 * readCaptureFile on pcap and pcapng files written here (both byte orders,
 * µs and ns, several interfaces with their own link types and timestamp
 * resolutions, simple packet blocks), checked against tcpdump where it can
 * read the file, plus chunk/batch boundaries and broken files.
 */

import assert from "node:assert/strict";
import {
  CaptureError,
  type DnsFields,
  readCaptureFile,
  type SniffedEvent,
} from "../../lib/capture/mod.ts";
import {
  ACK,
  ascii,
  concat,
  dhcp4,
  dhcp6,
  dhcp6Option,
  dnsMessage,
  ethernet,
  ip,
  mac,
  nullLoop,
  optRr,
  pcapBytes,
  pcapngBytes,
  PSH,
  type Record,
  sll2,
  tcpIp,
  u16,
  u32,
  udpIp,
} from "./_frames.ts";
import { assertMatchesTcpdump, readAll } from "./_oracle.ts";
import { hasTcpdump } from "./_tcpdump.ts";

const tcpdumpOk = await hasTcpdump();
if (!tcpdumpOk) {
  console.log("SKIP capture/file_reader tcpdump comparisons: tcpdump is not installed");
}

const dir = await Deno.makeTempDir({ prefix: "vigia-capture-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

const C = { src: "10.1.2.3", dst: "10.1.2.53" };
const S = { src: "10.1.2.53", dst: "10.1.2.3" };
const C6 = { src: "2001:db8:1::3", dst: "2001:db8:1::53" };
const S6 = { src: "2001:db8:1::53", dst: "2001:db8:1::3" };
const MAC_C = "52:54:00:12:34:56";
const MAC_S = "00:25:90:ab:cd:ef";
const T0 = 1_718_000_000_000;

/** The hand-built scenario: DNS over UDP/VLAN/IPv6/TCP, DHCP DISCOVER/OFFER, DHCPv6 SOLICIT. */
function scenario(): Uint8Array[] {
  const q = dnsMessage({ id: 100, qname: "intranet.example.net", qtype: 1, additional: [optRr()] });
  const a = dnsMessage({
    id: 100,
    response: true,
    ra: true,
    qname: "intranet.example.net",
    qtype: 1,
    answers: [{
      type: 5,
      data: concat(new Uint8Array([3]), ascii("web"), new Uint8Array([0xc0, 21])),
    }, {
      name: "web.example.net",
      type: 1,
      ttl: 30,
      data: ip("10.9.9.9"),
    }],
  });
  const q6 = dnsMessage({ id: 101, qname: "v6.example.net", qtype: 28 });
  const a6 = dnsMessage({
    id: 101,
    response: true,
    aa: true,
    qname: "v6.example.net",
    qtype: 28,
    answers: [{ type: 28, data: ip("2001:db8::abcd") }],
  });
  const nx = dnsMessage({
    id: 102,
    response: true,
    rcode: 3,
    qname: "nope.example.net",
    qtype: 15,
  });
  const mx = dnsMessage({
    id: 103,
    response: true,
    qname: "example.net",
    qtype: 15,
    answers: [{
      type: 15,
      data: concat(u16(5), new Uint8Array([2]), ascii("mx"), new Uint8Array([0xc0, 12])),
    }],
  });
  const tq = dnsMessage({ id: 104, qname: "tcp.example.net", qtype: 16 });
  const discover = dhcp4({
    op: 1,
    xid: 0x01020304,
    chaddr: MAC_C,
    options: [[53, new Uint8Array([1])], [12, ascii("printer")], [55, new Uint8Array([1, 3, 6])], [
      61,
      concat(new Uint8Array([1]), mac(MAC_C)),
    ]],
  });
  const offer = dhcp4({
    op: 2,
    xid: 0x01020304,
    chaddr: MAC_C,
    yiaddr: "10.1.2.77",
    options: [[53, new Uint8Array([2])], [54, ip("10.1.2.1")], [51, u32(3600)], [
      50,
      ip("10.1.2.77"),
    ]],
  });
  const solicit = dhcp6(1, 0x112233, [dhcp6Option(1, concat(u16(1), u16(1), u32(99), mac(MAC_C)))]);
  const bcast = { src: "0.0.0.0", dst: "255.255.255.255" };
  return [
    ethernet(MAC_C, MAC_S, udpIp(C, 33333, 53, q), [7]),
    ethernet(MAC_S, MAC_C, udpIp(S, 53, 33333, a), [7]),
    ethernet(MAC_C, MAC_S, udpIp(C6, 33334, 53, q6)),
    ethernet(MAC_S, MAC_C, udpIp(S6, 53, 33334, a6)),
    ethernet(MAC_S, MAC_C, udpIp(S, 53, 33335, nx)),
    ethernet(MAC_S, MAC_C, udpIp(S, 53, 33336, mx)),
    ethernet(MAC_C, MAC_S, tcpIp(C, 33337, 53, 1, PSH | ACK, concat(u16(tq.length), tq))),
    ethernet(MAC_C, MAC_S, udpIp(C, 33338, 80, new Uint8Array(20))), // not DNS: ignored
    ethernet(MAC_C, "ff:ff:ff:ff:ff:ff", udpIp(bcast, 68, 67, discover)),
    ethernet(MAC_S, MAC_C, udpIp({ src: "10.1.2.1", dst: "10.1.2.77" }, 67, 68, offer)),
    ethernet(
      MAC_C,
      "33:33:00:01:00:02",
      udpIp({ src: "fe80::5054:ff:fe12:3456", dst: "ff02::1:2" }, 546, 547, solicit),
    ),
  ];
}

const records = (frames: Uint8Array[], step = 1.5): Record[] =>
  frames.map((data, i) => ({ ts: T0 + i * step + 0.001 * (i + 1), data }));

async function write(name: string, bytes: Uint8Array): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeFile(path, bytes);
  return path;
}

function summary(events: SniffedEvent[]): string[] {
  return events.map((e) =>
    `${e.meta.ts.toFixed(3)} ${e.kind} ${e.meta.srcMac} ${e.meta.srcIp}.${e.meta.srcPort} ${
      e.kind === "dns" ? `${e.dns.trans_id} ${e.dns.query}` : `${e.dhcp.msg_type} ${e.dhcp.mac}`
    }`
  );
}

Deno.test("file: pcap and pcapng in both byte orders, µs and ns, decode the same events", async () => {
  const recs = records(scenario());
  const files = [
    await write("le-us.pcap", pcapBytes(1, recs)),
    await write("be-us.pcap", pcapBytes(1, recs, { bigEndian: true })),
    await write("le-ns.pcap", pcapBytes(1, recs, { nano: true })),
    await write("be-ns.pcap", pcapBytes(1, recs, { bigEndian: true, nano: true })),
    await write("le.pcapng", pcapngBytes([{ linkType: 1 }], recs)),
    await write(
      "be-ns.pcapng",
      pcapngBytes([{ linkType: 1, tsresol: 9 }], recs, { bigEndian: true }),
    ),
  ];
  const first = await readAll(files[0]);
  assert.equal(first.events.length, 10);
  assert.equal(first.counters.packets, 11);
  assert.equal(first.counters.ignored, 1);
  assert.deepEqual(first.counters.malformed, {});
  const expected = summary(first.events);
  assert.equal(
    expected[0],
    `${(T0 + 0.001).toFixed(3)} dns ${MAC_C} 10.1.2.3.33333 100 intranet.example.net`,
  );
  for (const f of files.slice(1)) assert.deepEqual(summary((await readAll(f)).events), expected, f);
  const answer = first.events[1] as { dns: DnsFields };
  assert.deepEqual(answer.dns.answers, [
    { name: "intranet.example.net", type: "CNAME", ttl: 300, data: "web.example.net" },
    { name: "web.example.net", type: "A", ttl: 30, data: "10.9.9.9" },
  ]);
  assert.equal(first.events[1].meta.vlan, 7);
});

Deno.test({
  name:
    "file: built captures agree with tcpdump (Ethernet/VLAN, SLL2, BSD loopback, raw IP, pcapng)",
  ignore: !tcpdumpOk,
  async fn() {
    const frames = scenario();
    await assertMatchesTcpdump(await write("eth.pcap", pcapBytes(1, records(frames))));
    await assertMatchesTcpdump(
      await write(
        "eth-be-ns.pcapng",
        pcapngBytes([{ linkType: 1, tsresol: 9 }], records(frames), { bigEndian: true }),
      ),
    );
    // Strip the Ethernet (and VLAN) header to re-frame the IP packets.
    const packets = frames.map((f) => f.subarray(f[12] === 0x81 ? 18 : 14));
    const sll2File = await write(
      "sll2.pcap",
      pcapBytes(276, records(packets.map((p) => sll2(MAC_C, p)))),
    );
    const r = await assertMatchesTcpdump(sll2File);
    assert.equal(r.events[0].meta.srcMac, MAC_C);
    const nullFile = await write("null.pcap", pcapBytes(0, records(packets.map(nullLoop))));
    assert.equal((await assertMatchesTcpdump(nullFile)).events.length, 10);
    const rawFile = await write("raw.pcap", pcapBytes(101, records(packets)));
    assert.equal((await assertMatchesTcpdump(rawFile)).events.length, 10);
  },
});

Deno.test("file: pcapng with several interfaces, link types and timestamp resolutions; simple packet blocks", async () => {
  const q = (id: number) => dnsMessage({ id, qname: `host${id}.example`, qtype: 1 });
  const pkt = (id: number) => udpIp(C, 40000 + id, 53, q(id));
  const ifaces = [{ linkType: 1 }, { linkType: 276, tsresol: 9 }, {
    linkType: 101,
    tsresol: 0x80 | 20,
  }];
  const recs: Record[] = [
    { iface: 0, ts: T0 + 0.25, data: ethernet(MAC_C, MAC_S, pkt(1)) },
    { iface: 1, ts: T0 + 1.000007, data: sll2(MAC_S, pkt(2)) },
    { iface: 2, ts: T0 + 2.5, data: pkt(3) },
    { iface: 0, ts: T0 + 3, data: ethernet(MAC_C, MAC_S, pkt(4)) },
  ];
  const { events, counters } = await readAll(
    await write("multi.pcapng", pcapngBytes(ifaces, recs)),
  );
  assert.equal(counters.packets, 4);
  assert.deepEqual(events.map((e) => (e as { dns: DnsFields }).dns.query), [
    "host1.example",
    "host2.example",
    "host3.example",
    "host4.example",
  ]);
  assert.deepEqual(events.map((e) => e.meta.srcMac), [MAC_C, MAC_S, "", MAC_C]);
  const ts = events.map((e) => e.meta.ts - T0);
  assert.ok(Math.abs(ts[0] - 0.25) < 1e-3);
  assert.ok(Math.abs(ts[1] - 1.000007) < 1e-3);
  assert.ok(Math.abs(ts[2] - 2.5) < 1e-3); // 2^-20 s units
  assert.ok(Math.abs(ts[3] - 3) < 1e-3);

  const spb = await readAll(
    await write(
      "spb.pcapng",
      pcapngBytes([{ linkType: 1 }], records(scenario()), { simple: true }),
    ),
  );
  assert.equal(spb.events.length, 10);
  assert.ok(spb.events.every((e) => e.meta.ts === 0), "simple packet blocks carry no time");
});

Deno.test("file: many chunks and batches keep every event in order", async () => {
  // ~56k frames (~7 MB): more than one 4 MiB read, many batches.
  const n = 56_000;
  const template = ethernet(
    MAC_C,
    MAC_S,
    udpIp(
      C,
      1024,
      53,
      concat(dnsMessage({ id: 0, qname: "n00000.bulk.example", qtype: 1 }), new Uint8Array(60)),
    ),
  );
  const digits = 14 + 20 + 8 + 12 + 2; // first digit of the name
  const recs: Record[] = [];
  for (let i = 0; i < n; i++) {
    const data = template.slice();
    const text = String(i).padStart(5, "0");
    for (let k = 0; k < 5; k++) data[digits + k] = text.charCodeAt(k);
    recs.push({ ts: T0 + i, data });
  }
  const bytes = pcapBytes(1, recs);
  assert.ok(bytes.length > 4 * 1024 * 1024 + 100);
  const path = await write("bulk.pcap", bytes);
  const sizes: number[] = [];
  let next = 0;
  let ordered = true;
  const counters = await readCaptureFile(path, {
    batchSize: 1000,
    async onBatch(batch) {
      sizes.push(batch.length);
      for (const e of batch) {
        if (
          (e as { dns: DnsFields }).dns.query !== `n${String(next++).padStart(5, "0")}.bulk.example`
        ) {
          ordered = false;
        }
      }
      await Promise.resolve();
    },
  });
  assert.equal(counters.dns, n);
  assert.equal(next, n);
  assert.ok(ordered);
  assert.equal(sizes.length, 56);
  assert.ok(sizes.every((s) => s === 1000));
});

Deno.test("file: cut and corrupt files keep what came before; non-captures throw CaptureError", async () => {
  const good = pcapBytes(1, records(scenario()));
  const cut = await readAll(await write("cut.pcap", good.subarray(0, good.length - 7)));
  assert.equal(cut.events.length, 9);
  assert.deepEqual(cut.counters.malformed, { "file-truncated": 1 });

  const bad = good.slice();
  new DataView(bad.buffer).setUint32(24 + 8, 0x7fffffff, true); // absurd caplen in record 1
  const corrupt = await readAll(await write("corrupt.pcap", bad));
  assert.equal(corrupt.events.length, 0);
  assert.deepEqual(corrupt.counters.malformed, { "file-bad-record": 1 });

  const ng = pcapngBytes([{ linkType: 1 }], records(scenario()));
  const ngCut = await readAll(await write("cut.pcapng", ng.subarray(0, ng.length - 30)));
  assert.equal(ngCut.events.length, 9);
  assert.deepEqual(ngCut.counters.malformed, { "file-truncated": 1 });

  await assert.rejects(
    readAll(await write("text.pcap", ascii("hello, not a capture"))),
    CaptureError,
  );
  await assert.rejects(
    readAll(`${dir}/missing.pcap`),
    (e: Error) => e instanceof CaptureError && e.message.includes("missing.pcap"),
  );
  const empty = await readAll(await write("empty.pcap", good.subarray(0, 24)));
  assert.equal(empty.counters.packets, 0);
});

Deno.test("file: snap-length cut records are decoded as far as captured", async () => {
  const msg = dnsMessage({
    id: 5,
    response: true,
    qname: "cut.example",
    qtype: 1,
    answers: [{ type: 1, data: ip("10.0.0.1") }, { type: 1, data: ip("10.0.0.2") }],
  });
  const frame = ethernet(MAC_S, MAC_C, udpIp(S, 53, 5000, msg));
  const path = await write(
    "snap.pcap",
    pcapBytes(1, [{ ts: T0, data: frame.subarray(0, frame.length - 4), wirelen: frame.length }], {
      snaplen: frame.length - 4,
    }),
  );
  const { events, counters } = await readAll(path);
  assert.deepEqual((events[0] as { dns: DnsFields }).dns.answers.map((a) => a.data), ["10.0.0.1"]);
  assert.equal(counters.truncated, 1);
  assert.deepEqual(counters.malformed, {});
});
