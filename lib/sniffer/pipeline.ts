/**
 * The sniffer pipeline: what happens to each decoded DNS or DHCP message,
 * the same for a live capture and for `vigia ingest`.
 *
 * For every event, in order: a row for the store (handed to the event
 * writer), a line in the daily log, the device registry updated (a first
 * seen MAC is a `new-station` event), the policy checked (unauthorized DNS
 * server, unauthorized MAC, rogue DHCP server) and the DNS flood counters
 * advanced. Alerts go to the alert bus.
 *
 * Daily log lines (`YYYY-MM-DD.log`, tab separated, see lib/daylog) and
 * rows carry the fields declared in `fields.ts` (names after Zeek's dns.log
 * and dhcp.log): each event's values are set once on a reused record, from
 * which the line is encoded, and its columns are set by name on the
 * writer's row buffer.
 *
 * `new-station`: `mac`, `vendor`, `ip` (the client's own, never a DHCP relay's), `relay`
 * (the DHCP relay it came through, if any), `via` (dns/dhcp), `vlan`.
 *
 * @module
 */

import type { AlertPublisher, Severity } from "../alerts/mod.ts";
import type { DhcpFields, DnsFields, PacketMeta, SniffedEvent } from "../capture/mod.ts";
import { type DailyLog, FieldEncoder, type LineWriter } from "../daylog/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Store } from "../store/mod.ts";
import { type IpKey, ipToKey, macToInt } from "./codec.ts";
import type { SnifferConfig } from "./config.ts";
import { type Device, DeviceTracker, isStation } from "./devices.ts";
import type { EventWriter, RowBuffer } from "./event_writer.ts";
import { dnsClassName } from "../net/dns_names.ts";
import { DHCP_FIELDS, DNS_FIELDS, type EventRecord, newRecord } from "./fields.ts";
import { FloodDetector, type FloodReport } from "./flood.ts";
import { Policy } from "./policy.ts";
import { DHCP_ROW, DNS_ROW, FLAG_AA, FLAG_RA, FLAG_RD, FLAG_TC, type Slot } from "./schema.ts";

/** DHCP message types sent by a server (or relay) towards the client. */
const TO_CLIENT = new Set([
  "OFFER",
  "ACK",
  "NAK",
  "BOOTREPLY",
  "FORCERENEW",
  "LEASEUNASSIGNED",
  "LEASEUNKNOWN",
  "LEASEACTIVE",
  "LEASEQUERYDONE",
  "LEASEQUERYSTATUS",
  "ADVERTISE",
  "REPLY",
  "RECONFIGURE",
  "RELAY-REPL",
  "LEASEQUERY-REPLY",
  "LEASEQUERY-DONE",
  "LEASEQUERY-DATA",
  "DHCPV4-RESPONSE",
]);

/** Server messages that hand out configuration: the ones a rogue server is caught by. */
const SERVER_OFFERS = new Set(["OFFER", "ACK", "ADVERTISE", "REPLY"]);

/** Per-kind and per-alert counters of a pipeline. */
export interface PipelineStats {
  /** Events processed. */
  events: number;
  /** DNS events. */
  dns: number;
  /** DHCP events. */
  dhcp: number;
  /** Rows dropped because the store fell behind (live capture only). */
  store_drops: number;
  /** Alerts published, by kind. */
  alerts: Record<string, number>;
  /** New-station alerts not published because too many came at once. */
  new_station_alerts_limited: number;
  /** MACs first seen. */
  new_stations: number;
  /** Devices known. */
  devices: number;
  /** Flood counters tracked now, and packets not tracked because the tables were full. */
  flood: { tracked: number; untracked: number; reported: number };
}

/** What a pipeline needs. */
export interface PipelineOptions {
  /** The `[sniffer]` section. */
  section: SnifferConfig;
  /** The shared store (devices, deny lists). */
  store: Store;
  /** Where event rows go. */
  writer: EventWriter;
  /** The daily log files. */
  dailyLog: DailyLog;
  /** The alert bus. */
  alerts: AlertPublisher;
  /** The component log. */
  log: Logger;
  /** IANA time zone of the daily files (`log.timezone`); undefined for the host's zone. */
  timeZone?: string;
  /** Capture id stamped on every row (`vigia ingest`); undefined for live capture. */
  capture?: number;
  /**
   * When the store falls this many rows behind: `"wait"` (ingest: the
   * caller awaits {@linkcode Pipeline.process}) or `"drop"` (live: rows are
   * dropped and counted). @default "drop"
   */
  backpressure?: "wait" | "drop";
}

