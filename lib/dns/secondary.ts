/**
 * Secondary zones (`[[dns.secondary]]`): vigia follows a zone from other
 * primaries as RFC 1034 section 4.3.5 and RFC 1996 say. A check asks a
 * primary's SOA and transfers the zone when its serial is greater: IXFR
 * from the serial held, falling back to AXFR when the primary cannot give
 * an increment (or gives one that does not apply), AXFR when nothing is held
 * (`xfr_in.ts` does the protocol and checks every message). Primaries are
 * tried in order. Checks run every SOA refresh after a success, every SOA
 * retry after a failure, and at once when a NOTIFY from a primary comes in.
 * A zone not confirmed by any primary for SOA expire seconds answers
 * SERVFAIL (as does one that never got a first transfer).
 *
 * Each copy is kept in the store (`dns_secondary_zones`), so a restart
 * serves it at once, until the expiry it had. A failed transfer (network,
 * refused, bad signature, malformed, oversized) is counted, logged with
 * the primary's address, kept as the zone's last error, and the copy served
 * does not change.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import type { Store } from "../store/mod.ts";
import { packRecords, unpackRecords } from "./pack.ts";
import { soaField, soaSerial } from "./serial.ts";
import type { TsigKey } from "./tsig.ts";
import { nameFromText, nameKey, TYPE } from "./wire.ts";
import { checkPrimary, type IncomingChange, TransferError, type TransferResult } from "./xfr_in.ts";
import type { ZoneRecord } from "./zone_file.ts";

/** A secondary zone as configured, keys resolved. */
export interface SecondaryZoneInit {
  /** Apex, absolute, lower case. */
  zone: string;
  /** Primaries in the order they are tried. */
  primaries: { host: string; port: number; text: string }[];
  /** The key transfers are signed with. */
  key?: TsigKey;
}

/** Options for {@linkcode SecondaryZones}. */
export interface SecondaryOptions {
  /** Where copies are kept. */
  store: Store;
  /** Where transfers and failures are logged. */
  log: Logger;
  /** Most records a zone may have (`dns.max_zone_records`). */
  maxRecords: number;
  /** Called when what is served changed (a new copy, an expiry). */
  onChange: () => void;
  /** Longest wait for a primary's next bytes. @default 10000 */
  idleTimeoutMs?: number;
}

/** What a secondary zone shows in `ctl zone status`. */
export interface SecondaryStatus {
  /** Apex. */
  zone: string;
  /** `ok`, `expired`, or `pending` (no first transfer yet). */
  state: "ok" | "expired" | "pending";
  /** Serial held, if any. */
  serial: number | null;
  /** Records held. */
  records: number;
  /** Last transfer in: when, how and from where. */
  last_transfer_in: string | null;
  /** When the next check is due (ISO time). */
  next_refresh: string | null;
  /** When the copy expires unless a primary confirms it (ISO time). */
  expires_at: string | null;
  /** Last failure, `TIME PRIMARY: reason`, cleared by a success. */
  last_error: string | null;
}

/** Counters of transfers in. */
export interface TransferInStats {
  /** Checks started (timer or NOTIFY). */
  checks: number;
  /** Checks that found the copy up to date. */
  up_to_date: number;
  /** Full transfers received. */
  axfr: number;
  /** Incremental transfers received. */
  ixfr: number;
  /** IXFR attempts that fell back to AXFR. */
  ixfr_fallback: number;
  /** NOTIFYs from primaries that started a check. */
  notify_in: number;
  /** Failed attempts by reason. */
  failed: Record<TransferError["kind"], number>;
}

interface Row {
  zone: string;
  serial: number;
  records: Uint8Array;
  transferred_at: string;
  transfer_info: string;
  expires_at: string;
}

interface State {
  init: SecondaryZoneInit;
  records?: ZoneRecord[];
  serial?: number;
  expiresAt: number;
  nextCheck: number;
  lastTransferIn: string | null;
  lastError: string | null;
  timer?: ReturnType<typeof setTimeout>;
  checking: boolean;
  again: boolean;
}

/** Timers before a first copy: NSD and Knot also retry soon. */
const FIRST_RETRY_S = 5;
/** Longest setTimeout delay. */
const MAX_DELAY_MS = 0x7fffffff;

/** Follows every `[[dns.secondary]]` zone. */
export class SecondaryZones {
  readonly #o: SecondaryOptions;
  readonly #zones = new Map<string, State>();
  #stopped = false;
  /** Counters. */
  readonly stats: TransferInStats = {
    checks: 0,
    up_to_date: 0,
    axfr: 0,
    ixfr: 0,
    ixfr_fallback: 0,
    notify_in: 0,
    failed: { network: 0, refused: 0, signature: 0, malformed: 0, oversized: 0 },
  };

