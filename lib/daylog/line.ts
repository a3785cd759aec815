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
 * With `format: "json"` the same writer frames each line as one JSON object
 * (JSON Lines, RFC 8259), the way Zeek's JSON logs read:
 *
 * ```
 * {"ts":1764111541.123456,"kind":"dns","id.orig_h":"10.0.0.2",...}<NEWLINE>
 * ```
 *
 * `ts` is seconds since the epoch with microseconds; strings are escaped
 * on the way into the buffer ({@linkcode LineWriter.jsonString}: quote,
 * backslash and control characters; a lone UTF-16 surrogate as U+FFFD),
 * with no intermediate object and no `JSON.stringify` per line.
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

/**
 * How a JSON line writes a value: `string`, `number`, `bool`, `array` (of
 * strings or numbers as the values are), or `ts` (a time; not used by the
 * encoder, whose lines carry their own `ts`).
 */
export type JsonForm = "string" | "number" | "bool" | "array" | "ts";

/** The two line formats: `key=value` text, or one JSON object per line. */
export type LineFormat = "text" | "json";

/** The formats {@linkcode LineFormat} may be, for config validation. */
export const LINE_FORMATS: readonly LineFormat[] = ["text", "json"];

/** What the encoder needs of a declared field. */
export interface LineField {
  /** The key written before `=`. */
  readonly name: string;
  /** How the value is written. */
  readonly text: TextForm;
  /** Left out when equal to this (empty values are always left out). */
  readonly skip?: string | number;
  /** The key of JSON lines (Zeek's name where it has one). @default name */
  readonly zeek?: string;
  /**
   * How JSON lines write it; a field with text form `none` is still written
   * to JSON lines. @default "string"
   */
  readonly json?: JsonForm;
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
  /** Line format: `key=value` text or one JSON object per line. @default "text" */
  format?: LineFormat;
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

/** Lower-case hex digits as bytes. */
const HEX = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

/** Options of {@linkcode FieldEncoder}. */
export interface FieldEncoderOptions {
  /** Where the lines go (its `format` decides text or JSON lines). */
  out: LineWriter;
  /** The line's kind (second column; `kind` of JSON lines). */
  kind: string;
  /** The fields, in line order (text lines leave out those with text form `none`). */
  fields: readonly LineField[];
}

/** How the JSON path writes a value (from the field's text and JSON forms). */
const J_STRING = 0, J_NUMBER = 1, J_BOOL = 2, J_QR = 3, J_LIST = 4, J_DATA = 5, J_TTLS = 6;

function jsonCode(f: LineField): number {
  if (f.text === "answer-data") return J_DATA;
  if (f.text === "answer-ttls") return J_TTLS;
  if (f.text === "qr") return J_QR;
  switch (f.json ?? "string") {
    case "number":
      return J_NUMBER;
    case "bool":
      return J_BOOL;
    case "array":
      return J_LIST;
    default:
      return J_STRING;
  }
}

/**
 * Writes events as lines from a declared field list: the values of a
 * record, in the fields' order, leaving out empty and skipped values (the
 * same ones in both formats). The list is prepared once (keys pre-built,
 * forms as numbers) and the format chosen once, from `out.format`, so a
 * line costs no allocation and no per-field decision beyond its form.
 */
export class FieldEncoder {
  /** The line's kind. */
  readonly kind: string;
  readonly #out: LineWriter;
  readonly #json: boolean;
  readonly #names: readonly string[];
  readonly #keys: readonly string[];
  readonly #forms: Uint8Array;
  readonly #skips: readonly (string | number | undefined)[];
  /** Text lines: each key (`<TAB>name=`) as bytes, and whole `key=T`/`key=F` (`R`/`Q`) pieces. */
  readonly #keyBytes: readonly Uint8Array[];
  readonly #yes: readonly Uint8Array[];
  readonly #no: readonly Uint8Array[];

