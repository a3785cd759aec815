/**
 * The DNS and DHCP event and the device, declared once — the way Zeek
 * declares its log records. Every other view of an event is generated from
 * these tables:
 *
 * - {@linkcode EVENT_COLUMNS}: the columns of the `events` table (SQLite
 *   type, storage encoding, PostgreSQL type hint, the schema version that
 *   added it). The migrations, the insert statements and the typed row
 *   setters of the event writer come from it (`schema.ts`), so reordering or
 *   adding a column cannot shift the values of a row.
 * - {@linkcode DNS_FIELDS}, {@linkcode DHCP_FIELDS}: the fields of an
 *   event as shown, in the order of the daily file (`YYYY-MM-DD.log`) and of
 *   `ctl logs`: name, Zeek/JSON name, type, where it is stored, how the
 *   daily file writes it and when it leaves it out, its JSON form and a
 *   PostgreSQL type hint. The daily-line encoder, the `ctl logs` presenter
 *   and the README field table iterate them.
 * - {@linkcode DEVICE_FIELDS}: one row of `ctl devices` (the `devices` table).
 *
 * The tables are plain data (no functions), stable and safe to iterate; a
 * field's `name` and `zeek` never change once released (add new fields
 * instead). Values of an event in memory ({@linkcode EventRecord}) are in
 * their natural form: MACs and IPs as text, numbers, booleans, lists.
 *
 * @example
 * ```ts
 * import { DNS_FIELDS } from "./fields.ts";
 * for (const f of DNS_FIELDS) console.log(f.zeek, f.pg, f.doc);
 * ```
 *
 * @module
 */

import type { LineField, TextForm } from "../daylog/mod.ts";

/** Field types, named as Zeek names its log field types. */
export type FieldType =
  | "time"
  | "addr"
  | "port"
  | "count"
  | "bool"
  | "string"
  | "mac"
  | "enum"
  | "vector[string]"
  | "vector[count]"
  | "interval";

/**
 * How a value is stored in SQLite:
 * - `us`: microseconds since the epoch (INTEGER);
 * - `int`, `text`: as is; `bool`: 0/1;
 * - `mac48`: a MAC as a 48-bit integer (see `codec.ts`);
 * - `ip`: IPv4 as an integer, IPv6 as a 16-byte blob (see `codec.ts`);
 * - `bits`: DNS header flag bits (AA 1, TC 2, RD 4, RA 8);
 * - `json`: JSON text (`answers`: `[[name, type, ttl, data], ...]`);
 * - `flow`: the flow id (`flows.id`), resolved by the event writer.
 */
export type Storage = "us" | "int" | "text" | "bool" | "mac48" | "ip" | "bits" | "json" | "flow";

/** Which events a column belongs to. */
export type ColumnKind = "both" | "dns" | "dhcp";

/** One column of the `events` table. */
export interface EventColumn {
  /** Column name. */
  readonly name: string;
  /** SQLite column declaration after the name. */
  readonly sql: string;
  /** Storage encoding. */
  readonly storage: Storage;
  /** Events that fill it (the other kind leaves it NULL). */
  readonly kind: ColumnKind;
  /** Schema version of the events database that added it. */
  readonly since: number;
  /** False for columns the insert does not bind (`id`, and `kind`, a literal). */
  readonly bound: boolean;
  /** One line of description. */
  readonly doc: string;
}

/**
 * The columns of `events`, in table order. Rows of a kind carry the bound
 * columns of that kind, in this order (see `schema.ts`).
 */
