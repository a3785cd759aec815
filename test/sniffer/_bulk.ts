/**
 * Fills an events database with a large synthetic data set in SQL, fast: the
 * event indexes are dropped, the rows inserted by one recursive statement
 * in one transaction, and the indexes rebuilt (a sorted build is several
 * times faster than maintaining them row by row). Used by the index test
 * and by `scripts/bench/queries.ts`.
 *
 * The set: `clients` stations on 10.1.x.y (MAC 3c:22:fb:10:x:y, every
 * tenth one randomised), two resolvers (10.1.0.53 gets 80%), one rare
 * third server (10.66.0.53, 0.1%), queries and answers alternating,
 * spread evenly over `days` days from 2026-11-01 UTC, plus one DHCP
 * exchange per client per day.
 *
 * @module
 */

import { openEventsDb } from "../../lib/sniffer/events_db.ts";

/** Options of {@linkcode fillEvents}. */
export interface BulkOptions {
  /** DNS rows. @default 1000000 */
  rows?: number;
  /** Client stations. @default 500 */
  clients?: number;
  /** Days covered. @default 7 */
  days?: number;
}

/** First instant of the data set, ms. */
export const BULK_START = Date.parse("2026-11-01T00:00:00Z");

/** Fills the events database at `path` (created when missing, expected empty); returns the rows. */
export function fillEvents(path: string, options: BulkOptions = {}): number {
  const db = openEventsDb(path);
  const store = {
    query: <T>(sql: string, ...p: (number | string)[]) => db.prepare(sql).all(...p) as T[],
    run: (sql: string, ...p: (number | string)[]) => db.prepare(sql).run(...p),
    transaction: (fn: () => unknown) => {
      db.exec("BEGIN IMMEDIATE");
      try {
        fn();
        db.exec("COMMIT");
      } catch (e) {
        db.exec("ROLLBACK");
        throw e;
      }
    },
  };
  const { rows = 1_000_000, clients = 500, days = 7 } = options;
  const startUs = BULK_START * 1000;
  const stepUs = Math.floor((days * 86_400_000_000) / rows);
  const indexes = store.query<{ sql: string }>(
    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL",
  );
  const mac = (c: string) =>
    `CASE WHEN ${c} % 10 = 9 THEN 0xdaa119100000 ELSE 0x3c22fb100000 END + ${c}`;
  store.transaction(() => {
    for (
      const i of store.query<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL",
      )
    ) store.run(`DROP INDEX ${i.name}`);
    // Flows: client c with server s (0, 1, 2 = rare) is flow 1 + c * 3 + s; DHCP flows after.
    store.run(
      `WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ? - 1),
         s(j) AS (VALUES (0), (1), (2))
       INSERT INTO flows (id, kind, client_mac, client_ip, server_ip, vendor, events, first_seen, last_seen)
       SELECT 1 + i * 3 + j, 'dns', ${mac("i")}, 0x0a010000 + 256 + i,
         CASE j WHEN 0 THEN 0x0a010035 WHEN 1 THEN 0x0a010036 ELSE 0x0a420035 END,
         CASE WHEN i % 10 = 9 THEN '(locally administered)' ELSE 'Apple' END, 0, 0, 0
       FROM c, s`,
      clients,
    );
    store.run(
      `WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ? - 1)
       INSERT INTO flows (id, kind, client_mac, client_ip, server_ip, vendor, events, first_seen, last_seen)
       SELECT 1 + ? * 3 + i, 'dhcp', ${mac("i")}, 0, 0xffffffff,
         CASE WHEN i % 10 = 9 THEN '(locally administered)' ELSE 'Apple' END, 0, 0, 0 FROM c`,
      clients,
      clients,
    );
    // DNS rows: row n belongs to client ((n / 2) * 7919) % clients; a query when n is even.
    store.run(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1),
         r AS (SELECT i, ? + i * ? AS t, i % 2 AS q, ((i / 2) * 7919) % ? AS c,
           CASE WHEN (i / 6) % 1000 = 7 THEN 2 WHEN (i / 6) % 5 = 0 THEN 1 ELSE 0 END AS s FROM n),
         x AS (SELECT r.*, ${mac("c")} AS m, 0x0a010000 + 256 + c AS ip,
           CASE s WHEN 0 THEN 0x0a010035 WHEN 1 THEN 0x0a010036 ELSE 0x0a420035 END AS srv FROM r)
       INSERT INTO events (time, kind, flow, to_client, src_mac, dst_mac, src_ip, dst_ip, src_port,
         dst_port, proto, vlan, trans_id, opcode, rcode, flags, query, qtype, qclass, answers)
       SELECT t, 'dns', 1 + c * 3 + s, q, CASE q WHEN 0 THEN m ELSE 0x001122334455 END,
         CASE q WHEN 0 THEN 0x001122334455 ELSE m END,
         CASE q WHEN 0 THEN ip ELSE srv END, CASE q WHEN 0 THEN srv ELSE ip END,
         CASE q WHEN 0 THEN 40000 ELSE 53 END, CASE q WHEN 0 THEN 53 ELSE 40000 END, 'udp', 0,
         (i / 2) % 65536, 0, 0, CASE q WHEN 0 THEN 4 ELSE 12 END,
         'host' || ((i / 2) % 10000) || '.example.com', 1, 1,
         CASE q WHEN 0 THEN NULL ELSE '[["x","A",300,"93.184.216.34"]]' END
       FROM x`,
      rows,
      startUs,
      stepUs,
      clients,
    );
    // DHCP: DISCOVER, OFFER, REQUEST, ACK per client per day, clients a minute apart.
    store.run(
      `WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ? - 1),
         d(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM d WHERE j < ? - 1),
         k(n, type) AS (VALUES (0, 'DISCOVER'), (1, 'OFFER'), (2, 'REQUEST'), (3, 'ACK'))
       INSERT INTO events (time, kind, flow, to_client, src_mac, dst_mac, src_ip, dst_ip, src_port,
         dst_port, proto, vlan, trans_id, msg_type, dhcp_version, chaddr, assigned_addr, server_addr)
       SELECT ? + j * 86400000000 + i * 60000000 + n * 1000, 'dhcp', 1 + ? * 3 + i, n % 2,
         CASE n % 2 WHEN 0 THEN ${mac("i")} ELSE 0x001122334455 END, 0xffffffffffff,
         CASE n % 2 WHEN 0 THEN 0 ELSE 0x0a010001 END, 0xffffffff,
         CASE n % 2 WHEN 0 THEN 68 ELSE 67 END, CASE n % 2 WHEN 0 THEN 67 ELSE 68 END, 'udp', 0,
         i * 100 + j, type, 4, ${
        mac("i")
      }, CASE n % 2 WHEN 1 THEN '10.1.' || (1 + i / 256) || '.' || (i % 256) END,
         CASE n % 2 WHEN 1 THEN '10.1.0.1' END
       FROM c, d, k`,
      clients,
      days,
      startUs,
      clients,
    );
    for (const i of indexes) store.run(i.sql);
    store.run(
      `UPDATE flows SET (events, first_seen, last_seen) =
         (SELECT count(*), ifnull(min(time), 0), ifnull(max(time), 0) FROM events WHERE flow = flows.id)`,
    );
  });
  db.close();
  return rows;
}
