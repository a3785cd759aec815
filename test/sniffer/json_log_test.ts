/**
 * JSON daily logs end to end (`[log] format = "json"`): a day of mixed DNS
 * and DHCP traffic (a capture this test writes, and every shared capture
 * when ../shared/testdata is there) is ingested twice, once per format.
 * Every line of the JSON files (events and alerts) parses with jq, and
 * each JSON line carries exactly the fields of the text line for the same
 * packet, under its Zeek name, with the value the text shows (parsed back
 * from both files, field by field), plus the JSON-only numbers.
 */

import assert from "node:assert/strict";
import { runIngest } from "../../lib/sniffer/mod.ts";
import { readCaptureFile } from "../../lib/capture/mod.ts";
import type { SnifferConfig } from "../../lib/sniffer/config.ts";
import { openEventWriter } from "../../lib/sniffer/event_writer.ts";
import { Pipeline } from "../../lib/sniffer/pipeline.ts";
import { type EventField, fieldsOf } from "../../lib/sniffer/fields.ts";
import { dnsClassName, dnsRcodeName, dnsTypeNumber } from "../../lib/net/dns_names.ts";
import { sharedTestdata, skipUnless } from "../_env.ts";
import { hasJq, jqLines } from "../daylog/_jq.ts";
import {
  ascii,
  concat,
  dhcp6,
  dhcp6Option,
  dnsMessage,
  ethernet,
  ip,
  type Rr,
  u16,
  udpIp,
} from "../capture/_frames.ts";
import { dhcpExchange, dnsPair, makeEnv, writePcap } from "./_fixtures.ts";
import type { Record as PcapRecord } from "../capture/_frames.ts";

const DAY = "2026-11-21";
const T = (hms: string) => Date.parse(`${DAY}T${hms}Z`);

/** TXT rdata: one length-prefixed string of raw bytes. */
function txt(bytes: number[]): Uint8Array {
  return new Uint8Array([bytes.length, ...bytes]);
}

/** A DNS response alone (the query of it elsewhere or not captured). */
function response(
  ts: number,
  client: string,
  clientIp: string,
  o: Parameters<typeof dnsMessage>[0],
  vlans: number[] = [],
): PcapRecord {
  return {
    ts,
    data: ethernet(
      "00:11:22:33:44:55",
      client,
      udpIp({ src: "10.0.0.1", dst: clientIp }, 53, 41000 + (o.id % 1000), dnsMessage(o)),
      vlans,
    ),
  };
}