export const EVENT_COLUMNS = [
  col("id", "INTEGER PRIMARY KEY", "int", "both", "row id", false),
  col("time", "INTEGER NOT NULL", "us", "both", "capture time, µs since the epoch"),
  col("kind", "TEXT NOT NULL", "text", "both", "'dns' | 'dhcp'", false),
  col(
    "flow",
    "INTEGER NOT NULL",
    "flow",
    "both",
    "flows.id: kind, client MAC, client and server IP",
  ),
  col(
    "to_client",
    "INTEGER NOT NULL",
    "bool",
    "both",
    "1 when sent to the client (answer, server message)",
  ),
  col("src_mac", "INTEGER", "mac48", "both", "source MAC; NULL when the link has none"),
  col("dst_mac", "INTEGER", "mac48", "both", "destination MAC"),
  col(
    "src_ip",
    "NUMERIC",
    "ip",
    "both",
    "source IP (NUMERIC: JS numbers bound as REAL are stored as integers)",
  ),
  col("dst_ip", "NUMERIC", "ip", "both", "destination IP"),
  col("src_port", "INTEGER", "int", "both", "source port"),
  col("dst_port", "INTEGER", "int", "both", "destination port"),
  col("proto", "TEXT", "text", "both", "'udp' | 'tcp'"),
  col("vlan", "INTEGER", "int", "both", "outer 802.1Q id, 0 untagged"),
  col("trans_id", "INTEGER", "int", "both", "DNS id / DHCP xid"),
  col("opcode", "INTEGER", "int", "dns", "DNS opcode"),
  col("rcode", "INTEGER", "int", "dns", "DNS response code (EDNS-extended)"),
  col("flags", "INTEGER", "bits", "dns", "AA 1, TC 2, RD 4, RA 8"),
  col("query", "TEXT", "text", "dns", "query name"),
  col("qtype", "INTEGER", "int", "dns", "query type"),
  col("qclass", "INTEGER", "int", "dns", "query class"),
  col("answers", "TEXT", "json", "dns", "JSON [[name, type, ttl, data], ...]"),
  col("msg_type", "TEXT", "text", "dhcp", "DHCP message type name"),
  col("dhcp_version", "INTEGER", "int", "dhcp", "4 or 6"),
  col("chaddr", "INTEGER", "mac48", "dhcp", "client hardware address (v6: from the DUID)"),
  col("client_addr", "TEXT", "text", "dhcp", "ciaddr"),
  col("assigned_addr", "TEXT", "text", "dhcp", "yiaddr"),
  col("next_server", "TEXT", "text", "dhcp", "siaddr"),
  col("relay_addr", "TEXT", "text", "dhcp", "giaddr / v6 relay link-address"),
  col("requested_addr", "TEXT", "text", "dhcp", "option 50"),
  col("host_name", "TEXT", "text", "dhcp", "option 12"),
  col("client_software", "TEXT", "text", "dhcp", "option 60 vendor class"),
  col("client_id", "TEXT", "text", "dhcp", "option 61, hex"),
  col("server_addr", "TEXT", "text", "dhcp", "option 54 server identifier"),
  col("lease_time", "INTEGER", "int", "dhcp", "option 51, seconds"),
  col("param_list", "TEXT", "text", "dhcp", "option 55, comma separated"),
  col("circuit_id", "TEXT", "text", "dhcp", "option 82.1, hex"),
  col("agent_remote_id", "TEXT", "text", "dhcp", "option 82.2, hex"),
  col("duid", "TEXT", "text", "dhcp", "DHCPv6 client DUID, hex"),
  col("server_duid", "TEXT", "text", "dhcp", "DHCPv6 server DUID, hex"),
] as const satisfies readonly EventColumn[];

/** Name of an `events` column. */
export type ColumnName = (typeof EVENT_COLUMNS)[number]["name"];

/** Columns the insert does not bind: the row id, and the kind (a literal of the statement). */
export type Unbound = "id" | "kind";
/** Names of the columns a `K` row binds. */
export type BoundColumnName<K extends "dns" | "dhcp"> = Exclude<
  Extract<(typeof EVENT_COLUMNS)[number], { kind: "both" | K }>["name"],
  Unbound
>;

/** Bound columns of a DNS row. */
export type DnsColumnName = BoundColumnName<"dns">;
/** Bound columns of a DHCP row. */
export type DhcpColumnName = BoundColumnName<"dhcp">;

/**
 * How the daily file writes a value (the encoder is lib/daylog's `encodeFields`):
 * - `text`: as is, with tabs, newlines, carriage returns and backslashes escaped;
 * - `int`: decimal;
 * - `tf`: a boolean as `T` or `F` (Zeek's ASCII form);
 * - `qr`: a boolean as `R` (response) or `Q` (query);
 * - `list`: the values joined with commas (text escaped);
 * - `answer-data`, `answer-ttls`: the data or the TTLs of the answer
 *   records, joined with commas (both left out when the data is empty);
 * - `none`: not written to the daily file nor shown by `ctl logs` (JSON
 *   logs and the central store carry it).
 */
