/**
 * decodeFrame on frames built here: every link type, VLAN/QinQ, IPv4
 * options and fragments, IPv6 extension headers, DNS record types and
 * EDNS, DHCPv4/BOOTP options, DHCPv6 with relays, DNS over TCP reassembly
 * with its bounds, and malformed input of every kind.
 */

import assert from "node:assert/strict";
import {
  type CaptureCounters,
  decodeFrame,
  type DecodeFrameOptions,
  type DhcpFields,
  type DnsFields,
  newCounters,
  packetsAccounted,
  type SniffedEvent,
  TcpReassembler,
} from "../../lib/capture/mod.ts";
import {
  ACK,
  ascii,
  concat,
  dhcp4,
  dhcp6,
  dhcp6Option,
  dhcp6Relay,
  dnsMessage,
  dnsName,
  ethernet,
  FIN,
  ip,
  ipv4,
  ipv6,
  mac,
  nullLoop,
  optRr,
  PSH,
  sll,
  sll2,
  SYN,
  tcpIp,
  u16,
  u32,
  udp,
  udpIp,
} from "./_frames.ts";

const CLIENT = { src: "192.0.2.10", dst: "198.51.100.53" };
const SERVER = { src: "198.51.100.53", dst: "192.0.2.10" };
const MAC_C = "02:00:00:00:00:0a";
const MAC_S = "00:1b:21:3a:4b:5c";
const T0 = 1_700_000_000_123.456;

function decode(
  linkType: number,
  frame: Uint8Array,
  options?: DecodeFrameOptions,
  counters: CaptureCounters = newCounters(),
): { events: SniffedEvent[]; counters: CaptureCounters } {
  const events: SniffedEvent[] = [];
  decodeFrame(linkType, frame, T0, events, counters, options);
  assert.equal(packetsAccounted(counters), counters.packets, JSON.stringify(counters));
  return { events, counters };
}

function onlyDns(events: SniffedEvent[]): DnsFields {
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.kind, "dns");
  return (e as { dns: DnsFields }).dns;
}

function onlyDhcp(events: SniffedEvent[]): DhcpFields {
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.kind, "dhcp");
  return (e as { dhcp: DhcpFields }).dhcp;
}

function malformedOnly(r: { events: SniffedEvent[]; counters: CaptureCounters }, reason: string) {
  assert.equal(r.events.length, 0, "no event for a malformed frame");
  assert.deepEqual(r.counters.malformed, { [reason]: 1 });
}

const query = dnsMessage({ id: 0x1234, qname: "www.example.org", qtype: 1 });

Deno.test("decode: Ethernet DNS query, every PacketMeta field", () => {
  const frame = ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 53, query));
  const { events, counters } = decode(1, frame);
  assert.deepEqual(events[0].meta, {
    ts: T0,
    srcMac: MAC_C,
    dstMac: MAC_S,
    vlan: 0,
    ipVersion: 4,
    srcIp: "192.0.2.10",
    dstIp: "198.51.100.53",
    proto: "udp",
    srcPort: 40000,
    dstPort: 53,
    payloadLength: query.length,
  });
  assert.deepEqual(onlyDns(events), {
    trans_id: 0x1234,
    qr: false,
    opcode: 0,
    rcode: 0,
    rcode_name: "NOERROR",
    AA: false,
    TC: false,
    RD: true,
    RA: false,
    query: "www.example.org",
    qtype: 1,
    qtype_name: "A",
    qclass: 1,
    answers: [],
  });
  assert.equal(counters.packets, 1);
  assert.equal(counters.dns, 1);
});

Deno.test("decode: 802.1Q and QinQ report the outer VLAN id", () => {
  const one = decode(1, ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 53, query), [42]));
  assert.equal(one.events[0].meta.vlan, 42);
  const two = decode(1, ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 53, query), [100, 200]));
  assert.equal(two.events[0].meta.vlan, 100);
  assert.equal(onlyDns(two.events).query, "www.example.org");
});

