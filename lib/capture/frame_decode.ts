/**
 * Link, IP and transport decoding of one captured frame, down to the DNS or
 * DHCP payload. Written for the hot path: offsets into the capture buffer
 * and one DataView over it, no per-packet objects unless an event is
 * emitted, and strings (MACs, IPs) only built for emitted events.
 *
 * @module
 */

import { countMalformed } from "./counters.ts";
import { decodeDhcp4, decodeDhcp6 } from "../sniffer/dhcp_decode.ts";
import { decodeDns } from "../sniffer/dns_decode.ts";
import { ipv4At, ipv6At, macAt } from "./format.ts";
import type { TcpReassembler } from "./tcp_reassembler.ts";
import type { CaptureCounters, PacketMeta, SniffedEvent } from "./types.ts";

/** Port classes in a port table. */
export const PORT_DNS = 1;
/** DHCPv4 / BOOTP. */
export const PORT_DHCP4 = 2;
/** DHCPv6. */
export const PORT_DHCP6 = 3;

/** A 65536-entry table: port → class (0 none). DNS is looked up on UDP and TCP, DHCP on UDP. */
export function portTable(dnsPorts: readonly number[] = [53]): Uint8Array {
  const t = new Uint8Array(65536);
  t[67] = t[68] = PORT_DHCP4;
  t[546] = t[547] = PORT_DHCP6;
  for (const p of dnsPorts) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      throw new RangeError(`Cannot use DNS port ${p}: ports are integers 1..65535`);
    }
    t[p] = PORT_DNS;
  }
  return t;
}

/** The default table: DNS on 53, DHCP on 67/68 and 546/547. */
export const DEFAULT_PORTS: Uint8Array = portTable();

/** What a decode needs besides the frame. */
export interface DecodeContext {
  /** Port classes, from {@linkcode portTable}. */
  ports: Uint8Array;
  /** DNS over TCP reassembly; without it only messages whole in one segment are decoded. */
  tcp: TcpReassembler | undefined;
}

// Link types (https://www.tcpdump.org/linktypes.html).
const LINK_NULL = 0;
const LINK_ETHERNET = 1;
const LINK_RAW_12 = 12;
const LINK_RAW_14 = 14;
const LINK_RAW = 101;
const LINK_LOOP = 108;
const LINK_SLL = 113;
const LINK_IPV4 = 228;
const LINK_IPV6 = 229;
const LINK_SLL2 = 276;

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;

// State of the frame being decoded, read by `meta()` when an event is emitted.
let fBuf: Uint8Array = new Uint8Array(0);
let fTs = 0;
let fSrcMac = -1; // offset of the source MAC, -1 when the link has none
let fDstMac = -1;
let fVlan = 0;
let fIpv = 4;
let fSrcIp = 0;
let fDstIp = 0;
let fTcp = false;
let fSport = 0;
let fDport = 0;

function meta(payloadLength: number): PacketMeta {
  const buf = fBuf;
  return {
    ts: fTs,
    srcMac: fSrcMac >= 0 ? macAt(buf, fSrcMac) : "",
    dstMac: fDstMac >= 0 ? macAt(buf, fDstMac) : "",
    vlan: fVlan,
    ipVersion: fIpv === 4 ? 4 : 6,
    srcIp: fIpv === 4 ? ipv4At(buf, fSrcIp) : ipv6At(buf, fSrcIp),
    dstIp: fIpv === 4 ? ipv4At(buf, fDstIp) : ipv6At(buf, fDstIp),
    proto: fTcp ? "tcp" : "udp",
    srcPort: fSport,
    dstPort: fDport,
    payloadLength,
  };
}

/**
 * Decodes the frame at `buf[off .. off+caplen)` of link type `linkType`;
 * `wirelen` is its length on the wire (larger when the snap length cut it).
 * Appends 0..n events to `out` and counts into `counters`. Never throws.
 */
