/**
 * The events' bulk path: binary COPY made by the reading worker lands in a
 * real PostgreSQL exactly as the COPY text of the same rows does (NULLs,
 * IPv6 keys, escapes, non-ASCII, JSON answers, DHCP addresses as text,
 * an unparsable one), and values of the wrong type become NULL and are
 * counted instead of failing the batch.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openEventsDb } from "../../lib/sniffer/events_db.ts";
import { ipToKey } from "../../lib/sniffer/codec.ts";
import {
  encodeRows,
  eventBinaryPlan,
  eventEncoders,
  type LocalRow,
} from "../../lib/central/encode.ts";
import { EventBatchReader } from "../../lib/central/event_batches.ts";
import { BinaryCopyEncoder, BinaryKind } from "../../lib/central/copy_binary.ts";
import {
  CENTRAL_EVENT_COLUMNS,
  centralSection,
  connectCentral,
  migrateCentral,
} from "../../lib/central/mod.ts";
import type { CentralConfig } from "../../lib/central/config.ts";
import { postgresMissing, startPostgres } from "./_pg.ts";

const missing = postgresMissing();
if (missing) console.log(`SKIP: central binary COPY test: ${missing}`);

const T = 1_764_000_000_123_456; // 2025-11-24 16:00:00.123456 UTC

function fill(path: string): number {
  const db = openEventsDb(path);
  db.exec(
    `INSERT INTO flows (id, kind, client_mac, client_ip, server_ip, vendor, first_seen, last_seen)
     VALUES (1, 'dns', 0x3c22fb000001, 167772161, 167772170, 'Apple', 0, 0),
            (2, 'dhcp', NULL, 0, 0, '', 0, 0),
            (3, 'dns', 0xffffffffffff, 0, 0, 'Müller GmbH', 0, 0)`,
  );
  const v6 = ipToKey("2001:db8::1") as Uint8Array;
  const ins = db.prepare(
    `INSERT INTO events (time, kind, flow, to_client, src_mac, dst_mac, src_ip, dst_ip, src_port,
       dst_port, proto, vlan, trans_id, opcode, rcode, flags, query, qtype, qclass, answers,
       msg_type, dhcp_version, chaddr, client_addr, assigned_addr, host_name, lease_time)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const rows: unknown[][] = [
    [
      T,
      "dns",
      1,
      0,
      0x3c22fb000001,
      0x001122334455,
      167772161,
      167772170,
      40000,
      53,
      "udp",
      0,
      65535,
      0,
      0,
      5,
      "plain.example",
      1,
      1,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
    ],
    [
      T + 1,
      "dns",
      1,
      1,
      0x001122334455,
      0x3c22fb000001,
      v6,
      0,
      53,
      40000,
      "udp",
      4094,
      1,
      0,
      3,
      15,
      "tab\there\\back\nnl\rcr",
      28,
      1,
      '[["a.example",1,300,"192.0.2.1"]]',
      null,
      null,
      null,
      null,
      null,
      null,
      null,
    ],
    [
      T + 86_400_000_000,
      "dns",
      3,
      0,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      "ünïcödé.example 🎉",
      1,
      1,
      "[]",
      null,
      null,
      null,
      null,
      null,
      null,
      null,
    ],
    [
      T + 7,
      "dhcp",
      2,
      0,
      0x3c22fb000002,
      0xffffffffffff,
      0,
      0xffffffff,
      68,
      67,
      "udp",
      0,
      0xffffffff,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      "REQUEST",
      4,
      0x3c22fb000002,
      "10.0.0.9",
      "not an address",
      "host name",
      86400,
    ],
    [
      T + 8,
      "dhcp",
      2,
      1,
      null,
      null,
      null,
      null,
      null,
      null,
      "udp",
      null,
      1,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      "ADVERTISE",
      6,
      null,
      "2001:db8::9",
      "",
      "",
      0,
    ],
  ];
  for (const r of rows) ins.run(...(r as (number | string | null | Uint8Array)[]));
  db.close();
  return rows.length;
}

Deno.test({
  name: "central: binary COPY of events equals their COPY text in PostgreSQL",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vigia-central-enc-" });
    const pg = await startPostgres();
    const reader = new EventBatchReader(`${dir}/e.db`, eventBinaryPlan("s\t1"));
    const section = {
      ...Object.fromEntries(
        Object.entries(centralSection.fields).map((
          [k, f],
        ) => [k, (f as { default: unknown }).default]),
      ),
      url: pg.url,
      password_file: pg.passwordFile,
      tls: "disable",
    } as CentralConfig;
    const conn = connectCentral(section);
    try {
      const n = fill(`${dir}/e.db`);
      const sql = conn.sql;
      await migrateCentral(sql);
      await sql`SELECT vigia.ensure_event_partitions('2025-11-24'::date, '2025-11-25'::date)`;
      await sql`CREATE TABLE vigia.events_text (LIKE vigia.events)`;
      const cols = CENTRAL_EVENT_COLUMNS.map((c) => c.name).join(", ");

      const batch = await reader.read(0, 100);
      assert.equal(batch.n, n);
      assert.equal(batch.last, n);
      assert.equal(batch.lastTime, T + 8);
      assert.deepEqual(batch.days.sort(), [20416, 20417]);
      // One unparsable text address: NULL and counted, as the text path makes it.
      assert.equal(batch.invalid, 1);
      const local = new DatabaseSync(`${dir}/e.db`, { readOnly: true });
      const rows = local.prepare(
        `SELECT e.*, f.client_mac, f.vendor FROM events e JOIN flows f ON f.id = e.flow ORDER BY e.id`,
      ).all() as LocalRow[];
      local.close();
      const text = encodeRows(rows, eventEncoders("s\t1"));

      await sql.begin(async (tx) => {
        const bin = await tx.unsafe(`COPY vigia.events (${cols}) FROM STDIN (FORMAT binary)`)
          .writable();
        await new Promise<void>((resolve, reject) => {
          bin.on("finish", resolve).on("error", reject);
          bin.write(batch.bytes);
          bin.end();
        });
        const txt = await tx.unsafe(`COPY vigia.events_text (${cols}) FROM STDIN`).writable();
        await new Promise<void>((resolve, reject) => {
          txt.on("finish", resolve).on("error", reject);
          txt.write(text);
          txt.end();
        });
      });
      const [c] = await sql`SELECT
          (SELECT count(*) FROM vigia.events)::int AS bin,
          (SELECT count(*) FROM vigia.events_text)::int AS txt,
          (SELECT count(*) FROM (SELECT * FROM vigia.events EXCEPT ALL
            SELECT * FROM vigia.events_text) x)::int AS only_bin,
          (SELECT count(*) FROM (SELECT * FROM vigia.events_text EXCEPT ALL
            SELECT * FROM vigia.events) x)::int AS only_txt`;
      assert.deepEqual(c, { bin: n, txt: n, only_bin: 0, only_txt: 0 });
      const got = await sql`SELECT local_id, sensor, query, src_ip::text AS ip, mac::text AS mac,
          vendor, host_name, assigned_addr::text AS assigned, client_addr::text AS client,
          trans_id, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS t
        FROM vigia.events ORDER BY local_id`;
      assert.equal(got[0].sensor, "s\t1");
      assert.equal(got[0].t, "2025-11-24 16:00:00.123456");
      assert.equal(got[0].mac, "3c:22:fb:00:00:01");
      assert.equal(got[1].query, "tab\there\\back\nnl\rcr");
      assert.equal(got[1].ip, "2001:db8::1/128");
      assert.equal(got[2].query, "ünïcödé.example 🎉");
      assert.equal(got[2].vendor, "Müller GmbH");
      assert.equal(got[3].host_name, "host name");
      assert.equal(got[3].assigned, null);
      assert.equal(got[3].client, "10.0.0.9/32");
      assert.equal(got[3].trans_id, 0xffffffff);
      assert.equal(got[3].mac, null);
      assert.equal(got[4].client, "2001:db8::9/128");

      // Read again from a position: only what is after it.
      const rest = await reader.read(3, 100);
      assert.equal(rest.n, 2);
      assert.equal((await reader.read(n, 100)).n, 0);
    } finally {
      reader.close();
      await conn.close();
      await pg.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("central: a value not of its column's type is NULL and counted", () => {
  const enc = new BinaryCopyEncoder([
    { kind: BinaryKind.constant, value: "s" },
    { kind: BinaryKind.int4 },
    { kind: BinaryKind.int2 },
    { kind: BinaryKind.mac48 },
    { kind: BinaryKind.ip },
    { kind: BinaryKind.text },
  ], 64);
  enc.row(["x", 70_000, -1, new Uint8Array(3), null]);
  enc.row([7, 7, 0x3c22fb000001, 0x0a000001, "a\0bé"]);
  assert.equal(enc.rows, 2);
  assert.equal(enc.invalid, 4);
  const bytes = enc.take();
  const dv = new DataView(bytes.buffer);
  // Header 19 bytes; row 1: field count, "s", then five NULLs.
  assert.equal(dv.getInt16(19), 6);
  assert.equal(dv.getInt32(21), 1);
  for (let i = 0; i < 5; i++) assert.equal(dv.getInt32(26 + i * 4), -1);
  // Row 2 starts after 2 + 5 + 20 bytes; its int4 is 7.
  let p = 46;
  assert.equal(dv.getInt16(p), 6);
  assert.equal(dv.getInt32(p + 7), 4);
  assert.equal(dv.getInt32(p + 11), 7);
  p += 2 + 5 + 8 + 6 + 10 + 12;
  // The text without its NUL, in UTF-8.
  assert.equal(dv.getInt32(p), 4);
  assert.deepEqual([...bytes.subarray(p + 4, p + 8)], [0x61, 0x62, 0xc3, 0xa9]);
  assert.equal(dv.getInt16(bytes.length - 2), -1);
  assert.equal(enc.take().length, 21, "take starts over: header and trailer only");
});
