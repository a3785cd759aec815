/**
 * The human report of one scan: FFanalyse's sections (IPs, /24 ranges, ASNs,
 * countries, cities, the summary table, fast-flux scores, geolocation with
 * time zone, UTM and MGRS, Moran's I / Geary's C, name analysis) followed by
 * the fault-tolerance verdict.
 *
 * @module
 */

import type { ScanResult } from "./types.ts";
import { scoresAgreement, VERDICT_NOTE } from "./metrics.ts";

/** Formats rows as an aligned table with ` | ` between columns. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? "").padEnd(widths[i])).join(" | ").trimEnd();
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("-|-"), ...cells.slice(1).map(line)]
    .join("\n");
}

function num(x: number | null | undefined, digits = 6): string {
  if (x === null || x === undefined) return "-";
  if (x === 0) return "0";
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(digits)));
}

function dash(x: string | number | null | undefined): string {
  return x === null || x === undefined || x === "" ? "-" : String(x);
}

function section(title: string, body: string): string {
  return `${title}\n${"=".repeat(title.length)}\n${body}\n`;
}

function addresses(n: number): string {
  return n === 1 ? "1 address" : `${n} addresses`;
}

function fluxLine(flux: boolean): string {
  return flux ? "Fast-Flux" : "Clean";
}

/** Renders a scan as the text report printed by `vigia analyse`. */
export function renderReport(result: ScanResult): string {
  const r = result;
  const out: string[] = [];
  out.push(
    `Fault-tolerance analysis of ${r.domain}\n` +
      `started ${r.startedAt}, ${r.durationMs} ms, ${r.rounds} round(s), ${r.resolvers.length} resolver(s)` +
      (r.cnames.length ? `\nCNAME chain: ${r.domain} -> ${r.cnames.join(" -> ")}` : "") + "\n",
  );
  if (r.warnings.length > 0) out.push(r.warnings.map((w) => `warning: ${w}`).join("\n") + "\n");

  out.push(section(
    "Resolvers",
    r.resolvers.length === 0 ? "(none)" : formatTable(
      ["Resolver", "Answered", "Failed", "Rcode", "Addresses", "RTT ms", "Error"],
      r.resolvers.map((
        x,
      ) => [
        x.server,
        x.answered,
        x.failed,
        dash(x.rcode),
        x.addresses.length,
        num(x.rttMs, 4),
        dash(x.error),
      ]),
    ),
  ));

  out.push(section(
    `List of IPs (${r.addresses.length})`,
    r.addresses.length === 0 ? "(none)" : formatTable(
      ["IP", "Type", "TTL", "Seen by", "Rounds"],
      r.addresses.map((a) => [
        a.ip,
        a.type,
        a.ttl,
        `${a.resolvers.length}/${r.resolvers.length}`,
        `${a.rounds}/${r.rounds}`,
      ]),
    ),
  ));
  out.push(section(
    `List of ranges /24 (/48) (${r.lists.ranges.length})`,
    r.lists.ranges.join("\n") || "(none)",
  ));
  out.push(section(
    `List of ASNs (${r.lists.asns.length})`,
    r.lists.asns.map((a) => `AS${a.asn}${a.org ? `  ${a.org}` : ""} (${addresses(a.addresses)})`)
      .join("\n") ||
      "(none known)",
  ));
  out.push(section(
    `List of countries (${r.lists.countries.length})`,
    r.lists.countries.map((c) => `${c.code}  ${c.name ?? ""} (${addresses(c.addresses)})`).join(
      "\n",
    ) ||
      "(none known)",
  ));
  out.push(section(
    `List of cities (${r.lists.cities.length})`,
    r.lists.cities.map((c) => `${c.city}, ${c.countryCode ?? "?"} (${addresses(c.addresses)})`)
      .join(
        "\n",
      ) || "(none known)",
  ));

  const c = r.counts;
  out.push(section(
    "Summary",
    formatTable(
      ["Qname", "TTL", "A Records", "Ranges", "ASNs", "Countries", "Cities", "NumServers"],
      [[r.domain, dash(r.ttl), c.aRecords, c.ranges, c.asns, c.countries, c.cities, c.numServers]],
    ) +
      `\nAAAA records: ${c.aaaaRecords}; NumServers counts IPv4 and IPv6 addresses.` +
      `\nName servers of ${r.zone ?? "(zone not found)"}: ${c.nameServers} (${
        addresses(c.nameServerAddresses)
      })` +
      (r.nameServers.length
        ? "\n" +
          r.nameServers.map((n) =>
            `  ${n.name}: ${
              n.addresses.map((a) => `${a.ip}${a.asn !== null ? ` AS${a.asn}` : ""}`).join(", ") ||
              `no address${n.error ? ` (${n.error})` : ""}`
            }`
          ).join("\n")
        : r.nameServerError
        ? ` (${r.nameServerError})`
        : ""),
  ));

  const f = r.flux;
  out.push(section(
    "Fast-flux scores",
    formatTable(["Method", "Formula", "Score", "Verdict"], [
      [
        "Holz 2008",
        "1.32*nA + 18.54*nASN + 0*nNS - 142.38 > 0",
        f.holz2008.printed,
        fluxLine(f.holz2008.flux),
      ],
      [
        "Modified Holz",
        "1.32*nA + 18.54*nASN + 5*ttlFlag - 50 > 0",
        f.modifiedHolz.printed,
        fluxLine(f.modifiedHolz.flux),
      ],
      [
        "Jaroslaw/Patrycja",
        "nA + NumServers + 1.5*nRanges + 1.5*nASN + ttlFlag + 2*nCountries >= 18",
        f.jaroslawPatrycja.printed,
        fluxLine(f.jaroslawPatrycja.flux),
      ],
      [
        "Rule-based",
        "(nRanges>=1 and nA>=2) or (NumServers>1 and (nASN>1 or ttlFlag))",
        "-",
        fluxLine(f.ruleBased.flux),
      ],
    ]) + `\nttlFlag = ${f.ttlFlag} (TTL <= 300). Scores are truncated toward zero.` +
      // Results stored before the note existed get it computed from their scores.
      `\nVerdict (rule-based): ${f.verdict}: ${f.verdictNote ?? VERDICT_NOTE}; ${
        (f.scoresAgreement ?? scoresAgreement(f)).summary
      }.`,
  ));

  out.push(section(
    "Geolocation",
    r.addresses.length === 0 ? "(no address)" : formatTable(
      [
        "IP",
        "ASN",
        "Country",
        "City",
        "Lat",
        "Lon",
        "Radius km",
        "Time zone",
        "UTC now",
        "UTC 2012-01-01",
        "UTM",
        "MGRS",
      ],
      r.addresses.map((a) => [
        a.ip,
        a.asn === null ? "-" : `AS${a.asn}`,
        dash(a.countryCode),
        dash(a.city),
        num(a.latitude),
        num(a.longitude),
        dash(a.accuracyRadius),
        dash(a.timeZone),
        dash(a.utcOffsetNow),
        dash(a.utcOffset2012),
        a.utm ? `${a.utm.zone}${a.utm.band}` : "-",
        dash(a.mgrs),
      ]),
    ),
  ));

  const s = r.spatial;
  const reading = (x: number) => (x !== 0 ? "Fast-Flux" : "Clean");
  out.push(section(
    `Spatial autocorrelation (${s.located} located, ${s.unlocated} unlocated and left out)`,
    formatTable(
      ["Value", "Moran's I", "Geary's C", "Original's label (any non-zero = Fast-Flux)"],
      [
        ["Time zone", num(s.timeZone.moranI), num(s.timeZone.gearyC), reading(s.timeZone.moranI)],
        ["UTM", num(s.utm.moranI), num(s.utm.gearyC), reading(s.utm.moranI)],
        ["MGRS", num(s.mgrs.moranI), num(s.mgrs.gearyC), reading(s.mgrs.moranI)],
        ["Combined", num(s.combined.moranI), num(s.combined.gearyC), reading(s.combined.moranI)],
      ],
    ) +
      (r.addresses.some((a) => a.latitude !== null)
        ? "\n\n" + formatTable(
          [
            "IP",
            "Time zone value",
            "UTM value",
            "UTM value as the original (lat/lon swapped)",
            "MGRS value",
          ],
          r.addresses.filter((a) => a.latitude !== null).map((a) => [
            a.ip,
            a.values.timeZone,
            dash(a.values.utm),
            dash(a.values.utmOriginal),
            dash(a.values.mgrs),
          ]),
        )
        : "") +
      "\nWeights 1/great-circle km; means over located addresses (the original divided by all).",
  ));

  const n = r.name;
  out.push(section(
    "Name analysis",
    formatTable(["Part", "Characters", "Unigram entropy (bits)", "Bigram entropy (bits)"], [
      [n.name, n.length, num(n.unigramEntropy, 4), num(n.bigramEntropy, 4)],
      [
        n.firstLabel.label,
        n.firstLabel.label.length,
        num(n.firstLabel.unigramEntropy, 4),
        num(n.firstLabel.bigramEntropy, 4),
      ],
    ]) + `\n${n.labels} labels, ${n.distinctChars} distinct characters. No verdict: figures only.`,
  ));

  const errors = r.findings.filter((x) => x.level === "ERROR").length;
  const warnings = r.findings.filter((x) => x.level === "WARNING").length;
  out.push(section(
    "Fault tolerance",
    (r.findings.length === 0 ? "(no findings)" : formatTable(
      ["Level", "Code", "Finding"],
      r.findings.map((x) => [x.level, x.code, x.message]),
    )) +
      `\nVerdict: ${
        errors + warnings === 0
          ? "no single point of failure found"
          : `${errors} error(s), ${warnings} warning(s)`
      }`,
  ));
  return out.join("\n");
}
