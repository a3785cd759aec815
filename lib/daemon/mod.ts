/**
 * The daemon: loads the config, opens the store, daily logs and alert bus,
 * supervises every enabled component, serves the control socket, and handles
 * SIGHUP (reload) and SIGTERM/SIGINT (stop).
 *
 * @example
 * ```ts ignore
 * import { runDaemon } from "./mod.ts";
 * const code = await runDaemon({ configPath: "/etc/vigia/vigia.toml", modules, schema });
 * Deno.exit(code);
 * ```
 *
 * @module
 */

import type { AlertBus } from "../alerts/mod.ts";
import { syslogCheck } from "../alerts/config.ts";
import {
  type ConfigCheck,
  ConfigError,
  formatIssue,
  type Section,
  type Spec,
} from "../config/mod.ts";
import { geoipCheck, loadVigiaConfig, pathsCheck, sealKeyCheck, vigiaFiles } from "./config.ts";
import { ensureDirectory } from "./dirs.ts";
import { type DirectoryLocks, lockDirectories } from "./lock.ts";
import { openShared } from "./shared.ts";
import type { DailyLog } from "../daylog/mod.ts";
import { createLogger, type Logger, type LogLevel } from "../log/mod.ts";
import type { Store } from "../store/mod.ts";
import {
  type ControlRequest,
  type RequestOrigin,
  serveConnections,
  socketIsLive,
} from "../control/mod.ts";
import { authoriseRemote, RemoteControl } from "../control/remote.ts";
import { Supervisor } from "./supervisor.ts";
import {
  type Component,
  type ComponentContext,
  type ComponentModule,
  type PruneCounts,
  type PruneCutoffs,
  sectionOf,
  type VerbArgs,
  type VerbEnv,
  VerbError,
  type VerbSpec,
  type VigiaConfig,
} from "./types.ts";
import { verbCatalogue, verbRoles } from "./verbs.ts";
import { MetricsRegistry } from "../metrics/registry.ts";
import { ControlRequestCounter, registerDaemonMetrics } from "./metrics.ts";

export {
  ComponentUnavailable,
  sectionOf,
  VerbError,
  verbNamed,
  verbsOf,
  VerbUsageError,
} from "./types.ts";
export type {
  Component,
  ComponentContext,
  ComponentModule,
  PruneCounts,
  PruneCutoffs,
  PruneEnv,
  SharedConfig,
  VerbArgs,
  VerbDeclaration,
  VerbEnv,
  VerbOutput,
  VerbSpec,
  VigiaConfig,
} from "./types.ts";
export {
  type ComponentState,
  type ComponentStatus,
  Supervisor,
  type SupervisorOptions,
} from "./supervisor.ts";
export type { ArgSpec, ArgSpecs, ArgType, ArgValue, ArgValues, Page } from "./args.ts";
export { type VerbCatalogue, verbCatalogue, verbRoles } from "./verbs.ts";
export {
  type ControlConfig,
  controlSection,
  type GeoipConfig,
  geoipSection,
  type LogConfig,
  logSection,
  type PathsConfig,
  pathsSection,
  type StoreConfig,
  storeSection,
  type VigiaFiles,
  vigiaFiles,
} from "./config.ts";
export { openShared, type OpenSharedOptions, type SharedParts } from "./shared.ts";

/** The program version, printed by `vigia --version` and `ctl status`. */
export const VERSION = "0.1.0";

/** Options for {@linkcode runDaemon}. */
export interface DaemonOptions {
  /** Config file; absent → the embedded default. */
  configPath?: string;
  /** Component modules in start order. */
  modules: ComponentModule[];
  /** The whole config schema. */
  schema: Section<Spec>;
  /** Logger override (tests). */
  log?: Logger & { setLevel(l: LogLevel): void };
}

/** Every semantic config check: the daemon's own and each module's. */
export function moduleChecks(modules: readonly ComponentModule[]): ConfigCheck<VigiaConfig>[] {
  return [
    pathsCheck,
    geoipCheck,
    sealKeyCheck,
    syslogCheck,
    ...modules.flatMap((m) => m.checks ?? []),
  ];
}

