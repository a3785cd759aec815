/**
 * The composition root: the list of component modules and the whole config
 * schema built from their sections. Only `main.ts`, the CLI and tests import
 * this; components never do, so there are no import cycles.
 *
 * @module
 */

import { type Section, section, type Spec } from "../config/mod.ts";
import { alertsSection } from "../alerts/config.ts";
import {
  controlSection,
  geoipSection,
  logSection,
  pathsSection,
  storeSection,
} from "../daemon/config.ts";
import type { ComponentModule } from "../daemon/types.ts";
import { snifferModule } from "../sniffer/mod.ts";
import { dnsModule } from "../dns/mod.ts";
import { veridnsModule } from "../veridns/mod.ts";
import { scannerModule } from "../scan/mod.ts";
import { metricsModule } from "../metrics/mod.ts";
import { centralModule } from "../central/mod.ts";

/** Every component module, in start order (stopped in reverse). */
export const components: ComponentModule[] = [
  snifferModule,
  dnsModule,
  veridnsModule,
  scannerModule,
  metricsModule,
  centralModule,
];

/** The whole config schema: daemon sections first, then one section per component. */
export function configSchema(): Section<Spec> {
  const fields: Spec = {
    paths: pathsSection,
    log: logSection,
    store: storeSection,
    geoip: geoipSection,
    alerts: alertsSection,
    control: controlSection,
  };
  for (const c of components) fields[c.name] = c.schema;
  return section("vigia configuration", fields);
}
