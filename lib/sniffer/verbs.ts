/**
 * Control verbs of the sniffer: `logs`, `devices`, `deny dns add|del|list`,
 * `deny mac add|del|list`.
 *
 * @module
 */

import { type Component, VerbError, type VerbHandler } from "../daemon/types.ts";
import { parseMac } from "../net/mod.ts";
import type { Store } from "../store/mod.ts";
import type { SnifferConfig } from "./config.ts";
import { denyLists, normaliseDnsValue } from "./policy.ts";
import { devicesPage, logsPage } from "./queries.ts";
import { eventsDbPath, eventsReader } from "./events_db.ts";

/** What the verbs need from a running sniffer (duck-typed through `env.running()`). */
export interface SnifferControl {
  /** Re-reads the deny lists. */
  reloadPolicy(): void;
  /** Writes every pending event row and device. */
  flushEvents(): Promise<void>;
}

function control(c: Component | undefined): SnifferControl | undefined {
  return c && "reloadPolicy" in c && "flushEvents" in c
    ? c as unknown as SnifferControl
    : undefined;
}

function sectionOf(config: Record<string, unknown>): SnifferConfig {
  return config.sniffer as SnifferConfig;
}

function requireValue(args: Record<string, unknown>, what: string): string {
  const v = args.value;
  if (v === undefined || v === null || String(v).trim() === "") {
    throw new VerbError(
      `name the ${what}: vigia ctl deny ${what === "MAC" ? "mac" : "dns"} add VALUE`,
    );
  }
  return String(v).trim();
}

function denyVerbs(kind: "dns" | "mac"): Record<string, VerbHandler> {
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
  const list = (store: Store, section: SnifferConfig) => {
    const lists = denyLists(store, section);
    return kind === "dns" ? lists.dns : lists.macs;
  };
  return {
    [`deny ${kind} add`]: (args, env) => {
      const value = normalise(requireValue(args, what));
      const section = sectionOf(env.config);
      const existing = list(env.store, section).find((e) => e.value === value);
      if (existing) {
        return { value, added: false, reason: `already listed (${existing.source})` };
      }
      env.store.run(`INSERT INTO ${table} (${col}, added_at) VALUES (?, ?)`, value, Date.now());
      control(env.running())?.reloadPolicy();
      env.log.info(`unauthorized ${what} added`, { value });
      return { value, added: true };
    },
    [`deny ${kind} del`]: (args, env) => {
      const value = normalise(requireValue(args, what));
      const removed = env.store.run(`DELETE FROM ${table} WHERE ${col} = ?`, value).changes;
      if (removed === 0) {
        const inConfig = list(env.store, sectionOf(env.config)).some((e) =>
          e.value === value && e.source === "config"
        );
        throw new VerbError(
          inConfig
            ? `${value} comes from the config file (sniffer.${configKey}); remove it there and run vigia ctl reload`
            : `${value} is not on the unauthorized ${what} list`,
        );
      }
      control(env.running())?.reloadPolicy();
      env.log.info(`unauthorized ${what} removed`, { value });
      return { value, removed: true };
    },
    [`deny ${kind} list`]: (_args, env) => list(env.store, sectionOf(env.config)),
  };
}

/** Every verb of the sniffer module. */
export const snifferVerbs: Record<string, VerbHandler> = {
  logs: async (args, env) => {
    await control(env.running())?.flushEvents();
    return logsPage(eventsReader(eventsDbPath(env.store)), args, {
      timeZone: env.config.log?.timezone,
    });
  },
  devices: async (args, env) => {
    await control(env.running())?.flushEvents();
    return devicesPage(env.store, args, { timeZone: env.config.log?.timezone });
  },
  ...denyVerbs("dns"),
  ...denyVerbs("mac"),
};
