/**
 * Rewrites the command synopsis in README.md (between the `cli:begin` and
 * `cli:end` markers) and the man pages `man/vigia.8` and `man/vigia.toml.5`
 * from the CLI definition itself (`lib/cli/mod.ts`) and the config schema;
 * `test/cli/docs_test.ts` fails while they differ.
 *
 * Usage: `deno run -A scripts/gen_cli_doc.ts`
 *
 * @module
 */

import { cliSynopsis, manPage } from "../lib/cli/mod.ts";

/** The man pages: file under `man/` and `vigia man` page name. */
export const MAN_PAGES: [file: string, page: "vigia" | "vigia.toml"][] = [
  ["vigia.8", "vigia"],
  ["vigia.toml.5", "vigia.toml"],
];

/** Marks the start of the generated part of README.md. */
export const BEGIN =
  "<!-- cli:begin (generated from the CLI definition: deno run -A scripts/gen_cli_doc.ts) -->";
/** Marks its end. */
export const END = "<!-- cli:end -->";

/** `readme` with its generated synopsis replaced by the current one. */
export function withSynopsis(readme: string): string {
  const a = readme.indexOf(BEGIN), b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error("README.md has no cli:begin / cli:end markers");
  return readme.slice(0, a + BEGIN.length) + "\n\n```\n" + cliSynopsis() + "\n```\n\n" +
    readme.slice(b);
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  await Deno.writeTextFile(path, withSynopsis(await Deno.readTextFile(path)));
  await Deno.mkdir(new URL("../man", import.meta.url), { recursive: true });
  for (const [file, page] of MAN_PAGES) {
    await Deno.writeTextFile(new URL(`../man/${file}`, import.meta.url), manPage(page));
  }
}
