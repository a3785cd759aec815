/**
 * The alert bus. Components publish violations; the bus de-duplicates
 * repeats within a window, then writes each alert to the store, the daily
 * alerts file and the daemon log, and hands it to the mailer, which sends
 * digests over SMTP, and to the syslog sender (RFC 5424 over a local
 * socket, UDP, TCP or TLS), neither ever blocking the publisher.
 *
 * A repeat inside the window is not a new alert: it adds to the stored
 * alert's `repeats` at once (one UPDATE per alert per turn of the event
 * loop or store flush, however many repeats came in it), and the window outlives a
 * restart, since the bus picks up the recent alerts from the store. Each
 * alert keeps two times: `time`, when it happened (a packet's time under
 * `vigia ingest`), and `raised`, when vigia raised it.
 *
 * @example
 * ```ts ignore
 * bus.publish({
 *   kind: "unauthorized-dns",
 *   severity: "warning",
 *   subject: "aa:bb:cc:dd:ee:ff -> 203.0.113.9",
 *   details: { client_mac: "aa:bb:cc:dd:ee:ff", server: "203.0.113.9" },
 * });
 * ```
 *
 * @module
 */

import type { DailyLog } from "../daylog/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Migration, Store } from "../store/mod.ts";
import type { AlertsConfig } from "./config.ts";
import { Mailer } from "./mail.ts";
import { SyslogSender } from "./syslog.ts";

export { type AlertsConfig, alertsSection } from "./config.ts";
export { Mailer } from "./mail.ts";

/** Alert severities, least to most severe. */
export const SEVERITIES = ["info", "notice", "warning", "error", "critical"] as const;
/** One of {@linkcode SEVERITIES}. */
export type Severity = typeof SEVERITIES[number];

/** What a component publishes. */
export interface AlertInput {
  /** Stable kind such as `unauthorized-dns`, `dns-flood`, `rogue-dhcp`. */
  kind: string;
  /** How bad it is. */
  severity: Severity;
  /** The thing it is about, one line (also the de-duplication key with `kind`). */
  subject: string;
  /** Structured facts, stored as JSON and written as `key=value`. */
  details?: Record<string, string | number | boolean | null | string[]>;
  /** When it happened. @default now */
  time?: Date;
}

/** An alert as stored. */
export interface Alert extends Required<AlertInput> {
  /** Row id in the store (0 until read back). */
  id: number;
  /** When vigia raised it (`time` is when it happened). */
  raised: Date;
  /** Repeats folded into this alert within the de-duplication window, so far. */
  repeats: number;
}

/** Publishes alerts; what components receive. */
export interface AlertPublisher {
  /** Publishes one alert; returns false when it was folded into a recent identical one. */
  publish(alert: AlertInput): boolean;
}

/** Migrations of the alerts table. */
export const alertMigrations: Migration[] = [{
  version: 1,
  sql: `
    CREATE TABLE alerts (
      id INTEGER PRIMARY KEY,
      time INTEGER NOT NULL,          -- ms since the epoch
      kind TEXT NOT NULL,
      severity TEXT NOT NULL,
      subject TEXT NOT NULL,
      details TEXT NOT NULL,          -- JSON
      repeats INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX alerts_time ON alerts (time);
    CREATE INDEX alerts_kind_time ON alerts (kind, time);
  `,
}, {
  // When the alert was raised, beside when it happened: they differ for `vigia ingest`.
  version: 2,
  sql: `
    ALTER TABLE alerts ADD COLUMN raised_at INTEGER NOT NULL DEFAULT 0; -- ms since the epoch
    UPDATE alerts SET raised_at = time;
    CREATE INDEX alerts_raised ON alerts (raised_at);
  `,
}];

/** An alert within its de-duplication window. */
interface RecentAlert {
  alert: Alert;
  /** Event times (ms) the window covers: repeats outside start a new alert. */
  from: number;
  until: number;
  /** Repeats already added to the stored row. */
  stored: number;
  /** Waits in the queue of repeat counts to store. */
  queued: boolean;
}

/** Options for {@linkcode AlertBus}. */
export interface AlertBusOptions {
  /** Where alerts are stored. */
  store: Store;
  /** Where the alerts file lines go. */
  dailyLog: DailyLog;
  /** The daemon log. */
  log: Logger;
  /** The `[alerts]` config. */
  config: AlertsConfig;
}

/** The alert bus. */
export class AlertBus implements AlertPublisher {
  readonly #store: Store;
  readonly #dailyLog: DailyLog;
  readonly #log: Logger;
  #config: AlertsConfig;
  #mailer: Mailer | undefined;
  #syslog: SyslogSender | undefined;
  #recent = new Map<string, RecentAlert>();
  #repeatsToStore: RecentAlert[] = [];
  #updateRepeats;
  #published = 0;
  #suppressed = 0;
  #insert;
  #byKind = new Map<string, number>();
  #byKindSeverity = new Map<string, number>();
  /** Deliveries of channels replaced by a reload, so counters never go back. */
  #pastDeliveries = new Map<string, number>();
  /** Listeners called after an alert is published (used by the remote audit and tests). */
  readonly listeners = new Set<(alert: Alert) => void>();

