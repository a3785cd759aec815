/**
 * Test fixtures of the sniffer: a temp environment with a real store file,
 * daily log, logger and alert bus built from a real config; synthetic
 * events; and capture files made from real frames (test/capture/_frames.ts).
 *
 * @module
 */

import { AlertBus } from "../../lib/alerts/mod.ts";
import { configSchema } from "../../lib/app/mod.ts";
import type { DhcpFields, DnsFields, PacketMeta, SniffedEvent } from "../../lib/capture/mod.ts";
import { loadVigiaConfig } from "../../lib/daemon/config.ts";
import { sectionOf, type VerbEnv, type VigiaConfig } from "../../lib/daemon/types.ts";
import { type SnifferConfig, snifferModule } from "../../lib/sniffer/mod.ts";
import type { SnifferControl } from "../../lib/sniffer/verbs.ts";
import { DailyLog } from "../../lib/daylog/mod.ts";
import { createLogger, type Logger } from "../../lib/log/mod.ts";
import { openStore, type Store } from "../../lib/store/mod.ts";
import { snifferMigrations } from "../../lib/sniffer/schema.ts";
import { eventsDbPath, EventsReader } from "../../lib/sniffer/events_db.ts";
import {
  ascii,
  dhcp4,
  dnsMessage,
  ethernet,
  ip,
  pcapBytes,
  type Record as PcapRecord,
  type Rr,
  u32,
  udpIp,
} from "../capture/_frames.ts";

/** A test environment. */
export interface Env {
  dir: string;
  config: VigiaConfig;
  store: Store;
  dailyLog: DailyLog;
  log: Logger;
  /** Lines the logger wrote. */
  logLines: string[];
  bus: AlertBus;
  /** Reads the events database (made by the first event writer). */
  events: EventsReader;
  /** Reads a daily file (`YYYY-MM-DD.log` or `alerts-...`), "" when absent. */
  logFile(name: string): string;
  close(): Promise<void>;
}

/** The environment of a sniffer verb call over `env` (`running`: the sniffer, if any). */
export function verbEnv(
  env: Env,
  running?: SnifferControl,
): VerbEnv<SnifferConfig, SnifferControl> {
  return {
    store: env.store,
    config: env.config,
    section: sectionOf(snifferModule, env.config),
    alerts: env.bus,
    dailyLog: env.dailyLog,
    log: env.log,
    running: () => running,
  };
}

/**
 * Builds a temp environment from TOML (paths and `log.timezone = "UTC"` are
 * added); the daily log takes `log.format` from it.
 */
