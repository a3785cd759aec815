/**
 * The one argument layer of the control verbs: each verb declares its
 * arguments as {@linkcode ArgSpec}s, and {@linkcode parseArgs} turns a
 * request's raw values into typed ones, the same way for every verb and on
 * both sides (the CLI validates before it sends, exit 2; the daemon parses
 * again with the configured time zone). A bad value is a
 * {@linkcode VerbUsageError} with one message style:
 * `--limit must be an integer from 1 to 10000: got "abc"`.
 *
 * Times (`type: "time"`): an age before now (`90s`, `15m`, `2h`, `7d`, `2w`),
 * a day `YYYY-MM-DD` (its midnight), or a time `YYYY-MM-DDTHH:MM[:SS]`, both
 * in the configured zone (`log.timezone`) unless they carry `Z` or an offset.
 *
 * @example
 * ```ts
 * import { parseArgs, paging, timeRange } from "./args.ts";
 * const specs = { ...timeRange(), ...paging(50) };
 * const args = parseArgs(specs, { since: "2h", limit: "20" }, { timeZone: "UTC" });
 * console.log(args.limit, typeof args.since); // 20 "number"
 * ```
 *
 * @module
 */

import { ZonedClock } from "../daylog/mod.ts";
import { VerbUsageError } from "./errors.ts";

/** Kinds of argument values. */
export type ArgType = "string" | "boolean" | "integer" | "time" | "day" | "cursor";

/** One argument of a verb. */
export interface ArgSpec {
  /** The kind of value (`time` and `integer` parse to numbers, `boolean` to booleans). */
  type: ArgType;
  /** One line of help. */
  describe: string;
  /** A positional argument (in declaration order) rather than a `--flag`. */
  positional?: boolean;
  /** The argument must be given. */
  required?: boolean;
  /** The only values allowed (strings). */
  choices?: readonly string[];
  /** Smallest integer allowed. @default 1 */
  min?: number;
  /** Largest integer allowed. @default 10000 */
  max?: number;
  /** Value when absent. */
  default?: number | string | boolean;
}

/** A verb's arguments by name. */
export type ArgSpecs = Readonly<Record<string, ArgSpec>>;

/** The parsed value of one {@linkcode ArgSpec}. */
export type ArgValue<A extends ArgSpec> = A["type"] extends "boolean" ? boolean
  : A["type"] extends "integer" | "time" ? number
  : string;

/** The parsed values of some {@linkcode ArgSpecs}: required or defaulted ones are always there. */
export type ArgValues<S extends ArgSpecs> =
  & {
    [K in keyof S as S[K] extends { required: true } | { default: unknown } ? K : never]: ArgValue<
      S[K]
    >;
  }
  & {
    [K in keyof S as S[K] extends { required: true } | { default: unknown } ? never : K]?: ArgValue<
      S[K]
    >;
  };

/** Options for {@linkcode parseArgs}. */
export interface ParseOptions {
  /** IANA zone for days and times without an offset. @default the host's zone */
  timeZone?: string;
  /** "Now" for ages (ms since the epoch). @default Date.now() */
  now?: number;
}

/** `--since`/`--until`: a time range (ms since the epoch). */
export function timeRange(): {
  since: ArgSpec & { type: "time" };
  until: ArgSpec & { type: "time" };
} {
  return {
    since: { type: "time", describe: "from this time: age (90m, 2h, 7d, 2w), date or ISO time" },
    until: { type: "time", describe: "before this time: age, date or ISO time" },
  };
}

/** `--limit`/`--cursor`: one page of a paged verb. */
export function paging(defaultLimit: number, max = 10_000): {
  limit: ArgSpec & { type: "integer"; default: number };
  cursor: ArgSpec & { type: "cursor" };
} {
  return {
    limit: {
      type: "integer",
      describe: `rows per page (default ${defaultLimit})`,
      min: 1,
      max,
      default: defaultLimit,
    },
    cursor: { type: "cursor", describe: "continue after this cursor (printed by the last page)" },
  };
}

/** The `--flag` (or `<name>`) form of an argument, for messages. */
export function argLabel(name: string, spec: ArgSpec): string {
  return spec.positional ? `<${name}>` : `--${name}`;
}

function refuse(label: string, expected: string, got: unknown): never {
  throw new VerbUsageError(`${label} must be ${expected}: got "${String(got)}"`);
}

const AGE = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/;