  /** An encoder of `options.kind` lines into `options.out`. */
  constructor(options: FieldEncoderOptions) {
    const json = this.#json = options.out.format === "json";
    const written = json ? options.fields : options.fields.filter((f) => f.text !== "none");
    this.kind = options.kind;
    this.#out = options.out;
    this.#names = written.map((f) => f.name);
    this.#keys = written.map((f) =>
      json ? `,${JSON.stringify(f.zeek ?? f.name)}:` : `\t${f.name}=`
    );
    this.#forms = Uint8Array.from(written, (f) => json ? jsonCode(f) : FORM_CODES[f.text]);
    this.#skips = written.map((f) => f.skip);
    const ascii = (t: string) => Uint8Array.from(t, (c) => c.charCodeAt(0) & 0x7f);
    this.#keyBytes = this.#keys.map((k) => new TextEncoder().encode(k));
    this.#yes = written.map((f) => ascii(`\t${f.name}=${f.text === "qr" ? "R" : "T"}`));
    this.#no = written.map((f) => ascii(`\t${f.name}=${f.text === "qr" ? "Q" : "F"}`));
  }

  /** Writes one line at `ms` (ms since the epoch, fractional allowed) from `record`. */
  write(ms: number, record: LineRecord): void {
    if (this.#json) this.#writeJson(ms, record);
    else this.#writeText(ms, record);
  }

  #writeText(ms: number, record: LineRecord): void {
    const out = this.#out;
    if (!out.begin(this.kind, ms)) return;
    const names = this.#names, keys = this.#keys, forms = this.#forms, skips = this.#skips;
    const keyBytes = this.#keyBytes;
    for (let i = 0; i < names.length; i++) {
      const v = record[names[i]];
      if (v === undefined || v === null || v === "" || v === skips[i]) continue;
      switch (forms[i]) {
        case 0:
          out.field(keyBytes[i], typeof v === "string" ? v : String(v));
          break;
        case 1:
          out.bytes(keyBytes[i]);
          out.int(v as number);
          break;
        case 2:
        case 3:
          out.bytes(v ? this.#yes[i] : this.#no[i]);
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

  #writeJson(ms: number, record: LineRecord): void {
    const out = this.#out;
    if (!out.begin(this.kind, ms)) return;
    const names = this.#names, keys = this.#keys, forms = this.#forms, skips = this.#skips;
    for (let i = 0; i < names.length; i++) {
      const v = record[names[i]];
      if (v === undefined || v === null || v === "" || v === skips[i]) continue;
      switch (forms[i]) {
        case J_STRING:
          out.text(keys[i]);
          out.jsonString(typeof v === "string" ? v : String(v));
          break;
        case J_NUMBER:
          out.text(keys[i]);
          if (typeof v === "number") out.number(v);
          else out.number(Number(v));
          break;
        case J_BOOL:
          out.text(keys[i]);
          out.text(v ? "true" : "false");
          break;
        case J_QR:
          out.text(keys[i]);
          out.text(v ? '"R"' : '"Q"');
          break;
        case J_LIST: {
          const list = v as unknown[];
          if (list.length === 0) break;
          out.text(keys[i]);
          out.text("[");
          for (let k = 0; k < list.length; k++) {
            if (k > 0) out.text(",");
            const x = list[k];
            if (typeof x === "number") out.number(x);
            else out.jsonString(String(x));
          }
          out.text("]");
          break;
        }
        case J_DATA: {
          if (noAnswerData(v)) break;
          const list = v as Answer[];
          out.text(keys[i]);
          out.text("[");
          for (let k = 0; k < list.length; k++) {
            if (k > 0) out.text(",");
            out.jsonString(list[k].data);
          }
          out.text("]");
          break;
        }
        case J_TTLS: {
          if (noAnswerData(v)) break;
          const list = v as Answer[];
          out.text(keys[i]);
          out.text("[");
          for (let k = 0; k < list.length; k++) {
            if (k > 0) out.text(",");
            out.int(list[k].ttl);
          }
          out.text("]");
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
  /** Line format. */
  readonly format: LineFormat;
  readonly #json: boolean;
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
  #stampHeadBytes = new Uint8Array(0);
  #stampTailBytes = new Uint8Array(0);
  /** `{"ts":SECONDS.` of the current second (JSON lines). */
  #jsonHead = "";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dirReady = false;
  #closed = false;
  /** Lines written (ended) since start. */
  lines = 0;

  /** A writer of `dir/[prefix]YYYY-MM-DD.log`; nothing is opened until the first flush. */
  constructor(options: LineWriterOptions) {
    this.dir = options.dir;
    this.format = options.format ?? "text";
    this.#json = this.format === "json";
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
    if (second !== this.#second) this.#enterSecond(second);
    const frac = t - second * 1000;
    return this.#stampHead + (frac < 10 ? "00" + frac : frac < 100 ? "0" + frac : String(frac)) +
      this.#stampTail;
  }

  /** Caches the stamp pieces of `second` (s since the epoch); switches the day when it changes. */
  #enterSecond(second: number): void {
    const s = this.#clock.stamp(new Date(second * 1000));
    this.#second = second;
    this.#stampHead = s.timestamp.slice(0, 20);
    this.#stampTail = s.timestamp.slice(23);
    this.#stampHeadBytes = this.#enc.encode(this.#stampHead);
    this.#stampTailBytes = this.#enc.encode(this.#stampTail);
    this.#jsonHead = `{"ts":${second}.`;
    if (s.day !== this.#day) {
      // Lines of the previous day go to its file before the switch.
      if (this.#pos > 0) this.flush();
      this.#day = s.day;
      this.#onDay?.(s.day);
    }
  }

  /**
   * Starts a line `TIMESTAMP<TAB>kind`; continue with {@linkcode LineWriter.text},
   * {@linkcode LineWriter.escaped} and {@linkcode LineWriter.int} pieces
   * (each field as `<TAB>key=value`), then {@linkcode LineWriter.end}.
   * In the JSON format it starts `{"ts":SECONDS.MICROS,"kind":"kind"`;
   * continue with pieces `,"key":value` ({@linkcode LineWriter.jsonString},
   * {@linkcode LineWriter.number}), and {@linkcode LineWriter.end} closes
   * the object. Returns false when the writer is closed (write nothing then).
   */
  begin(kind: string, ms: number): boolean {
    if (this.#closed) return false;
    if (this.#json) {
      // Integer microseconds first: a fractional ms never rounds into a 7th digit.
      const us = Math.round(ms * 1000);
      const second = Math.floor(us / 1_000_000);
      if (second !== this.#second) this.#enterSecond(second);
      if (this.#pos >= this.#flushBytes) this.flush();
      if (second >= 0) {
        this.text(this.#jsonHead);
        this.#micros(us - second * 1_000_000);
      } else this.text(`{"ts":${us / 1e6}`); // before 1970: the floor is not the integer part
      this.text(',"kind":');
      this.jsonString(kind);
      return true;
    }
    // The stamp written as `stamp(ms)` would give it, from the current second's pieces.
    const t = Math.floor(ms);
    const second = Math.floor(t / 1000);
    if (second !== this.#second) this.#enterSecond(second);
    if (this.#pos >= this.#flushBytes) this.flush();
    this.bytes(this.#stampHeadBytes);
    const frac = t - second * 1000;
    if (this.#pos + 3 > this.#buf.length) this.#grow(3);
    const buf = this.#buf, p = this.#pos;
    buf[p] = 48 + Math.floor(frac / 100);
    buf[p + 1] = 48 + (Math.floor(frac / 10) % 10);
    buf[p + 2] = 48 + (frac % 10);
    this.#pos = p + 3;
    this.bytes(this.#stampTailBytes);
    this.#byte(9);
    this.text(kind);
    return true;
  }

  /** Six digits, zero padded. */
  #micros(n: number): void {
    if (this.#pos + 6 > this.#buf.length) this.#grow(6);
    const buf = this.#buf;
    const p = this.#pos;
    for (let i = 5; i >= 0; i--) {
      buf[p + i] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.#pos = p + 6;
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

  /** Appends bytes as they are (ASCII pieces prepared once, such as a field's key). */
  bytes(b: Uint8Array): void {
    const n = b.length;
    if (this.#pos + n > this.#buf.length) this.#grow(n);
    const buf = this.#buf;
    let p = this.#pos;
    for (let i = 0; i < n; i++) buf[p++] = b[i];
    this.#pos = p;
  }

  /**
   * Appends `key` (bytes) and then `s` escaped as {@linkcode LineWriter.escaped}
   * does: one piece `<TAB>name=value` with one check for room.
   */
  field(key: Uint8Array, s: string): void {
    const k = key.length, n = s.length;
    if (this.#pos + k + n * 3 > this.#buf.length) this.#grow(k + n * 3);
    const buf = this.#buf;
    let p = this.#pos;
    for (let i = 0; i < k; i++) buf[p++] = key[i];
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Printable ASCII but the backslash goes as is; anything else takes the careful path.
      if (c < 32 || c >= 127 || c === 92) {
        this.#pos = p;
        this.escaped(s.slice(i));
        return;
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

  /**
   * Appends `s` as a JSON string (RFC 8259): in quotes, with `"`, `\` and
   * the control characters U+0000-U+001F escaped (`\n`, `\t`, ... or
   * `\u00XX`), everything else UTF-8 encoded. A lone UTF-16 surrogate has
   * no UTF-8 form and its `\uXXXX` escape is refused by common readers
   * (jq 1.6, RFC 8259 section 8.2 calls it unpredictable): it is written as
   * U+FFFD, as `TextEncoder` does, so every line stays valid UTF-8 JSON.
   */
  jsonString(s: string): void {
    const n = s.length;
    // Worst case: every code unit a six-byte \u00XX escape.
    if (this.#pos + 6 * n + 2 > this.#buf.length) this.#grow(6 * n + 2);
    const buf = this.#buf;
    let p = this.#pos;
    buf[p++] = 34;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        if (c >= 0x20 && c !== 34 && c !== 92) {
          buf[p++] = c;
          continue;
        }
        buf[p++] = 92;
        if (c === 34 || c === 92) buf[p++] = c;
        else if (c === 10) buf[p++] = 110;
        else if (c === 9) buf[p++] = 116;
        else if (c === 13) buf[p++] = 114;
        else if (c === 8) buf[p++] = 98;
        else if (c === 12) buf[p++] = 102;
        else {
          buf[p++] = 117;
          buf[p++] = 48;
          buf[p++] = 48;
          buf[p++] = c < 16 ? 48 : 49;
          buf[p++] = HEX[c & 15];
        }
      } else if (c < 0x800) {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 63);
      } else if (c < 0xd800 || c > 0xdfff) {
        buf[p++] = 0xe0 | (c >> 12);
        buf[p++] = 0x80 | ((c >> 6) & 63);
        buf[p++] = 0x80 | (c & 63);
      } else {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          buf[p++] = 0xf0 | (c >> 18);
          buf[p++] = 0x80 | ((c >> 12) & 63);
          buf[p++] = 0x80 | ((c >> 6) & 63);
          buf[p++] = 0x80 | (c & 63);
        } else {
          buf[p++] = 0xef;
          buf[p++] = 0xbf;
          buf[p++] = 0xbd;
        }
      }
    }
    buf[p++] = 34;
    this.#pos = p;
  }

  /** Appends a JSON number (`null` for NaN and infinities, which JSON cannot write). */
  number(n: number): void {
    if (n >= 0 && n <= 0xffffffff && n === Math.floor(n)) this.int(n);
    else if (Number.isFinite(n)) this.text(String(n));
    else this.text("null");
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

  /** Ends the current line (closing its JSON object in the JSON format). */
  end(): void {
    if (this.#json) this.#byte(125);
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
