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
 * and backslashes escaped (`\t`, `\n`, `\\`). Lines are buffered and written
 * with one `write` per flush that ends on a line boundary, on files opened
 * with O_APPEND, so concurrent writers (the daemon and a `vigia ingest`)
 * never interleave inside a line. The day switches at local midnight of the
 * configured time zone.
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

/** Escapes a value so that it stays one tab-free field on one line. */
export function escapeField(v: string): string {
  return /[\t\n\r\\]/.test(v)
    ? v.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r")
    : v;
}

/** Writes daily log files. */
export class DailyLog {
  readonly dir: string;
  readonly #retentionDays: number;
  readonly #flushInterval: number;
  readonly #flushBytes: number;
  readonly #clock: ZonedClock;
  #buffers = new Map<string, string[]>();
  #bufferedBytes = 0;
  #files = new Map<string, Deno.FsFile>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastDay = "";
  #linesWritten = 0;
  #closed = false;
  #dirReady = false;

  constructor(options: DailyLogOptions) {
    const { dir, timeZone, retentionDays = 90, flushInterval = 200, flushBytes = 262144 } = options;
    this.dir = dir;
    this.#retentionDays = retentionDays;
    this.#flushInterval = flushInterval;
    this.#flushBytes = flushBytes;
    this.#clock = new ZonedClock(timeZone);
  }

  /** Appends an event line to the day's file. */
  event(kind: string, fields: LogFields, time: Date = new Date()): void {
    this.#append("", kind, fields, time);
  }

  /** Appends a violation line to the day's alerts file (and the all-events file). */
  alert(kind: string, fields: LogFields, time: Date = new Date()): void {
    this.#append("alerts-", kind, fields, time);
    this.#append("", kind, fields, time);
  }

  /** Lines written since start. */
  get linesWritten(): number {
    return this.#linesWritten;
  }

  /** The local date (YYYY-MM-DD) and timestamp text for `time` in the configured zone. */
  stamp(time: Date): { day: string; timestamp: string } {
    return this.#clock.stamp(time);
  }

  #append(prefix: string, kind: string, fields: LogFields, time: Date): void {
    if (this.#closed) throw new Error("daily log is closed");
    const { day, timestamp } = this.#clock.stamp(time);
    let line = `${timestamp}\t${kind}`;
    for (const key in fields) {
      const v = fields[key];
      if (v === undefined || v === null || v === "") continue;
      line += `\t${key}=${escapeField(Array.isArray(v) ? v.join(",") : String(v))}`;
    }
    line += "\n";
    const name = `${prefix}${day}.log`;
    let buf = this.#buffers.get(name);
    if (!buf) this.#buffers.set(name, buf = []);
    buf.push(line);
    this.#bufferedBytes += line.length;
    if (day !== this.#lastDay) {
      const switched = this.#lastDay !== "";
      this.#lastDay = day;
      if (switched || this.#retentionDays > 0) queueMicrotask(() => this.#prune(day));
    }
    if (this.#bufferedBytes >= this.#flushBytes) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#flushInterval);
    }
  }

  /** Writes every buffered line now, one write per file. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#bufferedBytes === 0) return;
    if (!this.#dirReady) {
      Deno.mkdirSync(this.dir, { recursive: true });
      this.#dirReady = true;
    }
    const enc = new TextEncoder();
    for (const [name, lines] of this.#buffers) {
      if (lines.length === 0) continue;
      let file = this.#files.get(name);
      if (!file) {
        file = Deno.openSync(`${this.dir}/${name}`, { append: true, create: true, mode: 0o640 });
        this.#files.set(name, file);
      }
      const bytes = enc.encode(lines.join(""));
      let off = 0;
      while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
      this.#linesWritten += lines.length;
      lines.length = 0;
    }
    this.#bufferedBytes = 0;
    // Keep only today's handles open; yesterday's are done once flushed.
    for (const [name, file] of this.#files) {
      if (!name.endsWith(`${this.#lastDay}.log`)) {
        file.close();
        this.#files.delete(name);
        this.#buffers.delete(name);
      }
    }
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
    this.flush();
    this.#closed = true;
    for (const f of this.#files.values()) f.close();
    this.#files.clear();
    return Promise.resolve();
  }
}

/**
 * Turns instants into local dates and ISO-8601 timestamps with offset in a
 * fixed IANA zone. Offsets are cached per hour because formatting through
 * Intl for every packet would dominate the hot path.
 */
export class ZonedClock {
  readonly #fmt: Intl.DateTimeFormat;
  #hourStart = NaN;
  #offsetMin = 0;
  #offsetText = "Z";

  constructor(timeZone?: string) {
    this.#fmt = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
  }

  /** UTC offset in minutes at `time`. */
  offsetMinutes(time: Date): number {
    const t = time.getTime();
    const hour = Math.floor(t / 900_000); // quarter-hours: some zones switch on :30 and :45
    if (hour !== this.#hourStart) {
      this.#hourStart = hour;
      const parts = this.#fmt.formatToParts(new Date(hour * 900_000));
      const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
      const asUtc = Date.UTC(
        get("year"),
        get("month") - 1,
        get("day"),
        get("hour"),
        get("minute"),
        get("second"),
      );
      this.#offsetMin = Math.round((asUtc - hour * 900_000) / 60_000);
      const sign = this.#offsetMin < 0 ? "-" : "+";
      const abs = Math.abs(this.#offsetMin);
      this.#offsetText = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${
        String(abs % 60).padStart(2, "0")
      }`;
    }
    return this.#offsetMin;
  }

  /** Local day and full timestamp (`2026-11-21T20:59:01.123-03:00`). */
  stamp(time: Date): { day: string; timestamp: string } {
    const off = this.offsetMinutes(time);
    const local = new Date(time.getTime() + off * 60_000).toISOString(); // ...Z shifted to local wall time
    return { day: local.slice(0, 10), timestamp: local.slice(0, 23) + this.#offsetText };
  }
}
