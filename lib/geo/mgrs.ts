/**
 * MGRS grid references through `npm:mgrs`, and FFanalyse's numeric MGRS value.
 *
 * @module
 */

import mgrs from "mgrs";

/**
 * The MGRS reference of (`lat`, `lon`) at 1 m precision (`25LBM9061009688`),
 * or null where MGRS is undefined (polar regions, non-finite input).
 */
export function mgrsReference(lat: number, lon: number): string | null {
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return null;
  try {
    return mgrs.forward([lon, lat], 5);
  } catch {
    // npm:mgrs throws for latitudes outside 80°S–84°N (UPS territory).
    return null;
  }
}

/**
 * FFanalyse's MGRS value: zone number × (code of the band letter + code of the
 * first 100 km square letter) × the numeric part after the square letters.
 *
 * @example
 * ```ts
 * import { mgrsValue } from "./mgrs.ts";
 * mgrsValue("25LBM9061009688"); // 25 × (76 + 66) × 9061009688 = 32166584392400
 * ```
 */
export function mgrsValue(reference: string | null): number | null {
  if (!reference) return null;
  const m = /^(\d{1,2})([C-X])([A-Z])([A-Z])(\d*)$/.exec(reference);
  if (!m) return null;
  const digits = m[5] === "" ? 0 : Number(m[5]);
  return Number(m[1]) * (m[2].charCodeAt(0) + m[3].charCodeAt(0)) * digits;
}
