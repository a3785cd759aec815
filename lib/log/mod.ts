/**
 * The daemon's own log on stderr: one line per event. Under systemd
 * (`JOURNAL_STREAM` set) each line starts with a `<N>` syslog priority that
 * journald understands and no timestamp (journald adds its own); otherwise
 * an ISO timestamp and the level in words.
 *
 * @example
 * ```ts
 * import { createLogger } from "./mod.ts";
 * const log = createLogger({ level: "info" }).child("dns");
 * log.info("listening", { address: "127.0.0.1:5300" });
 * // 2026-11-21T23:59:01.123Z info dns: listening address=127.0.0.1:5300
 * ```
 *
 * @module
 */

/** Levels from most to least verbose. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
// syslog(3) priorities: debug 7, info 6, warning 4, err 3.
const SYSLOG: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };

/** Structured values appended as `key=value`. */
export type LogContext = Record<string, unknown>;

/** A logger bound to a component name. */
export interface Logger {
  /** Verbose detail for troubleshooting. */
  debug(message: string, context?: LogContext): void;
  /** Normal operation events. */
  info(message: string, context?: LogContext): void;
  /** Something is wrong but work goes on. */
  warn(message: string, context?: LogContext): void;
  /** Something failed. */
  error(message: string, context?: LogContext): void;
  /** A logger for a sub-component, named `parent.child` or `child`. */
  child(name: string): Logger;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lowest level printed. @default "info" */
  level?: LogLevel;
  /** Use `<N>` journald prefixes. @default true when `JOURNAL_STREAM` is set */
  journal?: boolean;
  /** Where lines go. @default stderr */
  write?: (line: string) => void;
}

function formatValue(v: unknown): string {
  if (v instanceof Error) v = v.message;
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return /[\s"=]/.test(s ?? "") ? JSON.stringify(s) : String(s);
}

/** Creates the root logger. */
export function createLogger(
  options: LoggerOptions = {},
): Logger & { setLevel(l: LogLevel): void } {
  let journal = options.journal;
  if (journal === undefined) {
    try {
      journal = Boolean(Deno.env.get("JOURNAL_STREAM"));
    } catch {
      journal = false;
    }
  }
  const enc = new TextEncoder();
  const write = options.write ?? ((line: string) => {
    try {
      Deno.stderr.writeSync(enc.encode(line + "\n"));
    } catch { /* stderr closed: nothing more to do */ }
  });
  let min = RANK[options.level ?? "info"];
  const make = (name: string): Logger => {
    const emit = (level: LogLevel, message: string, context?: LogContext) => {
      if (RANK[level] < min) return;
      let line = journal ? `<${SYSLOG[level]}>` : `${new Date().toISOString()} ${level} `;
      line += name ? `${name}: ${message}` : message;
      if (context) {
        for (const [k, v] of Object.entries(context)) {
          if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
        }
      }
      write(line.replace(/\n/g, "\\n"));
    };
    return {
      debug: (m, c) => emit("debug", m, c),
      info: (m, c) => emit("info", m, c),
      warn: (m, c) => emit("warn", m, c),
      error: (m, c) => emit("error", m, c),
      child: (sub) => make(name ? `${name}.${sub}` : sub),
    };
  };
  return Object.assign(make(""), { setLevel: (l: LogLevel) => (min = RANK[l]) });
}
