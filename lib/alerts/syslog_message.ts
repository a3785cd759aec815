/**
 * RFC 5424 syslog messages for alerts (and the local `/dev/log` form), and
 * RFC 6587 octet-counted framing for stream transports (TCP, and TLS per
 * RFC 5425). Pure functions: no I/O.
 *
 * @module
 */

import type { Alert, Severity } from "./mod.ts";

/**
 * SD-ID of vigia's structured data element. 32473 is the private enterprise
 * number IANA reserves for documentation (RFC 5612): vigia has none of its own.
 */
export const SD_ID = "vigia@32473";

/** Syslog severity (RFC 5424 table 2) of each alert severity. */
export const SYSLOG_LEVELS: Record<Severity, number> = {
  info: 6, // Informational
  notice: 5, // Notice
  warning: 4, // Warning
  error: 3, // Error
  critical: 2, // Critical
};

/** What every message of one sender shares. */
export interface SyslogHeader {
  /** Facility number (0-23). */
  facility: number;
  /** HOSTNAME field; "-" when unknown. */
  hostname: string;
  /** APP-NAME field. */
  appName: string;
  /** PROCID field. */
  procId: string;
}

// Longest PARAM-VALUE kept: a datagram must stay well under the UDP limit, and alerts are short.
const MAX_VALUE_CHARS = 1024;
const BOM = "\uFEFF";

/** A PARAM-VALUE with `"`, `\` and `]` escaped (RFC 5424 section 6.3.3). */
export function escapeParamValue(value: string): string {
  const v = value.length > MAX_VALUE_CHARS ? value.slice(0, MAX_VALUE_CHARS) + "..." : value;
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/**
 * An SD-NAME (PARAM-NAME): 1 to 32 printable US-ASCII characters other than
 * `=`, space, `]` and `"`; anything else becomes `_`.
 */
export function sdName(name: string): string {
  const n = name.replace(/[^\x21-\x7e]|[= \]"]/g, "_").slice(0, 32);
  return n === "" ? "_" : n;
}

/** A header field (HOSTNAME, APP-NAME, PROCID, MSGID): printable US-ASCII, `-` when empty. */
function headerField(text: string, max: number): string {
  const t = text.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return t === "" ? "-" : t;
}

/**
 * The RFC 5424 message of an alert: PRI from the facility and the alert's
 * severity, TIMESTAMP when it was raised, MSGID its kind, one SD-ELEMENT
 * `[vigia@32473 kind= severity= subject= time= ...details]` (`time` is when
 * it happened), then `kind: subject` as the UTF-8 MSG.
 */
export function formatSyslogMessage(alert: Alert, header: SyslogHeader): string {
  const pri = header.facility * 8 + SYSLOG_LEVELS[alert.severity];
  return `<${pri}>1 ${alert.raised.toISOString()} ${headerField(header.hostname, 255)} ${
    headerField(header.appName, 48)
  } ${headerField(header.procId, 128)} ${headerField(alert.kind, 32)} ${
    structuredData(alert)
  } ${BOM}${alert.kind}: ${alert.subject}`;
}

/** The SD-ELEMENT `[vigia@32473 kind= severity= subject= time= ...details]`. */
function structuredData(alert: Alert): string {
  const params: [string, string][] = [
    ["kind", alert.kind],
    ["severity", alert.severity],
    ["subject", alert.subject],
    ["time", alert.time.toISOString()],
  ];
  for (const [k, v] of Object.entries(alert.details)) {
    if (v === null || v === undefined) continue;
    params.push([k, Array.isArray(v) ? v.join(",") : String(v)]);
  }
  return `[${SD_ID}${params.map(([k, v]) => ` ${sdName(k)}="${escapeParamValue(v)}"`).join("")}]`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * The alert in the local socket's form, as glibc's `syslog()` writes to
 * `/dev/log`: `<PRI>Mmm dd hh:mm:ss APP-NAME[PID]: MSG` (local time, no
 * hostname). journald does not parse RFC 5424 there (systemd issue 19251)
 * and rsyslog's imuxsock expects this form by default, so the structured
 * data travels as text at the end of MSG: `kind: subject [vigia@32473 ...]`.
 */
export function formatLocalSyslogMessage(alert: Alert, header: SyslogHeader): string {
  const pri = header.facility * 8 + SYSLOG_LEVELS[alert.severity];
  const t = alert.raised;
  const two = (n: number) => String(n).padStart(2, "0");
  const stamp = `${MONTHS[t.getMonth()]} ${String(t.getDate()).padStart(2, " ")} ${
    two(t.getHours())
  }:${two(t.getMinutes())}:${two(t.getSeconds())}`;
  const sd = structuredData(alert);
  return `<${pri}>${stamp} ${headerField(header.appName, 48)}[${header.procId}]: ${alert.kind}: ${
    alert.subject.replace(/[\r\n]+/g, " ")
  } ${sd}`;
}

const encoder = new TextEncoder();

/** The message as one octet-counted frame, `LENGTH SP MESSAGE` (RFC 6587 section 3.4.1). */
export function octetCountedFrame(message: string): Uint8Array {
  const body = encoder.encode(message);
  const prefix = encoder.encode(`${body.length} `);
  const frame = new Uint8Array(prefix.length + body.length);
  frame.set(prefix);
  frame.set(body, prefix.length);
  return frame;
}