export function decodeAt(
  ctx: DecodeContext,
  linkType: number,
  buf: Uint8Array,
  view: DataView,
  off: number,
  caplen: number,
  wirelen: number,
  ts: number,
  out: SniffedEvent[],
  counters: CaptureCounters,
): void {
  counters.packets++;
  try {
    decodeLink(ctx, linkType, buf, view, off, off + caplen, wirelen > caplen, ts, out, counters);
  } catch {
    // A decoder bug must not stop a capture; the reason makes it visible in stats.
    countMalformed(counters, "decoder-error");
  }
}

function decodeLink(
  ctx: DecodeContext,
  linkType: number,
  buf: Uint8Array,
  view: DataView,
  off: number,
  end: number,
  cut: boolean,
  ts: number,
  out: SniffedEvent[],
  counters: CaptureCounters,
): void {
  let p = off;
  let ethertype = 0;
  fSrcMac = fDstMac = -1;
  fVlan = 0;
  switch (linkType) {
    case LINK_ETHERNET:
      if (end - off < 14) return countMalformed(counters, "short-link");
      fDstMac = off;
      fSrcMac = off + 6;
      ethertype = view.getUint16(off + 12);
      p = off + 14;
      break;
    case LINK_NULL:
    case LINK_LOOP: {
      if (end - off < 4) return countMalformed(counters, "short-link");
      // DLT_NULL holds the family in the capturing host's byte order, DLT_LOOP in network order.
      let family = view.getUint32(off, linkType === LINK_NULL);
      if (family > 0xffff) family = view.getUint32(off, linkType !== LINK_NULL);
      ethertype = family === 2
        ? ETH_IPV4
        : family === 10 || family === 24 || family === 28 || family === 30
        ? ETH_IPV6
        : 0;
      p = off + 4;
      break;
    }
    case LINK_RAW:
    case LINK_RAW_12:
    case LINK_RAW_14:
    case LINK_IPV4:
    case LINK_IPV6: {
      if (end - off < 1) return countMalformed(counters, "short-link");
      const v = buf[off] >> 4;
      ethertype = v === 4 ? ETH_IPV4 : v === 6 ? ETH_IPV6 : 0;
      if (ethertype === 0) return countMalformed(counters, "bad-ip-version");
      break;
    }
    case LINK_SLL:
      if (end - off < 16) return countMalformed(counters, "short-link");
      if (view.getUint16(off + 4) === 6) fSrcMac = off + 6;
      ethertype = view.getUint16(off + 14);
      p = off + 16;
      break;
    case LINK_SLL2:
      if (end - off < 20) return countMalformed(counters, "short-link");
      if (buf[off + 11] === 6) fSrcMac = off + 12;
      ethertype = view.getUint16(off);
      p = off + 20;
      break;
    default:
      counters.ignored++;
      return;
  }
  // 802.1Q / 802.1ad (QinQ) tags; the outermost VLAN id is the one reported.
  for (let tags = 0; ethertype === 0x8100 || ethertype === 0x88a8 || ethertype === 0x9100; tags++) {
    if (end - p < 4) return countMalformed(counters, "short-vlan");
    if (tags === 0) fVlan = view.getUint16(p) & 0xfff;
    ethertype = view.getUint16(p + 2);
    p += 4;
    if (tags === 7) break;
  }
  fBuf = buf;
  fTs = ts;
  if (ethertype === ETH_IPV4) decodeIpv4(ctx, buf, view, p, end, cut, out, counters);
  else if (ethertype === ETH_IPV6) decodeIpv6(ctx, buf, view, p, end, cut, out, counters);
  else counters.ignored++;
}