/** A day of mixed traffic: every DNS and DHCP field the text line can show, odd bytes included. */
function mixedDay(): PcapRecord[] {
  const a = "3c:22:fb:00:00:01", b = "f0:d1:a9:00:00:02", c = "da:a1:19:00:00:07";
  const records: PcapRecord[] = [];
  // Ordinary lookups all day long, from several stations.
  for (let h = 0; h < 24; h++) {
    records.push(...dnsPair({
      ts: T(`${String(h).padStart(2, "0")}:15:00.123`) + 0.456,
      clientMac: h % 2 ? a : b,
      clientIp: h % 2 ? "10.0.0.2" : "10.0.0.3",
      serverIp: "10.0.0.1",
      id: 100 + h,
      qname: `host${h}.example.com`,
    }));
  }
  records.push(
    // IPv6 in a VLAN, AAAA.
    ...dnsPair({
      ts: T("08:00:00"),
      clientMac: b,
      clientIp: "2001:db8::2",
      serverIp: "2001:db8::53",
      id: 2,
      qname: "ipv6.example.com",
      qtype: 28,
      answer: [{ type: 28, ttl: 60, data: ip("2001:db8::80") }],
      vlans: [20],
    }),
    // A query to a denied server (unauthorized-dns alert).
    ...dnsPair({
      ts: T("09:00:00"),
      clientMac: a,
      clientIp: "10.0.0.2",
      serverIp: "203.0.113.53",
      id: 3,
      qname: "evil.example",
    }),
    // NXDOMAIN, authoritative, truncated.
    response(T("10:00:00"), a, "10.0.0.2", {
      id: 4,
      response: true,
      aa: true,
      tc: true,
      rcode: 3,
      qname: "nope.example.com",
      qtype: 1,
    }),
    // A CNAME chain: several answers and TTLs.
    response(T("11:00:00"), b, "10.0.0.3", {
      id: 5,
      response: true,
      ra: true,
      qname: "www.example.com",
      qtype: 1,
      answers: [
        { type: 5, ttl: 3600, data: concat(ascii("\x03cdn\x07example\x03net\x00")) },
        { name: "cdn.example.net", type: 1, ttl: 20, data: ip("192.0.2.10") },
        { name: "cdn.example.net", type: 1, ttl: 20, data: ip("192.0.2.11") },
      ] as Rr[],
    }),
    // TXT with a quote, a backslash, a tab, a comma, a control byte and bytes >= 0x80.
    response(T("12:00:00"), a, "10.0.0.2", {
      id: 6,
      response: true,
      qname: "txt.example.com",
      qtype: 16,
      answers: [{ type: 16, ttl: 5, data: txt([0x22, 0x5c, 0x09, 0x2c, 0x01, 0xc3, 0xa9, 0xff]) }],
    }),
    // A name with a quote and a backslash in a label; CHAOS class; NOTIFY opcode.
    {
      ts: T("13:00:00"),
      data: ethernet(
        a,
        "00:11:22:33:44:55",
        udpIp(
          { src: "10.0.0.2", dst: "10.0.0.1" },
          41007,
          53,
          concat(
            dnsMessage({ id: 7, opcode: 4, qname: 'we"ird\\label.example', qtype: 6 }),
          ),
        ),
      ),
    },
    {
      ts: T("13:00:01"),
      data: ethernet(
        a,
        "00:11:22:33:44:55",
        udpIp(
          { src: "10.0.0.2", dst: "10.0.0.1" },
          41008,
          53,
          // version.bind CH TXT (class 3): patched after building.
          (() => {
            const m = dnsMessage({ id: 8, qname: "version.bind", qtype: 16 });
            m[m.length - 1] = 3;
            return m;
          })(),
        ),
      ),
    },
    // DHCPv4: a full exchange with an odd host name (quote, backslash, tab).
    ...dhcpExchange({
      ts: T("14:00:00"),
      clientMac: c,
      serverMac: "00:11:22:33:44:55",
      serverIp: "10.0.0.1",
      offer: "10.0.0.50",
      xid: 0x1234,
      hostName: 'ph"o\\ne\t1',
    }),
    // A rogue server offering (rogue-dhcp alert: allowed_dhcp_servers is set below).
    ...dhcpExchange({
      ts: T("15:00:00"),
      clientMac: "02:00:00:00:00:09",
      serverMac: "00:de:ad:be:ef:01",
      serverIp: "10.9.9.9",
      offer: "10.9.9.50",
      xid: 0x5678,
    }).slice(0, 2),
    // DHCPv6 SOLICIT with a client DUID.
    {
      ts: T("16:00:00"),
      data: ethernet(
        b,
        "33:33:00:01:00:02",
        udpIp(
          { src: "fe80::f2d1:a9ff:fe00:2", dst: "ff02::1:2" },
          546,
          547,
          dhcp6(1, 0xabcdef, [
            dhcp6Option(1, concat(u16(3), u16(1), new Uint8Array([0xf0, 0xd1, 0xa9, 0, 0, 2]))),
            dhcp6Option(8, u16(0)),
          ]),
        ),
      ),
    },
  );
  return records;
}

/** A text line's timestamp, kind and fields (values unescaped). */
interface TextLine {
  ms: number;
  kind: string;
  fields: Map<string, string>;
}

function parseTextLine(line: string): TextLine {
  const [stamp, kind, ...pairs] = line.split("\t");
  const fields = new Map<string, string>();
  for (const p of pairs) {
    const eq = p.indexOf("=");
    assert.ok(eq > 0, `not key=value: ${p}`);
    const v = p.slice(eq + 1).replace(
      /\\(.)/g,
      (_, ch) => ch === "t" ? "\t" : ch === "n" ? "\n" : ch === "r" ? "\r" : ch,
    );
    fields.set(p.slice(0, eq), v);
  }
  return { ms: Date.parse(stamp), kind, fields };
}

/** The text a JSON value of field `f` stands for in the text line. */
function asText(f: EventField, v: unknown): string {
  if (Array.isArray(v)) return v.join(",");
  if (f.text === "tf") return v ? "T" : "F";
  return String(v);
}

