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
 * switches at local midnight of the configured time zone. A file moved or
 * deleted (logrotate, `mv`, `rm`) is noticed within a second and a new one
 * opened at its path ({@linkcode DayFile}); {@linkcode DailyLog.reopen}
 * does it at once (SIGHUP, `vigia ctl reopen`). The sniffer writes
 * its DNS and DHCP lines with {@linkcode FieldEncoder} from its declared
 * fields; this module's {@linkcode DailyLog.event} writes any other line.
 *
 * With `format: "json"` every line of both files is one JSON object
 * instead (`{"ts":1764111541.123456,"kind":"new-station","mac":...}`, see
 * `line.ts`): the same files, days, rotation, sealing and retention.
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

import { type LineFormat, LineWriter, type LineWriterOptions } from "./line.ts";
import { ZonedClock } from "./clock.ts";
import { DAILY_FILE_RE, LogSealer, type LogSealerOptions } from "./seal.ts";

export {
  DAILY_FILE_RE,
  LogSealer,
  type LogSealerOptions,
  SEAL_FILE,
  type SealKind,
  type SealProblem,
  type SealRecord,
  verifyLogs,
  type VerifyOptions,
  type VerifyReport,
} from "./seal.ts";

export { ZonedClock } from "./clock.ts";
export { DayFile, type DayFileOptions } from "./day_file.ts";
export {
  escapeField,
  FieldEncoder,
  type FieldEncoderOptions,
  type JsonForm,
  LINE_FORMATS,
  type LineField,
  type LineFormat,
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
  /** Milliseconds between checks that a file was not moved or deleted. @default 1000 */
  checkInterval?: number;
  /** Line format of both files: `key=value` text or one JSON object per line. @default "text" */
  format?: LineFormat;
  /**
   * Seal the files (tamper evidence, see `seal.ts`): each file when its day
   * is over and, at close, every past-day file written; the current day is
   * checkpointed every `checkpointInterval` and at close. Off when absent.
   */
  seal?: Omit<LogSealerOptions, "dir"> & {
    /** Milliseconds between checkpoints of the current day. @default 3600000 */
    checkpointInterval?: number;
  };
}

/** Field values written to a line. */
export type LogFields = Record<string, string | number | boolean | null | undefined | string[]>;

const FILE_RE = DAILY_FILE_RE;

/** Writes daily log files. */
export class DailyLog {
  /** Directory of the files. */
  readonly dir: string;
  /** Line format of the files. */
  readonly format: LineFormat;
  readonly #retentionDays: number;
  readonly #clock: ZonedClock;
  readonly #events: LineWriter;
  readonly #alerts: LineWriter;
  #lastDay = "";
  #closed = false;
  readonly #sealer: LogSealer | undefined;
  #checkpointTimer: ReturnType<typeof setInterval> | undefined;
  /** The file each writer is on (by writer), for the checkpoints. */
  #fileOf = new Map<number, string>();
  /** Writers of other components on these files (`lineWriter`), flushed before a seal. */
  #extra: LineWriter[] = [];
  readonly #timeZone: string | undefined;
  readonly #checkInterval: number | undefined;
  #writers = 0;
  /** Files written since the last seal, sealed at close. */
  #written = new Set<string>();

