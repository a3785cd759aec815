import assert from "node:assert/strict";
import { answerMessage } from "../../lib/dns/answer.ts";
import { MessageWriter } from "../../lib/dns/wire.ts";
import { buildZoneDb } from "../../lib/dns/zone_db.ts";
import { parseZoneText } from "../../lib/dns/zone_file.ts";
import {
  buildQuery,
  decode,
  type Decoded,
  EX_ZONE,
  OTHER_ZONE,
  type QueryOptions,
} from "./_packets.ts";

const ex = parseZoneText(EX_ZONE, { file: "ex.zone" });
const other = parseZoneText(OTHER_ZONE, { file: "other.zone" });
assert.deepEqual([...ex.problems, ...other.problems], []);
const { db, problems } = buildZoneDb([...ex.records, ...other.records]);
assert.deepEqual(problems, []);
const writer = new MessageWriter(new Uint8Array(65535));

function answerBytes(msg: Uint8Array, tcp = false): Uint8Array | null {
  const n = answerMessage(db, msg, { writer, tcp, maxUdpPayload: 1232 });
  return n === 0 ? null : writer.buf.slice(0, n);
}

function ask(name: string, type: string, options: QueryOptions = {}, tcp = false): Decoded {
  const r = answerBytes(buildQuery(name, type, options), tcp);
  assert.ok(r, `no answer to ${name} ${type}`);
  return decode(r);
}

Deno.test("positive answer: AA, the RRset, apex NS in authority, NS addresses in additional", () => {
  const r = ask("ex.test", "A");
  assert.equal(r.rcode, 0);
  assert.ok(r.aa);
  assert.deepEqual(r.answer, ["ex.test. 3600 IN A 192.0.2.1"]);
  assert.deepEqual(r.authority, [
    "ex.test. 3600 IN NS ns1.ex.test",
    "ex.test. 3600 IN NS ns2.other.test",
  ]);
  assert.deepEqual(r.additional, [
    "ns1.ex.test. 3600 IN A 192.0.2.53",
    "ns1.ex.test. 3600 IN AAAA 2001:db8::53",
  ]);
});

Deno.test("NXDOMAIN carries the SOA with TTL min(SOA TTL, MINIMUM)", () => {
  const r = ask("nothere.ex.test", "A");
  assert.equal(r.rcode, 3);
  assert.ok(r.aa);
  assert.deepEqual(r.answer, []);
  assert.equal(r.authority.length, 1);
  assert.match(r.authority[0], /^ex\.test\. 300 IN SOA /);
  // In other.test the SOA TTL (600) is below MINIMUM (7200).
  const o = ask("nothere.other.test", "A");
  assert.match(o.authority[0], /^other\.test\. 600 IN SOA /);
});

Deno.test("NODATA for an existing name and for an empty non-terminal", () => {
  for (
    const [name, type] of [["ns1.ex.test", "MX"], ["mail.ex.test", "AAAA"], ["b.c.ex.test", "A"]]
  ) {
    const r = ask(name, type);
    assert.equal(r.rcode, 0, name);
    assert.ok(r.aa);
    assert.deepEqual(r.answer, [], name);
    assert.match(r.authority[0], /SOA/);
  }
});

Deno.test("CNAME chains are followed within and across served zones", () => {
  const r = ask("alias.ex.test", "MX");
  assert.deepEqual(r.answer, [
    "alias.ex.test. 3600 IN CNAME www.ex.test",
    "www.ex.test. 3600 IN CNAME ex.test",
    'ex.test. 3600 IN MX {"preference":10,"exchange":"mail.ex.test"}',
    'ex.test. 3600 IN MX {"preference":20,"exchange":"mail.other.test"}',
  ]);
  assert.ok(r.additional.includes("mail.ex.test. 3600 IN A 192.0.2.25"));
  const x = ask("ext.ex.test", "A");
  assert.deepEqual(x.answer, [
    "ext.ex.test. 3600 IN CNAME www.other.test",
    "www.other.test. 600 IN A 198.51.100.80",
  ]);
  assert.deepEqual(x.authority, ["other.test. 600 IN NS ns2.other.test"]);
  const out = ask("ext2.ex.test", "A");
  assert.deepEqual(out.answer, ["ext2.ex.test. 3600 IN CNAME www.elsewhere.example"]);
  assert.deepEqual(out.authority, []);
  assert.equal(ask("www.ex.test", "CNAME").answer.length, 1);
});

