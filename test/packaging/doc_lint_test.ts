/**
 * The public surface is documented: `deno doc --lint` over every
 * `lib/X/mod.ts` (together, as `deno publish` lints a package with several
 * entry points: a type exported by one folder's `mod.ts` is public for all)
 * finds no export without JSDoc, no missing explicit type and no exported
 * symbol naming a type that no `mod.ts` exports.
 */

import assert from "node:assert/strict";
import { repoRoot } from "../_helpers.ts";

async function docLint(files: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...files],
    cwd: repoRoot,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, output: text.decode(out.stdout) + text.decode(out.stderr) };
}

Deno.test("deno doc --lint is clean on every lib/*/mod.ts", async () => {
  const entries: string[] = [];
  for await (const e of Deno.readDir(`${repoRoot}/lib`)) {
    if (!e.isDirectory) continue;
    try {
      await Deno.stat(`${repoRoot}/lib/${e.name}/mod.ts`);
      entries.push(`lib/${e.name}/mod.ts`);
    } catch { /* a folder without a public module */ }
  }
  entries.sort();
  assert.ok(entries.length >= 15, `found only ${entries.join(", ")}`);
  const { code, output } = await docLint(entries);
  const problems = output.split("\n").filter((l) => /^error\[|^\s+--> /.test(l));
  assert.equal(code, 0, `deno doc --lint found problems:\n${problems.join("\n")}`);
});

Deno.test("deno doc --lint catches an undocumented export and a private type", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-doclint-" });
  try {
    await Deno.writeTextFile(
      `${dir}/mod.ts`,
      "interface Hidden { a: number }\nexport function shown(h: Hidden): number {\n  return h.a;\n}\n",
    );
    const { code, output } = await docLint([`${dir}/mod.ts`]);
    assert.notEqual(code, 0);
    assert.match(output, /missing-jsdoc/);
    assert.match(output, /private-type-ref.*'Hidden'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
