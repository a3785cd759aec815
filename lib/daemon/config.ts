/**
 * Config sections owned by the daemon itself: paths, logging, the store,
 * GeoIP databases shared by components, and the control socket.
 *
 * @module
 */

import type { AlertsConfig } from "../alerts/config.ts";
import { type ConfigCheck, loadConfig } from "../config/mod.ts";
import {
  duration,
  int,
  Section,
  type SectionValue,
  type Spec,
  str,
  type ValueOf,
} from "../config/schema.ts";
import { remoteSection } from "../control/remote_config.ts";
import { LINE_FORMATS } from "../daylog/mod.ts";
import { directoryProblem } from "./dirs.ts";

/** Schema of `[paths]`. */
export const pathsSection = new Section("Where vigia keeps its files.", {
  state_dir: str({
    doc: "Directory of the SQLite store (vigia.db) and generated certificates.",
    default: "./var/lib",
    reference: "/var/lib/vigia",
  }),
  log_dir: str({
    doc: "Directory of the daily log files YYYY-MM-DD.log and alerts-YYYY-MM-DD.log.",
    default: "./var/log",
    reference: "/var/log/vigia",
  }),
  runtime_dir: str({
    doc: "Directory of the control socket (<runtime_dir>/control.sock).",
    default: "./var/run",
    reference: "/run/vigia",
  }),
});

const LOG_DOC = "The daemon's own log (stderr / journald) and the daily files.";

/** Schema of `[log]`. */
export const logSection = new Section(LOG_DOC, {
  level: str({
    doc: "Lowest level written to stderr.",
    default: "info",
    oneOf: ["debug", "info", "warn", "error"],
  }),
  timezone: str({
    doc: 'IANA time zone for daily file names and timestamps; "" uses the host\'s zone.',
    default: "",
    reference: "America/Recife",
  }),
  retention_days: int({
    doc: "Daily files older than this are deleted; 0 keeps them forever.",
    default: 90,
    min: 0,
    max: 36500,
  }),
  format: str({
    doc: 'Line format of the daily files: "text" (tab-separated key=value) or "json" (one ' +
      "JSON object per line, Zeek's dns.log/dhcp.log field names, for SIEMs). Same files, " +
      "rotation, sealing and retention either way.",
    default: "text",
    oneOf: LINE_FORMATS,
  }),
  seal_key_file: str({
    doc: "Ed25519 private key (PEM, PKCS#8: `openssl genpkey -algorithm ed25519`) that signs " +
      'the seal of each daily file (seals.jsonl beside the logs); "" seals without signing. ' +
      "`vigia logs verify --public-key` checks them.",
    default: "",
  }),
});

/** Schema of `[store]`. */
export const storeSection = new Section("The SQLite store (WAL) and its batched writer.", {
  batch_rows: int({
    doc: "Rows per write transaction at most.",
    default: 5000,
    min: 1,
    max: 1_000_000,
  }),
  batch_interval: duration({
    doc: "A queued row waits at most this long before its transaction commits.",
    default: "200ms",
  }),
  retention_days: int({
    doc:
      "Stored events and alerts older than this many days are deleted (checked hourly); 0 keeps them forever.",
    default: 30,
    min: 0,
    max: 36500,
  }),
  max_events_mb: int({
    doc:
      "Bound on the events database (vigia-events.db, rows only): past it, the oldest events are deleted until they fit (checked with the retention, hourly), even ones the central store has not received yet; an alert (central-rows-lost) then says how many. 0: no bound.",
    default: 0,
    min: 0,
  }),
  ingest_retention_days: int({
    doc:
      "Events stored by `vigia ingest` are deleted this many days after the ingest (not by their packet time, so an old capture stays queryable); -1 uses retention_days, 0 keeps them forever.",
    default: -1,
    min: -1,
    max: 36500,
  }),
});

/** Schema of `[geoip]`. */
export const geoipSection = new Section(
  "MaxMind databases used by VeriDNS and the scanner; a missing file leaves geo fields empty.",
  {
    city_db: str({
      doc: "GeoLite2/GeoIP2 City (or Country) database.",
      default: "/usr/share/GeoIP/GeoLite2-City.mmdb",
    }),
    asn_db: str({ doc: "GeoLite2 ASN database.", default: "/usr/share/GeoIP/GeoLite2-ASN.mmdb" }),
  },
);

/** Schema of `[control]`. */
export const controlSection = new Section("The local control socket that `vigia ctl` talks to.", {
  socket_mode: str({ doc: "Octal file mode of the socket.", default: "0660" }),
  socket_group: str({
    doc: 'Group that owns the socket; "" leaves the daemon\'s group.',
    default: "",
    reference: "vigia",
  }),
  max_request_bytes: int({
    doc: "Largest request line accepted.",
    default: 65536,
    min: 1024,
    max: 16_777_216,
  }),
  request_timeout: duration({
    doc: "A request must arrive and be answered within this time.",
    default: "10s",
    minMs: 100,
  }),
  max_clients: int({
    doc: "Concurrent control connections at most.",
    default: 64,
    min: 1,
    max: 10000,
  }),
  shutdown_timeout: duration({
    doc: "Components that have not stopped after this are abandoned and the daemon exits.",
    default: "4s",
  }),
  restart_backoff_max: duration({
    doc: "Longest wait before restarting a failed component (doubling from 1s).",
    default: "60s",
  }),
  remote: remoteSection,
});