Deno.test("CNAME loops stop and dangling CNAMEs give NXDOMAIN", () => {
  const loop = ask("loop1.ex.test", "A");
  assert.equal(loop.rcode, 0);
  assert.equal(loop.answer.length, 2);
  const dangling = ask("dangling.ex.test", "A");
  assert.equal(dangling.rcode, 3);
  assert.deepEqual(dangling.answer, ["dangling.ex.test. 3600 IN CNAME nothere.ex.test"]);
  assert.match(dangling.authority[0], /SOA/);
});

Deno.test("wildcards (RFC 4592): synthesis, NODATA, existing names and closest encloser", () => {
  assert.deepEqual(ask("x.wild.ex.test", "A").answer, ["x.wild.ex.test. 3600 IN A 192.0.2.99"]);
  assert.deepEqual(ask("deep.x.wild.ex.test", "TXT").answer, [
    'deep.x.wild.ex.test. 3600 IN TXT ["77696c64"]',
  ]);
  const nodata = ask("x.wild.ex.test", "MX");
  assert.equal(nodata.rcode, 0);
  assert.deepEqual(nodata.answer, []);
  // sub.wild exists, so the wildcard does not apply to it.
  assert.deepEqual(ask("sub.wild.ex.test", "TXT").answer, []);
  // The empty non-terminal ent.x blocks *.x, but *.ent.x answers below it.
  assert.deepEqual(ask("zz.ent.x.ex.test", "A").answer, ["zz.ent.x.ex.test. 3600 IN A 192.0.2.5"]);
  assert.equal(ask("ent.x.ex.test", "A").rcode, 0);
  // "*.wild" itself is an existing name: a.*.wild does not match *.wild.
  assert.equal(ask("a.*.wild.ex.test", "A").rcode, 3);
  const wc = ask("q.wc.ex.test", "A");
  assert.deepEqual(wc.answer, [
    "q.wc.ex.test. 3600 IN CNAME www.ex.test",
    "www.ex.test. 3600 IN CNAME ex.test",
    "ex.test. 3600 IN A 192.0.2.1",
  ]);
});

Deno.test("delegations give referrals with glue, DS at the cut is answered by the parent", () => {
  for (const name of ["x.deleg.ex.test", "deleg.ex.test", "ns.deleg.ex.test"]) {
    const r = ask(name, "A");
    assert.equal(r.rcode, 0);
    assert.equal(r.aa, false, name);
    assert.deepEqual(r.answer, []);
    assert.deepEqual(r.authority, [
      "deleg.ex.test. 3600 IN NS ns.deleg.ex.test",
      "deleg.ex.test. 3600 IN NS ns.outside.test",
    ]);
    assert.deepEqual(r.additional, ["ns.deleg.ex.test. 3600 IN A 192.0.2.200"]);
  }
  const ds = ask("deleg.ex.test", "DS");
  assert.ok(ds.aa);
  assert.match(ds.authority[0], /SOA/);
  const ref2 = ask("x.deleg2.ex.test", "A");
  assert.deepEqual(ref2.additional, [
    "ns1.ex.test. 3600 IN A 192.0.2.53",
    "ns1.ex.test. 3600 IN AAAA 2001:db8::53",
  ]);
  // Occluded glue is not used as additional data for an MX target; wildcards are.
  const mx = ask("mx2.ex.test", "MX");
  assert.ok(!mx.additional.some((l) => l.startsWith("ns.deleg")));
  assert.ok(mx.additional.includes("x.wild.ex.test. 3600 IN A 192.0.2.99"));
  assert.ok(mx.additional.includes("sip.ex.test. 3600 IN AAAA 2001:db8::60"));
});

