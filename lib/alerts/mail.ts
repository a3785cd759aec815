/**
 * Alert mail over SMTP (nodemailer). Alerts are queued and sent as one
 * digest per interval; a failed send is retried with backoff and never
 * blocks or throws into the publisher.
 *
 * @module
 */

import nodemailer from "nodemailer";
import type { Logger } from "../log/mod.ts";
import type { Alert } from "./mod.ts";
import type { AlertsConfig } from "./config.ts";
import { parseHostPort } from "../net/mod.ts";

type MailConfig = AlertsConfig["mail"];

/** Renders alerts as a plain-text mail body. */
export function renderDigest(alerts: Alert[]): { subject: string; text: string } {
  const kinds = [...new Set(alerts.map((a) => a.kind))];
  const subject = alerts.length === 1
    ? `${alerts[0].severity.toUpperCase()} ${alerts[0].kind}: ${alerts[0].subject}`
    : `${alerts.length} alerts: ${kinds.join(", ")}`;
  const blocks = alerts.map((a) => {
    const lines = [
      `${a.time.toISOString()}  ${a.severity.toUpperCase()}  ${a.kind}`,
      `  ${a.subject}`,
    ];
    for (const [k, v] of Object.entries(a.details)) {
      lines.push(`  ${k}: ${Array.isArray(v) ? v.join(", ") : v}`);
    }
    if (a.repeats) lines.push(`  (repeated ${a.repeats} more times since)`);
    return lines.join("\n");
  });
  return { subject, text: `${blocks.join("\n\n")}\n\n-- \nvigia\n` };
}

/** Sends queued alerts as digest mails. */
export class Mailer {
  readonly #config: MailConfig;
  readonly #log: Logger;
  readonly #transport: ReturnType<typeof nodemailer.createTransport>;
  #queue: Alert[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sending: Promise<void> | undefined;
  #closed = false;
  #sent = 0;
  #failed = 0;
  #dropped = 0;
  #lastError = "";

  /** Mails alerts through `config.server`; failed sends are logged to `log`. */
  constructor(config: MailConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    const hp = parseHostPort(config.server, 25);
    if (typeof hp === "string") throw new Error(hp);
    let password: string | undefined;
    if (config.password_file) {
      password = Deno.readTextFileSync(config.password_file).trim();
    }
    this.#transport = nodemailer.createTransport({
      host: hp.host,
      port: hp.port,
      secure: config.tls === "implicit",
      ignoreTLS: config.tls === "none",
      requireTLS: config.tls === "starttls" && config.require_tls,
      auth: config.username ? { user: config.username, pass: password ?? "" } : undefined,
      tls: { rejectUnauthorized: config.verify_certificate },
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
  }

  /** Queues an alert; the digest goes out at the end of the interval. */
  enqueue(alert: Alert): void {
    if (this.#closed) return;
    this.#queue.push(alert);
    if (this.#queue.length > this.#config.queue_max) {
      this.#queue.shift();
      this.#dropped++;
    }
    if (this.#config.digest_interval === 0) this.#kick();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#kick();
      }, this.#config.digest_interval);
    }
  }

  #kick(): void {
    if (this.#sending || this.#queue.length === 0) return;
    this.#sending = this.#sendAll().finally(() => {
      this.#sending = undefined;
      if (this.#queue.length > 0 && !this.#closed && this.#config.digest_interval === 0) {
        this.#kick();
      }
    });
  }

  async #sendAll(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    const { subject, text } = renderDigest(batch);
    for (let attempt = 1; attempt <= this.#config.retry_max; attempt++) {
      try {
        await this.#transport.sendMail({
          from: this.#config.from,
          to: this.#config.to,
          subject: `${this.#config.subject_prefix} ${subject}`.trim(),
          text,
        });
        this.#sent++;
        this.#log.info("alert mail sent", { alerts: batch.length, to: this.#config.to.join(",") });
        return;
      } catch (e) {
        this.#lastError = (e as Error).message;
        this.#log.warn("alert mail failed", { attempt, error: this.#lastError });
        if (this.#closed || attempt === this.#config.retry_max) break;
        await new Promise((r) => setTimeout(r, Math.min(60_000, 500 * 2 ** attempt)));
      }
    }
    this.#failed++;
    this.#log.error("alert mail dropped after retries", {
      alerts: batch.length,
      error: this.#lastError,
    });
  }

  /** Counters for `ctl stats`. */
  stats(): Record<string, unknown> {
    return {
      enabled: true,
      sent: this.#sent,
      failed: this.#failed,
      dropped: this.#dropped,
      queued: this.#queue.length,
      last_error: this.#lastError || undefined,
    };
  }

  /**
   * Stops the mailer. With `send`, the queue is sent first (waiting at most
   * `timeoutMs`); without, the unsent alerts are returned to be re-queued.
   */
  async close(options: { send: boolean; timeoutMs?: number }): Promise<Alert[]> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (options.send) {
      this.#kick();
      const pending = this.#sending;
      this.#closed = true;
      if (pending) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          pending,
          new Promise((r) => (timer = setTimeout(r, options.timeoutMs ?? 3000))),
        ]);
        clearTimeout(timer);
      }
      this.#transport.close();
      return [];
    }
    this.#closed = true;
    const rest = this.#queue;
    this.#queue = [];
    this.#transport.close();
    return rest;
  }
}