function decodeIpv4(
  ctx: DecodeContext,
  buf: Uint8Array,
  view: DataView,
  p: number,
  end: number,
  cut: boolean,
  out: SniffedEvent[],
  counters: CaptureCounters,
): void {
  if (end - p < 20) return countMalformed(counters, "short-ip");
  const vihl = buf[p];
  if (vihl >> 4 !== 4) return countMalformed(counters, "bad-ip-version");
  const ihl = (vihl & 15) * 4;
  if (ihl < 20) return countMalformed(counters, "bad-ip-header");
  if (p + ihl > end) return countMalformed(counters, "short-ip");
  const total = view.getUint16(p + 2);
  let ipEnd: number;
  let truncated = false;
  if (total === 0) {
    ipEnd = end; // segmentation offload: the length is filled in later by the NIC
  } else if (total < ihl) {
    return countMalformed(counters, "bad-ip-length");
  } else if (p + total > end) {
    if (!cut) return countMalformed(counters, "ip-length-overrun");
    ipEnd = end;
    truncated = true;
  } else {
    ipEnd = p + total;
  }
  const frag = view.getUint16(p + 6);
  if ((frag & 0x1fff) !== 0) {
    counters.fragments = (counters.fragments ?? 0) + 1;
    counters.ignored++;
    return;
  }
  if ((frag & 0x2000) !== 0) truncated = true; // first fragment: the rest is not reassembled
  fIpv = 4;
  fSrcIp = p + 12;
  fDstIp = p + 16;
  decodeTransport(ctx, buf, view, buf[p + 9], p + ihl, ipEnd, truncated, out, counters);
}

function decodeIpv6(
  ctx: DecodeContext,
  buf: Uint8Array,
  view: DataView,
  p: number,
  end: number,
  cut: boolean,
  out: SniffedEvent[],
  counters: CaptureCounters,
): void {
  if (end - p < 40) return countMalformed(counters, "short-ipv6");
  if (buf[p] >> 4 !== 6) return countMalformed(counters, "bad-ip-version");
  const plen = view.getUint16(p + 4);
  let ipEnd = p + 40 + plen;
  let truncated = false;
  if (plen === 0) {
    ipEnd = end; // jumbogram or segmentation offload
  } else if (ipEnd > end) {
    if (!cut) return countMalformed(counters, "ip-length-overrun");
    ipEnd = end;
    truncated = true;
  }
  let next = buf[p + 6];
  let q = p + 40;
  for (let n = 0; n < 16; n++) {
    if (next === 0 || next === 43 || next === 60) {
      if (q + 8 > ipEnd) return countMalformed(counters, "ipv6-ext-overrun");
      next = buf[q];
      q += (buf[q + 1] + 1) * 8;
    } else if (next === 44) {
      if (q + 8 > ipEnd) return countMalformed(counters, "ipv6-ext-overrun");
      const frag = view.getUint16(q + 2);
      if ((frag & 0xfff8) !== 0) {
        counters.fragments = (counters.fragments ?? 0) + 1;
        counters.ignored++;
        return;
      }
      if ((frag & 1) !== 0) truncated = true;
      next = buf[q];
      q += 8;
    } else if (next === 51) {
      if (q + 8 > ipEnd) return countMalformed(counters, "ipv6-ext-overrun");
      next = buf[q];
      q += (buf[q + 1] + 2) * 4;
    } else {
      break;
    }
  }
  if (q > ipEnd) return countMalformed(counters, "ipv6-ext-overrun");
  fIpv = 6;
  fSrcIp = p + 8;
  fDstIp = p + 24;
  decodeTransport(ctx, buf, view, next, q, ipEnd, truncated, out, counters);
}

