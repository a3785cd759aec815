/**
 * Loads and validates vigia's TOML config against a schema built with
 * `schema.ts`, reporting every problem as `FILE:LINE:COL: key.path: message`,
 * and renders the schema back to commented TOML (the embedded default and
 * the reference config).
 *
 * @example
 * ```ts
 * import { loadConfig, section, str } from "./mod.ts";
 * const schema = section("root", { name: str({ doc: "a name", default: "x" }) });
 * const { config } = await loadConfig(schema, { path: "vigia.toml" });
 * ```
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";
import { indexPositions, pathText, type Position, type PositionIndex } from "./positions.ts";
import {
  type Field,
  isField,
  type Section,
  type Spec,
  type TableArray,
  ValueError,
  ValueErrors,
  type ValueOf,
} from "./schema.ts";
import { formatDuration } from "./values.ts";
import { listenerClashes } from "./listeners.ts";

export * from "./schema.ts";
export { formatDuration, parseDuration } from "./values.ts";
export { pathText } from "./positions.ts";

/** One problem in a config file. */
export interface ConfigIssue {
  /** File name as given, or `<embedded>`. */
  file: string;
  /** 1-based line, 0 when unknown. */
  line: number;
  /** 1-based column, 0 when unknown. */
  col: number;
  /** Key path such as `dns.listen[1]`; empty for syntax errors. */
  path: string;
  /** What is wrong, with the value seen. */
  message: string;
}

/** Formats an issue as `FILE:LINE:COL: path: message`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.col}` : issue.file;
  return `${where}: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`;
}

/** Thrown when a config has problems; `issues` holds every one found. */
export class ConfigError extends Error {
  /** Every problem found, in file order. */
  issues: ConfigIssue[];
  /** Makes an error of every issue found. */
  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/**
 * A semantic check that runs after the shapes are valid: files that must
 * exist, zones that must be consistent. `report(path, message)` adds an issue
 * placed at the value of `path`; `report(path, message, {line, col, file})`
 * places it elsewhere (a zone file line).
 */
export type ConfigCheck<C> = (
  config: C,
  report: (path: string, message: string, at?: Partial<ConfigIssue>) => void,
  context: { baseDir: string },
) => void | Promise<void>;

/** Options for {@linkcode loadConfig}. */
export interface LoadOptions<C> {
  /** File to read; when absent the schema defaults are used (the embedded default config). */
  path?: string;
  /** TOML text to use instead of reading `path` (still reported under `path`). */
  text?: string;
  /** Semantic checks to run after shape validation. */
  checks?: ConfigCheck<C>[];
}

/** A validated config plus where it came from. */
export interface LoadedConfig<C> {
  /** The validated config, defaults filled in. */
  config: C;
  /** The file it came from, or `<embedded>`. */
  source: string;
  /** The raw TOML text (empty for the embedded default). */
  text: string;
}

/** Reads, parses and validates a config file; throws {@linkcode ConfigError} listing every problem. */
export async function loadConfig<F extends Spec>(
  schema: Section<F>,
  options: LoadOptions<ValueOf<F>> = {},
): Promise<LoadedConfig<ValueOf<F>>> {
  const file = options.path ?? "<embedded>";
  let text = options.text ?? "";
  if (options.text === undefined && options.path !== undefined) {
    try {
      text = await Deno.readTextFile(options.path);
    } catch (e) {
      const reason = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
      throw new ConfigError([{
        file,
        line: 0,
        col: 0,
        path: "",
        message: `cannot read config: ${reason}`,
      }]);
    }
  }
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new ConfigError([{
        file,
        line: e.line,
        col: e.column,
        path: "",
        message: `TOML syntax: ${first}`,
      }]);
    }
    throw e;
  }
  const positions = indexPositions(text);
  const issues: ConfigIssue[] = [];
  const config = validateSection(schema, raw, [], { file, positions, issues }) as ValueOf<F>;
  if (issues.length === 0) {
    for (const c of listenerClashes(schema, config)) {
      const p = locate(positions, c.path);
      const o = locate(positions, c.other);
      const otherAt = o.line > 0 ? ` (${file}:${o.line}:${o.col})` : " (its default)";
      issues.push({
        file,
        ...p,
        path: c.path,
        message:
          `${c.what} is already taken by ${c.other}${otherAt}; give each its own address or port`,
      });
    }
    const baseDir = options.path ? dirname(options.path) : ".";
    for (const check of options.checks ?? []) {
      await check(config, (path, message, at) => {
        const p = at?.line ? { line: at.line, col: at.col ?? 1 } : locate(positions, path);
        issues.push({ file: at?.file ?? file, line: p.line, col: p.col, path, message });
      }, { baseDir });
    }
  }
  if (issues.length > 0) {
    issues.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
    throw new ConfigError(issues);
  }
  return { config, source: file, text };
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

