/**
 * Value parsers used by the config schema. Address parsing lives in
 * `lib/net` so that components can share it; durations are config-only.
 *
 * @module
 */

export { parseCidr, parseHostPort, parseIp, parseMac } from "../net/mod.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `"500ms"`, `"30s"`, `"1h30m"` into milliseconds.
 * Returns NaN when the text is not a duration.
 */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0, matched = 0;
  const t = text.trim();
  if (t === "") return NaN;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * UNITS[m[2]];
    matched = re.lastIndex;
  }
  return matched === t.length ? total : NaN;
}

/** Formats milliseconds as the shortest duration text (`90000` → `"1m30s"`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000 || ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms, out = "";
  for (
    const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const
  ) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