  /** A daily log in `options.dir`; files are created at the first flush. */
  constructor(options: DailyLogOptions) {
    const { dir, timeZone, retentionDays = 90, flushInterval = 200, flushBytes = 262144 } = options;
    this.dir = dir;
    const format = this.format = options.format ?? "text";
    this.#retentionDays = retentionDays;
    this.#clock = new ZonedClock(timeZone);
    if (options.seal) {
      const { checkpointInterval = 3_600_000, ...sealOptions } = options.seal;
      this.#sealer = new LogSealer({ ...sealOptions, dir });
      const timer = setInterval(() => this.#checkpoint(), checkpointInterval);
      Deno.unrefTimer(timer);
      this.#checkpointTimer = timer;
    }
    this.#timeZone = timeZone;
    const checkInterval = this.#checkInterval = options.checkInterval;
    this.#events = new LineWriter({
      dir,
      timeZone,
      flushInterval,
      flushBytes,
      checkInterval,
      format,
      onDay: this.#onDay(""),
    });
    this.#alerts = new LineWriter({
      dir,
      prefix: "alerts-",
      timeZone,
      flushInterval,
      flushBytes,
      checkInterval,
      format,
      onDay: this.#onDay("alerts-"),
    });
  }

  /**
   * Appends an event line to the day's file. In the JSON format values keep
   * their type (numbers, booleans, lists as arrays); a field named `ts` or
   * `kind`, which the line itself carries, is written as `ts_` or `kind_`.
   */
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
    if (this.format === "json") return appendJson(out, kind, fields, time);
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

  /**
   * A writer of its own on this log's event files (the sniffer's packet
   * lines), in the same zone: its day switches seal files like this log's.
   * The caller flushes and closes it (before closing this log).
   */
  lineWriter(options: Pick<LineWriterOptions, "flushBytes" | "flushInterval"> = {}): LineWriter {
    const writer = new LineWriter({
      ...options,
      dir: this.dir,
      timeZone: this.#timeZone,
      checkInterval: this.#checkInterval,
      format: this.format,
      onDay: this.#onDay(""),
    });
    this.#extra.push(writer);
    return writer;
  }

  /**
   * Writes what is buffered into the current files, then closes them, so
   * that the next lines open their paths anew (SIGHUP and `vigia ctl
   * reopen`, after logrotate moved them). The writers from
   * {@linkcode lineWriter} are reopened too.
   */
  reopen(): void {
    if (this.#closed) return;
    for (const w of [this.#alerts, this.#events, ...this.#extra]) w.reopen();
  }

  /** Times a file was found moved or deleted and opened anew (not counting {@linkcode reopen}). */
  get reopened(): number {
    let n = 0;
    for (const w of [this.#alerts, this.#events, ...this.#extra]) n += w.reopened;
    return n;
  }

  /** The day-switch hook of one writer of `prefix` files. */
  #onDay(prefix: string): (day: string) => void {
    const id = this.#writers++;
    let current: string | undefined;
    return (day: string) => {
      this.#newDay(day);
      if (this.#sealer === undefined) return;
      const name = `${prefix}${day}.log`;
      const left = current;
      current = name;
      this.#fileOf.set(id, name);
      this.#written.add(name);
      if (left === undefined || left === name) return;
      // The writer flushed the day it leaves; flush the others' lines of that day too, then seal.
      this.#events.flush();
      this.#alerts.flush();
      for (const w of this.#extra) if (!w.closed) w.flush();
      this.#sealer.complete(left);
      // Sealed; sealed again at close only if a writer still on that day writes on.
      if (![...this.#fileOf.values()].includes(left)) this.#written.delete(left);
    };
  }

  /** The sealer, when sealing is on. */
  get sealer(): LogSealer | undefined {
    return this.#sealer;
  }

  /** Seals the current day's files as far as they are written. */
  #checkpoint(): void {
    if (this.#closed || this.#sealer === undefined) return;
    this.flush();
    for (const w of this.#extra) if (!w.closed) w.flush();
    for (const name of new Set(this.#fileOf.values())) this.#sealer.checkpoint(name);
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
          this.#sealer?.removed(e.name);
        } catch { /* removed by someone else meanwhile */ }
      }
    }
  }

  /**
   * Flushes and closes every file. With sealing on, the files written for
   * past days are sealed as complete and today's are checkpointed; resolves
   * once the seals are written.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#alerts.close();
    this.#events.close();
    const sealer = this.#sealer;
    if (sealer === undefined) return Promise.resolve();
    clearInterval(this.#checkpointTimer);
    const today = this.#clock.stamp(new Date()).day;
    for (const name of this.#written) {
      if (FILE_RE.exec(name)![2] < today) sealer.complete(name);
      else sealer.checkpoint(name);
    }
    this.#written.clear();
    return sealer.close();
  }
}

/** One JSON line of `fields` (empty values left out, as in the text format). */
function appendJson(out: LineWriter, kind: string, fields: LogFields, time: Date): void {
  out.begin(kind, time.getTime());
  for (const key in fields) {
    const v = fields[key];
    if (v === undefined || v === null || v === "") continue;
    out.text(",");
    // The line carries its own ts and kind; a field of that name must not shadow them.
    out.jsonString(key === "ts" || key === "kind" ? key + "_" : key);
    out.text(":");
    if (typeof v === "string") out.jsonString(v);
    else if (typeof v === "number") out.number(v);
    else if (typeof v === "boolean") out.text(v ? "true" : "false");
    else {
      out.text("[");
      for (let i = 0; i < v.length; i++) {
        if (i > 0) out.text(",");
        out.jsonString(String(v[i]));
      }
      out.text("]");
    }
  }
  out.end();
}
