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

import type { JsonForm, LineField, TextForm } from "../daylog/mod.ts";

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
  col(
    "capture",
    "INTEGER",
    "int",
    "both",
    "captures.id of the ingest that stored it; NULL live",
    true,
    2,
  ),
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
 * `ts` (a time: in `ctl logs --json` the timestamp text of the daily file,
 * ISO 8601 with the zone's offset; in JSON daily logs seconds since the
 * epoch with microseconds, as Zeek writes `ts`).
 */
export type { JsonForm };

/** One field of an event as shown. */
export interface EventField extends LineField {
  /** Name in the daily file and in `ctl logs`. */
  readonly name: string;
  /**
   * Key in JSON daily logs (`[log] format = "json"`) and name in the central
   * store: Zeek's dns.log/dhcp.log name where Zeek has the field, else vigia's.
   */
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
  /** JSON form (JSON daily logs write every field, `text: "none"` ones too). */
  readonly json: JsonForm;
  /** PostgreSQL type for the central store. */
  readonly pg: string;
  /** One line of description. */
  readonly doc: string;
}

/** The line's first column: the capture time (not a `key=value` field). */
export const TIME_FIELD: EventField = f({
  name: "ts",
  type: "time",
  column: "time",
  text: "none",
  json: "ts",
  pg: "timestamptz",
  doc:
    "capture time; text: the first column, ISO 8601 in `log.timezone` with its offset; JSON: seconds since the epoch with microseconds",
});

/** The line's second column: the event's kind (`dns`, `dhcp`; other lines name theirs). */
export const KIND_FIELD: EventField = f({
  name: "kind",
  type: "enum",
  column: "kind",
  text: "none",
  json: "string",
  pg: "text",
  doc: "`dns` or `dhcp`; text: the second column",
});

/**
 * The fields every event starts with: the client station (`mac`, `vendor`)
 * and the packet's link, network and transport facts.
 */
function packetFields(mac: string, proto: { text: TextForm; doc: string }) {
  return [
    f({
      name: "mac",
      type: "mac",
      column: "flows.client_mac",
      text: "text",
      json: "string",
      pg: "macaddr",
      doc: mac,
    }),
    f({
      name: "vendor",
      type: "string",
      column: "flows.vendor",
      text: "text",
      json: "string",
      pg: "text",
      doc: "maker of `mac` (IEEE OUI) or a label such as `(locally administered)`",
    }),
    f({
      name: "src_mac",
      type: "mac",
      text: "text",
      json: "string",
      pg: "macaddr",
      doc: "source MAC; absent when the link type has none",
    }),
    f({
      name: "dst_mac",
      type: "mac",
      text: "text",
      json: "string",
      pg: "macaddr",
      doc: "destination MAC",
    }),
    f({
      name: "vlan",
      type: "count",
      text: "int",
      json: "number",
      pg: "integer",
      skip: 0,
      doc: "outer 802.1Q VLAN id; absent when untagged",
    }),
    f({
      name: "src_ip",
      zeek: "id.orig_h",
      type: "addr",
      text: "text",
      json: "string",
      pg: "inet",
      doc:
        "source IP of the packet, also on an answer (Zeek's orig is a query/answer pair's client)",
    }),
    f({
      name: "src_port",
      zeek: "id.orig_p",
      type: "port",
      text: "int",
      json: "number",
      pg: "integer",
      doc: "source port",
    }),
    f({
      name: "dst_ip",
      zeek: "id.resp_h",
      type: "addr",
      text: "text",
      json: "string",
      pg: "inet",
      doc: "destination IP of the packet",
    }),
    f({
      name: "dst_port",
      zeek: "id.resp_p",
      type: "port",
      text: "int",
      json: "number",
      pg: "integer",
      doc: "destination port",
    }),
    f({
      name: "proto",
      type: "enum",
      text: proto.text,
      json: "string",
      pg: "text",
      doc: proto.doc,
    }),
    f({
      name: "capture",
      type: "count",
      text: "none",
      json: "number",
      pg: "bigint",
      doc: "the ingest that stored it (`ctl captures`); absent for live capture",
    }),
  ] as const;
}