export type { LineField, TextForm };

/**
 * How JSON (`ctl logs --json`, JSON daily logs) writes a value: `string`,
 * `number`, `bool`, `array` (of strings or numbers, as the type says), or
 * `ts` (the timestamp text of the daily file, ISO 8601 with the zone's
 * offset).
 */
export type JsonForm = "string" | "number" | "bool" | "array" | "ts";

/** One field of an event as shown. */
export interface EventField extends LineField {
  /** Name in the daily file and in `ctl logs`. */
  readonly name: string;
  /** Name in JSON logs and the central store (Zeek's dns.log/dhcp.log name where it has one). */
  readonly zeek: string;
  /** Value type. */
  readonly type: FieldType;
  /**
   * Where it is stored: an `events` column, `flows.client_mac` /
   * `flows.vendor`, or derived from the named column (`qr` from
   * `to_client`, `AA` from `flags`, `qtype_name` from `qtype`, ...).
   */
  readonly column: string;
  /** Daily-file form. */
  readonly text: TextForm;
  /**
   * Left out of the line (and of `ctl logs`) when equal to this, besides
   * empty values (undefined, null, "", an empty list), which are always left out.
   */
  readonly skip?: string | number;
  /** JSON form. */
  readonly json: JsonForm;
  /** PostgreSQL type for the central store. */
  readonly pg: string;
  /** One line of description. */
  readonly doc: string;
}

/** The line's first column: the capture time (not a `key=value` field). */
export const TIME_FIELD: EventField = field(
  "ts",
  "ts",
  "time",
  "time",
  "none",
  "ts",
  "timestamptz",
  "capture time; the first column of a daily line, in the configured zone with its offset",
);

/** Fields of a DNS event, in daily-file order. */
export const DNS_FIELDS = [
  field(
    "mac",
    "mac",
    "mac",
    "flows.client_mac",
    "text",
    "string",
    "macaddr",
    "the client station's MAC (the querier): the source of a query, the destination of an answer",
  ),
  field(
    "vendor",
    "vendor",
    "string",
    "flows.vendor",
    "text",
    "string",
    "text",
    "maker of `mac` (IEEE OUI) or a label such as `(locally administered)`",
  ),
  field(
    "src_mac",
    "src_mac",
    "mac",
    "src_mac",
    "text",
    "string",
    "macaddr",
    "source MAC; absent when the link type has none",
  ),
  field("dst_mac", "dst_mac", "mac", "dst_mac", "text", "string", "macaddr", "destination MAC"),
  field(
    "vlan",
    "vlan",
    "count",
    "vlan",
    "int",
    "number",
    "integer",
    "outer 802.1Q VLAN id; absent when untagged",
    0,
  ),
  field(
    "src_ip",
    "id.orig_h",
    "addr",
    "src_ip",
    "text",
    "string",
    "inet",
    "source IP of the packet (JSON: Zeek's orig is the packet's sender)",
  ),
  field("src_port", "id.orig_p", "port", "src_port", "int", "number", "integer", "source port"),
  field(
    "dst_ip",
    "id.resp_h",
    "addr",
    "dst_ip",
    "text",
    "string",
    "inet",
    "destination IP of the packet",
  ),
  field(
    "dst_port",
    "id.resp_p",
    "port",
    "dst_port",
    "int",
    "number",
    "integer",
    "destination port",
  ),
  field("proto", "proto", "enum", "proto", "text", "string", "text", "transport: `udp` or `tcp`"),
  field(
    "trans_id",
    "trans_id",
    "count",
    "trans_id",
    "int",
    "number",
    "integer",
    "DNS transaction id",
  ),
  field(
    "qr",
    "qr",
    "enum",
    "to_client",
    "qr",
    "string",
    "text",
    "`Q` for a query, `R` for a response",
  ),
  field(
    "opcode",
    "opcode",
    "count",
    "opcode",
    "int",
    "number",
    "integer",
    "opcode number; absent for QUERY (0)",
    0,
  ),
  field(
    "query",
    "query",
    "string",
    "query",
    "text",
    "string",
    "text",
    "query name without the trailing dot (the root is `.`)",
  ),
  field("qclass", "qclass", "count", "qclass", "none", "number", "integer", "query class number"),
  field(
    "qclass_name",
    "qclass_name",
    "string",
    "qclass",
    "text",
    "string",
    "text",
    "query class mnemonic; absent for C_INTERNET",
    "C_INTERNET",
  ),
  field("qtype", "qtype", "count", "qtype", "none", "number", "integer", "query type number"),
  field(
    "qtype_name",
    "qtype_name",
    "string",
    "qtype",
    "text",
    "string",
    "text",
    "query type mnemonic (`A`, `AAAA`, ... `TYPE65280`)",
  ),
  field(
    "rcode",
    "rcode",
    "count",
    "rcode",
    "none",
    "number",
    "integer",
    "response code number (responses)",
  ),
  field(
    "rcode_name",
    "rcode_name",
    "string",
    "rcode",
    "text",
    "string",
    "text",
    "response code mnemonic (responses only)",
  ),
  field("AA", "AA", "bool", "flags", "tf", "bool", "boolean", "authoritative answer"),
  field("TC", "TC", "bool", "flags", "tf", "bool", "boolean", "truncated"),
  field("RD", "RD", "bool", "flags", "tf", "bool", "boolean", "recursion desired"),
  field("RA", "RA", "bool", "flags", "tf", "bool", "boolean", "recursion available"),
  field(
    "answers",
    "answers",
    "vector[string]",
    "answers",
    "answer-data",
    "array",
    "text[]",
    "data of the answer records (addresses, names, text), comma separated",
  ),
  field(
    "TTLs",
    "TTLs",
    "vector[count]",
    "answers",
    "answer-ttls",
    "array",
    "integer[]",
    "TTLs of the answer records, in the same order",
  ),
] as const satisfies readonly EventField[];

