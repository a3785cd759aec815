import assert from "node:assert/strict";
import { answerMessage } from "../../lib/dns/answer.ts";
import { COUNTER, Responder } from "../../lib/dns/engine.ts";
import { RateLimiter, RrlVerdict } from "../../lib/dns/rrl.ts";
import { MessageWriter } from "../../lib/dns/wire.ts";
import { buildZoneDb } from "../../lib/dns/zone_db.ts";
import { parseZoneText } from "../../lib/dns/zone_file.ts";
import { buildQuery, decode, EX_ZONE, OTHER_ZONE } from "./_packets.ts";

const records = [
  ...parseZoneText(EX_ZONE, { file: "ex.zone" }).records,
  ...parseZoneText(OTHER_ZONE, { file: "other.zone" }).records,
];
const { db } = buildZoneDb(records);
const LOCAL = new Uint8Array([127, 0, 0, 1]);

/** One UDP query from 127.0.0.1 at time `nowMs`. */
function udp(responder: Responder, buf: Uint8Array, length: number, nowMs: number): number {
  responder.tick(nowMs);
  responder.client(LOCAL, false);
  return responder.udp(buf, length);
}

function random(seed: number): () => number {
  return () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
}

Deno.test("pre-encoded answers are byte for byte the slow path's, whatever the case, ID and flags", () => {
  const responder = new Responder(db, { maxUdpPayload: 1232, cacheEntries: 10_000 });
  const writer = new MessageWriter(new Uint8Array(65535));
  const rnd = random(7);
  const names = [
    "ex.test",
    "www.ex.test",
    "x.wild.ex.test",
    "nothere.ex.test",
    "x.deleg.ex.test",
    "big.ex.test",
    "example.com",
  ];
  const types = ["A", "AAAA", "MX", "TXT", "ANY", "NS", "SOA"];
  const buf = new Uint8Array(1232);
  for (let i = 0; i < 3000; i++) {
    const name = [...names[Math.floor(rnd() * names.length)]].map((
      c,
    ) => (rnd() < 0.3 ? c.toUpperCase() : c)).join("");
    const type = types[Math.floor(rnd() * types.length)];
    const edns = rnd() < 0.5
      ? undefined
      : { payload: [512, 700, 1232, 4096][Math.floor(rnd() * 4)], do: rnd() < 0.5 };
    const q = buildQuery(name, type, { id: Math.floor(rnd() * 65536), rd: rnd() < 0.5, edns });
    const expected = answerMessage(db, q, { writer, tcp: false, maxUdpPayload: 1232 });
    buf.set(q);
    const n = udp(responder, buf, q.length, i);
    assert.equal(n, expected, `${name} ${type}`);
    assert.deepEqual(buf.subarray(0, n), writer.buf.subarray(0, n), `${name} ${type}`);
    const tcp = responder.tcp(q, q.length)!;
    const expectedTcp = answerMessage(db, q, { writer, tcp: true, maxUdpPayload: 1232 });
    assert.deepEqual(tcp, writer.buf.subarray(0, expectedTcp));
  }
  assert.ok(responder.counters[COUNTER.CACHE_HITS] > 5000, "most answers came from the cache");
  assert.equal(responder.counters[COUNTER.QUERIES_UDP], 3000);
  assert.equal(responder.counters[COUNTER.QUERIES_TCP], 3000);
});

Deno.test("the cache is bounded and emptied when the zone data changes", () => {
  const responder = new Responder(db, { maxUdpPayload: 1232, cacheEntries: 50 });
  const buf = new Uint8Array(1232);
  for (let i = 0; i < 500; i++) {
    const q = buildQuery(`n${i}.ex.test`, "A");
    buf.set(q);
    assert.ok(udp(responder, buf, q.length, 0) > 0);
    assert.ok(responder.cacheSize <= 50);
  }
  const q = buildQuery("new.ex.test", "A");
  buf.set(q);
  assert.equal(decode(buf.subarray(0, udp(responder, buf, q.length, 0))).rcode, 3);
  const more = parseZoneText("new.ex.test. 60 A 192.0.2.77", { file: "t" }).records;
  responder.setDb(buildZoneDb([...records, ...more]).db);
  assert.equal(responder.cacheSize, 0);
  buf.set(q);
  const r = decode(buf.subarray(0, udp(responder, buf, q.length, 0)));
  assert.deepEqual(r.answer, ["new.ex.test. 60 IN A 192.0.2.77"]);
});

