/**
 * Output of CLI results: aligned tables for people, JSON for scripts.
 *
 * @module
 */

function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v)) return v.map(cell).join(",");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Renders rows of flat objects as an aligned table with a header line. */
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return "(none)";
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => cols.map((c) => cell(r[c]).replace(/[\t\n]/g, " ")));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (parts: string[]) =>
    parts.map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i]))).join("  ");
  return [line(cols.map((c) => c.toUpperCase())), ...cells.map(line)].join("\n");
}

/** Renders a nested object as indented `key: value` lines. */
export function keyValues(obj: Record<string, unknown>, indent = ""): string {
  const keys = Object.keys(obj);
  const width = Math.max(0, ...keys.map((k) => k.length));
  const out: string[] = [];
  for (const k of keys) {
    const v = obj[k];
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) {
      out.push(`${indent}${k}:`);
      out.push(keyValues(v as Record<string, unknown>, indent + "  "));
    } else if (Array.isArray(v) && v.length > 0 && typeof v[0] === "object" && v[0] !== null) {
      out.push(`${indent}${k}:`);
      out.push(
        table(v as Record<string, unknown>[]).split("\n").map((l) => indent + "  " + l).join("\n"),
      );
    } else {
      out.push(`${indent}${k.padEnd(width)}  ${cell(v)}`);
    }
  }
  return out.join("\n");
}

/**
 * Prints a verb's result: `--json` → one JSON document, or JSON lines for
 * lists; otherwise a table for lists and `key: value` lines for objects.
 */
export function renderResult(result: unknown, json: boolean): string {
  const paged = isPaged(result) ? result : undefined;
  const rows = paged ? paged.rows : result;
  if (json) {
    if (Array.isArray(rows)) return rows.map((r) => JSON.stringify(r)).join("\n");
    return JSON.stringify(result);
  }
  if (Array.isArray(rows)) {
    if (rows.length > 0 && rows.every((r) => r !== null && typeof r === "object")) {
      return table(rows.map(flatten));
    }
    return rows.length === 0 ? "(none)" : rows.map(cell).join("\n");
  }
  if (rows !== null && typeof rows === "object") return keyValues(rows as Record<string, unknown>);
  return cell(rows);
}

/** A paged list: rows plus the cursor of the next page. */
export interface Paged {
  rows: unknown[];
  next_cursor?: string | null;
}

/** True when a result is a paged list. */
export function isPaged(result: unknown): result is Paged {
  return result !== null && typeof result === "object" && !Array.isArray(result) &&
    Array.isArray((result as Paged).rows);
}

function flatten(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) out[`${k}.${k2}`] = v2;
    } else out[k] = v;
  }
  return out;
}