/** True when `day` is a real calendar day `YYYY-MM-DD`. */
export function isDay(day: string): boolean {
  const m = DAY.exec(day);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

/** Converts a wall-clock time (as a UTC-based ms value) in `clock`'s zone to the instant. */
function zonedInstant(wallUtc: number, clock: ZonedClock): number {
  let t = wallUtc - clock.offsetMinutes(new Date(wallUtc)) * 60_000;
  // Once more at the guessed instant, for times whose offset differs from the one at the wall time.
  t = wallUtc - clock.offsetMinutes(new Date(t)) * 60_000;
  return t;
}

/** Midnight starting `day` (YYYY-MM-DD) in `timeZone`, ms since the epoch. */
export function dayStart(day: string, timeZone?: string): number {
  return zonedInstant(Date.parse(`${day}T00:00:00Z`), new ZonedClock(timeZone || undefined));
}

/** The day after `day` (YYYY-MM-DD). */
export function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/** Parses one `time` value (see the module doc); throws {@linkcode VerbUsageError}. */
export function parseTime(text: string, label: string, options: ParseOptions = {}): number {
  const s = text.trim();
  const clock = new ZonedClock(options.timeZone || undefined);
  const age = AGE.exec(s);
  if (age) return (options.now ?? Date.now()) - Number(age[1]) * UNIT_MS[age[2]];
  if (DAY.test(s)) {
    if (!isDay(s)) refuse(label, "a real date YYYY-MM-DD", text);
    return zonedInstant(Date.parse(`${s}T00:00:00Z`), clock);
  }
  const local = LOCAL_TIME.exec(s);
  if (local) {
    if (
      !isDay(`${local[1]}-${local[2]}-${local[3]}`) || Number(local[4]) > 23 ||
      Number(local[5]) > 59
    ) {
      refuse(label, "a real time YYYY-MM-DDTHH:MM[:SS]", text);
    }
    const wall = Date.parse(
      `${local[1]}-${local[2]}-${local[3]}T${local[4]}:${local[5]}:${local[6] ?? "00"}${
        local[7] ?? ""
      }Z`,
    );
    return zonedInstant(wall, clock);
  }
  const t = /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(s) ? Date.parse(s) : NaN;
  if (Number.isNaN(t)) {
    refuse(
      label,
      "an age (90m, 2h, 7d, 2w), a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]",
      text,
    );
  }
  return t;
}

function parseOne(name: string, spec: ArgSpec, raw: unknown, options: ParseOptions): unknown {
  const label = argLabel(name, spec);
  switch (spec.type) {
    case "boolean":
      if (raw === true || raw === "true" || raw === 1) return true;
      if (raw === false || raw === "false" || raw === 0) return false;
      return refuse(label, "true or false", raw);
    case "integer": {
      const min = spec.min ?? 1, max = spec.max ?? 10_000;
      const text = String(raw).trim();
      const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        refuse(label, `an integer from ${min} to ${max}`, raw);
      }
      return n;
    }
    case "time":
      if (typeof raw === "number" && Number.isFinite(raw)) return raw;
      return parseTime(String(raw), label, options);
    case "day": {
      const s = String(raw).trim();
      if (!isDay(s)) refuse(label, "a real date YYYY-MM-DD", raw);
      return s;
    }
    case "cursor":
    case "string": {
      if (typeof raw !== "string" && typeof raw !== "number") refuse(label, "text", raw);
      const s = String(raw).trim();
      if (spec.choices && !spec.choices.includes(s)) {
        refuse(label, `one of ${spec.choices.join(", ")}`, raw);
      }
      return s;
    }
  }
}

/**
 * Parses a request's raw arguments against `specs`: absent values (`undefined`,
 * `null`, `""`) take the default or stay absent; a missing required one or a
 * bad value throws {@linkcode VerbUsageError}. Names not in `specs` are dropped.
 */
export function parseArgs<S extends ArgSpecs>(
  specs: S,
  raw: Record<string, unknown>,
  options: ParseOptions = {},
): ArgValues<S> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const value = raw[name];
    if (value === undefined || value === null || value === "") {
      if (spec.required) {
        throw new VerbUsageError(`${argLabel(name, spec)} is required: ${spec.describe}`);
      }
      if (spec.default !== undefined) out[name] = spec.default;
      continue;
    }
    out[name] = parseOne(name, spec, value, options);
  }
  return out as ArgValues<S>;
}

/** A page of a `paged` verb: its rows and, when there are more, the cursor of the next page. */
export interface Page<T = Record<string, unknown>> {
  /** The rows of this page. */
  rows: T[];
  /** Give this as `cursor` for the next page; absent on the last one. */
  next_cursor?: string;
}

/** Encodes a keyset cursor: the sort key of the last row of a page. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return btoa(JSON.stringify(key)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Decodes a cursor made by {@linkcode encodeCursor} whose key has the given
 * shape; a cursor that does not fit is a usage error.
 */
export function decodeCursor(text: string, shape: readonly ("string" | "number")[]): (
  | string
  | number
)[] {
  let key: unknown;
  try {
    key = JSON.parse(atob(text.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    key = undefined;
  }
  if (
    !Array.isArray(key) || key.length !== shape.length ||
    key.some((k, i) => typeof k !== shape[i])
  ) {
    throw new VerbUsageError(`--cursor must be a cursor printed by an earlier page: got "${text}"`);
  }
  return key;
}
