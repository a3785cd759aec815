/**
 * Zone versions kept in the store: the serial served for each zone (with
 * the digest of the content it was given for, so a change made while the
 * daemon was down still gets a new serial) and a journal of the changes
 * between serials, from which IXFR (RFC 1995) answers. The journal keeps at
 * most `dns.ixfr_journal_changes` changes per zone; an IXFR asking from
 * further back gets the whole zone.
 *
 * @module
 */

import type { Store } from "../store/mod.ts";
import { packRecords, unpackRecords } from "./pack.ts";
import {
  nextSerial,
  serialGreater,
  type SerialPolicy,
  soaSerial,
  withSerial,
  zoneDigest,
} from "./serial.ts";
import { nameKey, TYPE } from "./wire.ts";
import type { RRset, Zone, ZoneDb } from "./zone_db.ts";
import type { ZoneRecord } from "./zone_file.ts";

/** One change between two serials of a zone. */
export interface ZoneChange {
  /** Serial before. */
  from: number;
  /** Serial after. */
  to: number;
  /** SOA RDATA before. */
  soaFrom: Uint8Array;
  /** SOA RDATA after. */
  soaTo: Uint8Array;
  /** SOA TTL after (also used for the old SOA). */
  soaTtl: number;
  /** Records removed (no SOA). */
  removed: ZoneRecord[];
  /** Records added (no SOA). */
  added: ZoneRecord[];
}

/** A serial decided for a zone by {@linkcode ZoneJournal.settle}. */
export interface SerialDecision {
  /** Apex, absolute. */
  zone: string;
  /** Serial in the zone's source. */
  sourceSerial: number;
  /** Serial served. */
  serial: number;
  /** Serial served before (undefined for a zone new to the store). */
  previous?: number;
  /** Whether the serial changed in this load. */
  changed: boolean;
}

interface SerialRow {
  zone: string;
  serial: number;
  source_serial: number;
  digest: string;
}

/** Options for {@linkcode ZoneJournal}. */
export interface JournalOptions {
  /** `dns.serial_policy`. */
  policy: SerialPolicy;
  /** Changes kept per zone (`dns.ixfr_journal_changes`); 0 keeps none. */
  limit: number;
}

/** Serials and the change journal of every zone, in the store. */
export class ZoneJournal {
  readonly #store: Store;
  readonly #options: JournalOptions;

  constructor(store: Store, options: JournalOptions) {
    this.#store = store;
    this.#options = options;
  }

