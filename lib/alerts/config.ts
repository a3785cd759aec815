/**
 * The `[alerts]` config section: de-duplication, e-mail and syslog delivery.
 *
 * @module
 */

import type { ConfigCheck } from "../config/mod.ts";
import {
  bool,
  duration,
  type Field,
  hostPort,
  int,
  list,
  Section,
  section,
  type SectionValue,
  str,
  ValueError,
} from "../config/schema.ts";
import { parseHostPort } from "../net/mod.ts";

/** Where syslog messages go, parsed from `[alerts.syslog] target`. */
export type SyslogTarget =
  | { transport: "unix"; path: string }
  | { transport: "udp" | "tcp" | "tls"; host: string; port: number };

/** Default ports: 514 for plain syslog (RFC 5426 UDP, RFC 6587 TCP), 6514 for TLS (RFC 5425). */
const SYSLOG_PORTS = { udp: 514, tcp: 514, tls: 6514 } as const;

const TARGET_FORMS = "unix:///dev/log, udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT";

/**
 * Parses a syslog target such as `udp://127.0.0.1:514` or `unix:///dev/log`;
 * returns the reason as a string when it is not one.
 */
export function parseSyslogTarget(text: string): SyslogTarget | string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(text);
  if (!m) return `"${text}" is not a syslog target: write ${TARGET_FORMS}`;
  const scheme = m[1].toLowerCase(), rest = m[2];
  if (scheme === "unix") {
    if (!rest.startsWith("/")) {
      return `"${text}": a unix target needs an absolute path (unix:///dev/log)`;
    }
    return { transport: "unix", path: rest };
  }
  if (scheme !== "udp" && scheme !== "tcp" && scheme !== "tls") {
    return `unknown syslog scheme "${scheme}" in "${text}": write ${TARGET_FORMS}`;
  }
  const hp = parseHostPort(rest.replace(/\/$/, ""), SYSLOG_PORTS[scheme], { allowNames: true });
  if (typeof hp === "string") return `${hp} in syslog target "${text}"`;
  return { transport: scheme, host: hp.host, port: hp.port };
}

function syslogTarget(options: { doc: string; default: string }): Field<string> {
  return {
    doc: options.doc,
    default: options.default,
    expects: `a syslog target (${TARGET_FORMS})`,
    validate(raw) {
      if (typeof raw !== "string") {
        throw new ValueError(`expected a syslog target such as "udp://127.0.0.1:514"`);
      }
      const target = parseSyslogTarget(raw);
      if (typeof target === "string") throw new ValueError(target);
      return raw;
    },
  };
}

