/**
 * The sniffer's tables.
 *
 * The high-volume tables, `events` and `flows`, live in their own SQLite
 * file, `vigia-events.db` beside the shared store (`events_db.ts`), written
 * only by the event writer worker. SQLite allows one writer per file at a
 * time and has no fairness between waiting writers: a worker storing 150k
 * rows/s in the shared file would hold its lock nearly all the time and
 * starve every other writer of the daemon (alerts, zones, scans) until their
 * busy timeout. Devices and deny lists stay in the shared store.
 *
 * `events` holds one row per DNS or DHCP message. Times are microseconds
 * since the epoch; MACs are 48-bit integers and IPs integers (IPv4) or
 * 16-byte blobs (IPv6), see `codec.ts`; the `events_readable` view shows
 * them as text. `to_client` says which side is the client: 0 for a query or
 * a DHCP client message, 1 for an answer or a DHCP server message.
 *
 * Every event belongs to a **flow**: its kind, client MAC (the DHCP chaddr
 * when there is one), client IP and server IP. The `flows` table is small
 * (a LAN has a few thousand) and indexed on each of those; `events` has
 * only `(time)`, `(flow, time)` and a partial `(time)` for the rare DHCP
 * rows. Each index costs about two microseconds per inserted row on this
 * class of machine and the sniffer must store 150k rows/s, so the filters
 * of `ctl logs` (MAC, IP, vendor, kind) are resolved on `flows` first and
 * the events are then read per flow in time order (see `queries.ts`).
 *
 * `devices` holds one row per MAC seen as a source (or as a DHCP client):
 * maker, first/last seen, recent IPs and host names, message counts.
 * `deny_dns` and `deny_macs` are the deny lists edited with `ctl deny`
 * (merged with the config's lists at run time).
 *
 * @module
 */

import type { Migration } from "../store/mod.ts";
import { CAPTURES_SQL } from "./captures.ts";
import {
  type DhcpColumnName,
  type DnsColumnName,
  EVENT_COLUMNS,
  type EventColumn,
  rowColumns,
} from "./fields.ts";

/** A slot of a `K` row (branded, so a DNS slot cannot index a DHCP row). */
export type Slot<K extends "dns" | "dhcp"> = number & { readonly __row: K };

/** Slots of a row: one per bound column of the kind, then the row-only `vendor`. */
export type RowSlots<K extends "dns" | "dhcp", N extends string> = {
  readonly [C in N | "vendor"]: Slot<K>;
};

function slotsOf<K extends "dns" | "dhcp", N extends string>(kind: K): RowSlots<K, N> {
  const out: Record<string, number> = {};
  const cols = rowColumns(kind);
  cols.forEach((c, i) => (out[c.name] = i));
  // The client's maker travels with the row for the writer, which files it on the flow.
  out.vendor = cols.length;
  return Object.freeze(out) as RowSlots<K, N>;
}

/** Slots of a DNS row (`vendor` is the last, not a column). */
export const DNS_ROW: RowSlots<"dns", DnsColumnName> = slotsOf("dns");
/** Slots of a DHCP row. */
export const DHCP_ROW: RowSlots<"dhcp", DhcpColumnName> = slotsOf("dhcp");
/** Values per DNS row (its columns and the vendor). */
export const DNS_ROW_WIDTH: number = rowColumns("dns").length + 1;
/** Values per DHCP row. */
export const DHCP_ROW_WIDTH: number = rowColumns("dhcp").length + 1;

/** DNS header flag bits as stored in `events.flags`. */
export const FLAG_AA = 1, FLAG_TC = 2, FLAG_RD = 4, FLAG_RA = 8;

/**
 * `INSERT` of `rows` rows of `kind` in one statement (multi-row VALUES
 * amortise the per-call cost); the parameters are each row's columns in
 * row order (the vendor slot is not bound).
 */
export function insertSql(kind: "dns" | "dhcp", rows = 1): string {
  const cols = rowColumns(kind).map((c) => c.name);
  const one = `('${kind}',${cols.map(() => "?").join(",")})`;
  return `INSERT INTO events (kind,${cols.join(",")}) VALUES ${Array(rows).fill(one).join(",")}`;
}

const macText = (c: string) =>
  `CASE WHEN ${c} IS NULL THEN NULL ELSE printf('%02x:%02x:%02x:%02x:%02x:%02x', (${c} >> 40) & 255, (${c} >> 32) & 255, (${c} >> 24) & 255, (${c} >> 16) & 255, (${c} >> 8) & 255, ${c} & 255) END`;
const ipText = (c: string) =>
  `CASE typeof(${c}) WHEN 'integer' THEN ((${c} >> 24) & 255) || '.' || ((${c} >> 16) & 255) || '.' || ((${c} >> 8) & 255) || '.' || (${c} & 255) WHEN 'blob' THEN lower(hex(${c})) END`;

function readable(c: EventColumn): string {
  if (c.name === "flow") return "f.vendor";
  if (c.name === "time") {
    return "strftime('%Y-%m-%dT%H:%M:%f', e.time / 1000000.0, 'unixepoch') || 'Z' AS time_utc";
  }
  if (c.storage === "mac48") return `${macText(`e.${c.name}`)} AS ${c.name}`;
  if (c.storage === "ip") return `${ipText(`e.${c.name}`)} AS ${c.name}`;
  return `e.${c.name}`;
}

