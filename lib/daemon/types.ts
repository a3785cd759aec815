/**
 * The daemon's component interface: what every component module exports and
 * what it is given. Components meet only through these parts (the store, the
 * alert bus, the daily log, the logger) and never import each other.
 *
 * @module
 */

import type { AlertPublisher } from "../alerts/mod.ts";
import type { DailyLog } from "../daylog/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Migration, Store } from "../store/mod.ts";
import type { ConfigCheck, Section, Spec } from "../config/mod.ts";
import type { MetricsScope } from "../metrics/registry.ts";

/** The validated whole config, as components see it (each reads its own section). */
// deno-lint-ignore no-explicit-any
export type AnyConfig = Record<string, any>;

/** What a running component gets from the daemon. */
export interface ComponentContext<C = unknown> {
  /** The component's own config section. */
  section: C;
  /** The whole config (for `paths`, `geoip` and other shared sections). */
  config: AnyConfig;
  /** The shared store. */
  store: Store;
  /** The alert bus. */
  alerts: AlertPublisher;
  /** The daily log files. */
  dailyLog: DailyLog;
  /** The daemon log, already named after the component. */
  log: Logger;
  /** Where the component registers its metric families (cleared when it stops). */
  metrics: MetricsScope;
}

/** A running component instance. */
export interface Component {
  /** Starts serving; resolves once ready (sockets bound). Throwing marks it failed. */
  start(): Promise<void>;
  /** Stops and releases everything; must finish within a few seconds. */
  stop(): Promise<void>;
  /**
   * Resolves or rejects when the component dies on its own after start (a
   * crashed worker). The daemon restarts it with backoff. Optional.
   */
  done?: Promise<void>;
  /** Details for `ctl status` (listening addresses, interface, ...). */
  status?(): Record<string, unknown>;
  /** Counters for `ctl stats`. */
  stats?(): Record<string, unknown>;
}

/** Everything a control verb handler may use. */
export interface VerbEnv {
  /** The shared store. */
  store: Store;
  /** The current whole config. */
  config: AnyConfig;
  /** The alert bus. */
  alerts: AlertPublisher;
  /** The daily log files. */
  dailyLog: DailyLog;
  /** The daemon log. */
  log: Logger;
  /** The running instance of a component of this module, if it is running. */
  running(): Component | undefined;
}

/** Arguments of a control request (already parsed by the CLI). */
export type VerbArgs = Record<string, unknown>;

/**
 * A control verb, such as `logs` or `deny dns add`. The handler returns any
 * JSON value; arrays of flat objects print as tables. Throw {@linkcode VerbError}
 * for a failed request (exit 1) with a clear message.
 */
export type VerbHandler = (args: VerbArgs, env: VerbEnv) => unknown | Promise<unknown>;

/** A request that failed for a reason the user can act on. */
export class VerbError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VerbError";
  }
}

/**
 * Thrown by `start()` when the component cannot run in this environment and
 * retrying cannot help (a missing capability or library). The daemon
 * reports why and leaves the component down until the next reload that
 * changes its section, or a restart, instead of retrying with backoff.
 */
export class ComponentUnavailable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ComponentUnavailable";
  }
}

/** What each component folder's `mod.ts` exports as its module description. */
export interface ComponentModule<C = unknown> {
  /** Component name, also its config section key (`dns`, `sniffer`, ...). */
  name: string;
  /** Schema of its config section. */
  schema: Section<Spec>;
  /** Semantic checks run by `config check` and on load. */
  checks?: ConfigCheck<AnyConfig>[];
  /**
   * A check run only by the daemon, at start (`running` undefined) and on
   * reload (`running` the config in force), for what only the live daemon
   * can judge (a listen address in use); a problem fails the start or keeps
   * the running config, as any config error.
   */
  liveCheck?: (running: AnyConfig | undefined) => ConfigCheck<AnyConfig>;
  /** Whether the component should run under this config. */
  enabled(section: C): boolean;
  /** Store migrations, applied at daemon start (also when disabled, so verbs work). */
  migrations?: Migration[];
  /** Builds a new instance; `start()` is called next. */
  create(context: ComponentContext<C>): Component;
  /** Control verbs, by space-separated name (`"deny dns add"`). */
  verbs?: Record<string, VerbHandler>;
  /**
   * Deletes the module's stored events older than `before` (ms since the
   * epoch); returns the rows deleted. The daemon calls it hourly with
   * `now - store.retention_days`, also while the component is disabled.
   */
  prune?: (store: Store, before: number, options?: { ingestBefore?: number }) => number;
}
