/**
 * Store migrations of the scanner: one row per scan, with the whole result.
 *
 * @module
 */

import type { Migration } from "../store/mod.ts";

/** Store migrations of the scanner. */
export const scannerMigrations: Migration[] = [{
  version: 1,
  sql: `
    CREATE TABLE scans (
      id INTEGER PRIMARY KEY,
      domain TEXT NOT NULL,
      time INTEGER NOT NULL,            -- scan start, ms since the epoch
      duration_ms INTEGER NOT NULL,
      resolved INTEGER NOT NULL,        -- 1 when some resolver answered
      addresses INTEGER NOT NULL,       -- NumServers (IPv4 + IPv6)
      a_records INTEGER NOT NULL,
      ranges INTEGER NOT NULL,
      asns INTEGER NOT NULL,
      countries INTEGER NOT NULL,
      cities INTEGER NOT NULL,
      ttl INTEGER,
      name_servers INTEGER NOT NULL,
      flux TEXT NOT NULL,               -- rule-based verdict: Clean | Fast-Flux
      modified_holz REAL NOT NULL,
      jaroslaw_patrycja REAL NOT NULL,
      worst TEXT,                       -- most severe finding level
      findings TEXT NOT NULL,           -- finding codes, comma separated
      changes TEXT NOT NULL,            -- JSON array of {code, message} against the previous scan
      result TEXT NOT NULL              -- the ScanResult JSON
    );
    CREATE INDEX scans_domain_time ON scans (domain, time);
    CREATE INDEX scans_time ON scans (time);
  `,
}];
