/**
 * The numbers of a fault-tolerance scan, as pure functions: fast-flux scores,
 * spatial autocorrelation and name entropy. Definitions follow
 * `fault-tolerance-metrics.md` (FFanalyse's formulas, with its two quirks
 * documented there).
 *
 * @module
 */

/** Inputs of the fast-flux classifiers (FFanalyse's table columns). */
export interface FluxInputs {
  /** Distinct A addresses (nA). */
  aRecords: number;
  /** Distinct ASNs (nASN). */
  asns: number;
  /** Distinct /24 (and /48) prefixes (nRanges). */
  ranges: number;
  /** Distinct countries. */
  countries: number;
  /** Distinct addresses, IPv4 and IPv6 (NumServers). */
  numServers: number;
  /** Name servers of the zone (nNS in Holz 2008). */
  nameServers: number;
  /** Minimum TTL seen in seconds; null when nothing resolved. */
  ttl: number | null;
}

/** One score and whether it calls the domain fast-flux. */
export interface FluxScore {
  /** The exact score. */
  score: number;
  /** The score as printed: truncated toward zero. */
  printed: number;
  /** Whether the classifier says fast-flux. */
  flux: boolean;
}

/** Every classifier's result. */
export interface FluxScores {
  /** 1 when TTL ≤ 300 s, else 0. */
  ttlFlag: 0 | 1;
  /** Holz et al. 2008, paper constants; flux when > 0. */
  holz2008: FluxScore;
  /** FFanalyse's modified Holz; flux when > 0. */
  modifiedHolz: FluxScore;
  /** FFanalyse's Jaroslaw/Patrycja score; flux when ≥ 18. */
  jaroslawPatrycja: FluxScore;
  /** FFanalyse's rule; `score` is 1 for flux, 0 for clean. */
  ruleBased: FluxScore;
  /** The rule-based verdict in FFanalyse's words. */
  verdict: "Clean" | "Fast-Flux";
  /** What the verdict is: the original project's rule, kept on purpose, not vigia's judgement. */
  verdictNote: string;
  /** How the three numeric scores side with the verdict. */
  scoresAgreement: ScoresAgreement;
}

/** How Holz 2008, modified Holz and Jaroslaw/Patrycja side with the rule-based verdict. */
export interface ScoresAgreement {
  /** Numeric scores that say Fast-Flux (of 3). */
  fastFlux: number;
  /** Numeric scores that say what the verdict says (of 3). */
  agree: number;
  /** One line for people, e.g. "1 of 3 numeric scores agree (Fast-Flux: modified Holz; Clean: ...)". */
  summary: string;
}

/** Said next to every verdict, in the report and its JSON. */
export const VERDICT_NOTE =
  "the original FFanalyse rule, kept on purpose: two or more A records (even in one /24), " +
  "or several servers in several ASNs or with TTL <= 300 s, count as Fast-Flux; " +
  "not vigia's own judgement";

/** How the numeric scores of `f` side with its rule-based verdict. */
export function scoresAgreement(
  f: Pick<FluxScores, "holz2008" | "modifiedHolz" | "jaroslawPatrycja" | "verdict">,
): ScoresAgreement {
  const named: [string, FluxScore][] = [
    ["Holz 2008", f.holz2008],
    ["modified Holz", f.modifiedHolz],
    ["Jaroslaw/Patrycja", f.jaroslawPatrycja],
  ];
  const flux = named.filter(([, x]) => x.flux).map(([n]) => n);
  const clean = named.filter(([, x]) => !x.flux).map(([n]) => n);
  const agree = f.verdict === "Fast-Flux" ? flux.length : clean.length;
  const parts = [
    flux.length ? `Fast-Flux: ${flux.join(", ")}` : "",
    clean.length ? `Clean: ${clean.join(", ")}` : "",
  ].filter(Boolean);
  return {
    fastFlux: flux.length,
    agree,
    summary: `${agree} of 3 numeric scores agree with it (${parts.join("; ")})`,
  };
}

/** Truncates toward zero, without printing `-0`. */
export function truncateScore(x: number): number {
  const t = Math.trunc(x);
  return t === 0 ? 0 : t;
}

function score(value: number, flux: boolean): FluxScore {
  return { score: value, printed: truncateScore(value), flux };
}

/**
 * Computes the four fast-flux classifiers.
 *
 * @example
 * ```ts
 * import { fluxScores } from "./metrics.ts";
 * const s = fluxScores({
 *   aRecords: 1, asns: 1, ranges: 1, countries: 1, numServers: 1, nameServers: 2, ttl: 21594,
 * });
 * s.modifiedHolz.printed; // -30
 * s.jaroslawPatrycja.printed; // 7
 * s.verdict; // "Clean"
 * ```
 */
export function fluxScores(x: FluxInputs): FluxScores {
  const ttlFlag: 0 | 1 = x.ttl !== null && x.ttl <= 300 ? 1 : 0;
  const holz = 1.32 * x.aRecords + 18.54 * x.asns + 0 * x.nameServers - 142.38;
  const modified = 1.32 * x.aRecords + 18.54 * x.asns + 5 * ttlFlag - 50;
  // FFanalyse's nNS here is NumServers (the address count again), not the NS count.
  const jp = x.aRecords + x.numServers + 1.5 * x.ranges + 1.5 * x.asns + ttlFlag +
    2 * x.countries;
  const rule = (x.ranges >= 1 && x.aRecords >= 2) ||
    (x.numServers > 1 && (x.asns > 1 || ttlFlag === 1));
  const scores = {
    ttlFlag,
    holz2008: score(holz, holz > 0),
    modifiedHolz: score(modified, modified > 0),
    jaroslawPatrycja: score(jp, jp >= 18),
    ruleBased: score(rule ? 1 : 0, rule),
    verdict: rule ? "Fast-Flux" as const : "Clean" as const,
  };
  return { ...scores, verdictNote: VERDICT_NOTE, scoresAgreement: scoresAgreement(scores) };
}

