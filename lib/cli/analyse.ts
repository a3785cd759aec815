/**
 * `vigia analyse -d DOMAIN [--resolver IP[:PORT]]... [--json] [--config FILE]`:
 * one fault-tolerance scan now, without the daemon or the store.
 *
 * Exit codes: 0 the scan ran (whatever it found), 1 the config is invalid or
 * no resolver answered at all, 2 usage error (bad domain or resolver).
 *
 * @module
 */

import type { Argv } from "yargs";
import { ConfigError, formatIssue } from "../config/mod.ts";
import { runAnalyse } from "../scan/mod.ts";
import { loadAppConfig, UsageError } from "./common.ts";
import { exit } from "./ctl.ts";

function write(stream: { writeSync(b: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += stream.writeSync(bytes.subarray(off));
}

/** Adds the `analyse` command. */
export function analyseCommand(y: Argv): Argv {
  return y.command(
    "analyse",
    "one-shot fault-tolerance analysis of a domain (addresses, networks, ASNs, geo, flux scores, verdict)",
    (b: Argv) =>
      b
        .option("d", {
          alias: "domain",
          type: "string",
          demandOption: true,
          describe: "domain to analyse",
        })
        .option("resolver", {
          type: "string",
          array: true,
          describe: 'resolver IP[:PORT] or [IPv6]:PORT or "system"; repeat for several ' +
            "(default: scanner.resolvers + scanner.public_resolvers)",
        })
        .option("json", { type: "boolean", describe: "print the ScanResult JSON" })
        .option("rounds", { type: "number", describe: "resolution rounds (default: config)" })
        .option("config", { type: "string", describe: "config file (default: embedded)" }),
    async (argv: Record<string, unknown>) => {
      let config;
      try {
        config = await loadAppConfig(argv.config as string | undefined);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        for (const issue of e.issues) console.error(formatIssue(issue));
        exit.code = 1;
        return;
      }
      const rounds = argv.rounds as number | undefined;
      if (rounds !== undefined && (!Number.isInteger(rounds) || rounds < 1 || rounds > 20)) {
        throw new UsageError(`--rounds must be a whole number from 1 to 20, found ${rounds}`);
      }
      const out = await runAnalyse({
        domain: String(argv.domain ?? argv.d ?? ""),
        resolvers: (argv.resolver as string[] | undefined)?.map(String),
        json: argv.json === true,
        config,
        rounds,
      });
      if (out.code === 2) throw new UsageError(out.stderr.trim().replace(/^vigia analyse: /, ""));
      write(Deno.stdout, out.stdout);
      if (out.stderr) write(Deno.stderr, out.stderr);
      exit.code = out.code;
    },
  );
}
