/**
 * The central schema `vigia`: a documented product for psql and Grafana
 * users, created and migrated by `vigia central init` (or the daemon with
 * `auto_migrate`). Versioned in `vigia.schema_version`; a database whose
 * schema is newer than this program is refused with a clear message.
 *
 * `vigia.events` is generated from the event's one definition
 * (`lib/sniffer/fields.ts`): every stored column of the local `events`
 * table, with times as `timestamptz`, MACs as `macaddr`, IPs as `inet`,
 * the answers as `jsonb`, plus `sensor`, `local_id` (the sensor's own row
 * id) and the client station's `mac` and `vendor` (the local flow's). It is
 * range-partitioned by UTC day (`vigia.events_YYYYMMDD`); partitions are
 * made ahead of time and dropped by `retention_days`. Its unique key is
 * `(time, sensor, local_id)`: a partitioned table's unique index must hold
 * the partition key, and leading with time keeps inserts appending and
 * serves "newest first" too.
 *
 * @module
 */

import { DHCP_FIELDS, DNS_FIELDS, EVENT_COLUMNS, type EventColumn } from "../sniffer/mod.ts";
import type { Sql, TxSql } from "./connect.ts";

/** Schema version this program writes and understands. */
export const CENTRAL_SCHEMA_VERSION = 2;

/** One column of `vigia.events`. */
export interface CentralEventColumn {
  /** Column name. */
  name: string;
  /** PostgreSQL type. */
  pg: string;
  /** The local column it comes from (undefined: `sensor`, `local_id`, `mac`, `vendor`). */
  local?: EventColumn;
  /** One line of description. */
  doc: string;
}

const FIELD_PG = new Map<string, string>();
for (const f of [...DNS_FIELDS, ...DHCP_FIELDS]) {
  if (f.name !== f.column) continue;
  const seen = FIELD_PG.get(f.name);
  // One column can carry a field of each kind (trans_id: 16 bits in DNS, 32 in DHCP): take the wider.
  if (!seen || (seen === "integer" && f.pg === "bigint")) FIELD_PG.set(f.name, f.pg);
}

function pgTypeOf(c: EventColumn): string {
  switch (c.storage) {
    case "us":
      return "timestamptz";
    case "mac48":
      return "macaddr";
    case "ip":
      return "inet";
    case "bool":
      return "boolean";
    case "json":
      return "jsonb";
    case "bits":
      return "smallint";
  }
  return FIELD_PG.get(c.name) ?? (c.storage === "int" ? "bigint" : "text");
}

/** The columns of `vigia.events`, in table (and COPY) order. */
export const CENTRAL_EVENT_COLUMNS: readonly CentralEventColumn[] = (() => {
  const out: CentralEventColumn[] = [
    { name: "sensor", pg: "text NOT NULL", doc: "the sensor that captured it" },
    { name: "local_id", pg: "bigint NOT NULL", doc: "its row id in the sensor's store" },
  ];
  for (const c of EVENT_COLUMNS) {
    if (c.name === "id" || c.name === "flow") continue;
    out.push({
      name: c.name,
      pg: pgTypeOf(c) + (c.name === "time" || c.name === "kind" ? " NOT NULL" : ""),
      local: c,
      doc: c.name === "answers" ? "answer records: [[name, type, ttl, data], ...]" : c.doc,
    });
    if (c.name === "kind") {
      out.push({ name: "mac", pg: "macaddr", doc: "the client station's MAC (DHCP: chaddr)" });
      out.push({ name: "vendor", pg: "text", doc: "maker of `mac` (IEEE OUI) or a label" });
    }
  }
  return out;
})();

const eventsTable = `CREATE TABLE vigia.events (
  ${CENTRAL_EVENT_COLUMNS.map((c) => `${c.name} ${c.pg}`).join(",\n  ")}
) PARTITION BY RANGE (time)`;