/** Earth radius used by FFanalyse's distances, km. */
export const EARTH_RADIUS_KM = 6371;

/** Great-circle distance in km by the spherical law of cosines (R = 6371 km). */
export function greatCircleKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const c = Math.sin(lat1 * r) * Math.sin(lat2 * r) +
    Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.cos((lon2 - lon1) * r);
  // Rounding can push the cosine a hair past ±1 for (nearly) equal points; acos would give NaN.
  return EARTH_RADIUS_KM * Math.acos(Math.min(1, Math.max(-1, c)));
}

/** A located value for the spatial statistics. */
export interface LocatedValue {
  /** Latitude in degrees. */
  lat: number;
  /** Longitude in degrees. */
  lon: number;
  /** The value (time zone, UTM or MGRS value). */
  value: number;
}

/** Moran's I and Geary's C of one value set. */
export interface Autocorrelation {
  /** Moran's I; 0 when a denominator is 0. */
  moranI: number;
  /** Geary's C; 0 when a denominator is 0. */
  gearyC: number;
}

/**
 * Moran's I and Geary's C with weights w(i,j) = 1 / great-circle distance in
 * km (0 for the same location and for i = j), mean over the given points:
 *
 * I = N·ΣΣ w(xi−m)(xj−m) / (ΣΣ w · Σ(xi−m)²),
 * C = (N−1)·ΣΣ w(xi−xj)² / (2·ΣΣ w · Σ(xi−m)²).
 *
 * Either is 0 (never NaN) when its denominator is 0: fewer than two distinct
 * locations, or all values equal.
 */
export function autocorrelation(points: LocatedValue[]): Autocorrelation {
  const n = points.length;
  if (n < 2) return { moranI: 0, gearyC: 0 };
  let mean = 0;
  for (const p of points) mean += p.value;
  mean /= n;
  let variance = 0;
  for (const p of points) variance += (p.value - mean) ** 2;
  let wSum = 0, cross = 0, diffs = 0;
  for (let i = 0; i < n; i++) {
    const a = points[i];
    for (let j = i + 1; j < n; j++) {
      const b = points[j];
      const d = greatCircleKm(a.lat, a.lon, b.lat, b.lon);
      if (!(d > 0)) continue;
      const w = 1 / d;
      // Each unordered pair stands for (i,j) and (j,i): count it twice.
      wSum += 2 * w;
      cross += 2 * w * (a.value - mean) * (b.value - mean);
      diffs += 2 * w * (a.value - b.value) ** 2;
    }
  }
  const denominator = wSum * variance;
  if (!(denominator > 0) || !Number.isFinite(denominator)) return { moranI: 0, gearyC: 0 };
  const moranI = (n * cross) / denominator;
  const gearyC = ((n - 1) * diffs) / (2 * denominator);
  return {
    moranI: Number.isFinite(moranI) ? moranI : 0,
    gearyC: Number.isFinite(gearyC) ? gearyC : 0,
  };
}

/** Shannon entropy in bits of the symbol counts. */
function entropy(counts: Map<string, number>, total: number): number {
  if (total === 0) return 0;
  let h = 0;
  for (const c of counts.values()) {
    const p = c / total;
    h -= p * Math.log2(p);
  }
  return h === 0 ? 0 : h;
}

/** Character statistics of a domain name. */
export interface NameAnalysis {
  /** The name analysed (lower case, no trailing dot). */
  name: string;
  /** Number of labels. */
  labels: number;
  /** Characters in the labels (dots excluded). */
  length: number;
  /** Distinct characters. */
  distinctChars: number;
  /** Shannon entropy of the characters of all labels, bits per character. */
  unigramEntropy: number;
  /** Shannon entropy of the character pairs inside each label, bits per pair. */
  bigramEntropy: number;
  /** Same figures for the leftmost label alone (the part a generator would vary). */
  firstLabel: { label: string; unigramEntropy: number; bigramEntropy: number };
}

function charEntropies(
  labels: string[],
): { uni: number; bi: number; chars: number; distinct: number } {
  const uni = new Map<string, number>();
  const bi = new Map<string, number>();
  let chars = 0, pairs = 0;
  for (const label of labels) {
    for (let i = 0; i < label.length; i++) {
      const c = label[i];
      uni.set(c, (uni.get(c) ?? 0) + 1);
      chars++;
      if (i + 1 < label.length) {
        const b = label.slice(i, i + 2);
        bi.set(b, (bi.get(b) ?? 0) + 1);
        pairs++;
      }
    }
  }
  return { uni: entropy(uni, chars), bi: entropy(bi, pairs), chars, distinct: uni.size };
}

/**
 * Unigram and bigram character entropy of a domain name's labels. No verdict:
 * the figures are reported for comparison between names.
 */
export function analyseName(domain: string): NameAnalysis {
  const name = domain.toLowerCase().replace(/\.$/, "");
  const labels = name === "" ? [] : name.split(".");
  const all = charEntropies(labels);
  const first = charEntropies(labels.slice(0, 1));
  return {
    name,
    labels: labels.length,
    length: all.chars,
    distinctChars: all.distinct,
    unigramEntropy: all.uni,
    bigramEntropy: all.bi,
    firstLabel: { label: labels[0] ?? "", unigramEntropy: first.uni, bigramEntropy: first.bi },
  };
}