Deno.test("decode: DNS answers of every decoded type, compression, EDNS extended rcode", () => {
  const ptr = (off: number) => new Uint8Array([0xc0 | (off >> 8), off & 0xff]);
  // Offset 12 holds the question name "www.example.org"; 16 is "example.org".
  const msg = dnsMessage({
    id: 7,
    response: true,
    aa: true,
    ra: true,
    qname: "www.example.org",
    qtype: 255,
    answers: [
      { type: 1, ttl: 60, data: ip("192.0.2.1") },
      { type: 28, ttl: 61, data: ip("2001:db8::1") },
      { type: 5, data: concat(new Uint8Array([5]), ascii("alias"), ptr(16)) },
      { name: "example.org", type: 2, data: concat(new Uint8Array([3]), ascii("ns1"), ptr(16)) },
      { name: "1.2.0.192.in-addr.arpa", type: 12, data: ptr(12) },
      { type: 15, data: concat(u16(10), new Uint8Array([4]), ascii("mail"), ptr(16)) },
      {
        type: 16,
        data: concat(new Uint8Array([5]), ascii('a "b\\'), new Uint8Array([2, 0x41, 0x07])),
      },
      {
        name: "example.org",
        type: 6,
        data: concat(
          dnsName("ns1.example.org"),
          dnsName("host.example.org"),
          u32(2024010101),
          u32(7200),
          u32(3600),
          u32(1209600),
          u32(300),
        ),
      },
      { name: "_sip._tcp.example.org", type: 33, data: concat(u16(1), u16(2), u16(5060), ptr(12)) },
      { type: 65280, ttl: 5, data: new Uint8Array([0xde, 0xad]) },
      { type: 39, data: dnsName(".") },
    ],
    additional: [optRr(1)], // extended rcode 1<<4 | 0 = 16 BADVERS
  });
  const dns = onlyDns(decode(1, ethernet(MAC_S, MAC_C, udpIp(SERVER, 53, 40000, msg))).events);
  assert.equal(dns.qr, true);
  assert.equal(dns.AA, true);
  assert.equal(dns.RA, true);
  assert.equal(dns.qtype_name, "ANY");
  assert.equal(dns.rcode, 16);
  assert.equal(dns.rcode_name, "BADVERS");
  assert.deepEqual(dns.answers, [
    { name: "www.example.org", type: "A", ttl: 60, data: "192.0.2.1" },
    { name: "www.example.org", type: "AAAA", ttl: 61, data: "2001:db8::1" },
    { name: "www.example.org", type: "CNAME", ttl: 300, data: "alias.example.org" },
    { name: "example.org", type: "NS", ttl: 300, data: "ns1.example.org" },
    { name: "1.2.0.192.in-addr.arpa", type: "PTR", ttl: 300, data: "www.example.org" },
    { name: "www.example.org", type: "MX", ttl: 300, data: "10 mail.example.org" },
    { name: "www.example.org", type: "TXT", ttl: 300, data: '"a \\"b\\\\" "A\\007"' },
    {
      name: "example.org",
      type: "SOA",
      ttl: 300,
      data: "ns1.example.org host.example.org 2024010101 7200 3600 1209600 300",
    },
    { name: "_sip._tcp.example.org", type: "SRV", ttl: 300, data: "1 2 5060 www.example.org" },
    { name: "www.example.org", type: "TYPE65280", ttl: 5, data: "\\# 2 dead" },
    { name: "www.example.org", type: "DNAME", ttl: 300, data: "." },
  ]);
});

