/**
 * Control verbs of the sniffer: `logs`, `devices`, `captures`, `captures
 * del`, `deny dns add|del|list`, `deny mac add|del|list`.
 *
 * @module
 */

import { type VerbEnv, VerbError, verbsOf, type VerbSpec } from "../daemon/types.ts";
import { parseMac } from "../net/mod.ts";
import type { Sniffer } from "./component.ts";
import type { SnifferConfig } from "./config.ts";
import { denyLists, normaliseDnsValue } from "./policy.ts";
import { deviceArgs, devicesPage, logArgs, logQuery, logsPageOf } from "./queries.ts";
import { eventsDbPath, EventsReader, openEventsDb, type Reader } from "./events_db.ts";
import { deleteCapture, getCapture, listCaptures, presentCapture } from "./captures.ts";
import { ZonedClock } from "../daylog/mod.ts";

/** What the verbs use of a running sniffer. */
export type SnifferControl = Pick<
  Sniffer,
  "reloadPolicy" | "flushEvents" | "eventsReader" | "deleteCapture"
>;

const verb = verbsOf<SnifferConfig, SnifferControl>();

/** Runs `read` with the running sniffer's events reader, or one opened for this request. */
function withEvents<T>(
  env: VerbEnv<SnifferConfig, SnifferControl>,
  read: (reader: Reader) => T,
): T {
  const running = env.running();
  if (running) return read(running.eventsReader());
  const reader = new EventsReader(eventsDbPath(env.store));
  try {
    return read(reader);
  } finally {
    reader.close();
  }
}

const captureId = {
  id: {
    type: "integer",
    positional: true,
    required: true,
    describe: "capture id (vigia ctl captures lists them)",
    max: Number.MAX_SAFE_INTEGER,
  },
} as const;

function captureVerbs(): VerbSpec<SnifferConfig, SnifferControl>[] {
  return [
    verb({
      name: "captures",
      describe: "recorded ingests: file, SHA-256, link type, packets, events, times",
      role: "read",
      output: "list",
      run: (_args, env) => {
        const clock = new ZonedClock(env.config.log.timezone || undefined);
        return withEvents(env, (r) => listCaptures(r).map((c) => presentCapture(c, clock)));
      },
    }),
    verb({
      name: "captures del",
      describe: "delete one ingest's events and its record",
      role: "admin",
      output: "document",
      args: captureId,
      run: async (args, env) => {
        const c = withEvents(env, (r) => getCapture(r, args.id));
        if (!c) throw new VerbError(`no capture ${args.id} (vigia ctl captures lists them)`);
        if (c.state === "running") {
          throw new VerbError(
            `capture ${args.id} (${c.path}) is still being ingested; delete it once that ingest has ended`,
          );
        }
        const running = env.running();
        let deleted: number;
        if (running) {
          deleted = await running.deleteCapture(args.id);
        } else {
          const db = openEventsDb(eventsDbPath(env.store));
          try {
            deleted = deleteCapture(db, args.id);
          } finally {
            db.close();
          }
        }
        if (deleted < 0) throw new VerbError(`no capture ${args.id} (deleted meanwhile)`);
        env.log.info("capture deleted", { capture: args.id, path: c.path, events: deleted });
        return { capture: args.id, path: c.path, deleted: true, events: deleted };
      },
    }),
  ];
}

function denyVerbs(kind: "dns" | "mac"): VerbSpec<SnifferConfig, SnifferControl>[] {
  const table = kind === "dns" ? "deny_dns" : "deny_macs";
  const col = kind === "dns" ? "value" : "mac";
  const configKey = kind === "dns" ? "unauthorized_dns" : "unauthorized_macs";
  const what = kind === "dns" ? "DNS server" : "MAC";
  const normalise = (text: string): string => {
    const n = kind === "dns" ? normaliseDnsValue(text) : parseMac(text);
    if (!n) {
      throw new VerbError(
        kind === "dns"
          ? `"${text}" is not an IP address or CIDR range (like 203.0.113.53 or 198.51.100.0/24)`
          : `"${text}" is not a MAC address (like aa:bb:cc:dd:ee:ff)`,
      );
    }
    return n;
  };
  const list = (env: VerbEnv<SnifferConfig, SnifferControl>) => {
    const lists = denyLists(env.store, env.section);
    return kind === "dns" ? lists.dns : lists.macs;
  };
  const value = {
    value: {
      type: "string",
      positional: true,
      required: true,
      describe: kind === "dns" ? "IP address or CIDR range" : "MAC address",
    },
  } as const;
  return [
    verb({
      name: `deny ${kind} add`,
      describe: `add an unauthorized ${what}`,
      role: "admin",
      output: "document",
      args: value,
      run: (args, env) => {
        const v = normalise(args.value);
        const existing = list(env).find((e) => e.value === v);
        if (existing) {
          return { value: v, added: false, reason: `already listed (${existing.source})` };
        }
        env.store.run(`INSERT INTO ${table} (${col}, added_at) VALUES (?, ?)`, v, Date.now());
        env.running()?.reloadPolicy();
        env.log.info(`unauthorized ${what} added`, { value: v });
        return { value: v, added: true };
      },
    }),
    verb({
      name: `deny ${kind} del`,
      describe: "remove it",
      role: "admin",
      output: "document",
      args: value,
      run: (args, env) => {
        const v = normalise(args.value);
        const removed = env.store.run(`DELETE FROM ${table} WHERE ${col} = ?`, v).changes;
        if (removed === 0) {
          const inConfig = list(env).some((e) => e.value === v && e.source === "config");
          throw new VerbError(
            inConfig
              ? `${v} comes from the config file (sniffer.${configKey}); remove it there and run vigia ctl reload`
              : `${v} is not on the unauthorized ${what} list`,
          );
        }
        env.running()?.reloadPolicy();
        env.log.info(`unauthorized ${what} removed`, { value: v });
        return { value: v, removed: true };
      },
    }),
    verb({
      name: `deny ${kind} list`,
      describe: "list them",
      role: "read",
      output: "list",
      run: (_args, env) => list(env),
    }),
  ];
}

/** Every verb of the sniffer module. */
export const snifferVerbs: VerbSpec<SnifferConfig, SnifferControl>[] = [
  verb({
    name: "logs",
    describe: "logged DNS/DHCP events",
    role: "read",
    output: "paged",
    args: logArgs,
    run: async (args, env) => {
      await env.running()?.flushEvents();
      const timeZone = env.config.log.timezone || undefined;
      const query = logQuery(args, { timeZone });
      return withEvents(env, (reader) => logsPageOf(reader, query, { timeZone }));
    },
  }),
  verb({
    name: "devices",
    describe: "every MAC seen, with vendor, IPs, first/last seen",
    role: "read",
    output: "paged",
    args: deviceArgs,
    run: async (args, env) => {
      await env.running()?.flushEvents();
      return devicesPage(env.store, args, { timeZone: env.config.log.timezone || undefined });
    },
  }),
  ...captureVerbs(),
  ...denyVerbs("dns"),
  ...denyVerbs("mac"),
];

/** Help lines of the sniffer's verb groups. */
export const snifferVerbGroups: Record<string, string> = {
  deny: "unauthorized DNS servers and MACs",
  "deny dns": "unauthorized DNS servers",
  "deny mac": "unauthorized MACs",
};
