/**
 * Control verbs the daemon answers itself: status, reload, reopen, stop,
 * stats and alerts. Component verbs come from their modules; {@linkcode verbCatalogue}
 * lists them all, for the daemon, the CLI, the remote role check and tests.
 *
 * @module
 */

import { ZonedClock } from "../daylog/mod.ts";
import { type ArgSpecs, decodeCursor, encodeCursor, type Page, paging, timeRange } from "./args.ts";
import { type ComponentModule, verbsOf, type VerbSpec } from "./types.ts";

/** Arguments of `ctl alerts`, shared with `central alerts` (same filters, same paging). */
export const alertArgs = {
  ...timeRange(),
  by: {
    type: "string",
    describe: "which time --since/--until mean: raised (by vigia) or event (a packet's time)",
    choices: ["raised", "event"],
    default: "raised",
  },
  kind: { type: "string", describe: "alert kind, e.g. dns-flood" },
  ...paging(100),
} as const satisfies ArgSpecs;

/** What the core verbs need from the daemon (their `env.running()`). */
export interface DaemonHandle {
  /** `ctl status`. */
  status(): Record<string, unknown>;
  /** `ctl stats`. */
  stats(): Record<string, unknown>;
  /** `ctl reload`. */
  reload(): Promise<unknown>;
  /** `ctl reopen`. */
  reopen(): unknown;
  /** `ctl stop`. */
  stop(reason?: string): Promise<void>;
}

const verb = verbsOf<unknown, DaemonHandle>();

function daemonOf(env: { running(): DaemonHandle | undefined }): DaemonHandle {
  const daemon = env.running();
  if (!daemon) throw new Error("the daemon's own verbs need the daemon");
  return daemon;
}

/** The daemon's own verbs. */
export const coreVerbs: VerbSpec<unknown, DaemonHandle>[] = [
  verb({
    name: "status",
    describe: "daemon and component state",
    role: "read",
    output: "document",
    run: (_args, env) => daemonOf(env).status(),
  }),
  verb({
    name: "reload",
    describe: "re-read the config (keeps the old one if invalid)",
    role: "admin",
    output: "document",
    run: (_args, env) => daemonOf(env).reload(),
  }),
  verb({
    name: "reopen",
    describe: "reopen the daily log files at their paths (after logrotate moved them)",
    role: "admin",
    output: "document",
    run: (_args, env) => daemonOf(env).reopen(),
  }),
  verb({
    name: "stop",
    describe: "stop the daemon",
    role: "admin",
    output: "document",
    run: (_args, env) => {
      const daemon = daemonOf(env);
      // Answer first, then stop: the client gets its reply before the socket goes away.
      setTimeout(() => void daemon.stop("ctl stop"), 20);
      return { stopping: true };
    },
  }),
  verb({
    name: "stats",
    describe: "counters of every component",
    role: "read",
    output: "document",
    run: (_args, env) => daemonOf(env).stats(),
  }),
  verb({
    name: "alerts",
    describe: "recent alerts, newest first",
    role: "read",
    output: "paged",
    args: alertArgs,
    run: (args, env): Page => {
      // --since means "raised since" unless asked for the event's own time (a packet's, for ingest).
      const timeColumn = args.by === "event" ? "time" : "raised_at";
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (args.since !== undefined) {
        where.push(`${timeColumn} >= ?`);
        params.push(args.since);
      }
      if (args.until !== undefined) {
        where.push(`${timeColumn} < ?`);
        params.push(args.until);
      }
      if (args.kind !== undefined) {
        where.push("kind = ?");
        params.push(args.kind);
      }
      if (args.cursor !== undefined) {
        const [t, id] = decodeCursor(args.cursor, ["number", "number"]);
        where.push(`(${timeColumn} < ? OR (${timeColumn} = ? AND id < ?))`);
        params.push(t, t, id);
      }
      const rows = env.store.query<
        {
          id: number;
          time: number;
          raised_at: number;
          kind: string;
          severity: string;
          subject: string;
          details: string;
          repeats: number;
        }
      >(
        `SELECT id, time, raised_at, kind, severity, subject, details, repeats FROM alerts ${
          where.length ? `WHERE ${where.join(" AND ")}` : ""
        } ORDER BY ${timeColumn} DESC, id DESC LIMIT ?`,
        ...params,
        args.limit + 1,
      );
      const more = rows.length > args.limit;
      if (more) rows.length = args.limit;
      // Times read like the daily files: in the configured zone, with its offset.
      const clock = new ZonedClock(env.config.log.timezone || undefined);
      const page: Page = {
        rows: rows.map((r) => ({
          time: clock.stamp(new Date(r.time)).timestamp,
          raised: clock.stamp(new Date(r.raised_at)).timestamp,
          kind: r.kind,
          severity: r.severity,
          subject: r.subject,
          repeats: r.repeats,
          details: JSON.parse(r.details),
        })),
      };
      const last = rows[rows.length - 1];
      if (more && last) {
        page.next_cursor = encodeCursor([
          args.by === "event" ? last.time : last.raised_at,
          last.id,
        ]);
      }
      return page;
    },
  }),
];

/** Every verb of a daemon made of `modules`, with the help lines of their groups. */
export interface VerbCatalogue {
  /** Every verb: the daemon's own, then each module's. */
  verbs: VerbSpec<unknown, unknown>[];
  /** Help lines of verb groups (`deny`, `zone`, ...). */
  groups: Record<string, string>;
}

/** The verbs of a daemon made of `modules`. */
export function verbCatalogue(modules: readonly ComponentModule[]): VerbCatalogue {
  const verbs: VerbSpec<unknown, unknown>[] = [...coreVerbs];
  const groups: Record<string, string> = {};
  for (const m of modules) {
    verbs.push(...(m.verbs ?? []));
    Object.assign(groups, m.verbGroups);
  }
  return { verbs, groups };
}

/** The least role each verb needs; a verb not in the catalogue needs `admin`. */
export function verbRoles(catalogue: VerbCatalogue): (verb: string) => "read" | "admin" {
  const roles = new Map(catalogue.verbs.map((v) => [v.name, v.role]));
  return (verb) => roles.get(verb) ?? "admin";
}