function decodeTransport(
  ctx: DecodeContext,
  buf: Uint8Array,
  view: DataView,
  proto: number,
  p: number,
  ipEnd: number,
  truncated: boolean,
  out: SniffedEvent[],
  counters: CaptureCounters,
): void {
  if (proto === 17) {
    if (ipEnd - p < 8) return countMalformed(counters, "short-udp");
    const sport = view.getUint16(p);
    const dport = view.getUint16(p + 2);
    let cls = ctx.ports[dport];
    if (cls === 0) cls = ctx.ports[sport];
    if (cls === 0) {
      counters.ignored++;
      return;
    }
    const ulen = view.getUint16(p + 4);
    if (ulen < 8) return countMalformed(counters, "bad-udp-length");
    let ue = p + ulen;
    if (ue > ipEnd) {
      if (!truncated) return countMalformed(counters, "udp-length-overrun");
      ue = ipEnd;
    }
    fTcp = false;
    fSport = sport;
    fDport = dport;
    const start = p + 8;
    if (cls === PORT_DNS) {
      const dns = decodeDns(buf, view, start, ue, truncated, counters);
      if (dns === null) return;
      counters.dns++;
      out.push({ kind: "dns", meta: meta(ulen - 8), dns });
    } else {
      const dhcp = cls === PORT_DHCP4
        ? decodeDhcp4(buf, view, start, ue, truncated, counters)
        : decodeDhcp6(buf, view, start, ue, truncated, counters);
      if (dhcp === null) return;
      counters.dhcp++;
      out.push({ kind: "dhcp", meta: meta(ulen - 8), dhcp });
    }
    return;
  }
  if (proto === 6) {
    if (ipEnd - p < 20) return countMalformed(counters, "short-tcp");
    const sport = view.getUint16(p);
    const dport = view.getUint16(p + 2);
    if (ctx.ports[dport] !== PORT_DNS && ctx.ports[sport] !== PORT_DNS) {
      counters.ignored++;
      return;
    }
    const doff = (buf[p + 12] >> 4) * 4;
    if (doff < 20 || p + doff > ipEnd) return countMalformed(counters, "bad-tcp-header");
    fTcp = true;
    fSport = sport;
    fDport = dport;
    tcpDns(
      ctx,
      buf,
      view,
      view.getUint32(p + 4),
      buf[p + 13],
      p + doff,
      ipEnd,
      truncated,
      out,
      counters,
    );
    return;
  }
  counters.ignored++;
}

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;

/** Emits the DNS messages complete in `buf[p..end)`; returns how many bytes they took, -1 on a bad prefix. */
function tcpMessages(
  buf: Uint8Array,
  view: DataView,
  p: number,
  end: number,
  out: SniffedEvent[],
  counters: CaptureCounters,
): number {
  let pos = p;
  while (end - pos >= 2) {
    const mlen = view.getUint16(pos);
    if (mlen < 12) {
      countMalformed(counters, "dns-tcp-length");
      return -1;
    }
    if (pos + 2 + mlen > end) break;
    const dns = decodeDns(buf, view, pos + 2, pos + 2 + mlen, false, counters);
    if (dns !== null) {
      counters.dns++;
      out.push({ kind: "dns", meta: meta(mlen), dns });
    }
    pos += 2 + mlen;
  }
  return pos - p;
}

function tcpDns(
  ctx: DecodeContext,
  buf: Uint8Array,
  view: DataView,
  seq: number,
  flags: number,
  p: number,
  end: number,
  truncated: boolean,
  out: SniffedEvent[],
  counters: CaptureCounters,
): void {
  const tcp = ctx.tcp;
  const before = out.length;
  if (tcp === undefined || truncated) {
    // No stream state: decode what is whole in this segment.
    if (end === p) {
      counters.ignored++;
      return;
    }
    const used = tcpMessages(buf, view, p, end, out, counters);
    if (used >= 0 && p + used < end) {
      if (truncated && end - (p + used) >= 14) {
        const m = p + used + 2;
        const dns = decodeDns(buf, view, m, end, true, counters);
        if (dns !== null) {
          counters.dns++;
          out.push({ kind: "dns", meta: meta(view.getUint16(m - 2)), dns });
        }
      } else if (out.length === before) {
        counters.tcpPending = (counters.tcpPending ?? 0) + 1;
      }
    }
    return;
  }
  const ipText = (off: number) => fIpv === 4 ? ipv4At(buf, off) : ipv6At(buf, off);
  const key = ipText(fSrcIp) + " " + fSport + " " + ipText(fDstIp) + " " + fDport;
  if ((flags & (TCP_SYN | TCP_RST)) !== 0) {
    tcp.drop(key);
    if ((flags & TCP_SYN) !== 0) seq = (seq + 1) >>> 0;
  }
  if (end === p || (flags & TCP_RST) !== 0) {
    if ((flags & TCP_FIN) !== 0) tcp.drop(key);
    counters.ignored++;
    return;
  }
  let flow = tcp.get(key);
  if (flow !== undefined) {
    const d = (seq - flow.nextSeq) | 0;
    if (d > 0) {
      // Bytes are missing: the buffered partial message can never complete.
      tcp.drop(key);
      countMalformed(counters, "dns-tcp-gap");
      flow = undefined;
    } else if (d < 0) {
      // Retransmission overlapping what is buffered: keep only the new bytes.
      if (p - d >= end) {
        counters.ignored++;
        return;
      }
      p -= d;
      seq = flow.nextSeq;
    }
  }
  if (flow === undefined) {
    const used = tcpMessages(buf, view, p, end, out, counters);
    if (used >= 0 && p + used < end && (flags & TCP_FIN) === 0) {
      if (tcp.append(key, buf, p + used, end, (seq + used) >>> 0, fTs) === undefined) {
        countMalformed(counters, "dns-tcp-overflow");
      } else if (out.length === before) {
        counters.tcpPending = (counters.tcpPending ?? 0) + 1;
      }
    }
  } else {
    const f = tcp.append(key, buf, p, end, seq, fTs);
    if (f === undefined) {
      countMalformed(counters, "dns-tcp-overflow");
    } else {
      const used = tcpMessages(f.buf, f.view, 0, f.len, out, counters);
      if (used < 0 || (flags & TCP_FIN) !== 0) tcp.drop(key);
      else tcp.consume(f, used);
      if (out.length === before) counters.tcpPending = (counters.tcpPending ?? 0) + 1;
    }
  }
  if ((flags & TCP_FIN) !== 0) tcp.drop(key);
  if (tcp.evicted > 0) {
    counters.tcpFlowsEvicted = (counters.tcpFlowsEvicted ?? 0) + tcp.evicted;
    tcp.evicted = 0;
  }
}

