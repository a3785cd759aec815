/**
 * The command line as data: every command of a yargs program with its
 * positionals, options and help line, read from the program itself. The
 * README synopsis, the man page `vigia(8)` and the shell completions are
 * generated from it, so they cannot drift from what the CLI accepts.
 *
 * @module
 */

import yargs, { type Argv } from "yargs";

/** One option of a command. */
export interface OptionInfo {
  /** Its name, without dashes. */
  name: string;
  /** Its yargs type. */
  type: "string" | "boolean" | "number" | "array";
  /** Its help line. */
  describe: string;
  /** The values allowed, when yargs knows them. */
  choices?: string[];
  /** Whether it must be given. */
  required: boolean;
}

/** One command (a group of commands or a leaf). */
export interface CommandInfo {
  /** Its words after the program name (`["ctl", "zone", "add"]`). */
  path: string[];
  /** Positionals in order (`required`: `<x>`, else `[x]`; `variadic`: one or more). */
  positionals: { name: string; required: boolean; variadic: boolean }[];
  /** Its help line. */
  describe: string;
  /** Its own options (not those of its parents, not --help/--version). */
  options: OptionInfo[];
  /** Its subcommands. */
  children: CommandInfo[];
  /**
   * Whether it also runs something itself, without a subcommand (a group
   * with a default command, such as `ctl captures` beside `ctl captures
   * del`); its positionals and options are then the default command's.
   */
  runs: boolean;
}

/** The parts of yargs' internals this module reads (yargs 17). */
interface Internals {
  getInternalMethods(): {
    getCommandInstance(): {
      getCommandHandlers(): Record<
        string,
        { original: string; description: string | false; builder?: unknown }
      >;
    };
    getUsageInstance(): { getDescriptions(): Record<string, string | undefined> };
  };
  getOptions(): {
    key: Record<string, unknown>;
    string: string[];
    boolean: string[];
    number: string[];
    array: string[];
    choices: Record<string, string[]>;
    demandedOptions: Record<string, unknown>;
    alias: Record<string, string[]>;
  };
}

function internals(y: Argv): Internals {
  return y as unknown as Internals;
}

const GLOBAL = new Set(["help", "version", "$0"]);

function optionsOf(y: Argv, positionals: Set<string>): OptionInfo[] {
  const i = internals(y);
  const o = i.getOptions();
  const descriptions = i.getInternalMethods().getUsageInstance().getDescriptions();
  // An option with aliases (`-d`/`--domain`) is listed once, by its longest name.
  const canonical = new Map<string, string>();
  for (const [name, aliases] of Object.entries(o.alias ?? {})) {
    const group = [name, ...aliases];
    const longest = group.reduce((a, b) => (b.length > a.length ? b : a));
    for (const n of group) canonical.set(n, longest);
  }
  const out: OptionInfo[] = [];
  const seen = new Set<string>();
  for (const key of Object.keys(o.key)) {
    const name = canonical.get(key) ?? key;
    if (GLOBAL.has(name) || positionals.has(name) || seen.has(name)) continue;
    seen.add(name);
    const group = [...canonical].filter(([, c]) => c === name).map(([n]) => n);
    const any = (list: string[]) => [name, ...group].some((n) => list.includes(n));
    const type = any(o.boolean)
      ? "boolean"
      : any(o.number)
      ? "number"
      : any(o.array)
      ? "array"
      : "string";
    const first = <T>(m: Record<string, T>) => [name, ...group].map((n) => m[n]).find((v) => v);
    out.push({
      name,
      type,
      describe: (first(descriptions) ?? "").replace(/^__yargsString__:/, ""),
      choices: first(o.choices),
      required: [name, ...group].some((n) => n in o.demandedOptions),
    });
  }
  return out;
}

type Handler = { original: string; description: string | false; builder?: unknown };

/** Words yargs takes for the default command of a level. */
const DEFAULT_COMMAND = new Set(["$0", "*"]);

