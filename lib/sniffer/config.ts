/**
 * The `[sniffer]` config section. `enabled` and `interfaces` are fixed by
 * DESIGN.md; the rest tunes capture, policy and the flood detector.
 *
 * @module
 */

import {
  bool,
  cidr,
  type ConfigCheck,
  duration,
  type Field,
  int,
  list,
  mac,
  Section,
  type SectionValue,
  str,
  ValueError,
} from "../config/mod.ts";
import { DEFAULT_FILTER } from "../capture/mod.ts";
import { parseIp, parseMac } from "../net/mod.ts";

/** The default BPF filter: DNS over UDP and TCP, DHCPv4 and DHCPv6. */
export const SNIFFER_DEFAULT_FILTER: string = DEFAULT_FILTER;

function ipOrMacField(): Field<string> {
  return {
    doc: "",
    default: "",
    expects: "an IP address or a MAC address",
    validate(raw: unknown): string {
      if (typeof raw === "string") {
        if (parseIp(raw)) return raw;
        const m = parseMac(raw);
        if (m) return m;
      }
      throw new ValueError(
        `expected an IP address or a MAC address like "aa:bb:cc:dd:ee:ff", found ${
          typeof raw === "string" ? JSON.stringify(raw) : typeof raw
        }`,
      );
    },
  };
}

function ifaceField(): Field<string> {
  return {
    doc: "",
    default: "",
    expects: "an interface name",
    validate(raw: unknown): string {
      if (typeof raw !== "string" || !/^[A-Za-z0-9_.:@-]{1,15}$/.test(raw)) {
        throw new ValueError(
          `expected an interface name such as "eth0" (1 to 15 letters, digits, "._:@-"), found ${
            JSON.stringify(raw)
          }`,
        );
      }
      return raw;
    },
  };
}

/** Schema of `[sniffer.flood]`. */
export const floodSection = new Section(
  "DNS flood detection: sliding-window packet counts, global and per source and destination IP " +
    "(the original rule: 50 DNS packets within one second). A threshold of 0 turns that count off.",
  {
    enabled: bool({ doc: "Watch for DNS floods.", default: true }),
    window: duration({
      doc: "Length of the sliding window the thresholds apply to.",
      default: "1s",
      minMs: 100,
    }),
    per_source: int({
      doc: "DNS packets from one source IP within the window that make a flood.",
      default: 50,
      min: 0,
      max: 100_000_000,
    }),
    per_destination: int({
      doc: "DNS packets to one destination IP within the window that make a flood.",
      default: 500,
      min: 0,
      max: 100_000_000,
    }),
    global: int({
      doc: "DNS packets on all watched interfaces within the window that make a flood.",
      default: 5000,
      min: 0,
      max: 100_000_000,
    }),
    cooldown: duration({
      doc:
        "After an alert for one source, destination or the global count, the next waits this long.",
      default: "1m",
    }),
    top_talkers: int({
      doc: "Sources (and destinations) listed in a flood alert, busiest first.",
      default: 5,
      min: 1,
      max: 100,
    }),
    severity: str({
      doc: "Severity of dns-flood alerts (alerts.mail.min_severity decides what is mailed).",
      default: "error",
      oneOf: ["info", "notice", "warning", "error", "critical"],
    }),
    max_tracked: int({
      doc:
        "Sources and destinations tracked at most (bounds memory under spoofed floods; the global count still applies).",
      default: 100_000,
      min: 100,
      max: 10_000_000,
    }),
  },
);

