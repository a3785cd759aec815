/**
 * IP fragment reassembly: DNS answers of 4000 bytes in three fragments over
 * IPv4 and IPv6, in order, out of order, overlapping (RFC 5722), with a
 * piece missing (timeout), within its bounds; through `decodeFrame` and
 * through capture files written here. Every packet is accounted for.
 */

import assert from "node:assert/strict";
import {
  type CaptureCounters,
  decodeFrame,
  type DnsFields,
  IpReassembler,
  newCounters,
  packetsAccounted,
  type SniffedEvent,
} from "../../lib/capture/mod.ts";
import {
  dhcp6,
  dhcp6Option,
  dnsMessage,
  ethernet,
  pcapBytes,
  pcapngBytes,
  udpIp,
} from "./_frames.ts";
import { bigAnswer, ipv4Fragments, ipv6Fragments } from "./_fragments.ts";
import { readAll } from "./_oracle.ts";

const V4 = { src: "198.51.100.53", dst: "192.0.2.10" };
const V6 = { src: "2001:db8::53", dst: "2001:db8::10" };
const MAC_C = "02:00:00:00:00:0a";
const MAC_S = "00:1b:21:3a:4b:5c";
const T0 = 1_700_000_000_000;

const answer = bigAnswer(0x5151, "big.example.org", 4000);
const RECORDS = (answer[6] << 8) | answer[7];
const CUTS = [1480, 2960]; // three fragments, as a 1500-byte MTU cuts them over IPv4

