/**
 * A small schema language for vigia's TOML config. Every component describes
 * its own section with these builders; the loader validates against them, the
 * embedded default config is their defaults, and the reference config is
 * rendered from their docs. One description, three uses.
 *
 * @module
 */

import { parseCidr, parseDuration, parseHostPort, parseIp, parseMac } from "./values.ts";

/** A problem found while validating a value: what is wrong with it. */
export class ValueError extends Error {
  /** Optional index path relative to the value (e.g. `[1]`) where the problem sits. */
  subPath: (string | number)[];
  /** A problem described by `message`, at `subPath` inside the value. */
  constructor(message: string, subPath: (string | number)[] = []) {
    super(message);
    this.name = "ValueError";
    this.subPath = subPath;
  }
}

/**
 * Several problems inside one value (bad items of an array, bad entries of
 * a table), so that every one is reported at once. Reads as its first
 * problem where only one is shown.
 */
export class ValueErrors extends ValueError {
  /** Every problem, each with its own sub-path. */
  readonly errors: ValueError[];
  /** Collects `errors` (at least one). */
  constructor(errors: ValueError[]) {
    super(errors[0].message, errors[0].subPath);
    this.name = "ValueErrors";
    this.errors = errors;
  }
}

/**
 * Validates each entry with `validate`, collecting the problems of every bad
 * entry (placed under its index or key) instead of stopping at the first.
 */
function validateEach<T>(
  entries: [string | number, unknown][],
  validate: (raw: unknown) => T,
): T[] {
  const out: T[] = [];
  const errors: ValueError[] = [];
  for (const [at, raw] of entries) {
    try {
      out.push(validate(raw));
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      for (const one of e instanceof ValueErrors ? e.errors : [e]) {
        errors.push(new ValueError(one.message, [at, ...one.subPath]));
      }
    }
  }
  if (errors.length > 0) throw new ValueErrors(errors);
  return out;
}

/** One key of a section. `T` is the validated value's type. */
export interface Field<T> {
  /** What the key does, one or more sentences, for the reference config. */
  doc: string;
  /** The value used when the key is absent. */
  default: T;
  /** Production value shown in the reference config, when it differs from the default. */
  reference?: T;
  /** Turns a raw TOML value into a validated one, or throws {@linkcode ValueError}. */
  validate(raw: unknown): T;
  /** Human name of the expected type, used in messages ("a duration such as \"30s\""). */
  expects: string;
  /** How the default is written in TOML, when it differs from its JSON form (durations). */
  text?: string;
  /** How the reference value is written in TOML, when it differs from its JSON form. */
  referenceText?: string;
  /**
   * Set on an address (or list of addresses) something listens on: the
   * protocols it binds and the port of an address written without one. The
   * config check reports two such keys on the same address, port and protocol.
   */
  listens?: Listens;
}

/** Transport protocols a listener binds. */
export type ListenProtocol = "udp" | "tcp";

/** What a listening address field binds (see {@linkcode Field.listens}). */
export interface Listens {
  /** Protocols bound on each address. */
  protocols: ListenProtocol[];
  /** Port of an address written without one. */
  defaultPort?: number;
}

/** A field of any value type (what a {@linkcode Spec} holds). */
// deno-lint-ignore no-explicit-any
export type AnyField = Field<any>;

/** The keys of a table: fields, nested tables and arrays of tables. */
export type Spec = {
  // deno-lint-ignore no-explicit-any
  [key: string]: AnyField | Section<any> | TableArray<any>;
};

/**
 * A TOML table whose keys are fields or nested sections. A component's
 * exported schema is written `new Section(doc, fields)` (nested ones with
 * {@linkcode section}), so its documented type needs no annotation.
 */
export class Section<F extends Spec> {
  /** Tells a section from a {@linkcode TableArray}. */
  readonly kind = "section";
  /** What the table is for, for the reference config. */
  doc: string;
  /** Its keys. */
  fields: F;

  /** Describes a table with `fields`. */
  constructor(doc: string, fields: F) {
    this.doc = doc;
    this.fields = fields;
  }
}

/** An array of TOML tables (`[[x]]`), each validated against `item`. */
export interface TableArray<F extends Spec> {
  /** Tells a table array from a {@linkcode Section}. */
  kind: "table-array";
  /** What the tables are for, for the reference config. */
  doc: string;
  /** The schema of each table. */
  item: Section<F>;
  /** Example entries for the reference config (commented out unless they are the default). */
  example: Record<string, unknown>[];
  /** Entries used when the key is absent (raw TOML values, validated like user input). */
  default: Record<string, unknown>[];
}

