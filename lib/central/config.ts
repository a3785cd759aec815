/**
 * The `[central]` config section: where the sensor ships its store (a
 * PostgreSQL named by a libpq URI or `key=value` string), how it
 * authenticates (a password file, or `PGPASSWORD`), its sensor name, TLS,
 * batching and the central retention. The checks run by `config check`
 * and on load: the URL parses and carries no password, the sensor name is
 * valid, the password and CA files are readable.
 *
 * @module
 */

import type { ConfigCheck } from "../config/mod.ts";
import { bool, duration, int, Section, type SectionValue, str } from "../config/schema.ts";

/** TLS modes, as libpq's `sslmode` names them. */
export const TLS_MODES = ["disable", "prefer", "require", "verify-full"] as const;

/** Schema of `[central]`. */
export const centralSection = new Section(
  "Ship everything the sensor stores (events with their flows, devices, alerts and the remote-control audit, scans, VeriDNS events) to a central PostgreSQL 15+, and query across sensors with `vigia central`. The local store stays the sensor's own copy and its outbox.",
  {
    enabled: bool({ doc: "Ship to the central PostgreSQL.", default: false }),
    url: str({
      doc:
        'libpq connection URI ("postgresql://vigia@db.example:5432/vigia", "postgresql://vigia@/vigia?host=/run/postgresql") or key=value string ("host=/run/postgresql dbname=vigia user=vigia"); never a password here.',
      default: "",
      reference: "postgresql://vigia@central.example.org:5432/vigia",
    }),
    password_file: str({
      doc:
        'File holding the password (first line); "" uses $PGPASSWORD, or none. "$CREDENTIALS_DIRECTORY/NAME" reads a systemd LoadCredential= credential.',
      default: "",
      reference: "$CREDENTIALS_DIRECTORY/central-password",
    }),
    sensor: str({
      doc:
        'This sensor\'s name in the central store (letters, digits, ".", "_", "-"; at most 63); "" is the host name. Two daemons may not share one.',
      default: "",
    }),
    tls: str({
      doc:
        "TLS to PostgreSQL: disable, prefer (TLS when the server offers it), require (no certificate check), verify-full (certificate and host name checked against ca_file or the system roots).",
      default: "prefer",
      reference: "verify-full",
      oneOf: TLS_MODES,
    }),
    ca_file: str({
      doc: 'PEM CA certificates for tls = "verify-full"; "" uses the system roots.',
      default: "",
    }),
    batch_rows: int({
      doc: "Rows per COPY batch (one PostgreSQL transaction) at most.",
      default: 20_000,
      min: 100,
      max: 1_000_000,
    }),
    flush_interval: duration({
      doc: "How often the shipper looks for new rows when it has caught up.",
      default: "1s",
      minMs: 10,
    }),
    timeout: duration({
      doc:
        "How long a connection attempt, or a batch that makes no progress, may wait for PostgreSQL before the connection is dropped and made again (a network cut that drops packets silently sends no reset).",
      default: "30s",
      minMs: 100,
    }),
    retention_days: int({
      doc:
        "Central events older than this many days are deleted by dropping their day partitions; 0 keeps them.",
      default: 0,
      min: 0,
      max: 36_500,
      reference: 365,
    }),
    backlog_alert_rows: int({
      doc:
        "Raise an alert when this many rows wait to be shipped, and another once the backlog has drained.",
      default: 100_000,
      min: 1,
    }),
    auto_migrate: bool({
      doc:
        "Create or migrate the central schema when the daemon starts (else: vigia central init).",
      default: false,
    }),
  },
);

/** Validated `[central]`. */
export type CentralConfig = SectionValue<typeof centralSection>;

/** The part of the whole config the checks read. */
export type WithCentral = { central: CentralConfig };

/** Where and as whom to connect, parsed from `url` (no password: that comes from the file). */
export interface ConnectTarget {
  /** Host name, IP, or a Unix socket directory (starts with `/`). */
  host: string;
  /** TCP port (also names the Unix socket `.s.PGSQL.PORT`). */
  port: number;
  /** Database. */
  database: string;
  /** Role. */
  user: string;
}

const SENSOR_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Why `name` is not a valid sensor name, or null. */
export function sensorNameProblem(name: string): string | null {
  if (SENSOR_RE.test(name)) return null;
  return `"${name}" is not a sensor name: use 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit`;
}

/** The sensor name of a section: the configured one, else the host name (its first label). */
export function sensorName(section: CentralConfig): string {
  if (section.sensor) return section.sensor;
  let host = "sensor";
  try {
    host = Deno.hostname();
  } catch { /* no --allow-sys: keep the fallback */ }
  const first = host.split(".")[0].replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 63);
  return SENSOR_RE.test(first) ? first : "sensor";
}

function envUser(): string {
  try {
    return Deno.env.get("PGUSER") ?? Deno.env.get("USER") ?? "vigia";
  } catch {
    return "vigia";
  }
}

/**
 * Parses a libpq URI (`postgresql://user@host:port/db?host=/dir`) or a
 * `key=value` string; returns the target or the problem. A password in it
 * is refused, so that it never lands in a config that `ctl status` or an
 * error could echo.
 */