interface Ctx {
  file: string;
  positions: PositionIndex;
  issues: ConfigIssue[];
}

/** Finds the nearest recorded position for a path, walking up to its parents. */
function locate(positions: PositionIndex, path: string, kind: "value" | "key" = "value"): Position {
  let p = path;
  for (;;) {
    const hit = (kind === "key" ? positions.key.get(p) : undefined) ?? positions.value.get(p);
    if (hit) return hit;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    if (cut <= 0) return { line: 0, col: 0 };
    p = p.slice(0, cut);
  }
}

function isTable(raw: unknown): raw is Record<string, unknown> {
  return raw !== null && typeof raw === "object" && !Array.isArray(raw) && !(raw instanceof Date);
}

function validateSection(
  schema: Section<Spec>,
  raw: unknown,
  path: (string | number)[],
  ctx: Ctx,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const here = pathText(path);
  if (raw !== undefined && !isTable(raw)) {
    const p = locate(ctx.positions, here);
    ctx.issues.push({ ...p, file: ctx.file, path: here, message: "expected a table" });
    raw = undefined;
  }
  const table = (raw ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(table)) {
    if (!(key in schema.fields)) {
      const keyPath = pathText([...path, key]);
      const p = locate(ctx.positions, keyPath, "key");
      const hint = closest(key, Object.keys(schema.fields));
      ctx.issues.push({
        ...p,
        file: ctx.file,
        path: keyPath,
        message: `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ""}${
          here ? ` in [${here}]` : ""
        }`,
      });
    }
  }
  for (const [key, spec] of Object.entries(schema.fields)) {
    const sub = [...path, key];
    const value = table[key];
    if (!isField(spec)) {
      if (spec.kind === "section") out[key] = validateSection(spec, value, sub, ctx);
      else out[key] = validateTableArray(spec, value, sub, ctx);
      continue;
    }
    if (value === undefined) {
      out[key] = structuredClone(spec.default);
      continue;
    }
    try {
      out[key] = spec.validate(value);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      for (const one of e instanceof ValueErrors ? e.errors : [e]) {
        const at = pathText([...sub, ...one.subPath]);
        const p = locate(ctx.positions, at);
        ctx.issues.push({ ...p, file: ctx.file, path: at, message: one.message });
      }
      out[key] = structuredClone(spec.default);
    }
  }
  return out;
}

