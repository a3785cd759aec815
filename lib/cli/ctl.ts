/**
 * `vigia ctl VERB ...`: every control verb, derived from the verb specs
 * the daemon answers (its own and each component's, see
 * {@linkcode verbCatalogue}): the command path is the verb's name, the
 * positionals and `--flags` its arguments, the output follows its shape.
 * Arguments are validated here by the same argument layer the daemon uses,
 * so a bad value is a usage error (exit 2) before anything is sent.
 *
 * Output: a table (or `key: value` lines) for people; with `--json` one
 * JSON document, or JSON lines for lists. A paged verb's JSON lines end with
 * `{"next_cursor": "C"}` (`null` on the last page); `--all` fetches every
 * page and streams their rows, then `{"next_cursor": null}`.
 *
 * @module
 */

import type { Argv } from "yargs";
import { callControl, ControlError, type ControlTarget } from "../control/mod.ts";
import { type ArgSpec, parseArgs } from "../daemon/args.ts";
import { type VerbCatalogue, verbCatalogue, VerbUsageError } from "../daemon/mod.ts";
import type { VerbSpec } from "../daemon/types.ts";
import { components } from "../app/mod.ts";
import { isPaged, keyValues, renderResult, table } from "./render.ts";
import { configPathOf, socketPathFromConfig, UsageError } from "./common.ts";
import { remoteOptions, remoteTargetFrom } from "./remote.ts";

type Spec = VerbSpec<unknown, unknown>;

interface StatusResult extends Record<string, unknown> {
  components: { name: string; details: Record<string, unknown>; [k: string]: unknown }[];
}

/** `ctl status` for people: the daemon's facts, then one table row per component. */
function renderStatus(status: StatusResult): string {
  const { components, ...daemon } = status;
  const rows = components.map(({ details, ...c }) => ({
    ...c,
    details: Object.entries(details ?? {}).map(([k, v]) =>
      `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`
    )
      .join(" "),
  }));
  return `${keyValues(daemon)}

${table(rows, ["name", "enabled", "state", "uptime_s", "restarts", "last_error", "details"])}`;
}

/** Exit code holder shared with main. */
export const exit = { code: 0 };

async function targetFrom(argv: Record<string, unknown>): Promise<ControlTarget> {
  const remote = await remoteTargetFrom(argv);
  if (remote) return remote;
  if (typeof argv.socket === "string" && argv.socket) return { path: argv.socket };
  const found = await socketPathFromConfig(configPathOf(argv));
  if (found.warning) console.error(`vigia ctl: warning: ${found.warning}`);
  return { path: found.path };
}

/** The request arguments of a verb from the parsed command line (as given: the daemon parses them). */
function requestArgs(spec: Spec, argv: Record<string, unknown>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const name of Object.keys(spec.args)) if (argv[name] !== undefined) args[name] = argv[name];
  return args;
}

function printJsonRows(rows: unknown[]): void {
  for (const r of rows) console.log(JSON.stringify(r));
}

async function runVerb(spec: Spec, argv: Record<string, unknown>): Promise<void> {
  const prefix = `vigia ctl ${spec.name}`;
  try {
    const args = requestArgs(spec, argv);
    // Validated here the way the daemon will parse them: a bad value never leaves the CLI.
    parseArgs(spec.args, args);
    const target = await targetFrom(argv);
    const json = argv.json === true;
    const call = (a: Record<string, unknown>) =>
      callControl(target, spec.name, { args: a, timeoutMs: spec.timeoutMs });
    if (spec.output === "paged") {
      await runPaged(call, args, { json, all: argv.all === true });
    } else {
      const result = await call(args);
      const text = !json && spec.name === "status"
        ? renderStatus(result as StatusResult)
        : renderResult(result, json);
      if (text) console.log(text);
    }
    exit.code = 0;
  } catch (e) {
    const usage = e instanceof VerbUsageError || e instanceof UsageError ||
      (e instanceof ControlError && e.usage);
    console.error(`${prefix}: ${(e as Error).message}`);
    exit.code = usage ? 2 : 1;
  }
}

/** Pages bounded: `--all` stops after this many (a cursor that never ends would loop forever). */
const MAX_PAGES = 1_000_000;

/** Fetches and prints a paged verb's pages (`--all`: every page) as `ctl` does. */
export async function runPaged(
  call: (args: Record<string, unknown>) => Promise<unknown>,
  args: Record<string, unknown>,
  options: { json: boolean; all: boolean },
): Promise<void> {
  const collected: unknown[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await call(cursor === undefined ? args : { ...args, cursor });
    if (!isPaged(result)) throw new Error("the daemon did not answer with a page of rows");
    cursor = result.next_cursor ?? undefined;
    if (options.json) printJsonRows(result.rows);
    else collected.push(...result.rows);
    if (!options.all || cursor === undefined) break;
  }
  if (options.json) {
    console.log(JSON.stringify({ next_cursor: options.all ? null : cursor ?? null }));
    return;
  }
  console.log(renderResult(collected, false));
  if (!options.all && cursor !== undefined) console.error(`more: --cursor ${cursor}`);
}