export function parseCentralUrl(text: string): ConnectTarget | string {
  const target: ConnectTarget = { host: "", port: 5432, database: "", user: "" };
  const apply = (key: string, value: string): string | null => {
    switch (key) {
      case "host":
      case "hostaddr":
        target.host = value;
        return null;
      case "port": {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 65535) return `port "${value}" is not a port`;
        target.port = n;
        return null;
      }
      case "dbname":
        target.database = value;
        return null;
      case "user":
        target.user = value;
        return null;
      case "password":
        return "the url must not hold a password: put it in password_file or $PGPASSWORD";
      case "sslmode":
        return "set TLS with the tls key, not sslmode in the url";
      case "application_name":
      case "connect_timeout":
        return null;
      default:
        return `unknown connection parameter "${key}"`;
    }
  };
  const trimmed = text.trim();
  if (trimmed === "") return "is empty: name the central PostgreSQL";
  if (/^postgres(ql)?:\/\//.test(trimmed)) {
    let u: URL;
    try {
      // An empty host (the socket directory comes in ?host=) is no URL: stand "_" in for it.
      const http = trimmed.replace(/^postgres(ql)?:\/\//, "http://")
        .replace(/^http:\/\/([^/@?]*@)?(?=[/?:]|$)/, "http://$1_");
      u = new URL(http);
    } catch {
      return `"${trimmed}" is not a libpq URI like postgresql://user@host:5432/dbname`;
    }
    if (u.password) {
      return "the url must not hold a password: put it in password_file or $PGPASSWORD";
    }
    target.user = decodeURIComponent(u.username);
    target.host = u.hostname === "_" ? "" : decodeURIComponent(u.hostname.replace(/^\[|\]$/g, ""));
    if (u.port) target.port = Number(u.port);
    target.database = decodeURIComponent(u.pathname.replace(/^\//, ""));
    for (const [k, v] of u.searchParams) {
      const problem = apply(k, v);
      if (problem) return problem;
    }
  } else {
    const re = /\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/y;
    let pos = 0;
    while (pos < trimmed.length) {
      re.lastIndex = pos;
      const m = re.exec(trimmed);
      if (!m) {
        return `"${trimmed}" is neither a libpq URI nor key=value pairs (host=... dbname=... user=...)`;
      }
      let value = m[2];
      if (value.startsWith("'")) value = value.slice(1, -1).replace(/\\(.)/g, "$1");
      const problem = apply(m[1], value);
      if (problem) return problem;
      pos = re.lastIndex;
      while (trimmed[pos] === " ") pos++;
    }
  }
  if (!target.host) target.host = "/var/run/postgresql";
  if (!target.user) target.user = envUser();
  if (!target.database) target.database = target.user;
  return target;
}

/** The password file's path with `$CREDENTIALS_DIRECTORY` expanded, or "" for none. */
export function passwordPath(section: CentralConfig): string {
  const p = section.password_file;
  if (!p.includes("$CREDENTIALS_DIRECTORY")) return p;
  let dir: string | undefined;
  try {
    dir = Deno.env.get("CREDENTIALS_DIRECTORY");
  } catch { /* no env access */ }
  if (!dir) {
    throw new Error(
      `${p}: $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=)`,
    );
  }
  return p.replaceAll("$CREDENTIALS_DIRECTORY", dir);
}

/** The password: first line of the password file, else `$PGPASSWORD`, else undefined. */
export function readPassword(section: CentralConfig): string | undefined {
  const path = passwordPath(section);
  if (path) {
    const text = Deno.readTextFileSync(path).split("\n")[0].replace(/\r$/, "");
    if (text === "") throw new Error(`${path}: the password file is empty`);
    return text;
  }
  try {
    return Deno.env.get("PGPASSWORD") || undefined;
  } catch {
    return undefined;
  }
}

function readProblem(e: unknown): string {
  return e instanceof Deno.errors.NotFound
    ? "no such file"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : (e as Error).message;
}

/** `[central]` checks: url, sensor, password and CA files (only when enabled, except the sensor). */
export const centralChecks: ConfigCheck<WithCentral>[] = [(config, report) => {
  const c = config.central;
  if (c.sensor) {
    const problem = sensorNameProblem(c.sensor);
    if (problem) report("central.sensor", problem);
  }
  if (c.url) {
    const target = parseCentralUrl(c.url);
    if (typeof target === "string") report("central.url", target);
  } else if (c.enabled) {
    report("central.url", "is empty: name the central PostgreSQL (central.enabled is true)");
  }
  if (c.enabled && c.password_file) {
    try {
      readPassword(c);
    } catch (e) {
      report("central.password_file", `cannot read the password: ${readProblem(e)}`);
    }
  }
  if (c.enabled && c.ca_file) {
    try {
      Deno.readTextFileSync(c.ca_file);
    } catch (e) {
      report("central.ca_file", `cannot read ${c.ca_file}: ${readProblem(e)}`);
    }
  }
  if (c.ca_file && c.tls !== "verify-full") {
    report("central.ca_file", `is only used with tls = "verify-full" (tls is "${c.tls}")`);
  }
}];