export async function makeEnv(toml = ""): Promise<Env> {
  const dir = await Deno.makeTempDir({ prefix: "vigia-sniffer-" });
  const text =
    `[paths]\nstate_dir = "${dir}/lib"\nlog_dir = "${dir}/log"\nruntime_dir = "${dir}/run"\n` +
    (/^\[log\]/m.test(toml) ? "" : `[log]\ntimezone = "UTC"\n`) + toml;
  const { config } = await loadVigiaConfig(configSchema(), { text });
  await Deno.mkdir(`${dir}/lib`, { recursive: true });
  const store = openStore(`${dir}/lib/vigia.db`);
  store.migrate("sniffer", snifferMigrations);
  const dailyLog = new DailyLog({
    dir: `${dir}/log`,
    timeZone: "UTC",
    retentionDays: 0,
    format: config.log.format,
  });
  const logLines: string[] = [];
  const log = createLogger({ write: (l) => logLines.push(l), journal: false, level: "debug" });
  const bus = new AlertBus({ store, dailyLog, log, config: config.alerts });
  const events = new EventsReader(eventsDbPath(store));
  return {
    dir,
    config,
    store,
    dailyLog,
    log,
    logLines,
    bus,
    events,
    logFile(name) {
      dailyLog.flush();
      try {
        return Deno.readTextFileSync(`${dir}/log/${name}`);
      } catch {
        return "";
      }
    },
    async close() {
      await bus.close(1000);
      events.close();
      store.close();
      await dailyLog.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A packet's link/IP/transport facts. */
export function meta(o: Partial<PacketMeta> & { ts: number }): PacketMeta {
  return {
    srcMac: "3c:22:fb:00:00:01",
    dstMac: "00:11:22:33:44:55",
    vlan: 0,
    ipVersion: 4,
    srcIp: "10.0.0.2",
    dstIp: "10.0.0.1",
    proto: "udp",
    srcPort: 40000,
    dstPort: 53,
    payloadLength: 40,
    ...o,
  };
}

/** A decoded DNS message. */
export function dnsFields(o: Partial<DnsFields> = {}): DnsFields {
  return {
    trans_id: 1,
    qr: false,
    opcode: 0,
    rcode: 0,
    rcode_name: "NOERROR",
    AA: false,
    TC: false,
    RD: true,
    RA: false,
    query: "example.com",
    qtype: 1,
    qtype_name: "A",
    qclass: 1,
    answers: [],
    ...o,
  };
}

/** A DNS event. */
export function dnsEvent(m: PacketMeta, d: Partial<DnsFields> = {}): SniffedEvent {
  return { kind: "dns", meta: m, dns: dnsFields(d) };
}

/** A DHCP event. */
export function dhcpEvent(m: PacketMeta, d: Partial<DhcpFields>): SniffedEvent {
  return {
    kind: "dhcp",
    meta: m,
    dhcp: { version: 4, msg_type: "DISCOVER", trans_id: 7, mac: "", ...d },
  };
}

/** Midday of 2026-11-21 UTC, ms. */
export const T0 = Date.parse("2026-11-21T12:00:00Z");

/** Options of {@linkcode dnsPair}. */
export interface PairOptions {
  ts: number;
  clientMac: string;
  clientIp: string;
  serverMac?: string;
  serverIp: string;
  id: number;
  qname: string;
  qtype?: number;
  port?: number;
  answer?: Rr[];
  vlans?: number[];
}

/** A DNS query and its answer as Ethernet frames. */
export function dnsPair(o: PairOptions): PcapRecord[] {
  const serverMac = o.serverMac ?? "00:11:22:33:44:55";
  const port = o.port ?? 40000 + (o.id % 20000);
  const q = dnsMessage({ id: o.id, qname: o.qname, qtype: o.qtype ?? 1 });
  const r = dnsMessage({
    id: o.id,
    response: true,
    ra: true,
    qname: o.qname,
    qtype: o.qtype ?? 1,
    answers: o.answer ?? [{ type: 1, ttl: 300, data: ip("93.184.216.34") }],
  });
  return [
    {
      ts: o.ts,
      data: ethernet(
        o.clientMac,
        serverMac,
        udpIp({ src: o.clientIp, dst: o.serverIp }, port, 53, q),
        o.vlans,
      ),
    },
    {
      ts: o.ts + 0.5,
      data: ethernet(
        serverMac,
        o.clientMac,
        udpIp({ src: o.serverIp, dst: o.clientIp }, 53, port, r),
        o.vlans,
      ),
    },
  ];
}

/** Options of {@linkcode dhcpExchange}. */
export interface DhcpExchangeOptions {
  ts: number;
  clientMac: string;
  serverMac: string;
  serverIp: string;
  offer: string;
  xid: number;
  hostName?: string;
}

/** DISCOVER, OFFER, REQUEST, ACK as Ethernet frames. */
export function dhcpExchange(o: DhcpExchangeOptions): PcapRecord[] {
  const bcast = "ff:ff:ff:ff:ff:ff";
  const client = (type: number, extra: [number, Uint8Array][]) =>
    ethernet(
      o.clientMac,
      bcast,
      udpIp(
        { src: "0.0.0.0", dst: "255.255.255.255" },
        68,
        67,
        dhcp4({
          op: 1,
          xid: o.xid,
          chaddr: o.clientMac,
          options: [
            [53, new Uint8Array([type])],
            ...(o.hostName ? [[12, ascii(o.hostName)] as [number, Uint8Array]] : []),
            [60, ascii("android-dhcp-14")],
            [55, new Uint8Array([1, 3, 6, 15])],
            ...extra,
          ],
        }),
      ),
    );
  const server = (type: number) =>
    ethernet(
      o.serverMac,
      bcast,
      udpIp(
        { src: o.serverIp, dst: "255.255.255.255" },
        67,
        68,
        dhcp4({
          op: 2,
          xid: o.xid,
          chaddr: o.clientMac,
          yiaddr: o.offer,
          options: [
            [53, new Uint8Array([type])],
            [54, ip(o.serverIp)],
            [51, u32(3600)],
          ],
        }),
      ),
    );
  return [
    { ts: o.ts, data: client(1, []) },
    { ts: o.ts + 1, data: server(2) },
    { ts: o.ts + 2, data: client(3, [[50, ip(o.offer)], [54, ip(o.serverIp)]]) },
    { ts: o.ts + 3, data: server(5) },
  ];
}

/** Writes an Ethernet pcap of `records` (sorted by time) into `dir`; returns its path. */
export async function writePcap(dir: string, name: string, records: PcapRecord[]): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeFile(path, pcapBytes(1, [...records].sort((a, b) => a.ts - b.ts)));
  return path;
}

/** Rows of `events_readable` in id order. */
export function readable(env: Env): Record<string, unknown>[] {
  return env.events.query("SELECT * FROM events_readable ORDER BY id");
}
