/**
 * The `dns` component instance: loads the zone sources, builds the zone
 * database, and serves it on every listen address — UDP through the FFI
 * fast path (workers) or the portable path, TCP on Deno's listener. Zone
 * table edits and zone file changes are picked up while running.
 *
 * @module
 */

import type { Component, ComponentContext } from "../daemon/types.ts";
import type { Logger } from "../log/mod.ts";
import { parseHostPort, parseIp } from "../net/mod.ts";
import type { DnsConfig } from "./config.ts";
import { COUNTER, COUNTER_COUNT, MAX_ZONE_SLOTS, Responder } from "./engine.ts";
import type { RrlOptions } from "./rrl.ts";
import { GoodCopies, isZoneError, type SourceError } from "./good_copy.ts";
import { type ZoneStatus, zoneStatusRows } from "./zone_status.ts";
import { type SerialDecision, ZoneJournal } from "./journal.ts";
import type { SerialPolicy } from "./serial.ts";
import { transferPolicyInit } from "./transfer_config.ts";
import { Notifier } from "./notify.ts";
import { SignedAnswers, TransferPolicy, TransferServer } from "./xfr_out.ts";
import {
  configRecords,
  problemText,
  type SourceResult,
  sourceText,
  tableGeneration,
  tableRowRecords,
  zoneFileRecords,
} from "./sources.ts";
import { packRecords } from "./pack.ts";
import { TcpServer } from "./tcp.ts";
import { FastUdpListener } from "./udp_fast.ts";
import { type PortableUdp, startPortableUdp } from "./udp_portable.ts";
import { rcodeName } from "./wire.ts";
import { registerDnsMetrics } from "./metrics.ts";
import { buildZoneDb, markServfail, type ZoneDb } from "./zone_db.ts";
import { type SecondaryZoneInit, SecondaryZones } from "./secondary.ts";
import { tsigKeyLookup } from "./tsig.ts";
import type { ZoneProblem, ZoneRecord } from "./zone_file.ts";

interface Listener {
  address: string;
  port: number;
  /** Wildcard IPv6 address (`[::]`), whose Deno sockets are dual-stack. */
  anyV6: boolean;
  /** Absent when a dual-stack `[::]` listener of the same port already takes IPv4. */
  tcp?: TcpServer;
  fast?: FastUdpListener;
  portable?: PortableUdp;
}

/** Wildcard IPv6 first: Deno binds `[::]` dual-stack, so `0.0.0.0` of the same port comes after it. */
function bindOrder(addresses: string[]): string[] {
  const isAnyV6 = (a: string) => /^\[(::|0*:0*:0*:0*:0*:0*:0*:0*)\]/.test(a);
  return [...addresses.filter(isAnyV6), ...addresses.filter((a) => !isAnyV6(a))];
}

/** Summary of a zone load, returned by {@linkcode DnsServer.reloadZones}. */
export interface ZoneLoad {
  /** Zones served. */
  zones: number;
  /** Records served. */
  records: number;
  /** Problems found (records left out), as `SOURCE: message`. */
  problems: string[];
}

/** The running DNS server. */
export class DnsServer implements Component {
  readonly #config: DnsConfig;
  readonly #ctx: ComponentContext<DnsConfig>;
  readonly #log: Logger;
  readonly #listeners: Listener[] = [];
  readonly #slots = new Map<string, number>();
  #responder!: Responder;
  #db!: ZoneDb;
  #configRecords: SourceResult | undefined;
  #files = new Map<string, SourceResult>();
  readonly #copies = new GoodCopies();
  #errors: SourceError[] = [];
  #loadedAt = "";
  #decisions: SerialDecision[] = [];
  readonly #journal: ZoneJournal;
  #policy!: TransferPolicy;
  #transfers: TransferServer | undefined;
  #notifier: Notifier | undefined;
  #secondaries: SecondaryZones | undefined;
  #servfail: string[] = [];
  #generation = 0;
  #tableGeneration = -1;
  #fileStamps = new Map<string, number>();
  #poll: ReturnType<typeof setInterval> | undefined;
  #sampler: ReturnType<typeof setInterval> | undefined;
  #samples: { t: number; queries: number }[] = [];
  #fail!: (e: Error) => void;
  #stopped = false;
  /** Rejects when the server dies on its own (a UDP worker crashed). */
  readonly done: Promise<void>;