/** Fields of a DHCP event, in daily-file order. */
export const DHCP_FIELDS = [
  field(
    "mac",
    "mac",
    "mac",
    "flows.client_mac",
    "text",
    "string",
    "macaddr",
    "the client's hardware address (chaddr; the client side's MAC when there is none)",
  ),
  field(
    "vendor",
    "vendor",
    "string",
    "flows.vendor",
    "text",
    "string",
    "text",
    "maker of `mac` (IEEE OUI) or a label",
  ),
  field("src_mac", "src_mac", "mac", "src_mac", "text", "string", "macaddr", "source MAC"),
  field("dst_mac", "dst_mac", "mac", "dst_mac", "text", "string", "macaddr", "destination MAC"),
  field(
    "vlan",
    "vlan",
    "count",
    "vlan",
    "int",
    "number",
    "integer",
    "outer 802.1Q VLAN id; absent when untagged",
    0,
  ),
  field(
    "src_ip",
    "id.orig_h",
    "addr",
    "src_ip",
    "text",
    "string",
    "inet",
    "source IP of the packet",
  ),
  field("src_port", "id.orig_p", "port", "src_port", "int", "number", "integer", "source port"),
  field(
    "dst_ip",
    "id.resp_h",
    "addr",
    "dst_ip",
    "text",
    "string",
    "inet",
    "destination IP of the packet",
  ),
  field(
    "dst_port",
    "id.resp_p",
    "port",
    "dst_port",
    "int",
    "number",
    "integer",
    "destination port",
  ),
  field("proto", "proto", "enum", "proto", "none", "string", "text", "transport (always `udp`)"),
  field(
    "dhcp_version",
    "dhcp_version",
    "count",
    "dhcp_version",
    "int",
    "number",
    "integer",
    "6 for DHCPv6; absent for DHCPv4/BOOTP (4)",
    4,
  ),
  field(
    "msg_type",
    "msg_types",
    "string",
    "msg_type",
    "text",
    "string",
    "text",
    "message type: DISCOVER, OFFER, REQUEST, ACK, ... (v6: SOLICIT, ADVERTISE, ...)",
  ),
  field(
    "trans_id",
    "trans_id",
    "count",
    "trans_id",
    "int",
    "number",
    "bigint",
    "transaction id (xid)",
  ),
  field(
    "client_addr",
    "client_addr",
    "addr",
    "client_addr",
    "text",
    "string",
    "inet",
    "ciaddr; absent when 0.0.0.0",
  ),
  field(
    "assigned_addr",
    "assigned_addr",
    "addr",
    "assigned_addr",
    "text",
    "string",
    "inet",
    "yiaddr: the address offered or assigned",
  ),
  field("next_server", "next_server", "addr", "next_server", "text", "string", "inet", "siaddr"),
  field(
    "relay_addr",
    "relay_addr",
    "addr",
    "relay_addr",
    "text",
    "string",
    "inet",
    "giaddr (v6: link-address of the outermost relay message)",
  ),
  field(
    "requested_addr",
    "requested_addr",
    "addr",
    "requested_addr",
    "text",
    "string",
    "inet",
    "option 50",
  ),
  field("host_name", "host_name", "string", "host_name", "text", "string", "text", "option 12"),
  field(
    "client_software",
    "client_software",
    "string",
    "client_software",
    "text",
    "string",
    "text",
    "option 60 vendor class",
  ),
  field(
    "client_id",
    "client_id",
    "string",
    "client_id",
    "text",
    "string",
    "text",
    "option 61, hex",
  ),
  field(
    "server_addr",
    "server_addr",
    "addr",
    "server_addr",
    "text",
    "string",
    "inet",
    "option 54 server identifier",
  ),
  field(
    "lease_time",
    "lease_time",
    "interval",
    "lease_time",
    "int",
    "number",
    "integer",
    "option 51, seconds",
  ),
  field(
    "param_list",
    "param_list",
    "string",
    "param_list",
    "text",
    "string",
    "text",
    "option 55: requested option numbers, comma separated",
  ),
  field(
    "circuit_id",
    "circuit_id",
    "string",
    "circuit_id",
    "text",
    "string",
    "text",
    "option 82 sub-option 1 (agent circuit id), hex",
  ),
  field(
    "agent_remote_id",
    "agent_remote_id",
    "string",
    "agent_remote_id",
    "text",
    "string",
    "text",
    "option 82 sub-option 2, hex",
  ),
  field("duid", "duid", "string", "duid", "text", "string", "text", "DHCPv6 client DUID, hex"),
  field(
    "server_duid",
    "server_duid",
    "string",
    "server_duid",
    "text",
    "string",
    "text",
    "DHCPv6 server DUID (option 2), hex",
  ),
] as const satisfies readonly EventField[];

