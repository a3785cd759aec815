/**
 * Renders the registry in the Prometheus text format 0.0.4 or in
 * OpenMetrics 1.0 (chosen by the scraper's Accept header). The two differ
 * in the counter family name (OpenMetrics drops `_total` from `# TYPE`), in
 * `# EOF` at the end and in the content type.
 *
 * @module
 */

import type { Family, MetricsRegistry } from "./registry.ts";

/** Content type of the Prometheus text format. */
export const TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
/** Content type of OpenMetrics text. */
export const OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/** Exposition formats. */
export type Format = "text" | "openmetrics";

/** The format a scraper asks for with its Accept header (OpenMetrics only when named). */
export function negotiate(accept: string | null): Format {
  return accept && /application\/openmetrics-text/i.test(accept) ? "openmetrics" : "text";
}

/** Formats a sample value: integers plainly, NaN and infinities as the formats spell them. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeLabel(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function renderFamily(f: Family, format: Format, out: string[]): void {
  const familyName = format === "openmetrics" && f.type === "counter"
    ? f.name.slice(0, -"_total".length)
    : f.name;
  out.push(`# HELP ${familyName} ${escapeHelp(f.help)}`);
  out.push(`# TYPE ${familyName} ${f.type}`);
  if (f.type !== "histogram") {
    const seen = new Set<string>();
    f.read((values, v) => {
      const labels = labelText(f.labels, values);
      // A collector that emits one combination twice would make the scrape invalid.
      if (seen.has(labels)) return;
      seen.add(labels);
      out.push(`${f.name}${labels} ${formatValue(v)}`);
    });
    return;
  }
  const bounds = [...f.buckets!.map(formatBound), "+Inf"];
  const stride = bounds.length + 1;
  let k = 0;
  let cumulative = 0;
  f.read((values, v) => {
    const slot = k++ % stride;
    if (slot < bounds.length) {
      cumulative = slot === 0 ? v : cumulative + v;
      out.push(
        `${f.name}_bucket${labelText(f.labels, values, `le="${bounds[slot]}"`)} ${cumulative}`,
      );
    } else {
      const labels = labelText(f.labels, values);
      out.push(`${f.name}_sum${labels} ${formatValue(v)}`);
      out.push(`${f.name}_count${labels} ${cumulative}`);
    }
  });
}

/** Bucket bounds as floats (OpenMetrics wants `1.0`, not `1`). */
function formatBound(b: number): string {
  const s = String(b);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** The whole registry in `format`; a family whose reader throws is left out, never the scrape. */
export function render(registry: MetricsRegistry, format: Format): string {
  const out: string[] = [];
  for (const f of registry.families()) {
    const part: string[] = [];
    try {
      renderFamily(f, format, part);
    } catch {
      continue;
    }
    out.push(...part);
  }
  if (format === "openmetrics") out.push("# EOF");
  return out.join("\n") + "\n";
}