/** The rows enabled modules hold back from pruning (the lowest position per table wins). */
export function pruneHolds(
  modules: readonly ComponentModule[],
  config: VigiaConfig,
  store: Store,
): Record<string, number> | undefined {
  let out: Record<string, number> | undefined;
  for (const m of modules) {
    if (!m.holds) continue;
    const section = sectionOf(m, config);
    if (!m.enabled(section)) continue;
    for (const [table, id] of Object.entries(m.holds(section, store) ?? {})) {
      out ??= {};
      out[table] = Math.min(out[table] ?? id, id);
    }
  }
  return out;
}

/** Whether `[metrics]` is on (absent, as in a daemon without the metrics module: on). */
function metricsEnabled(config: VigiaConfig): boolean {
  const section = config.metrics;
  return !(typeof section === "object" && section !== null && "enabled" in section &&
    section.enabled === false);
}

/** A verb bound to this daemon: its spec and how to answer it. */
interface BoundVerb {
  spec: VerbSpec<unknown, unknown>;
  module?: ComponentModule;
  answer(args: VerbArgs): unknown;
}

/** The checks of {@linkcode moduleChecks} plus the live ones, run by the daemon itself. */
function daemonChecks(
  modules: readonly ComponentModule[],
  running: VigiaConfig | undefined,
): ConfigCheck<VigiaConfig>[] {
  return [
    ...moduleChecks(modules),
    ...modules.flatMap((m) => m.liveCheck ? [m.liveCheck(running)] : []),
  ];
}

/** A running daemon. */
export class Daemon {
  readonly #options: DaemonOptions;
  readonly #log: Logger & { setLevel(l: LogLevel): void };
  #config: VigiaConfig;
  #configText: string;
  #store!: Store;
  #dailyLog!: DailyLog;
  #alerts!: AlertBus;
  #supervisors: Supervisor[] = [];
  #verbs = new Map<string, BoundVerb>();
  #roleOf: (verb: string) => "read" | "admin";
  #prunes: { name: string; prune(cutoffs: PruneCutoffs): PruneCounts | Promise<PruneCounts> }[] =
    [];
  #listener: Deno.Listener | undefined;
  #serving: Promise<void> | undefined;
  #remote: RemoteControl | undefined;
  #socketPath = "";
  #startedAt = Date.now();
  #stopping: Promise<void> | undefined;
  #stopped: { resolve: () => void; promise: Promise<void> };
  #reloads = { ok: 0, failed: 0, last_error: null as string | null };
  #signalHandlers: [Deno.Signal, () => void][] = [];
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #locks: DirectoryLocks | undefined;
  readonly #metrics = new MetricsRegistry();
  readonly #requests = new ControlRequestCounter(() => new Set(this.#verbs.keys()));

  /** Builds the daemon for a loaded config; {@linkcode runDaemon} is the usual entry. */
  constructor(options: DaemonOptions, config: VigiaConfig, configText: string) {
    this.#options = options;
    this.#config = config;
    this.#configText = configText;
    this.#log = options.log ?? createLogger({ level: config.log.level });
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#stopped = { resolve, promise };
    this.#roleOf = verbRoles(verbCatalogue(options.modules));
  }

  /** The current config. */
  get config(): VigiaConfig {
    return this.#config;
  }

  /** Resolves when the daemon has stopped. */
  get stopped(): Promise<void> {
    return this.#stopped.promise;
  }

