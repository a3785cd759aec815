/**
 * What `vigia ctl zone status` shows per zone: role, serial, record count,
 * when it was loaded, and the errors of the sources it is served from (a
 * broken source keeps serving its last good copy, see `good_copy.ts`);
 * for a secondary zone also its last transfer in, next refresh, expiry and
 * last error (`secondary.ts`).
 *
 * @module
 */

import type { SourceError } from "./good_copy.ts";
import { soaSerial } from "./serial.ts";
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
  /**
   * `ok`, or `error` while one of its sources is broken (a secondary: while
   * its last check failed); secondaries also `pending` (no first transfer
   * yet) and `expired` (answered SERVFAIL).
   */
  state: "ok" | "error" | "pending" | "expired";
  /** Problems of its broken sources, each `FILE:LINE: message; serving its last good copy`. */
  errors: string[];
  /** When the zone was last transferred out (ISO time), if ever since start. */
  last_transfer_out?: string | null;
  /** When a NOTIFY of the zone was last answered (ISO time), if ever since start. */
  last_notify_answered?: string | null;
  /** Secondary: the last transfer in (`TIME KIND from PRIMARY, serial A -> B, ...`). */
  last_transfer_in?: string | null;
  /** Secondary: when the next check of the primaries is due (ISO time, or `now`). */
  next_refresh?: string | null;
  /** Secondary: when the copy expires unless a primary confirms it (ISO time). */
  expires_at?: string | null;
  /** Secondary: the last failed check (`TIME PRIMARY: reason: message`). */
  last_error?: string | null;
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
  options: { errors: SourceError[]; loadedAt: string },
): ZoneStatus[] {
  const { errors, loadedAt } = options;
  const rows: ZoneStatus[] = [];
  const errorText = (e: SourceError) => e.problems.map((p) => `${p}; serving its ${e.serving}`);
  for (const zone of db?.zones.values() ?? []) {
    const mine = errors.filter((e) => e.zones.includes(zone.name)).flatMap(errorText);
    rows.push({
      zone: zone.name,
      role: "primary",
      serial: soaSerial(zone.soa.rdatas[0]),
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
