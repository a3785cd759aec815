/**
 * Top-level commands contributed by components (`ingest`, `analyse`,
 * `veridns`), each defined next to the others in `lib/cli/`.
 *
 * @module
 */

import type { Argv } from "yargs";
import { veridnsCommand } from "./veridns.ts";
import { analyseCommand } from "./analyse.ts";
import { ingestCommand } from "./ingest.ts";
import { logsCommand } from "./logs.ts";

/** Adds the component commands to the program. */
export function extraCommands(y: Argv): Argv {
  y = veridnsCommand(y);
  y = analyseCommand(y);
  y = ingestCommand(y);
  y = logsCommand(y);
  return y;
}