/** The steps of the schema; step N brings a database to version N. */
const MIGRATIONS: Record<number, string> = {
  1: `
CREATE TABLE vigia.sensors (
  name text PRIMARY KEY,
  holder text,                 -- the daemon shipping as this sensor now (host, pid, start)
  holder_pid integer,          -- its backend pid: a holder whose session is gone is stale
  lease_until timestamptz,     -- and one whose lease ran out
  version text,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE vigia.shipping (
  sensor text NOT NULL REFERENCES vigia.sensors ON DELETE CASCADE,
  stream text NOT NULL,        -- events, devices, alerts, scans, veridns_events
  position bigint NOT NULL DEFAULT 0,   -- last local id shipped (committed with the rows)
  position_time bigint,        -- that row's local time: tells a reused id from the row shipped
  rows_shipped bigint NOT NULL DEFAULT 0,
  backlog bigint NOT NULL DEFAULT 0,    -- local rows waiting, as the sensor last saw it
  last_ship timestamptz,
  last_error text,
  PRIMARY KEY (sensor, stream)
);
${eventsTable};
CREATE UNIQUE INDEX events_key ON vigia.events (time, sensor, local_id);
CREATE INDEX events_mac ON vigia.events (mac, time);
CREATE INDEX events_src_ip ON vigia.events (src_ip, time);
CREATE INDEX events_dst_ip ON vigia.events (dst_ip, time);

CREATE TABLE vigia.devices (
  sensor text NOT NULL,
  mac macaddr NOT NULL,
  vendor text NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  ips text NOT NULL,
  host_names text NOT NULL,
  client_software text NOT NULL,
  dns bigint NOT NULL,
  dhcp bigint NOT NULL,
  vlan integer NOT NULL,
  PRIMARY KEY (sensor, mac)
);
CREATE INDEX devices_mac ON vigia.devices (mac);

CREATE TABLE vigia.alerts (
  sensor text NOT NULL,
  local_id bigint NOT NULL,
  time timestamptz NOT NULL,
  raised_at timestamptz NOT NULL,
  kind text NOT NULL,
  severity text NOT NULL,
  subject text NOT NULL,
  details jsonb NOT NULL,
  repeats integer NOT NULL,
  PRIMARY KEY (sensor, local_id)
);
CREATE INDEX alerts_time ON vigia.alerts (time);
CREATE INDEX alerts_kind_time ON vigia.alerts (kind, time);

CREATE TABLE vigia.scans (
  sensor text NOT NULL,
  local_id bigint NOT NULL,
  domain text NOT NULL,
  time timestamptz NOT NULL,
  duration_ms integer NOT NULL,
  resolved boolean NOT NULL,
  addresses integer NOT NULL,
  a_records integer NOT NULL,
  ranges integer NOT NULL,
  asns integer NOT NULL,
  countries integer NOT NULL,
  cities integer NOT NULL,
  ttl integer,
  name_servers integer NOT NULL,
  flux text NOT NULL,
  modified_holz double precision NOT NULL,
  jaroslaw_patrycja double precision NOT NULL,
  worst text,
  findings text NOT NULL,
  changes jsonb NOT NULL,
  result jsonb NOT NULL,
  PRIMARY KEY (sensor, local_id)
);
CREATE INDEX scans_domain_time ON vigia.scans (domain, time);

CREATE TABLE vigia.veridns_events (
  sensor text NOT NULL,
  local_id bigint NOT NULL,
  time timestamptz NOT NULL,
  client text NOT NULL,
  domain text NOT NULL,
  reported text NOT NULL,
  malicious text NOT NULL,
  verified boolean NOT NULL,
  decision text NOT NULL,
  answered text NOT NULL,
  failed text NOT NULL,
  PRIMARY KEY (sensor, local_id)
);
CREATE INDEX veridns_events_time ON vigia.veridns_events (time);
CREATE INDEX veridns_events_domain ON vigia.veridns_events (domain, time);

-- Day partitions of vigia.events (UTC days), made ahead by every sensor.
CREATE FUNCTION vigia.ensure_event_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  d date := first_day;
  made integer := 0;
  name text;
BEGIN
  WHILE d <= last_day LOOP
    name := 'events_' || to_char(d, 'YYYYMMDD');
    IF to_regclass('vigia.' || name) IS NULL THEN
      -- Sensors race to make the same day: one at a time.
      PERFORM pg_advisory_xact_lock(hashtext('vigia.events partitions'));
      IF to_regclass('vigia.' || name) IS NULL THEN
        EXECUTE format('CREATE TABLE vigia.%I PARTITION OF vigia.events FOR VALUES FROM (%L) TO (%L)',
          name, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
        made := made + 1;
      END IF;
    END IF;
    d := d + 1;
  END LOOP;
  RETURN made;
END $$;

-- Drops the day partitions wholly older than keep_days (retention_days).
CREATE FUNCTION vigia.drop_event_partitions(keep_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  part record;
  dropped integer := 0;
  cutoff date := (now() AT TIME ZONE 'UTC')::date - keep_days;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('vigia.events partitions'));
  FOR part IN
    SELECT c.relname FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_class p ON p.oid = i.inhparent
      JOIN pg_namespace n ON n.oid = p.relnamespace
    WHERE n.nspname = 'vigia' AND p.relname = 'events' AND c.relname ~ '^events_[0-9]{8}$'
  LOOP
    IF to_date(substr(part.relname, 8), 'YYYYMMDD') < cutoff THEN
      EXECUTE format('DROP TABLE vigia.%I', part.relname);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END $$;
`,
  // The last error with its time (kept after the shipper recovered: last_ship tells), rows
  // PostgreSQL refused (kept in the sensor's quarantine) and rows a disk bound deleted unshipped.
  2: `
ALTER TABLE vigia.shipping
  ADD COLUMN last_error_at timestamptz,
  ADD COLUMN rows_quarantined bigint NOT NULL DEFAULT 0,
  ADD COLUMN rows_lost bigint NOT NULL DEFAULT 0;
`,
};

