/**
 * Local dates and ISO-8601 timestamps with offset in a fixed IANA zone, as
 * the daily files write them.
 *
 * @module
 */

/**
 * Turns instants into local dates and ISO-8601 timestamps with offset in a
 * fixed IANA zone. Offsets are cached per hour because formatting through
 * Intl for every packet would dominate the hot path.
 */
export class ZonedClock {
  readonly #fmt: Intl.DateTimeFormat;
  #hourStart = NaN;
  #offsetMin = 0;
  #offsetText = "Z";

  /** A clock of `timeZone` (IANA name); undefined for the host's zone. */
  constructor(timeZone?: string) {
    this.#fmt = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
  }

  /** UTC offset in minutes at `time`. */
  offsetMinutes(time: Date): number {
    const t = time.getTime();
    const hour = Math.floor(t / 900_000); // quarter-hours: some zones switch on :30 and :45
    if (hour !== this.#hourStart) {
      this.#hourStart = hour;
      const parts = this.#fmt.formatToParts(new Date(hour * 900_000));
      const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
      const asUtc = Date.UTC(
        get("year"),
        get("month") - 1,
        get("day"),
        get("hour"),
        get("minute"),
        get("second"),
      );
      this.#offsetMin = Math.round((asUtc - hour * 900_000) / 60_000);
      const sign = this.#offsetMin < 0 ? "-" : "+";
      const abs = Math.abs(this.#offsetMin);
      this.#offsetText = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${
        String(abs % 60).padStart(2, "0")
      }`;
    }
    return this.#offsetMin;
  }

  /** Local day and full timestamp (`2026-11-21T20:59:01.123-03:00`). */
  stamp(time: Date): { day: string; timestamp: string } {
    const off = this.offsetMinutes(time);
    const local = new Date(time.getTime() + off * 60_000).toISOString(); // ...Z shifted to local wall time
    return { day: local.slice(0, 10), timestamp: local.slice(0, 23) + this.#offsetText };
  }
}