  constructor(zones: SecondaryZoneInit[], options: SecondaryOptions) {
    this.#o = options;
    for (const init of zones) {
      this.#zones.set(init.zone, {
        init,
        expiresAt: 0,
        nextCheck: Date.now(),
        lastTransferIn: null,
        lastError: null,
        checking: false,
        again: false,
      });
    }
    this.#loadStored();
  }

  /** Zones followed (apex, absolute, lower case). */
  get names(): string[] {
    return [...this.#zones.keys()];
  }

  #loadStored(): void {
    for (
      const row of this.#o.store.query<Row>(
        "SELECT zone, serial, records, transferred_at, transfer_info, expires_at FROM dns_secondary_zones",
      )
    ) {
      const z = this.#zones.get(row.zone);
      if (!z) continue;
      z.records = unpackRecords(new Uint8Array(row.records)).map((r) => ({
        ...r,
        file: `secondary ${row.zone}`,
      }));
      z.serial = row.serial;
      z.expiresAt = Date.parse(row.expires_at);
      z.lastTransferIn = `${row.transferred_at} ${row.transfer_info}`;
    }
  }

  /** Starts checking every zone now. */
  start(): void {
    for (const z of this.#zones.values()) void this.#check(z, "start");
  }

  /** Stops every timer (a transfer under way ends on its own). */
  stop(): void {
    this.#stopped = true;
    for (const z of this.#zones.values()) clearTimeout(z.timer);
  }

  /**
   * What to serve: each copy held, and the zones to answer SERVFAIL for
   * (expired, or never transferred: `pending`, served as a bare placeholder SOA).
   */
  served(now = Date.now()): { records: ZoneRecord[]; servfail: string[]; pending: string[] } {
    const records: ZoneRecord[] = [];
    const servfail: string[] = [];
    const pending: string[] = [];
    for (const [name, z] of this.#zones) {
      if (!z.records) {
        records.push(placeholderSoa(name));
        servfail.push(name);
        pending.push(name);
        continue;
      }
      for (const r of z.records) records.push(r);
      if (z.expiresAt <= now) servfail.push(name);
    }
    return { records, servfail, pending };
  }

  /** A NOTIFY for `zone` from one of its primaries (already checked): check at once. */
  notified(zone: string): void {
    const z = this.#zones.get(zone);
    if (!z || this.#stopped) return;
    this.stats.notify_in++;
    void this.#check(z, "notify");
  }

  /** Per zone, for `ctl zone status`. */
  status(now = Date.now()): SecondaryStatus[] {
    return [...this.#zones.entries()].map(([zone, z]) => ({
      zone,
      state: !z.records ? "pending" : z.expiresAt <= now ? "expired" : "ok",
      serial: z.serial ?? null,
      records: z.records?.length ?? 0,
      last_transfer_in: z.lastTransferIn,
      next_refresh: z.checking ? "now" : new Date(z.nextCheck).toISOString(),
      expires_at: z.records ? new Date(z.expiresAt).toISOString() : null,
      last_error: z.lastError,
    }));
  }

  #schedule(z: State): void {
    clearTimeout(z.timer);
    if (this.#stopped) return;
    const now = Date.now();
    let at = z.nextCheck;
    // Wake at the expiry too, so that SERVFAIL starts on time.
    if (z.records && z.expiresAt > now && z.expiresAt < at) at = z.expiresAt;
    z.timer = setTimeout(() => {
      if (z.records && z.expiresAt <= Date.now() && z.expiresAt > now) {
        this.#o.log.warn("secondary zone expired: answering SERVFAIL", {
          zone: z.init.zone,
          serial: z.serial,
        });
        this.#o.onChange();
      }
      if (Date.now() >= z.nextCheck) void this.#check(z, "refresh");
      else this.#schedule(z);
    }, Math.min(Math.max(0, at - now), MAX_DELAY_MS));
  }

  async #check(z: State, reason: string): Promise<void> {
    if (this.#stopped) return;
    if (z.checking) {
      z.again = true;
      return;
    }
    z.checking = true;
    clearTimeout(z.timer);
    this.stats.checks++;
    let failure: string | undefined;
    try {
      for (const primary of z.init.primaries) {
        try {
          await this.#checkOne(z, primary);
          failure = undefined;
          break;
        } catch (e) {
          const kind = e instanceof TransferError ? e.kind : "network";
          this.stats.failed[kind]++;
          const message = (e as Error).message;
          failure = `${new Date().toISOString()} ${primary.text}: ${kind}: ${message}`;
          this.#o.log.warn("transfer in failed, the copy served is kept", {
            zone: z.init.zone,
            primary: primary.text,
            reason: kind,
            error: message,
            trigger: reason,
          });
        }
      }
    } finally {
      z.checking = false;
    }
    const soa = this.#soa(z);
    if (failure) {
      z.lastError = failure;
      z.nextCheck = Date.now() + 1000 * Math.max(1, soa ? soaField(soa, 2) : FIRST_RETRY_S);
    }
    if (this.#stopped) return;
    if (z.again) {
      z.again = false;
      void this.#check(z, "notify");
      return;
    }
    this.#schedule(z);
  }

  #soa(z: State): Uint8Array | undefined {
    return z.records?.find((r) => r.type === TYPE.SOA)?.rdata;
  }

  async #checkOne(z: State, primary: SecondaryZoneInit["primaries"][number]): Promise<void> {
    const source = {
      zone: z.init.zone,
      host: primary.host,
      port: primary.port,
      key: z.init.key,
      maxRecords: this.#o.maxRecords,
      idleTimeoutMs: this.#o.idleTimeoutMs,
    };
    let result: TransferResult;
    let records: ZoneRecord[] | undefined;
    try {
      result = await checkPrimary(source, { serial: z.serial });
      if (result.kind === "incremental") records = applyChanges(z.records!, result, this.#o);
    } catch (e) {
      // RFC 1995 section 4: an increment the primary cannot give, or that does not apply: ask the whole zone.
      const retryable = z.serial !== undefined &&
        !(e instanceof TransferError && (e.kind === "network" || e.kind === "signature"));
      if (!retryable) throw e;
      this.stats.ixfr_fallback++;
      this.#o.log.info("IXFR failed, asking AXFR", {
        zone: z.init.zone,
        primary: primary.text,
        error: (e as Error).message,
      });
      result = await checkPrimary(source, { serial: z.serial, ixfr: false });
      records = undefined;
    }
    const now = Date.now();
    if (result.kind === "up-to-date") {
      this.stats.up_to_date++;
      this.#confirm(z, now);
      return;
    }
    if (result.kind === "full") records = result.records;
    if (!records) throw new TransferError("malformed", "nothing to apply");
    const soa = records.find((r) => r.type === TYPE.SOA)!;
    const info = `${result.kind === "full" ? "AXFR" : "IXFR"} from ${primary.text}, serial ${
      z.serial ?? "none"
    } -> ${result.serial}, ${records.length} records, ${result.messages} messages`;
    for (const r of records) r.file = `secondary ${z.init.zone}`;
    z.records = records;
    z.serial = soaSerial(soa.rdata);
    z.lastError = null;
    z.lastTransferIn = `${new Date(now).toISOString()} ${info}`;
    if (result.kind === "full") this.stats.axfr++;
    else this.stats.ixfr++;
    this.#confirm(z, now);
    this.#o.store.run(
      `INSERT INTO dns_secondary_zones (zone, serial, records, transferred_at, transfer_info, expires_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (zone) DO UPDATE SET serial = excluded.serial,
       records = excluded.records, transferred_at = excluded.transferred_at,
       transfer_info = excluded.transfer_info, expires_at = excluded.expires_at`,
      z.init.zone,
      z.serial,
      packRecords(records),
      new Date(now).toISOString(),
      info,
      new Date(z.expiresAt).toISOString(),
    );
    this.#o.log.info("transfer in", { zone: z.init.zone, ...{ transfer: info } });
    this.#o.onChange();
  }

  /** A primary confirmed the copy: refresh and expire restart from now (RFC 1034 section 4.3.5). */
  #confirm(z: State, now: number): void {
    const soa = this.#soa(z)!;
    const wasExpired = z.expiresAt <= now;
    z.lastError = null;
    z.expiresAt = now + 1000 * Math.max(1, soaField(soa, 3));
    z.nextCheck = now + 1000 * Math.max(1, soaField(soa, 1));
    this.#o.store.run(
      "UPDATE dns_secondary_zones SET expires_at = ? WHERE zone = ?",
      new Date(z.expiresAt).toISOString(),
      z.init.zone,
    );
    if (wasExpired) this.#o.onChange();
  }
}