  /** Creates the bus; alerts are stored, written and mailed once {@linkcode AlertBus.publish} is called. */
  constructor(options: AlertBusOptions) {
    this.#store = options.store;
    this.#dailyLog = options.dailyLog;
    this.#log = options.log;
    this.#config = options.config;
    this.#store.migrate("alerts", alertMigrations);
    this.#insert = this.#store.batched(
      "INSERT INTO alerts (time, raised_at, kind, severity, subject, details, repeats) VALUES (?, ?, ?, ?, ?, ?, 0)",
    );
    // An increment, not a value: a `vigia ingest` beside the daemon may add to the same row.
    this.#updateRepeats = this.#store.batched(
      "UPDATE alerts SET repeats = repeats + ? WHERE kind = ? AND time = ? AND subject = ?",
    );
    this.#store.beforeFlush(() => this.#storeRepeats());
    this.#mailer = this.#makeMailer(options.config);
    this.#syslog = this.#makeSyslog(options.config);
    this.#resumeWindows();
  }

  /** Picks up the alerts still inside their de-duplication window (raised before a restart). */
  #resumeWindows(): void {
    const window = this.#config.dedupe_window;
    const rows = this.#store.query<{
      id: number;
      time: number;
      raised_at: number;
      kind: string;
      severity: Severity;
      subject: string;
      details: string;
      repeats: number;
    }>(
      "SELECT id, time, raised_at, kind, severity, subject, details, repeats FROM alerts WHERE raised_at >= ? ORDER BY id",
      Date.now() - window,
    );
    for (const r of rows) {
      const alert: Alert = {
        id: Number(r.id),
        kind: r.kind,
        severity: r.severity,
        subject: r.subject,
        details: JSON.parse(r.details),
        time: new Date(r.time),
        raised: new Date(r.raised_at),
        repeats: r.repeats,
      };
      this.#recent.set(`${r.kind}\u0000${r.subject}`, {
        alert,
        from: r.time - window,
        until: r.time + window,
        stored: r.repeats,
        queued: false,
      });
    }
  }

  #makeMailer(config: AlertsConfig): Mailer | undefined {
    if (!config.mail.enabled) return undefined;
    return new Mailer(config.mail, this.#log.child("mail"));
  }

  #makeSyslog(config: AlertsConfig): SyslogSender | undefined {
    if (!config.syslog.enabled) return undefined;
    return new SyslogSender(config.syslog, { log: this.#log.child("syslog") });
  }

  /**
   * Applies a new `[alerts]` section; a channel whose section changed is
   * replaced, and what its old sender still held moves to the new one.
   */
  async reconfigure(config: AlertsConfig): Promise<void> {
    if (JSON.stringify(config) === JSON.stringify(this.#config)) return;
    const before = this.#config;
    this.#config = config;
    if (JSON.stringify(before.mail) !== JSON.stringify(config.mail)) {
      const old = this.#mailer;
      this.#mailer = this.#makeMailer(config);
      if (old) {
        this.#keepDeliveries("mail", old.stats());
        for (const a of await old.close({ send: false })) this.#mailer?.enqueue(a);
      }
    }
    if (JSON.stringify(before.syslog) !== JSON.stringify(config.syslog)) {
      const old = this.#syslog;
      this.#syslog = this.#makeSyslog(config);
      if (old) {
        const pending = await old.close({ send: false });
        this.#keepDeliveries("syslog", old.stats());
        for (const a of pending) this.#syslog?.enqueue(a);
      }
    }
  }

  /** Adds a replaced channel's counts to the totals, so counters never go back. */
  #keepDeliveries(channel: string, stats: Record<string, unknown>): void {
    for (const d of deliveryCounts(channel, stats)) {
      const key = `${d.channel}\t${d.result}`;
      this.#pastDeliveries.set(key, (this.#pastDeliveries.get(key) ?? 0) + d.count);
    }
  }

  /** Publishes an alert unless an identical one went out within the de-duplication window. */
  publish(input: AlertInput): boolean {
    const time = input.time ?? new Date();
    const key = `${input.kind}\u0000${input.subject}`;
    const now = time.getTime();
    const seen = this.#recent.get(key);
    if (seen && now < seen.until && now >= seen.from) {
      seen.alert.repeats++;
      this.#suppressed++;
      if (!seen.queued) {
        seen.queued = true;
        if (this.#repeatsToStore.push(seen) === 1) queueMicrotask(() => this.#storeRepeats());
      }
      return false;
    }
    const window = this.#config.dedupe_window;
    // Unknown facts (null) are left out everywhere: the store, the files, the log and the mail.
    const details: Alert["details"] = {};
    for (const [k, v] of Object.entries(input.details ?? {})) {
      if (v !== null && v !== undefined) details[k] = v;
    }
    const raised = new Date();
    const alert: Alert = { ...input, details, time, raised, id: 0, repeats: 0 };
    this.#recent.set(key, {
      alert,
      from: now - window,
      until: now + window,
      stored: 0,
      queued: false,
    });
    if (this.#recent.size > 10_000) this.#expire(now);
    this.#insert(
      now,
      raised.getTime(),
      input.kind,
      input.severity,
      input.subject,
      JSON.stringify(details),
    );
    this.#dailyLog.alert(input.kind, {
      severity: input.severity,
      subject: input.subject,
      ...details,
    }, time);
    const level = input.severity === "info" || input.severity === "notice"
      ? "info"
      : input.severity === "warning"
      ? "warn"
      : "error";
    this.#log[level](`alert ${input.kind}: ${input.subject}`, {
      severity: input.severity,
      ...details,
    });
    this.#published++;
    this.#byKind.set(input.kind, (this.#byKind.get(input.kind) ?? 0) + 1);
    const ks = `${input.kind}\t${input.severity}`;
    this.#byKindSeverity.set(ks, (this.#byKindSeverity.get(ks) ?? 0) + 1);
    const mailRank = SEVERITIES.indexOf(this.#config.mail.min_severity as Severity);
    if (this.#mailer && SEVERITIES.indexOf(input.severity) >= mailRank) this.#mailer.enqueue(alert);
    const syslogRank = SEVERITIES.indexOf(this.#config.syslog.min_severity as Severity);
    if (this.#syslog && SEVERITIES.indexOf(input.severity) >= syslogRank) {
      this.#syslog.enqueue(alert);
    }
    for (const l of this.listeners) {
      try {
        l(alert);
      } catch (e) {
        this.#log.error("alert listener failed", { error: e });
      }
    }
    return true;
  }

  /** Adds the repeats counted since the last call to their stored alerts. */
  #storeRepeats(): void {
    for (const r of this.#repeatsToStore) {
      const { alert } = r;
      this.#updateRepeats(
        alert.repeats - r.stored,
        alert.kind,
        alert.time.getTime(),
        alert.subject,
      );
      r.stored = alert.repeats;
      r.queued = false;
    }
    this.#repeatsToStore.length = 0;
  }

  #expire(now: number): void {
    for (const [k, v] of this.#recent) {
      if (v.until <= now && !v.queued) this.#recent.delete(k);
    }
  }

  /** Alerts published since start, by kind and severity (for metrics). */
  counts(): { kind: string; severity: string; count: number }[] {
    return [...this.#byKindSeverity].map(([key, count]) => {
      const [kind, severity] = key.split("\t");
      return { kind, severity, count };
    });
  }

  /** Deliveries since start by channel and result: sent, failed (attempts), dropped. */
  deliveries(): { channel: string; result: string; count: number }[] {
    const totals = new Map(this.#pastDeliveries);
    const live: [string, Mailer | SyslogSender | undefined][] = [
      ["mail", this.#mailer],
      ["syslog", this.#syslog],
    ];
    for (const [channel, sender] of live) {
      if (!sender) continue;
      for (const d of deliveryCounts(channel, sender.stats())) {
        const key = `${d.channel}\t${d.result}`;
        totals.set(key, (totals.get(key) ?? 0) + d.count);
      }
    }
    return [...totals].map(([key, count]) => {
      const [channel, result] = key.split("\t");
      return { channel, result, count };
    });
  }

  /** Alerts waiting per delivery channel. */
  queues(): { channel: string; queued: number }[] {
    const out: { channel: string; queued: number }[] = [];
    if (this.#mailer) out.push({ channel: "mail", queued: Number(this.#mailer.stats().queued) });
    if (this.#syslog) out.push({ channel: "syslog", queued: Number(this.#syslog.stats().queued) });
    return out;
  }

  /** Counters for `ctl stats`. */
  stats(): Record<string, unknown> {
    return {
      published: this.#published,
      suppressed_repeats: this.#suppressed,
      by_kind: Object.fromEntries(this.#byKind),
      mail: this.#mailer?.stats() ?? { enabled: false },
      syslog: this.#syslog?.stats() ?? { enabled: false },
    };
  }

  /** The enabled delivery channels and their counters since start (for `ctl status`). */
  delivery(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    const totals = this.deliveries();
    const live: [string, Mailer | SyslogSender | undefined][] = [
      ["mail", this.#mailer],
      ["syslog", this.#syslog],
    ];
    for (const [channel, sender] of live) {
      if (!sender) continue;
      const { enabled: _, ...stats } = sender.stats();
      for (const t of totals) if (t.channel === channel) stats[t.result] = t.count;
      out[channel] = stats;
    }
    return out;
  }

  /** Sends what the mailer and the syslog sender still hold (bounded by `timeoutMs`) and stops them. */
  async close(timeoutMs = 3000): Promise<void> {
    this.#storeRepeats();
    await Promise.all([
      this.#mailer?.close({ send: true, timeoutMs }),
      this.#syslog?.close({ send: true, timeoutMs }),
    ]);
  }
}

function deliveryCounts(
  channel: string,
  stats: Record<string, unknown>,
): { channel: string; result: string; count: number }[] {
  return ["sent", "failed", "dropped"].map((result) => ({
    channel,
    result,
    count: Number(stats[result] ?? 0),
  }));
}
