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
import type { Role } from "../control/token.ts";
import { type ArgSpecs, type ArgValues, parseArgs } from "./args.ts";

export { VerbError, VerbUsageError } from "./errors.ts";
import type { VigiaConfig } from "./config.ts";

export type { SharedConfig, VigiaConfig } from "./config.ts";

/** What a running component gets from the daemon. */
export interface ComponentContext<C = unknown> {
  /** The component's own config section. */
  section: C;
  /** The whole config (for `paths`, `geoip` and other shared sections). */
  config: VigiaConfig;
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
  /**
   * Rows the component's own pruning must keep, by table (the enabled
   * modules' {@linkcode ComponentModule.holds}: not shipped centrally yet).
   */
  holds?(): Record<string, number> | undefined;
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
export interface VerbEnv<C = unknown, I = Component> {
  /** The shared store. */
  store: Store;
  /** The current whole config. */
  config: VigiaConfig;
  /** The module's own config section (current). */
  section: C;
  /** The alert bus. */
  alerts: AlertPublisher;
  /** The daily log files. */
  dailyLog: DailyLog;
  /** The daemon log. */
  log: Logger;
  /**
   * The running instance of this module, if it is running (for the daemon's
   * own verbs: the daemon).
   */
  running(): I | undefined;
}

/** Arguments of a control request as they arrive (before the verb's argument specs parse them). */
export type VerbArgs = Record<string, unknown>;

/**
 * What a verb answers, which decides how `vigia ctl` prints it: one
 * `document` (key: value lines, or one JSON object), a `list` of rows (a
 * table, or JSON lines), or a `paged` list `{rows, next_cursor}` (a table
 * and a `more: --cursor C` hint, or JSON lines ending in
 * `{"next_cursor": C}`; `--all` fetches every page).
 */
export type VerbOutput = "document" | "list" | "paged";

/**
 * A control verb, such as `logs` or `deny dns add`, declared once: the
 * daemon, the CLI (`vigia ctl ...`), the remote role check and the test
 * helpers derive from it. Made with {@linkcode verbsOf}, so `run` parses
 * its raw arguments through the argument layer (`args.ts`) before the
 * verb's own code sees them.
 */
export interface VerbSpec<C = unknown, I = Component> {
  /** Space-separated verb name (`"deny dns add"`); also the `vigia ctl` command path. */
  name: string;
  /** One line of help. */
  describe: string;
  /** The least role a remote token needs for it (`read` verbs change nothing). */
  role: Role;
  /** The shape of the answer. */
  output: VerbOutput;
  /** Its arguments, positionals first in command-line order. */
  args: ArgSpecs;
  /** Client-side request timeout for long verbs (ms). */
  timeoutMs?: number;
  /** Parses `args` (throwing `VerbUsageError`) and answers the request. */
  run(args: VerbArgs, env: VerbEnv<C, I>): unknown;
}

/** A verb as its module writes it: {@linkcode VerbSpec} with typed, already parsed arguments. */
export interface VerbDeclaration<C, I, A extends ArgSpecs>
  extends Omit<VerbSpec<C, I>, "args" | "run"> {
  /** Its arguments, positionals first in command-line order. */
  args?: A;
  /**
   * Answers the request; returns any JSON value (a `paged` verb a
   * {@linkcode Page}). Throw {@linkcode VerbError} for a failed request
   * (exit 1) with a clear message.
   */
  run(args: ArgValues<A>, env: VerbEnv<C, I>): unknown;
}

/**
 * Declares verbs of one module with their argument types inferred:
 * `const verb = verbsOf<SnifferConfig, Sniffer>(); verb({name: "logs", ...})`.
 * Times without an offset are read in the configured zone (`log.timezone`).
 */
export function verbsOf<C, I>(): <const A extends ArgSpecs>(
  declaration: VerbDeclaration<C, I, A>,
) => VerbSpec<C, I> {
  return <const A extends ArgSpecs>(declaration: VerbDeclaration<C, I, A>): VerbSpec<C, I> => {
    const specs = declaration.args ?? ({} as A);
    return {
      ...declaration,
      args: specs,
      run: (raw, env) =>
        declaration.run(
          parseArgs(specs, raw, { timeZone: env.config.log.timezone || undefined }),
          env,
        ),
    };
  };
}

/** The verb of `verbs` named `name` (for tests and tools); throws when there is none. */
export function verbNamed<C, I>(
  verbs: readonly VerbSpec<C, I>[] | undefined,
  name: string,
): VerbSpec<C, I> {
  const found = verbs?.find((v) => v.name === name);
  if (!found) throw new Error(`no verb "${name}"`);
  return found;
}

/** What a module's `prune` may use: the store and its running instance, if any. */
export interface PruneEnv<I = Component> {
  /** The shared store. */
  store: Store;
  /** The running instance of the module, if it is running. */
  running(): I | undefined;
  /**
   * Tells the modules that hold rows (`holds`) that a bound deleted some of
   * them anyway, by table (`{events: 120}`).
   */
  lost?(rows: Record<string, number>): void;
}

/** What a prune deletes: events older than a cutoff (undefined keeps them). */
export interface PruneCutoffs {
  /** Events whose time is older than this (ms since the epoch) go; undefined keeps them. */
  before?: number;
  /** Ingested captures recorded before this (ms) go, with their events; undefined keeps them. */
  ingestBefore?: number;
  /**
   * Rows kept whatever their age, by table: those whose id is above the
   * value (not shipped to the central store yet, see `holds`).
   */
  keepAbove?: Record<string, number>;
  /** Bound on the bytes the events rows take (`store.max_events_mb`); undefined: none. */
  maxEventsBytes?: number;
}

/** Rows deleted by a prune, by table (`{dns_events: 10, dhcp_events: 2}`). */
export type PruneCounts = Record<string, number>;

/**
 * Thrown by `start()` when the component cannot run in this environment and
 * retrying cannot help (a missing capability or library). The daemon
 * reports why and leaves the component down until the next reload that
 * changes its section, or a restart, instead of retrying with backoff.
 */
export class ComponentUnavailable extends Error {
  /** Makes the error; `message` says what is missing. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ComponentUnavailable";
  }
}

/**
 * What each component folder's `mod.ts` exports as its module description:
 * its config section, checks, migrations, the factory of its running
 * instance and its control verbs. Every component folder has the same
 * files: `mod.ts` (this module), `config.ts` (the section and its checks),
 * `component.ts` (the running instance `I`), `schema.ts` (store migrations)
 * and `verbs.ts` (the verbs).
 */
export interface ComponentModule<C = unknown, I extends Component = Component> {
  /** Component name, also its config section key (`dns`, `sniffer`, ...). */
  name: string;
  /** Schema of its config section. */
  schema: Section<Spec>;
  /** Semantic checks run by `config check` and on load. */
  checks?: ConfigCheck<VigiaConfig>[];
  /**
   * A check run only by the daemon, at start (`running` undefined) and on
   * reload (`running` the config in force), for what only the live daemon
   * can judge (a listen address in use); a problem fails the start or keeps
   * the running config, as any config error.
   */
  liveCheck?(running: VigiaConfig | undefined): ConfigCheck<VigiaConfig>;
  /** Whether the component should run under this config. */
  enabled(section: C): boolean;
  /** Store migrations, applied at daemon start (also when disabled, so verbs work). */
  migrations?: Migration[];
  /** Builds a new instance; `start()` is called next. */
  create(context: ComponentContext<C>): I;
  /** Control verbs (made with {@linkcode verbsOf}). */
  verbs?: VerbSpec<C, I>[];
  /** Help lines of the verb groups this module adds (`{zone: "records served ..."}`). */
  verbGroups?: Record<string, string>;
  /**
   * Deletes the module's stored events older than the cutoffs; returns the
   * rows deleted by table. The daemon calls it hourly with `now -
   * store.retention_days` (and `store.ingest_retention_days` for ingested
   * captures), also while the component is disabled (then `env.running()`
   * is undefined).
   */
  prune?(env: PruneEnv<I>, cutoffs: PruneCutoffs): PruneCounts | Promise<PruneCounts>;
  /**
   * Rows other modules' prunes must keep, by table (`{events: 1200}` keeps
   * events with an id above 1200), while this module is enabled: the
   * central shipper's outbox. Merged into {@linkcode PruneCutoffs.keepAbove}.
   */
  holds?(section: C, store: Store): Record<string, number> | undefined;
  /**
   * Told when a bound (`store.max_events_mb`) deleted rows this module held
   * (`holds`), by table, so it can say so (the central shipper alerts and
   * counts them).
   */
  lost?(section: C, store: Store, rows: Record<string, number>): void;
}

/**
 * The module's section of a validated config. The loader checked
 * `config[module.name]` against `module.schema`, whose value type is `C`:
 * this is the one place that relies on it.
 */
export function sectionOf<C>(module: ComponentModule<C>, config: VigiaConfig): C {
  return config[module.name] as C;
}
