/**
 * Store migrations of the `veridns` component: every verification, kept for
 * `vigia ctl veridns events` and pruned after `store.retention_days`.
 *
 * @module
 */

import type { Migration } from "../store/mod.ts";

/** Store migrations of the component. */
export const veridnsMigrations: Migration[] = [{
  version: 1,
  sql: `
    CREATE TABLE veridns_events (
      id INTEGER PRIMARY KEY,
      time INTEGER NOT NULL,        -- ms since the epoch
      client TEXT NOT NULL,         -- client source address
      domain TEXT NOT NULL,         -- normalised domain asked about
      reported TEXT NOT NULL,       -- addresses the client reported, comma-separated
      malicious TEXT NOT NULL,      -- addresses answered as malicious, comma-separated
      verified INTEGER NOT NULL,    -- 1 when the answer was Verification=1
      decision TEXT NOT NULL,       -- open-list | resolvers | trust-on-failure | distrust-on-failure
      answered TEXT NOT NULL,       -- resolvers that answered, comma-separated
      failed TEXT NOT NULL          -- resolvers that failed, comma-separated
    );
    CREATE INDEX veridns_events_time ON veridns_events (time);
    CREATE INDEX veridns_events_domain_time ON veridns_events (domain, time);
  `,
}];
