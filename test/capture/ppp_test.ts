/**
 * PPP link types (LINKTYPE_PPP 9, LINKTYPE_PPP_HDLC 50 with PPP and Cisco
 * HDLC framing, PPPoE on Ethernet and LINKTYPE_PPP_ETHER 51, PPP in
 * pcapng), unknown PPP protocols and unknown link types, each counted by
 * reason; files written here and checked against `tcpdump -nn -e -r`.
 */

import assert from "node:assert/strict";
import {
  decodeFrame,
  type DnsFields,
  newCounters,
  packetsAccounted,
  type SniffedEvent,
} from "../../lib/capture/mod.ts";
import { concat, dnsMessage, ip, mac, pcapBytes, pcapngBytes, u16, udpIp } from "./_frames.ts";
import { assertMatchesTcpdump, readAll } from "./_oracle.ts";
import { hasTcpdump } from "./_tcpdump.ts";

const CLIENT = { src: "10.64.0.2", dst: "10.64.0.1" };
const SERVER = { src: "10.64.0.1", dst: "10.64.0.2" };
const C6 = { src: "2001:db8:64::2", dst: "2001:db8:64::1" };
const T0 = 1_700_000_100_000;

const q = dnsMessage({ id: 0x0901, qname: "ppp.example.net", qtype: 1 });
const a = dnsMessage({
  id: 0x0901,
  response: true,
  ra: true,
  qname: "ppp.example.net",
  qtype: 1,
  answers: [{ type: 1, data: ip("192.0.2.99") }],
});
const q6 = dnsMessage({ id: 0x0906, qname: "six.example.net", qtype: 28 });
const lcpEcho = concat(u16(0xc021), new Uint8Array([9, 1, 0, 8, 0, 0, 0, 0]));

/** PPP in HDLC-like framing: address 0xff, control 0x03, protocol. */
const hdlc = (proto: number, packet: Uint8Array) =>
  concat(new Uint8Array([0xff, 0x03]), u16(proto), packet);

