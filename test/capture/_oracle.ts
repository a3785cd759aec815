/**
 * Reads a capture with `readCaptureFile` and checks every event against
 * what tcpdump prints for the same packet.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type CaptureCounters,
  packetsAccounted,
  readCaptureFile,
  type SniffedEvent,
} from "../../lib/capture/mod.ts";
import { tcpdump, type TcpdumpPacket, timeOfDay } from "./_tcpdump.ts";

/** Events and counters of a whole file. */
export async function readAll(
  file: string,
  options: { batchSize?: number; dnsPorts?: number[] } = {},
): Promise<{ events: SniffedEvent[]; counters: CaptureCounters; batches: number }> {
  const events: SniffedEvent[] = [];
  let batches = 0;
  const counters = await readCaptureFile(file, {
    ...options,
    onBatch(batch) {
      batches++;
      events.push(...batch);
    },
  });
  assert.equal(packetsAccounted(counters), counters.packets, `${file}: every packet accounted for`);
  assert.equal(counters.pending, 0, `${file}: nothing left pending at the end`);
  return { events, counters, batches };
}

function typeName(t: string): string {
  const m = t.match(/^Type(\d+)$/i);
  return m ? `TYPE${m[1]}` : t.toUpperCase();
}

function stripDots(s: string): string {
  return s.split(" ").map((w) => (w.length > 1 ? w.replace(/\.$/, "") : w)).join(" ");
}

/** Compares one event with tcpdump's view of its packet; `where` names it in failures. */
export function assertEventMatches(e: SniffedEvent, t: TcpdumpPacket, where: string): void {
  const m = e.meta;
  assert.equal(timeOfDay(m.ts), t.time, `${where}: time`);
  assert.equal(m.srcMac, t.srcMac ?? "", `${where}: source MAC`);
  if (t.dstMac !== undefined || m.dstMac !== "") {
    assert.equal(m.dstMac, t.dstMac, `${where}: destination MAC`);
  }
  assert.equal(m.vlan, t.vlan ?? 0, `${where}: vlan`);
  assert.equal(m.srcIp, t.srcIp, `${where}: source IP`);
  assert.equal(m.dstIp, t.dstIp, `${where}: destination IP`);
  assert.equal(m.srcPort, t.srcPort, `${where}: source port`);
  assert.equal(m.dstPort, t.dstPort, `${where}: destination port`);
  assert.equal(m.proto, t.proto, `${where}: transport`);
  if (t.dns) {
    assert.equal(e.kind, "dns", `${where}: kind`);
    if (e.kind !== "dns") return;
    const d = e.dns;
    const td = t.dns;
    assert.equal(d.trans_id, td.id, `${where}: DNS id`);
    assert.equal(d.qr, td.qr, `${where}: QR`);
    assert.equal(d.query, td.qname, `${where}: qname`);
    assert.equal(d.qtype_name, typeName(td.qtype), `${where}: qtype`);
    if (td.length !== undefined) assert.equal(m.payloadLength, td.length, `${where}: DNS length`);
    if (td.qr) {
      assert.equal(d.AA, td.flags.includes("*"), `${where}: AA`);
      assert.equal(d.RA, !td.flags.includes("-"), `${where}: RA`);
      assert.equal(d.TC, td.flags.includes("|"), `${where}: TC`);
      assert.equal(
        d.rcode_name.toLowerCase(),
        (td.rcodeName ?? "NOERROR").toLowerCase(),
        `${where}: rcode`,
      );
      const whole = !t.text.includes("[|domain]");
      if (whole && td.an !== undefined) {
        assert.equal(d.answers.length, td.an, `${where}: answer count`);
      }
      td.answers.forEach((ta, i) => {
        const a = d.answers[i];
        assert.ok(a, `${where}: answer ${i} missing`);
        assert.equal(a.name, ta.name, `${where}: answer ${i} name`);
        assert.equal(a.type, typeName(ta.type), `${where}: answer ${i} type`);
        // tcpdump prints MX as "exchange preference".
        const data = a.type === "MX" ? ta.data.split(" ").reverse().join(" ") : ta.data;
        if (["A", "AAAA", "CNAME", "NS", "PTR", "MX", "SOA", "DNAME"].includes(a.type)) {
          assert.equal(a.data, stripDots(data), `${where}: answer ${i} data`);
        }
      });
    } else {
      assert.equal(d.RD, td.flags.includes("+"), `${where}: RD`);
    }
  } else if (t.dhcp) {
    assert.equal(e.kind, "dhcp", `${where}: kind`);
    if (e.kind !== "dhcp") return;
    const d = e.dhcp;
    const td = t.dhcp;
    assert.equal(d.version, td.version, `${where}: DHCP version`);
    assert.equal(d.msg_type, td.msgType, `${where}: DHCP message type`);
    assert.equal(d.trans_id, td.xid, `${where}: DHCP xid`);
    if (td.version === 4 || td.chaddr !== undefined) {
      assert.equal(d.mac, td.chaddr, `${where}: chaddr`);
    }
    const f = td.fields;
    if (td.version === 6) return;
    for (const k of ["client_addr", "assigned_addr", "next_server", "relay_addr"] as const) {
      assert.equal(d[k], f[k] ?? "0.0.0.0", `${where}: ${k}`);
    }
    for (const k of ["requested_addr", "server_id", "host_name", "vendor_class"] as const) {
      assert.equal(d[k], f[k], `${where}: ${k}`);
    }
    assert.equal(
      d.lease_time,
      f.lease_time === undefined ? undefined : Number(f.lease_time),
      `${where}: lease`,
    );
    assert.equal(
      d.param_list?.length,
      f.param_count === undefined ? undefined : Number(f.param_count),
    );
    if (f.client_id_ether) assert.equal(d.client_id, "01" + f.client_id_ether.replaceAll(":", ""));
  } else {
    assert.fail(`${where}: tcpdump saw neither DNS nor DHCP`);
  }
}

/**
 * Decodes `file` and checks that the events are exactly tcpdump's DNS/DHCP
 * packets, in order and field by field, and that the packets tcpdump finds
 * invalid are the ones counted as malformed. Returns what was read.
 */
export async function assertMatchesTcpdump(
  file: string,
  options: { dnsPorts?: number[] } = {},
): Promise<{ events: SniffedEvent[]; counters: CaptureCounters; packets: TcpdumpPacket[] }> {
  const packets = await tcpdump(file);
  const { events, counters } = await readAll(file, options);
  const expected = packets.filter((p) => (p.dns || p.dhcp) && !p.malformed);
  // A cut or corrupt last record is a packet to vigia (counted malformed), not to tcpdump.
  const unreadable = (counters.malformed["file-truncated"] ?? 0) +
    (counters.malformed["file-bad-record"] ?? 0);
  assert.equal(counters.packets - unreadable, packets.length, `${file}: packets counted`);
  assert.equal(
    events.length,
    expected.length,
    `${file}: events ${events.length} vs tcpdump DNS/DHCP packets ${expected.length}`,
  );
  events.forEach((e, i) => assertEventMatches(e, expected[i], `${file} event ${i}`));
  const malformed = Object.values(counters.malformed).reduce((a, b) => a + b, 0) - unreadable;
  assert.equal(
    malformed,
    packets.filter((p) => p.malformed).length,
    `${file}: malformed ${JSON.stringify(counters.malformed)}`,
  );
  assert.equal(counters.dns + counters.dhcp, events.length);
  return { events, counters, packets };
}
