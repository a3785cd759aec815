/**
 * Rewrites the field tables in README.md (between the `fields:begin` and
 * `fields:end` markers) from `lib/sniffer/fields.ts`; `test/sniffer/fields_test.ts`
 * fails while they differ.
 *
 * Usage: `deno run --allow-read --allow-write scripts/gen_fields_doc.ts`
 *
 * @module
 */

import { fieldTablesMarkdown } from "../lib/sniffer/fields.ts";

/** Marks the start of the generated part of README.md. */
export const BEGIN =
  "<!-- fields:begin (generated from lib/sniffer/fields.ts: deno run -A scripts/gen_fields_doc.ts) -->";
/** Marks its end. */
export const END = "<!-- fields:end -->";

/** `readme` with its generated field tables replaced by the current ones. */
export function withFieldTables(readme: string): string {
  const a = readme.indexOf(BEGIN), b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error("README.md has no fields:begin / fields:end markers");
  return readme.slice(0, a + BEGIN.length) + "\n\n" + fieldTablesMarkdown() + "\n\n" +
    readme.slice(b);
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  await Deno.writeTextFile(path, withFieldTables(await Deno.readTextFile(path)));
}