/** Fields of a DNS event, in daily-file order. */
export const DNS_FIELDS = [
  ...packetFields(
    "the client station's MAC (the querier): the source of a query, the destination of an answer",
    { text: "text", doc: "transport: `udp` or `tcp`" },
  ),
  f({
    name: "trans_id",
    type: "count",
    text: "int",
    json: "number",
    pg: "integer",
    doc: "DNS transaction id",
  }),
  f({
    name: "qr",
    type: "enum",
    column: "to_client",
    text: "qr",
    json: "string",
    pg: "text",
    doc: "`Q` for a query, `R` for a response",
  }),
  f({
    name: "opcode",
    type: "count",
    text: "int",
    json: "number",
    pg: "integer",
    skip: 0,
    doc: "opcode number; absent for QUERY (0)",
  }),
  f({
    name: "query",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "query name without the trailing dot (the root is `.`)",
  }),
  f({
    name: "qclass",
    type: "count",
    text: "none",
    json: "number",
    pg: "integer",
    doc: "query class number",
  }),
  f({
    name: "qclass_name",
    type: "string",
    column: "qclass",
    text: "text",
    json: "string",
    pg: "text",
    skip: "C_INTERNET",
    doc: "query class mnemonic; absent for C_INTERNET",
  }),
  f({
    name: "qtype",
    type: "count",
    text: "none",
    json: "number",
    pg: "integer",
    doc: "query type number",
  }),
  f({
    name: "qtype_name",
    type: "string",
    column: "qtype",
    text: "text",
    json: "string",
    pg: "text",
    doc: "query type mnemonic (`A`, `AAAA`, ... `TYPE65280`)",
  }),
  f({
    name: "rcode",
    type: "count",
    text: "none",
    json: "number",
    pg: "integer",
    doc: "response code number (responses)",
  }),
  f({
    name: "rcode_name",
    type: "string",
    column: "rcode",
    text: "text",
    json: "string",
    pg: "text",
    doc: "response code mnemonic (responses only)",
  }),
  f({
    name: "AA",
    type: "bool",
    column: "flags",
    text: "tf",
    json: "bool",
    pg: "boolean",
    doc: "authoritative answer",
  }),
  f({
    name: "TC",
    type: "bool",
    column: "flags",
    text: "tf",
    json: "bool",
    pg: "boolean",
    doc: "truncated",
  }),
  f({
    name: "RD",
    type: "bool",
    column: "flags",
    text: "tf",
    json: "bool",
    pg: "boolean",
    doc: "recursion desired",
  }),
  f({
    name: "RA",
    type: "bool",
    column: "flags",
    text: "tf",
    json: "bool",
    pg: "boolean",
    doc: "recursion available",
  }),
  f({
    name: "answers",
    type: "vector[string]",
    text: "answer-data",
    json: "array",
    pg: "text[]",
    doc: "data of the answer records (addresses, names, text), comma separated",
  }),
  f({
    name: "TTLs",
    type: "vector[count]",
    column: "answers",
    text: "answer-ttls",
    json: "array",
    pg: "integer[]",
    doc: "TTLs of the answer records, in the same order",
  }),
] as const satisfies readonly EventField[];

/** Fields of a DHCP event, in daily-file order. */
export const DHCP_FIELDS = [
  ...packetFields(
    "the client's hardware address (chaddr; the client side's MAC when there is none)",
    { text: "none", doc: "transport (always `udp`)" },
  ),
  f({
    name: "dhcp_version",
    type: "count",
    text: "int",
    json: "number",
    pg: "integer",
    skip: 4,
    doc: "6 for DHCPv6; absent for DHCPv4/BOOTP (4)",
  }),
  f({
    name: "msg_type",
    zeek: "msg_types",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc:
      "message type: DISCOVER, OFFER, REQUEST, ACK, ... (v6: SOLICIT, ADVERTISE, ...); one per line, so JSON writes a string, not Zeek's list",
  }),
  f({
    name: "trans_id",
    type: "count",
    text: "int",
    json: "number",
    pg: "bigint",
    doc: "transaction id (xid)",
  }),
  f({
    name: "client_addr",
    type: "addr",
    text: "text",
    json: "string",
    pg: "inet",
    doc: "ciaddr; absent when 0.0.0.0",
  }),
  f({
    name: "assigned_addr",
    type: "addr",
    text: "text",
    json: "string",
    pg: "inet",
    doc: "yiaddr: the address offered or assigned",
  }),
  f({ name: "next_server", type: "addr", text: "text", json: "string", pg: "inet", doc: "siaddr" }),
  f({
    name: "relay_addr",
    type: "addr",
    text: "text",
    json: "string",
    pg: "inet",
    doc: "giaddr (v6: link-address of the outermost relay message)",
  }),
  f({
    name: "requested_addr",
    type: "addr",
    text: "text",
    json: "string",
    pg: "inet",
    doc: "option 50",
  }),
  f({
    name: "host_name",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "option 12",
  }),
  f({
    name: "client_software",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "option 60 vendor class",
  }),
  f({
    name: "client_id",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "option 61, hex",
  }),
  f({
    name: "server_addr",
    type: "addr",
    text: "text",
    json: "string",
    pg: "inet",
    doc: "option 54 server identifier",
  }),
  f({
    name: "lease_time",
    type: "interval",
    text: "int",
    json: "number",
    pg: "bigint",
    doc: "option 51, seconds",
  }),
  f({
    name: "param_list",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "option 55: requested option numbers, comma separated",
  }),
  f({
    name: "circuit_id",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "option 82 sub-option 1 (agent circuit id), hex",
  }),
  f({
    name: "agent_remote_id",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "option 82 sub-option 2, hex",
  }),
  f({
    name: "duid",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "DHCPv6 client DUID, hex",
  }),
  f({
    name: "server_duid",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "DHCPv6 server DUID (option 2), hex",
  }),
] as const satisfies readonly EventField[];