Deno.test("REFUSED outside the zones, with EDE 20 when EDNS is on", () => {
  const r = ask("example.com", "A", { edns: {} });
  assert.equal(r.rcode, 5);
  assert.equal(r.aa, false);
  assert.equal(r.qd, 1);
  assert.equal(r.opt?.ede, 20);
  assert.equal(ask("test", "A").rcode, 5);
  assert.equal(ask(".", "NS").rcode, 5);
  const ch = ask("version.bind", "TXT", { qclass: 3, edns: {} });
  assert.equal(ch.rcode, 5);
  assert.equal(ch.opt?.ede, 18);
});

Deno.test("FORMERR, NOTIMP, NOTIFY, dropped responses", () => {
  const q = buildQuery("ex.test", "A", { rd: true });
  const twoQuestions = new Uint8Array([...q.slice(0, 5), 2, ...q.slice(6), ...q.slice(12)]);
  const f = decode(answerBytes(twoQuestions)!);
  assert.equal(f.rcode, 1);
  assert.equal(f.qd, 0);
  assert.ok(!f.rd, "NSD clears RD when there are several questions");
  const withAnswer = new Uint8Array([...q.slice(0, 7), 1, ...q.slice(8)]);
  const a = decode(answerBytes(withAnswer)!);
  assert.equal(a.rcode, 1);
  assert.ok(a.rd, "RD is copied in other FORMERRs");
  const notimp = decode(answerBytes(buildQuery("ex.test", "A", { flags: 2 << 11 }))!);
  assert.equal(notimp.rcode, 4);
  assert.equal((notimp.flags >> 11) & 15, 2, "opcode echoed");
  assert.equal(decode(answerBytes(buildQuery("ex.test", "SOA", { flags: 4 << 11 }))!).rcode, 5);
  assert.equal(
    answerBytes(buildQuery("ex.test", "A", { flags: 0x8000 })),
    null,
    "responses are dropped",
  );
  assert.equal(answerBytes(q.slice(0, 11)), null, "short messages are dropped");
  assert.equal(decode(answerBytes(q.slice(0, 20))!).rcode, 1, "a cut question is FORMERR");
  const pointer = new Uint8Array([...q.slice(0, 12), 0xc0, 12, 0, 1, 0, 1]);
  assert.equal(decode(answerBytes(pointer)!).rcode, 1);
  assert.equal(
    decode(answerBytes(buildQuery("ex.test", "A", { flags: 3 }))!).rcode,
    1,
    "rcode set",
  );
  // Trailing bytes after the question are ignored, like NSD.
  assert.equal(decode(answerBytes(new Uint8Array([...q, 1, 2, 3]))!).rcode, 0);
  assert.equal(decode(answerBytes(buildQuery("ex.test", "AXFR"))!).rcode, 4, "AXFR over UDP");
  assert.equal(decode(answerBytes(buildQuery("ex.test", "AXFR"), true)!).rcode, 5, "AXFR over TCP");
});

Deno.test("EDNS: OPT echoed with our size and DO, BADVERS for version > 0, bad OPT is FORMERR", () => {
  const r = ask("ex.test", "A", { edns: { payload: 4096, do: true } });
  assert.deepEqual(r.opt, { payload: 1232, version: 0, do: true, options: [], ede: undefined });
  assert.equal(ask("ex.test", "A").opt, undefined, "no OPT without EDNS");
  const bad = ask("ex.test", "A", { edns: { version: 1 } });
  assert.equal(bad.rcode, 16);
  assert.equal(bad.aa, false);
  assert.deepEqual(bad.answer, []);
  const q = buildQuery("ex.test", "A", { edns: {} });
  const twoOpt = new Uint8Array([...q.slice(0, 11), 2, ...q.slice(12), ...q.slice(q.length - 11)]);
  assert.equal(decode(answerBytes(twoOpt)!).rcode, 1);
  const badLength = q.slice();
  badLength[badLength.length - 1] = 9;
  assert.equal(decode(answerBytes(badLength)!).rcode, 1);
});