/** Validated `[paths]`. */
export type PathsConfig = SectionValue<typeof pathsSection>;
/** Validated `[log]`. */
export type LogConfig = SectionValue<typeof logSection>;
/** Validated `[store]`. */
export type StoreConfig = SectionValue<typeof storeSection>;
/** Validated `[geoip]`. */
export type GeoipConfig = SectionValue<typeof geoipSection>;
/** Validated `[control]`. */
export type ControlConfig = SectionValue<typeof controlSection>;

/** The sections every component may read besides its own. */
export interface SharedConfig {
  /** `[paths]`. */
  paths: PathsConfig;
  /** `[log]`. */
  log: LogConfig;
  /** `[store]`. */
  store: StoreConfig;
  /** `[geoip]`. */
  geoip: GeoipConfig;
  /** `[alerts]`. */
  alerts: AlertsConfig;
  /** `[control]`. */
  control: ControlConfig;
}

/**
 * The validated whole config: the shared sections typed, each component's
 * section by its name (a component reads its own, typed, as `section`).
 */
export type VigiaConfig = SharedConfig & { readonly [section: string]: unknown };

/** Components that read the GeoIP databases. */
const GEOIP_USERS = ["veridns", "scanner"];

/**
 * A GeoIP database path that someone wrote into the config must exist when a
 * component that reads it is enabled: a typo is an error at FILE:LINE:COL.
 * The built-in default path may be absent (no database installed); the
 * components then run with empty geo fields and say so once.
 */
export const geoipCheck: ConfigCheck<VigiaConfig> = (config, report) => {
  const users = GEOIP_USERS.filter((name) => {
    const section = config[name];
    return typeof section === "object" && section !== null && "enabled" in section &&
      section.enabled === true;
  });
  if (users.length === 0) return;
  for (const key of ["city_db", "asn_db"] as const) {
    const path = config.geoip[key];
    const field = geoipSection.fields[key];
    if (path === "" || path === field.default) continue;
    // Relative paths are relative to the daemon's working directory, as the components open them.
    try {
      if (!Deno.statSync(path).isFile) throw new Error("not a file");
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
      report(`geoip.${key}`, `${path}: ${why} (read by ${users.join(" and ")})`);
    }
  }
};

/**
 * `[log] seal_key_file`, when set, must be a readable PEM private key (a
 * wrong path would otherwise only show at the first seal, hours later).
 */
export const sealKeyCheck: ConfigCheck<{ log: LogConfig }> = (config, report) => {
  const path = config.log.seal_key_file;
  if (path === "") return;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    report("log.seal_key_file", `${path}: ${why}`);
    return;
  }
  if (!text.includes("-----BEGIN PRIVATE KEY-----")) {
    report(
      "log.seal_key_file",
      `${path}: not a PKCS#8 PEM private key (make one with \`openssl genpkey -algorithm ed25519\`)`,
    );
  }
};

/** `[paths]` directories must exist or be creatable, and be writable. */
export const pathsCheck: ConfigCheck<{ paths: PathsConfig }> = (config, report) => {
  for (const key of ["state_dir", "log_dir", "runtime_dir"] as const) {
    const problem = directoryProblem(config.paths[key]);
    if (problem) report(`paths.${key}`, problem);
  }
};
/** The files vigia keeps under `[paths]` (see the README's files table). */
export interface VigiaFiles {
  /** The store: devices, alerts, deny lists, zone table, scans. */
  store: string;
  /** The events database: every DNS/DHCP event (back it up with the store). */
  eventsDb: string;
  /** The control socket. */
  socket: string;
}

/** Where vigia keeps its files: the one place their names are spelled. */
export function vigiaFiles(paths: { state_dir: string; runtime_dir: string }): VigiaFiles {
  return {
    store: `${paths.state_dir}/vigia.db`,
    eventsDb: `${paths.state_dir}/vigia-events.db`,
    socket: `${paths.runtime_dir}/control.sock`,
  };
}

/** Options for {@linkcode loadVigiaConfig}. */
export interface LoadVigiaOptions {
  /** Config file; absent: the embedded default (the schema's defaults). */
  path?: string;
  /** The config text (instead of reading `path`, which then only names it in messages). */
  text?: string;
  /** Semantic checks to run after the shapes are valid. */
  checks?: ConfigCheck<VigiaConfig>[];
}

/**
 * Loads a config with the whole schema (`lib/app`'s `configSchema()`: the
 * shared sections above plus one per component), typed as
 * {@linkcode VigiaConfig}. Throws `ConfigError` listing every problem.
 */
export async function loadVigiaConfig(
  schema: Section<Spec>,
  options: LoadVigiaOptions = {},
): Promise<{ config: VigiaConfig; text: string }> {
  const checks = (options.checks ?? []).map(
    (check): ConfigCheck<ValueOf<Spec>> => (config, report, context) =>
      check(asVigiaConfig(config), report, context),
  );
  const loaded = await loadConfig(schema, { path: options.path, text: options.text, checks });
  return { config: asVigiaConfig(loaded.config), text: loaded.text };
}

/**
 * The one place the whole config gets its type: the loader validated it
 * against the whole schema, which holds every shared section.
 */
function asVigiaConfig(value: ValueOf<Spec>): VigiaConfig {
  return value as unknown as VigiaConfig;
}
