/**
 * Control verbs of the `dns` component: `zone list`, `zone add`, `zone del`.
 * They edit the zone table in the store; a running server rebuilds its
 * answers at once (and would notice an edit made by another process within
 * `dns.table_poll` anyway). With the daemon down they just edit the table.
 *
 * @module
 */

import { type VerbArgs, type VerbEnv, VerbError, type VerbHandler } from "../daemon/types.ts";
import type { DnsConfig } from "./config.ts";
import { formatRdata, parseTtl } from "./rdata.ts";
import type { DnsServer } from "./component.ts";
import { problemText } from "./sources.ts";
import { GoodCopies, INCOMPLETE } from "./good_copy.ts";
import {
  configRecords,
  rowRecord,
  sourceText,
  staticRecords,
  TABLE_FILE,
  tableRecords,
  tableRowRecords,
  zoneFileRecords,
} from "./sources.ts";
import { type ZoneStatus, zoneStatusRows } from "./zone_status.ts";
import { keyToText, nameFromText, nameKey, TYPE, typeFromName, typeName } from "./wire.ts";
import { buildZoneDb, findZone } from "./zone_db.ts";
import type { ZoneRecord } from "./zone_file.ts";

function dnsConfig(env: VerbEnv): DnsConfig {
  return env.config.dns as DnsConfig;
}

function text(args: VerbArgs, key: string, required: boolean): string | undefined {
  const v = args[key];
  if (v === undefined || v === null || v === "") {
    if (required) throw new VerbError(`missing ${key}`);
    return undefined;
  }
  if (typeof v !== "string" && typeof v !== "number") throw new VerbError(`${key} must be text`);
  return String(v);
}

function absoluteName(name: string): string {
  const n = name.endsWith(".") ? name : `${name}.`;
  try {
    return keyToText(nameKey(nameFromText(n)));
  } catch (e) {
    throw new VerbError(`bad name "${name}": ${(e as Error).message}`);
  }
}

function allRecords(env: VerbEnv): { records: ZoneRecord[]; problems: string[] } {
  const config = dnsConfig(env);
  const s = staticRecords(config);
  const t = tableRecords(env.store, config.default_ttl);
  return {
    records: [...s.records, ...t.records],
    problems: [...s.problems, ...t.problems].map(problemText),
  };
}

function reload(env: VerbEnv): void {
  const running = env.running() as DnsServer | undefined;
  running?.reloadZones?.();
}

/** `zone list` {}: every record served, from every source. */
export const zoneList: VerbHandler = (_args, env) => {
  const { records } = allRecords(env);
  const { db } = buildZoneDb(records);
  const rows = records.map((r) => {
    const zone = findZone(db, nameKey(r.name));
    return {
      zone: zone?.name ?? "(none)",
      name: keyToText(nameKey(r.name)),
      ttl: r.ttl,
      type: typeName(r.type),
      value: formatRdata(r.type, r.rdata),
      source: sourceText(r),
    };
  });
  rows.sort((a, b) => a.zone.localeCompare(b.zone) || a.name.localeCompare(b.name));
  return rows;
};

