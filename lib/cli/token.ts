/**
 * `vigia token new --role read|admin [--name N] [--out FILE] [--json]`:
 * makes a fresh remote-access token, prints it once, and prints the
 * `[[control.remote.token]]` lines (holding only its hash) to paste into the
 * config.
 *
 * @module
 */

import type { Argv } from "yargs";
import { hashToken, newToken, type Role, ROLES } from "../control/token.ts";
import { exit } from "./ctl.ts";

/** A token made by {@linkcode makeToken}. */
export interface NewToken {
  name: string;
  role: Role;
  /** The secret, shown once. */
  token: string;
  /** Its config form. */
  hash: string;
  /** The TOML lines for the config. */
  toml: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Makes a token and its config entry; throws for a bad name or role. */
export async function makeToken(name: string, role: string): Promise<NewToken> {
  if (!NAME_RE.test(name)) {
    throw new Error(
      `--name must be 1 to 64 letters, digits, ".", "_", "@" or "-" (starting with a letter or digit): got "${name}"`,
    );
  }
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new Error(`--role must be one of ${ROLES.join(", ")}: got "${role}"`);
  }
  const token = newToken();
  const hash = await hashToken(token);
  const toml = `[[control.remote.token]]\nname = "${name}"\nrole = "${role}"\nhash = "${hash}"\n`;
  return { name, role: role as Role, token, hash, toml };
}

/** Adds `token new` to a yargs program. */
export function tokenCommand(y: Argv): Argv {
  return y.command("token", "tokens for remote control access", (t: Argv) =>
    t.command(
      "new",
      "make a token: prints it once, and the config lines holding its hash",
      (b: Argv) =>
        b
          .option("role", {
            type: "string",
            choices: [...ROLES],
            demandOption: true,
            describe: "read (status, logs, lists) or admin (everything)",
          })
          .option("name", {
            type: "string",
            describe: "who holds it (audit trail); default: the role",
          })
          .option("out", {
            type: "string",
            describe: "write the token to this new file (mode 0600) instead of printing it",
          })
          .option("json", { type: "boolean", describe: "print {name, role, token, hash, toml}" }),
      async (argv: Record<string, unknown>) => {
        try {
          const role = String(argv.role);
          const made = await makeToken(typeof argv.name === "string" ? argv.name : role, role);
          const out = typeof argv.out === "string" ? argv.out : undefined;
          if (out) {
            try {
              await Deno.writeTextFile(out, made.token + "\n", { createNew: true, mode: 0o600 });
              await Deno.chmod(out, 0o600);
            } catch (e) {
              const why = e instanceof Deno.errors.AlreadyExists
                ? "it exists (never overwritten)"
                : (e as Error).message;
              throw new Error(`cannot write --out ${out}: ${why}`);
            }
          }
          if (argv.json) {
            console.log(JSON.stringify(out ? { ...made, token: undefined, out } : made));
          } else {
            if (out) {
              console.log(`# token for "${made.name}" (role ${made.role}) written to ${out}`);
            } else {
              console.log(
                `# token for "${made.name}" (role ${made.role}); shown only now, keep it in a file only its user can read:`,
              );
              console.log(made.token);
            }
            console.log(
              "\n# add to the daemon's config, then run: vigia ctl reload\n" + made.toml.trimEnd(),
            );
          }
          exit.code = 0;
        } catch (e) {
          console.error(`vigia token new: ${(e as Error).message}`);
          exit.code = 1;
        }
      },
    ).demandCommand(1, "name a token command: new"));
}