Deno.test("truncation: TC and empty sections when the answer does not fit", () => {
  const small = ask("big.ex.test", "TXT");
  assert.ok(small.tc);
  assert.ok(small.aa);
  assert.deepEqual([small.answer, small.authority, small.additional], [[], [], []]);
  const full = answerBytes(buildQuery("big.ex.test", "TXT", { edns: { payload: 4096 } }))!;
  assert.deepEqual(decode(full).additional.length, 2);
  // One byte short: the additional AAAA (28 bytes) is left out, without TC.
  const part = ask("big.ex.test", "TXT", { edns: { payload: full.length - 1 } });
  assert.ok(!part.tc);
  assert.deepEqual([part.answer.length, part.authority.length], [3, 2]);
  assert.deepEqual(part.additional, ["ns1.ex.test. 3600 IN A 192.0.2.53"]);
  // Without room for the authority NS either: TC with empty sections but OPT kept, as NSD does.
  const mid = ask("big.ex.test", "TXT", { edns: { payload: full.length - 28 - 16 - 1 } });
  assert.ok(mid.tc);
  assert.deepEqual([mid.answer, mid.authority], [[], []]);
  assert.ok(mid.opt, "OPT kept in a truncated answer");
  // Payload sizes below 512 count as 512; TCP has no limit but 65535.
  assert.ok(ask("big.ex.test", "TXT", { edns: { payload: 100 } }).tc);
  assert.equal(ask("big.ex.test", "TXT", {}, true).answer.length, 3);
});

Deno.test("name compression keeps the asker's letter case, escaped dots survive", () => {
  const msg = buildQuery("WwW.Ex.TeSt", "A");
  const bytes = answerBytes(msg)!;
  const r = decode(bytes);
  assert.deepEqual(r.question, ["WwW.Ex.TeSt. IN A"]);
  assert.deepEqual(r.answer, [
    "WwW.Ex.TeSt. 3600 IN CNAME Ex.TeSt",
    "Ex.TeSt. 3600 IN A 192.0.2.1",
  ]);
  // The answer's owner is a pointer to the question (offset 12).
  const qend = msg.length;
  assert.deepEqual([bytes[qend], bytes[qend + 1]], [0xc0, 12]);
  assert.equal(bytes.length, 145, "same size as NSD's answer");
  const esc = new Uint8Array([
    ...msg.slice(0, 12),
    7,
    ...new TextEncoder().encode("esc.dot"),
    2,
    101,
    120,
    4,
    116,
    101,
    115,
    116,
    0,
    0,
    1,
    0,
    1,
  ]);
  const e = decode(answerBytes(esc)!);
  assert.equal(e.answer.length, 1);
  assert.match(e.answer[0], /192\.0\.2\.41/);
});

Deno.test("ANY is answered with one RRset (RFC 8482), RFC 3597 types, SRV/CAA/PTR", () => {
  const any = ask("multi.ex.test", "ANY");
  assert.equal(any.answer.length, 1);
  assert.deepEqual(any.authority, []);
  const apex = ask("ex.test", "ANY");
  assert.match(apex.answer[0], / SOA /);
  assert.deepEqual(ask("unk.ex.test", "TYPE65000").answer, [
    'unk.ex.test. 3600 IN UNKNOWN_65000 "010203"',
  ]);
  const srv = ask("_sip._tcp.ex.test", "SRV");
  assert.match(srv.answer[0], /"port":5060/);
  assert.ok(srv.additional.includes("sip.ex.test. 3600 IN A 192.0.2.60"));
  assert.match(ask("caa.ex.test", "CAA").answer[0], /"tag":"issue"/);
  assert.deepEqual(ask("ptr.ex.test", "PTR").answer, ["ptr.ex.test. 3600 IN PTR www.ex.test"]);
  assert.deepEqual(ask("ttls.ex.test", "A").answer.length, 2);
});

Deno.test("class ANY is answered from IN data without AA or authority, like NSD", () => {
  const r = ask("ex.test", "A", { qclass: 255 });
  assert.equal(r.aa, false);
  assert.equal(r.answer.length, 1);
  assert.deepEqual(r.authority, []);
  assert.equal(ask("ex.test", "A", { qclass: 4 }).qd, 0, "other classes: REFUSED without question");
});