/** The validated value of a table described by `F`. */
export type ValueOf<F extends Spec> = {
  [K in keyof F]: F[K] extends Field<infer T> ? T
    : F[K] extends Section<infer G> ? ValueOf<G>
    : F[K] extends TableArray<infer G> ? ValueOf<G>[]
    : never;
};

/** The validated value of a section. */
export type SectionValue<X> = X extends Section<infer F> ? ValueOf<F> : never;

/** Options shared by every field builder. */
export interface FieldOptions<T> {
  /** What the key does. */
  doc: string;
  /** Default value. */
  default: T;
  /** Value shown in the reference (production) config. */
  reference?: T;
}

function typeName(raw: unknown): string {
  if (Array.isArray(raw)) return "an array";
  if (raw === null) return "null";
  if (raw instanceof Date) return "a date";
  if (typeof raw === "object") return "a table";
  return `${typeof raw} ${JSON.stringify(raw)}`;
}

function field<T>(
  options: FieldOptions<T>,
  expects: string,
  validate: (raw: unknown) => T,
): Field<T> {
  return {
    doc: options.doc,
    default: options.default,
    reference: options.reference,
    expects,
    validate,
  };
}

/** A string field; `oneOf` restricts it to some values (and its type to their union). */
export function str<const T extends string>(
  options: FieldOptions<NoInfer<T>> & { oneOf: readonly T[]; nonEmpty?: boolean },
): Field<T>;
/** A string field. */
export function str(options: FieldOptions<string> & { nonEmpty?: boolean }): Field<string>;
export function str(
  options: FieldOptions<string> & { oneOf?: readonly string[]; nonEmpty?: boolean },
): Field<string> {
  const expects = options.oneOf
    ? `one of ${options.oneOf.map((v) => `"${v}"`).join(", ")}`
    : "a string";
  return field(options, expects, (raw) => {
    if (typeof raw !== "string") {
      throw new ValueError(`expected ${expects}, found ${typeName(raw)}`);
    }
    if (options.oneOf && !options.oneOf.includes(raw)) {
      throw new ValueError(`expected ${expects}, found "${raw}"`);
    }
    if (options.nonEmpty && raw === "") throw new ValueError("must not be empty");
    return raw;
  });
}

/** A boolean field. */
export function bool(options: FieldOptions<boolean>): Field<boolean> {
  return field(options, "true or false", (raw) => {
    if (typeof raw !== "boolean") {
      throw new ValueError(`expected true or false, found ${typeName(raw)}`);
    }
    return raw;
  });
}

/** An integer field within `[min, max]`. */
export function int(options: FieldOptions<number> & { min?: number; max?: number }): Field<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
  return field(options, `an integer from ${min} to ${max}`, (raw) => {
    const n = typeof raw === "bigint" ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isInteger(n)) {
      throw new ValueError(`expected an integer, found ${typeName(raw)}`);
    }
    if (n < min || n > max) throw new ValueError(`must be from ${min} to ${max}, found ${n}`);
    return n;
  });
}

/** A duration written as a string like `"500ms"`, `"30s"`, `"6h"`; validated to milliseconds. */
export function duration(
  options: FieldOptions<string> & { minMs?: number },
): Field<number> {
  const { minMs = 0 } = options;
  const f = field<number>(
    {
      doc: options.doc,
      default: parseDuration(options.default),
      reference: options.reference === undefined ? undefined : parseDuration(options.reference),
    },
    'a duration such as "500ms", "30s", "6h"',
    (raw) => {
      if (typeof raw !== "string") {
        throw new ValueError(`expected a duration such as "30s", found ${typeName(raw)}`);
      }
      const ms = parseDuration(raw);
      if (Number.isNaN(ms)) {
        throw new ValueError(`invalid duration "${raw}": use a number and a unit (ms, s, m, h, d)`);
      }
      if (ms < minMs) throw new ValueError(`must be at least ${minMs}ms, found "${raw}"`);
      return ms;
    },
  );
  return { ...f, text: options.default, referenceText: options.reference };
}