/** `zone add` {name, type, value, ttl?}: adds a record to the zone table. */
export const zoneAdd: VerbHandler = (args, env) => {
  const config = dnsConfig(env);
  const name = absoluteName(text(args, "name", true)!);
  const typeText = text(args, "type", true)!.toUpperCase();
  const type = typeFromName(typeText);
  if (type === undefined) throw new VerbError(`unknown type "${typeText}"`);
  const value = text(args, "value", true)!;
  const ttlText = text(args, "ttl", false);
  let ttl: number | null = null;
  if (ttlText !== undefined) {
    ttl = parseTtl(ttlText);
    if (Number.isNaN(ttl)) {
      throw new VerbError(`bad ttl "${ttlText}": give seconds or units like 1h`);
    }
  }
  const typeLabel = typeName(type);
  const parsed = rowRecord({ id: 0, name, type: typeLabel, value, ttl }, config.default_ttl);
  if (parsed.problems.length > 0 || parsed.records.length !== 1) {
    throw new VerbError(
      `bad ${typeLabel} record: ${
        parsed.problems.map((p) => p.message).join("; ") || "not one record"
      }`,
    );
  }
  const record = parsed.records[0];
  const before = allRecords(env).records;
  const key = nameKey(record.name);
  if (
    before.some((r) =>
      r.type === record.type && nameKey(r.name) === key && sameBytes(r.rdata, record.rdata)
    )
  ) {
    throw new VerbError(
      `${name} ${typeLabel} ${formatRdata(type, record.rdata)} is already served`,
    );
  }
  const { db } = buildZoneDb(before);
  if (type !== TYPE.SOA && !findZone(db, key)) {
    const zones = [...db.zones.values()].map((z) => z.name).join(", ") || "none";
    throw new VerbError(`${name} is not inside any served zone (zones: ${zones})`);
  }
  const was = new Set(buildZoneDb(before).problems.map((p) => p.message));
  const after = buildZoneDb([...before, { ...record, file: TABLE_FILE, line: 0 }]).problems;
  const fresh = after.filter((p) => !was.has(p.message));
  const blocking = fresh.filter((p) => !INCOMPLETE.test(p.message));
  if (blocking.length > 0) {
    throw new VerbError(`refused: ${blocking.map((p) => p.message).join("; ")}`);
  }
  const { lastInsertRowid } = env.store.run(
    "INSERT INTO dns_records (name, type, value, ttl, created_at) VALUES (?, ?, ?, ?, ?)",
    name,
    typeLabel,
    value,
    ttl,
    new Date().toISOString(),
  );
  reload(env);
  const zone = findZone(buildZoneDb([...before, record]).db, key);
  return {
    id: lastInsertRowid,
    zone: zone?.name ?? "",
    name,
    ttl: record.ttl,
    type: typeLabel,
    value: formatRdata(type, record.rdata),
    ...(fresh.length > 0 ? { warnings: fresh.map((p) => p.message).join("; ") } : {}),
  };
};

/**
 * `zone status` {zone?}: per zone, role, serial, records and the errors of
 * its sources (from the running server; read from the sources when the
 * daemon's dns component is not running).
 */
export const zoneStatus: VerbHandler = (args, env) => {
  const running = env.running() as DnsServer | undefined;
  let rows: ZoneStatus[];
  if (running?.zoneStatus) rows = running.zoneStatus();
  else {
    const config = dnsConfig(env);
    const files = new Map(
      config.zone_files.map((p) => [p, zoneFileRecords(p, config.default_ttl)] as const),
    );
    const merged = new GoodCopies().merge({
      config: configRecords(config),
      files,
      rows: tableRowRecords(env.store, config.default_ttl),
    }, (records) => buildZoneDb(records));
    rows = zoneStatusRows(merged.built.db, {
      errors: merged.errors,
      loadedAt: new Date().toISOString(),
    });
  }
  const wanted = text(args, "zone", false);
  if (wanted === undefined) return rows;
  const zone = absoluteName(wanted);
  const found = rows.filter((r) => r.zone === zone);
  if (found.length === 0) {
    throw new VerbError(
      `zone ${zone} is not served (zones: ${rows.map((r) => r.zone).join(", ") || "none"})`,
    );
  }
  return found;
};

/** `zone del` {name, type?}: removes zone-table records of a name (and type). */
export const zoneDel: VerbHandler = (args, env) => {
  const name = absoluteName(text(args, "name", true)!);
  const typeText = text(args, "type", false);
  let typeLabel: string | undefined;
  if (typeText !== undefined) {
    const type = typeFromName(typeText);
    if (type === undefined) throw new VerbError(`unknown type "${typeText}"`);
    typeLabel = typeName(type);
  }
  const rows = env.store.query<{ id: number; name: string; type: string }>(
    "SELECT id, name, type FROM dns_records WHERE name = ? COLLATE NOCASE OR name = ? COLLATE NOCASE",
    name,
    name.slice(0, -1),
  ).filter((r) => typeLabel === undefined || typeFromName(r.type) === typeFromName(typeLabel));
  if (rows.length === 0) {
    throw new VerbError(
      `no zone-table records for ${name}${
        typeLabel ? ` ${typeLabel}` : ""
      } (records from the config or zone files are edited there)`,
    );
  }
  let deleted = 0;
  env.store.transaction(() => {
    for (const r of rows) {
      deleted += env.store.run("DELETE FROM dns_records WHERE id = ?", r.id).changes;
    }
  });
  reload(env);
  return { deleted, name, ...(typeLabel ? { type: typeLabel } : {}) };
};

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Every verb of the component. */
export const dnsVerbs: Record<string, VerbHandler> = {
  "zone list": zoneList,
  "zone add": zoneAdd,
  "zone del": zoneDel,
  "zone status": zoneStatus,
};

/** Verbs' access to zone problems (used by tests). */
export { allRecords as zoneSourceRecords };
