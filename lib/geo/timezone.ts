/**
 * UTC offsets of IANA time zones at given instants (through Intl, so DST
 * rules and historical changes come from the runtime's tz database), and
 * FFanalyse's time zone value.
 *
 * @module
 */

const formatters = new Map<string, Intl.DateTimeFormat | null>();

function formatter(timeZone: string): Intl.DateTimeFormat | null {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" });
    } catch {
      f = null; // not a zone this runtime knows
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * Minutes east of UTC of `timeZone` at `at` (−180 for America/Recife), or
 * null for an unknown zone name.
 */
export function utcOffsetMinutes(timeZone: string, at: Date): number | null {
  const f = formatter(timeZone);
  if (!f) return null;
  const part = f.formatToParts(at).find((p) => p.type === "timeZoneName")?.value ?? "";
  // "GMT" alone means +00:00; otherwise "GMT+05:30" / "GMT-03:00".
  const m = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(part);
  if (!m) return null;
  if (!m[1]) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === "-" ? -minutes : minutes;
}

/** Formats an offset in minutes as `±HHMM` (`-0300`, `+0530`). */
export function formatUtcOffset(minutes: number): string {
  const sign = minutes < 0 ? "-" : "+";
  const a = Math.abs(minutes);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, "0")}${String(a % 60).padStart(2, "0")}`;
}

/** The instant FFanalyse's time zone values refer to. */
export const TIME_ZONE_VALUE_DATE = new Date("2012-01-01T12:00:00Z");

/**
 * FFanalyse's time zone value: the zone's UTC offset on 2012-01-01 as ±HHMM,
 * sign dropped, × 100 (America/Recife −0300 → 30000, Asia/Kolkata +0530 →
 * 53000). No zone, or an unknown one, counts as GMT → 0.
 */
export function timeZoneValue(timeZone: string | undefined | null): number {
  if (!timeZone) return 0;
  const off = utcOffsetMinutes(timeZone, TIME_ZONE_VALUE_DATE);
  if (off === null) return 0;
  const a = Math.abs(off);
  return (Math.floor(a / 60) * 100 + (a % 60)) * 100;
}
