/**
 * Helpers shared by CLI commands: loading the config the way the daemon
 * does, and finding the control socket from it.
 *
 * @module
 */

import { ConfigError, formatIssue, loadConfig } from "../config/mod.ts";
import { components, configSchema } from "../app/mod.ts";
import { moduleChecks } from "../daemon/mod.ts";
import type { AnyConfig } from "../daemon/types.ts";

/** Loads and validates a config (file or embedded default); `checks` adds the semantic checks. */
export async function loadAppConfig(
  path: string | undefined,
  options: { checks?: boolean } = {},
): Promise<AnyConfig> {
  const { config } = await loadConfig(configSchema(), {
    path,
    checks: options.checks ? moduleChecks(components) : [],
  });
  return config as AnyConfig;
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

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The control socket path named by a config: `<paths.runtime_dir>/control.sock`. */
export async function socketPathFromConfig(path: string | undefined): Promise<string> {
  try {
    const config = await loadAppConfig(path ?? defaultConfigPath());
    const socket = `${config.paths.runtime_dir}/control.sock`;
    // An installed system runs on /etc/vigia/vigia.toml: use it when the embedded default's
    // socket is not there, so that `vigia ctl status` works without --config.
    if (path === undefined && !defaultConfigPath() && !exists(socket) && exists(INSTALLED_CONFIG)) {
      const installed = await loadAppConfig(INSTALLED_CONFIG);
      return `${installed.paths.runtime_dir}/control.sock`;
    }
    return socket;
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new Error(`cannot find the socket: ${e.issues.map(formatIssue).join("; ")}`);
    }
    throw e;
  }
}
