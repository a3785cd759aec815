/**
 * Top-level commands contributed by components (`ingest`, `analyse`,
 * `veridns`). Each component's helper adds its command here.
 *
 * @module
 */

import type { Argv } from "yargs";

/** Adds the component commands to the program. */
export function extraCommands(y: Argv): Argv {
  return y;
}
