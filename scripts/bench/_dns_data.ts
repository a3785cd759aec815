/**
 * The DNS benchmarks' data: one zone (hosts with A/AAAA, some MX and TXT,
 * apex MX/TXT) and one deterministic query mix (35% A, 25% AAAA, 10% MX,
 * 10% TXT of existing names, 20% NXDOMAIN), as zone file text, as dnsperf
 * query lines, and as wire-format queries.
 *
 * @module
 */

/** The benchmark zone's origin. */
export const BENCH_ZONE = "bench.test.";

/** The zone file of `hosts` hosts. */
export function benchZone(hosts: number): string {
  const lines = [
    `$ORIGIN ${BENCH_ZONE}`,
    "$TTL 3600",
    "@ SOA ns1 hostmaster 2024010101 7200 3600 1209600 300",
    "@ NS ns1",
    "@ NS ns2",
    "@ MX 10 mail1",
    "@ MX 20 mail2",
    '@ TXT "v=spf1 mx -all"',
    "ns1 A 192.0.2.1",
    "ns1 AAAA 2001:db8::1",
    "ns2 A 192.0.2.2",
    "mail1 A 192.0.2.25",
    "mail2 A 192.0.2.26",
  ];
  for (let i = 0; i < hosts; i++) {
    lines.push(`host${i} A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    lines.push(`host${i} AAAA 2001:db8:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}`);
    if (i % 4 === 0) lines.push(`host${i} MX 10 mail1`);
    if (i % 3 === 0) lines.push(`host${i} TXT "host number ${i}" "bench"`);
  }
  return lines.join("\n") + "\n";
}

/** The query mix over a zone of `hosts` hosts: 20000 `[name, type]` pairs, always the same. */
export function benchQueries(hosts: number): [string, string][] {
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
  const out: [string, string][] = [];
  for (let i = 0; i < 20000; i++) {
    const r = rnd();
    const h = Math.floor(rnd() * hosts);
    if (r < 0.35) out.push([`host${h}.${BENCH_ZONE}`, "A"]);
    else if (r < 0.60) out.push([`host${h}.${BENCH_ZONE}`, "AAAA"]);
    else if (r < 0.70) {
      out.push([rnd() < 0.5 ? BENCH_ZONE : `host${h - (h % 4)}.${BENCH_ZONE}`, "MX"]);
    } else if (r < 0.80) {
      out.push([rnd() < 0.5 ? BENCH_ZONE : `host${h - (h % 3)}.${BENCH_ZONE}`, "TXT"]);
    } else out.push([`nx${h}-${i}.${BENCH_ZONE}`, "A"]);
  }
  return out;
}

const TYPES: Record<string, number> = { A: 1, MX: 15, TXT: 16, AAAA: 28 };

/** A query as dnsperf sends it by default: RD set, no EDNS. */
export function wireQuery(name: string, type: string, id: number): Uint8Array {
  const bytes = [id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const label of name.split(".").filter((l) => l !== "")) {
    bytes.push(label.length, ...new TextEncoder().encode(label));
  }
  const t = TYPES[type];
  bytes.push(0, t >> 8, t & 255, 0, 1);
  return new Uint8Array(bytes);
}