Deno.test("decode: names with dots, spaces and control bytes are escaped; the root is '.'", () => {
  const wire = concat(new Uint8Array([3]), ascii("a.b"), new Uint8Array([3, 0x20, 0x5c, 0x01, 0]));
  const msg = concat(u16(1), u16(0x0100), u16(1), u16(0), u16(0), u16(0), wire, u16(1), u16(1));
  const dns = onlyDns(decode(1, ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 53, msg))).events);
  assert.equal(dns.query, "a\\.b.\\032\\\\\\001");
  const root = dnsMessage({ id: 2, qname: ".", qtype: 2 });
  assert.equal(
    onlyDns(decode(1, ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 53, root))).events).query,
    ".",
  );
  const none = concat(u16(3), u16(0x0100), u16(0), u16(0), u16(0), u16(0));
  const d = onlyDns(decode(1, ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 53, none))).events);
  assert.equal(d.query, "");
  assert.equal(d.qtype_name, "");
});

Deno.test("decode: IPv4 options, fragments and IPv6 extension headers", () => {
  const seg = udp(CLIENT, 40000, 53, query);
  const withOptions = ipv4(CLIENT, 17, seg, { options: new Uint8Array([1, 1, 1, 0]) });
  assert.equal(onlyDns(decode(101, withOptions).events).query, "www.example.org");

  const later = decode(101, ipv4(CLIENT, 17, seg, { fragOffset: 185 }));
  assert.equal(later.events.length, 0);
  assert.equal(later.counters.fragments, 1);
  assert.deepEqual(later.counters.ignoredBy, { "fragment-not-reassembled": 1 });

  // A first fragment: the UDP length promises more than the packet holds.
  const big = dnsMessage({
    id: 9,
    response: true,
    qname: "big.example.org",
    qtype: 1,
    answers: Array.from({ length: 20 }, (_, i) => ({ type: 1, data: ip(`192.0.2.${i}`) })),
  });
  const whole = udp(SERVER, 53, 40000, big);
  const first = decode(101, ipv4(SERVER, 17, whole.subarray(0, 8 + 33 + 16 * 5), { mf: true }));
  const dns = onlyDns(first.events);
  assert.equal(dns.answers.length, 5);
  assert.equal(first.counters.truncated, 1);
  assert.equal(first.events[0].meta.payloadLength, big.length);

  const v6 = { src: "2001:db8::10", dst: "2001:db8::53" };
  const ext = ipv6(v6, 17, udp(v6, 40000, 53, query), [
    [0, new Uint8Array(6)], // hop-by-hop, 8 bytes
    [60, new Uint8Array(14)], // destination options, 16 bytes
  ]);
  const r6 = decode(1, ethernet(MAC_C, MAC_S, ext));
  assert.equal(onlyDns(r6.events).query, "www.example.org");
  assert.equal(r6.events[0].meta.ipVersion, 6);
  assert.equal(r6.events[0].meta.srcIp, "2001:db8::10");

  const frag6 = ipv6(v6, 17, udp(v6, 40000, 53, query), [[
    44,
    new Uint8Array([0, 0x08, 0, 0, 0, 1]),
  ]]);
  const f6 = decode(101, frag6);
  assert.equal(f6.events.length, 0);
  assert.equal(f6.counters.fragments, 1);
});

Deno.test("decode: every link type", () => {
  const pkt = udpIp(CLIENT, 40000, 53, query);
  const pkt6 = udpIp({ src: "::1", dst: "::1" }, 40000, 53, query);
  const cases: [number, Uint8Array, string, number][] = [
    [0, nullLoop(pkt), "", 4],
    [0, nullLoop(pkt6), "", 6],
    [108, concat(u32(2), pkt), "", 4],
    [12, pkt, "", 4],
    [14, pkt6, "", 6],
    [101, pkt, "", 4],
    [228, pkt, "", 4],
    [229, pkt6, "", 6],
    [113, sll(MAC_C, pkt), MAC_C, 4],
    [276, sll2(MAC_C, pkt6), MAC_C, 6],
  ];
  for (const [linkType, frame, srcMac, ipv] of cases) {
    const { events, counters } = decode(linkType, frame);
    assert.equal(events.length, 1, `link type ${linkType}`);
    assert.equal(events[0].meta.srcMac, srcMac, `link type ${linkType}`);
    assert.equal(events[0].meta.dstMac, "");
    assert.equal(events[0].meta.ipVersion, ipv);
    assert.equal(counters.dns, 1);
  }
  const unknown = decode(147, pkt);
  assert.equal(unknown.events.length, 0);
  assert.deepEqual(unknown.counters.ignoredBy, { "unsupported-link-type": 1 });
});

