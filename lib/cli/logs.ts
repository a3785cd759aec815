/**
 * `vigia logs verify [--dir D] [--public-key F] [--config FILE] [--json]`:
 * checks the daily files against their seals (`seals.jsonl`, see
 * `lib/daylog/seal.ts`) and names every file edited, truncated, deleted,
 * added or reordered since it was sealed.
 *
 * Exit codes: 0 every sealed file matches, 1 a problem was found (or the
 * config or key is unusable), 2 usage error.
 *
 * @module
 */

import type { Argv } from "yargs";
import { ConfigError, formatIssue } from "../config/mod.ts";
import { verifyLogs } from "../daylog/mod.ts";
import { openStore, type Store } from "../store/mod.ts";
import { defaultConfigPath, loadAppConfig } from "./common.ts";
import { exit } from "./ctl.ts";

/** Adds the `logs` command (`logs verify`). */
export function logsCommand(y: Argv): Argv {
  return y.command(
    "logs <action>",
    "daily log files: `verify` checks them against their seals",
    (b: Argv) =>
      b
        .positional("action", { type: "string", choices: ["verify"], describe: "verify" })
        .option("dir", { type: "string", describe: "log directory (default: paths.log_dir)" })
        .option("public-key", {
          type: "string",
          describe: "Ed25519 public key (PEM) the seals must be signed with",
        })
        .option("config", { type: "string", describe: "config file (default: embedded)" })
        .option("json", { type: "boolean", describe: "print the report as JSON" }),
    async (argv: Record<string, unknown>) => {
      let dir = argv.dir as string | undefined;
      let store: Store | undefined;
      if (dir === undefined || argv.config !== undefined) {
        let config;
        try {
          config = await loadAppConfig((argv.config as string | undefined) ?? defaultConfigPath());
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          for (const issue of e.issues) console.error(formatIssue(issue));
          exit.code = 1;
          return;
        }
        dir ??= config.paths.log_dir;
        // The store keeps a copy of every seal: it shows a seal file cut short or rewritten.
        const db = `${config.paths.state_dir}/vigia.db`;
        try {
          await Deno.stat(db);
          store = openStore(db);
        } catch { /* no store yet: the seal file alone */ }
      }
      const logDir = dir ?? "";
      let report;
      try {
        report = await verifyLogs(logDir, {
          publicKeyFile: argv["public-key"] as string | undefined,
          store,
        });
      } catch (e) {
        console.error(`vigia logs verify: ${(e as Error).message}`);
        exit.code = 1;
        return;
      } finally {
        store?.close();
      }
      if (argv.json === true) {
        console.log(JSON.stringify(report));
      } else {
        for (const p of report.problems) {
          console.log(`${p.kind.toUpperCase().padEnd(10)} ${p.file}: ${p.detail}`);
        }
        for (const n of report.notes) console.log(`note: ${n}`);
        const what = `${report.verified.length} files match their seals (${report.records} seals${
          report.signaturesChecked ? ", signatures checked" : ""
        })`;
        if (report.problems.length === 0) console.log(`ok: ${what} in ${logDir}`);
        else console.log(`${report.problems.length} problems in ${logDir}; ${what}`);
      }
      exit.code = report.problems.length === 0 ? 0 : 1;
    },
  );
}
