/**
 * Rows of the local store as PostgreSQL COPY text (tab-separated, `\N` for
 * NULL, backslash escapes): the bulk path of the shipper. Each table's
 * encoder is a list of column encoders built once; the hot loop only
 * concatenates strings.
 *
 * @module
 */

import { ipToKey, keyToIp } from "../sniffer/mod.ts";
import { CENTRAL_EVENT_COLUMNS } from "./schema.ts";

/** A row as SQLite returns it. */
export type LocalRow = Record<string, unknown>;

/** Encodes one value of a row as COPY text (`\N` for NULL). */
export type ValueEncoder = (row: LocalRow) => string;

const NULL = "\\N";

/** COPY text escaping; NUL bytes, which PostgreSQL text cannot hold, are dropped. */
export function copyText(s: string): string {
  // Most values need nothing: test first, replace only when needed.
  if (!/[\\\t\n\r\0]/.test(s)) return s;
  return s.replace(
    /[\\\t\n\r\0]/g,
    (c) => c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "",
  );
}

const PAD3 = ["", "00", "0", ""];

/** µs since the epoch to an ISO 8601 UTC time with microseconds. */
export function usToTimestamp(us: number): string {
  const ms = Math.floor(us / 1000);
  const rest = String(us - ms * 1000);
  return new Date(ms).toISOString().slice(0, 23) + PAD3[rest.length] + rest + "Z";
}

/** ms since the epoch to an ISO 8601 UTC time. */
export function msToTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

function isNull(v: unknown): boolean {
  return v === null || v === undefined;
}

/** Encoders by how a value is stored locally. */
export const encoders = {
  text: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    return isNull(v) ? NULL : copyText(String(v));
  },
  int: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    return isNull(v) ? NULL : String(v);
  },
  bool: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    return isNull(v) ? NULL : v ? "t" : "f";
  },
  us: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    return isNull(v) ? NULL : usToTimestamp(Number(v));
  },
  ms: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    return isNull(v) ? NULL : msToTimestamp(Number(v));
  },
  mac48: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    // macaddr reads 12 hex digits without separators.
    return isNull(v) ? NULL : Number(v).toString(16).padStart(12, "0");
  },
  ip: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    if (isNull(v)) return NULL;
    const text = keyToIp(v);
    return text === "" ? NULL : text;
  },
  /** An address stored as text: anything that is not one becomes NULL, not a failed batch. */
  ipText: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    if (isNull(v) || v === "") return NULL;
    const s = String(v);
    return ipToKey(s) === null ? NULL : s;
  },
  real: (name: string): ValueEncoder => (r) => {
    const v = r[name];
    return isNull(v) ? NULL : String(Number(v));
  },
};

/** Joins the encoders' values for each row into COPY text (one line per row). */
export function encodeRows(rows: readonly LocalRow[], columns: readonly ValueEncoder[]): string {
  let out = "";
  const n = columns.length;
  for (const row of rows) {
    let line = columns[0](row);
    for (let i = 1; i < n; i++) line += "\t" + columns[i](row);
    out += line + "\n";
  }
  return out;
}

/**
 * The encoders of `vigia.events` (in {@linkcode CENTRAL_EVENT_COLUMNS}
 * order) for rows read as `events.*` with the flow's `client_mac` and
 * `vendor`, and the constant sensor name.
 */
export function eventEncoders(sensor: string): ValueEncoder[] {
  const sensorText = copyText(sensor);
  return CENTRAL_EVENT_COLUMNS.map((c): ValueEncoder => {
    if (c.name === "sensor") return () => sensorText;
    if (c.name === "local_id") return encoders.int("id");
    if (c.name === "mac") return encoders.mac48("client_mac");
    if (c.name === "vendor") return encoders.text("vendor");
    const local = c.local!;
    switch (local.storage) {
      case "us":
        return encoders.us(local.name);
      case "mac48":
        return encoders.mac48(local.name);
      case "ip":
        return encoders.ip(local.name);
      case "bool":
        return encoders.bool(local.name);
      case "int":
      case "bits":
        return encoders.int(local.name);
      default:
        return c.pg.startsWith("inet") ? encoders.ipText(local.name) : encoders.text(local.name);
    }
  });
}