function validateTableArray(
  spec: TableArray<Spec>,
  raw: unknown,
  path: (string | number)[],
  ctx: Ctx,
): Record<string, unknown>[] {
  if (raw === undefined) raw = spec.default;
  if (!Array.isArray(raw)) {
    const here = pathText(path);
    const p = locate(ctx.positions, here);
    ctx.issues.push({
      ...p,
      file: ctx.file,
      path: here,
      message: `expected an array of tables ([[${here}]])`,
    });
    return [];
  }
  return raw.map((item, i) => validateSection(spec.item, item, [...path, i], ctx));
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined, bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

/** Options for {@linkcode renderToml}. */
export interface RenderOptions {
  /** `"default"` renders defaults; `"reference"` renders production values where given. */
  values?: "default" | "reference";
  /** A header comment placed at the top. */
  header?: string;
}

/**
 * Renders a schema as commented TOML: every key, its value and its doc.
 * Used for `config/vigia.toml` and `vigia config defaults`.
 */
export function renderToml(schema: Section<Spec>, options: RenderOptions = {}): string {
  const { values = "default", header } = options;
  const lines: string[] = [];
  if (header) lines.push(...header.split("\n").map((l) => (l ? `# ${l}` : "#")), "");
  renderSection(schema, [], lines, values);
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

function comment(doc: string, lines: string[]): void {
  for (const l of wrap(doc, 78)) lines.push(`# ${l}`);
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split("\n")) {
    let cur = "";
    for (const w of para.split(/\s+/).filter(Boolean)) {
      if (cur && cur.length + 1 + w.length > width) {
        out.push(cur);
        cur = w;
      } else cur = cur ? `${cur} ${w}` : w;
    }
    out.push(cur);
  }
  return out;
}

/** Formats one value as TOML. */
export function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) {
    const inner = v.map(tomlValue);
    const one = `[${inner.join(", ")}]`;
    return one.length <= 70 ? one : `[\n${inner.map((x) => `  ${x},`).join("\n")}\n]`;
  }
  if (isTable(v)) {
    return `{ ${Object.entries(v).map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`).join(", ")} }`;
  }
  return JSON.stringify(v);
}

function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

function fieldText(f: Field<unknown>, values: "default" | "reference"): string {
  if (values === "reference" && f.reference !== undefined) {
    return f.referenceText !== undefined ? JSON.stringify(f.referenceText) : tomlValue(f.reference);
  }
  if (f.text !== undefined) return JSON.stringify(f.text);
  if (typeof f.default === "number" && f.expects.startsWith("a duration")) {
    return JSON.stringify(formatDuration(f.default));
  }
  return tomlValue(f.default);
}

function renderSection(
  schema: Section<Spec>,
  path: string[],
  lines: string[],
  values: "default" | "reference",
): void {
  const nested: [string, Section<Spec> | TableArray<Spec>][] = [];
  for (const [key, spec] of Object.entries(schema.fields)) {
    if (!isField(spec)) {
      nested.push([key, spec]);
      continue;
    }
    const shown = fieldText(spec, values);
    const builtIn = fieldText(spec, "default");
    // The reference shows production values; say what the built-in default is where it differs.
    comment(shown === builtIn ? spec.doc : `${spec.doc} Built-in default: ${builtIn}.`, lines);
    lines.push(`${tomlKey(key)} = ${shown}`, "");
  }
  for (const [key, spec] of nested) {
    const sub = [...path, key];
    const name = sub.map(tomlKey).join(".");
    lines.push("");
    comment(spec.doc, lines);
    if (spec.kind === "section") {
      lines.push(`[${name}]`);
      renderSection(spec, sub, lines, values);
    } else {
      const entries = spec.default.length > 0 ? spec.default : spec.example;
      const commented = spec.default.length === 0 ? "# " : "";
      if (entries.length === 0) {
        lines.push(`# [[${name}]]`);
        for (const [k, f] of Object.entries(spec.item.fields)) {
          if (isField(f)) {
            lines.push(`# ${tomlKey(k)} = ${fieldText(f, values)}   # ${wrap(f.doc, 1000)[0]}`);
          }
        }
      }
      for (const ex of entries) {
        lines.push(`${commented}[[${name}]]`);
        for (const [k, f] of Object.entries(spec.item.fields)) {
          if (!isField(f)) continue;
          if (!(k in ex)) continue;
          lines.push(`${commented}${tomlKey(k)} = ${tomlValue(ex[k])}   # ${wrap(f.doc, 1000)[0]}`);
        }
        lines.push("");
      }
    }
  }
}

/**
 * The values of the part of a TOML text that parses: all of it, or the
 * lines before the first syntax error; unvalidated. For finding one key of
 * a config that does not load (`vigia ctl` looking for the socket).
 */
export function parsablePart(text: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (e) {
    if (!(e instanceof TomlError) || e.line <= 1) return {};
    try {
      return parse(text.split("\n").slice(0, e.line - 1).join("\n")) as Record<string, unknown>;
    } catch {
      return {};
    }
  }
}