Deno.test("decode: DHCPv4 DISCOVER/OFFER with options, plain BOOTP, overload", () => {
  const discover = dhcp4({
    op: 1,
    xid: 0xdeadbeef,
    chaddr: MAC_C,
    options: [
      [53, new Uint8Array([1])],
      [50, ip("192.168.1.77")],
      [12, ascii("laptop\u0000")],
      [60, ascii("MSFT 5.0")],
      [61, concat(new Uint8Array([1]), mac(MAC_C))],
      [55, new Uint8Array([1, 3, 6, 15])],
      [82, concat(new Uint8Array([1, 3]), ascii("eth"), new Uint8Array([2, 2, 0xab, 0xcd]))],
    ],
  });
  const frame = ethernet(
    MAC_C,
    "ff:ff:ff:ff:ff:ff",
    udpIp({ src: "0.0.0.0", dst: "255.255.255.255" }, 68, 67, discover),
  );
  assert.deepEqual(onlyDhcp(decode(1, frame).events), {
    version: 4,
    msg_type: "DISCOVER",
    trans_id: 0xdeadbeef,
    mac: MAC_C,
    client_addr: "0.0.0.0",
    assigned_addr: "0.0.0.0",
    next_server: "0.0.0.0",
    relay_addr: "0.0.0.0",
    requested_addr: "192.168.1.77",
    host_name: "laptop",
    vendor_class: "MSFT 5.0",
    client_id: "01" + MAC_C.replaceAll(":", ""),
    param_list: [1, 3, 6, 15],
    circuit_id: "657468",
    remote_id: "abcd",
  });
  const offer = dhcp4({
    op: 2,
    xid: 0xdeadbeef,
    chaddr: MAC_C,
    yiaddr: "192.168.1.77",
    siaddr: "192.168.1.1",
    giaddr: "192.168.1.254",
    options: [[53, new Uint8Array([2])], [54, ip("192.168.1.1")], [51, u32(86400)]],
  });
  const o = onlyDhcp(
    decode(
      1,
      ethernet(MAC_S, MAC_C, udpIp({ src: "192.168.1.1", dst: "192.168.1.77" }, 67, 68, offer)),
    ).events,
  );
  assert.equal(o.msg_type, "OFFER");
  assert.equal(o.assigned_addr, "192.168.1.77");
  assert.equal(o.next_server, "192.168.1.1");
  assert.equal(o.relay_addr, "192.168.1.254");
  assert.equal(o.server_id, "192.168.1.1");
  assert.equal(o.lease_time, 86400);

  const bootp = dhcp4({ op: 2, xid: 1, chaddr: MAC_C });
  const b = onlyDhcp(decode(1, ethernet(MAC_S, MAC_C, udpIp(SERVER, 67, 68, bootp))).events);
  assert.equal(b.msg_type, "BOOTREPLY");

  // Option 52 = 1: more options (here the message type) in the `file` field.
  const overloaded = dhcp4({ op: 1, xid: 2, chaddr: MAC_C, options: [[52, new Uint8Array([1])]] });
  overloaded.set([53, 1, 3, 255], 108);
  const ov = onlyDhcp(decode(1, ethernet(MAC_C, MAC_S, udpIp(CLIENT, 68, 67, overloaded))).events);
  assert.equal(ov.msg_type, "REQUEST");
});

