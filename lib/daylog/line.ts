/**
 * The one writer of daily-log lines (`DIR/[PREFIX]YYYY-MM-DD.log`):
 *
 * ```
 * TIMESTAMP <TAB> KIND (<TAB> key=value)* <NEWLINE>
 * ```
 *
 * Values have tabs, newlines, carriage returns and backslashes escaped
 * (`\t`, `\n`, `\r`, `\\`); empty values are left out. Lines are encoded
 * straight into one buffer (ASCII copied byte by byte, escaping on the way;
 * the timestamp text computed once per second and only its milliseconds
 * patched) and written with one `write` per flush on a file opened with
 * O_APPEND, so they never interleave inside a line with another process
 * writing the same file (the daemon and a `vigia ingest`). A line is never
 * split between two writes; the day's file switches at local midnight of
 * the configured zone, flushing the previous day's lines first.
 *
 * {@linkcode FieldEncoder} writes a whole event from a declared field list
 * ({@linkcode LineField}, e.g. the sniffer's `fields.ts`) and a record of
 * values: this is how DNS and DHCP lines are made; `DailyLog.event` uses
 * the same writer for every other line.
 *
 * @module
 */

import { ZonedClock } from "./clock.ts";
import { DayFile } from "./day_file.ts";

/**
 * How a value is written (see the sniffer's `fields.ts` for the list):
 * `text`, `int`, `tf` (T/F), `qr` (R/Q), `list` (comma joined),
 * `answer-data` / `answer-ttls` (of answer records), `none` (not written).
 */
export type TextForm =
  | "text"
  | "int"
  | "tf"
  | "qr"
  | "list"
  | "answer-data"
  | "answer-ttls"
  | "none";

/** What the encoder needs of a declared field. */
export interface LineField {
  /** The key written before `=`. */
  readonly name: string;
  /** How the value is written. */
  readonly text: TextForm;
  /** Left out when equal to this (empty values are always left out). */
  readonly skip?: string | number;
}

/** Values of one line by field name. */
export type LineRecord = Record<string, unknown>;

/** Options of {@linkcode LineWriter}. */
export interface LineWriterOptions {
  /** Directory of the files (created at the first write). */
  dir: string;
  /** File name prefix before the day (`alerts-`). @default "" */
  prefix?: string;
  /** IANA time zone of the days and timestamps; undefined for the host's zone. */
  timeZone?: string;
  /** Bytes buffered before a write. @default 262144 */
  flushBytes?: number;
  /** Milliseconds a line may wait. @default 200 */
  flushInterval?: number;
  /** Called with the local day (YYYY-MM-DD) of the first line and of each new day. */
  onDay?: (day: string) => void;
  /** Milliseconds between checks that the file was not moved or deleted ({@linkcode DayFile}). @default 1000 */
  checkInterval?: number;
}

const FORM_CODES: Record<TextForm, number> = {
  "text": 0,
  "int": 1,
  "tf": 2,
  "qr": 3,
  "list": 4,
  "answer-data": 5,
  "answer-ttls": 6,
  "none": 7,
};

interface Answer {
  data: string;
  ttl: number;
}

/** True when the answer records' data, comma joined, is empty. */
function noAnswerData(v: unknown): boolean {
  if (!Array.isArray(v) || v.length === 0) return true;
  return v.length === 1 && (v[0] as Answer).data === "";
}

/** Options of {@linkcode FieldEncoder}. */
export interface FieldEncoderOptions {
  /** Where the lines go. */
  out: LineWriter;
  /** The line's kind (second column). */
  kind: string;
  /** The fields, in line order (those with text form `none` are not written). */
  fields: readonly LineField[];
}

/**
 * Writes events as lines from a declared field list: the values of a
 * record, in the fields' order, leaving out empty and skipped values. The
 * list is prepared once (keys pre-built, forms as numbers), so a line costs
 * no allocation.
 */
export class FieldEncoder {
  /** The line's kind. */
  readonly kind: string;
  readonly #out: LineWriter;
  readonly #names: readonly string[];
  readonly #keys: readonly string[];
  readonly #forms: Uint8Array;
  readonly #skips: readonly (string | number | undefined)[];

