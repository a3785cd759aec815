/**
 * `vigia ctl --remote HOST:PORT --token-file F [--ca FILE|--fingerprint FP|--insecure]`:
 * the options that point `ctl` at a daemon over TLS instead of the local socket.
 *
 * @module
 */

import type { Argv } from "yargs";
import type { ControlTarget } from "../control/mod.ts";
import { looksLikeToken } from "../control/token.ts";
import { remoteTarget } from "../control/remote_client.ts";
import { UsageError } from "./common.ts";

/** Adds the remote options to `ctl` (inherited by every verb). */
export function remoteOptions(y: Argv): Argv {
  return y
    .option("remote", {
      type: "string",
      describe: "reach a daemon over TLS at HOST[:PORT] (default port 7443) instead of the socket",
    })
    .option("token-file", {
      type: "string",
      describe: "file holding the token for --remote (from vigia token new)",
    })
    .option("ca", {
      type: "string",
      describe: "with --remote: PEM certificate to trust (the server's own or its CA)",
    })
    .option("fingerprint", {
      type: "string",
      describe: "with --remote: pin the server certificate's SHA-256 (logged by the daemon)",
    })
    .option("insecure", {
      type: "boolean",
      describe: "with --remote: do not check the server certificate (still encrypted)",
    });
  // Which options go together is checked by remoteTargetFrom, in vigia's words (not yargs').
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new Error(`cannot read ${what} ${path}: ${why}`);
  }
}

/** Reads a token file (first non-empty line); warns on stderr when others may read it. */
export async function readTokenFile(path: string): Promise<string> {
  const text = await readText(path, "--token-file");
  const token = text.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
  if (!looksLikeToken(token)) {
    throw new Error(
      `--token-file ${path} does not hold a token: expected "vgt_" and 43 characters, as printed by vigia token new`,
    );
  }
  try {
    const mode = (await Deno.stat(path)).mode;
    if (mode !== null && (mode & 0o077) !== 0) {
      console.error(
        `vigia: warning: ${path} is readable by other users (mode ${
          (mode & 0o777).toString(8)
        }); chmod 600 it`,
      );
    }
  } catch { /* stat failed after a successful read: nothing to warn about */ }
  return token;
}

/** The remote target named by `--remote` and friends, or undefined when `--remote` is absent. */
export async function remoteTargetFrom(
  argv: Record<string, unknown>,
): Promise<ControlTarget | undefined> {
  const address = argv.remote;
  if (typeof address !== "string" || address === "") {
    for (const o of ["token-file", "ca", "fingerprint", "insecure"]) {
      if (argv[o] !== undefined && argv[o] !== false) {
        throw new UsageError(
          `--${o} goes with --remote HOST[:PORT] (it is for remote access only)`,
        );
      }
    }
    return undefined;
  }
  if (typeof argv.socket === "string") {
    throw new UsageError("--remote and --socket exclude each other: give one way to the daemon");
  }
  const pins = ["ca", "fingerprint", "insecure"].filter((o) =>
    argv[o] !== undefined && argv[o] !== false
  );
  if (pins.length > 1) {
    throw new UsageError(
      `--${pins.join(" and --")} exclude each other: give one way to trust the server`,
    );
  }
  const tokenFile = argv["token-file"];
  if (typeof tokenFile !== "string" || tokenFile === "") {
    throw new UsageError(
      "--remote needs --token-file FILE: the file holding a token made by vigia token new",
    );
  }
  const token = await readTokenFile(tokenFile);
  const ca = typeof argv.ca === "string" ? await readText(argv.ca, "--ca") : undefined;
  return remoteTarget(address, {
    token,
    ca,
    fingerprint: typeof argv.fingerprint === "string" ? argv.fingerprint : undefined,
    insecure: argv.insecure === true,
  });
}