/** Compares one JSON line with the text line of the same packet (or event), field by field. */
function sameEvent(text: TextLine, json: Record<string, unknown>, where: string): void {
  assert.equal(json.kind, text.kind, where);
  assert.equal(typeof json.ts, "number", where);
  assert.equal(Math.floor(Math.round((json.ts as number) * 1e6) / 1000), text.ms, `${where}: ts`);
  if (text.kind !== "dns" && text.kind !== "dhcp") {
    // Other lines (new-station, alerts): the same keys; values keep their JSON type.
    const keys = Object.keys(json).filter((k) => k !== "ts" && k !== "kind");
    assert.deepEqual(keys, [...text.fields.keys()], where);
    for (const k of keys) {
      const v = json[k];
      assert.equal(
        Array.isArray(v) ? v.join(",") : String(v),
        text.fields.get(k),
        `${where}: ${k}`,
      );
    }
    return;
  }
  const fields = fieldsOf(text.kind);
  const known = new Set(["ts", "kind", ...fields.map((f) => f.zeek)]);
  for (const k of Object.keys(json)) assert.ok(known.has(k), `${where}: unexpected key ${k}`);
  for (const f of fields) {
    if (f.text === "none") continue;
    const t = text.fields.get(f.name), v = json[f.zeek];
    if (t === undefined) {
      assert.equal(v, undefined, `${where}: ${f.zeek} is in JSON only`);
      continue;
    }
    assert.notEqual(v, undefined, `${where}: ${f.zeek} missing from JSON (text ${f.name}=${t})`);
    const type = f.json === "number"
      ? "number"
      : f.json === "bool"
      ? "boolean"
      : f.json === "array"
      ? "object"
      : "string";
    assert.equal(typeof v, type, `${where}: ${f.zeek} is a ${type}`);
    assert.equal(asText(f, v), t, `${where}: ${f.zeek}`);
  }
  // The JSON-only numbers agree with the mnemonics of the text line.
  if (text.kind === "dns") {
    assert.equal(json.qtype, dnsTypeNumber(text.fields.get("qtype_name")!), `${where}: qtype`);
    assert.equal(
      dnsClassName(json.qclass as number),
      text.fields.get("qclass_name") ?? "C_INTERNET",
    );
    if (text.fields.get("qr") === "R") {
      assert.equal(dnsRcodeName(json.rcode as number), text.fields.get("rcode_name"), where);
    } else assert.equal(json.rcode, undefined, `${where}: no rcode in a query`);
  } else assert.equal(json.proto, "udp", where);
}

/** Lines in a stable order: by time, then kind, keeping each writer's order among equals. */
function ordered<T>(items: T[], key: (x: T) => [number, string]): T[] {
  return items.map((x, i) => ({ x, i, k: key(x) })).sort((a, b) =>
    a.k[0] - b.k[0] || (a.k[1] < b.k[1] ? -1 : a.k[1] > b.k[1] ? 1 : 0) || a.i - b.i
  ).map((e) => e.x);
}

/**
 * Reads `pcaps` once per format (`vigia ingest` with `ingest`; else one
 * pipeline for all of them, which is quicker than an ingest each); returns
 * each daily file's lines in both forms.
 */
async function bothFormats(pcaps: string[], toml: string, ingest: boolean): Promise<
  { file: string; text: TextLine[]; json: Record<string, unknown>[] }[]
> {
  // The two formats ingest side by side (each in its own store and log directory).
  const envs = await Promise.all(["text", "json"].map(async (format) => {
    const env = await makeEnv(`[log]\ntimezone = "UTC"\nformat = "${format}"\n${toml}`);
    const { config, log, store, dailyLog, bus: alerts } = env;
    if (ingest) {
      for (const pcap of pcaps) await runIngest(pcap, { config, log, store, dailyLog, alerts });
    } else {
      const section = config.sniffer as SnifferConfig;
      const writer = await openEventWriter(store, { log, bulk: true });
      const pipeline = new Pipeline({ section, store, writer, dailyLog, alerts, log });
      for (const pcap of pcaps) {
        await readCaptureFile(pcap, {
          dnsPorts: section.dns_ports,
          onBatch: (events) => pipeline.process(events),
        });
      }
      await pipeline.close();
      await writer.close();
    }
    await alerts.close(1000);
    await dailyLog.close();
    return env;
  }));
  const dirs = { text: `${envs[0].dir}/log`, json: `${envs[1].dir}/log` };
  try {
    const names = (dir: string) => {
      try {
        return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".log"))
          .sort();
      } catch {
        return []; // nothing decoded: no file was opened
      }
    };
    assert.deepEqual(names(dirs.json), names(dirs.text), "the same daily files");
    const out = [];
    for (const file of names(dirs.text)) {
      const text = Deno.readTextFileSync(`${dirs.text}/${file}`).trimEnd().split("\n")
        .map(parseTextLine);
      const json = await jqLines(`${dirs.json}/${file}`);
      assert.equal(json.length, text.length, `${file}: as many JSON lines as text lines`);
      out.push({
        file,
        text: ordered(text, (t) => [t.ms, t.kind]),
        json: ordered(
          json,
          (j) => [Math.floor(Math.round((j.ts as number) * 1e6) / 1000), j.kind as string],
        ),
      });
    }
    return out;
  } finally {
    for (const env of envs) {
      env.events.close();
      env.store.close();
      await Deno.remove(env.dir, { recursive: true });
    }
  }
}

