/**
 * Stored events back in the form of the daily file: `ctl logs` rows are
 * built from the same field tables (`fields.ts`) as the daily lines, so the
 * two show the same fields, in the same order, left out under the same
 * rules (the JSON form of each value is the field's `json`).
 *
 * @module
 */

import type { ZonedClock } from "../daylog/mod.ts";
import { dnsClassName, dnsRcodeName, dnsTypeName } from "../net/dns_names.ts";
import { intToMac, keyToIp } from "./codec.ts";
import {
  type AnswerRecord,
  EVENT_COLUMNS,
  type EventField,
  type EventRecord,
  fieldsOf,
  type FieldValue,
  isSkipped,
} from "./fields.ts";
import { FLAG_AA, FLAG_RA, FLAG_RD, FLAG_TC } from "./schema.ts";

/** A raw events row as read (the events columns plus `client_mac` and `vendor` of its flow). */
// deno-lint-ignore no-explicit-any
export type EventRow = Record<string, any>;

const STORAGE = new Map<string, string>(EVENT_COLUMNS.map((c) => [c.name, c.storage]));
const FLAG_BITS: Record<string, number> = { AA: FLAG_AA, TC: FLAG_TC, RD: FLAG_RD, RA: FLAG_RA };

function answersOf(row: EventRow): AnswerRecord[] {
  if (!row.answers) return [];
  return (JSON.parse(row.answers) as [string, string, number, string][]).map((
    [name, type, ttl, data],
  ) => ({ name, type, ttl, data }));
}

/** The value of field `f` of a stored row, in natural form (as the pipeline set it). */
export function fieldValue(f: EventField, row: EventRow): FieldValue {
  switch (f.column) {
    case "flows.client_mac":
      return row.client_mac === null || row.client_mac === undefined
        ? ""
        : intToMac(Number(row.client_mac));
    case "flows.vendor":
      return row.vendor ?? "";
    case "to_client":
      return Boolean(row.to_client);
    case "flags":
      return (Number(row.flags) & FLAG_BITS[f.name]) !== 0;
    case "answers":
      return answersOf(row);
  }
  const v = row[f.column];
  if (f.name !== f.column) {
    // Mnemonics derived from their stored number.
    if (f.name === "qtype_name") return dnsTypeName(v);
    if (f.name === "qclass_name") return dnsClassName(v);
    if (f.name === "rcode_name") return row.to_client ? dnsRcodeName(v) : "";
  }
  if (v === null || v === undefined) return v;
  const storage = STORAGE.get(f.column);
  if (storage === "mac48") return intToMac(Number(v));
  if (storage === "ip") return keyToIp(v);
  return typeof v === "bigint" ? Number(v) : v;
}

/** The JSON form of value `v` of field `f`. */
export function jsonValue(f: EventField, v: FieldValue): unknown {
  if (f.text === "answer-data") return (v as AnswerRecord[]).map((a) => a.data);
  if (f.text === "answer-ttls") return (v as AnswerRecord[]).map((a) => a.ttl);
  switch (f.json) {
    case "number":
      return Number(v);
    case "bool":
      return Boolean(v);
    case "string":
      // A string is the daily file's text (`qr`: Q or R).
      return f.text === "qr" ? (v ? "R" : "Q") : String(v);
    default:
      return v;
  }
}

/** A stored row's values, by field name, in natural form. */
export function recordOf(row: EventRow): EventRecord {
  const out: EventRecord = {};
  for (const f of fieldsOf(row.kind)) out[f.name] = fieldValue(f, row);
  return out;
}

/**
 * What `ctl logs` prints for a stored row: `time` (the daily file's
 * timestamp), `kind`, then the fields of the daily line, in its order,
 * with the same values left out; values in their JSON form.
 */
export function presentEvent(row: EventRow, clock: ZonedClock): Record<string, unknown> {
  const out: Record<string, unknown> = {
    time: clock.stamp(new Date(Math.floor(Number(row.time) / 1000))).timestamp,
    kind: row.kind,
  };
  for (const f of fieldsOf(row.kind)) {
    if (f.text === "none") continue;
    const v = fieldValue(f, row);
    if (isSkipped(f, v) || (f.text.startsWith("answer") && noData(v))) continue;
    out[f.name] = jsonValue(f, v);
  }
  return out;
}

function noData(v: FieldValue): boolean {
  const list = v as AnswerRecord[];
  return list.length === 0 || (list.length === 1 && list[0].data === "");
}