const dir = await Deno.makeTempDir({ prefix: "vigia-reassembly-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

interface Run {
  events: SniffedEvent[];
  counters: CaptureCounters;
  fragments: IpReassembler;
}

function run(frames: Uint8Array[], times?: number[], fragments = new IpReassembler()): Run {
  const events: SniffedEvent[] = [];
  const counters = newCounters();
  frames.forEach((f, i) => {
    decodeFrame(1, ethernet(MAC_S, MAC_C, f), times?.[i] ?? T0 + i, events, counters, {
      fragments,
    });
    assert.equal(packetsAccounted(counters), counters.packets, JSON.stringify(counters));
  });
  return { events, counters, fragments };
}

function assertWholeAnswer(r: Run, ipVersion: 4 | 6): void {
  assert.equal(r.events.length, 1, JSON.stringify(r.counters));
  const e = r.events[0];
  assert.equal(e.kind, "dns");
  const dns = (e as { dns: DnsFields }).dns;
  assert.equal(dns.trans_id, 0x5151);
  assert.equal(dns.query, "big.example.org");
  assert.equal(dns.answers.length, RECORDS, "every record of the 4000-byte answer");
  assert.equal(dns.answers[RECORDS - 1].data, `10.0.0.${RECORDS - 1}`);
  assert.equal(e.meta.ipVersion, ipVersion);
  assert.equal(e.meta.srcIp, ipVersion === 4 ? V4.src : V6.src);
  assert.equal(e.meta.srcMac, MAC_S);
  assert.equal(e.meta.srcPort, 53);
  assert.equal(e.meta.payloadLength, answer.length);
  assert.equal(r.counters.reassembled, 1);
  assert.equal(r.counters.decoded, 3, "each fragment counts as decoded");
  assert.equal(r.counters.pending, 0);
  assert.equal(r.counters.truncated, 0);
  assert.equal(r.fragments.datagramCount, 0);
  assert.equal(r.fragments.bufferedBytes, 0);
}

Deno.test("reassembly: a 4000-byte DNS answer in three IPv4 fragments, in order and out of order", () => {
  assert.ok(answer.length >= 4000 && answer.length < 4016, `answer is ${answer.length} bytes`);
  assert.ok(RECORDS > 240);
  const frags = ipv4Fragments(V4, 53, 40000, answer, CUTS);
  assert.equal(frags.length, 3);
  assertWholeAnswer(run(frags), 4);
  assertWholeAnswer(run([frags[2], frags[0], frags[1]]), 4);
  assertWholeAnswer(run([frags[1], frags[2], frags[0]]), 4);
  // Before the last piece arrives the others are pending, not lost.
  const partial = run(frags.slice(0, 2));
  assert.equal(partial.events.length, 0);
  assert.equal(partial.counters.pending, 2);
  assert.equal(partial.counters.fragments, 2);
});

Deno.test("reassembly: a 4000-byte DNS answer in three IPv6 fragments, in order and out of order", () => {
  const frags = ipv6Fragments(V6, 53, 40000, answer, [1448, 2896]);
  assertWholeAnswer(run(frags), 6);
  assertWholeAnswer(run([frags[2], frags[1], frags[0]]), 6);
  assertWholeAnswer(run([frags[0], frags[2], frags[1]]), 6);
});

Deno.test("reassembly: interleaved datagrams of different ids and a fragmented DHCPv6 reply", () => {
  const a = ipv4Fragments(V4, 53, 40000, answer, CUTS, 1);
  const other = bigAnswer(0x6262, "other.example.org", 3000);
  const b = ipv4Fragments(V4, 53, 40001, other, [1480], 2);
  const r = run([a[0], b[1], a[2], b[0], a[1]]);
  assert.deepEqual(r.events.map((e) => (e as { dns: DnsFields }).dns.trans_id), [0x6262, 0x5151]);
  assert.equal(r.counters.decoded, 5);

  const reply = dhcp6(7, 0xabcdef, [
    dhcp6Option(1, new Uint8Array([0, 3, 0, 1, 2, 0, 0, 0, 0, 0x0a])),
    dhcp6Option(16, new Uint8Array(1600)), // a long vendor class
  ]);
  const d = run(ipv6Fragments(V6, 547, 546, reply, [1232]));
  assert.equal(d.events.length, 1);
  assert.equal(d.events[0].kind, "dhcp");
  assert.equal(d.counters.dhcp, 1);
});

Deno.test("reassembly: overlapping fragments drop the whole datagram, later pieces too (RFC 5722)", () => {
  const frags = ipv4Fragments(V4, 53, 40000, answer, CUTS);
  // A forged second fragment starting 8 bytes early overlaps the first.
  const forged = ipv4Fragments(V4, 53, 40000, answer, [1472, 2960])[1];
  const r = run([frags[0], forged, frags[1], frags[2]]);
  assert.equal(r.events.length, 0);
  assert.deepEqual(r.counters.ignoredBy, { "fragment-overlap": 4 });
  assert.equal(r.counters.pending, 0);
  assert.equal(r.fragments.bufferedBytes, 0, "nothing of the dropped datagram is kept");

  const six = ipv6Fragments(V6, 53, 40000, answer, [1448, 2896]);
  const dup = run([six[1], six[0], six[0], six[2]]);
  assert.equal(dup.events.length, 0);
  assert.deepEqual(dup.counters.ignoredBy, { "fragment-overlap": 4 });
});

Deno.test("reassembly: a missing piece times out after 30 s of capture time, counted", () => {
  const frags = ipv4Fragments(V4, 53, 40000, answer, CUTS);
  const query = udpIp(
    { src: V4.dst, dst: V4.src },
    40002,
    53,
    dnsMessage({
      id: 7,
      qname: "later.example.org",
      qtype: 1,
    }),
  );
  const r = run([frags[0], frags[2], query, query], [T0, T0 + 1, T0 + 29_000, T0 + 31_000]);
  assert.equal(r.events.length, 2);
  assert.deepEqual(r.counters.ignoredBy, { "fragment-timeout": 2 });
  assert.equal(r.counters.pending, 0);
  assert.equal(r.counters.decoded, 2);
  // The last piece after the timeout starts a datagram of its own, which never completes.
  const late = run([frags[0], frags[2], frags[1]], [T0, T0 + 1, T0 + 40_000]);
  assert.equal(late.events.length, 0);
  assert.equal(late.counters.pending, 1);
  assert.equal(late.counters.ignoredBy["fragment-timeout"], 2);
  // The timeout is configurable.
  const short = run(
    [frags[0], query],
    [T0, T0 + 1500],
    new IpReassembler({ timeoutMs: 1000 }),
  );
  assert.deepEqual(short.counters.ignoredBy, { "fragment-timeout": 1 });
});

Deno.test("reassembly: bounded in datagrams and bytes; bad fragments are malformed", () => {
  const f = new IpReassembler({ maxDatagrams: 2, maxBytes: 2 * 65535 });
  const firsts = [1, 2, 3].map((id) => ipv4Fragments(V4, 53, 40000, answer, CUTS, id)[0]);
  const r = run(firsts, undefined, f);
  assert.equal(f.datagramCount, 2);
  assert.deepEqual(r.counters.ignoredBy, { "fragment-evicted": 1 });
  assert.equal(r.counters.pending, 2);

  // Bytes: 60 KB datagrams, at most ~128 KB held.
  const huge = bigAnswer(9, "huge.example.org", 60000);
  const bytes = new IpReassembler({ maxBytes: 2 * 65535 });
  const starts = [11, 12, 13].map((id) => ipv4Fragments(V4, 53, 40000, huge, [59992], id)[0] // one 59992-byte first piece each
  );
  const b = run(starts, undefined, bytes);
  assert.ok(bytes.bufferedBytes <= 2 * 65535, `${bytes.bufferedBytes} bytes held`);
  assert.equal(b.counters.ignoredBy["fragment-evicted"], 1);

  // A non-last fragment whose length is not a multiple of 8 (RFC 8200 §4.5).
  const odd = ipv4Fragments(V4, 53, 40000, answer, CUTS)[0].slice(0, 20 + 1001);
  odd[2] = (20 + 1001) >> 8;
  odd[3] = (20 + 1001) & 0xff;
  const m = run([odd]);
  assert.deepEqual(m.counters.malformed, { "fragment-bad-length": 1 });
  // A fragment reaching past 65535 bytes.
  const past = ipv4Fragments(V4, 53, 40000, answer, CUTS)[1];
  past[6] = 0x1f; // offset 8191 * 8
  past[7] = 0xff;
  const t = run([past]);
  assert.deepEqual(t.counters.malformed, { "fragment-too-big": 1 });
});

Deno.test("reassembly: without a reassembler, a first fragment is decoded as far as it goes", () => {
  const frags = ipv4Fragments(V4, 53, 40000, answer, CUTS);
  const events: SniffedEvent[] = [];
  const counters = newCounters();
  for (const f of frags) decodeFrame(101, f, T0, events, counters);
  assert.equal(events.length, 1);
  assert.equal(counters.truncated, 1);
  assert.deepEqual(counters.ignoredBy, { "fragment-not-reassembled": 2 });
  assert.equal(packetsAccounted(counters), counters.packets);
});

Deno.test("reassembly: capture files (pcap and pcapng) with fragmented answers, and a cut end", async () => {
  const v4 = ipv4Fragments(V4, 53, 40000, answer, CUTS);
  const v6 = ipv6Fragments(V6, 53, 40000, answer, [1448, 2896]);
  const frames = [v4[1], v6[2], v4[0], v6[0], v4[2], v6[1]].map((p) => ethernet(MAC_S, MAC_C, p));
  const records = frames.map((data, i) => ({ ts: T0 + i, data }));
  for (
    const [name, bytes] of [
      ["frag.pcap", pcapBytes(1, records)],
      ["frag.pcapng", pcapngBytes([{ linkType: 1 }], records)],
    ] as const
  ) {
    const path = `${dir}/${name}`;
    await Deno.writeFile(path, bytes);
    const { events, counters } = await readAll(path);
    assert.equal(events.length, 2, name);
    for (const e of events) assert.equal((e as { dns: DnsFields }).dns.answers.length, RECORDS);
    assert.deepEqual(events.map((e) => e.meta.ipVersion), [4, 6]);
    assert.equal(counters.decoded, 6);
  }
  // The capture ends before the last piece: counted as timed out, nothing left pending.
  const cut = `${dir}/frag-cut.pcap`;
  await Deno.writeFile(cut, pcapBytes(1, records.slice(0, 4)));
  const r = await readAll(cut);
  assert.equal(r.events.length, 0);
  assert.deepEqual(r.counters.ignoredBy, { "fragment-timeout": 4 });
  assert.equal(r.counters.pending, 0);
});

Deno.test("reassembly: snap-length cut fragments cannot be whole: first decoded as captured, rest ignored", async () => {
  const v4 = ipv4Fragments(V4, 53, 40000, answer, CUTS);
  const records = v4.map((p, i) => {
    const data = ethernet(MAC_S, MAC_C, p);
    return { ts: T0 + i, data: data.subarray(0, 400), wirelen: data.length };
  });
  const path = `${dir}/frag-snap.pcap`;
  await Deno.writeFile(path, pcapBytes(1, records, { snaplen: 400 }));
  const { events, counters } = await readAll(path);
  assert.equal(events.length, 1);
  assert.equal(counters.truncated, 1);
  assert.deepEqual(counters.ignoredBy, { "fragment-cut": 2 });
});
