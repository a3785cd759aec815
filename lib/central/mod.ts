/**
 * The `central` component: ships everything the sensor stores to a central
 * PostgreSQL (`shipper.ts`), whose schema `vigia` it creates and migrates
 * (`schema.ts`); `vigia central ...` reads it across sensors
 * (`queries.ts`). The local store stays the sensor's own copy and its
 * outbox: while shipping is on, local retention keeps rows not shipped yet
 * ({@linkcode centralModule}'s `holds`).
 *
 * @example
 * ```ts ignore
 * import { centralModule } from "./mod.ts";
 * const shipper = centralModule.create(context); // context.section is [central]
 * await shipper.start();                          // returns at once; ships in the background
 * ```
 *
 * @module
 */

import type { ComponentModule } from "../daemon/types.ts";
import type { Store } from "../store/mod.ts";
import { centralChecks, type CentralConfig, centralSection } from "./config.ts";
import { centralMigrations, CentralShipper, recordLost, SHIPPED_TABLE } from "./shipper.ts";

export {
  type CentralConfig,
  centralSection,
  type ConnectTarget,
  parseCentralUrl,
  sensorName,
  sensorNameProblem,
} from "./config.ts";
export {
  type CentralConnection,
  connectCentral,
  type ConnectOptions,
  describeError,
  NoAnswer,
  type Sql,
  targetLabel,
  type TxSql,
} from "./connect.ts";
export {
  CENTRAL_EVENT_COLUMNS,
  CENTRAL_SCHEMA_VERSION,
  type CentralEventColumn,
  centralSchemaMarkdown,
  dropOldPartitions,
  ensurePartitions,
  migrateCentral,
  type MigrateResult,
  SchemaMissing,
  SchemaTooNew,
  schemaVersion,
} from "./schema.ts";
export { CentralShipper, SensorInUse, type ShipperStatus } from "./shipper.ts";

/**
 * The shipped position of each stream, as the shipper last recorded it
 * after a commit: local retention keeps every row above it.
 */
export function shippedPositions(store: Store): Record<string, number> {
  const present = store.get("SELECT 1 AS x FROM sqlite_master WHERE name = ?", SHIPPED_TABLE);
  const out: Record<string, number> = { events: 0, alerts: 0, scans: 0, veridns_events: 0 };
  if (!present) return out;
  for (
    const r of store.query<{ stream: string; position: number }>(
      `SELECT stream, position FROM ${SHIPPED_TABLE}`,
    )
  ) out[r.stream] = r.position;
  return out;
}

/** The `central` component module, registered in `lib/app/mod.ts`. */
export const centralModule: ComponentModule<CentralConfig, CentralShipper> = {
  name: "central",
  schema: centralSection,
  checks: [
    (config, report, context) =>
      centralChecks[0]({ central: config.central as CentralConfig }, report, context),
  ],
  enabled: (section) => section.enabled,
  migrations: centralMigrations,
  create: (context) => new CentralShipper(context),
  holds: (section, store) => section.enabled ? shippedPositions(store) : undefined,
  lost: (_section, store, rows) => recordLost(store, rows),
};
