/**
 * Flow ids for event rows, resolved by the event writer on its own
 * connection inside the write transaction. A flow is (kind, client MAC,
 * client IP, server IP); ids come from the `flows` table, so a `vigia
 * ingest` and the daemon writing at the same time share them (INSERT OR
 * IGNORE on the unique key, then SELECT). Lookups go through nested maps
 * keyed by numbers (IPv6 by hex text), so a known flow costs no allocation.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { DHCP_ROW, DNS_ROW } from "./schema.ts";

type IpValue = number | Uint8Array | null;

function ipKey(v: IpValue): number | string {
  if (v === null) return -1;
  if (typeof v === "number") return v;
  let s = "";
  for (let i = 0; i < v.length; i++) s += (v[i] < 16 ? "0" : "") + v[i].toString(16);
  return s;
}

interface Touch {
  count: number;
  first: number;
  last: number;
}

/** Flows of one table, cached. */
export class FlowResolver {
  readonly #insert: StatementSync;
  readonly #select: StatementSync;
  readonly #update: StatementSync;
  // kind → client MAC (or -1) → client IP key → server IP key → id
  #cache = [new Map(), new Map()] as Map<
    number,
    Map<number | string, Map<number | string, number>>
  >[];
  #cached = 0;
  #touched = new Map<number, Touch>();
  /** Flows created by this writer. */
  created = 0;

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(
      `INSERT OR IGNORE INTO flows (kind, client_mac, client_ip, server_ip, vendor, first_seen, last_seen)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#select = db.prepare(
      "SELECT id FROM flows WHERE kind = ? AND ifnull(client_mac, -1) = ? AND client_ip IS ? AND server_ip IS ?",
    );
    this.#update = db.prepare(
      `UPDATE flows SET events = events + ?, first_seen = min(first_seen, ?),
         last_seen = max(last_seen, ?) WHERE id = ?`,
    );
  }

  /**
   * Sets the flow id of the row at `row[at..]` (slots of `schema.ts`; kind
   * 0 is DNS, 1 DHCP), creating the flow, filed under `vendor`, when new.
   */
  resolve(kind: 0 | 1, row: unknown[], at: number, vendor: string): void {
    const slot = kind === 0 ? DNS_ROW : DHCP_ROW;
    const time = row[at + slot.time] as number;
    const toClient = row[at + slot.to_client] as number;
    const srcIp = row[at + slot.src_ip] as IpValue, dstIp = row[at + slot.dst_ip] as IpValue;
    const chaddr = kind === 1 ? row[at + DHCP_ROW.chaddr] as number | null : null;
    const mac = chaddr ?? (row[at + (toClient ? slot.dst_mac : slot.src_mac)] as number | null);
    const clientIp = toClient ? dstIp : srcIp;
    const serverIp = toClient ? srcIp : dstIp;
    const macKey = mac ?? -1;
    const ck = ipKey(clientIp), sk = ipKey(serverIp);
    const byMac = this.#cache[kind];
    let byClient = byMac.get(macKey);
    if (byClient === undefined) byMac.set(macKey, byClient = new Map());
    let byServer = byClient.get(ck);
    if (byServer === undefined) byClient.set(ck, byServer = new Map());
    let id = byServer.get(sk);
    if (id === undefined) {
      id = this.#create(kind === 0 ? "dns" : "dhcp", mac, clientIp, serverIp, vendor, time);
      byServer.set(sk, id);
      this.#cached++;
    }
    row[at + slot.flow] = id;
    const t = this.#touched.get(id);
    if (t === undefined) this.#touched.set(id, { count: 1, first: time, last: time });
    else {
      t.count++;
      if (time < t.first) t.first = time;
      if (time > t.last) t.last = time;
    }
  }

  #create(
    kind: string,
    mac: number | null,
    clientIp: IpValue,
    serverIp: IpValue,
    vendor: string,
    time: number,
  ): number {
    this.#insert.run(kind, mac, clientIp, serverIp, vendor ?? "", time, time);
    const row = this.#select.get(kind, mac ?? -1, clientIp, serverIp) as { id: number } | undefined;
    if (!row) throw new Error("flow row vanished after insert");
    this.created++;
    return Number(row.id);
  }

  /** Adds the counts of the rows resolved since the last call to their flows. */
  commitCounts(): void {
    for (const [id, t] of this.#touched) this.#update.run(t.count, t.first, t.last, id);
    this.#touched.clear();
    if (this.#cached > 500_000) this.forget();
  }

  /** Forgets every cached id (after a rolled-back transaction, or when the cache is large). */
  forget(): void {
    this.#cache = [new Map(), new Map()];
    this.#cached = 0;
    this.#touched.clear();
  }
}