Deno.test("decode: DHCPv6 SOLICIT with DUID-LLT, DUID-LL, relay-forw unwrapping", () => {
  const v6 = { src: "fe80::1", dst: "ff02::1:2" };
  const llt = concat(u16(1), u16(1), u32(12345), mac(MAC_C));
  const solicit = dhcp6(1, 0xabcdef, [
    dhcp6Option(1, llt),
    dhcp6Option(39, concat(new Uint8Array([0]), dnsName("host.example.org"))),
  ]);
  const s = onlyDhcp(
    decode(1, ethernet(MAC_C, "33:33:00:01:00:02", udpIp(v6, 546, 547, solicit))).events,
  );
  assert.equal(s.version, 6);
  assert.equal(s.msg_type, "SOLICIT");
  assert.equal(s.trans_id, 0xabcdef);
  assert.equal(s.mac, MAC_C);
  assert.equal(s.duid, "0001000100003039" + MAC_C.replaceAll(":", ""));
  assert.equal(s.host_name, "host.example.org");

  const ll = dhcp6(11, 5, [dhcp6Option(1, concat(u16(3), u16(1), mac(MAC_S)))]);
  const relay = dhcp6Relay(
    12,
    "2001:db8:1::1",
    "fe80::2",
    dhcp6Relay(12, "2001:db8:2::1", "fe80::3", ll),
  );
  const r = onlyDhcp(
    decode(
      1,
      ethernet(MAC_S, MAC_C, udpIp({ src: "2001:db8::2", dst: "2001:db8::1" }, 547, 547, relay)),
    ).events,
  );
  assert.equal(r.msg_type, "INFORMATION-REQUEST");
  assert.equal(r.trans_id, 5);
  assert.equal(r.mac, MAC_S);
  assert.equal(r.relay_addr, "2001:db8:1::1");
});

Deno.test("decode: dnsPorts makes other ports DNS", () => {
  const frame = ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 5353, query));
  assert.equal(decode(1, frame).events.length, 0);
  assert.equal(onlyDns(decode(1, frame, { dnsPorts: [53, 5353] }).events).query, "www.example.org");
});

Deno.test("decode: snap-length cut response keeps the whole records", () => {
  const msg = dnsMessage({
    id: 4,
    response: true,
    qname: "www.example.org",
    qtype: 1,
    answers: [{ type: 1, data: ip("192.0.2.1") }, { type: 1, data: ip("192.0.2.2") }],
  });
  const frame = ethernet(MAC_S, MAC_C, udpIp(SERVER, 53, 40000, msg));
  const cut = frame.subarray(0, frame.length - 6);
  const r = decode(1, cut, { wireLength: frame.length });
  assert.deepEqual(onlyDns(r.events).answers.map((a) => a.data), ["192.0.2.1"]);
  assert.equal(r.counters.truncated, 1);
  // The same bytes without the snap-length excuse are malformed.
  malformedOnly(decode(1, cut), "ip-length-overrun");
});

