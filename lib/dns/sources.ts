/**
 * The three zone sources, merged: zones written in the config
 * (`[[dns.zone]]`), RFC 1035 zone files (`dns.zone_files`) and the zone
 * table in the store (`dns_records`, edited with `vigia ctl zone add|del`).
 * Every record keeps where it came from, so problems point at a config key,
 * a FILE:LINE or a table row.
 *
 * @module
 */

import type { Store } from "../store/mod.ts";
import type { DnsConfig } from "./config.ts";
import { nameFromText, nameKey, TYPE } from "./wire.ts";
import { parseZoneFile, parseZoneText, type ZoneProblem, type ZoneRecord } from "./zone_file.ts";

/** Records and problems from some sources. */
export interface SourceResult {
  /** Records, in source order. */
  records: ZoneRecord[];
  /** Problems found while reading them. */
  problems: ZoneProblem[];
}

/** Where a record came from, for people: `config dns.zone[0].records[3]`, `FILE:LINE`, `table #7`. */
export function sourceText(r: ZoneRecord): string {
  if (r.file.startsWith("dns.zone[")) return `config ${r.file}`;
  if (r.file === TABLE_FILE) return `table #${r.line}`;
  return `${r.file}:${r.line}`;
}

/** How a problem reads in logs and verb results: `FILE:LINE: message`. */
export function problemText(p: ZoneProblem): string {
  if (p.file.startsWith("dns.")) return `config ${p.file}: ${p.message}`;
  if (p.file === TABLE_FILE) return `${TABLE_FILE} row ${p.line}: ${p.message}`;
  return `${p.file}${p.line ? `:${p.line}` : ""}: ${p.message}`;
}

/** The `file` of records from the zone table; their `line` is the row id. */
export const TABLE_FILE = "zone table";

/** Records written in the config; problems name the config key (`dns.zone[0].records[2]`). */
export function configRecords(config: DnsConfig): SourceResult {
  const records: ZoneRecord[] = [];
  const problems: ZoneProblem[] = [];
  config.zone.forEach((zone, i) => {
    const origin = zone.origin.endsWith(".") ? zone.origin : `${zone.origin}.`;
    const result = parseZoneText(zone.records.join("\n"), {
      file: `dns.zone[${i}].records`,
      origin,
      defaultTtl: zone.ttl || config.default_ttl,
    });
    const place = (line: number) => `dns.zone[${i}].records[${line - 1}]`;
    for (const r of result.records) records.push({ ...r, file: place(r.line), line: 0 });
    for (const p of result.problems) {
      problems.push({
        file: p.line > 0 ? place(p.line) : `dns.zone[${i}].origin`,
        line: 0,
        message: p.message,
      });
    }
    const hasSoa = result.records.some((r) => r.type === TYPE.SOA && sameName(r.name, origin));
    if (!hasSoa && result.problems.length === 0) {
      problems.push({
        file: `dns.zone[${i}].records`,
        line: 0,
        message:
          `zone ${origin} has no SOA record at its origin ("@ SOA MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM")`,
      });
    }
  });
  return { records, problems };
}

function sameName(wire: Uint8Array, text: string): boolean {
  try {
    return nameKey(wire) === nameKey(nameFromText(text));
  } catch {
    return false;
  }
}

/** Records of every zone file; problems carry FILE:LINE. */
export function fileRecords(config: DnsConfig): SourceResult {
  const records: ZoneRecord[] = [];
  const problems: ZoneProblem[] = [];
  for (const path of config.zone_files) {
    const result = zoneFileRecords(path, config.default_ttl);
    for (const r of result.records) records.push(r);
    for (const p of result.problems) problems.push(p);
  }
  return { records, problems };
}

/** Records of one zone file; a file without any SOA is a problem of its own. */
export function zoneFileRecords(path: string, defaultTtl: number): SourceResult {
  const result = parseZoneFile(path, { defaultTtl });
  if (result.problems.length === 0 && !result.records.some((r) => r.type === TYPE.SOA)) {
    const first = result.records[0];
    result.problems.push({
      file: path,
      line: first?.line ?? 0,
      message: first
        ? "zone file has no SOA record: the records from this line on belong to no zone"
        : "zone file has no SOA record",
    });
  }
  return result;
}

/** A row of the zone table. */
export interface TableRow {
  /** Row id (shown as `table #ID`). */
  id: number;
  /** Owner name, absolute. */
  name: string;
  /** Type mnemonic (`A`, `TYPE65000`). */
  type: string;
  /** RDATA in presentation form. */
  value: string;
  /** TTL in seconds, or null for `dns.default_ttl`. */
  ttl: number | null;
}

/** Parses one table row as a record (names in the table are absolute). */
export function rowRecord(row: TableRow, defaultTtl: number): SourceResult {
  const name = row.name.endsWith(".") ? row.name : `${row.name}.`;
  const ttl = row.ttl === null ? "" : String(row.ttl);
  return parseZoneText(`${name} ${ttl} IN ${row.type} ${row.value}`, {
    file: TABLE_FILE,
    firstLine: row.id,
    defaultTtl,
  });
}

/** Records of the zone table. */
export function tableRecords(store: Store, defaultTtl: number): SourceResult {
  const records: ZoneRecord[] = [];
  const problems: ZoneProblem[] = [];
  for (const r of tableRowRecords(store, defaultTtl).values()) {
    for (const x of r.records) records.push(x);
    for (const p of r.problems) problems.push(p);
  }
  return { records, problems };
}

/** Each zone-table row parsed on its own, by row id (in id order). */
export function tableRowRecords(store: Store, defaultTtl: number): Map<number, SourceResult> {
  const out = new Map<number, SourceResult>();
  const rows = store.query<TableRow>(
    "SELECT id, name, type, value, ttl FROM dns_records ORDER BY id",
  );
  for (const row of rows) out.set(row.id, rowRecord(row, defaultTtl));
  return out;
}

/** The zone table's edit counter. */
export function tableGeneration(store: Store): number {
  return store.get<{ generation: number }>(
    "SELECT generation FROM dns_records_generation WHERE id = 1",
  )?.generation ?? 0;
}

/** Config and zone-file records together (what does not change between reloads). */
export function staticRecords(config: DnsConfig): SourceResult {
  const a = configRecords(config);
  const b = fileRecords(config);
  return { records: [...a.records, ...b.records], problems: [...a.problems, ...b.problems] };
}