/** The `events_readable` view: every column of `version`'s table as text. */
function readableView(version: number): string {
  const cols = EVENT_COLUMNS.filter((c) => c.since <= version);
  return `CREATE VIEW events_readable AS SELECT
      ${macText("f.client_mac")} AS client_mac, ${cols.map(readable).join(", ")}
    FROM events e JOIN flows f ON f.id = e.flow;`;
}

/** Tables a version adds besides its columns. */
const TABLES_ADDED: Record<number, string> = {
  // Provenance of ingested files (see captures.ts).
  2: CAPTURES_SQL,
};

/** Versions of the events database; version N adds the columns declared `since: N`. */
const EVENTS_VERSION = Math.max(...EVENT_COLUMNS.map((c) => c.since));

function eventsMigration(version: number): Migration {
  const added = EVENT_COLUMNS.filter((c) => c.since === version);
  if (version === 1) {
    return {
      version,
      sql: `
    -- One row per (kind, client MAC, client IP, server IP): what the queries filter on.
    CREATE TABLE flows (
      id INTEGER PRIMARY KEY,
      kind TEXT NOT NULL,              -- 'dns' | 'dhcp'
      client_mac INTEGER,              -- 48-bit integer (DHCP: chaddr); NULL without a link MAC
      client_ip NUMERIC,               -- IPv4 integer or IPv6 16-byte blob
      server_ip NUMERIC,
      vendor TEXT NOT NULL,            -- maker of client_mac (IEEE OUI) or a label
      events INTEGER NOT NULL DEFAULT 0,  -- rows written (not lowered by pruning)
      first_seen INTEGER NOT NULL,     -- microseconds since the epoch
      last_seen INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX flows_key ON flows (kind, ifnull(client_mac, -1), client_ip, server_ip);
    CREATE INDEX flows_client_mac ON flows (client_mac);
    CREATE INDEX flows_client_ip ON flows (client_ip);
    CREATE INDEX flows_server_ip ON flows (server_ip);
    CREATE INDEX flows_vendor ON flows (vendor, client_mac);

    -- Columns declared in fields.ts (EVENT_COLUMNS).
    CREATE TABLE events (
      ${added.map((c) => `${c.name} ${c.sql}`).join(",\n      ")}
    );
    CREATE INDEX events_time ON events (time);
    CREATE INDEX events_flow ON events (flow, time);
    CREATE INDEX events_dhcp_time ON events (time) WHERE kind = 'dhcp';
    ${readableView(1)}
  `,
    };
  }
  return {
    version,
    sql: `${added.map((c) => `ALTER TABLE events ADD COLUMN ${c.name} ${c.sql};`).join("\n")}
    ${TABLES_ADDED[version] ?? ""}
    DROP VIEW events_readable;
    ${readableView(version)}`,
  };
}

/**
 * Migrations of the events database (`vigia-events.db` beside the store):
 * the flows and events tables, written only by the event writer worker.
 * Generated from {@linkcode EVENT_COLUMNS}: version 1 creates the tables,
 * each later version adds the columns declared with its number.
 */
export const eventMigrations: Migration[] = Array.from(
  { length: EVENTS_VERSION },
  (_, i) => eventsMigration(i + 1),
);

/** Migrations of the sniffer's tables in the shared store: devices and deny lists. */
export const snifferMigrations: Migration[] = [{
  version: 1,
  sql: `
    CREATE TABLE devices (
      mac INTEGER PRIMARY KEY,         -- 48-bit integer
      vendor TEXT NOT NULL,
      first_seen INTEGER NOT NULL,     -- microseconds since the epoch
      last_seen INTEGER NOT NULL,
      ips TEXT NOT NULL DEFAULT '',    -- recent addresses, newest first, comma separated
      host_names TEXT NOT NULL DEFAULT '',
      client_software TEXT NOT NULL DEFAULT '',
      dns_count INTEGER NOT NULL DEFAULT 0,
      dhcp_count INTEGER NOT NULL DEFAULT 0,
      vlan INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX devices_vendor ON devices (vendor, mac);

    CREATE TABLE deny_dns (
      value TEXT PRIMARY KEY,          -- normalised IP or CIDR
      added_at INTEGER NOT NULL        -- ms since the epoch
    );
    CREATE TABLE deny_macs (
      mac TEXT PRIMARY KEY,            -- aa:bb:cc:dd:ee:ff
      added_at INTEGER NOT NULL
    );
  `,
}];

/** Upsert of one device: first/last seen merge, counts add up (so two writers never lose counts). */
export const DEVICE_UPSERT_SQL = `
  INSERT INTO devices (mac, vendor, first_seen, last_seen, ips, host_names, client_software,
    dns_count, dhcp_count, vlan)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (mac) DO UPDATE SET
    vendor = excluded.vendor,
    first_seen = min(first_seen, excluded.first_seen),
    ips = CASE WHEN excluded.last_seen >= last_seen AND excluded.ips <> '' THEN excluded.ips ELSE ips END,
    host_names = CASE WHEN excluded.host_names <> '' THEN excluded.host_names ELSE host_names END,
    client_software = CASE WHEN excluded.client_software <> '' THEN excluded.client_software
      ELSE client_software END,
    vlan = CASE WHEN excluded.last_seen >= last_seen THEN excluded.vlan ELSE vlan END,
    last_seen = max(last_seen, excluded.last_seen),
    dns_count = dns_count + excluded.dns_count,
    dhcp_count = dhcp_count + excluded.dhcp_count`;