Deno.test("decode: malformed frames are counted per reason, never thrown", () => {
  const eth = (payload: Uint8Array) => ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 53, payload));
  const hdr = (qd: number, an = 0) => concat(u16(1), u16(0x0100), u16(qd), u16(an), u16(0), u16(0));
  // Pointer to itself at offset 12 (dns-zlip-1's attack) and two pointers at each other.
  malformedOnly(
    decode(1, eth(concat(hdr(1), new Uint8Array([0xc0, 12, 0, 1, 0, 1])))),
    "dns-label-loop",
  );
  malformedOnly(
    decode(
      1,
      eth(concat(hdr(1), new Uint8Array([1, 0x61, 0xc0, 16, 1, 0x62, 0xc0, 12, 0, 1, 0, 1]))),
    ),
    "dns-label-loop",
  );
  malformedOnly(
    decode(1, eth(concat(hdr(1), new Uint8Array([9, 0x61, 0x62])))),
    "dns-name-overrun",
  );
  malformedOnly(
    decode(1, eth(concat(hdr(1), new Uint8Array([0x41, 0, 0, 1, 0, 1])))),
    "dns-bad-label",
  );
  const longName = concat(
    ...Array.from({ length: 5 }, () => concat(new Uint8Array([60]), new Uint8Array(60).fill(0x61))),
    new Uint8Array([0, 0, 1, 0, 1]),
  );
  malformedOnly(decode(1, eth(concat(hdr(1), longName))), "dns-name-too-long");
  malformedOnly(decode(1, eth(new Uint8Array(11))), "dns-short-header");
  malformedOnly(decode(1, eth(concat(hdr(1), dnsName("a"), u16(1)))), "dns-question-overrun");
  malformedOnly(
    decode(
      1,
      eth(
        concat(
          hdr(1, 1),
          dnsName("a"),
          u16(1),
          u16(1),
          new Uint8Array([0xc0, 12]),
          u16(1),
          u16(1),
          u32(1),
          u16(4),
          new Uint8Array(2),
        ),
      ),
    ),
    "dns-rr-overrun",
  );
  malformedOnly(
    decode(
      1,
      eth(
        concat(
          hdr(1, 1),
          dnsName("a"),
          u16(1),
          u16(1),
          new Uint8Array([0xc0, 12]),
          u16(1),
          u16(1),
          u32(1),
          u16(3),
          new Uint8Array(3),
        ),
      ),
    ),
    "dns-bad-rdata",
  );
  malformedOnly(decode(1, new Uint8Array(13)), "short-link");
  malformedOnly(decode(1, ethernet(MAC_C, MAC_S, new Uint8Array([0x45, 0, 0]))), "short-ip");
  malformedOnly(decode(101, new Uint8Array([0x50, 0, 0, 0])), "bad-ip-version");
  const badUdp = udpIp(CLIENT, 40000, 53, query);
  badUdp.set(u16(600), 24); // UDP length beyond the packet
  malformedOnly(decode(101, ipv4(CLIENT, 17, badUdp.subarray(20))), "udp-length-overrun");
  const shortUdpLen = udp(CLIENT, 40000, 53, query);
  shortUdpLen.set(u16(4), 4);
  malformedOnly(decode(101, ipv4(CLIENT, 17, shortUdpLen)), "bad-udp-length");

  const dhcpFrame = (payload: Uint8Array) => ethernet(MAC_C, MAC_S, udpIp(CLIENT, 68, 67, payload));
  malformedOnly(decode(1, dhcpFrame(new Uint8Array(100))), "dhcp-short");
  const badOp = dhcp4({ op: 1, xid: 1, chaddr: MAC_C, options: [] });
  badOp[0] = 0;
  malformedOnly(decode(1, dhcpFrame(badOp)), "dhcp-bad-op");
  const overrun = dhcp4({ op: 1, xid: 1, chaddr: MAC_C, options: [] });
  malformedOnly(
    decode(1, dhcpFrame(concat(overrun.subarray(0, 240), new Uint8Array([12, 50, 0x61])))),
    "dhcp-option-overrun",
  );
  const v6 = { src: "fe80::1", dst: "ff02::1:2" };
  malformedOnly(
    decode(
      1,
      ethernet(
        MAC_C,
        MAC_S,
        udpIp(v6, 546, 547, concat(dhcp6(1, 1, []), u16(1), u16(40), new Uint8Array(4))),
      ),
    ),
    "dhcpv6-option-overrun",
  );
  let deep = dhcp6(1, 1, []);
  for (let i = 0; i < 9; i++) deep = dhcp6Relay(12, "::1", "::2", deep);
  malformedOnly(decode(1, ethernet(MAC_C, MAC_S, udpIp(v6, 547, 547, deep))), "dhcpv6-relay-depth");
});

