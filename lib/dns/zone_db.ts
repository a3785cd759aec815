/**
 * The zone database (like NSD's `namedb`): records from every source grouped
 * into zones (one per SOA owner), a node per name with its RRsets, empty
 * non-terminals made explicit, zone cuts marked. Building it also checks the
 * data: one SOA per zone, NS at the apex, CNAME exclusivity, out-of-zone and
 * occluded data, missing glue. The same function serves `config check`
 * (report every problem) and the server (serve what is sound, log the rest).
 *
 * @module
 */

import { additionalTarget } from "./rdata.ts";
import type { ZoneProblem, ZoneRecord } from "./zone_file.ts";
import { isSubdomain, keyToText, nameKey, parentKey, TYPE, typeName } from "./wire.ts";

/** All records of one name and type. */
export interface RRset {
  /** Owner, wire form, letter case of the first record. */
  owner: Uint8Array;
  /** Type number. */
  type: number;
  /** RDATA of each record, wire form. */
  rdatas: Uint8Array[];
  /** TTL of each record (RFC 2181 wants them equal; they are kept as given, like NSD). */
  ttls: number[];
}

/** One name in a zone, possibly empty (an empty non-terminal). */
export interface Node {
  /** Lookup key of the name. */
  key: string;
  /** RRsets by type, in the order they were first seen. */
  rrsets: Map<number, RRset>;
  /** Key of the zone cut at or above this node (delegation), if any below the apex. */
  cut?: string;
}

/** One zone: an apex with an SOA and every name below it up to other zones. */
export interface Zone {
  /** Apex key. */
  key: string;
  /** Apex name, wire form. */
  apex: Uint8Array;
  /** Presentation form of the apex, for logs and stats. */
  name: string;
  /** Index of the zone's counters in the stats table. */
  slot: number;
  /** Names by key. */
  nodes: Map<string, Node>;
  /** The apex SOA. */
  soa: RRset;
  /** The apex NS RRset, if any. */
  ns?: RRset;
  /** Negative-answer TTL: min(SOA TTL, SOA MINIMUM) (RFC 2308 section 5). */
  negativeTtl: number;
  /** Answer SERVFAIL for every name (a secondary zone expired or not transferred yet). */
  servfail?: boolean;
}

/** Everything served, by zone. */
export interface ZoneDb {
  /** Zones by apex key. */
  zones: Map<string, Zone>;
  /** Number of records loaded. */
  records: number;
}

/** Options for {@linkcode buildZoneDb}. */
export interface BuildOptions {
  /** Maps a zone's apex (presentation form) to its stats slot. @default numbering in order */
  slotOf?: (name: string) => number;
}

/** A database and the problems found while building it. */
export interface BuildResult {
  /** What will be served. */
  db: ZoneDb;
  /** Problems, each placed at the record that caused it. */
  problems: ZoneProblem[];
}

/** Types that may share a name with a CNAME (RFC 2181 section 10.1, RFC 4035). */
const CNAME_COMPANIONS = new Set<number>([TYPE.CNAME, TYPE.RRSIG, TYPE.NSEC]);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

/** Marks the zones named (absolute, lower case) to be answered SERVFAIL. */
export function markServfail(db: ZoneDb, zones: readonly string[]): void {
  if (zones.length === 0) return;
  const wanted = new Set(zones);
  for (const z of db.zones.values()) if (wanted.has(z.name.toLowerCase())) z.servfail = true;
}

/** The longest served apex at or above `key`, walking up label by label. */
export function findZone(db: ZoneDb, key: string): Zone | undefined {
  for (let k: string | undefined = key; k !== undefined; k = parentKey(k)) {
    const z = db.zones.get(k);
    if (z) return z;
  }
  return undefined;
}

/**
 * Groups records into zones and checks them. Records that break a rule are
 * reported and left out (a second SOA, data beside a CNAME, data outside
 * every zone); the rest is served.
 */
