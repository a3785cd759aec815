/**
 * UTM grid zone and latitude band of a WGS84 position, with the Norway
 * (32V) and Svalbard (31X–37X) exceptions. Outside 80°S–84°N the UTM grid
 * does not apply (polar stereographic instead) and the result is null.
 *
 * @module
 */

/** A UTM grid zone designation such as 25L. */
export interface UtmCell {
  /** Zone number 1–60. */
  zone: number;
  /** Latitude band letter C–X (without I and O). */
  band: string;
}

const BANDS = "CDEFGHJKLMNPQRSTUVWX";

/** The latitude band letter for `lat`, or null outside 80°S–84°N. */
export function utmBand(lat: number): string | null {
  if (!Number.isFinite(lat) || lat < -80 || lat > 84) return null;
  // Band X spans 72°N–84°N (12°), so 84 itself still falls in X.
  return BANDS[Math.min(Math.floor((lat + 80) / 8), 19)];
}

/**
 * The UTM zone and band of (`lat`, `lon`) in degrees, or null outside the UTM
 * latitude range or for non-finite input.
 *
 * @example
 * ```ts
 * import { utmCell } from "./utm.ts";
 * utmCell(-8.05, -34.9); // { zone: 25, band: "L" } (Recife)
 * ```
 */
export function utmCell(lat: number, lon: number): UtmCell | null {
  const band = utmBand(lat);
  if (band === null || !Number.isFinite(lon)) return null;
  // Normalise longitude to [-180, 180); 180°E is the western edge of zone 1.
  const l = ((((lon + 180) % 360) + 360) % 360) - 180;
  let zone = Math.floor((l + 180) / 6) + 1;
  if (band === "V" && l >= 3 && l < 12) zone = 32;
  if (band === "X" && l >= 0 && l < 42) {
    if (l < 9) zone = 31;
    else if (l < 21) zone = 33;
    else if (l < 33) zone = 35;
    else zone = 37;
  }
  return { zone, band };
}

/**
 * FFanalyse's UTM value: zone number × character code of the band letter
 * (Recife 25 × 'L' = 1900). Null when the position has no UTM cell.
 */
export function utmValue(cell: UtmCell | null): number | null {
  return cell ? cell.zone * cell.band.charCodeAt(0) : null;
}
