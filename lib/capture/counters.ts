/**
 * Counter helpers shared by the file reader, the live worker and the decoder.
 *
 * Every packet ends in exactly one of four places, so that
 * `packets = decoded + ignored + Σ malformed + pending` (see
 * {@linkcode packetsAccounted}): decoded into (part of) a DNS/DHCP message,
 * ignored for a reason, malformed for a reason, or still held by a
 * reassembler (IP fragments, TCP segments) waiting for the rest.
 *
 * @module
 */

import type { CaptureCounters } from "./types.ts";

/**
 * Why a packet was ignored: readable by vigia but not DNS/DHCP, or never
 * completed. Values are the keys of {@linkcode CaptureCounters.ignoredBy}.
 */
export const IGNORED = {
  /** The link type (pcap LINKTYPE_) is not one vigia decodes. */
  unsupportedLinkType: "unsupported-link-type",
  /** A PPP frame carrying neither IPv4 nor IPv6 (LCP, IPCP, CHAP, ...). */
  unsupportedPppProtocol: "unsupported-ppp-protocol",
  /** An Ethernet/SLL frame carrying neither IPv4 nor IPv6 (ARP, LLDP, ...). */
  nonIp: "non-ip",
  /** IP, but neither DNS (UDP/TCP on a DNS port) nor DHCP (UDP 67/68, 546/547). */
  notDnsOrDhcp: "not-dns-or-dhcp",
  /** TCP on a DNS port without payload (SYN, ACK, FIN, RST). */
  tcpNoPayload: "tcp-no-payload",
  /** A TCP segment whose bytes were all seen before. */
  tcpRetransmission: "tcp-retransmission",
  /** TCP segments of a DNS message the connection ended (FIN, RST, SYN) or the capture ended before it was whole. */
  tcpIncomplete: "tcp-incomplete",
  /** TCP segments held for a flow evicted to stay within the reassembly bounds or idle too long. */
  tcpFlowEvicted: "tcp-flow-evicted",
  /** Fragments of a datagram that was not whole within the timeout, or when the capture ended. */
  fragmentTimeout: "fragment-timeout",
  /** Fragments of a datagram with overlapping fragments, all dropped (RFC 5722). */
  fragmentOverlap: "fragment-overlap",
  /** Fragments dropped to keep the reassembly within its datagram and byte bounds. */
  fragmentEvicted: "fragment-evicted",
  /** Fragments of a datagram the snap length cut, which therefore cannot be reassembled. */
  fragmentCut: "fragment-cut",
  /** A fragment seen without a reassembler (a single `decodeFrame` call without `fragments`). */
  fragmentNotReassembled: "fragment-not-reassembled",
} as const;

/**
 * A fresh set of counters, every field zero.
 *
 * @example
 * ```ts
 * const counters = newCounters();
 * decodeFrame(1, frame, Date.now(), events, counters);
 * console.log(counters.dns, counters.malformed);
 * ```
 */
export function newCounters(): CaptureCounters {
  return {
    packets: 0,
    decoded: 0,
    pending: 0,
    dns: 0,
    dhcp: 0,
    ignored: 0,
    ignoredBy: {},
    malformed: {},
    kernelDrops: 0,
    ifDrops: 0,
    vigiaDrops: 0,
    fragments: 0,
    reassembled: 0,
    truncated: 0,
    tcpPending: 0,
    tcpFlowsEvicted: 0,
  };
}

/** Counts `n` (default 1) malformed packets under `reason`. */
export function countMalformed(counters: CaptureCounters, reason: string, n = 1): void {
  const m = counters.malformed;
  m[reason] = (m[reason] ?? 0) + n;
}

/** Counts `n` (default 1) ignored packets under `reason` (one of {@linkcode IGNORED}). */
export function countIgnored(counters: CaptureCounters, reason: string, n = 1): void {
  counters.ignored += n;
  const m = counters.ignoredBy;
  m[reason] = (m[reason] ?? 0) + n;
}

/** Sum of the malformed packets over every reason. */
export function malformedTotal(counters: CaptureCounters): number {
  let n = 0;
  for (const k in counters.malformed) n += counters.malformed[k];
  return n;
}

/**
 * `decoded + ignored + Σ malformed + pending`: equal to `packets` when every
 * packet is accounted for (live, in-flight frames of the ring and frames
 * dropped before decoding, `vigiaDrops`, are the difference).
 *
 * @example
 * ```ts
 * const c = await readCaptureFile("dns.pcap", { onBatch() {} });
 * console.assert(packetsAccounted(c) === c.packets);
 * ```
 */
export function packetsAccounted(counters: CaptureCounters): number {
  return counters.decoded + counters.ignored + malformedTotal(counters) + counters.pending;
}

/** A deep copy of `counters` (a snapshot safe to hand out). */
export function copyCounters(counters: CaptureCounters): CaptureCounters {
  return {
    ...counters,
    malformed: { ...counters.malformed },
    ignoredBy: { ...counters.ignoredBy },
  };
}

/** Adds `b` into `a` (per-field sums; malformed and ignored reasons merged). */
export function addCounters(a: CaptureCounters, b: CaptureCounters): void {
  a.packets += b.packets;
  a.decoded += b.decoded ?? 0;
  a.pending += b.pending ?? 0;
  a.dns += b.dns;
  a.dhcp += b.dhcp;
  a.ignored += b.ignored;
  a.kernelDrops += b.kernelDrops;
  a.ifDrops += b.ifDrops;
  a.vigiaDrops += b.vigiaDrops;
  a.fragments = (a.fragments ?? 0) + (b.fragments ?? 0);
  a.reassembled = (a.reassembled ?? 0) + (b.reassembled ?? 0);
  a.truncated = (a.truncated ?? 0) + (b.truncated ?? 0);
  a.tcpPending = (a.tcpPending ?? 0) + (b.tcpPending ?? 0);
  a.tcpFlowsEvicted = (a.tcpFlowsEvicted ?? 0) + (b.tcpFlowsEvicted ?? 0);
  if (b.malformedMessages) {
    a.malformedMessages = (a.malformedMessages ?? 0) + b.malformedMessages;
  }
  for (const [k, v] of Object.entries(b.malformed)) a.malformed[k] = (a.malformed[k] ?? 0) + v;
  a.ignoredBy ??= {};
  for (const [k, v] of Object.entries(b.ignoredBy ?? {})) {
    a.ignoredBy[k] = (a.ignoredBy[k] ?? 0) + v;
  }
}