export function buildZoneDb(records: ZoneRecord[], options: BuildOptions = {}): BuildResult {
  const problems: ZoneProblem[] = [];
  const report = (r: ZoneRecord, message: string) =>
    problems.push({ file: r.file, line: r.line, message });
  let nextSlot = 0;
  const slotOf = options.slotOf ?? (() => nextSlot++);
  const db: ZoneDb = { zones: new Map(), records: 0 };

  // 1. Zones: one per SOA owner.
  for (const r of records) {
    if (r.type !== TYPE.SOA) continue;
    const key = nameKey(r.name);
    const existing = db.zones.get(key);
    if (existing) {
      report(r, `zone ${keyToText(key)} has more than one SOA record; this one is ignored`);
      continue;
    }
    const soa: RRset = { owner: r.name, type: TYPE.SOA, rdatas: [r.rdata], ttls: [r.ttl] };
    const minimum = readU32(r.rdata, r.rdata.length - 4);
    const name = keyToText(key);
    db.zones.set(key, {
      key,
      apex: r.name,
      name,
      slot: slotOf(name),
      nodes: new Map([[key, { key, rrsets: new Map([[TYPE.SOA, soa]]) }]]),
      soa,
      negativeTtl: Math.min(minimum, r.ttl),
    });
  }

  // 2. Every other record into the zone of its longest matching apex.
  for (const r of records) {
    if (r.type === TYPE.SOA) continue;
    const key = nameKey(r.name);
    const zone = findZone(db, key);
    if (!zone) {
      report(
        r,
        `${keyToText(key)} ${typeName(r.type)} is outside every zone (no SOA at or above it)`,
      );
      continue;
    }
    let node = zone.nodes.get(key);
    if (!node) {
      node = { key, rrsets: new Map() };
      zone.nodes.set(key, node);
    }
    const has = node.rrsets;
    if (r.type === TYPE.CNAME && [...has.keys()].some((t) => !CNAME_COMPANIONS.has(t))) {
      report(
        r,
        `${
          keyToText(key)
        } has a CNAME and other data (RFC 1034 section 3.6.2); the CNAME is ignored`,
      );
      continue;
    }
    if (r.type !== TYPE.CNAME && !CNAME_COMPANIONS.has(r.type) && has.has(TYPE.CNAME)) {
      report(
        r,
        `${keyToText(key)} ${
          typeName(r.type)
        } beside a CNAME (RFC 1034 section 3.6.2); this record is ignored`,
      );
      continue;
    }
    const set = has.get(r.type);
    if (!set) {
      has.set(r.type, { owner: r.name, type: r.type, rdatas: [r.rdata], ttls: [r.ttl] });
      continue;
    }
    if (set.rdatas.some((d) => sameBytes(d, r.rdata))) continue; // duplicate RR: one copy (RFC 2181 section 5)
    if (r.type === TYPE.CNAME) {
      report(r, `${keyToText(key)} has more than one CNAME record; this one is ignored`);
      continue;
    }
    set.rdatas.push(r.rdata);
    set.ttls.push(r.ttl);
  }

  // 3. Empty non-terminals, zone cuts, apex NS, glue.
  for (const zone of db.zones.values()) {
    zone.ns = zone.nodes.get(zone.key)?.rrsets.get(TYPE.NS);
    for (const key of [...zone.nodes.keys()]) {
      for (
        let k = parentKey(key);
        k !== undefined && k.length > zone.key.length;
        k = parentKey(k)
      ) {
        if (zone.nodes.has(k)) break;
        zone.nodes.set(k, { key: k, rrsets: new Map() });
      }
    }
    const cuts: string[] = [];
    for (const node of zone.nodes.values()) {
      if (node.key !== zone.key && node.rrsets.has(TYPE.NS)) cuts.push(node.key);
    }
    // Shortest cut first, so that a cut below another cut is seen as occluded.
    cuts.sort((a, b) => a.length - b.length);
    for (const node of zone.nodes.values()) {
      for (const cut of cuts) {
        if (isSubdomain(node.key, cut)) {
          node.cut = cut;
          break;
        }
      }
    }
    db.records += [...zone.nodes.values()].reduce(
      (n, node) => n + [...node.rrsets.values()].reduce((m, s) => m + s.rdatas.length, 0),
      0,
    );
  }
  checkZones(db, records, report);
  return { db, problems };
}

/** Apex NS, occlusion and glue checks (data already grouped). */
function checkZones(
  db: ZoneDb,
  records: ZoneRecord[],
  report: (r: ZoneRecord, message: string) => void,
): void {
  const firstRecord = new Map<string, ZoneRecord>();
  for (const r of records) {
    const k = `${nameKey(r.name)}/${r.type}`;
    if (!firstRecord.has(k)) firstRecord.set(k, r);
  }
  const at = (key: string, type: number) => firstRecord.get(`${key}/${type}`);
  for (const zone of db.zones.values()) {
    const soaRecord = at(zone.key, TYPE.SOA)!;
    if (!zone.ns) report(soaRecord, `zone ${zone.name} has no NS records at its apex`);
    for (const node of zone.nodes.values()) {
      if (!node.cut) continue;
      const atCut = node.key === node.cut;
      for (const [type, set] of node.rrsets) {
        if (
          atCut &&
          (type === TYPE.NS || type === TYPE.DS || type === TYPE.NSEC || type === TYPE.RRSIG)
        ) continue;
        if (!atCut && (type === TYPE.A || type === TYPE.AAAA)) continue; // glue
        const r = at(node.key, type);
        if (r) {
          report(
            r,
            `${keyToText(node.key)} ${typeName(set.type)} is below the delegation at ${
              keyToText(node.cut)
            } and will not be served (only glue A/AAAA may be there)`,
          );
        }
      }
    }
    // Every NS target inside the zone needs an address there (glue for delegations).
    for (const node of zone.nodes.values()) {
      const ns = node.rrsets.get(TYPE.NS);
      if (!ns || (node.cut && node.cut !== node.key)) continue;
      for (const rdata of ns.rdatas) {
        const target = nameKey(additionalTarget(TYPE.NS, rdata)!);
        if (!isSubdomain(target, zone.key)) continue;
        const inner = findZone(db, target);
        if (inner !== zone) continue; // served by a nested zone of ours
        const t = zone.nodes.get(target);
        const hasAddress = t && (t.rrsets.has(TYPE.A) || t.rrsets.has(TYPE.AAAA));
        if (!hasAddress) {
          const r = at(node.key, TYPE.NS)!;
          const what = node.key === zone.key ? "name server" : "delegation";
          report(
            r,
            `${what} ${keyToText(target)} (NS of ${
              keyToText(node.key)
            }) has no A or AAAA record in zone ${zone.name}${
              node.key === zone.key ? "" : " (missing glue)"
            }`,
          );
        }
      }
    }
  }
}