/** New-station alerts allowed per minute before they are only counted (a burst of random MACs). */
const NEW_STATION_ALERTS_PER_MINUTE = 60;

/** A maker in parentheses for a subject line; labels already have them. */
function paren(vendor: string): string {
  return vendor.startsWith("(") ? vendor : `(${vendor || "no MAC"})`;
}

/** Turns events into rows, log lines, device updates and alerts. */
export class Pipeline {
  readonly policy: Policy;
  readonly devices: DeviceTracker;
  readonly flood: FloodDetector | undefined;
  readonly #section: SnifferConfig;
  readonly #store: Store;
  readonly #writer: EventWriter;
  readonly #dailyLog: DailyLog;
  readonly #alerts: AlertPublisher;
  readonly #log: Logger;
  readonly #wait: boolean;
  readonly #capture: number | null;
  readonly #maxQueued: number;
  readonly #logPackets: boolean;
  readonly #packetLines: LineWriter;
  readonly #dnsLine: FieldEncoder;
  readonly #dhcpLine: FieldEncoder;
  readonly #dnsEvent = newRecord(DNS_FIELDS);
  readonly #dhcpEvent = newRecord(DHCP_FIELDS);
  #deviceTimer: ReturnType<typeof setInterval> | undefined;
  #newStationBudget = NEW_STATION_ALERTS_PER_MINUTE;
  #newStationMinute = 0;
  /** Relay (giaddr) of the DHCP message being processed, so that a new station's alert names it. */
  #relayOfPacket = "";
  #stats: PipelineStats;
  #floodReport: (r: FloodReport) => void;

