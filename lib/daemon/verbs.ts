/**
 * Control verbs the daemon answers itself: status, reload, stop, stats and
 * alerts. Component verbs come from their modules.
 *
 * @module
 */

import { ZonedClock } from "../daylog/mod.ts";
import type { VerbHandler } from "./types.ts";
import { VerbError } from "./types.ts";

/** What the core verbs need from the daemon. */
export interface DaemonHandle {
  status(): Record<string, unknown>;
  stats(): Record<string, unknown>;
  reload(): Promise<unknown>;
  stop(reason?: string): Promise<void>;
}

/** Parses an absolute ISO time or a relative age like `90m`, `2h`, `7d` into ms since the epoch. */
export function parseTimeArg(text: unknown, name: string): number | undefined {
  if (text === undefined || text === null || text === "") return undefined;
  const s = String(text).trim();
  const rel = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(s);
  if (rel) {
    const unit =
      { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as "s" | "m" | "h" | "d"];
    return Date.now() - Number(rel[1]) * unit;
  }
  const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00` : s);
  if (Number.isNaN(t)) {
    throw new VerbError(
      `--${name} must be an ISO time (2026-11-21T10:00) or an age like 90m, 2h, 7d: got "${s}"`,
    );
  }
  return t;
}

/** Parses a positive integer limit with a default and a cap. */
export function parseLimit(value: unknown, fallback: number, max = 10_000): number {
  if (value === undefined || value === null || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new VerbError(`--limit must be an integer from 1 to ${max}: got "${value}"`);
  }
  return n;
}

/** The core verbs bound to a daemon. */
export function coreVerbs(daemon: DaemonHandle): Record<string, VerbHandler> {
  return {
    status: () => daemon.status(),
    stats: () => daemon.stats(),
    reload: () => daemon.reload(),
    stop: () => {
      // Answer first, then stop: the client gets its reply before the socket goes away.
      setTimeout(() => void daemon.stop("ctl stop"), 20);
      return { stopping: true };
    },
    alerts: (args, env) => {
      const since = parseTimeArg(args.since, "since");
      const limit = parseLimit(args.limit, 100);
      // --since means "raised since" unless asked for the event's own time (a packet's, for ingest).
      const by = args.by === undefined || args.by === "" ? "raised" : String(args.by);
      if (by !== "raised" && by !== "event") {
        throw new VerbError(`--by must be "raised" or "event": got "${by}"`);
      }
      const timeColumn = by === "raised" ? "raised_at" : "time";
      const where: string[] = [];
      const params: (string | number)[] = [];
      if (since !== undefined) {
        where.push(`${timeColumn} >= ?`);
        params.push(since);
      }
      if (args.kind) {
        where.push("kind = ?");
        params.push(String(args.kind));
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
        limit,
      );
      // Times read like the daily files: in the configured zone, with its offset.
      const clock = new ZonedClock(env.config.log?.timezone || undefined);
      return rows.map((r) => ({
        time: clock.stamp(new Date(r.time)).timestamp,
        raised: clock.stamp(new Date(r.raised_at)).timestamp,
        kind: r.kind,
        severity: r.severity,
        subject: r.subject,
        repeats: r.repeats,
        details: JSON.parse(r.details),
      }));
    },
  };
}