/** Thrown when the database holds a schema newer than this program. */
export class SchemaTooNew extends Error {
  /** An error naming the version found. */
  constructor(found: number) {
    super(
      `the central schema is version ${found}, newer than this vigia understands (${CENTRAL_SCHEMA_VERSION}): upgrade vigia on this sensor`,
    );
    this.name = "SchemaTooNew";
  }
}

/** Thrown when the schema is missing or older and the caller may not migrate. */
export class SchemaMissing extends Error {
  /** An error naming the version found (0: none). */
  constructor(found: number) {
    super(
      found === 0
        ? "the central database has no vigia schema: run vigia central init (or set central.auto_migrate = true)"
        : `the central schema is version ${found}, older than this vigia (${CENTRAL_SCHEMA_VERSION}): run vigia central init`,
    );
    this.name = "SchemaMissing";
  }
}

/** The schema version of the database (0: none). */
export async function schemaVersion(sql: Sql | TxSql): Promise<number> {
  const [t] = await sql`SELECT to_regclass('vigia.schema_version') IS NOT NULL AS present`;
  if (!t.present) return 0;
  const [row] = await sql`SELECT max(version)::int AS v FROM vigia.schema_version`;
  return row?.v ?? 0;
}

/** Throws unless the database holds exactly this program's schema version. */
export async function requireSchema(sql: Sql): Promise<void> {
  const v = await schemaVersion(sql);
  if (v > CENTRAL_SCHEMA_VERSION) throw new SchemaTooNew(v);
  if (v < CENTRAL_SCHEMA_VERSION) throw new SchemaMissing(v);
}

/** What {@linkcode migrateCentral} did. */
export interface MigrateResult {
  /** Version found. */
  from: number;
  /** Version reached. */
  to: number;
}

/**
 * Creates or migrates the schema to {@linkcode CENTRAL_SCHEMA_VERSION}, one
 * transaction for all steps under an advisory lock (two sensors migrating at
 * once take turns); refuses a newer schema. Idempotent.
 */
export async function migrateCentral(sql: Sql, program = "vigia"): Promise<MigrateResult> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext('vigia.schema'))`;
    await tx`CREATE SCHEMA IF NOT EXISTS vigia`;
    await tx`CREATE TABLE IF NOT EXISTS vigia.schema_version (
      version integer PRIMARY KEY, program text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`;
    const from = await schemaVersion(tx);
    if (from > CENTRAL_SCHEMA_VERSION) throw new SchemaTooNew(from);
    for (let v = from + 1; v <= CENTRAL_SCHEMA_VERSION; v++) {
      await tx.unsafe(MIGRATIONS[v]);
      await tx`INSERT INTO vigia.schema_version (version, program) VALUES (${v}, ${program})`;
    }
    return { from, to: CENTRAL_SCHEMA_VERSION };
  }) as MigrateResult;
}

/** The UTC day (YYYY-MM-DD) of a time in ms. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Makes the day partitions from `firstMs` to `lastMs` (inclusive days); returns how many were new. */
export async function ensurePartitions(sql: Sql, firstMs: number, lastMs: number): Promise<number> {
  const [r] = await sql`SELECT vigia.ensure_event_partitions(${utcDay(firstMs)}::date, ${
    utcDay(lastMs)
  }::date) AS made`;
  return r.made;
}

/** Drops the partitions older than `keepDays`; returns how many. */
export async function dropOldPartitions(sql: Sql, keepDays: number): Promise<number> {
  const [r] = await sql`SELECT vigia.drop_event_partitions(${keepDays}) AS dropped`;
  return r.dropped;
}

/** The schema as Markdown tables, for the README (generated, so it cannot drift). */
export function centralSchemaMarkdown(): string {
  return [
    "| column | type | meaning |",
    "| --- | --- | --- |",
    ...CENTRAL_EVENT_COLUMNS.map((c) =>
      `| \`${c.name}\` | ${c.pg.replace(" NOT NULL", "")} | ${c.doc.replace(/\|/g, "\\|")} |`
    ),
  ].join("\n");
}
