/**
 * The daily-line encoder alone: DNS and DHCP events (the sniffer's
 * `fields.ts` records, a realistic mix) written as text lines, as JSON lines
 * by the encoder (straight into the line buffer), and, as the reference a
 * plain implementation would be, as JSON lines made by building an object
 * per event with the same keys and `JSON.stringify`-ing it into the same
 * files. Files go to a temp dir and are deleted; each run times the three
 * in turn, the order rotating between runs. The JSON.stringify reference
 * writes the same keys and values as the encoder (its `ts` without
 * trailing zeros).
 *
 * Usage: deno run -A scripts/bench/daylog_json.ts [--events 1000000] [--runs 3]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FieldEncoder, LineWriter } from "../../lib/daylog/mod.ts";
import {
  type AnswerRecord,
  DHCP_FIELDS,
  DNS_FIELDS,
  type EventField,
  type EventRecord,
  isSkipped,
  newRecord,
} from "../../lib/sniffer/fields.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
  },
});
const EVENTS = Number(values.events);

/** The records, built once: 9 DNS events (queries and answers) to 1 DHCP. */
function records(): { kind: "dns" | "dhcp"; record: EventRecord }[] {
  const out: { kind: "dns" | "dhcp"; record: EventRecord }[] = [];
  for (let i = 0; i < 1000; i++) {
    if (i % 10 === 9) {
      const r = newRecord(DHCP_FIELDS);
      Object.assign(r, {
        mac: "da:a1:19:00:00:07",
        vendor: "(locally administered)",
        src_mac: "da:a1:19:00:00:07",
        dst_mac: "ff:ff:ff:ff:ff:ff",
        vlan: 0,
        src_ip: "0.0.0.0",
        src_port: 68,
        dst_ip: "255.255.255.255",
        dst_port: 67,
        proto: "udp",
        dhcp_version: 4,
        msg_type: "REQUEST",
        trans_id: 0x1234 + i,
        requested_addr: "10.0.0.50",
        host_name: `phone-${i}`,
        client_software: "android-dhcp-14",
        server_addr: "10.0.0.1",
        param_list: "1,3,6,15",
      });
      out.push({ kind: "dhcp", record: r });
      continue;
    }
    const answer = i % 2 === 1;
    const r = newRecord(DNS_FIELDS);
    const answers = answer
      ? [
        { name: `host${i}.example.com`, type: "A", ttl: 300, data: `93.184.${i % 256}.34` },
        { name: `host${i}.example.com`, type: "A", ttl: 300, data: `93.184.${i % 256}.35` },
      ]
      : [];
    Object.assign(r, {
      mac: "3c:22:fb:00:00:01",
      vendor: "Apple, Inc.",
      src_mac: answer ? "00:11:22:33:44:55" : "3c:22:fb:00:00:01",
      dst_mac: answer ? "3c:22:fb:00:00:01" : "00:11:22:33:44:55",
      vlan: 0,
      src_ip: answer ? "10.0.0.1" : "10.0.0.2",
      src_port: answer ? 53 : 40000 + i,
      dst_ip: answer ? "10.0.0.2" : "10.0.0.1",
      dst_port: answer ? 40000 + i : 53,
      proto: "udp",
      trans_id: i,
      qr: answer,
      opcode: 0,
      query: `host${i}.example.com`,
      qclass: 1,
      qclass_name: "C_INTERNET",
      qtype: 1,
      qtype_name: "A",
      rcode: answer ? 0 : undefined,
      rcode_name: answer ? "NOERROR" : "",
      AA: false,
      TC: false,
      RD: true,
      RA: answer,
      answers,
      TTLs: answers,
    });
    out.push({ kind: "dns", record: r });
  }
  return out;
}

/** The JSON.stringify reference: an object per event with the encoder's keys and values. */
function referenceObject(
  kind: string,
  ms: number,
  fields: readonly EventField[],
  r: EventRecord,
): Record<string, unknown> {
  const o: Record<string, unknown> = { ts: Math.round(ms * 1000) / 1e6, kind };
  for (const f of fields) {
    const v = r[f.name];
    if (isSkipped(f, v)) continue;
    if (f.text === "answer-data") o[f.zeek] = (v as readonly AnswerRecord[]).map((a) => a.data);
    else if (f.text === "answer-ttls") o[f.zeek] = (v as readonly AnswerRecord[]).map((a) => a.ttl);
    else if (f.text === "qr") o[f.zeek] = v ? "R" : "Q";
    else o[f.zeek] = v;
  }
  return o;
}

type Way = "text" | "json" | "json.stringify";

async function time(
  way: Way,
  events: { kind: "dns" | "dhcp"; record: EventRecord }[],
  count = EVENTS,
) {
  const dir = await Deno.makeTempDir({ prefix: "vigia-bench-daylog-" });
  const out = new LineWriter({
    dir,
    timeZone: "UTC",
    format: way === "text" ? "text" : "json",
  });
  const dns = new FieldEncoder({ out, kind: "dns", fields: DNS_FIELDS });
  const dhcp = new FieldEncoder({ out, kind: "dhcp", fields: DHCP_FIELDS });
  const t0 = Date.parse("2026-11-21T08:00:00Z");
  const start = performance.now();
  if (way === "json.stringify") {
    // A plain writer: an object and a string per line, joined and encoded per 256 KB.
    const file = Deno.openSync(`${dir}/2026-11-21.log`, { create: true, append: true });
    const enc = new TextEncoder();
    let lines: string[] = [], size = 0;
    for (let i = 0; i < count; i++) {
      const e = events[i % events.length];
      const fields = e.kind === "dns" ? DNS_FIELDS : DHCP_FIELDS;
      const line = JSON.stringify(referenceObject(e.kind, t0 + i * 0.05, fields, e.record));
      lines.push(line);
      size += line.length + 1;
      if (size >= 262_144) {
        file.writeSync(enc.encode(lines.join("\n") + "\n"));
        lines = [];
        size = 0;
      }
    }
    if (lines.length > 0) file.writeSync(enc.encode(lines.join("\n") + "\n"));
    file.close();
  } else {
    for (let i = 0; i < count; i++) {
      const e = events[i % events.length];
      (e.kind === "dns" ? dns : dhcp).write(t0 + i * 0.05, e.record);
    }
  }
  out.close();
  const seconds = (performance.now() - start) / 1000;
  let bytes = 0;
  for (const f of Deno.readDirSync(dir)) bytes += Deno.statSync(`${dir}/${f.name}`).size;
  await Deno.remove(dir, { recursive: true });
  return { seconds, bytes };
}

const events = records();
const ways: Way[] = ["text", "json", "json.stringify"];
// Warm-up (JIT) of each way, not timed.
for (const way of ways) await time(way, events, 50_000);
for (let run = 1; run <= Number(values.runs); run++) {
  const order = [...ways.slice(run % 3), ...ways.slice(0, run % 3)];
  const seconds: Partial<Record<Way, number>> = {};
  for (const way of order) {
    const r = await time(way, events);
    seconds[way] = r.seconds;
    console.log(
      `run ${run} ${way.padEnd(14)} ${r.seconds.toFixed(2)} s, ${
        Math.round(EVENTS / r.seconds)
      } lines/s, ${(r.bytes / EVENTS).toFixed(0)} bytes/line`,
    );
  }
  console.log(
    `run ${run}: json / text = ${(seconds.json! / seconds.text!).toFixed(2)}, ` +
      `json.stringify / json = ${(seconds["json.stringify"]! / seconds.json!).toFixed(2)}`,
  );
}
