/**
 * Store migrations of the `dns` component: the zone table edited by
 * `vigia ctl zone add|del`.
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
}];
