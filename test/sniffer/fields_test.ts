import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  DEVICE_FIELDS,
  DHCP_FIELDS,
  DNS_FIELDS,
  EVENT_COLUMNS,
  fieldTablesMarkdown,
  rowColumns,
} from "../../lib/sniffer/fields.ts";
import { migrateEventsDb } from "../../lib/sniffer/events_db.ts";
import {
  DHCP_ROW,
  DHCP_ROW_WIDTH,
  DNS_ROW,
  DNS_ROW_WIDTH,
  insertSql,
} from "../../lib/sniffer/schema.ts";
import { BEGIN, END, withFieldTables } from "../../scripts/gen_fields_doc.ts";

/** Markdown tables compared cell by cell (deno fmt pads them). */
function normalise(md: string): string {
  return md.split("\n").map((l) =>
    l.startsWith("|") ? l.split("|").map((c) => c.trim().replace(/^-+$/, "-")).join("|") : l.trim()
  ).filter((l) => l !== "").join("\n");
}

Deno.test("fields: the README field tables are the ones generated from fields.ts", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const part = (s: string) => s.slice(s.indexOf(BEGIN), s.indexOf(END));
  assert.equal(
    normalise(part(readme)),
    normalise(part(withFieldTables(readme))),
    "README.md field tables are stale: run deno run -A scripts/gen_fields_doc.ts",
  );
  assert.match(fieldTablesMarkdown(), /\| `qtype_name` \| `qtype_name` \|/);
});

Deno.test("fields: the migrated events table has exactly the declared columns, in order", () => {
  const db = new DatabaseSync(":memory:");
  try {
    migrateEventsDb(db);
    const cols = db.prepare("PRAGMA table_info(events)").all() as { name: string }[];
    assert.deepEqual(cols.map((c) => c.name), EVENT_COLUMNS.map((c) => c.name));
    // Migrating again changes nothing; the readable view names every column.
    assert.equal(migrateEventsDb(db), Math.max(...EVENT_COLUMNS.map((c) => c.since)));
    const view = db.prepare("PRAGMA table_info(events_readable)").all() as { name: string }[];
    assert.ok(view.some((c) => c.name === "time_utc") && view.some((c) => c.name === "chaddr"));
  } finally {
    db.close();
  }
});

Deno.test("fields: every field names a stored column; rows, slots and inserts agree", () => {
  const names = new Set<string>(EVENT_COLUMNS.map((c) => c.name));
  for (const f of [...DNS_FIELDS, ...DHCP_FIELDS]) {
    assert.ok(
      names.has(f.column) || f.column === "flows.client_mac" || f.column === "flows.vendor",
      `${f.name}: column ${f.column}`,
    );
    assert.ok(f.doc.length > 0 && f.pg.length > 0 && f.zeek.length > 0, f.name);
  }
  for (const f of DEVICE_FIELDS) assert.ok(f.doc.length > 0, f.name);
  for (
    const [kind, slots, width] of [
      ["dns", DNS_ROW, DNS_ROW_WIDTH],
      ["dhcp", DHCP_ROW, DHCP_ROW_WIDTH],
    ] as const
  ) {
    const cols = rowColumns(kind).map((c) => c.name);
    const bySlot = Object.entries(slots).sort((a, b) => a[1] - b[1]).map(([n]) => n);
    assert.deepEqual(bySlot, [...cols, "vendor"], kind);
    assert.equal(width, cols.length + 1);
    const sql = insertSql(kind, 2);
    assert.equal(sql.split("?").length - 1, 2 * cols.length, kind);
    assert.ok(sql.startsWith(`INSERT INTO events (kind,${cols.join(",")}) VALUES ('${kind}',`));
  }
  assert.ok(!rowColumns("dns").some((c) => c.name === "chaddr" || c.name === "id"));
});
