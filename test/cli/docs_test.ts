/**
 * Documentation generated from the CLI definition and the config schema:
 * the README synopsis (current, and naming what the CLI accepts), the man
 * pages (rendered by the real `man -l` without warnings) and the shell
 * completions (run in a real bash).
 */

import assert from "node:assert/strict";
import { BEGIN, END, MAN_PAGES, withSynopsis } from "../../scripts/gen_cli_doc.ts";
import { manPage } from "../../lib/cli/mod.ts";
import { hasCommand, repoRoot, runVigia, skipUnless } from "../_helpers.ts";

Deno.test("README synopsis is the CLI's own and names every command and option", async () => {
  const readme = await Deno.readTextFile(`${repoRoot}/README.md`);
  assert.ok(readme.includes(BEGIN) && readme.includes(END));
  assert.equal(
    readme,
    withSynopsis(readme),
    "README.md synopsis is stale: run deno run -A scripts/gen_cli_doc.ts",
  );
  const synopsis = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END));
  for (
    const want of [
      "vigia token new --role read|admin",
      "vigia ctl veridns events",
      "[--remote REMOTE] [--token-file TOKEN_FILE] [--ca CA] [--fingerprint FINGERPRINT] [--insecure]",
      "vigia analyse",
      "[--rounds ROUNDS]",
      "[--timeout TIMEOUT]",
      "vigia ctl devices [--vendor VENDOR] [--limit LIMIT] [--cursor CURSOR] [--all]",
      "vigia ctl alerts [--since SINCE] [--until UNTIL]",
      "vigia completion <shell>",
    ]
  ) assert.ok(synopsis.includes(want), `synopsis lacks ${want}`);
});

Deno.test("bare vigia names every top-level command", async () => {
  const r = await runVigia([]);
  assert.equal(r.code, 2);
  for (
    const c of [
      "run",
      "config",
      "ctl",
      "token",
      "tsig",
      "ingest",
      "analyse",
      "veridns",
      "completion",
    ]
  ) {
    assert.match(r.stderr, new RegExp(`\\b${c}\\b`), c);
  }
});

const noMan = skipUnless(hasCommand("man"), "man is not installed (apt: man-db)");

Deno.test({
  name: "man pages vigia(8) and vigia.toml(5) render with man -l, without warnings",
  ignore: noMan,
  fn: async () => {
    const wants: Record<string, string[]> = {
      "vigia.8": [
        "vigia ctl logs",
        "EXIT STATUS",
        "vigia-events.db",
        "--remote",
        "vigia token new",
      ],
      "vigia.toml.5": ["[sniffer]", "retention_days", "[control.remote]"],
    };
    // The installed pages are current: what `vigia man PAGE` prints now.
    for (const [file, page] of MAN_PAGES) {
      assert.equal(
        await Deno.readTextFile(`${repoRoot}/man/${file}`),
        manPage(page),
        `man/${file} is stale: run deno run -A scripts/gen_cli_doc.ts`,
      );
    }
    const printed = await runVigia(["man", "vigia.toml"]);
    assert.equal(printed.stdout, manPage("vigia.toml"));
    const dir = await Deno.makeTempDir();
    try {
      for (const [file] of MAN_PAGES) {
        const out = await new Deno.Command("man", {
          args: ["-l", "-Tutf8", `${repoRoot}/man/${file}`],
          env: { MANWIDTH: "100", MAN_KEEP_FORMATTING: "0" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        // Overstrike (bold, underline: X BACKSPACE X) removed.
        const text = new TextDecoder().decode(out.stdout).replace(new RegExp(".\b", "g"), "");
        const warnings = new TextDecoder().decode(out.stderr);
        assert.ok(out.success, warnings);
        assert.equal(warnings.trim(), "", `man -l ${file} warned`);
        for (const w of wants[file]) assert.ok(text.includes(w), `${file} lacks ${w}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("vigia completion bash completes commands, verbs and options in a real bash", async () => {
  const script = await runVigia(["completion", "bash"]);
  assert.equal(script.code, 0, script.stderr);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/vigia.bash`, script.stdout);
    const complete = async (line: string) => {
      const words = line.split(" ");
      const prog = `source ${dir}/vigia.bash; COMP_WORDS=(${
        words.map((w) => `'${w}'`).join(" ")
      }); COMP_CWORD=${words.length - 1}; _vigia; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const out = await new Deno.Command("bash", { args: ["-c", prog], stdout: "piped" }).output();
      return new TextDecoder().decode(out.stdout).trim().split("\n");
    };
    assert.deepEqual(await complete("vigia to"), ["token"]);
    assert.deepEqual(await complete("vigia ctl zo"), ["zone"]);
    assert.ok((await complete("vigia ctl zone ")).includes("status"));
    assert.deepEqual(await complete("vigia ctl --json logs --da"), ["--day"]);
    assert.deepEqual(await complete("vigia ctl veridns events --mal"), ["--malicious"]);
    for (const shell of ["zsh", "fish"]) {
      const r = await runVigia(["completion", shell]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, shell === "fish" ? /complete -c vigia/ : /#compdef vigia/);
    }
    const bad = await runVigia(["completion", "tcsh"]);
    assert.equal(bad.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