/** Fields of one device (`ctl devices`, the `devices` table), in output order. */
export const DEVICE_FIELDS = [
  field("mac", "mac", "mac", "mac", "text", "string", "macaddr", "the station's MAC (primary key)"),
  field(
    "vendor",
    "vendor",
    "string",
    "vendor",
    "text",
    "string",
    "text",
    "maker (IEEE OUI) or a label",
  ),
  field(
    "first_seen",
    "first_seen",
    "time",
    "first_seen",
    "text",
    "ts",
    "timestamptz",
    "first event from or for it",
  ),
  field("last_seen", "last_seen", "time", "last_seen", "text", "ts", "timestamptz", "last event"),
  field(
    "ips",
    "ips",
    "string",
    "ips",
    "text",
    "string",
    "text",
    "recent addresses, newest first, comma separated",
  ),
  field(
    "host_names",
    "host_names",
    "string",
    "host_names",
    "text",
    "string",
    "text",
    "DHCP host names, comma separated",
  ),
  field(
    "client_software",
    "client_software",
    "string",
    "client_software",
    "text",
    "string",
    "text",
    "DHCP vendor class",
  ),
  field("dns", "dns_count", "count", "dns_count", "int", "number", "bigint", "DNS messages seen"),
  field(
    "dhcp",
    "dhcp_count",
    "count",
    "dhcp_count",
    "int",
    "number",
    "bigint",
    "DHCP messages seen",
  ),
  field(
    "vlan",
    "vlan",
    "count",
    "vlan",
    "int",
    "number",
    "integer",
    "VLAN last seen on; absent when untagged",
    0,
  ),
] as const satisfies readonly EventField[];