  /**
   * Decides the serial of every zone of `db` and sets it in the served SOA
   * (the RRset in `db`; `records` get the same RDATA, for the workers). A
   * zone whose content differs from what its stored serial was given for
   * gets the next serial of the policy, unless its source raised the serial
   * past it (then the source's serial is kept). Each change seen with the
   * previous version of the zone at hand (`previous`) goes to the journal.
   */
  settle(
    db: ZoneDb,
    options: {
      previous: ZoneDb | undefined;
      records: ZoneRecord[];
      /** Secondary zones (absolute, lower case): their primary's serial is served as it is. */
      follow?: ReadonlySet<string>;
    },
  ): { decisions: SerialDecision[]; records: ZoneRecord[] } {
    const { previous, records, follow } = options;
    const decisions: SerialDecision[] = [];
    const patched = new Map<string, Uint8Array>();
    this.#store.transaction(() => {
      for (const zone of db.zones.values()) {
        const decision = this.#settleZone(zone, previous?.zones.get(zone.key), {
          follow: follow?.has(zone.name.toLowerCase()) ?? false,
        });
        decisions.push(decision);
        if (decision.serial !== decision.sourceSerial) {
          const rdata = withSerial(zone.soa.rdatas[0], decision.serial);
          zone.soa.rdatas[0] = rdata;
          patched.set(zone.key, rdata);
        }
      }
    });
    if (patched.size === 0) return { decisions, records };
    const out = records.map((r) => {
      if (r.type !== TYPE.SOA) return r;
      const rdata = patched.get(nameKey(r.name));
      return rdata ? { ...r, rdata } : r;
    });
    return { decisions, records: out };
  }

  #settleZone(zone: Zone, before: Zone | undefined, o: { follow: boolean }): SerialDecision {
    const sourceSerial = soaSerial(zone.soa.rdatas[0]);
    const digest = zoneDigest(zone);
    const row = this.#store.get<SerialRow>(
      "SELECT zone, serial, source_serial, digest FROM dns_zone_serials WHERE zone = ?",
      zone.name,
    );
    const now = new Date();
    const save = (serial: number) =>
      this.#store.run(
        `INSERT INTO dns_zone_serials (zone, serial, source_serial, digest, changed_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (zone) DO UPDATE SET serial = excluded.serial,
         source_serial = excluded.source_serial, digest = excluded.digest, changed_at = excluded.changed_at`,
        zone.name,
        serial,
        sourceSerial,
        digest,
        now.toISOString(),
      );
    if (!row) {
      save(sourceSerial);
      return { zone: zone.name, sourceSerial, serial: sourceSerial, changed: false };
    }
    let serial = row.serial;
    if (o.follow) serial = sourceSerial;
    else if (sourceSerial !== row.source_serial && serialGreater(sourceSerial, row.serial)) {
      serial = sourceSerial; // the author raised it: keep theirs
    } else if (digest !== row.digest) serial = nextSerial(row.serial, this.#options.policy, now);
    if (serial === row.serial && digest === row.digest && sourceSerial === row.source_serial) {
      return { zone: zone.name, sourceSerial, serial, previous: row.serial, changed: false };
    }
    save(serial);
    const changed = serial !== row.serial;
    // Nothing to journal from a placeholder (a secondary zone before its first transfer).
    if (changed && before && !before.servfail && this.#options.limit > 0) {
      const soaTo = withSerial(zone.soa.rdatas[0], serial);
      this.#append(zone.name, {
        from: row.serial,
        to: serial,
        soaFrom: withSerial(before.soa.rdatas[0], row.serial),
        soaTo,
        soaTtl: zone.soa.ttls[0],
        ...diffZones(before, zone),
      });
    }
    return { zone: zone.name, sourceSerial, serial, previous: row.serial, changed };
  }

  #append(zone: string, change: ZoneChange): void {
    this.#store.run(
      `INSERT INTO dns_journal (zone, serial_from, serial_to, soa_from, soa_to, soa_ttl, removed, added, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      zone,
      change.from,
      change.to,
      change.soaFrom,
      change.soaTo,
      change.soaTtl,
      packRecords(change.removed),
      packRecords(change.added),
      new Date().toISOString(),
    );
    this.#store.run(
      `DELETE FROM dns_journal WHERE zone = ? AND id NOT IN
       (SELECT id FROM dns_journal WHERE zone = ? ORDER BY id DESC LIMIT ?)`,
      zone,
      zone,
      this.#options.limit,
    );
  }

  /**
   * The changes that lead from `serial` to `current`, oldest first, or
   * undefined when the journal does not reach back that far.
   */
  changesSince(zone: string, range: { from: number; to: number }): ZoneChange[] | undefined {
    const { from: serial, to: current } = range;
    if (serial === current) return [];
    const rows = this.#store.query<{
      serial_from: number;
      serial_to: number;
      soa_from: Uint8Array;
      soa_to: Uint8Array;
      soa_ttl: number;
      removed: Uint8Array;
      added: Uint8Array;
    }>(
      `SELECT serial_from, serial_to, soa_from, soa_to, soa_ttl, removed, added FROM dns_journal
       WHERE zone = ? ORDER BY id`,
      zone,
    );
    const start = rows.findIndex((r) => r.serial_from === serial);
    if (start < 0) return undefined;
    const out: ZoneChange[] = [];
    let at = serial;
    for (let i = start; i < rows.length; i++) {
      const r = rows[i];
      if (r.serial_from !== at) return undefined;
      out.push({
        from: r.serial_from,
        to: r.serial_to,
        soaFrom: r.soa_from,
        soaTo: r.soa_to,
        soaTtl: r.soa_ttl,
        removed: unpackRecords(r.removed),
        added: unpackRecords(r.added),
      });
      at = r.serial_to;
      if (at === current) return out;
    }
    return undefined;
  }

  /** Changes kept for a zone. */
  count(zone: string): number {
    return this.#store.get<{ n: number }>(
      "SELECT count(*) AS n FROM dns_journal WHERE zone = ?",
      zone,
    )?.n ?? 0;
  }
}

/** Records of `before` missing from `after` and the reverse, SOA left out. */
export function diffZones(
  before: Zone,
  after: Zone,
): { removed: ZoneRecord[]; added: ZoneRecord[] } {
  const removed: ZoneRecord[] = [], added: ZoneRecord[] = [];
  const missing = (from: RRset, other: RRset | undefined, out: ZoneRecord[]) => {
    for (let i = 0; i < from.rdatas.length; i++) {
      const rdata = from.rdatas[i], ttl = from.ttls[i];
      const found = other?.rdatas.some((d, j) => other.ttls[j] === ttl && sameBytes(d, rdata));
      if (!found) out.push({ name: from.owner, type: from.type, ttl, rdata, file: "", line: 0 });
    }
  };
  for (const [key, node] of after.nodes) {
    const old = before.nodes.get(key);
    for (const [type, set] of node.rrsets) {
      if (type !== TYPE.SOA) missing(set, old?.rrsets.get(type), added);
    }
  }
  for (const [key, node] of before.nodes) {
    const next = after.nodes.get(key);
    for (const [type, set] of node.rrsets) {
      if (type !== TYPE.SOA) missing(set, next?.rrsets.get(type), removed);
    }
  }
  return { removed, added };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