  /** Builds the server from its context; {@linkcode DnsServer.start} binds the sockets. */
  constructor(ctx: ComponentContext<DnsConfig>) {
    this.#ctx = ctx;
    this.#config = ctx.section;
    this.#log = ctx.log;
    this.#journal = new ZoneJournal(ctx.store, {
      policy: ctx.section.serial_policy as SerialPolicy,
      limit: ctx.section.ixfr_journal_changes,
    });
    this.done = new Promise<void>((_, reject) => (this.#fail = reject));
    this.done.catch(() => {});
  }

  #slotOf = (name: string): number => {
    let slot = this.#slots.get(name);
    if (slot === undefined) {
      slot = Math.min(this.#slots.size, MAX_ZONE_SLOTS - 1);
      this.#slots.set(name, slot);
    }
    return slot;
  };

  #rrl(): RrlOptions | undefined {
    const r = this.#config.rrl;
    if (!r.enabled) return undefined;
    return {
      rate: r.responses_per_second,
      slip: r.slip,
      ipv4Prefix: r.ipv4_prefix,
      ipv6Prefix: r.ipv6_prefix,
      size: r.table_size,
    };
  }

  /** Reads every source and builds the database; returns the records served. */
  #load(readStatic: boolean): { records: ZoneRecord[]; problems: ZoneProblem[] } {
    const cfg = this.#config;
    if (readStatic || !this.#configRecords) {
      this.#configRecords = configRecords(cfg);
      this.#files = new Map();
      for (const path of cfg.zone_files) {
        this.#fileStamps.set(path, mtime(path));
        this.#files.set(path, zoneFileRecords(path, cfg.default_ttl));
      }
    }
    this.#tableGeneration = tableGeneration(this.#ctx.store);
    // Secondary zones come in beside the config zones: they need no good copy of their own.
    const secondary = this.#secondaries?.served();
    const config = secondary
      ? {
        records: [...this.#configRecords.records, ...secondary.records],
        problems: this.#configRecords.problems,
      }
      : this.#configRecords;
    this.#servfail = secondary?.servfail ?? [];
    const merged = this.#copies.merge({
      config,
      files: this.#files,
      rows: tableRowRecords(this.#ctx.store, cfg.default_ttl),
    }, (records) => {
      const built = buildZoneDb(records, { slotOf: this.#slotOf });
      markServfail(built.db, this.#servfail);
      return built;
    });
    const previous = this.#db;
    const db = merged.built.db;
    const { decisions, records } = this.#journal.settle(db, {
      previous,
      records: merged.records,
      follow: this.#secondaries ? new Set(this.#secondaries.names) : undefined,
    });
    this.#db = db;
    this.#loadedAt = new Date().toISOString();
    this.#logErrors(merged.errors);
    this.#errors = merged.errors;
    for (const d of decisions) {
      if (d.changed) {
        this.#log.info("zone serial", { zone: d.zone, serial: d.serial, previous: d.previous });
        this.#notifier?.notify(d.zone, d.serial);
      }
    }
    this.#decisions = decisions;
    // A zone not transferred yet is a bare SOA: its missing NS is nobody's mistake.
    const pending = new Set(secondary?.pending.map((z) => `secondary ${z}`));
    const problems = pending.size === 0
      ? merged.problems
      : merged.problems.filter((p) => !pending.has(p.file));
    return { records, problems };
  }

  /** Logs broken sources when they change (each problem with its FILE:LINE). */
  #logErrors(errors: SourceError[]): void {
    const seen = new Set(this.#errors.map((e) => `${e.source}\n${e.problems.join("\n")}`));
    for (const e of errors) {
      if (seen.has(`${e.source}\n${e.problems.join("\n")}`)) continue;
      for (const problem of e.problems.slice(0, 20)) {
        this.#log.error(`zone source broken, serving its ${e.serving}`, {
          source: e.source,
          zones: e.zones.join(",") || "none",
          problem,
        });
      }
      if (e.problems.length > 20) {
        this.#log.error("more problems", { source: e.source, count: e.problems.length - 20 });
      }
    }
    const now = new Set(errors.map((e) => e.source));
    for (const e of this.#errors) {
      if (!now.has(e.source)) {
        this.#log.info("zone source fixed", { source: e.source, was: e.problems[0] });
      }
    }
  }

  #logProblems(problems: ZoneProblem[]): void {
    const warnings = problems.filter((p) => !isZoneError(p));
    for (const p of warnings.slice(0, 50)) {
      this.#log.warn("zone problem", { problem: problemText(p) });
    }
    if (warnings.length > 50) this.#log.warn("more zone problems", { count: warnings.length - 50 });
  }

  #snapshot(records: ZoneRecord[]) {
    return {
      records: packRecords(records),
      slots: Object.fromEntries(this.#slots),
      generation: ++this.#generation,
      servfail: this.#servfail,
    };
  }

  /** Binds every address and starts serving. */
  async start(): Promise<void> {
    const cfg = this.#config;
    const xfr = transferPolicyInit(cfg).init;
    this.#policy = new TransferPolicy(xfr);
    this.#secondaries = this.#secondaryZones(xfr.secondaries ?? []);
    const { records, problems } = this.#load(true);
    this.#logProblems(problems);
    const rrl = this.#rrl();
    const active = this.#policy.active;
    const onNotify = (zone: string) => {
      this.#log.info("NOTIFY from a primary: checking", { zone });
      this.#secondaries?.notified(zone);
    };
    this.#transfers = active
      ? new TransferServer({
        policy: () => this.#policy,
        db: () => this.#db,
        journal: this.#journal,
        log: this.#log,
      })
      : undefined;
    this.#notifier = active
      ? new Notifier({ policy: () => this.#policy, log: this.#log })
      : undefined;
    this.#responder = new Responder(this.#db, {
      signed: active ? new SignedAnswers(this.#policy, { onNotify }) : undefined,
      maxUdpPayload: cfg.max_udp_payload,
      cacheEntries: cfg.answer_cache,
      rrl,
      metrics: this.#ctx.metrics.enabled,
    });
    registerDnsMetrics(this.#ctx.metrics, {
      arrays: () => this.#counterArrays(),
      zones: () =>
        [...(this.#db?.zones.values() ?? [])].map((z) => ({ name: z.name, slot: z.slot })),
      zoneStatus: () => this.zoneStatus(),
      transfers: () => ({ out: this.#transfers?.stats, in: this.#secondaries?.stats }),
    });
    const snapshot = this.#snapshot(records);
    try {
      for (const address of bindOrder(cfg.listen)) {
        const hp = parseHostPort(address, 53);
        if (typeof hp === "string") throw new Error(hp);
        const ip = parseIp(hp.host)!;
        const anyV6 = ip.length === 16 && ip.every((b) => b === 0);
        const listener: Listener = { address, port: hp.port, anyV6 };
        this.#listeners.push(listener);
        // A "0.0.0.0" bind fails when our dual-stack "[::]" listener of the same port already covers IPv4.
        const coveredByV6 = (e: unknown) =>
          e instanceof Deno.errors.AddrInUse && hp.host === "0.0.0.0" &&
          this.#listeners.some((l) => l.anyV6 && l.port === hp.port);
        // TCP first: Deno.listen enforces --allow-net, which the FFI sockets would bypass.
        try {
          listener.tcp = TcpServer.start(hp, {
            idleTimeoutMs: cfg.tcp_idle_timeout,
            maxConnections: cfg.tcp_max_connections,
            responder: this.#responder,
            log: this.#log,
            transfers: this.#transfers,
          });
        } catch (e) {
          if (!coveredByV6(e)) throw explainBindError(address, hp.port, e);
        }
        if (cfg.fast_path !== "off") {
          try {
            listener.fast = await FastUdpListener.start({
              ip,
              port: hp.port,
              workers: cfg.udp_workers,
              maxUdpPayload: cfg.max_udp_payload,
              cacheEntries: cfg.answer_cache,
              rrl,
              metrics: this.#ctx.metrics.enabled,
              zones: snapshot,
              xfr: active ? xfr : undefined,
              onNotify,
            });
            listener.fast.done.catch((e) => this.#fail(e));
          } catch (e) {
            const message = (e as Error).message;
            if (cfg.fast_path === "ffi" || /bind|Address already in use/i.test(message)) throw e;
            this.#log.warn("UDP fast path unavailable, using the portable path", {
              reason: message,
            });
          }
        }
        if (!listener.fast) {
          try {
            listener.portable = await startPortableUdp(hp, this.#responder, {
              maxUdpPayload: cfg.max_udp_payload,
              onError: (e) => this.#fail(e),
            });
          } catch (e) {
            if (!coveredByV6(e)) throw e;
          }
        }
        this.#log.info("listening", {
          address,
          udp: listener.fast
            ? `recvmmsg x${cfg.udp_workers}`
            : listener.portable?.api ?? `through [::]:${hp.port}`,
          tcp: listener.tcp ? "yes" : `through [::]:${hp.port}`,
        });
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.#log.info("serving zones", {
      zones: [...this.#db.zones.values()].map((z) => z.name).join(","),
      records: this.#db.records,
    });
    this.#secondaries?.start();
    this.#poll = setInterval(() => this.#checkSources(), cfg.table_poll);
    this.#samples = [{ t: performance.now(), queries: this.#totalQueries() }];
    this.#sampler = setInterval(() => {
      this.#samples.push({ t: performance.now(), queries: this.#totalQueries() });
      if (this.#samples.length > 11) this.#samples.shift();
    }, 1000);
  }

  #secondaryZones(zones: { zone: string; primaries: string[]; key: string }[]) {
    if (zones.length === 0) return undefined;
    const inits: SecondaryZoneInit[] = zones.map((z) => ({
      zone: z.zone,
      primaries: z.primaries.map((text) => {
        const hp = parseHostPort(text, 53);
        if (typeof hp === "string") throw new Error(hp);
        return { host: hp.host, port: hp.port, text };
      }),
      key: z.key ? this.#policy.keys.get(tsigKeyLookup(z.key)) : undefined,
    }));
    return new SecondaryZones(inits, {
      store: this.#ctx.store,
      log: this.#log,
      maxRecords: this.#config.max_zone_records,
      onChange: () => {
        try {
          const r = this.reloadZones(false);
          this.#log.info("zones reloaded", {
            reason: "secondary zone changed",
            zones: r.zones,
            records: r.records,
          });
        } catch (e) {
          this.#log.error("zone reload failed", { error: e });
        }
      },
    });
  }

  #checkSources(): void {
    try {
      const filesChanged = this.#config.zone_files.some((p) =>
        mtime(p) !== this.#fileStamps.get(p)
      );
      if (filesChanged || tableGeneration(this.#ctx.store) !== this.#tableGeneration) {
        const result = this.reloadZones(filesChanged);
        this.#log.info("zones reloaded", {
          reason: filesChanged ? "zone file changed" : "zone table changed",
          zones: result.zones,
          records: result.records,
        });
      }
    } catch (e) {
      this.#log.error("zone reload failed", { error: e });
    }
  }

  /**
   * Re-reads the zone table (and the zone files when `files`) and serves the
   * result from the next query on, without dropping a packet.
   */
  reloadZones(files = false): ZoneLoad {
    if (this.#stopped) return { zones: 0, records: 0, problems: [] };
    const { records, problems } = this.#load(files);
    if (files) this.#logProblems(problems);
    this.#responder.setDb(this.#db);
    const snapshot = this.#snapshot(records);
    for (const l of this.#listeners) l.fast?.update(snapshot);
    return {
      zones: this.#db.zones.size,
      records: this.#db.records,
      problems: problems.map(problemText),
    };
  }

  /** Stops every listener and worker. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#notifier?.close();
    this.#secondaries?.stop();
    clearInterval(this.#poll);
    clearInterval(this.#sampler);
    const all = this.#listeners.splice(0);
    await Promise.all(all.map(async (l) => {
      await l.tcp?.stop();
      await l.fast?.stop();
      await l.portable?.stop();
    }));
  }

  /** Every counter array (main thread and workers). */
  #counterArrays(): Float64Array[] {
    const out = [this.#responder?.counters ?? new Float64Array(COUNTER_COUNT)];
    for (const l of this.#listeners) if (l.fast) out.push(...l.fast.counters());
    return out;
  }

  #sum(index: number): number {
    let n = 0;
    for (const c of this.#counterArrays()) n += c[index];
    return n;
  }

  #totalQueries(): number {
    return this.#sum(COUNTER.QUERIES_UDP) + this.#sum(COUNTER.QUERIES_TCP);
  }

  /** Listening addresses, UDP path, zones. */
  status(): Record<string, unknown> {
    return {
      listen: this.#listeners.map((l) => ({
        address: l.address,
        udp: l.fast
          ? `recvmmsg/sendmmsg, ${this.#config.udp_workers} worker(s)`
          : l.portable?.api ?? `through [::]:${l.port}`,
        ...(l.fast
          ? { udp_worker_queries: l.fast.counters().map((c) => c[COUNTER.QUERIES_UDP]) }
          : {}),
        tcp_connections: l.tcp ? l.tcp.stats.open : `through [::]:${l.port}`,
      })),
      zones: [...(this.#db?.zones.values() ?? [])].map((z) => z.name),
      records: this.#db?.records ?? 0,
      rrl: this.#config.rrl.enabled,
      ...(this.#errors.length > 0
        ? {
          zone_errors: this.#errors.map((e) =>
            `${e.problems[0]}${
              e.problems.length > 1 ? ` (+${e.problems.length - 1} more)` : ""
            }; serving its ${e.serving}`
          ),
        }
        : {}),
    };
  }

  /** Per zone, for `ctl zone status`: role, serial, records, errors of its sources. */
  zoneStatus(): ZoneStatus[] {
    const secondary = new Map((this.#secondaries?.status() ?? []).map((s) => [s.zone, s]));
    return zoneStatusRows(this.#db, {
      errors: this.#errors,
      loadedAt: this.#loadedAt,
    }).map((row) => {
      const s = secondary.get(row.zone.toLowerCase());
      return {
        ...row,
        ...(s
          ? {
            role: "secondary" as const,
            serial: s.serial ?? 0,
            records: s.state === "pending" ? 0 : row.records,
            state: s.state === "ok" && s.last_error ? "error" as const : s.state,
            errors: s.last_error ? [s.last_error] : row.errors,
            last_transfer_in: s.last_transfer_in,
            next_refresh: s.next_refresh,
            expires_at: s.expires_at,
            last_error: s.last_error,
          }
          : {}),
        last_transfer_out: this.#transfers?.stats.last[row.zone] ?? null,
        last_notify_answered: this.#notifier?.stats.last[row.zone] ?? null,
      };
    });
  }

  /** Counters for `ctl stats`: queries, qps, per rcode, zone and transport, RRL. */
  stats(): Record<string, unknown> {
    const arrays = this.#counterArrays();
    const sum = (i: number) => arrays.reduce((n, c) => n + c[i], 0);
    const rcode: Record<string, number> = {};
    for (let i = 0; i < 24; i++) {
      const n = sum(COUNTER.RCODE + i);
      if (n > 0) rcode[rcodeName(i)] = n;
    }
    const zones: Record<string, number> = {};
    for (const [name, slot] of this.#slots) {
      if (slot === MAX_ZONE_SLOTS - 1 && this.#slots.size > MAX_ZONE_SLOTS) continue;
      zones[name] = sum(COUNTER.ZONE + slot);
    }
    if (this.#slots.size > MAX_ZONE_SLOTS) {
      zones["(other zones)"] = sum(COUNTER.ZONE + MAX_ZONE_SLOTS - 1);
    }
    const udp = sum(COUNTER.QUERIES_UDP), tcp = sum(COUNTER.QUERIES_TCP);
    const now = { t: performance.now(), queries: udp + tcp };
    const first = this.#samples[0] ?? now;
    const seconds = (now.t - first.t) / 1000;
    const tcpStats = this.#listeners.reduce(
      (a, l) => ({
        open: a.open + (l.tcp?.stats.open ?? 0),
        accepted: a.accepted + (l.tcp?.stats.accepted ?? 0),
        refused: a.refused + (l.tcp?.stats.refused ?? 0),
        timed_out: a.timed_out + (l.tcp?.stats.timedOut ?? 0),
      }),
      { open: 0, accepted: 0, refused: 0, timed_out: 0 },
    );
    return {
      queries: udp + tcp,
      qps: seconds > 0.5 ? Math.round(((now.queries - first.queries) / seconds) * 10) / 10 : 0,
      transport: { udp, tcp },
      rcode,
      zones,
      rrl: { dropped: sum(COUNTER.RRL_DROPPED), slipped: sum(COUNTER.RRL_SLIPPED) },
      truncated: sum(COUNTER.TRUNCATED),
      malformed_dropped: sum(COUNTER.DROPPED_MALFORMED),
      answer_cache: { hits: sum(COUNTER.CACHE_HITS), misses: sum(COUNTER.CACHE_MISSES) },
      tcp_connections: tcpStats,
      signed: { answered: sum(COUNTER.SIGNED), refused: sum(COUNTER.SIGNED_REFUSED) },
      ...(this.#transfers ? { transfers_out: this.#transfers.stats } : {}),
      ...(this.#notifier ? { notify_out: this.#notifier.stats } : {}),
      ...(this.#secondaries ? { transfers_in: this.#secondaries.stats } : {}),
    };
  }
}

function mtime(path: string): number {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? 0;
  } catch {
    return -1;
  }
}

/** Re-exported for the verbs: where a record came from. */
export { sourceText };

/** Names the address, and the capability when a privileged port was refused, in a bind failure. */
function explainBindError(address: string, port: number, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Deno.errors.PermissionDenied && port < 1024) {
    return new Error(
      `cannot listen on ${address}: ports below 1024 need the CAP_NET_BIND_SERVICE capability (${message})`,
    );
  }
  if (error instanceof Deno.errors.AddrInUse) {
    return new Error(`cannot listen on ${address}: the address is in use (${message})`);
  }
  return new Error(`cannot listen on ${address}: ${message}`);
}
