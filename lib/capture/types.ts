/**
 * What the capture layer hands to the sniffer: one decoded record per DNS
 * message or DHCP message seen, in batches. Field names follow Zeek's
 * dns.log and dhcp.log where one exists.
 *
 * @module
 */

/** Link, network and transport facts of one captured message. */
export interface PacketMeta {
  /** Capture time, ms since the epoch (fractional: microsecond precision). */
  ts: number;
  /** Source MAC `aa:bb:cc:dd:ee:ff`; empty when the link type has none (raw IP, BSD loopback). */
  srcMac: string;
  /** Destination MAC; empty when the link type has none. */
  dstMac: string;
  /** Outer 802.1Q VLAN id, 0 when untagged. */
  vlan: number;
  /** 4 or 6. */
  ipVersion: 4 | 6;
  /** Source IP as text. */
  srcIp: string;
  /** Destination IP as text. */
  dstIp: string;
  /** "udp" or "tcp". */
  proto: "udp" | "tcp";
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Length of the DNS/DHCP payload in bytes. */
  payloadLength: number;
}

/** One resource record of a DNS answer section. */
export interface DnsAnswer {
  /** Owner name. */
  name: string;
  /** Type mnemonic (`A`, `AAAA`, `CNAME`, ... or `TYPE65280`). */
  type: string;
  /** TTL in seconds. */
  ttl: number;
  /** Presentation form of the data (address, target name, text). */
  data: string;
}

/** A decoded DNS message (names as in Zeek's dns.log). */
export interface DnsFields {
  /** Transaction id. */
  trans_id: number;
  /** True for a response. */
  qr: boolean;
  /** Opcode number (0 QUERY, 4 NOTIFY, 5 UPDATE). */
  opcode: number;
  /** Response code number (extended with EDNS when present). */
  rcode: number;
  /** Response code mnemonic (`NOERROR`, `NXDOMAIN`, ...). */
  rcode_name: string;
  /** Authoritative answer. */
  AA: boolean;
  /** Truncated. */
  TC: boolean;
  /** Recursion desired. */
  RD: boolean;
  /** Recursion available. */
  RA: boolean;
  /** Query name without the trailing dot (the root is `.`); empty when there is no question. */
  query: string;
  /** Query type number. */
  qtype: number;
  /** Query type mnemonic. */
  qtype_name: string;
  /** Query class number. */
  qclass: number;
  /** Answer section records. */
  answers: DnsAnswer[];
}

/** A decoded DHCPv4 or DHCPv6 message (names as in Zeek's dhcp.log where one exists). */
export interface DhcpFields {
  /** 4 for DHCPv4/BOOTP, 6 for DHCPv6. */
  version: 4 | 6;
  /** Message type name: DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM, ... (v6: SOLICIT, ADVERTISE, ...). */
  msg_type: string;
  /** Transaction id. */
  trans_id: number;
  /** Client hardware address (v4 chaddr; v6 the link-layer address from the DUID when it has one), or "". */
  mac: string;
  /** ciaddr (v4). */
  client_addr?: string;
  /** yiaddr: the address offered/assigned (v4). */
  assigned_addr?: string;
  /** siaddr (v4). */
  next_server?: string;
  /** giaddr: the relay (v4); v6: link-address of the outermost Relay-Forward/Reply. */
  relay_addr?: string;
  /** Option 50. */
  requested_addr?: string;
  /** Option 12. */
  host_name?: string;
  /** Option 60. */
  vendor_class?: string;
  /** Option 61, hex. */
  client_id?: string;
  /** Option 54. */
  server_id?: string;
  /** Option 51, seconds. */
  lease_time?: number;
  /** Option 55, option numbers. */
  param_list?: number[];
  /** Option 82 sub-option 1 (agent circuit id), hex. */
  circuit_id?: string;
  /** Option 82 sub-option 2, hex. */
  remote_id?: string;
  /** DHCPv6 client DUID, hex. */
  duid?: string;
  /** DHCPv6 server DUID (option 2), hex. */
  server_duid?: string;
}

/** One decoded message. */
export type SniffedEvent =
  | { kind: "dns"; meta: PacketMeta; dns: DnsFields }
  | { kind: "dhcp"; meta: PacketMeta; dhcp: DhcpFields };

/**
 * Counters of one capture source. Every packet is accounted for exactly once:
 * `packets = decoded + ignored + Σ malformed + pending` (live, frames still in
 * the hand-over ring and `vigiaDrops` make up the difference while running).
 */
export interface CaptureCounters {
  /** Packets handed to vigia by libpcap or read from the file. */
  packets: number;
  /** Packets whose DNS/DHCP payload was decoded into a message (each fragment or TCP segment of it counts). */
  decoded: number;
  /** Packets held by a reassembler right now (IP fragments, TCP segments) waiting for the rest. */
  pending: number;
  /** DNS messages decoded. */
  dns: number;
  /** DHCP messages decoded. */
  dhcp: number;
  /** Packets ignored: readable but not DNS/DHCP, or never completed (the sum of `ignoredBy`). */
  ignored: number;
  /** Ignored packets by reason (`unsupported-link-type`, `non-ip`, `not-dns-or-dhcp`, `fragment-timeout`, ...). */
  ignoredBy: Record<string, number>;
  /** Malformed packets by reason (`short-ip`, `dns-label-loop`, `fragment-too-big`, ...). */
  malformed: Record<string, number>;
  /** Packets the kernel dropped (pcap_stats ps_drop). */
  kernelDrops: number;
  /** Packets the interface dropped (pcap_stats ps_ifdrop). */
  ifDrops: number;
  /** Packets (or, decoding in the worker, messages) vigia dropped because the consumer fell behind (live only). */
  vigiaDrops: number;
  /** IP fragments seen (IPv4 and IPv6). */
  fragments?: number;
  /** Datagrams reassembled from fragments. */
  reassembled?: number;
  /** Messages cut short by the snap length, delivered with what was captured. */
  truncated?: number;
  /** TCP segments buffered for a DNS message that had not completed yet. */
  tcpPending?: number;
  /** TCP flows dropped from reassembly to stay within the memory bounds (or idle too long). */
  tcpFlowsEvicted?: number;
  /** Malformed DNS messages inside TCP segments that also carried a good message (the packet counts as decoded). */
  malformedMessages?: number;
  /** Batches whose consumer (`onBatch`) threw (live only). */
  consumerErrors?: number;
}
