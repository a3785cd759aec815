/**
 * Geolocation from MaxMind DB files (GeoLite2/GeoIP2 City or Country, and
 * ASN) through `npm:maxmind`. A missing or unreadable database is not an
 * error: lookups return empty fields and `warnings` says why, once.
 *
 * @example
 * ```ts ignore
 * import { openGeo } from "./mod.ts";
 * const geo = await openGeo({ cityDb: "GeoLite2-City.mmdb", asnDb: "GeoLite2-ASN.mmdb" });
 * geo.lookup("81.2.69.142").countryCode; // "GB"
 * ```
 *
 * @module
 */

import maxmind, { type AsnResponse, type CityResponse, type Reader, type Response } from "maxmind";

/** What is known about one address; absent fields are unknown. */
export interface GeoInfo {
  /** ISO 3166-1 alpha-2 country code. */
  countryCode?: string;
  /** Country name in English. */
  countryName?: string;
  /** Continent code (AF, AN, AS, EU, NA, OC, SA). */
  continentCode?: string;
  /** City name in English. */
  city?: string;
  /** Latitude in degrees. */
  latitude?: number;
  /** Longitude in degrees. */
  longitude?: number;
  /** Accuracy radius in km. */
  accuracyRadius?: number;
  /** IANA time zone name. */
  timeZone?: string;
  /** Autonomous system number. */
  asn?: number;
  /** Autonomous system organisation. */
  asOrg?: string;
}

/** Options for {@linkcode openGeo}. */
export interface GeoOptions {
  /** GeoLite2/GeoIP2 City or Country database; empty to go without. */
  cityDb?: string;
  /** GeoLite2 ASN database; empty to go without. */
  asnDb?: string;
}

/** Open MaxMind readers. */
export class GeoDb {
  readonly #city: Reader<Response> | undefined;
  readonly #asn: Reader<Response> | undefined;
  /** Why a database is not in use, one sentence each. */
  readonly warnings: string[];

  /** Wraps open readers; use {@linkcode openGeo} rather than calling this. */
  constructor(
    city: Reader<Response> | undefined,
    asn: Reader<Response> | undefined,
    warnings: string[],
  ) {
    this.#city = city;
    this.#asn = asn;
    this.warnings = warnings;
  }

  /** True when a City or Country database is loaded. */
  get hasCity(): boolean {
    return this.#city !== undefined;
  }

  /** True when an ASN database is loaded. */
  get hasAsn(): boolean {
    return this.#asn !== undefined;
  }

  /** Looks an address up in both databases; invalid addresses give an empty result. */
  lookup(ip: string): GeoInfo {
    const out: GeoInfo = {};
    try {
      // A Country database answers the CityResponse fields it has.
      const c = this.#city?.get(ip) as CityResponse | null | undefined;
      if (c) {
        out.countryCode = c.country?.iso_code ?? c.registered_country?.iso_code;
        out.countryName = c.country?.names?.en ?? c.registered_country?.names?.en;
        out.continentCode = c.continent?.code;
        out.city = c.city?.names?.en;
        out.latitude = c.location?.latitude;
        out.longitude = c.location?.longitude;
        out.accuracyRadius = c.location?.accuracy_radius;
        out.timeZone = c.location?.time_zone;
      }
      const a = this.#asn?.get(ip) as AsnResponse | null | undefined;
      if (a) {
        out.asn = a.autonomous_system_number;
        out.asOrg = a.autonomous_system_organization;
      }
    } catch {
      // maxmind throws on text that is not an address; the caller gets "unknown".
    }
    return out;
  }
}

async function openReader(path: string | undefined, what: string, warnings: string[]) {
  if (!path) return undefined;
  try {
    // watchForUpdates is off: the daemon reopens on reload, which keeps file handles predictable.
    return await maxmind.open<Response>(path, { watchForUpdates: false });
  } catch (e) {
    warnings.push(
      `${what} database ${path} not usable (${(e as Error).message}); its fields stay empty`,
    );
    return undefined;
  }
}

/** Opens the configured databases; never throws for a missing file. */
export async function openGeo(options: GeoOptions): Promise<GeoDb> {
  const warnings: string[] = [];
  const city = await openReader(options.cityDb, "city", warnings);
  const asn = await openReader(options.asnDb, "ASN", warnings);
  return new GeoDb(city, asn, warnings);
}

export { utmBand, type UtmCell, utmCell, utmValue } from "./utm.ts";
export { mgrsReference, mgrsValue } from "./mgrs.ts";
export {
  formatUtcOffset,
  TIME_ZONE_VALUE_DATE,
  timeZoneValue,
  utcOffsetMinutes,
} from "./timezone.ts";
