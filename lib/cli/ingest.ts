/**
 * `vigia ingest FILE.pcap[ng] [--config FILE] [--json]`: runs the sniffer
 * pipeline over a capture file into the configured store, events database
 * and daily logs, then exits — whatever `sniffer.enabled` says, and safely
 * while the daemon runs.
 *
 * Exit codes: 0 done, 1 the config or the file is unusable, 2 usage error.
 *
 * @module
 */

import type { Argv } from "yargs";
import { AlertBus, type AlertsConfig } from "../alerts/mod.ts";
import { CaptureError } from "../capture/mod.ts";
import { ConfigError, formatIssue } from "../config/mod.ts";
import { DailyLog } from "../daylog/mod.ts";
import { createLogger, type LogLevel } from "../log/mod.ts";
import { runIngest } from "../sniffer/mod.ts";
import { openStore } from "../store/mod.ts";
import { ensureDirectory } from "../daemon/dirs.ts";
import { defaultConfigPath, loadAppConfig, UsageError } from "./common.ts";
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
        .option("json", { type: "boolean", describe: "print the result as JSON" }),
    async (argv: Record<string, unknown>) => {
      const file = String(argv.file ?? "");
      if (!file) throw new UsageError("name the capture file: vigia ingest FILE.pcap");
      let config;
      try {
        config = await loadAppConfig((argv.config as string | undefined) ?? defaultConfigPath());
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        for (const issue of e.issues) console.error(formatIssue(issue));
        exit.code = 1;
        return;
      }
      const { paths } = config;
      try {
        await ensureDirectory(paths.state_dir, "paths.state_dir");
      } catch (e) {
        console.error(`vigia ingest: ${(e as Error).message}`);
        exit.code = 1;
        return;
      }
      const log = createLogger({ level: config.log.level as LogLevel }).child("ingest");
      const store = openStore(`${paths.state_dir}/vigia.db`, {
        batchRows: config.store.batch_rows,
        batchInterval: config.store.batch_interval,
      });
      store.onError = (e, sql) => log.error("write failed", { error: e, sql: sql.slice(0, 80) });
      const dailyLog = new DailyLog({
        dir: paths.log_dir,
        timeZone: config.log.timezone || undefined,
        // The daemon prunes old files; a one-shot run leaves them alone.
        retentionDays: 0,
        // Past days this ingest wrote are sealed when it ends; today's file is checkpointed.
        seal: { keyFile: config.log.seal_key_file, store },
      });
      const alerts = new AlertBus({
        store,
        dailyLog,
        log: log.child("alerts"),
        config: config.alerts as AlertsConfig,
      });
      try {
        const r = await runIngest(file, { config, log, store, dailyLog, alerts });
        const rate = r.seconds > 0 ? Math.round(r.packets / r.seconds) : 0;
        if (argv.json === true) {
          console.log(JSON.stringify({ file, ...r, packets_per_second: rate }));
        } else {
          const bad = Object.entries(r.malformed).map(([k, v]) => `${k} ${v}`).join(", ");
          console.log(
            `${file}: ${r.packets} packets, ${r.events} DNS/DHCP events stored, ${
              bad ? `malformed: ${bad}` : "none malformed"
            }; ${r.seconds.toFixed(2)} s (${rate} packets/s)`,
          );
        }
        exit.code = 0;
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
        console.error(`vigia ingest: ${e.message}`);
        exit.code = 1;
      } finally {
        await alerts.close();
        await dailyLog.close(); // seals what this ingest wrote, into the store too
        store.close();
      }
    },
  );
}