/** Fields of one device (`ctl devices`, the `devices` table), in output order. */
export const DEVICE_FIELDS = [
  f({
    name: "mac",
    type: "mac",
    text: "text",
    json: "string",
    pg: "macaddr",
    doc: "the station's MAC (primary key)",
  }),
  f({
    name: "vendor",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "maker (IEEE OUI) or a label",
  }),
  f({
    name: "first_seen",
    type: "time",
    text: "text",
    json: "ts",
    pg: "timestamptz",
    doc: "first event from or for it",
  }),
  f({
    name: "last_seen",
    type: "time",
    text: "text",
    json: "ts",
    pg: "timestamptz",
    doc: "last event",
  }),
  f({
    name: "ips",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "recent addresses, newest first, comma separated",
  }),
  f({
    name: "host_names",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "DHCP host names, comma separated",
  }),
  f({
    name: "client_software",
    type: "string",
    text: "text",
    json: "string",
    pg: "text",
    doc: "DHCP vendor class",
  }),
  f({
    name: "dns",
    zeek: "dns_count",
    type: "count",
    column: "dns_count",
    text: "int",
    json: "number",
    pg: "bigint",
    doc: "DNS messages seen",
  }),
  f({
    name: "dhcp",
    zeek: "dhcp_count",
    type: "count",
    column: "dhcp_count",
    text: "int",
    json: "number",
    pg: "bigint",
    doc: "DHCP messages seen",
  }),
  f({
    name: "vlan",
    type: "count",
    text: "int",
    json: "number",
    pg: "integer",
    skip: 0,
    doc: "VLAN last seen on; absent when untagged",
  }),
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
  const table = (title: string, fields: readonly EventField[], line: boolean) => {
    const rows = fields.map((f) =>
      `| \`${f.name}\` | \`${f.zeek}\` | ${f.type} | ${
        f.name === "ts" || f.name === "kind" ? "column" : textCell(f, line)
      } | ${jsonCell(f)} | ${f.doc.replace(/\|/g, "\\|")} |`
    );
    return [
      `${title}:`,
      "",
      `| field | JSON key | type | ${line ? "text line" : "text"} | JSON value | meaning |`,
      "| --- | --- | --- | --- | --- | --- |",
      ...rows,
    ].join("\n");
  };
  const head = [TIME_FIELD, KIND_FIELD];
  return [
    table("`dns` lines", [...head, ...DNS_FIELDS], true),
    table("`dhcp` lines", [...head, ...DHCP_FIELDS], true),
    table("`ctl devices` rows", DEVICE_FIELDS, false),
  ].join("\n\n");
}

/** The text form of a field as the README's tables name it. */
function textCell(f: EventField, line: boolean): string {
  switch (f.text) {
    case "none":
      return line ? "JSON only" : "";
    case "int":
      return "decimal";
    case "tf":
      return "`T` / `F`";
    case "qr":
      return "`Q` / `R`";
    case "list":
    case "answer-data":
    case "answer-ttls":
      return "comma list";
    default:
      return "text";
  }
}

/** The JSON value of a field as the README's tables name it. */
function jsonCell(f: EventField): string {
  if (f.text === "answer-data") return "array of strings";
  if (f.text === "answer-ttls") return "array of numbers";
  if (f.text === "qr") return "string `Q` / `R`";
  if (f.json === "ts") return f.name === "ts" ? "number (epoch s)" : "string (ISO 8601)";
  return f.json === "bool" ? "true / false" : f.json;
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

/** A field as written above: `zeek` and `column` default to the name. */
interface FieldSpec<N extends string> extends Omit<EventField, "name" | "zeek" | "column"> {
  readonly name: N;
  readonly zeek?: string;
  readonly column?: string;
}

function f<const N extends string>(spec: FieldSpec<N>): EventField & { readonly name: N } {
  return { ...spec, zeek: spec.zeek ?? spec.name, column: spec.column ?? spec.name };
}
