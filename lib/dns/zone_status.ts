/**
 * What `vigia ctl zone status` shows per zone: role, serial, record count,
 * when it was loaded, and the errors of the sources it is served from (a
 * broken source keeps serving its last good copy, see `good_copy.ts`).
 *
 * @module
 */

import type { SourceError } from "./good_copy.ts";
import type { Zone, ZoneDb } from "./zone_db.ts";

/** One row of `ctl zone status`. */
export interface ZoneStatus {
  /** Apex, absolute. */
  zone: string;
  /** `primary` (served from local sources) or `secondary` (transferred in). */
  role: "primary" | "secondary";
  /** SOA serial served. */
  serial: number;
  /** Records served in the zone. */
  records: number;
  /** When the zone was last (re)built (ISO time). */
  loaded_at: string;
  /** `ok`, or `error` while one of its sources is broken. */
  state: "ok" | "error";
  /** Problems of its broken sources, each `FILE:LINE: message; serving its last good copy`. */
  errors: string[];
}

/** The SOA serial of a zone (RDATA: MNAME, RNAME, then five 32-bit numbers). */
export function zoneSerial(zone: Zone): number {
  const rdata = zone.soa.rdatas[0];
  const at = rdata.length - 20;
  return ((rdata[at] << 24) | (rdata[at + 1] << 16) | (rdata[at + 2] << 8) | rdata[at + 3]) >>>
    0;
}

/** Records in a zone. */
export function zoneRecordCount(zone: Zone): number {
  let n = 0;
  for (const node of zone.nodes.values()) {
    for (const set of node.rrsets.values()) n += set.rdatas.length;
  }
  return n;
}

/**
 * One row per zone served, plus one row (zone `(none)`) per broken source
 * that serves no zone at all (such as a zone file that never loaded).
 */
export function zoneStatusRows(
  db: ZoneDb | undefined,
  errors: SourceError[],
  loadedAt: string,
): ZoneStatus[] {
  const rows: ZoneStatus[] = [];
  const errorText = (e: SourceError) => e.problems.map((p) => `${p}; serving its ${e.serving}`);
  for (const zone of db?.zones.values() ?? []) {
    const mine = errors.filter((e) => e.zones.includes(zone.name)).flatMap(errorText);
    rows.push({
      zone: zone.name,
      role: "primary",
      serial: zoneSerial(zone),
      records: zoneRecordCount(zone),
      loaded_at: loadedAt,
      state: mine.length > 0 ? "error" : "ok",
      errors: mine,
    });
  }
  for (const e of errors) {
    if (e.zones.length > 0) continue;
    rows.push({
      zone: "(none)",
      role: "primary",
      serial: 0,
      records: 0,
      loaded_at: loadedAt,
      state: "error",
      errors: errorText(e),
    });
  }
  rows.sort((a, b) => a.zone.localeCompare(b.zone));
  return rows;
}