  constructor(options: PipelineOptions) {
    const { section, store, writer, dailyLog, alerts, log } = options;
    this.#section = section;
    this.#store = store;
    this.#writer = writer;
    this.#dailyLog = dailyLog;
    this.#alerts = alerts;
    this.#log = log;
    this.#wait = options.backpressure === "wait";
    this.#capture = options.capture ?? null;
    this.#maxQueued = section.max_queued_rows;
    this.#logPackets = section.log_packets;
    // Packet lines have their own buffer (the DailyLog's holds the other lines of the same file).
    this.#packetLines = dailyLog.lineWriter();
    this.#dnsLine = new FieldEncoder({ out: this.#packetLines, kind: "dns", fields: DNS_FIELDS });
    this.#dhcpLine = new FieldEncoder({
      out: this.#packetLines,
      kind: "dhcp",
      fields: DHCP_FIELDS,
    });
    this.#stats = {
      events: 0,
      dns: 0,
      dhcp: 0,
      store_drops: 0,
      alerts: {},
      new_station_alerts_limited: 0,
      new_stations: 0,
      devices: 0,
      flood: { tracked: 0, untracked: 0, reported: 0 },
    };
    this.policy = new Policy(section, store);
    this.devices = new DeviceTracker(store, {
      onNew: (d, via, time) => this.#newStation(d, via, time),
    });
    this.flood = section.flood.enabled ? new FloodDetector(section.flood) : undefined;
    this.#floodReport = (r) => this.#floodAlert(r);
    this.#deviceTimer = setInterval(() => this.devices.flush(), section.device_flush_interval);
    Deno.unrefTimer(this.#deviceTimer);
  }

  /** Rebuilds the deny lists from the config and the store (after `ctl deny`). */
  reloadPolicy(): void {
    this.policy.reload(this.#section, this.#store);
  }

  /**
   * Processes one batch. With `backpressure: "wait"` the returned promise
   * resolves once the store has caught up enough; with `"drop"` it is
   * already resolved and rows beyond `max_queued_rows` are dropped.
   */
  process(events: SniffedEvent[]): Promise<void> | undefined {
    const store = this.#wait || this.#writer.backlog < this.#maxQueued;
    if (!store) this.#stats.store_drops += events.length;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      try {
        if (e.kind === "dns") this.#dns(e.meta, e.dns, store);
        else if (e.kind === "dhcp") this.#dhcp(e.meta, e.dhcp, store);
      } catch (err) {
        // One odd event must not stop the capture; it is logged and skipped.
        this.#log.error("event not processed", { error: err, kind: e.kind });
      }
    }
    this.#stats.events += events.length;
    this.#writer.rowsAdded();
    if (this.#wait && this.#writer.backlog > this.#maxQueued) {
      this.#writer.post();
      return this.#writer.waitBelow(this.#maxQueued >> 1);
    }
    return undefined;
  }

  #dns(m: PacketMeta, d: DnsFields, store: boolean): void {
    this.#stats.dns++;
    const time = Math.round(m.ts * 1000);
    const srcMac = macToInt(m.srcMac), dstMac = macToInt(m.dstMac);
    const toClient = d.qr;
    const clientMac = toClient ? dstMac : srcMac;
    if (isStation(srcMac)) this.devices.seen(srcMac, time, m.srcIp, "dns", m.vlan);
    const vendor = this.devices.vendor(clientMac);
    const srcKey = ipToKey(m.srcIp), dstKey = ipToKey(m.dstIp);
    const flags = (d.AA ? FLAG_AA : 0) | (d.TC ? FLAG_TC : 0) | (d.RD ? FLAG_RD : 0) |
      (d.RA ? FLAG_RA : 0);
    const answers = d.answers;
    if (store) {
      let answersJson: string | null = null;
      if (answers.length > 0) {
        const rows: [string, string, number, string][] = [];
        for (let i = 0; i < answers.length; i++) {
          const a = answers[i];
          rows.push([a.name, a.type, a.ttl, a.data]);
        }
        answersJson = JSON.stringify(rows);
      }
      const r = this.#writer.dnsRows;
      r.begin();
      setPacketColumns(
        r,
        DNS_ROW,
        time,
        toClient,
        srcMac,
        dstMac,
        srcKey,
        dstKey,
        m,
        vendor,
        this.#capture,
      );
      r.set(DNS_ROW.trans_id, d.trans_id);
      r.set(DNS_ROW.opcode, d.opcode);
      r.set(DNS_ROW.rcode, d.rcode);
      r.set(DNS_ROW.flags, flags);
      r.set(DNS_ROW.query, d.query);
      r.set(DNS_ROW.qtype, d.qtype);
      r.set(DNS_ROW.qclass, d.qclass);
      r.set(DNS_ROW.answers, answersJson);
      r.end();
    }
    if (this.#logPackets) {
      const ev = this.#dnsEvent;
      setPacketFields(ev, m, clientMac !== null ? (toClient ? m.dstMac : m.srcMac) : "", vendor);
      ev.trans_id = d.trans_id;
      ev.qr = toClient;
      ev.opcode = d.opcode;
      ev.query = d.query;
      ev.qclass = d.qclass;
      ev.qclass_name = dnsClassName(d.qclass);
      ev.qtype = d.qtype;
      ev.qtype_name = d.qtype_name;
      ev.rcode = toClient ? d.rcode : undefined;
      ev.rcode_name = toClient ? d.rcode_name : "";
      ev.AA = d.AA;
      ev.TC = d.TC;
      ev.RD = d.RD;
      ev.RA = d.RA;
      ev.answers = answers;
      ev.TTLs = answers;
      ev.capture = this.#capture;
      this.#dnsLine.write(m.ts, ev);
    }
    // Policy: a query sent to a denied server, or an answer coming from one.
    const serverKey = toClient ? srcKey : dstKey;
    if (serverKey !== null && this.policy.deniedDns.size > 0) {
      const denied = typeof serverKey === "number"
        ? this.policy.deniedDns.hasV4(serverKey)
        : this.policy.deniedDns.has(serverKey);
      if (denied) this.#unauthorizedDns(m, d, toClient);
    }
    if (this.flood) {
      const sk = typeof srcKey === "number" ? srcKey : m.srcIp;
      const dk = typeof dstKey === "number" ? dstKey : m.dstIp;
      this.flood.add(m.ts, sk, m.srcIp, m.srcMac, dk, m.dstIp, this.#floodReport);
    }
  }

  #dhcp(m: PacketMeta, d: DhcpFields, store: boolean): void {
    this.#stats.dhcp++;
    const time = Math.round(m.ts * 1000);
    const srcMac = macToInt(m.srcMac), dstMac = macToInt(m.dstMac);
    const chaddr = macToInt(d.mac);
    // Unknown message types fall back to the port the message came from.
    const toClient = TO_CLIENT.has(d.msg_type) ||
      (d.msg_type.startsWith("TYPE") && (m.srcPort === 67 || m.srcPort === 547));
    const clientMac = chaddr ?? (toClient ? dstMac : srcMac);
    const clientMacText = chaddr !== null ? d.mac : (toClient ? m.dstMac : m.srcMac);
    const nz = (a: string | undefined) => (a === undefined || a === "0.0.0.0" ? null : a);
    const relay = nz(d.relay_addr);
    if (isStation(srcMac) && srcMac !== chaddr) {
      this.devices.seen(srcMac, time, m.srcIp, "dhcp", m.vlan);
    }
    let client: Device | undefined;
    if (isStation(clientMac)) {
      // The client's own address: ciaddr, or the source of a packet it sent itself. A relayed
      // message's source is the relay (giaddr), which must never become the client's address.
      const ip = toClient
        ? ""
        : nz(d.client_addr) ?? (relay === null && srcMac === clientMac ? m.srcIp : "");
      this.#relayOfPacket = relay ?? "";
      client = this.devices.seen(clientMac, time, ip, "dhcp", m.vlan);
      this.#relayOfPacket = "";
      this.devices.dhcpFacts(client, d.host_name, d.vendor_class);
      if (d.msg_type === "ACK" || d.msg_type === "REPLY") {
        this.devices.assigned(client, d.assigned_addr ?? "");
      }
    }
    const vendor = this.devices.vendor(clientMac);
    const params = d.param_list ? d.param_list.join(",") : null;
    if (store) {
      // Everything that could throw is computed first: a row not ended is discarded.
      const srcKey = ipToKey(m.srcIp), dstKey = ipToKey(m.dstIp);
      const r = this.#writer.dhcpRows;
      r.begin();
      setPacketColumns(
        r,
        DHCP_ROW,
        time,
        toClient,
        srcMac,
        dstMac,
        srcKey,
        dstKey,
        m,
        vendor,
        this.#capture,
      );
      r.set(DHCP_ROW.trans_id, d.trans_id);
      r.set(DHCP_ROW.msg_type, d.msg_type);
      r.set(DHCP_ROW.dhcp_version, d.version);
      r.set(DHCP_ROW.chaddr, chaddr);
      r.set(DHCP_ROW.client_addr, nz(d.client_addr));
      r.set(DHCP_ROW.assigned_addr, nz(d.assigned_addr));
      r.set(DHCP_ROW.next_server, nz(d.next_server));
      r.set(DHCP_ROW.relay_addr, nz(d.relay_addr));
      r.set(DHCP_ROW.requested_addr, nz(d.requested_addr));
      r.set(DHCP_ROW.host_name, d.host_name ?? null);
      r.set(DHCP_ROW.client_software, d.vendor_class ?? null);
      r.set(DHCP_ROW.client_id, d.client_id ?? null);
      r.set(DHCP_ROW.server_addr, d.server_id ?? null);
      r.set(DHCP_ROW.lease_time, d.lease_time ?? null);
      r.set(DHCP_ROW.param_list, params);
      r.set(DHCP_ROW.circuit_id, d.circuit_id ?? null);
      r.set(DHCP_ROW.agent_remote_id, d.remote_id ?? null);
      r.set(DHCP_ROW.duid, d.duid ?? null);
      r.set(DHCP_ROW.server_duid, d.server_duid ?? null);
      r.end();
    }
    if (this.#logPackets) {
      const ev = this.#dhcpEvent;
      setPacketFields(ev, m, clientMacText, vendor);
      ev.dhcp_version = d.version;
      ev.msg_type = d.msg_type;
      ev.trans_id = d.trans_id;
      ev.client_addr = nz(d.client_addr);
      ev.assigned_addr = nz(d.assigned_addr);
      ev.next_server = nz(d.next_server);
      ev.relay_addr = nz(d.relay_addr);
      ev.requested_addr = nz(d.requested_addr);
      ev.host_name = d.host_name;
      ev.client_software = d.vendor_class;
      ev.client_id = d.client_id;
      ev.server_addr = d.server_id;
      ev.lease_time = d.lease_time;
      ev.param_list = params;
      ev.circuit_id = d.circuit_id;
      ev.agent_remote_id = d.remote_id;
      ev.duid = d.duid;
      ev.server_duid = d.server_duid;
      ev.capture = this.#capture;
      this.#dhcpLine.write(m.ts, ev);
    }
    // Policy: any DHCP from a denied MAC: as the sender, or as the client of a relayed request.
    if (this.policy.deniedMacs.size > 0) {
      const bad = srcMac !== null && this.policy.deniedMacs.has(srcMac)
        ? m.srcMac
        : !toClient && chaddr !== null && this.policy.deniedMacs.has(chaddr)
        ? d.mac
        : "";
      if (bad) {
        const vendor = this.devices.vendor(macToInt(bad));
        this.#publish("unauthorized-mac", "warning", `${bad} ${paren(vendor)} uses DHCP`, {
          mac: bad,
          vendor,
          msg_type: d.msg_type,
          src_ip: m.srcIp,
          relay,
          host_name: d.host_name ?? null,
          requested_addr: nz(d.requested_addr),
          vlan: m.vlan,
        }, m.ts);
      }
    }
    if (this.policy.dhcpCheck && SERVER_OFFERS.has(d.msg_type)) {
      if (!this.policy.dhcpServerAllowed(d.server_id, m.srcIp, srcMac)) {
        const server = d.server_id ?? m.srcIp;
        this.#publish("rogue-dhcp", "error", `DHCP server ${server} (${m.srcMac || "no MAC"})`, {
          server_ip: m.srcIp,
          server_mac: m.srcMac,
          server_addr: d.server_id ?? null,
          server_vendor: this.devices.vendor(srcMac),
          msg_type: d.msg_type,
          client_mac: clientMacText,
          assigned_addr: nz(d.assigned_addr),
          vlan: m.vlan,
        }, m.ts);
      }
    }
  }

  #unauthorizedDns(m: PacketMeta, d: DnsFields, toClient: boolean): void {
    const clientIp = toClient ? m.dstIp : m.srcIp;
    const clientMac = toClient ? m.dstMac : m.srcMac;
    const server = toClient ? m.srcIp : m.dstIp;
    this.#publish(
      "unauthorized-dns",
      "warning",
      `${clientIp} (${clientMac || "no MAC"}) -> ${server}`,
      {
        client_ip: clientIp,
        client_mac: clientMac,
        client_vendor: this.devices.vendor(macToInt(clientMac)),
        server,
        direction: toClient ? "answer" : "query",
        query: d.query,
        qtype_name: d.qtype_name,
        vlan: m.vlan,
      },
      m.ts,
    );
  }

  #newStation(d: Device, via: "dns" | "dhcp", time: number): void {
    this.#stats.new_stations++;
    const ip = d.ips[0] ?? "";
    const when = new Date(time / 1000);
    const relay = this.#relayOfPacket || undefined;
    const fields = { mac: d.macText, vendor: d.vendor, ip, relay, via, vlan: d.vlan || undefined };
    let alert = this.#section.new_station_alert;
    if (alert) {
      const minute = Math.floor(Date.now() / 60_000);
      if (minute !== this.#newStationMinute) {
        this.#newStationMinute = minute;
        this.#newStationBudget = NEW_STATION_ALERTS_PER_MINUTE;
      }
      if (this.#newStationBudget > 0) this.#newStationBudget--;
      else {
        this.#stats.new_station_alerts_limited++;
        alert = false;
      }
    }
    // One new-station line in the daily file either way: the alert bus writes it for an alert.
    if (!alert) {
      this.#dailyLog.event("new-station", fields, when);
      return;
    }
    this.#publish("new-station", "notice", `${d.macText} ${paren(d.vendor)}`, {
      mac: d.macText,
      vendor: d.vendor,
      ip,
      relay: relay ?? null,
      via,
      vlan: d.vlan,
    }, time / 1000);
  }

  #floodAlert(r: FloodReport): void {
    const f = this.#section.flood;
    const what = r.scope === "global"
      ? "all sources"
      : r.scope === "source"
      ? `from ${r.ip}${r.mac ? ` (${r.mac})` : ""}`
      : `to ${r.ip}`;
    this.#publish(
      "dns-flood",
      f.severity as Severity,
      `${r.count} DNS packets within ${f.window} ms ${what}`,
      {
        scope: r.scope,
        ip: r.ip || null,
        mac: r.mac || null,
        vendor: r.mac ? this.devices.vendor(macToInt(r.mac)) : null,
        count: r.count,
        threshold: r.threshold,
        window_ms: f.window,
        top_sources: r.topSources,
        top_destinations: r.topDestinations,
      },
      r.time,
    );
  }

  #publish(
    kind: string,
    severity: Severity,
    subject: string,
    details: Record<string, string | number | boolean | null | string[]>,
    timeMs: number,
  ): void {
    if (this.#alerts.publish({ kind, severity, subject, details, time: new Date(timeMs) })) {
      this.#stats.alerts[kind] = (this.#stats.alerts[kind] ?? 0) + 1;
    }
  }

  /** Counters. */
  stats(): PipelineStats {
    return {
      ...this.#stats,
      alerts: { ...this.#stats.alerts },
      devices: this.devices.known,
      flood: {
        tracked: this.flood?.tracked ?? 0,
        untracked: this.flood?.untracked ?? 0,
        reported: this.flood?.reported ?? 0,
      },
    };
  }

  /** Writes devices, log lines and every pending row; resolves when the rows are committed. */
  async flush(): Promise<void> {
    this.devices.flush();
    this.#store.flush();
    this.#packetLines.flush();
    this.#dailyLog.flush();
    await this.#writer.flush();
  }

  /** Flushes and stops the device timer (the writer is closed by its owner). */
  async close(): Promise<void> {
    clearInterval(this.#deviceTimer);
    this.#deviceTimer = undefined;
    await this.flush();
    this.#packetLines.close();
  }
}

/** Sets the fields every event record starts with (`packetFields` in fields.ts). */
function setPacketFields(ev: EventRecord, m: PacketMeta, mac: string, vendor: string): void {
  ev.mac = mac;
  ev.vendor = vendor;
  ev.src_mac = m.srcMac;
  ev.dst_mac = m.dstMac;
  ev.vlan = m.vlan;
  ev.src_ip = m.srcIp;
  ev.src_port = m.srcPort;
  ev.dst_ip = m.dstIp;
  ev.dst_port = m.dstPort;
  ev.proto = m.proto;
}

/** The slots of the columns every row has (the same names in both kinds). */
type PacketSlots<K extends "dns" | "dhcp"> = {
  readonly [
    C in
      | "time"
      | "flow"
      | "to_client"
      | "src_mac"
      | "dst_mac"
      | "src_ip"
      | "dst_ip"
      | "src_port"
      | "dst_port"
      | "proto"
      | "vlan"
      | "capture"
      | "vendor"
  ]: Slot<K>;
};

/** Sets the columns every row has, and the row-only vendor the writer files the flow under. */
function setPacketColumns<K extends "dns" | "dhcp">(
  r: RowBuffer<K>,
  slot: PacketSlots<K>,
  time: number,
  toClient: boolean,
  srcMac: number | null,
  dstMac: number | null,
  srcKey: IpKey | null,
  dstKey: IpKey | null,
  m: PacketMeta,
  vendor: string,
  capture: number | null,
): void {
  r.set(slot.time, time);
  // The writer fills in the flow; a number here keeps the slot out of the values sent aside.
  r.set(slot.flow, 0);
  r.set(slot.to_client, toClient ? 1 : 0);
  r.set(slot.src_mac, srcMac);
  r.set(slot.dst_mac, dstMac);
  r.set(slot.src_ip, srcKey);
  r.set(slot.dst_ip, dstKey);
  r.set(slot.src_port, m.srcPort);
  r.set(slot.dst_port, m.dstPort);
  r.set(slot.proto, m.proto);
  r.set(slot.vlan, m.vlan);
  r.set(slot.capture, capture);
  r.set(slot.vendor, vendor);
}