/** Syslog facilities by name (RFC 5424 table 1); `kern` is the kernel's own. */
export const SYSLOG_FACILITIES = {
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  security: 13,
  console: 14,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

/** Schema of `[alerts]`. */
export const alertsSection = new Section(
  "Alerts: every violation is stored, written to the alerts file, logged, and mailed.",
  {
    dedupe_window: duration({
      doc:
        "Repeats of the same alert (same kind and subject) inside this window are counted, not re-sent.",
      default: "5m",
    }),
    mail: section("E-mail delivery of alerts through an SMTP server.", {
      enabled: bool({ doc: "Send alert mails.", default: false, reference: true }),
      server: hostPort({
        doc: "SMTP server as IP:PORT.",
        default: "127.0.0.1:25",
        defaultPort: 25,
      }),
      tls: str({
        doc:
          '"starttls" upgrades a plain connection (port 587/25), "implicit" speaks TLS from the start (port 465), "none" never encrypts.',
        default: "starttls",
        oneOf: ["starttls", "implicit", "none"],
      }),
      require_tls: bool({
        doc: "With starttls: refuse to send when the server does not offer STARTTLS.",
        default: false,
        reference: true,
      }),
      verify_certificate: bool({ doc: "Check the SMTP server's certificate.", default: true }),
      username: str({ doc: "SMTP AUTH user; empty for no authentication.", default: "" }),
      password_file: str({
        doc: "File holding the SMTP password (kept out of the config).",
        default: "",
      }),
      from: str({
        doc: "Sender address.",
        default: "vigia@localhost",
        reference: "vigia@example.org",
      }),
      to: list(str({ doc: "recipient", default: "" }), {
        doc: "Recipients.",
        default: [],
        reference: ["noc@example.org"],
      }),
      min_severity: str({
        doc: "Only alerts at or above this severity are mailed.",
        default: "warning",
        oneOf: ["info", "notice", "warning", "error", "critical"],
      }),
      digest_interval: duration({
        doc:
          'Alerts are gathered and sent as one digest mail per interval; "0s" sends each alert at once.',
        default: "1m",
      }),
      retry_max: int({
        doc: "Attempts per mail before it is dropped (logged).",
        default: 5,
        min: 1,
        max: 100,
      }),
      queue_max: int({
        doc: "Alerts kept waiting for mail at most; older ones are dropped (counted).",
        default: 1000,
        min: 1,
        max: 1_000_000,
      }),
      subject_prefix: str({ doc: "Text put before every mail subject.", default: "[vigia]" }),
    }),
    syslog: section(
      "Delivery of alerts to a syslog collector as RFC 5424 messages, the alert's fields as structured data [vigia@32473 ...].",
      {
        enabled: bool({ doc: "Send alerts to syslog.", default: false, reference: true }),
        target: syslogTarget({
          doc:
            "Collector: unix:///dev/log (local datagram socket, in the form syslog(3) writes there), udp://HOST:PORT (RFC 5426), tcp://HOST:PORT (RFC 6587 octet counting) or tls://HOST:PORT (RFC 5425); ports default to 514 (6514 for tls).",
          default: "unix:///dev/log",
        }),
        ca_file: str({
          doc:
            'With tls://: PEM file of the CA that signed the collector\'s certificate; "" trusts the system roots.',
          default: "",
        }),
        facility: str({
          doc: "Syslog facility of the messages.",
          default: "daemon",
          oneOf: Object.keys(SYSLOG_FACILITIES) as (keyof typeof SYSLOG_FACILITIES)[],
        }),
        app_name: str({
          doc: "APP-NAME of the messages (1 to 48 printable ASCII characters, no spaces).",
          default: "vigia",
        }),
        min_severity: str({
          doc:
            "Only alerts at or above this severity are sent (info=6, notice=5, warning=4, error=3, critical=2 in syslog levels).",
          default: "notice",
          oneOf: ["info", "notice", "warning", "error", "critical"],
        }),
        queue_max: int({
          doc:
            "Alerts kept waiting for the collector at most (while it is down or slow); older ones are dropped (counted).",
          default: 10000,
          min: 1,
          max: 1_000_000,
        }),
      },
    ),
  },
);

/** Validated `[alerts]`. */
export type AlertsConfig = SectionValue<typeof alertsSection>;

/**
 * `[alerts.syslog]`: an APP-NAME a collector can parse, and a readable
 * `ca_file` that only a tls:// target reads.
 */
export const syslogCheck: ConfigCheck<{ alerts: AlertsConfig }> = (config, report) => {
  const { enabled, app_name, ca_file, target } = config.alerts.syslog;
  if (!/^[\x21-\x7e]{1,48}$/.test(app_name)) {
    report(
      "alerts.syslog.app_name",
      `"${app_name}" is not an APP-NAME: use 1 to 48 printable ASCII characters, no spaces`,
    );
  }
  if (!enabled || ca_file === "" || !target.startsWith("tls://")) return;
  let text: string;
  try {
    text = Deno.readTextFileSync(ca_file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    report("alerts.syslog.ca_file", `${ca_file}: ${why}`);
    return;
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    report("alerts.syslog.ca_file", `${ca_file}: no PEM certificate in it`);
  }
};
