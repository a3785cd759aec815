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

/** The control socket path named by a config: `<paths.runtime_dir>/control.sock`. */
export async function socketPathFromConfig(path: string | undefined): Promise<string> {
  try {
    const config = await loadAppConfig(path);
    return `${config.paths.runtime_dir}/control.sock`;
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new Error(`cannot find the socket: ${e.issues.map(formatIssue).join("; ")}`);
    }
    throw e;
  }
}