/** SQLite expression: a text value as COPY text (`\N` when NULL). */
function sqlText(c: string): string {
  // Most values hold nothing to escape: one GLOB pass over them (a class of backslash, tab,
  // newline, carriage return, written as such in the literal) instead of four replace() copies.
  const escaped =
    `replace(replace(replace(replace(${c}, '\\', '\\\\'), char(9), '\\t'), char(10), '\\n'), char(13), '\\r')`;
  return `CASE WHEN ${c} IS NULL THEN '\\N' WHEN ${c} GLOB '*[\\\t\n\r]*' THEN ${escaped} ELSE ${c} END`;
}

function sqlHexGroups(c: string): string {
  const h = `lower(hex(${c}))`;
  return Array.from({ length: 8 }, (_, i) => `substr(${h}, ${i * 4 + 1}, 4)`).join(" || ':' || ");
}

/** SQLite expression of one stored column as COPY text, by its storage. */
function sqlValue(c: string, storage: string, inetText: boolean): string {
  switch (storage) {
    case "us":
      return `CASE WHEN ${c} IS NULL THEN '\\N' ELSE strftime('%Y-%m-%d %H:%M:%S', ${c} / 1000000, 'unixepoch') || '.' || printf('%06d', ${c} % 1000000) || '+00' END`;
    case "mac48":
      return `CASE WHEN ${c} IS NULL THEN '\\N' ELSE printf('%012x', ${c}) END`;
    case "ip":
      return `CASE typeof(${c}) WHEN 'integer' THEN printf('%d.%d.%d.%d', (${c} >> 24) & 255, (${c} >> 16) & 255, (${c} >> 8) & 255, ${c} & 255) WHEN 'blob' THEN ${
        sqlHexGroups(c)
      } ELSE '\\N' END`;
    case "bool":
      return `CASE WHEN ${c} IS NULL THEN '\\N' WHEN ${c} THEN 't' ELSE 'f' END`;
    case "int":
    case "bits":
      return `coalesce(${c}, '\\N')`;
    default:
      // Addresses the DHCP decoder wrote as text (from bytes: always well formed, or empty).
      return inetText ? `CASE WHEN ${c} IS NULL OR ${c} = '' THEN '\\N' ELSE ${c} END` : sqlText(c);
  }
}

/**
 * The SQLite query that reads the events after a position as ready COPY
 * text for `vigia.events`: one row with `text` (the lines, in no
 * particular order), `n`, `last` (the highest id) and `days` (the UTC
 * days, comma separated). SQLite formats the values itself, so the shipper
 * only moves one string per batch through JavaScript (measured: several
 * times faster than encoding row objects).
 */
export function eventCopyQuery(sensor: string): string {
  const parts = CENTRAL_EVENT_COLUMNS.map((c) => {
    if (c.name === "sensor") return `'${copyText(sensor).replace(/'/g, "''")}'`;
    if (c.name === "local_id") return "e.id";
    if (c.name === "mac") return sqlValue("f.client_mac", "mac48", false);
    if (c.name === "vendor") return sqlText("f.vendor");
    return sqlValue(`e.${c.local!.name}`, c.local!.storage, c.pg.startsWith("inet"));
  });
  return `SELECT group_concat(line, char(10)) AS text, count(*) AS n, max(id) AS last,
      group_concat(DISTINCT day) AS days
    FROM (SELECT e.id AS id, e.time / 86400000000 AS day, ${parts.join(" || char(9) || ")} AS line
      FROM events e JOIN flows f ON f.id = e.flow WHERE e.id > ? ORDER BY e.id LIMIT ?)`;
}
