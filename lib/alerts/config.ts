/**
 * The `[alerts]` config section: de-duplication and e-mail delivery.
 *
 * @module
 */

import {
  bool,
  duration,
  hostPort,
  int,
  list,
  Section,
  section,
  type SectionValue,
  str,
} from "../config/schema.ts";

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
  },
);

/** Validated `[alerts]`. */
export type AlertsConfig = SectionValue<typeof alertsSection>;