const dir = await Deno.makeTempDir({ prefix: "vigia-ppp-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

function decode(linkType: number, frames: Uint8Array[]) {
  const events: SniffedEvent[] = [];
  const counters = newCounters();
  for (const f of frames) decodeFrame(linkType, f, T0, events, counters);
  assert.equal(packetsAccounted(counters), counters.packets);
  return { events, counters };
}

const ids = (events: SniffedEvent[]) => events.map((e) => (e as { dns: DnsFields }).dns.trans_id);

Deno.test("ppp: LINKTYPE_PPP with and without address/control, compressed protocol field", () => {
  const frames = [
    hdlc(0x0021, udpIp(CLIENT, 40000, 53, q)),
    concat(u16(0x0021), udpIp(SERVER, 53, 40000, a)), // address and control omitted (RFC 1661 ACFC)
    concat(new Uint8Array([0x21]), udpIp(CLIENT, 40000, 53, q)), // protocol field compressed (PFC)
    hdlc(0x0057, udpIp(C6, 40000, 53, q6)),
    lcpEcho,
    hdlc(0x8021, new Uint8Array([1, 1, 0, 4])), // IPCP
    new Uint8Array(0), // an empty frame
  ];
  const { events, counters } = decode(9, frames);
  assert.deepEqual(ids(events), [0x0901, 0x0901, 0x0901, 0x0906]);
  assert.equal(events[0].meta.srcMac, "", "PPP has no MAC addresses");
  assert.equal(events[3].meta.ipVersion, 6);
  assert.deepEqual((events[1] as { dns: DnsFields }).dns.answers[0].data, "192.0.2.99");
  assert.deepEqual(counters.ignoredBy, { "unsupported-ppp-protocol": 2 });
  assert.deepEqual(counters.malformed, { "short-link": 1 });
});

Deno.test("ppp: LINKTYPE_PPP_HDLC (PPP and Cisco HDLC), PPPoE, PPP with direction", () => {
  const ppp = decode(50, [
    hdlc(0x0021, udpIp(CLIENT, 40000, 53, q)),
    concat(new Uint8Array([0x0f, 0x00]), u16(0x0800), udpIp(SERVER, 53, 40000, a)),
    concat(new Uint8Array([0x8f, 0x00]), u16(0x8035), new Uint8Array(28)), // Cisco HDLC RARP
    hdlc(0xc223, new Uint8Array(8)), // CHAP
  ]);
  assert.deepEqual(ids(ppp.events), [0x0901, 0x0901]);
  assert.deepEqual(ppp.counters.ignoredBy, { "unsupported-ppp-protocol": 1, "non-ip": 1 });

  const session = (proto: number, packet: Uint8Array) =>
    concat(new Uint8Array([0x11, 0x00]), u16(0x1234), u16(packet.length + 2), u16(proto), packet);
  const eth = (payload: Uint8Array) =>
    concat(mac("00:1b:21:3a:4b:5c"), mac("02:00:00:00:00:0a"), u16(0x8864), payload);
  const pppoe = decode(1, [
    eth(session(0x0021, udpIp(CLIENT, 40000, 53, q))),
    eth(session(0xc021, new Uint8Array(8))),
  ]);
  assert.deepEqual(ids(pppoe.events), [0x0901]);
  assert.equal(pppoe.events[0].meta.srcMac, "02:00:00:00:00:0a");
  assert.deepEqual(pppoe.counters.ignoredBy, { "unsupported-ppp-protocol": 1 });
  const bare = decode(51, [session(0x0057, udpIp(C6, 40000, 53, q6))]);
  assert.deepEqual(ids(bare.events), [0x0906]);
  const withDir = decode(204, [concat(new Uint8Array([1]), hdlc(0x0021, udpIp(CLIENT, 1, 53, q)))]);
  assert.deepEqual(ids(withDir.events), [0x0901]);
});

Deno.test("ppp: an unknown link type and non-IP frames are ignored by reason, not silently", async () => {
  const frame = concat(u16(0x0021), udpIp(CLIENT, 40000, 53, q));
  const path = `${dir}/unknown-link.pcap`;
  await Deno.writeFile(
    path,
    pcapBytes(147, [{ ts: T0, data: frame }, { ts: T0 + 1, data: frame }]),
  );
  const { events, counters } = await readAll(path);
  assert.equal(events.length, 0);
  assert.equal(counters.packets, 2);
  assert.deepEqual(counters.ignoredBy, { "unsupported-link-type": 2 });

  const arp = concat(
    mac("ff:ff:ff:ff:ff:ff"),
    mac("02:00:00:00:00:0a"),
    u16(0x0806),
    new Uint8Array(28),
  );
  const r = decode(1, [arp]);
  assert.deepEqual(r.counters.ignoredBy, { "non-ip": 1 });
});

const pppRecords = [
  hdlc(0x0021, udpIp(CLIENT, 40000, 53, q)),
  hdlc(0x0021, udpIp(SERVER, 53, 40000, a)),
  hdlc(0xc021, new Uint8Array([9, 1, 0, 8, 0, 0, 0, 0])), // LCP echo request
  hdlc(0x0057, udpIp(C6, 40000, 53, q6)),
].map((data, i) => ({ ts: T0 + i * 1.5, data }));

Deno.test("ppp: pcap (PPP, PPP_HDLC) and pcapng PPP files; tcpdump agrees", async (t) => {
  const files: [string, Uint8Array][] = [
    ["ppp.pcap", pcapBytes(9, pppRecords)],
    ["ppp-hdlc.pcap", pcapBytes(50, pppRecords)],
    ["ppp.pcapng", pcapngBytes([{ linkType: 9 }], pppRecords)],
  ];
  const tcpdumpThere = await hasTcpdump();
  for (const [name, bytes] of files) {
    const path = `${dir}/${name}`;
    await Deno.writeFile(path, bytes);
    const { events, counters } = await readAll(path);
    assert.deepEqual(ids(events), [0x0901, 0x0901, 0x0906], name);
    assert.deepEqual(counters.ignoredBy, { "unsupported-ppp-protocol": 1 }, name);
    if (!tcpdumpThere) {
      console.log(`skipped: tcpdump is not installed, ${name} not checked against it`);
      continue;
    }
    await t.step(`${name} agrees with tcpdump`, async () => {
      await assertMatchesTcpdump(path);
    });
  }
});
