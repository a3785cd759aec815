/**
 * What every component is given besides its own section: the store, the
 * daily log files and the alert bus, opened from the config the same way
 * by the daemon and by one-shot commands (`vigia ingest`).
 *
 * @module
 */

import { AlertBus } from "../alerts/mod.ts";
import { DailyLog } from "../daylog/mod.ts";
import type { Logger } from "../log/mod.ts";
import { openStore, type Store } from "../store/mod.ts";
import { type VigiaConfig, vigiaFiles } from "./config.ts";
import { ensureDirectory } from "./dirs.ts";

/** The shared parts, open. */
export interface SharedParts {
  /** The store (`vigia.db`). */
  store: Store;
  /** The daily log files. */
  dailyLog: DailyLog;
  /** The alert bus. */
  alerts: AlertBus;
  /** Flushes and closes all three (alerts first: they write into the others; the store last). */
  close(): Promise<void>;
}

/** Options for {@linkcode openShared}. */
export interface OpenSharedOptions {
  /** The daemon log; the store and the bus log below it. */
  log: Logger;
  /**
   * Whether old daily files are deleted after `log.retention_days` (the
   * daemon's job; a one-shot command leaves them alone). @default true
   */
  pruneDailyFiles?: boolean;
}

/**
 * Opens the store, the daily log files and the alert bus named by `config`
 * (creating `paths.state_dir` and `paths.log_dir`; throws in vigia's words
 * when they cannot be).
 */
export async function openShared(
  config: VigiaConfig,
  options: OpenSharedOptions,
): Promise<SharedParts> {
  const { log, pruneDailyFiles = true } = options;
  const { paths } = config;
  for (const key of ["state_dir", "log_dir"] as const) {
    await ensureDirectory(paths[key], `paths.${key}`);
  }
  const store = openStore(vigiaFiles(paths).store, {
    batchRows: config.store.batch_rows,
    batchInterval: config.store.batch_interval,
  });
  store.onError = (e, sql) =>
    log.child("store").error("write failed", { error: e, sql: sql.slice(0, 80) });
  const dailyLog = new DailyLog({
    dir: paths.log_dir,
    timeZone: config.log.timezone || undefined,
    retentionDays: pruneDailyFiles ? config.log.retention_days : 0,
    format: config.log.format,
    // Completed days are sealed (and today's file checkpointed), the seals copied to the store.
    seal: { keyFile: config.log.seal_key_file, store },
  });
  const alerts = new AlertBus({ store, dailyLog, log: log.child("alerts"), config: config.alerts });
  return {
    store,
    dailyLog,
    alerts,
    async close() {
      await alerts.close();
      // The daily log seals its files at close and copies the seals to the store: store last.
      await dailyLog.close();
      store.close();
    },
  };
}