/** Name of a DNS field. */
export type DnsFieldName = (typeof DNS_FIELDS)[number]["name"];
/** Name of a DHCP field. */
export type DhcpFieldName = (typeof DHCP_FIELDS)[number]["name"];

/** A value in natural form. */
export type FieldValue =
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly string[]
  | readonly number[]
  | readonly AnswerRecord[];

/** One answer record as the `answer-data` / `answer-ttls` forms read it. */
export interface AnswerRecord {
  /** Owner name. */
  name: string;
  /** Type mnemonic. */
  type: string;
  /** TTL, seconds. */
  ttl: number;
  /** Presentation form of the data. */
  data: string;
}

/**
 * One event's values in natural form, keyed by field name (`answers` and
 * `TTLs` both read the answer records).
 */
export type EventRecord = Record<string, FieldValue>;

/** A record of `fields` with every field present (undefined), in field order. */
export function newRecord<N extends string>(
  fields: readonly { readonly name: N }[],
): { [K in N]: FieldValue } {
  const r: Record<string, FieldValue> = {};
  for (const f of fields) r[f.name] = undefined;
  return r as { [K in N]: FieldValue };
}

/** True when `v` is left out of a line for field `f`. */
export function isSkipped(f: EventField, v: FieldValue): boolean {
  if (v === undefined || v === null || v === "") return true;
  if (Array.isArray(v) && v.length === 0) return true;
  return f.skip !== undefined && v === f.skip;
}

/** The fields of `kind` in daily-file order. */
export function fieldsOf(kind: "dns" | "dhcp"): readonly EventField[] {
  return kind === "dns" ? DNS_FIELDS : DHCP_FIELDS;
}

/** The bound columns of a `kind` row, in row order. */
export function rowColumns(kind: "dns" | "dhcp"): readonly EventColumn[] {
  return EVENT_COLUMNS.filter((c) => c.bound && (c.kind === "both" || c.kind === kind));
}

/** Slot of each bound column in a `kind` row. */
export function rowSlots<N extends string>(kind: "dns" | "dhcp"): { readonly [K in N]: number } {
  const out: Record<string, number> = {};
  rowColumns(kind).forEach((c, i) => (out[c.name] = i));
  return Object.freeze(out) as { readonly [K in N]: number };
}

/** Slots of a DNS row, by column. */
export const DNS_SLOT: { readonly [K in DnsColumnName]: number } = rowSlots<DnsColumnName>("dns");
/** Slots of a DHCP row, by column. */
export const DHCP_SLOT: { readonly [K in DhcpColumnName]: number } = rowSlots<DhcpColumnName>(
  "dhcp",
);

/**
 * The README's field tables (Markdown), generated from the tables above; a
 * test keeps README.md in step with them.
 */
export function fieldTablesMarkdown(): string {
  const table = (title: string, fields: readonly EventField[]) => {
    const rows = fields.map((f) =>
      `| \`${f.name}\` | \`${f.zeek}\` | ${f.type} | ${
        f.text === "none" ? "JSON only" : f.text
      } | ${f.doc.replace(/\|/g, "\\|")} |`
    );
    return [
      `${title}:`,
      "",
      "| field | JSON | type | daily file | meaning |",
      "| --- | --- | --- | --- | --- |",
      ...rows,
    ].join("\n");
  };
  return [
    table("`dns` lines", DNS_FIELDS),
    table("`dhcp` lines", DHCP_FIELDS),
    table("`ctl devices` rows", DEVICE_FIELDS),
  ].join("\n\n");
}

function col<N extends string, K extends ColumnKind>(
  name: N,
  sql: string,
  storage: Storage,
  kind: K,
  doc: string,
  bound = true,
  since = 1,
): { name: N; sql: string; storage: Storage; kind: K; since: number; bound: boolean; doc: string } {
  return { name, sql, storage, kind, since, bound, doc };
}

function field<N extends string>(
  name: N,
  zeek: string,
  type: FieldType,
  column: string,
  text: TextForm,
  json: JsonForm,
  pg: string,
  doc: string,
  skip?: string | number,
): EventField & { name: N } {
  const f: EventField & { name: N } = { name, zeek, type, column, text, json, pg, doc };
  return skip === undefined ? f : { ...f, skip };
}