/** SOA RDATA `. . 0 0 0 0 0`: the apex of a zone not transferred yet (answered SERVFAIL). */
function placeholderSoa(zone: string): ZoneRecord {
  return {
    name: nameFromText(zone),
    type: TYPE.SOA,
    ttl: 0,
    rdata: new Uint8Array(22),
    file: `secondary ${zone}`,
    line: 0,
  };
}

function recordId(r: ZoneRecord): string {
  let s = nameKey(r.name) + String.fromCharCode(r.type >> 8, r.type & 0xff);
  for (let i = 0; i < r.rdata.length; i++) s += String.fromCharCode(r.rdata[i]);
  return s;
}

/**
 * The copy after the changes of an IXFR; throws (for the AXFR fallback)
 * when a record to remove is not held, or the result is too big.
 */
function applyChanges(
  held: ZoneRecord[],
  result: { soa: ZoneRecord; changes: IncomingChange[] },
  options: { maxRecords: number },
): ZoneRecord[] {
  const byId = new Map<string, ZoneRecord>();
  for (const r of held) if (r.type !== TYPE.SOA) byId.set(recordId(r), r);
  for (const c of result.changes) {
    for (const r of c.removed) {
      if (r.type === TYPE.SOA) continue;
      if (!byId.delete(recordId(r))) {
        throw new TransferError("malformed", `IXFR ${c.from}->${c.to} removes a record not held`);
      }
    }
    for (const r of c.added) if (r.type !== TYPE.SOA) byId.set(recordId(r), r);
  }
  if (byId.size + 1 > options.maxRecords) {
    throw new TransferError(
      "oversized",
      `more than ${options.maxRecords} records (dns.max_zone_records)`,
    );
  }
  return [result.soa, ...byId.values()];
}
