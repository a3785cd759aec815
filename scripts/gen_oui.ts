/**
 * Builds `lib/sniffer/oui_index.json`, the compact vendor index the sniffer
 * embeds, from the IEEE registry as packaged by `npm:oui-data` (MA-L 24-bit,
 * MA-M 28-bit and MA-S 36-bit assignments).
 *
 * The package holds the full postal entry of every assignment (5.6 MB); the
 * sniffer only needs a short maker name per prefix. The index keeps the first
 * line of each entry with legal suffixes removed ("Apple, Inc." → "Apple"),
 * deduplicates the names (most frequent first, so common makers get small
 * numbers) and stores each table as one string of `delta.vendor` pairs in
 * base 36, comma separated, sorted by prefix (`delta` is the distance from
 * the previous prefix). Names are one string joined by newlines. Strings
 * keep the file small and stable under `deno fmt`.
 *
 * Run after bumping `oui-data` in deno.json:
 *
 * ```sh
 * deno run --allow-read --allow-write scripts/gen_oui.ts
 * ```
 *
 * @module
 */

import ouiData from "oui-data" with { type: "json" };

const SUFFIX =
  /[\s,.]*\b(inc|incorporated|ltd|limited|llc|l\.l\.c|corp|corporation|corporate|co|company|gmbh|ag|s\.?a|sas|s\.?a\.?s|srl|s\.?r\.?l|b\.?v|n\.?v|oy|ab|a\/s|aps|pty|plc|kg|s\.?p\.?a|sdn\.? bhd|k\.?k)\.?$/i;

/** The short maker name of one registry entry. */
export function shortVendor(entry: string): string {
  let name = entry.split("\n")[0].replace(/\s+/g, " ").trim();
  for (let i = 0; i < 6; i++) {
    const next = name.replace(SUFFIX, "").replace(/[\s,.&-]+$/, "").trim();
    if (next === name || next.length < 2) break;
    name = next;
  }
  if (name.length > 40) name = name.slice(0, 40).trim();
  return name || "(unnamed)";
}

/** Builds the index object from the package's `{ "HEXPREFIX": "entry" }` map. */
export function buildIndex(data: Record<string, string>, source: string): Record<string, unknown> {
  const tables: Record<number, [number, string][]> = { 6: [], 7: [], 9: [] };
  const counts = new Map<string, number>();
  for (const [prefix, entry] of Object.entries(data)) {
    const table = tables[prefix.length];
    if (!table || !/^[0-9A-Fa-f]+$/.test(prefix)) continue;
    const name = shortVendor(entry);
    table.push([parseInt(prefix, 16), name]);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const vendors = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([n]) => n);
  const number = new Map(vendors.map((v, i) => [v, i]));
  const flat = (rows: [number, string][]) => {
    rows.sort((a, b) => a[0] - b[0]);
    const out: string[] = [];
    let prev = 0;
    for (const [p, name] of rows) {
      out.push(`${(p - prev).toString(36)}.${number.get(name)!.toString(36)}`);
      prev = p;
    }
    return out.join(",");
  };
  return {
    source,
    vendors: vendors.join("\n"),
    ma_l: flat(tables[6]),
    ma_m: flat(tables[7]),
    ma_s: flat(tables[9]),
  };
}

if (import.meta.main) {
  const denoJson = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const source = String(denoJson.imports["oui-data"] ?? "oui-data").replace(/^npm:/, "");
  const index = buildIndex(ouiData as Record<string, string>, `${source} (IEEE MA-L, MA-M, MA-S)`);
  const out = new URL("../lib/sniffer/oui_index.json", import.meta.url);
  const text = JSON.stringify(index, null, 2);
  await Deno.writeTextFile(out, text + "\n");
  const count = (k: string) => (index[k] as string).split(k === "vendors" ? "\n" : ",").length;
  console.log(
    `wrote ${out.pathname}: ${count("vendors")} makers, ${count("ma_l")} MA-L, ${
      count("ma_m")
    } MA-M, ${count("ma_s")} MA-S, ${text.length} bytes`,
  );
}
