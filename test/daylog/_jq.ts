/**
 * Reading JSON daily files the way a SIEM shipper would: through `jq`
 * (Debian's, in APT_PACKAGES), so "valid JSON" means what a real parser
 * accepts, not what this code base's own reader does.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hasCommand } from "../_env.ts";

/** True when jq is on PATH (tests print why they skip otherwise). */
export const hasJq: boolean = hasCommand("jq");

/**
 * Every line of `path` parsed by `jq -c .`, one object per input line (it
 * fails when jq refuses a line, a line is not an object, or the counts differ).
 */
export async function jqLines(path: string): Promise<Record<string, unknown>[]> {
  const bytes = await Deno.readFile(path);
  // Valid UTF-8 throughout: a fatal decoder throws on any bad byte.
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  const lines = text.split("\n");
  assert.equal(lines.pop(), "", `${path} ends with a newline`);
  const out = await new Deno.Command("jq", {
    args: ["-c", 'if type == "object" then . else error("not an object") end', path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `jq refused ${path}: ${new TextDecoder().decode(out.stderr)}`);
  const parsed = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(parsed.length, lines.length, `${path}: jq read as many objects as there are lines`);
  return parsed;
}
