/**
 * Daily log files: `DIR/YYYY-MM-DD.log` holds every event and
 * `DIR/alerts-YYYY-MM-DD.log` (the "blacklist" file) only violations. One
 * line per event:
 *
 * ```
 * 2026-11-21T23:59:01.123-03:00 <TAB> KIND <TAB> key=value <TAB> key=value ...
 * ```
 *
 * Tab-separated so that `awk -F'\t'` splits it; values have tabs, newlines
 * and backslashes escaped (`\t`, `\n`, `\\`). Every line is written by one
 * {@linkcode LineWriter} (`line.ts`): buffered, one `write` per flush ending
 * on a line boundary, files opened with O_APPEND, so concurrent writers (the
 * daemon and a `vigia ingest`) never interleave inside a line. The day
 * switches at local midnight of the configured time zone. The sniffer writes
 * its DNS and DHCP lines with {@linkcode FieldEncoder} from its declared
 * fields; this module's {@linkcode DailyLog.event} writes any other line.
 *
 * @example
 * ```ts
 * import { DailyLog } from "./mod.ts";
 * const log = new DailyLog({ dir: "var/log", timeZone: "America/Recife" });
 * log.event("dns", { mac: "aa:bb:cc:dd:ee:ff", qname: "example.com" });
 * await log.close();
 * ```
 *
 * @module
 */

import { LineWriter } from "./line.ts";
import { ZonedClock } from "./clock.ts";

export { ZonedClock } from "./clock.ts";
export {
  escapeField,
  FieldEncoder,
  type FieldEncoderOptions,
  type LineField,
  type LineRecord,
  LineWriter,
  type LineWriterOptions,
  type TextForm,
} from "./line.ts";

/** Options for {@linkcode DailyLog}. */
export interface DailyLogOptions {
  /** Directory of the files; created when missing. */
  dir: string;
  /** IANA time zone that decides the date and the timestamp offset. @default the host's zone */
  timeZone?: string;
  /** Files older than this many days are deleted (checked at each day switch). 0 keeps all. @default 90 */
  retentionDays?: number;
  /** Milliseconds buffered lines may wait. @default 200 */
  flushInterval?: number;
  /** Bytes buffered before a flush is forced. @default 262144 */
  flushBytes?: number;
}

/** Field values written to a line. */
export type LogFields = Record<string, string | number | boolean | null | undefined | string[]>;

const FILE_RE = /^(alerts-)?(\d{4}-\d{2}-\d{2})\.log$/;

/** Writes daily log files. */
export class DailyLog {
  /** Directory of the files. */
  readonly dir: string;
  readonly #retentionDays: number;
  readonly #clock: ZonedClock;
  readonly #events: LineWriter;
  readonly #alerts: LineWriter;
  #lastDay = "";
  #closed = false;

  /** A daily log in `options.dir`; files are created at the first flush. */
  constructor(options: DailyLogOptions) {
    const { dir, timeZone, retentionDays = 90, flushInterval = 200, flushBytes = 262144 } = options;
    this.dir = dir;
    this.#retentionDays = retentionDays;
    this.#clock = new ZonedClock(timeZone);
    const onDay = (day: string) => this.#newDay(day);
    this.#events = new LineWriter({ dir, timeZone, flushInterval, flushBytes, onDay });
    this.#alerts = new LineWriter({
      dir,
      prefix: "alerts-",
      timeZone,
      flushInterval,
      flushBytes,
      onDay,
    });
  }

  /** Appends an event line to the day's file. */
  event(kind: string, fields: LogFields, time: Date = new Date()): void {
    this.#append(this.#events, kind, fields, time);
  }

  /** Appends a violation line to the day's alerts file (and the all-events file). */
  alert(kind: string, fields: LogFields, time: Date = new Date()): void {
    this.#append(this.#alerts, kind, fields, time);
    this.#append(this.#events, kind, fields, time);
  }

  /** Lines written since start. */
  get linesWritten(): number {
    return this.#events.lines + this.#alerts.lines;
  }

  /** The local date (YYYY-MM-DD) and timestamp text for `time` in the configured zone. */
  stamp(time: Date): { day: string; timestamp: string } {
    return this.#clock.stamp(time);
  }

  #append(out: LineWriter, kind: string, fields: LogFields, time: Date): void {
    if (this.#closed) throw new Error("daily log is closed");
    out.begin(kind, time.getTime());
    for (const key in fields) {
      const v = fields[key];
      if (v === undefined || v === null || v === "") continue;
      out.text(`\t${key}=`);
      out.escaped(Array.isArray(v) ? v.join(",") : String(v));
    }
    out.end();
  }

  #newDay(day: string): void {
    if (day === this.#lastDay) return;
    const switched = this.#lastDay !== "";
    this.#lastDay = day;
    if (switched || this.#retentionDays > 0) queueMicrotask(() => this.#prune(day));
  }

  /** Writes every buffered line now, one write per file. */
  flush(): void {
    this.#alerts.flush();
    this.#events.flush();
  }

  #prune(today: string): void {
    if (this.#retentionDays <= 0) return;
    const cutoff = new Date(`${today}T00:00:00Z`).getTime() - this.#retentionDays * 86_400_000;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const m = FILE_RE.exec(e.name);
      if (!m || !e.isFile) continue;
      if (new Date(`${m[2]}T00:00:00Z`).getTime() < cutoff) {
        try {
          Deno.removeSync(`${this.dir}/${e.name}`);
        } catch { /* removed by someone else meanwhile */ }
      }
    }
  }

  /** Flushes and closes every file. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#alerts.close();
    this.#events.close();
    return Promise.resolve();
  }
}
