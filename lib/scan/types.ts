/**
 * The shape of one scan's result (`vigia analyse --json` prints it; the store
 * keeps it as JSON). Field names are stable: scripts read them.
 *
 * @module
 */

import type { UtmCell } from "../geo/mod.ts";
import type { Autocorrelation, FluxScores, NameAnalysis } from "./metrics.ts";

/** Finding levels, most severe first (Zonemaster's names). */
export const LEVELS = ["ERROR", "WARNING", "NOTICE", "INFO"] as const;
/** One of {@linkcode LEVELS}. */
export type Level = typeof LEVELS[number];

/** One fault-tolerance finding. */
export interface Finding {
  /** How serious it is. */
  level: Level;
  /** Stable code, e.g. `ADDRESS_SINGLE`. */
  code: string;
  /** One human sentence with the facts. */
  message: string;
}

/** One service or name-server address with what is known about it. */
export interface AddressInfo {
  /** The address. */
  ip: string;
  /** Record type it came from. */
  type: "A" | "AAAA";
  /** Smallest TTL seen for it, seconds. */
  ttl: number;
  /** Its /24 (IPv4) or /48 (IPv6) prefix. */
  prefix: string;
  /** Resolvers (`IP:PORT`) that returned it. */
  resolvers: string[];
  /** Rounds in which some resolver returned it. */
  rounds: number;
  /** Autonomous system number, null when unknown. */
  asn: number | null;
  /** AS organisation. */
  asOrg: string | null;
  /** ISO country code. */
  countryCode: string | null;
  /** Country name (English). */
  countryName: string | null;
  /** City name (English). */
  city: string | null;
  /** Latitude, degrees. */
  latitude: number | null;
  /** Longitude, degrees. */
  longitude: number | null;
  /** Accuracy radius, km. */
  accuracyRadius: number | null;
  /** IANA time zone of the location. */
  timeZone: string | null;
  /** UTC offset of the time zone at scan time, `±HHMM`. */
  utcOffsetNow: string | null;
  /** UTC offset of the time zone on 2012-01-01 (the original's reference date), `±HHMM`. */
  utcOffset2012: string | null;
  /** UTM zone and latitude band (correct order of latitude and longitude). */
  utm: UtmCell | null;
  /** MGRS reference at 1 m precision. */
  mgrs: string | null;
  /** FFanalyse's numeric values of this location. */
  values: {
    /** Time zone value (|offset on 2012-01-01| as HHMM × 100; 0 for no zone). */
    timeZone: number;
    /** UTM value: zone × band letter code (true cell). */
    utm: number | null;
    /** The UTM value the original printed: computed with latitude and longitude swapped. */
    utmOriginal: number | null;
    /** MGRS value: zone × (band code + first square letter code) × digits. */
    mgrs: number | null;
  };
}

/** What one resolver did over all rounds. */
export interface ResolverOutcome {
  /** `IP:PORT`. */
  server: string;
  /** Rounds it answered. */
  answered: number;
  /** Rounds it failed (timeout, network, malformed, mismatch). */
  failed: number;
  /** Response code of its last answer. */
  rcode: string | null;
  /** Its last error, when any round failed. */
  error: string | null;
  /** Every address it returned, over all rounds, sorted. */
  addresses: string[];
  /** Mean round-trip time of its answers, ms. */
  rttMs: number | null;
  /** Whether its address set changed between rounds. */
  rotated: boolean;
}

/** One name server of the zone. */
export interface NameServerInfo {
  /** Its name. */
  name: string;
  /** Its addresses, with prefix and AS. */
  addresses: Pick<AddressInfo, "ip" | "type" | "prefix" | "asn" | "asOrg" | "countryCode">[];
  /** Why its addresses are unknown, when they are. */
  error: string | null;
}

/** Counts of the FFanalyse table, plus name servers. */
export interface ScanCounts {
  /** Distinct IPv4 addresses. */
  aRecords: number;
  /** Distinct IPv6 addresses. */
  aaaaRecords: number;
  /** Distinct /24 and /48 prefixes. */
  ranges: number;
  /** Distinct known ASNs. */
  asns: number;
  /** Distinct known countries. */
  countries: number;
  /** Distinct known cities. */
  cities: number;
  /** Distinct addresses, IPv4 and IPv6. */
  numServers: number;
  /** Name servers of the zone. */
  nameServers: number;
  /** Distinct name-server addresses. */
  nameServerAddresses: number;
}

/** Spatial autocorrelation of the three values and their product. */
export interface SpatialStats {
  /** Addresses with a latitude and longitude (the N of the statistics). */
  located: number;
  /** Addresses without a location (left out, unlike the original). */
  unlocated: number;
  /** Of the time zone values. */
  timeZone: Autocorrelation;
  /** Of the UTM values. */
  utm: Autocorrelation;
  /** Of the MGRS values. */
  mgrs: Autocorrelation;
  /** Product of the three (the original's "Combined"). */
  combined: Autocorrelation;
}

/** Everything one scan of one domain found. */
export interface ScanResult {
  /** Format version of this object. */
  version: 1;
  /** The domain scanned (lower case, no trailing dot). */
  domain: string;
  /** When the scan started, ISO 8601. */
  startedAt: string;
  /** How long it took, ms. */
  durationMs: number;
  /** Resolution rounds run. */
  rounds: number;
  /** Whether at least one resolver answered. */
  resolved: boolean;
  /** The answering resolvers' response code (NOERROR when any gave addresses). */
  rcode: string | null;
  /** CNAME targets followed. */
  cnames: string[];
  /** Smallest TTL of the addresses, seconds. */
  ttl: number | null;
  /** Per resolver. */
  resolvers: ResolverOutcome[];
  /** Distinct service addresses, IPv4 first, each sorted. */
  addresses: AddressInfo[];
  /** Zone apex the name belongs to. */
  zone: string | null;
  /** The zone's name servers. */
  nameServers: NameServerInfo[];
  /** Why the name servers are unknown, when they are. */
  nameServerError: string | null;
  /** The FFanalyse table's counts. */
  counts: ScanCounts;
  /** The distinct values behind the counts. */
  lists: {
    /** Prefixes. */
    ranges: string[];
    /** ASNs with organisation and address count. */
    asns: { asn: number; org: string | null; addresses: number }[];
    /** Countries with address count. */
    countries: { code: string; name: string | null; addresses: number }[];
    /** Cities with address count. */
    cities: { city: string; countryCode: string | null; addresses: number }[];
  };
  /** Fast-flux classifiers. */
  flux: FluxScores;
  /** Moran's I and Geary's C. */
  spatial: SpatialStats;
  /** Character entropy of the name. */
  name: NameAnalysis;
  /** Fault-tolerance findings, most severe first. */
  findings: Finding[];
  /** The most severe finding level, or null when there are none. */
  worst: Level | null;
  /** Problems with the scan itself (missing geo database, deadline hit). */
  warnings: string[];
}