  /** An encoder of `options.kind` lines into `options.out`. */
  constructor(options: FieldEncoderOptions) {
    const written = options.fields.filter((f) => f.text !== "none");
    this.kind = options.kind;
    this.#out = options.out;
    this.#names = written.map((f) => f.name);
    this.#keys = written.map((f) => `\t${f.name}=`);
    this.#forms = Uint8Array.from(written, (f) => FORM_CODES[f.text]);
    this.#skips = written.map((f) => f.skip);
  }

  /** Writes one line at `ms` (ms since the epoch, fractional allowed) from `record`. */
  write(ms: number, record: LineRecord): void {
    const out = this.#out;
    if (!out.begin(this.kind, ms)) return;
    const names = this.#names, keys = this.#keys, forms = this.#forms, skips = this.#skips;
    for (let i = 0; i < names.length; i++) {
      const v = record[names[i]];
      if (v === undefined || v === null || v === "" || v === skips[i]) continue;
      switch (forms[i]) {
        case 0:
          out.text(keys[i]);
          out.escaped(typeof v === "string" ? v : String(v));
          break;
        case 1:
          out.text(keys[i]);
          out.int(v as number);
          break;
        case 2:
          out.text(keys[i]);
          out.text(v ? "T" : "F");
          break;
        case 3:
          out.text(keys[i]);
          out.text(v ? "R" : "Q");
          break;
        case 4: {
          const list = v as unknown[];
          if (list.length === 0) break;
          out.text(keys[i]);
          for (let k = 0; k < list.length; k++) {
            if (k > 0) out.text(",");
            out.escaped(String(list[k]));
          }
          break;
        }
        case 5: {
          if (noAnswerData(v)) break;
          const list = v as Answer[];
          out.text(keys[i]);
          for (let k = 0; k < list.length; k++) {
            if (k > 0) out.text(",");
            out.escaped(list[k].data);
          }
          break;
        }
        case 6: {
          if (noAnswerData(v)) break;
          const list = v as Answer[];
          out.text(keys[i]);
          for (let k = 0; k < list.length; k++) {
            if (k > 0) out.text(",");
            out.int(list[k].ttl);
          }
          break;
        }
      }
    }
    out.end();
  }
}

/** Escapes a value so that it stays one tab-free field on one line. */
export function escapeField(v: string): string {
  return /[\t\n\r\\]/.test(v)
    ? v.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r")
    : v;
}

/** Buffered writer of lines into one family of daily files. */
export class LineWriter {
  /** Directory of the files. */
  readonly dir: string;
  readonly #prefix: string;
  readonly #clock: ZonedClock;
  readonly #flushBytes: number;
  readonly #flushInterval: number;
  readonly #onDay: ((day: string) => void) | undefined;
  readonly #enc = new TextEncoder();
  #buf: Uint8Array;
  #pos = 0;
  #day = "";
  #file: DayFile | undefined;
  #fileDay = "";
  readonly #checkInterval: number | undefined;
  #second = NaN;
  #stampHead = "";
  #stampTail = "";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dirReady = false;
  #closed = false;
  /** Lines written (ended) since start. */
  lines = 0;

  /** A writer of `dir/[prefix]YYYY-MM-DD.log`; nothing is opened until the first flush. */
  constructor(options: LineWriterOptions) {
    this.dir = options.dir;
    this.#prefix = options.prefix ?? "";
    this.#clock = new ZonedClock(options.timeZone);
    this.#flushBytes = options.flushBytes ?? 262_144;
    this.#flushInterval = options.flushInterval ?? 200;
    this.#onDay = options.onDay;
    this.#checkInterval = options.checkInterval;
    this.#buf = new Uint8Array(this.#flushBytes + 65_536);
  }