const POLICY =
  `[sniffer]\nunauthorized_dns = ["203.0.113.53"]\nallowed_dhcp_servers = ["10.0.0.1"]\n`;

Deno.test({
  name:
    "json log: a day of mixed DNS and DHCP traffic, every line parsed by jq, equal to the text line field by field",
  ignore: skipUnless(hasJq, "jq is not installed (APT_PACKAGES in scripts/setup.sh)"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigia-json-log-" });
    try {
      const pcap = await writePcap(dir, "day.pcap", mixedDay());
      const files = await bothFormats([pcap], POLICY, true);
      assert.deepEqual(files.map((f) => f.file), [`${DAY}.log`, `alerts-${DAY}.log`]);
      for (const { file, text, json } of files) {
        text.forEach((t, i) => sameEvent(t, json[i], `${file} line ${i + 1} (${t.kind})`));
      }
      const [events, alerts] = files;
      const kinds = new Set(events.json.map((j) => j.kind));
      for (const k of ["dns", "dhcp", "new-station", "unauthorized-dns", "rogue-dhcp"]) {
        assert.ok(kinds.has(k), `the day has ${k} lines`);
      }
      // The fields a SIEM looks for, under Zeek's names, with Zeek's types.
      const nx = events.json.find((j) => j.query === "nope.example.com")!;
      assert.deepEqual(
        [nx.rcode, nx.rcode_name, nx.AA, nx.TC, nx.RD, nx.RA, nx.qr],
        [3, "NXDOMAIN", true, true, true, false, "R"],
      );
      const cname = events.json.find((j) => j.query === "www.example.com")!;
      assert.deepEqual(cname.answers, ["cdn.example.net", "192.0.2.10", "192.0.2.11"]);
      assert.deepEqual(cname.TTLs, [3600, 20, 20]);
      const v6 = events.json.find((j) => j.query === "ipv6.example.com" && j.qr === "R")!;
      assert.deepEqual(
        [v6["id.orig_h"], v6["id.orig_p"], v6["id.resp_h"], v6.vlan, v6.qtype, v6.qtype_name],
        ["2001:db8::53", 53, "2001:db8::2", 20, 28, "AAAA"],
      );
      const ack = events.json.find((j) => j.msg_types === "ACK" && j.trans_id === 0x1234)!;
      assert.deepEqual(
        [ack.mac, ack.assigned_addr, ack.server_addr, ack.lease_time, ack["id.orig_p"]],
        ["da:a1:19:00:00:07", "10.0.0.50", "10.0.0.1", 3600, 67],
      );
      const discover = events.json.find((j) =>
        j.msg_types === "DISCOVER" && j.trans_id === 0x1234
      )!;
      // The decoder's presentation escapes for the tab and the backslash; the quote as is.
      assert.equal(discover.host_name, 'ph"o\\092ne\\0091');
      assert.equal(discover.client_software, "android-dhcp-14");
      const solicit = events.json.find((j) => j.msg_types === "SOLICIT")!;
      assert.equal(solicit.dhcp_version, 6);
      assert.equal(solicit.duid, "00030001f0d1a9000002");
      // Alerts: ts, kind, severity, subject and the alert's own fields.
      const rogue = alerts.json.find((j) => j.kind === "rogue-dhcp")!;
      assert.equal(rogue.severity, "error");
      assert.equal(rogue.server_ip, "10.9.9.9");
      assert.equal(typeof rogue.subject, "string");
      const denied = alerts.json.find((j) => j.kind === "unauthorized-dns")!;
      assert.deepEqual([denied.severity, denied.server, denied.query], [
        "warning",
        "203.0.113.53",
        "evil.example",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "json log: every shared capture gives JSON lines equal to its text lines",
  ignore: skipUnless(hasJq, "jq is not installed (APT_PACKAGES in scripts/setup.sh)") ||
    skipUnless(sharedTestdata !== null, "../shared/testdata is absent: shared captures skipped"),
  async fn() {
    const dir = `${sharedTestdata}/pcap`;
    const pcaps = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
      /\.pcap(ng)?$/.test(n)
    )
      .sort();
    assert.ok(pcaps.length > 0);
    let compared = 0;
    for (
      const { file, text, json } of await bothFormats(pcaps.map((p) => `${dir}/${p}`), "", false)
    ) {
      text.forEach((t, i) => sameEvent(t, json[i], `${file} line ${i + 1}`));
      compared += text.length;
    }
    assert.ok(compared > 50, `compared ${compared} lines`);
  },
});
