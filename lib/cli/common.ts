/**
 * Helpers shared by CLI commands: loading the config the way the daemon
 * does, finding the files and the control socket it names, and the
 * usage-error type.
 *
 * @module
 */

import { ConfigError, formatIssue, parsablePart } from "../config/mod.ts";
import { components, configSchema } from "../app/mod.ts";
import { moduleChecks, type VigiaConfig, vigiaFiles } from "../daemon/mod.ts";
import { loadVigiaConfig, pathsSection } from "../daemon/config.ts";

/** Loads and validates a config (file or embedded default); `checks` adds the semantic checks. */
export async function loadAppConfig(
  path: string | undefined,
  options: { checks?: boolean } = {},
): Promise<VigiaConfig> {
  const { config } = await loadVigiaConfig(configSchema(), {
    path,
    checks: options.checks ? moduleChecks(components) : [],
  });
  return config;
}

/** A command line that does not make sense (exit code 2); commands throw it for bad arguments. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Where `scripts/install.sh` puts the config. */
export const INSTALLED_CONFIG = "/etc/vigia/vigia.toml";

/** The config named by `$VIGIA_CONFIG`, used by `run` and `ctl` when `--config` is absent. */
export function defaultConfigPath(): string | undefined {
  try {
    return Deno.env.get("VIGIA_CONFIG") || undefined;
  } catch {
    return undefined;
  }
}

/** The config a command uses: `--config`, else `$VIGIA_CONFIG`, else none (the embedded default). */
export function configPathOf(argv: Record<string, unknown>): string | undefined {
  return typeof argv.config === "string" && argv.config !== "" ? argv.config : defaultConfigPath();
}

/** How a config names itself in messages. */
export function configName(path: string | undefined): string {
  return path ?? "<embedded>";
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The socket a config names, and a warning when the config did not load. */
export interface FoundSocket {
  /** The socket path. */
  path: string;
  /** Why it was not taken from a valid config (printed on stderr), if so. */
  warning?: string;
}

/**
 * The control socket named by a config (`<paths.runtime_dir>/control.sock`).
 * When the config does not load (a bad edit while the daemon runs), the
 * socket comes from the part of the file that parses, else the default, and
 * `warning` says so: the running daemon stays reachable when it is needed.
 */
export async function socketPathFromConfig(path: string | undefined): Promise<FoundSocket> {
  const chosen = path ?? defaultConfigPath();
  try {
    const config = await loadAppConfig(chosen);
    const socket = vigiaFiles(config.paths).socket;
    // An installed system runs on /etc/vigia/vigia.toml: use it when the embedded default's
    // socket is not there, so that `vigia ctl status` works without --config.
    if (chosen === undefined && !exists(socket) && exists(INSTALLED_CONFIG)) {
      return socketPathFromConfig(INSTALLED_CONFIG);
    }
    return { path: socket };
  } catch (e) {
    if (!(e instanceof ConfigError) || chosen === undefined) throw e;
    let text = "";
    try {
      text = await Deno.readTextFile(chosen);
    } catch { /* unreadable: the default */ }
    const paths = parsablePart(text).paths as Record<string, unknown> | undefined;
    const dir = paths?.runtime_dir;
    const fromFile = typeof dir === "string" && dir !== "";
    const socket = vigiaFiles({
      state_dir: "",
      runtime_dir: fromFile ? dir : pathsSection.fields.runtime_dir.default,
    }).socket;
    const problems = e.issues.map(formatIssue).join("; ");
    return {
      path: socket,
      warning: `${chosen} does not load (${problems}); using the socket ${socket} ${
        fromFile ? `from its paths.runtime_dir` : "of the default paths.runtime_dir"
      }`,
    };
  }
}
