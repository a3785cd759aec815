/**
 * `vigia tsig new NAME [--algorithm A] [--json]`: makes a fresh TSIG key
 * (RFC 8945) and prints it with the `[[dns.tsig_key]]` lines to paste into
 * vigia's config and the matching `key:` clause for NSD and Knot.
 *
 * @module
 */

import type { Argv } from "yargs";
import { newTsigSecret, parseTsigKey, TSIG_ALGORITHMS } from "../dns/tsig.ts";
import { exit } from "./ctl.ts";

/** A key made by {@linkcode makeTsigKey}. */
export interface NewTsigKey {
  /** Absolute key name. */
  name: string;
  /** Algorithm. */
  algorithm: string;
  /** Base64 secret. */
  secret: string;
  /** The config lines. */
  toml: string;
}

/** Makes a key; throws for a bad name or algorithm. */
export function makeTsigKey(name: string, algorithm: string): NewTsigKey {
  if (!TSIG_ALGORITHMS[algorithm]) {
    throw new Error(
      `--algorithm must be one of ${Object.keys(TSIG_ALGORITHMS).join(", ")}: got "${algorithm}"`,
    );
  }
  const secret = newTsigSecret(algorithm);
  let key;
  try {
    key = parseTsigKey({ name, algorithm, secret });
  } catch (e) {
    throw new Error(`bad key name "${name}": ${(e as Error).message}`);
  }
  const toml = `[[dns.tsig_key]]\nname = "${key.name}"\nalgorithm = "${algorithm}"\n` +
    `secret = "${secret}"\n`;
  return { name: key.name, algorithm, secret, toml };
}

/** Adds `tsig new` to a yargs program. */
export function tsigCommand(y: Argv): Argv {
  return y.command("tsig", "TSIG keys for zone transfers and NOTIFY", (t: Argv) =>
    t.command(
      "new <name>",
      "make a TSIG key: prints it and the config lines to paste",
      (b: Argv) =>
        b
          .positional("name", { type: "string", describe: "key name, e.g. xfr-key." })
          .option("algorithm", {
            type: "string",
            default: "hmac-sha256",
            choices: Object.keys(TSIG_ALGORITHMS),
            describe: "HMAC algorithm",
          })
          .option("json", { type: "boolean", describe: "print {name, algorithm, secret, toml}" }),
      (argv: Record<string, unknown>) => {
        try {
          const made = makeTsigKey(String(argv.name), String(argv.algorithm));
          if (argv.json) console.log(JSON.stringify(made));
          else {
            console.log(
              "# add to vigia's config (or put the secret in a file and use secret_file), then: vigia ctl reload",
            );
            console.log(made.toml);
            console.log("# the same key for NSD (nsd.conf) and Knot (knot.conf):");
            console.log(
              `key:\n  name: "${made.name}"\n  algorithm: ${made.algorithm}\n  secret: "${made.secret}"\n`,
            );
            console.log(
              `- id: ${made.name}\n  algorithm: ${made.algorithm}\n  secret: ${made.secret}`,
            );
          }
          exit.code = 0;
        } catch (e) {
          console.error(`vigia tsig new: ${(e as Error).message}`);
          exit.code = 1;
        }
      },
    ).demandCommand(1, "name a tsig command: new"));
}
