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
 * Daily log lines (`YYYY-MM-DD.log`, tab separated, see lib/daylog; packet
 * lines are written by `packet_log.ts` in the same format) use these fields; names follow Zeek's dns.log and dhcp.log where one exists:
 *
 * `dns`: `mac` and `vendor` (the client station: the querier), `src_mac`,
 * `dst_mac`, `vlan` (when tagged), `src_ip`, `src_port`, `dst_ip`,
 * `dst_port`, `proto` (udp/tcp), `trans_id`, `qr` (Q query, R response),
 * `opcode` (when not QUERY), `query`, `qclass_name` (when not C_INTERNET),
 * `qtype_name`, `rcode_name` (responses), `AA` `TC` `RD` `RA` (T/F),
 * `answers` (comma separated data) and `TTLs` (responses with answers).
 *
 * `dhcp`: `mac` (the client hardware address), `vendor`, `src_mac`,
 * `dst_mac`, `vlan`, `src_ip`, `src_port`, `dst_ip`, `dst_port`,
 * `dhcp_version` (6 for DHCPv6), `msg_type`, `trans_id`, `client_addr`,
 * `assigned_addr`, `next_server`, `relay_addr`, `requested_addr`,
 * `host_name`, `client_software` (option 60), `client_id`, `server_addr`
 * (option 54), `lease_time`, `param_list`, `circuit_id`,
 * `agent_remote_id`, `duid`, `server_duid`.
 *
 * `new-station`: `mac`, `vendor`, `ip` (the client's own, never a DHCP relay's), `relay`
 * (the DHCP relay it came through, if any), `via` (dns/dhcp), `vlan`.
 *
 * @module
 */