Deno.test("counters: per rcode, per zone, malformed dropped", () => {
  const responder = new Responder(db, { maxUdpPayload: 1232, cacheEntries: 100 });
  const buf = new Uint8Array(1232);
  const send = (q: Uint8Array) => {
    buf.set(q);
    return udp(responder, buf, q.length, 0);
  };
  send(buildQuery("ex.test", "A"));
  send(buildQuery("nothere.ex.test", "A"));
  send(buildQuery("www.other.test", "A"));
  send(buildQuery("example.com", "A"));
  assert.equal(send(new Uint8Array(5)), 0);
  const c = responder.counters;
  assert.equal(c[COUNTER.RCODE + 0], 2);
  assert.equal(c[COUNTER.RCODE + 3], 1);
  assert.equal(c[COUNTER.RCODE + 5], 1);
  const slotOf = (name: string) => [...db.zones.values()].find((z) => z.name === name)!.slot;
  assert.equal(c[COUNTER.ZONE + slotOf("ex.test.")], 2);
  assert.equal(c[COUNTER.ZONE + slotOf("other.test.")], 1);
  assert.equal(c[COUNTER.DROPPED_MALFORMED], 1);
});

Deno.test("RRL: per network and answer class, with slip, refilled over time", () => {
  const rrl = new RateLimiter({ rate: 10, slip: 2, ipv4Prefix: 24, ipv6Prefix: 56, size: 1024 });
  const net = rrl.network(new Uint8Array([192, 0, 2, 1]), false);
  assert.equal(net, rrl.network(new Uint8Array([192, 0, 2, 200]), false), "same /24");
  assert.notEqual(net, rrl.network(new Uint8Array([192, 0, 3, 1]), false));
  rrl.tick(1000);
  const verdicts = Array.from({ length: 30 }, () => rrl.check(net, 1));
  assert.equal(verdicts.filter((v) => v === RrlVerdict.SEND).length, 10);
  assert.equal(verdicts.filter((v) => v === RrlVerdict.SLIP).length, 10);
  assert.equal(verdicts.filter((v) => v === RrlVerdict.DROP).length, 10);
  assert.equal(rrl.check(net, 2), RrlVerdict.SEND, "another answer class has its own bucket");
  rrl.tick(1500);
  assert.equal(rrl.check(net, 1), RrlVerdict.SEND, "half a second refills five tokens");
  const v6 = rrl.network(new Uint8Array(16).fill(0x20), true);
  const v6b = new Uint8Array(16).fill(0x20);
  v6b[15] = 1;
  assert.equal(v6, rrl.network(v6b, true), "same /56");
  v6b[6] = 0;
  assert.notEqual(v6, rrl.network(v6b, true), "another /56");
});

Deno.test("RRL in the responder: drops and slips (TC, no records) are counted", () => {
  const responder = new Responder(db, {
    maxUdpPayload: 1232,
    cacheEntries: 100,
    rrl: { rate: 5, slip: 2, ipv4Prefix: 24, ipv6Prefix: 56, size: 1024 },
  });
  const buf = new Uint8Array(1232);
  const q = buildQuery("ex.test", "A", { edns: {} });
  let sent = 0, truncated = 0;
  for (let i = 0; i < 25; i++) {
    buf.set(q);
    const n = udp(responder, buf, q.length, 5000);
    if (n === 0) continue;
    sent++;
    const r = decode(buf.subarray(0, n));
    if (r.tc) {
      truncated++;
      assert.deepEqual([r.answer, r.authority], [[], []]);
      assert.equal(r.qd, 1);
    }
  }
  assert.equal(sent, 5 + 10);
  assert.equal(truncated, 10);
  assert.equal(responder.counters[COUNTER.RRL_DROPPED], 10);
  assert.equal(responder.counters[COUNTER.RRL_SLIPPED], 10);
});