Deno.test("decode: random bytes and cut frames never throw nor hit a decoder bug", () => {
  // A deterministic generator keeps failures reproducible.
  let seed = 0x9e3779b9;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const valid = [
    ethernet(MAC_C, MAC_S, udpIp(CLIENT, 40000, 53, query)),
    ethernet(
      MAC_S,
      MAC_C,
      udpIp(
        SERVER,
        53,
        40000,
        dnsMessage({
          id: 1,
          response: true,
          qname: "a.b",
          qtype: 1,
          answers: [{ type: 1, data: ip("192.0.2.1") }, {
            type: 16,
            data: new Uint8Array([3, 0x61, 0x62, 0x63]),
          }],
        }),
      ),
    ),
    ethernet(
      MAC_C,
      MAC_S,
      udpIp(
        CLIENT,
        68,
        67,
        dhcp4({
          op: 1,
          xid: 1,
          chaddr: MAC_C,
          options: [[53, new Uint8Array([1])], [82, new Uint8Array([1, 2, 3, 4])]],
        }),
      ),
    ),
    ethernet(
      MAC_C,
      MAC_S,
      udpIp(
        { src: "fe80::1", dst: "ff02::1:2" },
        546,
        547,
        dhcp6Relay(
          12,
          "::1",
          "::2",
          dhcp6(1, 1, [dhcp6Option(1, concat(u16(3), u16(1), mac(MAC_C)))]),
        ),
      ),
    ),
    ethernet(
      MAC_C,
      MAC_S,
      tcpIp(CLIENT, 40000, 53, 1, PSH | ACK, concat(u16(query.length), query)),
    ),
  ];
  const counters = newCounters();
  const events: SniffedEvent[] = [];
  const tcp = new TcpReassembler({ maxFlows: 8 });
  for (let i = 0; i < 20000; i++) {
    const base = valid[i % valid.length];
    const f = base.slice(0, Math.max(1, Math.floor(rand() * (base.length + 1))));
    const flips = Math.floor(rand() * 4);
    for (let k = 0; k < flips; k++) {
      f[14 + Math.floor(rand() * Math.max(1, f.length - 14))] = Math.floor(rand() * 256);
    }
    decodeFrame(
      i % 7 === 0 ? 101 : 1,
      i % 7 === 0 ? f.subarray(Math.min(14, f.length - 1)) : f,
      T0,
      events,
      counters,
      { tcp },
    );
    events.length = 0;
  }
  for (let i = 0; i < 2000; i++) {
    const f = new Uint8Array(Math.floor(rand() * 600));
    for (let k = 0; k < f.length; k++) f[k] = Math.floor(rand() * 256);
    decodeFrame([0, 1, 101, 113, 276][i % 5], f, T0, events, counters, { tcp });
    events.length = 0;
  }
  assert.equal(counters.packets, 22000);
  assert.equal(counters.malformed["decoder-error"], undefined, JSON.stringify(counters.malformed));
  assert.ok(Object.keys(counters.malformed).length > 5);
  assert.ok(tcp.flowCount <= 8);
});