/** Schema of `[sniffer]`. */
export const snifferSection = new Section(
  "The sniffer: captures DNS and DHCP with libpcap (needs CAP_NET_RAW), logs every message per " +
    "MAC address to the store and the daily file, and raises policy alerts.",
  {
    enabled: bool({ doc: "Run the sniffer.", default: true }),
    interfaces: list(ifaceField(), {
      doc: "Interfaces captured, each in its own worker.",
      default: ["lo"],
      reference: ["eth0"],
      min: 1,
      max: 64,
    }),
    filter: str({
      doc: "BPF filter (tcpdump syntax) applied in the kernel.",
      default: SNIFFER_DEFAULT_FILTER,
    }),
    dns_ports: list(int({ doc: "port", default: 53, min: 1, max: 65535 }), {
      doc: "Ports decoded as DNS (UDP and TCP); keep `filter` in step when adding one.",
      default: [53],
      min: 1,
      max: 32,
    }),
    buffer_size: int({
      doc: "Kernel capture buffer per interface, bytes (absorbs bursts).",
      default: 33_554_432,
      min: 65_536,
      max: 2_147_483_647,
    }),
    snaplen: int({
      doc: "Bytes kept of each frame.",
      default: 65_535,
      min: 128,
      max: 262_144,
    }),
    read_timeout: duration({
      doc: "How long the kernel may hold captured packets before handing over a partial block.",
      default: "50ms",
      minMs: 1,
    }),
    fragment_timeout: duration({
      doc: "How long (capture time) the fragments of an IP datagram may take to all arrive " +
        "before they are dropped and counted as `fragment-timeout`.",
      default: "30s",
      minMs: 1,
    }),
    promiscuous: bool({
      doc:
        "Put the interfaces in promiscuous mode (see traffic of the other hosts on the segment).",
      default: true,
    }),
    log_packets: bool({
      doc:
        "Write one line per DNS/DHCP message to the daily log file (violations are always written).",
      default: true,
    }),
    unauthorized_dns: list(cidr({ doc: "server", default: "" }), {
      doc:
        "DNS servers nobody may use (IPs or CIDR ranges); `vigia ctl deny dns add` adds more at run time.",
      default: [],
      reference: ["203.0.113.53", "198.51.100.0/24"],
    }),
    unauthorized_macs: list(mac({ doc: "MAC", default: "" }), {
      doc: "MAC addresses that may not use DHCP; `vigia ctl deny mac add` adds more at run time.",
      default: [],
      reference: ["02:00:5e:10:00:01"],
    }),
    allowed_dhcp_servers: list(ipOrMacField(), {
      doc: 'DHCP servers allowed to answer (IP or MAC addresses), e.g. ["192.0.2.1", ' +
        '"00:11:22:33:44:55"]. An OFFER/ACK (DHCPv6 ADVERTISE/REPLY) from any other is a ' +
        "rogue-dhcp alert. Empty turns the check off.",
      default: [],
    }),
    new_station_alert: bool({
      doc:
        "Raise a new-station alert (severity notice) for each MAC address seen for the first time; " +
        "the new-station line is written to the daily log either way.",
      default: true,
    }),
    device_flush_interval: duration({
      doc: "How often changed devices (first/last seen, IPs, counts) are written to the store.",
      default: "1s",
      minMs: 10,
    }),
    max_queued_rows: int({
      doc: "Event rows waiting for the events database at most (about 2 s of traffic at 150k " +
        "packets/s); beyond this a live capture drops rows (counted as store_drops, still written " +
        "to the daily log) rather than grow without bound.",
      default: 300_000,
      min: 10_000,
      max: 100_000_000,
    }),
    flood: floodSection,
  },
);

/** Validated `[sniffer]`. */
export type SnifferConfig = SectionValue<typeof snifferSection>;

/** Semantic checks: DNS ports present in a custom filter are the user's business; only warn-free checks here. */
export const snifferChecks: ConfigCheck<{ sniffer: SnifferConfig }>[] = [
  (config, report) => {
    const s = config.sniffer;
    const seen = new Set<string>();
    s.interfaces.forEach((iface, i) => {
      if (seen.has(iface)) report(`sniffer.interfaces[${i}]`, `"${iface}" is listed twice`);
      seen.add(iface);
    });
  },
];
