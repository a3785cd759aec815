/**
 * Rows of the local store as PostgreSQL COPY text (tab-separated, `\N` for
 * NULL, backslash escapes), for the small streams and a quarantined row.
 * Each table's encoder is a list of column encoders built once; the hot
 * loop only concatenates strings. The events' bulk path is binary COPY
 * ({@linkcode eventBinaryPlan}, `copy_binary.ts`), made in a worker.
 *
 * @module
 */

import { ipToKey, keyToIp } from "../sniffer/mod.ts";
import { CENTRAL_EVENT_COLUMNS } from "./schema.ts";
import { type BinaryColumn, BinaryKind } from "./copy_binary.ts";

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

/** What the shipper's reading worker runs to make binary COPY of `vigia.events`. */
export interface EventBinaryPlan {
  /** SELECT of the values after an id (`?`), at most `?` rows, in id order: id first, time second. */
  sql: string;
  /** The COPY's columns, in {@linkcode CENTRAL_EVENT_COLUMNS} order. */
  columns: BinaryColumn[];
}

function intKind(pg: string): BinaryColumn["kind"] {
  if (pg.startsWith("smallint")) return BinaryKind.int2;
  if (pg.startsWith("integer")) return BinaryKind.int4;
  if (pg.startsWith("bigint")) return BinaryKind.int8;
  throw new Error(`no binary COPY form for an integer column of type ${pg}`);
}

/**
 * The binary COPY plan of `vigia.events` for rows read as `events` with
 * the flow's `client_mac` and `vendor`, and the constant sensor name.
 */
export function eventBinaryPlan(sensor: string): EventBinaryPlan {
  const select: string[] = [];
  const columns = CENTRAL_EVENT_COLUMNS.map((c): BinaryColumn => {
    if (c.name === "sensor") return { kind: BinaryKind.constant, value: sensor };
    if (c.name === "local_id") {
      select.push("e.id");
      return { kind: BinaryKind.int8 };
    }
    if (c.name === "mac") {
      select.push("f.client_mac");
      return { kind: BinaryKind.mac48 };
    }
    if (c.name === "vendor") {
      select.push("f.vendor");
      return { kind: BinaryKind.text };
    }
    const local = c.local!;
    select.push(`e.${local.name}`);
    switch (local.storage) {
      case "us":
        return { kind: BinaryKind.timeUs };
      case "mac48":
        return { kind: BinaryKind.mac48 };
      case "ip":
        return { kind: BinaryKind.ip };
      case "bool":
        return { kind: BinaryKind.bool };
      case "json":
        return { kind: BinaryKind.jsonb };
      case "int":
      case "bits":
        return { kind: intKind(c.pg) };
      default:
        return { kind: c.pg.startsWith("inet") ? BinaryKind.ipText : BinaryKind.text };
    }
  });
  if (select[0] !== "e.id" || select[1] !== "e.time") {
    throw new Error("vigia.events must start with sensor, local_id, time");
  }
  return {
    sql: `SELECT ${select.join(", ")} FROM events e JOIN flows f ON f.id = e.flow
      WHERE e.id > ? ORDER BY e.id LIMIT ?`,
    columns,
  };
}