  /** Opens everything and starts the components; throws when the daemon cannot run at all. */
  async start(): Promise<void> {
    const { paths } = this.#config;
    for (const key of ["state_dir", "log_dir", "runtime_dir"] as const) {
      await ensureDirectory(paths[key], `paths.${key}`);
    }
    this.#socketPath = vigiaFiles(paths).socket;
    await this.#claimSocket();
    this.#locks = lockDirectories([["paths.state_dir", paths.state_dir], [
      "paths.log_dir",
      paths.log_dir,
    ]]);
    const shared = await openShared(this.#config, { log: this.#log });
    this.#store = shared.store;
    this.#dailyLog = shared.dailyLog;
    this.#alerts = shared.alerts;
    for (const spec of verbCatalogue([]).verbs) {
      this.#verbs.set(spec.name, {
        spec,
        answer: (args) => spec.run(args, { ...this.#verbEnv("control"), running: () => this }),
      });
    }
    this.#metrics.enabled = metricsEnabled(this.#config);
    registerDaemonMetrics(this.#metrics.scope("daemon"), {
      version: VERSION,
      supervisors: () => this.#supervisors,
      store: this.#store,
      eventsDb: vigiaFiles(this.#config.paths).eventsDb,
      alerts: this.#alerts,
      remote: () => this.#remote,
    });
    this.#requests.register(this.#metrics.scope("daemon"));
    this.#prunes.push({
      name: "alerts",
      prune: ({ before, keepAbove }) => ({
        alerts: before === undefined
          ? 0
          // By the time raised: alerts of an old capture age from its ingestion, like its events.
          : this.#store.run(
            "DELETE FROM alerts WHERE raised_at < ? AND id <= ?",
            before,
            keepAbove?.alerts ?? Number.MAX_SAFE_INTEGER,
          ).changes,
      }),
    });
    for (const m of this.#options.modules) this.#add(m);
    await this.#listen();
    this.#installSignals();
    await Promise.all(this.#supervisors.map((s) => s.start()));
    void this.prune();
    this.#pruneTimer = setInterval(() => void this.prune(), 3_600_000);
    this.#log.info("ready", { version: VERSION, pid: Deno.pid, socket: this.#socketPath });
  }

  async #claimSocket(): Promise<void> {
    try {
      await Deno.lstat(this.#socketPath);
    } catch {
      return;
    }
    if (await socketIsLive(this.#socketPath)) {
      throw new Error(`another vigia is running: its control socket ${this.#socketPath} answers`);
    }
    this.#log.warn("removing stale control socket", { path: this.#socketPath });
    await Deno.remove(this.#socketPath);
  }

  async #listen(): Promise<void> {
    const { control } = this.#config;
    this.#listener = Deno.listen({ transport: "unix", path: this.#socketPath });
    await Deno.chmod(this.#socketPath, parseInt(control.socket_mode, 8));
    if (control.socket_group) {
      const gid = await groupId(control.socket_group);
      if (gid === undefined) {
        this.#log.warn("socket group not found", { group: control.socket_group });
      } else if ((await Deno.stat(this.#socketPath)).gid !== gid) {
        // Only when needed: under the systemd unit the group is already right and chown is filtered.
        await Deno.chown(this.#socketPath, null, gid);
      }
    }
    this.#serving = serveConnections(this.#listener, (req, origin) => this.dispatch(req, origin), {
      maxRequestBytes: control.max_request_bytes,
      requestTimeoutMs: control.request_timeout,
      maxClients: control.max_clients,
      log: this.#log.child("control"),
    });
    if (control.remote.enabled) {
      this.#remote = await RemoteControl.start(control.remote, {
        stateDir: this.#config.paths.state_dir,
        dispatch: (req, origin) => this.dispatch(req, origin),
        audit: this.#alerts,
        roles: this.#roleOf,
        log: this.#log.child("remote"),
      });
    }
  }

  #installSignals(): void {
    const on = (signal: Deno.Signal, fn: () => void) => {
      Deno.addSignalListener(signal, fn);
      this.#signalHandlers.push([signal, fn]);
    };
    // SIGHUP is also logrotate's signal (postrotate): reopen the daily files, then reload.
    on("SIGHUP", () => {
      this.reopen();
      void this.reload().catch(() => {});
    });
    on("SIGTERM", () => void this.stop("SIGTERM"));
    on("SIGINT", () => void this.stop("SIGINT"));
  }

  /**
   * Adds a module: migrations, a supervisor, its verbs and prune, all bound
   * to the same supervisor, so `running()` is the module's own instance type.
   */
  #add<C, I extends Component>(m: ComponentModule<C, I>): void {
    if (m.migrations) this.#store.migrate(m.name, m.migrations);
    const supervisor = new Supervisor(m, this.#contextFor(m), {
      backoffMaxMs: this.#config.control.restart_backoff_max,
      stopTimeoutMs: this.#config.control.shutdown_timeout,
    });
    this.#supervisors.push(supervisor);
    for (const spec of m.verbs ?? []) {
      this.#verbs.set(spec.name, {
        spec,
        module: m,
        answer: (args) =>
          spec.run(args, {
            ...this.#verbEnv(m.name),
            section: sectionOf(m, this.#config),
            running: () => supervisor.instance,
          }),
      });
    }
    const prune = m.prune;
    if (prune) {
      this.#prunes.push({
        name: m.name,
        prune: (cutoffs) =>
          prune.call(m, {
            store: this.#store,
            running: () => supervisor.instance,
            lost: (rows) => this.#lost(rows),
          }, cutoffs),
      });
    }
  }

  #verbEnv(name: string): Omit<VerbEnv, "running"> {
    return {
      store: this.#store,
      config: this.#config,
      section: undefined,
      alerts: this.#alerts,
      dailyLog: this.#dailyLog,
      log: this.#log.child(name),
    };
  }

  #contextFor<C>(m: ComponentModule<C>): ComponentContext<C> {
    return {
      section: sectionOf(m, this.#config),
      config: this.#config,
      store: this.#store,
      alerts: this.#alerts,
      dailyLog: this.#dailyLog,
      log: this.#log.child(m.name),
      metrics: this.#metrics.scope(m.name),
      holds: () => pruneHolds(this.#options.modules, this.#config, this.#store),
    };
  }

  /** Rows a bound deleted though enabled modules held them: logged, and each holder told. */
  #lost(rows: Record<string, number>): void {
    this.#log.warn("a store bound deleted rows not shipped to the central store yet", rows);
    for (const m of this.#options.modules) {
      if (!m.holds || !m.lost) continue;
      const section = sectionOf(m, this.#config);
      if (!m.enabled(section)) continue;
      try {
        m.lost(section, this.#store, rows);
      } catch (e) {
        this.#log.child(m.name).error("cannot record lost rows", { error: e });
      }
    }
  }

  /** Answers a control request. */
  async dispatch(request: ControlRequest, origin: RequestOrigin): Promise<unknown> {
    // Remote requests arrive with the role of their accepted token; checked again here.
    try {
      authoriseRemote(request.verb, origin, this.#roleOf);
    } catch (e) {
      this.#requests.count(origin.transport, request.verb, "refused");
      throw e;
    }
    try {
      const result = await this.#answer(request);
      this.#requests.count(origin.transport, request.verb, "ok");
      return result;
    } catch (e) {
      this.#requests.count(origin.transport, request.verb, "error");
      throw e;
    }
  }

  async #answer(request: ControlRequest): Promise<unknown> {
    const verb = this.#verbs.get(request.verb);
    if (!verb) {
      throw new VerbError(
        `unknown verb "${request.verb}"; known: ${[...this.#verbs.keys()].sort().join(", ")}`,
      );
    }
    const args = { ...(request.args ?? {}) };
    delete args.timeout_ms;
    // Queued rows become visible to readers first, so a verb sees what was published before it.
    this.#store.flush();
    return await verb.answer(args);
  }

  /**
   * Deletes stored events older than `store.retention_days` and ingested
   * captures older than `store.ingest_retention_days` (0 keeps everything)
   * in every module, keeping what enabled modules hold (`holds`), then the
   * oldest events past `store.max_events_mb` even if held (the holders are
   * told how many: `lost`); logs and returns the rows deleted by table.
   */
  async prune(): Promise<PruneCounts> {
    const days = this.#config.store.retention_days;
    const ingestDays = this.#config.store.ingest_retention_days < 0
      ? days
      : this.#config.store.ingest_retention_days;
    const maxMb = this.#config.store.max_events_mb;
    const deleted: PruneCounts = {};
    if (!days && !ingestDays && !maxMb) return deleted;
    const cutoffs: PruneCutoffs = {
      before: days ? Date.now() - days * 86_400_000 : undefined,
      ingestBefore: ingestDays ? Date.now() - ingestDays * 86_400_000 : undefined,
      keepAbove: pruneHolds(this.#options.modules, this.#config, this.#store),
      maxEventsBytes: maxMb ? maxMb * 1_000_000 : undefined,
    };
    for (const p of this.#prunes) {
      try {
        for (const [table, n] of Object.entries(await p.prune(cutoffs))) {
          deleted[table] = (deleted[table] ?? 0) + n;
        }
      } catch (e) {
        this.#log.child(p.name).error("prune failed", { error: e });
      }
    }
    if (Object.values(deleted).some((n) => n > 0)) {
      this.#log.info("pruned old events", { ...deleted, retention_days: days });
    }
    return deleted;
  }

  /** Status of the daemon and every component. */
  status(): Record<string, unknown> {
    const delivery = this.#alerts.delivery();
    return {
      version: VERSION,
      pid: Deno.pid,
      config: this.#options.configPath ?? "<embedded>",
      socket: this.#socketPath,
      started_at: new Date(this.#startedAt).toISOString(),
      uptime_s: Math.round((Date.now() - this.#startedAt) / 1000),
      reloads: this.#reloads,
      ...(this.#remote ? { remote: this.#remote.status() } : {}),
      // Delivery channels in trouble (collector down, mails failing) show without `ctl stats`.
      ...(Object.keys(delivery).length > 0 ? { alert_delivery: delivery } : {}),
      components: this.#supervisors.map((s) => s.status()),
    };
  }

  /** Counters of the daemon and of every running component. */
  stats(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      store: this.#store.stats(),
      daily_log: { lines_written: this.#dailyLog.linesWritten },
      alerts: this.#alerts.stats(),
    };
    if (this.#remote) out.remote = this.#remote.stats();
    for (const s of this.#supervisors) {
      try {
        const st = s.stats();
        if (st) out[s.module.name] = st;
      } catch (e) {
        out[s.module.name] = { stats_error: (e as Error).message };
      }
    }
    return out;
  }

  /** Reopens the daily files (daily log, alerts file) at their paths, as after logrotate. */
  reopen(): { reopened: string } {
    this.#dailyLog.reopen();
    this.#log.info("daily log files reopened", { dir: this.#config.paths.log_dir });
    return { reopened: this.#config.paths.log_dir };
  }

  /**
   * Re-reads the config. When it is invalid, logs why and keeps the old one
   * (and throws, so `ctl reload` reports it); otherwise restarts only the
   * components whose section changed.
   */
  async reload(): Promise<{ restarted: string[]; unchanged: string[]; warnings: string[] }> {
    const log = this.#log.child("reload");
    let loaded;
    try {
      loaded = await loadVigiaConfig(this.#options.schema, {
        path: this.#options.configPath,
        checks: daemonChecks(this.#options.modules, this.#config),
      });
    } catch (e) {
      const msg = e instanceof ConfigError
        ? e.issues.map(formatIssue).join("; ")
        : (e as Error).message;
      this.#reloads.failed++;
      this.#reloads.last_error = msg;
      log.error("config invalid; keeping the running config", { error: msg });
      throw new VerbError(`config invalid, kept the running one: ${msg}`);
    }
    const next: VigiaConfig = loaded.config;
    const prev = this.#config;
    const warnings: string[] = [];
    if (JSON.stringify(prev.paths) !== JSON.stringify(next.paths)) {
      warnings.push("[paths] changed: takes effect at the next restart");
      next.paths = prev.paths;
    }
    if (JSON.stringify(prev.store) !== JSON.stringify(next.store)) {
      warnings.push("[store] changed: takes effect at the next restart");
      next.store = prev.store;
    }
    // The daily files are open with their zone, format, retention and seal key: only the
    // daemon's own log level applies at once.
    const changedLog = Object.keys(next.log).filter((k) =>
      k !== "level" &&
      JSON.stringify(prev.log[k as keyof typeof prev.log]) !==
        JSON.stringify(next.log[k as keyof typeof next.log])
    );
    if (changedLog.length > 0) {
      warnings.push(`[log] ${changedLog.join(", ")} changed: takes effect at the next restart`);
      next.log = { ...prev.log, level: next.log.level };
    }
    const { remote: prevRemote, ...prevLocal } = prev.control;
    const { remote: nextRemote, ...nextLocal } = next.control;
    if (JSON.stringify(prevLocal) !== JSON.stringify(nextLocal)) {
      warnings.push("[control] changed: takes effect at the next restart");
    }
    let remote = prevRemote;
    if (JSON.stringify(prevRemote) !== JSON.stringify(nextRemote)) {
      // Tokens and limits apply at once (revoking a token needs no restart); the rest at restart.
      try {
        if (this.#remote) {
          warnings.push(...this.#remote.reconfigure(nextRemote));
          remote = this.#remote.section;
        } else warnings.push("[control.remote] changed: takes effect at the next restart");
      } catch (e) {
        warnings.push(`[control.remote] kept the running tokens: ${(e as Error).message}`);
      }
    }
    next.control = { ...prev.control, remote };
    this.#config = next;
    this.#configText = loaded.text;
    this.#log.setLevel(next.log.level);
    this.#metrics.enabled = metricsEnabled(next);
    await this.#alerts.reconfigure(next.alerts);
    const restarted: string[] = [], unchanged: string[] = [];
    for (const s of this.#supervisors) {
      const name = s.module.name;
      const ctx = this.#contextFor(s.module);
      // Shared sections a component reads (geoip) count as its own for change detection.
      const before = JSON.stringify([prev[name], prev.geoip]);
      const after = JSON.stringify([next[name], next.geoip]);
      if (before !== after) {
        await s.restartWith(ctx);
        restarted.push(name);
      } else {
        s.updateContext(ctx);
        unchanged.push(name);
      }
    }
    for (const w of warnings) log.warn(w);
    this.#reloads.ok++;
    log.info("config reloaded", { restarted: restarted.join(",") || "none" });
    return { restarted, unchanged, warnings };
  }

  /** Stops components, flushes the store and daily logs, removes the socket. */
  stop(reason = "requested"): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#stopping = (async () => {
      this.#log.info("stopping", { reason });
      clearInterval(this.#pruneTimer);
      for (const [signal, fn] of this.#signalHandlers) {
        try {
          Deno.removeSignalListener(signal, fn);
        } catch { /* not installed */ }
      }
      await this.#remote?.close();
      await Promise.all([...this.#supervisors].reverse().map((s) => s.stop()));
      try {
        this.#listener?.close();
      } catch { /* closed */ }
      await Promise.race([this.#serving, new Promise((r) => setTimeout(r, 500))]);
      await this.#alerts?.close(1500);
      // The daily log seals its files at close and copies the seals to the store: store last.
      await this.#dailyLog?.close();
      this.#store?.close();
      this.#locks?.release();
      if (this.#listener) {
        try {
          await Deno.remove(this.#socketPath);
        } catch { /* already gone */ }
      }
      this.#log.info("stopped");
      this.#stopped.resolve();
    })();
    return this.#stopping;
  }

  /** The config text currently applied (for diagnostics). */
  get configText(): string {
    return this.#configText;
  }

  /** The store, for core verbs. */
  get store(): Store {
    return this.#store;
  }
}

async function groupId(name: string): Promise<number | undefined> {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    const text = await Deno.readTextFile("/etc/group");
    for (const line of text.split("\n")) {
      const [n, , gid] = line.split(":");
      if (n === name) return Number(gid);
    }
  } catch { /* no /etc/group */ }
  return undefined;
}

/**
 * Runs the daemon in the foreground until it is stopped; returns the exit
 * code (0 after a clean stop, 1 when it could not start).
 */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const boot = options.log ?? createLogger();
  let loaded;
  try {
    loaded = await loadVigiaConfig(options.schema, {
      path: options.configPath,
      checks: daemonChecks(options.modules, undefined),
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const issue of e.issues) boot.error(formatIssue(issue));
      boot.error("not starting: the config is invalid");
      return 1;
    }
    throw e;
  }
  const daemon = new Daemon(options, loaded.config, loaded.text);
  try {
    await daemon.start();
  } catch (e) {
    boot.error(`cannot start: ${(e as Error).message}`);
    await daemon.stop("start failed").catch(() => {});
    return 1;
  }
  await daemon.stopped;
  return 0;
}