/**
 * The yargs command string of a verb: its last word (or `word`, such as
 * `$0` for a group's default command) and its positionals.
 */
export function commandOf(spec: Spec, word?: string): string {
  const words = spec.name.split(" ");
  const positionals = Object.entries(spec.args).filter(([, a]) => a.positional)
    .map(([name, a]) => (a.required ? `<${name}>` : `[${name}]`));
  return [word ?? words[words.length - 1], ...positionals].join(" ");
}

/** The `--flag` options of a verb, with `--all` for paged verbs. */
export function flagsOf(spec: Spec): [string, ArgSpec][] {
  const flags = Object.entries(spec.args).filter(([, a]) => !a.positional);
  if (spec.output === "paged") {
    flags.push(["all", { type: "boolean", describe: "every page, one after the other" }]);
  }
  return flags;
}

function helpOf(a: ArgSpec): string {
  return a.choices ? `${a.describe} (${a.choices.join(", ")})` : a.describe;
}

function addVerb(y: Argv, spec: Spec, word?: string): Argv {
  return y.command(
    commandOf(spec, word),
    spec.describe,
    (b: Argv) => {
      for (const [name, a] of Object.entries(spec.args)) {
        if (a.positional) b = b.positional(name, { type: "string", describe: helpOf(a) });
      }
      for (const [name, a] of flagsOf(spec)) {
        // Values arrive as text and are checked by the argument layer (one message style).
        b = b.option(name, {
          type: a.type === "boolean" ? "boolean" : "string",
          describe: helpOf(a),
        });
      }
      return b;
    },
    (argv: Record<string, unknown>) => runVerb(spec, argv),
  );
}

/** Verb groups and verbs below `prefix` (`""` for the top level, `"deny"`, ...). */
function addLevel(y: Argv, catalogue: VerbCatalogue, prefix: string[]): Argv {
  const depth = prefix.length;
  const below = catalogue.verbs.filter((v) => {
    const words = v.name.split(" ");
    return words.length > depth && prefix.every((w, i) => words[i] === w);
  });
  const seen = new Set<string>();
  for (const v of below) {
    const words = v.name.split(" ");
    const word = words[depth];
    if (seen.has(word)) continue;
    seen.add(word);
    const group = [...prefix, word];
    const names = namesBelow(catalogue, group);
    const own = catalogue.verbs.find((o) => o.name === group.join(" "));
    if (own && names.length === 0) {
      y = addVerb(y, own);
      continue;
    }
    if (own) {
      // A verb that is also a group (`captures`, `captures del ID`): its default command.
      y = y.command(
        word,
        own.describe,
        (g: Argv) => addLevel(addVerb(g, own, "$0"), catalogue, group),
      );
      continue;
    }
    y = y.command(
      word,
      catalogue.groups[group.join(" ")] ?? group.join(" "),
      (g: Argv) =>
        addLevel(g, catalogue, group).demandCommand(
          1,
          `name a ${group.join(" ")} verb: ${names.join(", ")}`,
        ),
    );
  }
  return y;
}

/** The words that may follow `prefix`. */
export function namesBelow(catalogue: VerbCatalogue, prefix: string[]): string[] {
  const out: string[] = [];
  for (const v of catalogue.verbs) {
    const words = v.name.split(" ");
    if (words.length > prefix.length && prefix.every((w, i) => words[i] === w)) {
      if (!out.includes(words[prefix.length])) out.push(words[prefix.length]);
    }
  }
  return out;
}

/** Adds `ctl` and its verbs to a yargs program. */
export function ctlCommand(y: Argv, catalogue: VerbCatalogue = verbCatalogue(components)): Argv {
  return y.command(
    "ctl",
    "talk to the running daemon",
    (b: Argv) => {
      b = b
        .option("socket", {
          type: "string",
          describe: "control socket file (default: <paths.runtime_dir>/control.sock of the config)",
        })
        .option("config", { type: "string", describe: "config file (to find the socket)" })
        .option("json", { type: "boolean", describe: "machine-readable output" });
      b = remoteOptions(b);
      b = addLevel(b, catalogue, []);
      return b.demandCommand(1, `name a verb: ${namesBelow(catalogue, []).join(", ")}`);
    },
  );
}

/** A verb's usage line, e.g. `vigia ctl logs [--mac M] ...` (for the README synopsis). */
export function usageLine(spec: Spec): string {
  const positionals = Object.entries(spec.args).filter(([, a]) => a.positional)
    .map(([name, a]) => (a.required ? `<${name}>` : `[${name}]`));
  const flags = flagsOf(spec).map(([name, a]) =>
    a.type === "boolean" ? `[--${name}]` : `[--${name} ${metavar(name, a)}]`
  );
  return ["vigia ctl", spec.name, ...positionals, ...flags].join(" ");
}

function metavar(name: string, a: ArgSpec): string {
  if (a.choices) return a.choices.join("|");
  if (a.type === "time") return "TIME";
  if (a.type === "day") return "YYYY-MM-DD";
  if (a.type === "integer") return "N";
  if (a.type === "cursor") return "C";
  return name.toUpperCase();
}