Deno.test("decode: DNS over TCP reassembled across segments, per flow", () => {
  const tcp = new TcpReassembler();
  const counters = newCounters();
  const events: SniffedEvent[] = [];
  const seg = (
    a: typeof CLIENT,
    sp: number,
    dp: number,
    seq: number,
    flags: number,
    data: Uint8Array,
  ) =>
    decodeFrame(
      1,
      ethernet(MAC_C, MAC_S, tcpIp(a, sp, dp, seq, flags, data)),
      T0,
      events,
      counters,
      { tcp },
    );
  const m1 = dnsMessage({ id: 11, qname: "one.example", qtype: 1 });
  const m2 = dnsMessage({ id: 12, qname: "two.example", qtype: 28 });
  const m3 = dnsMessage({ id: 13, qname: "three.example", qtype: 15 });
  const stream = concat(u16(m1.length), m1, u16(m2.length), m2, u16(m3.length), m3);
  seg(CLIENT, 40001, 53, 1000, SYN, new Uint8Array(0));
  // 1: a lone length byte; 2: the rest of m1 and half of m2; 3: the rest of m2 and all of m3.
  const cut1 = 1;
  const cut2 = 2 + m1.length + 10;
  seg(CLIENT, 40001, 53, 1001, PSH | ACK, stream.subarray(0, cut1));
  assert.equal(events.length, 0);
  // A second flow interleaved, whole in one segment.
  seg(CLIENT, 40002, 53, 5000, PSH | ACK, concat(u16(m3.length), m3));
  assert.deepEqual(events.map((e) => (e as { dns: DnsFields }).dns.trans_id), [13]);
  seg(CLIENT, 40001, 53, 1001 + cut1, PSH | ACK, stream.subarray(cut1, cut2));
  // A retransmission of bytes already buffered changes nothing.
  seg(CLIENT, 40001, 53, 1001 + cut1, PSH | ACK, stream.subarray(cut1, cut2));
  seg(CLIENT, 40001, 53, 1001 + cut2, PSH | ACK | FIN, stream.subarray(cut2));
  const ids = events.map((e) => (e as { dns: DnsFields }).dns.trans_id);
  assert.deepEqual(ids, [13, 11, 12, 13]);
  assert.deepEqual(events.map((e) => e.meta.proto), ["tcp", "tcp", "tcp", "tcp"]);
  assert.equal(events[1].meta.srcPort, 40001);
  assert.equal(events[2].meta.payloadLength, m2.length);
  assert.equal(tcp.flowCount, 0, "FIN forgets the flow");
  assert.equal(tcp.bufferedBytes, 0);
  assert.deepEqual(counters.malformed, {});

  // A gap (lost segment) drops the partial message and counts it.
  seg(CLIENT, 40003, 53, 1, PSH | ACK, stream.subarray(0, 10));
  seg(CLIENT, 40003, 53, 1 + 20, PSH | ACK, stream.subarray(20, 30));
  assert.equal(counters.malformed["dns-tcp-gap"], 1);
  assert.equal(packetsAccounted(counters), counters.packets);
  assert.equal(counters.pending, 1, "the segment after the gap waits for the rest");
});

Deno.test("decode: TCP reassembly memory is bounded (flows, bytes per flow, idle)", () => {
  const tcp = new TcpReassembler({
    maxFlows: 2,
    maxBytesPerFlow: 100,
    maxTotalBytes: 150,
    idleMs: 1000,
  });
  const counters = newCounters();
  const events: SniffedEvent[] = [];
  const partial = concat(u16(400), new Uint8Array(40));
  for (let port = 41000; port < 41005; port++) {
    decodeFrame(
      1,
      ethernet(MAC_C, MAC_S, tcpIp(CLIENT, port, 53, 1, PSH | ACK, partial)),
      T0,
      events,
      counters,
      { tcp },
    );
  }
  assert.equal(tcp.flowCount, 2);
  assert.ok(tcp.bufferedBytes <= 150);
  assert.equal(counters.tcpFlowsEvicted, 3);
  assert.equal(counters.ignoredBy["tcp-flow-evicted"], 3);
  assert.equal(counters.pending, 2);
  // Growing one flow past its own bound drops it.
  decodeFrame(
    1,
    ethernet(MAC_C, MAC_S, tcpIp(CLIENT, 41004, 53, 43, PSH | ACK, new Uint8Array(80))),
    T0,
    events,
    counters,
    { tcp },
  );
  // The segment and the one its flow held are both counted.
  assert.equal(counters.malformed["dns-tcp-overflow"], 2);
  assert.equal(tcp.flowCount, 1);
  // A new flow much later evicts the idle ones.
  const later: SniffedEvent[] = [];
  decodeFrame(
    1,
    ethernet(MAC_C, MAC_S, tcpIp(CLIENT, 42000, 53, 1, PSH | ACK, partial)),
    T0 + 5000,
    later,
    counters,
    { tcp },
  );
  assert.equal(tcp.flowCount, 1);
  assert.equal(events.length + later.length, 0);
  assert.equal(packetsAccounted(counters), counters.packets);
});
