/**
 * Control verbs of the sniffer: `logs`, `devices`, `deny dns add|del|list`,
 * `deny mac add|del|list`.
 *
 * @module
 */

import { type VerbEnv, VerbError, verbsOf, type VerbSpec } from "../daemon/types.ts";
import { parseMac } from "../net/mod.ts";
import type { Sniffer } from "./component.ts";
import type { SnifferConfig } from "./config.ts";
import { denyLists, normaliseDnsValue } from "./policy.ts";
import { deviceArgs, devicesPage, logArgs, logQuery, logsPageOf } from "./queries.ts";
import { eventsDbPath, EventsReader } from "./events_db.ts";

/** What the verbs use of a running sniffer. */
export type SnifferControl = Pick<Sniffer, "reloadPolicy" | "flushEvents" | "eventsReader">;

const verb = verbsOf<SnifferConfig, SnifferControl>();

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
      const running = env.running();
      await running?.flushEvents();
      const timeZone = env.config.log.timezone || undefined;
      const query = logQuery(args, { timeZone });
      // The running sniffer's reader; with the sniffer down, one for this request.
      if (running) return logsPageOf(running.eventsReader(), query, { timeZone });
      const reader = new EventsReader(eventsDbPath(env.store));
      try {
        return logsPageOf(reader, query, { timeZone });
      } finally {
        reader.close();
      }
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
  ...denyVerbs("dns"),
  ...denyVerbs("mac"),
];

/** Help lines of the sniffer's verb groups. */
export const snifferVerbGroups: Record<string, string> = {
  deny: "unauthorized DNS servers and MACs",
  "deny dns": "unauthorized DNS servers",
  "deny mac": "unauthorized MACs",
};
