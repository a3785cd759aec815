/**
 * Control verbs of the `dns` component: `zone list`, `zone add`, `zone del`,
 * `zone status`.
 * They edit the zone table in the store; a running server rebuilds its
 * answers at once (and would notice an edit made by another process within
 * `dns.table_poll` anyway). With the daemon down they just edit the table.
 *
 * @module
 */

import { type VerbEnv, VerbError, verbsOf, type VerbSpec } from "../daemon/types.ts";
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
import {
  isSubdomain,
  keyToText,
  nameFromText,
  nameKey,
  TYPE,
  typeFromName,
  typeName,
} from "./wire.ts";
import { zoneText } from "./transfer_config.ts";
import { buildZoneDb, findZone } from "./zone_db.ts";
import type { ZoneRecord } from "./zone_file.ts";

/** What the zone verbs use. */
type ZoneEnv = Pick<VerbEnv<DnsConfig, DnsServer>, "store" | "section" | "running">;

const verb = verbsOf<DnsConfig, DnsServer>();

function absoluteName(name: string): string {
  const n = name.endsWith(".") ? name : `${name}.`;
  try {
    return keyToText(nameKey(nameFromText(n)));
  } catch (e) {
    throw new VerbError(`bad name "${name}": ${(e as Error).message}`);
  }
}

function allRecords(env: ZoneEnv): { records: ZoneRecord[]; problems: string[] } {
  const config = env.section;
  const s = staticRecords(config);
  const t = tableRecords(env.store, config.default_ttl);
  return {
    records: [...s.records, ...t.records],
    problems: [...s.problems, ...t.problems].map(problemText),
  };
}

function reload(env: ZoneEnv): void {
  env.running()?.reloadZones();
}

/** `zone list`: every record served, from every source. */
function zoneList(env: ZoneEnv) {
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
}

/** `zone add NAME TYPE VALUE [--ttl T]`: adds a record to the zone table. */
function zoneAdd(
  args: { name: string; type: string; value: string; ttl?: string },
  env: ZoneEnv,
) {
  const config = env.section;
  const name = absoluteName(args.name);
  const typeText = args.type.toUpperCase();
  const type = typeFromName(typeText);
  if (type === undefined) throw new VerbError(`unknown type "${typeText}"`);
  const value = args.value;
  const ttlText = args.ttl;
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
  const following = config.secondary.find((z) =>
    isSubdomain(nameKey(record.name), nameKey(nameFromText(zoneText(z.origin))))
  );
  if (following) {
    throw new VerbError(
      `${name} is in ${zoneText(following.origin)}, a secondary zone: edit it on its primary`,
    );
  }
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
}

/**
 * `zone status` {zone?}: per zone, role, serial, records and the errors of
 * its sources (from the running server; read from the sources when the
 * daemon's dns component is not running).
 */
function zoneStatus(wanted: string | undefined, env: ZoneEnv): ZoneStatus[] {
  const running = env.running();
  let rows: ZoneStatus[];
  if (running) rows = running.zoneStatus();
  else {
    const config = env.section;
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
  if (wanted === undefined) return rows;
  const zone = absoluteName(wanted);
  const found = rows.filter((r) => r.zone === zone);
  if (found.length === 0) {
    throw new VerbError(
      `zone ${zone} is not served (zones: ${rows.map((r) => r.zone).join(", ") || "none"})`,
    );
  }
  return found;
}

/** `zone del NAME [TYPE]`: removes zone-table records of a name (and type). */
function zoneDel(args: { name: string; type?: string }, env: ZoneEnv) {
  const name = absoluteName(args.name);
  const typeText = args.type;
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
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Every verb of the component. */
export const dnsVerbs: VerbSpec<DnsConfig, DnsServer>[] = [
  verb({
    name: "zone list",
    describe: "records served, with their source",
    role: "read",
    output: "list",
    run: (_args, env) => zoneList(env),
  }),
  verb({
    name: "zone add",
    describe: "add a record (served at once)",
    role: "admin",
    output: "document",
    args: {
      name: { type: "string", positional: true, required: true, describe: "owner name" },
      type: {
        type: "string",
        positional: true,
        required: true,
        describe: "record type (A, MX, ...)",
      },
      value: { type: "string", positional: true, required: true, describe: "record data" },
      ttl: { type: "string", describe: "TTL in seconds or with units (1h)" },
    },
    run: (args, env) => zoneAdd(args, env),
  }),
  verb({
    name: "zone del",
    describe: "delete records of a name",
    role: "admin",
    output: "document",
    args: {
      name: { type: "string", positional: true, required: true, describe: "owner name" },
      type: { type: "string", positional: true, describe: "only this record type" },
    },
    run: (args, env) => zoneDel(args, env),
  }),
  verb({
    name: "zone status",
    describe: "per zone: role, serial, records, errors of its sources",
    role: "read",
    output: "list",
    args: { zone: { type: "string", positional: true, describe: "only this zone" } },
    run: (args, env) => zoneStatus(args.zone, env),
  }),
];

/** Help lines of the component's verb groups. */
export const dnsVerbGroups: Record<string, string> = {
  zone: "records served by the dns component",
};

/** Verbs' access to zone problems (used by tests). */
export { allRecords as zoneSourceRecords };