function handlersOf(program: Argv): Handler[] {
  return Object.values(
    internals(program).getInternalMethods().getCommandInstance().getCommandHandlers(),
  );
}

function built(handler: Handler): Argv {
  const sub = yargs([]);
  if (typeof handler.builder === "function") handler.builder(sub);
  return sub;
}

function positionalsOf(handler: Handler): CommandInfo["positionals"] {
  return handler.original.split(/\s+/).slice(1).map((p) => ({
    name: p.replace(/^[<[]|[>\]]$/g, "").replace(/\.\.+$/, ""),
    required: p.startsWith("<"),
    variadic: /\.\.[>\]]$/.test(p),
  }));
}

/** The words of `program`'s own commands (none built: cheap enough for every start-up). */
export function commandWords(program: Argv): string[] {
  return handlersOf(program).map((h) => h.original.split(/\s+/)[0]).filter((w) =>
    !DEFAULT_COMMAND.has(w)
  );
}

/** Every command of `program` (built with its commands, not parsed), depth first. */
export function describeCommands(program: Argv, prefix: string[] = []): CommandInfo[] {
  const out: CommandInfo[] = [];
  for (const handler of handlersOf(program)) {
    const word = handler.original.split(/\s+/)[0];
    if (DEFAULT_COMMAND.has(word)) continue; // described as its level's own command
    const sub = built(handler);
    const path = [...prefix, word];
    // A group with a default command runs it when no subcommand is named.
    const fallback = handlersOf(sub).find((h) => DEFAULT_COMMAND.has(h.original.split(/\s+/)[0]));
    const positionals = positionalsOf(fallback ?? handler);
    const own = fallback ? built(fallback) : sub;
    out.push({
      path,
      positionals,
      describe: handler.description || "",
      options: optionsOf(own, new Set(positionals.map((p) => p.name))),
      children: describeCommands(sub, path),
      runs: fallback !== undefined || handlersOf(sub).length === 0,
    });
  }
  return out;
}

/** The commands that run something (leaves, and groups with a default command), depth first. */
export function leafCommands(commands: CommandInfo[]): CommandInfo[] {
  return commands.flatMap((c) =>
    c.children.length ? [...(c.runs ? [c] : []), ...leafCommands(c.children)] : [c]
  );
}

function metavar(o: OptionInfo): string {
  if (o.choices) return o.choices.join("|");
  return o.name.toUpperCase().replace(/-/g, "_");
}

/** `[--name VALUE]` (or `--name VALUE` when required; `[--flag]` for booleans). */
export function optionText(o: OptionInfo): string {
  const text = o.type === "boolean" ? `--${o.name}` : `--${o.name} ${metavar(o)}`;
  return o.required ? text : `[${text}]`;
}

/** `<name>`, `[name]`, `<name>...`. */
export function positionalText(p: CommandInfo["positionals"][number]): string {
  return (p.required ? `<${p.name}>` : `[${p.name}]`) + (p.variadic ? "..." : "");
}

/** The usage line of a command: its path, positionals and options. */
export function usageText(program: string, c: CommandInfo): string {
  return [
    program,
    ...c.path,
    ...c.positionals.map(positionalText),
    ...c.options.map(optionText),
  ].join(" ");
}

/**
 * The synopsis of every command, as in the README: one usage line per
 * command that runs something, with its help line below; group options (such
 * as `ctl --socket`) on their group's line.
 */
export function synopsis(program: string, commands: CommandInfo[]): string {
  const lines: string[] = [];
  const visit = (c: CommandInfo) => {
    if (c.children.length === 0 || c.runs) {
      lines.push(usageText(program, c), `    ${c.describe}`);
      c.children.forEach(visit);
      return;
    }
    if (c.options.length > 0) {
      lines.push(`${usageText(program, c)} COMMAND ...`, `    ${c.describe}`);
    }
    c.children.forEach(visit);
  };
  commands.forEach(visit);
  return lines.join("\n");
}
