/**
 * Branch server selection: the client's source address (or the address
 * `client_map` puts in its place) → country and continent from the GeoLite2
 * City/Country database → the ordered branch list configured for the
 * country (ISO code, else English name), else for the continent, else the
 * root server's own address.
 *
 * @example
 * ```ts ignore
 * const dir = new BranchDirectory(config.veridns, geo);
 * dir.lookup("81.2.69.142"); // { addresses: [...], match: "country", country: "GB", ... }
 * ```
 *
 * @module
 */

import type { GeoDb } from "../geo/mod.ts";
import { CidrSet, parseCidr } from "../net/mod.ts";
import { ipv4ToNumber } from "./codec.ts";

/** The part of `[veridns]` this module reads. */
export interface BranchConfig {
  /** Country (ISO code or English name) → ordered IPv4 list. */
  branches: Record<string, string[]>;
  /** Continent code → ordered IPv4 list. */
  continent_branches: Record<string, string[]>;
  /** Client CIDR → address to geolocate instead. */
  client_map: Record<string, string>;
  /** The root server's own IPv4 address. */
  root_address: string;
}

/** The branch answer for one client. */
export interface BranchChoice {
  /** Ordered branch addresses as u32 IPv4 numbers. */
  addresses: number[];
  /** Which table matched. */
  match: "country" | "continent" | "root";
  /** The address that was geolocated (after `client_map`). */
  geoAddress: string;
  /** ISO country code found, if any. */
  country?: string;
  /** Continent code found, if any. */
  continent?: string;
}

/** Removes the IPv4-mapped prefix a dual-stack socket reports (`::ffff:1.2.3.4`). */
export function plainClientAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

function toNumbers(list: string[]): number[] {
  return list.map(ipv4ToNumber).filter((n) => n >= 0);
}

/** Branch lists indexed for lookups by country and continent. */
export class BranchDirectory {
  readonly #byCountry = new Map<string, number[]>();
  readonly #byContinent = new Map<string, number[]>();
  readonly #clientMap: { set: CidrSet; prefix: number; address: string }[];
  readonly #root: number[];
  readonly #geo: GeoDb | undefined;

  constructor(config: BranchConfig, geo: GeoDb | undefined) {
    // Names and codes are matched without regard to case: "hong kong" = "Hong Kong", "br" = "BR".
    for (const [k, v] of Object.entries(config.branches)) {
      this.#byCountry.set(k.trim().toUpperCase(), toNumbers(v));
    }
    for (const [k, v] of Object.entries(config.continent_branches)) {
      this.#byContinent.set(k.trim().toUpperCase(), toNumbers(v));
    }
    // Longest prefix first, so a /32 override beats the /8 around it.
    this.#clientMap = Object.entries(config.client_map)
      .map(([cidr, address]) => ({
        set: new CidrSet([cidr]),
        prefix: parseCidr(cidr)?.prefix ?? 0,
        address,
      }))
      .sort((a, b) => b.prefix - a.prefix);
    this.#root = toNumbers([config.root_address]);
    this.#geo = geo;
  }

  /** The address geolocated for `client` (the `client_map` target, or the client itself). */
  geoAddressOf(client: string): string {
    const plain = plainClientAddress(client);
    for (const m of this.#clientMap) if (m.set.has(plain)) return m.address;
    return plain;
  }

  /** Chooses the branch list for a client address. */
  lookup(client: string): BranchChoice {
    const geoAddress = this.geoAddressOf(client);
    const info = this.#geo?.lookup(geoAddress) ?? {};
    const country = info.countryCode;
    const continent = info.continentCode;
    const byCode = country ? this.#byCountry.get(country.toUpperCase()) : undefined;
    const byName = info.countryName
      ? this.#byCountry.get(info.countryName.toUpperCase())
      : undefined;
    const countryList = byCode ?? byName;
    if (countryList && countryList.length > 0) {
      return { addresses: countryList, match: "country", geoAddress, country, continent };
    }
    const continentList = continent ? this.#byContinent.get(continent.toUpperCase()) : undefined;
    if (continentList && continentList.length > 0) {
      return { addresses: continentList, match: "continent", geoAddress, country, continent };
    }
    return { addresses: this.#root, match: "root", geoAddress, country, continent };
  }
}