/** Options of {@linkcode decodeFrame}. */
export interface DecodeFrameOptions {
  /** DNS-over-TCP reassembly state, kept by the caller across frames of one capture. */
  tcp?: TcpReassembler;
  /** Length of the frame on the wire when the capture cut it (snap length). @default frame.length */
  wireLength?: number;
  /** Ports carrying DNS; pass the same array on every call (a new array rebuilds a 64 KiB table). @default [53] */
  dnsPorts?: readonly number[];
}

const publicCtx: DecodeContext = { ports: DEFAULT_PORTS, tcp: undefined };
let lastPorts: readonly number[] | undefined;
let lastPortTable = DEFAULT_PORTS;
let viewBuffer: ArrayBufferLike | undefined;
let viewBytes: Uint8Array = new Uint8Array(0);
let viewData: DataView = new DataView(viewBytes.buffer);

/**
 * Decodes one link-layer frame of `linkType` (a LINKTYPE_ value: 1
 * Ethernet, 0/108 BSD loopback, 12/14/101/228/229 raw IP, 113 Linux SLL,
 * 276 SLL2) captured at `ts` (ms since the epoch): appends 0..n events to
 * `out` and counts into `counters`. Never throws on bad bytes: malformed
 * frames are counted per reason in `counters.malformed`.
 *
 * @example
 * ```ts
 * const events: SniffedEvent[] = [];
 * const counters = newCounters();
 * decodeFrame(1, frame, Date.now(), events, counters, { tcp: new TcpReassembler() });
 * ```
 */
export function decodeFrame(
  linkType: number,
  frame: Uint8Array,
  ts: number,
  out: SniffedEvent[],
  counters: CaptureCounters,
  options?: DecodeFrameOptions,
): void {
  publicCtx.tcp = options?.tcp;
  const ports = options?.dnsPorts;
  if (ports === undefined) {
    publicCtx.ports = DEFAULT_PORTS;
  } else {
    if (ports !== lastPorts) {
      lastPortTable = portTable(ports);
      lastPorts = ports;
    }
    publicCtx.ports = lastPortTable;
  }
  // One view per underlying buffer, so frames cut from one big buffer cost nothing.
  if (frame.buffer !== viewBuffer) {
    viewBuffer = frame.buffer;
    viewBytes = new Uint8Array(frame.buffer);
    viewData = new DataView(frame.buffer);
  }
  const wire = options?.wireLength ?? frame.length;
  decodeAt(
    publicCtx,
    linkType,
    viewBytes,
    viewData,
    frame.byteOffset,
    frame.length,
    wire,
    ts,
    out,
    counters,
  );
}
