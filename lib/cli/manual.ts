/**
 * Generated documentation of the command line and the config: the man
 * pages `vigia(8)` (from the CLI definition) and `vigia.toml(5)` (from the
 * config schema), and shell completion scripts for bash, zsh and fish.
 * `scripts/install.sh` installs the man pages; `vigia completion SHELL`
 * prints a completion script.
 *
 * @module
 */

import {
  isField,
  isSectionLike,
  type Section,
  type Spec,
  type TableArray,
  tomlValue,
} from "../config/mod.ts";
import { type CommandInfo, leafCommands, optionText, positionalText } from "./describe.ts";

/** Escapes text for roff: backslashes, leading dots and quotes, dashes of options. */
function roff(text: string): string {
  return text.replace(/\\/g, "\\e").replace(/-/g, "\\-").replace(/^([.'])/gm, "\\&$1");
}

function bold(text: string): string {
  return `\\fB${roff(text)}\\fR`;
}

/** What `vigia(8)` says besides the commands. */
export interface ManualText {
  /** The program version. */
  version: string;
  /** One line: what vigia is. */
  summary: string;
}

/** `vigia(8)` in roff, from the commands of the CLI. */
export function vigiaManPage(commands: CommandInfo[], text: ManualText): string {
  const out = [
    `.TH VIGIA 8 "" "vigia ${text.version}" "System Administration"`,
    // Left-aligned, unhyphenated: long option and key names never force warnings.
    ".na",
    ".nh",
    ".SH NAME",
    `vigia \\- ${roff(text.summary)}`,
    ".SH SYNOPSIS",
    ".B vigia",
    ".I command",
    "[\\fIoptions\\fR]",
    ".SH DESCRIPTION",
    roff(
      "vigia run starts the daemon (sniffer, authoritative DNS, VeriDNS, scanner, control socket); " +
        "every other command is a one-shot tool or talks to the running daemon (vigia ctl). " +
        "The configuration is described in vigia.toml(5).",
    ),
    ".SH COMMANDS",
  ];
  const groups = (cs: CommandInfo[]): CommandInfo[] =>
    cs.flatMap((c) => (c.children.length ? [...(c.runs ? [] : [c]), ...groups(c.children)] : []));
  for (const c of leafCommands(commands)) {
    const positionals = c.positionals.map(positionalText);
    out.push(".TP", `${bold(["vigia", ...c.path].join(" "))} ${roff(positionals.join(" "))}`);
    out.push(roff(c.describe));
    for (const o of c.options) {
      out.push(".RS", ".TP", roff(optionText(o)), roff(o.describe), ".RE");
    }
  }
  const withOptions = groups(commands).filter((g) => g.options.length > 0);
  if (withOptions.length > 0) {
    out.push(".SH COMMON OPTIONS");
    for (const g of withOptions) {
      out.push(`Options of every \\fBvigia ${roff(g.path.join(" "))}\\fR command:`);
      for (const o of g.options) out.push(".TP", roff(optionText(o)), roff(o.describe));
    }
  }
  out.push(
    ".SH EXIT STATUS",
    "0 done; 1 the request failed (message on stderr); 2 usage error; " +
      `${bold("vigia veridns verify")} exits 3 when the answer is NOT verified.`,
    ".SH FILES",
    ".TP",
    bold("/etc/vigia/vigia.toml"),
    "the configuration (vigia.toml(5))",
    ".TP",
    bold("/var/lib/vigia/vigia.db"),
    "the store: devices, alerts, deny lists, zone table, scans",
    ".TP",
    bold("/var/lib/vigia/vigia-events.db"),
    "every DNS and DHCP event",
    ".TP",
    bold("/var/log/vigia/"),
    "daily files YYYY-MM-DD.log, alerts-YYYY-MM-DD.log, scan-YYYY-MM-DD.log",
    ".TP",
    bold("/run/vigia/control.sock"),
    "the control socket",
    ".SH SEE ALSO",
    "vigia.toml(5)",
    "",
  );
  return out.join("\n");
}

function renderFields(
  table: Section<Spec> | TableArray<Spec>,
  path: string[],
  out: string[],
): void {
  const section = table.kind === "section" ? table : table.item;
  const name = path.join(".");
  if (path.length > 0) {
    out.push(table.kind === "section" ? `.SS [${roff(name)}]` : `.SS [[${roff(name)}]]`);
    out.push(roff(table.doc));
  }
  const nested: [string, Section<Spec> | TableArray<Spec>][] = [];
  for (const [key, f] of Object.entries(section.fields)) {
    if (isField(f)) {
      const value = f.text ?? tomlValue(f.default);
      out.push(".TP", `${bold(key)} = ${roff(value)}`, roff(f.doc));
    } else if (isSectionLike(f)) nested.push([key, f]);
  }
  for (const [key, f] of nested) renderFields(f, [...path, key], out);
}

/** `vigia.toml(5)` in roff, from the config schema: every section and key with its default. */
export function configManPage(schema: Section<Spec>, text: ManualText): string {
  const out = [
    `.TH VIGIA.TOML 5 "" "vigia ${text.version}" "File Formats"`,
    ".na",
    ".nh",
    ".SH NAME",
    "vigia.toml \\- configuration of vigia(8)",
    ".SH DESCRIPTION",
    roff(
      "The configuration is TOML. Every key below is shown with its default (the embedded " +
        "default config); check a file with vigia config check --config FILE, which reports " +
        "every problem as FILE:LINE:COL: key: message. Durations are strings such as " +
        '"500ms", "30s", "6h". /etc/vigia/vigia.toml is the installed reference.',
    ),
    ".SH SECTIONS",
  ];
  renderFields(schema, [], out);
  out.push(".SH SEE ALSO", "vigia(8)", "");
  return out.join("\n");
}

/** Shells `vigia completion` writes scripts for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;
/** One of {@linkcode SHELLS}. */
export type Shell = typeof SHELLS[number];

interface Level {
  path: string;
  words: string[];
}

/** Every command path with the words that may follow it (subcommands, then options). */
function levels(commands: CommandInfo[], rootOptions: string[]): Level[] {
  const out: Level[] = [{ path: "", words: [...commands.map((c) => c.path[0]), ...rootOptions] }];
  const visit = (c: CommandInfo, inherited: string[]) => {
    const options = [...inherited, ...c.options.map((o) => `--${o.name}`)];
    out.push({
      path: c.path.join(" "),
      words: [...c.children.map((ch) => ch.path[ch.path.length - 1]), ...options, "--help"],
    });
    for (const ch of c.children) visit(ch, options);
  };
  for (const c of commands) visit(c, []);
  return out;
}

function bashScript(commands: CommandInfo[]): string {
  const all = levels(commands, ["--help", "--version"]);
  const paths = all.filter((l) => l.path !== "").map((l) => `"${l.path}"`).join("|");
  return `# bash completion for vigia (generated by: vigia completion bash)
_vigia() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" next i
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ \${COMP_WORDS[i]} == -* ]] && continue
    next="\${path:+$path }\${COMP_WORDS[i]}"
    case "$next" in
      ${paths}) path="$next" ;;
    esac
  done
  local words=""
  case "$path" in
${all.map((l) => `    "${l.path}") words="${l.words.join(" ")}" ;;`).join("\n")}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _vigia vigia
`;
}

function fishScript(commands: CommandInfo[]): string {
  const all = levels(commands, []);
  const paths = all.filter((l) => l.path !== "").map((l) => `"${l.path}"`);
  const lines = [
    "# fish completion for vigia (generated by: vigia completion fish)",
    "function __vigia_path",
    "    set -l path ''",
    "    for w in (commandline -opc)[2..-1]",
    "        string match -q -- '-*' $w; and continue",
    '        set -l next (string trim -- "$path $w")',
    `        contains -- $next ${paths.join(" ")}; and set path $next`,
    "    end",
    "    echo $path",
    "end",
  ];
  const describe = new Map<string, string>();
  const options = new Map<string, { name: string; describe: string }[]>();
  const walk = (c: CommandInfo) => {
    describe.set(c.path.join(" "), c.describe);
    options.set(c.path.join(" "), c.options);
    c.children.forEach(walk);
  };
  commands.forEach(walk);
  const quote = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  for (const l of all) {
    const when = `'test (__vigia_path) = ${quote(l.path).slice(1, -1) || '""'}'`;
    for (const w of l.words) {
      if (w.startsWith("--")) continue;
      const full = l.path ? `${l.path} ${w}` : w;
      lines.push(
        `complete -c vigia -f -n ${when} -a ${quote(w)} -d ${quote(describe.get(full) ?? "")}`,
      );
    }
    for (const o of options.get(l.path) ?? []) {
      lines.push(`complete -c vigia -n ${when} -l ${o.name} -d ${quote(o.describe)}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** The completion script of `shell` for the commands of the CLI. */
export function completionScript(shell: Shell, commands: CommandInfo[]): string {
  if (shell === "fish") return fishScript(commands);
  const bash = bashScript(commands);
  if (shell === "bash") return bash;
  // zsh runs bash completion functions through bashcompinit.
  return `#compdef vigia\n# zsh completion for vigia (generated by: vigia completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${
    bash.split("\n").slice(1).join("\n")
  }`;
}
