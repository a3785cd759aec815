/**
 * The `metrics` component: Prometheus metrics of the daemon and of every
 * component at `http://[metrics] listen/metrics`.
 *
 * `registry.ts` holds the families that components register through their
 * context (`context.metrics`, a {@linkcode MetricsScope} per component,
 * cleared when it stops); `exposition.ts` renders them (Prometheus text
 * 0.0.4, OpenMetrics 1.0); `process.ts` adds the standard `process_*`
 * families; `component.ts` is the HTTP listener; `config.ts` the `[metrics]`
 * section. Conventions: `vigia_` prefix, base units (`_seconds`, `_bytes`),
 * counters end in `_total`, label values from bounded sets.
 *
 * @example
 * ```ts ignore
 * import { metricsModule } from "./mod.ts";
 * const server = metricsModule.create(context); // context.section is [metrics]
 * await server.start();
 * ```
 *
 * @module
 */

import { type ComponentModule, sectionOf, type VigiaConfig } from "../daemon/types.ts";
import { listenCheck, type MetricsConfig, metricsSection, tokenFileCheck } from "./config.ts";
import { MetricsServer } from "./component.ts";

export { type MetricsConfig, metricsSection } from "./config.ts";
export type { MetricsServer } from "./component.ts";
export {
  type Emit,
  type Family,
  type FamilyOptions,
  MetricsRegistry,
  MetricsScope,
  type MetricType,
  observe,
  TypedFamily,
  TypedHistogram,
  type TypedOptions,
} from "./registry.ts";
export { type Format, negotiate, OPENMETRICS_TYPE, render, TEXT_TYPE } from "./exposition.ts";
export { registerProcessMetrics } from "./process.ts";

function own(config: VigiaConfig): { metrics: MetricsConfig } {
  return { metrics: sectionOf(metricsModule, config) };
}

/** The `metrics` component module, registered in `lib/app/mod.ts`. */
export const metricsModule: ComponentModule<MetricsConfig, MetricsServer> = {
  name: "metrics",
  schema: metricsSection,
  // The checks read only their own section.
  checks: [(config, report, context) => tokenFileCheck(own(config), report, context)],
  liveCheck: (running) => (config, report, context) =>
    listenCheck(running && own(running))(own(config), report, context),
  enabled: (section) => section.enabled,
  create: (context) => new MetricsServer(context),
};
