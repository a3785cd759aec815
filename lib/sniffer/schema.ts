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

/** Columns every packet row starts with. */
const PACKET_COLUMNS = [
  "time",
  "to_client",
  "src_mac",
  "dst_mac",
  "src_ip",
  "dst_ip",
  "src_port",
  "dst_port",
  "proto",
  "vlan",
  "flow",
] as const;

/**
 * Columns of a DNS row, in insert order (the `kind` is a literal). The
 * pipeline puts the client's maker in the `flow` slot; the writer replaces
 * it with the flow id (see `flows.ts`).
 */
export const DNS_COLUMNS = [
  ...PACKET_COLUMNS,
  "trans_id",
  "opcode",
  "rcode",
  "flags",
  "query",
  "qtype",
  "qclass",
  "answers",
] as const;

/** DHCP columns filled from the message's fields and options, named as in the daily log. */
export const DHCP_FIELD_COLUMNS = [
  "client_addr",
  "assigned_addr",
  "next_server",
  "relay_addr",
  "requested_addr",
  "host_name",
  "client_software",
  "client_id",
  "server_addr",
  "lease_time",
  "param_list",
  "circuit_id",
  "agent_remote_id",
  "duid",
  "server_duid",
] as const;

/** Columns of a DHCP row, in insert order (`flow` as for DNS). */
export const DHCP_COLUMNS = [
  ...PACKET_COLUMNS,
  "trans_id",
  "msg_type",
  "dhcp_version",
  "chaddr",
  ...DHCP_FIELD_COLUMNS,
] as const;

/** Position of the `flow` value in a row (the same for both kinds). */
export const FLOW_SLOT = 10;
/** Position of `chaddr` in a DHCP row. */
export const CHADDR_SLOT = 14;

/** DNS header flag bits as stored in `events.flags`. */
export const FLAG_AA = 1, FLAG_TC = 2, FLAG_RD = 4, FLAG_RA = 8;

/** `INSERT` of `rows` DNS rows in one statement (multi-row VALUES amortise the per-call cost). */
export function dnsInsertSql(rows = 1): string {
  const one = `('dns',${DNS_COLUMNS.map(() => "?").join(",")})`;
  return `INSERT INTO events (kind,${DNS_COLUMNS.join(",")}) VALUES ${
    Array(rows).fill(one).join(",")
  }`;
}

/** `INSERT` of one DHCP row. */
export function dhcpInsertSql(): string {
  return `INSERT INTO events (kind,${DHCP_COLUMNS.join(",")}) VALUES ('dhcp',${
    DHCP_COLUMNS.map(() => "?").join(",")
  })`;
}

const macText = (c: string) =>
  `CASE WHEN ${c} IS NULL THEN NULL ELSE printf('%02x:%02x:%02x:%02x:%02x:%02x', (${c} >> 40) & 255, (${c} >> 32) & 255, (${c} >> 24) & 255, (${c} >> 16) & 255, (${c} >> 8) & 255, ${c} & 255) END`;
const ipText = (c: string) =>
  `CASE typeof(${c}) WHEN 'integer' THEN ((${c} >> 24) & 255) || '.' || ((${c} >> 16) & 255) || '.' || ((${c} >> 8) & 255) || '.' || (${c} & 255) WHEN 'blob' THEN lower(hex(${c})) END`;

/**
 * Migrations of the events database (`vigia-events.db` beside the store):
 * the flows and events tables, written only by the event writer worker.
 */
export const eventMigrations: Migration[] = [{
  version: 1,
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

    CREATE TABLE events (
      id INTEGER PRIMARY KEY,
      time INTEGER NOT NULL,           -- microseconds since the epoch
      kind TEXT NOT NULL,              -- 'dns' | 'dhcp'
      flow INTEGER NOT NULL,           -- flows.id
      to_client INTEGER NOT NULL,      -- 0 sent by the client (query, DHCP client message), 1 sent to it
      src_mac INTEGER,                 -- 48-bit integer; NULL when the link has no MAC
      dst_mac INTEGER,
      src_ip NUMERIC,                  -- IPv4 integer or IPv6 16-byte blob (NUMERIC: bound
      dst_ip NUMERIC,                  --   JS numbers arrive as REAL and are stored as integers)
      src_port INTEGER,
      dst_port INTEGER,
      proto TEXT,                      -- 'udp' | 'tcp'
      vlan INTEGER,                    -- outer 802.1Q id, 0 untagged
      trans_id INTEGER,                -- DNS id / DHCP xid
      -- DNS (Zeek dns.log names)
      opcode INTEGER,
      rcode INTEGER,
      flags INTEGER,                   -- AA 1, TC 2, RD 4, RA 8
      query TEXT,
      qtype INTEGER,
      qclass INTEGER,
      answers TEXT,                    -- JSON [[name, type, ttl, data], ...]
      -- DHCP (Zeek dhcp.log names)
      msg_type TEXT,
      dhcp_version INTEGER,
      chaddr INTEGER,                  -- client hardware address (v6: from the DUID)
      client_addr TEXT,
      assigned_addr TEXT,
      next_server TEXT,
      relay_addr TEXT,
      requested_addr TEXT,
      host_name TEXT,
      client_software TEXT,            -- option 60 vendor class
      client_id TEXT,
      server_addr TEXT,                -- option 54 server identifier
      lease_time INTEGER,
      param_list TEXT,
      circuit_id TEXT,
      agent_remote_id TEXT,
      duid TEXT,
      server_duid TEXT
    );
    CREATE INDEX events_time ON events (time);
    CREATE INDEX events_flow ON events (flow, time);
    CREATE INDEX events_dhcp_time ON events (time) WHERE kind = 'dhcp';

    CREATE VIEW events_readable AS SELECT
      e.id,
      strftime('%Y-%m-%dT%H:%M:%f', e.time / 1000000.0, 'unixepoch') || 'Z' AS time_utc,
      e.kind, e.to_client,
      ${macText("f.client_mac")} AS client_mac, f.vendor,
      ${macText("e.src_mac")} AS src_mac, ${macText("e.dst_mac")} AS dst_mac,
      ${ipText("e.src_ip")} AS src_ip, e.src_port, ${ipText("e.dst_ip")} AS dst_ip, e.dst_port,
      e.proto, e.vlan, e.trans_id, e.opcode, e.rcode, e.flags, e.query, e.qtype, e.qclass,
      e.answers, e.msg_type, e.dhcp_version, ${macText("e.chaddr")} AS chaddr, e.client_addr,
      e.assigned_addr, e.next_server, e.relay_addr, e.requested_addr, e.host_name,
      e.client_software, e.client_id, e.server_addr, e.lease_time, e.param_list, e.circuit_id,
      e.agent_remote_id, e.duid, e.server_duid
    FROM events e JOIN flows f ON f.id = e.flow;
  `,
}];

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
