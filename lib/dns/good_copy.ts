/**
 * The last good copy of every zone source, kept as NSD and Knot keep it:
 * when a zone file breaks (its SOA line deleted, a syntax error, the file
 * moved away) or a zone-table row stops parsing, what that source gave the
 * last time it was sound keeps being served, and the error is kept with its
 * FILE:LINE for the log, `ctl status` and `ctl zone status` until the source
 * is fixed. A source that was never sound serves its sound part, as before.
 *
 * Config zones need no copy here: a config whose zones are broken fails its
 * check and `ctl reload` keeps the running config.
 *
 * @module
 */

import { problemText, type SourceResult, TABLE_FILE } from "./sources.ts";
import { nameKey } from "./wire.ts";
import { type BuildResult, findZone, type ZoneDb } from "./zone_db.ts";
import type { ZoneProblem, ZoneRecord } from "./zone_file.ts";

/** Problems that a later edit can still fix: the zone is served anyway, so they are warnings. */
export const INCOMPLETE: RegExp = /has no NS records at its apex|has no A or AAAA record/;

/** Whether a problem makes its source unsound (not just incomplete). */
export function isZoneError(p: ZoneProblem): boolean {
  return !INCOMPLETE.test(p.message);
}

/** A zone source that is broken now. */
export interface SourceError {
  /** The source: a zone file path or `zone table row N`. */
  source: string;
  /** Its problems, as `FILE:LINE: message`. */
  problems: string[];
  /** What is served in its place. */
  serving: "last good copy" | "sound part";
  /** When it broke (ISO time). */
  since: string;
  /** Zones served from it (from the copy served), absolute names. */
  zones: string[];
}

/** What the sources are read into before {@linkcode GoodCopies.merge}. */
export interface FreshSources {
  /** Config zones (already checked when the config was loaded). */
  config: SourceResult;
  /** Each zone file, by path. */
  files: Map<string, SourceResult>;
  /** Each zone-table row, by id. */
  rows: Map<number, SourceResult>;
}

/** The merge of fresh sources and last good copies. */
export interface MergedZones {
  /** Records served. */
  records: ZoneRecord[];
  /** The database built from them. */
  built: BuildResult;
  /** Every problem still found (errors and warnings). */
  problems: ZoneProblem[];
  /** Broken sources, with what is served instead. */
  errors: SourceError[];
}

/** Remembers the last sound copy of each zone file and zone-table row. */
export class GoodCopies {
  readonly #files = new Map<string, ZoneRecord[]>();
  readonly #rows = new Map<number, ZoneRecord[]>();
  readonly #since = new Map<string, string>();

  /**
   * Serves each fresh source that is sound and the last good copy of each
   * one that is not; `build` makes the database (called once, or twice when
   * the first build blames a fresh source that has a good copy).
   */
  merge(fresh: FreshSources, build: (records: ZoneRecord[]) => BuildResult): MergedZones {
    const badFiles = new Set<string>();
    const badRows = new Set<number>();
    for (const [path, r] of fresh.files) if (r.problems.some(isZoneError)) badFiles.add(path);
    for (const [id, r] of fresh.rows) if (r.problems.length > 0) badRows.add(id);
    const assemble = () => {
      const records = [...fresh.config.records];
      for (const [path, r] of fresh.files) {
        appendAll(records, badFiles.has(path) ? this.#files.get(path) ?? r.records : r.records);
      }
      for (const [id, r] of fresh.rows) {
        appendAll(records, badRows.has(id) ? this.#rows.get(id) ?? r.records : r.records);
      }
      return records;
    };
    let records = assemble();
    let built = build(records);
    let blamed = false;
    for (const p of built.problems) {
      if (!isZoneError(p)) continue;
      if (this.#files.has(p.file) && fresh.files.has(p.file) && !badFiles.has(p.file)) {
        badFiles.add(p.file);
        blamed = true;
      }
      if (p.file === TABLE_FILE && this.#rows.has(p.line) && !badRows.has(p.line)) {
        badRows.add(p.line);
        blamed = true;
      }
    }
    // A source blamed by the first build keeps that build's problems: the second serves its copy.
    const buildErrors = new Map<string, ZoneProblem[]>();
    const blame = (problems: ZoneProblem[]) => {
      for (const p of problems) {
        if (!isZoneError(p)) continue;
        const unit = p.file === TABLE_FILE ? `${TABLE_FILE} row ${p.line}` : p.file;
        const list = buildErrors.get(unit) ?? [];
        if (!list.some((q) => q.message === p.message && q.line === p.line)) list.push(p);
        buildErrors.set(unit, list);
      }
    };
    blame(built.problems);
    if (blamed) {
      records = assemble();
      built = build(records);
      blame(built.problems);
    }
    const errors: SourceError[] = [];
    const now = new Date().toISOString();
    const settle = <K>(
      unit: string,
      key: K,
      result: SourceResult,
      bad: boolean,
      copies: Map<K, ZoneRecord[]>,
    ) => {
      const problems = [
        ...(bad ? result.problems.filter(isZoneError) : []),
        ...(buildErrors.get(unit) ?? []),
      ];
      if (problems.length === 0 && !bad) {
        copies.set(key, result.records);
        this.#since.delete(unit);
        return;
      }
      const copy = copies.get(key);
      if (!this.#since.has(unit)) this.#since.set(unit, now);
      errors.push({
        source: unit,
        problems: (problems.length > 0 ? problems : result.problems).map(problemText),
        serving: bad && copy ? "last good copy" : "sound part",
        since: this.#since.get(unit)!,
        zones: zonesOf(built.db, bad && copy ? copy : result.records),
      });
    };
    for (const [path, r] of fresh.files) settle(path, path, r, badFiles.has(path), this.#files);
    for (const [id, r] of fresh.rows) {
      settle(`${TABLE_FILE} row ${id}`, id, r, badRows.has(id), this.#rows);
    }
    for (const id of [...this.#rows.keys()]) {
      if (!fresh.rows.has(id)) {
        this.#rows.delete(id);
        this.#since.delete(`${TABLE_FILE} row ${id}`);
      }
    }
    const problems = [...fresh.config.problems];
    for (const r of [...fresh.files.values(), ...fresh.rows.values()]) {
      appendAll(problems, r.problems);
    }
    appendAll(problems, built.problems);
    return { records, built, problems, errors };
  }
}

/** `to.push(...from)` without the argument spread, which overflows the stack for big zones. */
function appendAll<T>(to: T[], from: T[]): void {
  for (let i = 0; i < from.length; i++) to.push(from[i]);
}

function zonesOf(db: ZoneDb, records: ZoneRecord[]): string[] {
  const zones = new Set<string>();
  for (const r of records) {
    const zone = findZone(db, nameKey(r.name));
    if (zone) zones.add(zone.name);
  }
  return [...zones];
}
