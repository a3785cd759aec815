/**
 * The scanner: fault-tolerance scans of virtual police station domains
 * (FFanalyse's measurements plus a Zonemaster-like verdict), on a schedule in
 * the daemon, on demand with `vigia ctl scan run`, and one-shot with
 * `vigia analyse` through {@linkcode runAnalyse}.
 *
 * @example
 * ```ts ignore
 * import { runAnalyse } from "./mod.ts";
 * const out = await runAnalyse({ domain: "servicos.sds.pe.gov.br", resolvers: ["127.0.0.1:5300"] });
 * console.log(out.stdout); // the report; out.code is the exit code
 * ```
 *
 * @module
 */

import { geoipSection } from "../daemon/config.ts";
import { type ComponentModule, sectionOf, type VigiaConfig } from "../daemon/types.ts";
import { openGeo } from "../geo/mod.ts";
import { parseResolver, type ResolverAddress } from "../resolver/mod.ts";
import { analyseDomain, normaliseDomain } from "./analyse.ts";
import { configuredResolvers, ScannerComponent } from "./component.ts";
import { scannerChecks, type ScannerConfig, scannerSection } from "./config.ts";
import { renderReport } from "./report.ts";
import type { ScanResult } from "./types.ts";
import { scannerMigrations } from "./schema.ts";
import { scannerVerbGroups, scannerVerbs } from "./verbs.ts";

export { analyseDomain, type AnalyseOptions, normaliseDomain } from "./analyse.ts";
export { renderReport } from "./report.ts";
export { compareScans, evaluateFindings, type FindingInputs, type ScanChange } from "./findings.ts";
export {
  type Autocorrelation,
  type FluxInputs,
  type FluxScore,
  type FluxScores,
  fluxScores,
  type NameAnalysis,
  type ScoresAgreement,
} from "./metrics.ts";
export { type ScannerConfig, scannerSection } from "./config.ts";
export { type RecordedScan, ScannerComponent, type ScanRow } from "./component.ts";
export {
  type AddressInfo,
  type Finding,
  type Level,
  LEVELS,
  type NameServerInfo,
  type ResolverOutcome,
  type ScanCounts,
  type ScanResult,
  type SpatialStats,
} from "./types.ts";
export type { ResolverAddress } from "../resolver/mod.ts";
export type { GeoDb } from "../geo/mod.ts";

/** The scanner's component module for the daemon. */
export const scannerModule: ComponentModule<ScannerConfig, ScannerComponent> = {
  name: "scanner",
  schema: scannerSection,
  // The checks read only their own section.
  checks: scannerChecks.map((check) => (config, report, context) =>
    check({ scanner: sectionOf(scannerModule, config) }, report, context)
  ),
  enabled: (section) => section.enabled,
  migrations: scannerMigrations,
  create: (ctx) => new ScannerComponent(ctx),
  verbs: scannerVerbs,
  verbGroups: scannerVerbGroups,
};

/** Options for {@linkcode runAnalyse}. */
export interface RunAnalyseOptions {
  /** The domain (`-d`). */
  domain: string;
  /** `--resolver` values (`IP`, `IP:PORT`, `[v6]:PORT`, `system`); empty = the config's. */
  resolvers?: string[];
  /** Print the ScanResult JSON instead of the report. */
  json?: boolean;
  /** The validated whole config (`geoip`, `scanner`); absent = built-in defaults. */
  config?: VigiaConfig;
  /** Overrides `scanner.rounds`. */
  rounds?: number;
  /** Overrides `scanner.query_timeout` (ms). */
  timeoutMs?: number;
  /** Overrides `scanner.round_interval` (ms). */
  roundIntervalMs?: number;
  /** resolv.conf used for "system". @default "/etc/resolv.conf" */
  resolvConf?: string;
}

/** What `vigia analyse` prints and exits with. */
export interface RunAnalyseOutput {
  /** 0 done; 1 the name could not be resolved at all; 2 bad domain or resolver. */
  code: number;
  /** The report or the JSON document (with a final newline). */
  stdout: string;
  /** Usage errors and warnings (missing geo database), one line each. */
  stderr: string;
  /** The result, when the scan ran. */
  result?: ScanResult;
}

/**
 * `vigia analyse -d DOMAIN [--resolver IP[:PORT]]... [--json]`: one scan now,
 * without the daemon or the store. Resolvers default to the config's
 * `scanner.resolvers` + `scanner.public_resolvers`.
 */
export async function runAnalyse(options: RunAnalyseOptions): Promise<RunAnalyseOutput> {
  let domain: string;
  try {
    domain = normaliseDomain(options.domain ?? "");
  } catch (e) {
    return { code: 2, stdout: "", stderr: `vigia analyse: ${(e as Error).message}\n` };
  }
  const defaults = scannerSection.fields;
  const section: Partial<ScannerConfig> = options.config
    ? sectionOf(scannerModule, options.config)
    : {};
  let resolvers: ResolverAddress[];
  try {
    if (options.resolvers && options.resolvers.length > 0) {
      const seen = new Set<string>();
      resolvers = options.resolvers.flatMap((t) =>
        parseResolver(t, { resolvConf: options.resolvConf })
      )
        .filter((r) => !seen.has(`${r.host}#${r.port}`) && seen.add(`${r.host}#${r.port}`));
    } else {
      resolvers = configuredResolvers({
        resolvers: section.resolvers ?? defaults.resolvers.default,
        public_resolvers: section.public_resolvers ?? defaults.public_resolvers.default,
      }, { resolvConf: options.resolvConf });
    }
  } catch (e) {
    return { code: 2, stdout: "", stderr: `vigia analyse: ${(e as Error).message}\n` };
  }
  const geoConfig = options.config?.geoip;
  const geo = await openGeo({
    cityDb: geoConfig?.city_db ?? geoipSection.fields.city_db.default,
    asnDb: geoConfig?.asn_db ?? geoipSection.fields.asn_db.default,
  });
  const result = await analyseDomain(domain, {
    resolvers,
    geo,
    rounds: options.rounds ?? section.rounds ?? defaults.rounds.default,
    timeoutMs: options.timeoutMs ?? section.query_timeout ?? defaults.query_timeout.default,
    roundIntervalMs: options.roundIntervalMs ?? section.round_interval ??
      defaults.round_interval.default,
    deadlineMs: section.scan_timeout ?? defaults.scan_timeout.default,
  });
  const failed = result.findings.some((f) =>
    f.code === "RESOLUTION_FAILED" || f.code === "NO_RESOLVERS"
  );
  const stderr = result.warnings.map((w) => `warning: ${w}\n`).join("");
  return {
    code: failed ? 1 : 0,
    stdout: options.json ? `${JSON.stringify(result)}\n` : `${renderReport(result)}\n`,
    stderr: options.json ? stderr : "",
    result,
  };
}
