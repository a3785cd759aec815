/**
 * The sniffer's policy lists: unauthorized DNS servers and MACs (config plus
 * the `deny_dns` / `deny_macs` tables edited by `ctl deny`), and the allowed
 * DHCP servers (config only). Built once into lookup structures; rebuilt
 * when a deny verb changes a table.
 *
 * @module
 */

import { CidrSet, formatCidr, parseCidr, parseIp, parseMac } from "../net/mod.ts";
import type { Store } from "../store/mod.ts";
import { macToInt } from "./codec.ts";
import type { SnifferConfig } from "./config.ts";

/** One entry of a deny list, with where it comes from. */
export interface DenyEntry {
  /** Normalised value: CIDR/IP for DNS, `aa:bb:cc:dd:ee:ff` for MACs. */
  value: string;
  /** "config" (the config file) or "ctl" (added with `ctl deny ... add`). */
  source: "config" | "ctl";
  /** When it was added with ctl, ISO time. */
  added_at?: string;
}

/** Normalises a DNS deny value: a bare address stays an address, a range becomes `NET/LEN`. */
export function normaliseDnsValue(text: string): string | null {
  const c = parseCidr(text.trim());
  if (!c) return null;
  const text2 = formatCidr(c);
  return c.prefix === c.bytes.length * 8 ? text2.slice(0, text2.lastIndexOf("/")) : text2;
}

/** The deny lists as stored plus configured, each entry once. */
export function denyLists(
  store: Store,
  section: Pick<SnifferConfig, "unauthorized_dns" | "unauthorized_macs">,
): { dns: DenyEntry[]; macs: DenyEntry[] } {
  const dns = new Map<string, DenyEntry>();
  for (const v of section.unauthorized_dns) {
    const n = normaliseDnsValue(v);
    if (n) dns.set(n, { value: n, source: "config" });
  }
  for (
    const r of store.query<{ value: string; added_at: number }>(
      "SELECT value, added_at FROM deny_dns ORDER BY value",
    )
  ) {
    if (!dns.has(r.value)) {
      dns.set(r.value, {
        value: r.value,
        source: "ctl",
        added_at: new Date(r.added_at).toISOString(),
      });
    }
  }
  const macs = new Map<string, DenyEntry>();
  for (const v of section.unauthorized_macs) {
    const m = parseMac(v);
    if (m) macs.set(m, { value: m, source: "config" });
  }
  for (
    const r of store.query<{ mac: string; added_at: number }>(
      "SELECT mac, added_at FROM deny_macs ORDER BY mac",
    )
  ) {
    if (!macs.has(r.mac)) {
      macs.set(r.mac, {
        value: r.mac,
        source: "ctl",
        added_at: new Date(r.added_at).toISOString(),
      });
    }
  }
  return { dns: [...dns.values()], macs: [...macs.values()] };
}

/** Lookup structures for the hot path. */
export class Policy {
  /** Unauthorized DNS servers. */
  deniedDns: CidrSet;
  /** Unauthorized MACs as 48-bit integers. */
  deniedMacs: Set<number>;
  /** Allowed DHCP server IPs (text, normalised) — empty set with `allowedDhcpMacs` empty means no check. */
  readonly allowedDhcpIps: Set<string>;
  /** Allowed DHCP server MACs as integers. */
  readonly allowedDhcpMacs: Set<number>;
  /** True when `allowed_dhcp_servers` is non-empty. */
  readonly dhcpCheck: boolean;
  /** How many times the deny lists were loaded. */
  generation = 0;

  constructor(
    section: Pick<SnifferConfig, "unauthorized_dns" | "unauthorized_macs" | "allowed_dhcp_servers">,
    store?: Store,
  ) {
    this.deniedDns = new CidrSet([]);
    this.deniedMacs = new Set();
    this.allowedDhcpIps = new Set();
    this.allowedDhcpMacs = new Set();
    for (const v of section.allowed_dhcp_servers) {
      const ip = parseIp(v);
      if (ip) this.allowedDhcpIps.add(normaliseDnsValue(v)!);
      else {
        const m = parseMac(v);
        if (m) this.allowedDhcpMacs.add(macToInt(m)!);
      }
    }
    this.dhcpCheck = this.allowedDhcpIps.size + this.allowedDhcpMacs.size > 0;
    this.reload(section, store);
  }

  /** Rebuilds the deny lists from the config and (when given) the store. */
  reload(
    section: Pick<SnifferConfig, "unauthorized_dns" | "unauthorized_macs">,
    store?: Store,
  ): void {
    const lists = store ? denyLists(store, section) : {
      dns: section.unauthorized_dns.map((v) => ({ value: normaliseDnsValue(v) ?? v })),
      macs: section.unauthorized_macs.map((v) => ({ value: parseMac(v) ?? v })),
    };
    this.deniedDns = new CidrSet(lists.dns.map((e) => e.value));
    this.deniedMacs = new Set(
      lists.macs.map((e) => macToInt(e.value)).filter((n): n is number => n !== null),
    );
    this.generation++;
  }

  /** True when the DHCP server (by server identifier, source IP or source MAC) is allowed. */
  dhcpServerAllowed(serverId: string | undefined, srcIp: string, srcMac: number | null): boolean {
    if (!this.dhcpCheck) return true;
    if (srcMac !== null && this.allowedDhcpMacs.has(srcMac)) return true;
    if (this.allowedDhcpIps.has(srcIp)) return true;
    return serverId !== undefined && this.allowedDhcpIps.has(serverId);
  }
}
