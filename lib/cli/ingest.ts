/**
 * `vigia ingest FILE.pcap[ng] [--config FILE] [--json] [--force]`: runs the sniffer
 * pipeline over a capture file into the configured store, events database
 * and daily logs, then exits — whatever `sniffer.enabled` says, and safely
 * while the daemon runs.
 *
 * Exit codes: 0 done, 1 the config or the file is unusable, 2 usage error.
 *
 * @module
 */

import type { Argv } from "yargs";
import { CaptureError } from "../capture/mod.ts";
import { ConfigError, formatIssue } from "../config/mod.ts";
import { openShared } from "../daemon/mod.ts";
import { createLogger } from "../log/mod.ts";
import { runIngest } from "../sniffer/mod.ts";
import { configPathOf, loadAppConfig, UsageError } from "./common.ts";
import { exit } from "./ctl.ts";

/** Adds the `ingest` command. */
export function ingestCommand(y: Argv): Argv {
  return y.command(
    "ingest <file>",
    "run the sniffer pipeline on a pcap/pcapng file into the configured store and logs",
    (b: Argv) =>
      b
        .positional("file", { type: "string", describe: "capture file (pcap or pcapng)" })
        .option("config", { type: "string", describe: "config file (default: embedded)" })
        .option("json", { type: "boolean", describe: "print the result as JSON" })
        .option("force", {
          type: "boolean",
          describe:
            "ingest a file ingested before (same SHA-256): its events replace the earlier's",
        }),
    async (argv: Record<string, unknown>) => {
      const file = String(argv.file ?? "");
      if (!file) throw new UsageError("name the capture file: vigia ingest FILE.pcap");
      let config;
      try {
        config = await loadAppConfig(configPathOf(argv));
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        for (const issue of e.issues) console.error(formatIssue(issue));
        exit.code = 1;
        return;
      }
      const log = createLogger({ level: config.log.level }).child("ingest");
      // The daemon's own wiring; the daemon prunes old daily files, a one-shot run leaves them.
      let shared;
      try {
        shared = await openShared(config, { log, pruneDailyFiles: false });
      } catch (e) {
        console.error(`vigia ingest: ${(e as Error).message}`);
        exit.code = 1;
        return;
      }
      const { store, dailyLog, alerts, close } = shared;
      try {
        const r = await runIngest(file, {
          config,
          log,
          store,
          dailyLog,
          alerts,
          force: argv.force === true,
        });
        const rate = r.seconds > 0 ? Math.round(r.packets / r.seconds) : 0;
        if (argv.json === true) {
          console.log(JSON.stringify({ file, ...r, packets_per_second: rate }));
        } else {
          // Every packet accounted for: what was not stored says why (ignored or malformed, by reason).
          const byReason = (m: Record<string, number>) =>
            Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
          const bad = byReason(r.malformed);
          const malformed = Object.values(r.malformed).reduce((a, b) => a + b, 0);
          console.log(
            `${file}: ${r.packets} packets: ${r.decoded} decoded into ${r.events} DNS/DHCP events stored, ${
              r.ignored > 0 ? `${r.ignored} ignored (${byReason(r.ignored_by)})` : "none ignored"
            }, ${malformed > 0 ? `${malformed} malformed (${bad})` : "none malformed"}; ${
              r.seconds.toFixed(2)
            } s (${rate} packets/s)`,
          );
        }
        exit.code = 0;
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        console.error(`vigia ingest: ${e.message}`);
        exit.code = 1;
      } finally {
        await close();
      }
    },
  );
}