import type { AlertPublisher, Severity } from "../alerts/mod.ts";
import type { DhcpFields, DnsFields, PacketMeta, SniffedEvent } from "../capture/mod.ts";
import type { DailyLog } from "../daylog/mod.ts";
import type { Logger } from "../log/mod.ts";
import type { Store } from "../store/mod.ts";
import { type IpKey, ipToKey, macToInt } from "./codec.ts";
import type { SnifferConfig } from "./config.ts";
import { type Device, DeviceTracker, isStation } from "./devices.ts";
import type { EventWriter, RowBuffer } from "./event_writer.ts";
import { dnsClassName } from "../net/dns_names.ts";
import { esc, PacketLog } from "./packet_log.ts";
import { FloodDetector, type FloodReport } from "./flood.ts";
import { Policy } from "./policy.ts";
import { FLAG_AA, FLAG_RA, FLAG_RD, FLAG_TC } from "./schema.ts";

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
  readonly #maxQueued: number;
  readonly #logPackets: boolean;
  readonly #packetLog: PacketLog;
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
    this.#maxQueued = section.max_queued_rows;
    this.#logPackets = section.log_packets;
    this.#packetLog = new PacketLog({ dir: dailyLog.dir, timeZone: options.timeZone || undefined });
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
    let answersJson: string | null = null;
    let answerData: string | undefined, ttls: string | undefined;
    if (answers.length > 0) {
      const rows: [string, string, number, string][] = [];
      answerData = "";
      ttls = "";
      for (let i = 0; i < answers.length; i++) {
        const a = answers[i];
        rows.push([a.name, a.type, a.ttl, a.data]);
        answerData += i === 0 ? a.data : "," + a.data;
        ttls += i === 0 ? String(a.ttl) : "," + a.ttl;
      }
      answersJson = JSON.stringify(rows);
    }
    if (store) {
      const r = this.#writer.dnsRows;
      addPacketColumns(r, time, toClient, srcMac, dstMac, srcKey, dstKey, m, vendor);
      r.add(d.trans_id);
      r.add(d.opcode);
      r.add(d.rcode);
      r.add(flags);
      r.add(d.query);
      r.add(d.qtype);
      r.add(d.qclass);
      r.add(answersJson);
    }
    if (this.#logPackets) {
      this.#dnsLine(m, d, toClient, clientMac !== null, vendor, answerData, ttls);
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

  /** The daily log line of a DNS message, written straight into the packet log's buffer. */
  #dnsLine(
    m: PacketMeta,
    d: DnsFields,
    toClient: boolean,
    hasClientMac: boolean,
    vendor: string,
    answerData: string | undefined,
    ttls: string | undefined,
  ): void {
    const l = this.#packetLog;
    if (!l.begin("dns", m.ts)) return;
    if (hasClientMac) {
      l.text("mac=");
      l.text(toClient ? m.dstMac : m.srcMac);
      l.text("\t");
    }
    if (vendor) {
      l.text("vendor=");
      l.text(vendor);
      l.text("\t");
    }
    if (m.srcMac) {
      l.text("src_mac=");
      l.text(m.srcMac);
      l.text("\t");
    }
    if (m.dstMac) {
      l.text("dst_mac=");
      l.text(m.dstMac);
      l.text("\t");
    }
    if (m.vlan) {
      l.text("vlan=");
      l.int(m.vlan);
      l.text("\t");
    }
    l.text("src_ip=");
    l.text(m.srcIp);
    l.text("\tsrc_port=");
    l.int(m.srcPort);
    l.text("\tdst_ip=");
    l.text(m.dstIp);
    l.text("\tdst_port=");
    l.int(m.dstPort);
    l.text("\tproto=");
    l.text(m.proto);
    l.text("\ttrans_id=");
    l.int(d.trans_id);
    l.text(toClient ? "\tqr=R" : "\tqr=Q");
    if (d.opcode) {
      l.text("\topcode=");
      l.int(d.opcode);
    }
    if (d.query) {
      l.text("\tquery=");
      l.text(esc(d.query));
    }
    if (d.qclass !== 1) {
      l.text("\tqclass_name=");
      l.text(dnsClassName(d.qclass));
    }
    if (d.qtype_name) {
      l.text("\tqtype_name=");
      l.text(d.qtype_name);
    }
    if (toClient && d.rcode_name) {
      l.text("\trcode_name=");
      l.text(d.rcode_name);
    }
    l.text(d.AA ? "\tAA=T" : "\tAA=F");
    l.text(d.TC ? "\tTC=T" : "\tTC=F");
    l.text(d.RD ? "\tRD=T" : "\tRD=F");
    l.text(d.RA ? "\tRA=T" : "\tRA=F");
    if (answerData) {
      l.text("\tanswers=");
      l.text(esc(answerData));
      l.text("\tTTLs=");
      l.text(ttls!);
    }
    l.end();
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
      // Everything that could throw is computed first: a row is added whole or not at all.
      const srcKey = ipToKey(m.srcIp), dstKey = ipToKey(m.dstIp);
      const r = this.#writer.dhcpRows;
      addPacketColumns(r, time, toClient, srcMac, dstMac, srcKey, dstKey, m, vendor);
      r.add(d.trans_id);
      r.add(d.msg_type);
      r.add(d.version);
      r.add(chaddr);
      r.add(nz(d.client_addr));
      r.add(nz(d.assigned_addr));
      r.add(nz(d.next_server));
      r.add(nz(d.relay_addr));
      r.add(nz(d.requested_addr));
      r.add(d.host_name ?? null);
      r.add(d.vendor_class ?? null);
      r.add(d.client_id ?? null);
      r.add(d.server_id ?? null);
      r.add(d.lease_time ?? null);
      r.add(params);
      r.add(d.circuit_id ?? null);
      r.add(d.remote_id ?? null);
      r.add(d.duid ?? null);
      r.add(d.server_duid ?? null);
    }
    if (this.#logPackets) {
      let b = clientMacText ? `mac=${clientMacText}\t` : "";
      if (vendor) b += `vendor=${vendor}\t`;
      if (m.srcMac) b += `src_mac=${m.srcMac}\t`;
      if (m.dstMac) b += `dst_mac=${m.dstMac}\t`;
      if (m.vlan) b += `vlan=${m.vlan}\t`;
      b += `src_ip=${m.srcIp}\tsrc_port=${m.srcPort}\tdst_ip=${m.dstIp}\tdst_port=${m.dstPort}`;
      if (d.version === 6) b += "\tdhcp_version=6";
      b += `\tmsg_type=${d.msg_type}\ttrans_id=${d.trans_id}`;
      const add = (k: string, v: string | number | null | undefined) => {
        if (v !== undefined && v !== null && v !== "") b += `\t${k}=${esc(String(v))}`;
      };
      add("client_addr", nz(d.client_addr));
      add("assigned_addr", nz(d.assigned_addr));
      add("next_server", nz(d.next_server));
      add("relay_addr", nz(d.relay_addr));
      add("requested_addr", nz(d.requested_addr));
      add("host_name", d.host_name);
      add("client_software", d.vendor_class);
      add("client_id", d.client_id);
      add("server_addr", d.server_id);
      add("lease_time", d.lease_time);
      add("param_list", params);
      add("circuit_id", d.circuit_id);
      add("agent_remote_id", d.remote_id);
      add("duid", d.duid);
      add("server_duid", d.server_duid);
      this.#packetLog.write("dhcp", m.ts, b);
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
    this.#packetLog.flush();
    this.#dailyLog.flush();
    await this.#writer.flush();
  }

  /** Flushes and stops the device timer (the writer is closed by its owner). */
  async close(): Promise<void> {
    clearInterval(this.#deviceTimer);
    this.#deviceTimer = undefined;
    await this.flush();
    this.#packetLog.close();
  }
}

/**
 * Adds the columns every packet row starts with (schema's PACKET_COLUMNS).
 * The vendor goes in the flow slot: the writer replaces it with the flow id.
 */
function addPacketColumns(
  r: RowBuffer,
  time: number,
  toClient: boolean,
  srcMac: number | null,
  dstMac: number | null,
  srcKey: IpKey | null,
  dstKey: IpKey | null,
  m: PacketMeta,
  vendor: string,
): void {
  r.add(time);
  r.add(toClient ? 1 : 0);
  r.add(srcMac);
  r.add(dstMac);
  r.add(srcKey);
  r.add(dstKey);
  r.add(m.srcPort);
  r.add(m.dstPort);
  r.add(m.proto);
  r.add(m.vlan);
  r.add(vendor);
}