/** An IPv4 or IPv6 address. */
export function ip(options: FieldOptions<string>): Field<string> {
  return field(options, "an IP address", (raw) => {
    if (typeof raw !== "string" || parseIp(raw) === null) {
      throw new ValueError(`expected an IP address, found ${typeName(raw)}`);
    }
    return raw;
  });
}

/** An IP address or CIDR range (`10.0.0.0/8`); a bare address means a single host. */
export function cidr(options: FieldOptions<string>): Field<string> {
  return field(options, "an IP address or CIDR range", (raw) => {
    if (typeof raw !== "string" || parseCidr(raw) === null) {
      throw new ValueError(`expected an IP address or CIDR range, found ${typeName(raw)}`);
    }
    return raw;
  });
}

/** A MAC address `aa:bb:cc:dd:ee:ff` (also `-` separated); normalised to lower case with colons. */
export function mac(options: FieldOptions<string>): Field<string> {
  return field(options, "a MAC address", (raw) => {
    const m = typeof raw === "string" ? parseMac(raw) : null;
    if (m === null) {
      throw new ValueError(
        `expected a MAC address like "aa:bb:cc:dd:ee:ff", found ${typeName(raw)}`,
      );
    }
    return m;
  });
}

/**
 * `IP:PORT` or `[IPv6]:PORT`, with `defaultPort` when the port is left out.
 * `listens` marks an address vigia listens on (checked for clashes with
 * every other listener); a {@linkcode list} of such fields is one too.
 */
export function hostPort(
  options: FieldOptions<string> & { defaultPort?: number; listens?: ListenProtocol[] },
): Field<string> {
  const f = field(options, "an address IP:PORT", (raw) => {
    if (typeof raw !== "string") throw new ValueError(`expected "IP:PORT", found ${typeName(raw)}`);
    const hp = parseHostPort(raw, options.defaultPort);
    if (typeof hp === "string") throw new ValueError(hp);
    return raw;
  });
  if (options.listens) f.listens = { protocols: options.listens, defaultPort: options.defaultPort };
  return f;
}

/** An array of values of one field type. */
export function list<T>(
  item: Field<T>,
  options: FieldOptions<T[]> & { min?: number; max?: number },
): Field<T[]> {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = options;
  const f = field(options, `an array of ${item.expects.replace(/^an? /, "")}s`, (raw) => {
    if (!Array.isArray(raw)) throw new ValueError(`expected an array, found ${typeName(raw)}`);
    if (raw.length < min) {
      throw new ValueError(`needs at least ${min} entr${min === 1 ? "y" : "ies"}`);
    }
    if (raw.length > max) throw new ValueError(`takes at most ${max} entries, found ${raw.length}`);
    return validateEach(raw.map((v, i) => [i, v]), (v) => item.validate(v));
  });
  if (item.listens) f.listens = item.listens;
  return f;
}

/** A free-form table of string keys to values of one field type (e.g. country → branch list). */
export function map<T>(
  item: Field<T>,
  options: FieldOptions<Record<string, T>>,
): Field<Record<string, T>> {
  return field(options, "a table", (raw) => {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw) || raw instanceof Date) {
      throw new ValueError(`expected a table, found ${typeName(raw)}`);
    }
    const entries = Object.entries(raw as Record<string, unknown>);
    const values = validateEach(entries, (v) => item.validate(v));
    return Object.fromEntries(entries.map(([k], i) => [k, values[i]]));
  });
}

/** Describes a table. */
export function section<F extends Spec>(doc: string, fields: F): Section<F> {
  return new Section(doc, fields);
}

/** Describes an array of tables. */
export function tableArray<F extends Spec>(
  doc: string,
  item: Section<F>,
  options: { example?: Record<string, unknown>[]; default?: Record<string, unknown>[] } = {},
): TableArray<F> {
  return {
    kind: "table-array",
    doc,
    item,
    example: options.example ?? [],
    default: options.default ?? [],
  };
}

/** True when `x` is a plain field (not a table). */
// deno-lint-ignore no-explicit-any
export function isField(x: unknown): x is Field<any> {
  return !isSectionLike(x);
}

/** True when `x` is a nested section or an array of tables rather than a field. */
export function isSectionLike(x: unknown): x is Section<Spec> | TableArray<Spec> {
  const kind = (x as { kind?: string }).kind;
  return kind === "section" || kind === "table-array";
}