  /** True once closed (lines are refused). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The timestamp text of `ms` (ms since the epoch), switching the day when it changes. */
  stamp(ms: number): string {
    const t = Math.floor(ms);
    const second = Math.floor(t / 1000);
    if (second !== this.#second) {
      const s = this.#clock.stamp(new Date(second * 1000));
      this.#second = second;
      this.#stampHead = s.timestamp.slice(0, 20);
      this.#stampTail = s.timestamp.slice(23);
      if (s.day !== this.#day) {
        // Lines of the previous day go to its file before the switch.
        if (this.#pos > 0) this.flush();
        this.#day = s.day;
        this.#onDay?.(s.day);
      }
    }
    const frac = t - second * 1000;
    return this.#stampHead + (frac < 10 ? "00" + frac : frac < 100 ? "0" + frac : String(frac)) +
      this.#stampTail;
  }

  /**
   * Starts a line `TIMESTAMP<TAB>kind`; continue with {@linkcode LineWriter.text},
   * {@linkcode LineWriter.escaped} and {@linkcode LineWriter.int} pieces
   * (each field as `<TAB>key=value`), then {@linkcode LineWriter.end}.
   * Returns false when the writer is closed (write nothing then).
   */
  begin(kind: string, ms: number): boolean {
    if (this.#closed) return false;
    const stamp = this.stamp(ms);
    if (this.#pos >= this.#flushBytes) this.flush();
    this.text(stamp);
    this.#byte(9);
    this.text(kind);
    return true;
  }

  #byte(b: number): void {
    if (this.#pos === this.#buf.length) this.#grow(1);
    this.#buf[this.#pos++] = b;
  }

  /** Makes room for `n` more bytes without flushing (a line is never split between writes). */
  #grow(n: number): void {
    const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.#pos + n));
    bigger.set(this.#buf.subarray(0, this.#pos));
    this.#buf = bigger;
  }

  /** Appends text as is (ASCII copied byte by byte, the rest UTF-8 encoded). */
  text(s: string): void {
    const n = s.length;
    if (this.#pos + n * 3 > this.#buf.length) this.#grow(n * 3);
    const buf = this.#buf;
    let p = this.#pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) {
        p += this.#enc.encodeInto(s.slice(i), buf.subarray(p)).written;
        break;
      }
      buf[p++] = c;
    }
    this.#pos = p;
  }

  /** Appends a value with tabs, newlines, carriage returns and backslashes escaped. */
  escaped(s: string): void {
    const n = s.length;
    if (this.#pos + n * 3 > this.#buf.length) this.#grow(n * 3);
    const buf = this.#buf;
    let p = this.#pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) {
        this.#pos = p;
        this.text(escapeField(s.slice(i)));
        return;
      }
      if (c === 92 || c === 9 || c === 10 || c === 13) {
        if (p + 2 * (n - i) > buf.length) {
          this.#pos = p;
          this.#grow(2 * (n - i));
          this.escaped(s.slice(i));
          return;
        }
        buf[p++] = 92;
        buf[p++] = c === 92 ? 92 : c === 9 ? 116 : c === 10 ? 110 : 114;
      } else buf[p++] = c;
    }
    this.#pos = p;
  }

  /** Appends a number as `String(n)` would write it. */
  int(n: number): void {
    if (n >= 0 && n < 10) this.#byte(48 + n);
    else if (n >= 10 && n <= 0xffffffff && n === Math.floor(n)) {
      if (this.#pos + 10 > this.#buf.length) this.#grow(10);
      const buf = this.#buf;
      let digits = 1;
      for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
      let p = this.#pos + digits;
      this.#pos = p;
      for (let t = n; t > 0; t = Math.floor(t / 10)) buf[--p] = 48 + (t % 10);
    } else this.text(String(n));
  }

  /** Ends the current line. */
  end(): void {
    this.#byte(10);
    this.lines++;
    if (this.#pos >= this.#flushBytes) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#flushInterval);
    }
  }

  /** Writes the buffered lines now (one write). */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pos === 0) return;
    if (!this.#dirReady) {
      Deno.mkdirSync(this.dir, { recursive: true });
      this.#dirReady = true;
    }
    if (this.#fileDay !== this.#day) {
      this.#file?.close();
      this.#file = new DayFile(`${this.dir}/${this.#prefix}${this.#day}.log`, {
        checkInterval: this.#checkInterval,
      });
      this.#fileDay = this.#day;
    }
    this.#file!.write(this.#buf.subarray(0, this.#pos));
    this.#pos = 0;
  }

  /** Writes what is buffered, then closes the file: the next line opens its path anew. */
  reopen(): void {
    if (this.#closed) return;
    this.flush();
    this.#file?.reopen();
  }

  /** Times the file was found moved or deleted and opened anew at its path. */
  get reopened(): number {
    return this.#file?.reopened ?? 0;
  }

  /** Flushes and closes the file; later lines are refused. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#file?.close();
    this.#file = undefined;
  }
}
