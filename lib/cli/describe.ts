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
  /** Positionals in order (`required`: `<x>`, else `[x]`). */
  positionals: { name: string; required: boolean }[];
  /** Its help line. */
  describe: string;
  /** Its own options (not those of its parents, not --help/--version). */
  options: OptionInfo[];
  /** Its subcommands. */
  children: CommandInfo[];
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
  const out: OptionInfo[] = [];
  for (const name of Object.keys(o.key)) {
    if (GLOBAL.has(name) || positionals.has(name)) continue;
    const type = o.boolean.includes(name)
      ? "boolean"
      : o.number.includes(name)
      ? "number"
      : o.array.includes(name)
      ? "array"
      : "string";
    out.push({
      name,
      type,
      describe: (descriptions[name] ?? "").replace(/^__yargsString__:/, ""),
      choices: o.choices[name],
      required: name in o.demandedOptions,
    });
  }
  return out;
}

/** Every command of `program` (built with its commands, not parsed), depth first. */
export function describeCommands(program: Argv, prefix: string[] = []): CommandInfo[] {
  const handlers = internals(program).getInternalMethods().getCommandInstance()
    .getCommandHandlers();
  const out: CommandInfo[] = [];
  for (const handler of Object.values(handlers)) {
    const [word, ...rest] = handler.original.split(/\s+/);
    const positionals = rest.map((p) => ({
      name: p.replace(/^[<[]|[>\]]$/g, "").replace(/\.\.\.$/, ""),
      required: p.startsWith("<"),
    }));
    const sub = yargs([]);
    if (typeof handler.builder === "function") handler.builder(sub);
    const path = [...prefix, word];
    out.push({
      path,
      positionals,
      describe: handler.description || "",
      options: optionsOf(sub, new Set(positionals.map((p) => p.name))),
      children: describeCommands(sub, path),
    });
  }
  return out;
}

/** The leaf commands (those that run something), depth first. */
export function leafCommands(commands: CommandInfo[]): CommandInfo[] {
  return commands.flatMap((c) => (c.children.length ? leafCommands(c.children) : [c]));
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

/** The usage line of a command: its path, positionals and options. */
export function usageText(program: string, c: CommandInfo): string {
  return [
    program,
    ...c.path,
    ...c.positionals.map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`)),
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
    if (c.children.length === 0) {
      lines.push(usageText(program, c), `    ${c.describe}`);
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
