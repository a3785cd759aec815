/**
 * Store migrations of the `dns` component: the zone table edited by
 * `vigia ctl zone add|del`; the serial of each zone and the journal of
 * changes IXFR answers from (`journal.ts`); the copy of each secondary zone
 * (`secondary.ts`).
 *
 * @module
 */

import type { Migration } from "../store/mod.ts";

/** Migrations of the zone table. A trigger bumps a generation number on every edit, so the
 * server notices edits made by any process. */
export const dnsMigrations: Migration[] = [{
  version: 1,
  sql: `
    CREATE TABLE dns_records (
      id INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      type TEXT NOT NULL,
      value TEXT NOT NULL,
      ttl INTEGER,
      created_at TEXT NOT NULL
    );
    CREATE INDEX dns_records_name ON dns_records (name COLLATE NOCASE);
    CREATE TABLE dns_records_generation (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL);
    INSERT INTO dns_records_generation (id, generation) VALUES (1, 0);
    CREATE TRIGGER dns_records_insert AFTER INSERT ON dns_records
      BEGIN UPDATE dns_records_generation SET generation = generation + 1; END;
    CREATE TRIGGER dns_records_update AFTER UPDATE ON dns_records
      BEGIN UPDATE dns_records_generation SET generation = generation + 1; END;
    CREATE TRIGGER dns_records_delete AFTER DELETE ON dns_records
      BEGIN UPDATE dns_records_generation SET generation = generation + 1; END;
  `,
}, {
  version: 2,
  sql: `
    CREATE TABLE dns_zone_serials (
      zone TEXT PRIMARY KEY,
      serial INTEGER NOT NULL,
      source_serial INTEGER NOT NULL,
      digest TEXT NOT NULL,
      changed_at TEXT NOT NULL
    );
    CREATE TABLE dns_journal (
      id INTEGER PRIMARY KEY,
      zone TEXT NOT NULL,
      serial_from INTEGER NOT NULL,
      serial_to INTEGER NOT NULL,
      soa_from BLOB NOT NULL,
      soa_to BLOB NOT NULL,
      soa_ttl INTEGER NOT NULL,
      removed BLOB NOT NULL,
      added BLOB NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX dns_journal_zone ON dns_journal (zone, id);
  `,
}, {
  version: 3,
  sql: `
    CREATE TABLE dns_secondary_zones (
      zone TEXT PRIMARY KEY,
      serial INTEGER NOT NULL,
      records BLOB NOT NULL,
      transferred_at TEXT NOT NULL,
      transfer_info TEXT NOT NULL,
      expires_at TEXT NOT NULL
    );
  `,
}];
