/**
 * vigia: one daemon that watches and serves DNS for a network, and its CLI.
 * `vigia run` starts the daemon; every other verb is a one-shot command or
 * talks to the running daemon over its control socket.
 *
 * @module
 */

import { main } from "./lib/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
