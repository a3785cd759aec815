/**
 * Link, IP and transport decoding of one captured frame, down to the DNS or
 * DHCP payload. Written for the hot path: offsets into the capture buffer
 * and one DataView over it, no per-packet objects unless an event is
 * emitted, and strings (MACs, IPs) only built for emitted events.
 *
 * @module
 */

import { countIgnored, countMalformed, IGNORED, newCounters } from "./counters.ts";
import { decodeDhcp4, decodeDhcp6 } from "../sniffer/dhcp_decode.ts";
import { decodeDns } from "../sniffer/dns_decode.ts";
import { hexAt, ipv4At, ipv6At, macAt } from "./format.ts";
import type { Fragment, FragmentHeader, IpReassembler, Reassembled } from "./reassembly.ts";
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
  /** IP fragment reassembly; without it only first fragments are decoded, as far as they go. */
  fragments: IpReassembler | undefined;
}

// Link types (https://www.tcpdump.org/linktypes.html).
const LINK_NULL = 0;
const LINK_ETHERNET = 1;
const LINK_PPP = 9;
const LINK_PPP_HDLC = 50;
const LINK_PPP_ETHER = 51;
const LINK_C_HDLC = 104;
const LINK_PPP_WITH_DIR = 204;
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
const ETH_PPPOE_SESSION = 0x8864;
/** Returned by `pppEthertype` for a PPP protocol that is neither IPv4 nor IPv6. */
const ETH_UNSUPPORTED_PPP = -1;

// State of the frame being decoded, read by `meta()` when an event is emitted.
let fBuf: Uint8Array = new Uint8Array(0);
let fFrame = 0; // offset of the frame start in fBuf
let fTs = 0;
// Packets the message being decoded stands for: 1, or the fragments of a reassembled datagram.
let fWeight = 1;
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
  fWeight = 1;
  const fragments = ctx.fragments;
  if (fragments !== undefined && ts > fragments.nextDeadline) fragments.expire(ts, counters);
  try {
    decodeLink(ctx, linkType, buf, view, off, off + caplen, wirelen > caplen, ts, out, counters);
  } catch {
    // A decoder bug must not stop a capture; the reason makes it visible in stats.
    countMalformed(counters, "decoder-error");
  }
}

/**
 * The capture ended: what the reassemblers still hold can never complete,
 * so those packets are counted as ignored (`fragment-timeout`,
 * `tcp-incomplete`) and every packet is accounted for.
 */
export function endCapture(ctx: DecodeContext, counters: CaptureCounters): void {
  ctx.fragments?.flush(counters);
  if (ctx.tcp !== undefined) {
    const held = ctx.tcp.drain();
    counters.pending -= held;
    if (held > 0) countIgnored(counters, IGNORED.tcpIncomplete, held);
  }
}

/** The Ethernet type of PPP protocol `proto` (RFC 1661 §2; IANA PPP DLL protocol numbers). */
function pppEthertype(proto: number): number {
  return proto === 0x0021 ? ETH_IPV4 : proto === 0x0057 ? ETH_IPV6 : ETH_UNSUPPORTED_PPP;
}

// Where the PPP payload starts, set by `pppAt`.
let pppPayload = 0;

/**
 * Reads a PPP header at `p` (optional 0xff 0x03 address and control, a 1-
 * or 2-byte protocol field, RFC 1661/1662): the Ethernet type it carries, or
 * -2 when too short, and `pppPayload` where the packet starts.
 */
function pppAt(buf: Uint8Array, view: DataView, p: number, end: number): number {
  if (end - p >= 2 && buf[p] === 0xff && buf[p + 1] === 0x03) p += 2;
  if (end - p < 1) return -2;
  let proto: number;
  if ((buf[p] & 1) !== 0) {
    proto = buf[p]; // protocol field compression: an odd first byte is the whole field
    p += 1;
  } else {
    if (end - p < 2) return -2;
    proto = view.getUint16(p);
    p += 2;
  }
  pppPayload = p;
  return pppEthertype(proto);
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
    case LINK_PPP_HDLC:
    case LINK_C_HDLC:
      if (linkType === LINK_C_HDLC || buf[off] === 0x0f || buf[off] === 0x8f) {
        // Cisco HDLC: address (0x0f unicast, 0x8f broadcast), control 0, an Ethernet type.
        if (end - off < 4) return countMalformed(counters, "short-link");
        ethertype = view.getUint16(off + 2);
        p = off + 4;
        break;
      }
      // falls through: PPP in HDLC-like framing (RFC 1662), already unescaped
    case LINK_PPP:
    case LINK_PPP_WITH_DIR: {
      const start = linkType === LINK_PPP_WITH_DIR ? off + 1 : off;
      ethertype = pppAt(buf, view, start, end);
      if (ethertype === -2) return countMalformed(counters, "short-link");
      p = pppPayload;
      break;
    }
    case LINK_PPP_ETHER:
      // PPPoE session header (RFC 2516 §4) without Ethernet, then the PPP protocol.
      if (end - off < 8) return countMalformed(counters, "short-link");
      ethertype = pppEthertype(view.getUint16(off + 6));
      p = off + 8;
      break;
    default:
      return countIgnored(counters, IGNORED.unsupportedLinkType);
  }
  // 802.1Q / 802.1ad (QinQ) tags; the outermost VLAN id is the one reported.
  for (let tags = 0; ethertype === 0x8100 || ethertype === 0x88a8 || ethertype === 0x9100; tags++) {
    if (end - p < 4) return countMalformed(counters, "short-vlan");
    if (tags === 0) fVlan = view.getUint16(p) & 0xfff;
    ethertype = view.getUint16(p + 2);
    p += 4;
    if (tags === 7) break;
  }
  if (ethertype === ETH_PPPOE_SESSION) {
    if (end - p < 8) return countMalformed(counters, "short-pppoe");
    ethertype = pppEthertype(view.getUint16(p + 6));
    p += 8;
  }
  fBuf = buf;
  fFrame = off;
  fTs = ts;
  if (ethertype === ETH_IPV4) decodeIpv4(ctx, buf, view, p, end, cut, out, counters);
  else if (ethertype === ETH_IPV6) decodeIpv6(ctx, buf, view, p, end, cut, out, counters);
  else if (ethertype === ETH_UNSUPPORTED_PPP) {
    countIgnored(counters, IGNORED.unsupportedPppProtocol);
  } else countIgnored(counters, IGNORED.nonIp);
}

/** The headers of a fragment at offset 0, copied for the reassembled datagram (fragment path only). */
function fragmentHeader(buf: Uint8Array, ipHeaderEnd: number): FragmentHeader {
  return {
    prefix: buf.slice(fFrame, ipHeaderEnd),
    srcMac: fSrcMac >= 0 ? fSrcMac - fFrame : -1,
    dstMac: fDstMac >= 0 ? fDstMac - fFrame : -1,
    vlan: fVlan,
    srcIp: fSrcIp - fFrame,
    dstIp: fDstIp - fFrame,
  };
}

const scratch = newCounters();

// The fragment handed to the reassembler, one object reused for every fragment.
const fragment: Fragment = {
  key: "",
  ts: 0,
  offset: 0,
  more: false,
  src: new Uint8Array(0),
  from: 0,
  to: 0,
  proto: 0,
  header: undefined,
};

/** Decodes a reassembled datagram as one packet that stands for all its fragments. */
function decodeReassembled(
  ctx: DecodeContext,
  r: Reassembled,
  ipv: 4 | 6,
  out: SniffedEvent[],
  counters: CaptureCounters,
): void {
  fBuf = r.buf;
  fFrame = 0;
  fSrcMac = r.srcMac;
  fDstMac = r.dstMac;
  fVlan = r.vlan;
  fIpv = ipv;
  fSrcIp = r.srcIp;
  fDstIp = r.dstIp;
  fWeight = r.packets;
  let proto = r.proto;
  let q = r.start;
  if (ipv === 6) {
    // Extension headers of the fragmentable part (destination options) come first.
    proto = ipv6Chain(r.buf, proto, q, r.end);
    if (proto < 0) return countMalformed(counters, "ipv6-ext-overrun", fWeight);
    q = chainEnd;
  }
  decodeTransport(ctx, r.buf, r.view, proto, q, r.end, false, out, counters);
  fWeight = 1;
}

/** Counters for a message decoder: the real ones, or scratch ones when one message stands for several packets. */
function decoderCounters(counters: CaptureCounters): CaptureCounters {
  return fWeight === 1 ? counters : scratch;
}

/** Moves what a decoder counted into `scratch` over to `counters`, malformed packets times the weight. */
function settleScratch(counters: CaptureCounters): void {
  if (fWeight === 1) return;
  for (const k in scratch.malformed) countMalformed(counters, k, scratch.malformed[k] * fWeight);
  counters.truncated = (counters.truncated ?? 0) + (scratch.truncated ?? 0);
  scratch.malformed = {};
  scratch.truncated = 0;
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
  fIpv = 4;
  fSrcIp = p + 12;
  fDstIp = p + 16;
  const frag = view.getUint16(p + 6);
  if ((frag & 0x3fff) !== 0) {
    counters.fragments = (counters.fragments ?? 0) + 1;
    const offset = (frag & 0x1fff) * 8;
    const fragments = ctx.fragments;
    if (fragments === undefined) {
      if (offset !== 0) return countIgnored(counters, IGNORED.fragmentNotReassembled);
      truncated = true; // a first fragment, decoded as far as it goes
    } else {
      // RFC 791: fragments belong together by source, destination, protocol and identification.
      const key = "4" + hexAt(buf, p + 12, 8) + hexAt(buf, p + 4, 2) + buf[p + 9];
      if (truncated) {
        // Cut by the snap length: the datagram cannot be whole; a first fragment is read as is.
        fragments.refuse(counters, key, fTs);
        if (offset !== 0) return countIgnored(counters, IGNORED.fragmentCut);
        return decodeTransport(ctx, buf, view, buf[p + 9], p + ihl, ipEnd, true, out, counters);
      }
      const f = fragment;
      f.key = key;
      f.ts = fTs;
      f.offset = offset;
      f.more = (frag & 0x2000) !== 0;
      f.src = buf;
      f.from = p + ihl;
      f.to = ipEnd;
      f.proto = buf[p + 9];
      f.header = offset === 0 ? fragmentHeader(buf, p + ihl) : undefined;
      const whole = fragments.add(counters, f);
      if (whole !== undefined) decodeReassembled(ctx, whole, 4, out, counters);
      return;
    }
  }
  decodeTransport(ctx, buf, view, buf[p + 9], p + ihl, ipEnd, truncated, out, counters);
}

// Where the extension header chain walked by `ipv6Chain` ended.
let chainEnd = 0;

/**
 * Walks IPv6 extension headers other than Fragment from `next` at `q`:
 * returns the upper-layer protocol (or 44 at a Fragment header), -1 when a
 * header overruns `end`; `chainEnd` is where it stopped.
 */
function ipv6Chain(buf: Uint8Array, next: number, q: number, end: number): number {
  for (let n = 0; n < 16; n++) {
    if (next === 0 || next === 43 || next === 60) {
      if (q + 8 > end) return -1;
      next = buf[q];
      q += (buf[q + 1] + 1) * 8;
    } else if (next === 51) {
      if (q + 8 > end) return -1;
      next = buf[q];
      q += (buf[q + 1] + 2) * 4;
    } else {
      break;
    }
  }
  if (q > end) return -1;
  chainEnd = q;
  return next;
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
  fIpv = 6;
  fSrcIp = p + 8;
  fDstIp = p + 24;
  let next = buf[p + 6];
  let q = p + 40;
  for (let n = 0; n < 2; n++) {
    next = ipv6Chain(buf, next, q, ipEnd);
    if (next < 0) return countMalformed(counters, "ipv6-ext-overrun");
    q = chainEnd;
    if (next !== 44) break;
    if (q + 8 > ipEnd) return countMalformed(counters, "ipv6-ext-overrun");
    const frag = view.getUint16(q + 2);
    const offset = frag & 0xfff8;
    const more = (frag & 1) !== 0;
    if (offset !== 0 || more) {
      counters.fragments = (counters.fragments ?? 0) + 1;
      const fragments = ctx.fragments;
      if (fragments === undefined) {
        if (offset !== 0) return countIgnored(counters, IGNORED.fragmentNotReassembled);
        truncated = true; // a first fragment, decoded as far as it goes
      } else {
        // RFC 8200 §4.5: fragments belong together by source, destination and identification.
        const key = "6" + hexAt(buf, p + 8, 32) + hexAt(buf, q + 4, 4);
        if (truncated) {
          // Cut by the snap length: the datagram cannot be whole; a first fragment is read as is.
          fragments.refuse(counters, key, fTs);
          if (offset !== 0) return countIgnored(counters, IGNORED.fragmentCut);
          next = buf[q];
          q += 8;
          break;
        }
        const f = fragment;
        f.key = key;
        f.ts = fTs;
        f.offset = offset;
        f.more = more;
        f.src = buf;
        f.from = q + 8;
        f.to = ipEnd;
        f.proto = buf[q];
        f.header = offset === 0 ? fragmentHeader(buf, p + 40) : undefined;
        const whole = fragments.add(counters, f);
        if (whole !== undefined) decodeReassembled(ctx, whole, 6, out, counters);
        return;
      }
    }
    // An atomic fragment (RFC 6946) or a first fragment without a reassembler: read on.
    next = buf[q];
    q += 8;
  }
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
  const w = fWeight;
  if (proto === 17) {
    if (ipEnd - p < 8) return countMalformed(counters, "short-udp", w);
    const sport = view.getUint16(p);
    const dport = view.getUint16(p + 2);
    let cls = ctx.ports[dport];
    if (cls === 0) cls = ctx.ports[sport];
    if (cls === 0) return countIgnored(counters, IGNORED.notDnsOrDhcp, w);
    const ulen = view.getUint16(p + 4);
    if (ulen < 8) return countMalformed(counters, "bad-udp-length", w);
    let ue = p + ulen;
    if (ue > ipEnd) {
      if (!truncated) return countMalformed(counters, "udp-length-overrun", w);
      ue = ipEnd;
    }
    fTcp = false;
    fSport = sport;
    fDport = dport;
    const start = p + 8;
    const dc = decoderCounters(counters);
    if (cls === PORT_DNS) {
      const dns = decodeDns(buf, view, start, ue, truncated, dc);
      settleScratch(counters);
      if (dns === null) return;
      counters.dns++;
      counters.decoded += w;
      out.push({ kind: "dns", meta: meta(ulen - 8), dns });
    } else {
      const dhcp = cls === PORT_DHCP4
        ? decodeDhcp4(buf, view, start, ue, truncated, dc)
        : decodeDhcp6(buf, view, start, ue, truncated, dc);
      settleScratch(counters);
      if (dhcp === null) return;
      counters.dhcp++;
      counters.decoded += w;
      out.push({ kind: "dhcp", meta: meta(ulen - 8), dhcp });
    }
    return;
  }
  if (proto === 6) {
    if (ipEnd - p < 20) return countMalformed(counters, "short-tcp", w);
    const sport = view.getUint16(p);
    const dport = view.getUint16(p + 2);
    if (ctx.ports[dport] !== PORT_DNS && ctx.ports[sport] !== PORT_DNS) {
      return countIgnored(counters, IGNORED.notDnsOrDhcp, w);
    }
    const doff = (buf[p + 12] >> 4) * 4;
    if (doff < 20 || p + doff > ipEnd) return countMalformed(counters, "bad-tcp-header", w);
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
  countIgnored(counters, IGNORED.notDnsOrDhcp, w);
}

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;

// What the last `tcpMessages` call saw: the first malformed reason ("" none) and how many.
let tcpBadReason = "";
let tcpBadCount = 0;
const tcpScratch = newCounters();

/**
 * Emits the DNS messages complete in `buf[p..end)`; returns how many bytes
 * they took, -1 on a bad prefix. Malformed messages are not counted here but
 * left in `tcpBadReason`/`tcpBadCount`, so that the segment is counted once.
 */
function tcpMessages(
  buf: Uint8Array,
  view: DataView,
  p: number,
  end: number,
  out: SniffedEvent[],
  counters: CaptureCounters,
): number {
  tcpBadReason = "";
  tcpBadCount = 0;
  let pos = p;
  while (end - pos >= 2) {
    const mlen = view.getUint16(pos);
    if (mlen < 12) {
      if (tcpBadReason === "") tcpBadReason = "dns-tcp-length";
      tcpBadCount++;
      return -1;
    }
    if (pos + 2 + mlen > end) break;
    const dns = decodeDns(buf, view, pos + 2, pos + 2 + mlen, false, tcpScratch);
    if (dns !== null) {
      counters.dns++;
      out.push({ kind: "dns", meta: meta(mlen), dns });
    } else {
      if (tcpBadReason === "") {
        for (const k in tcpScratch.malformed) tcpBadReason = k;
      }
      tcpBadCount++;
      tcpScratch.malformed = {};
    }
    pos += 2 + mlen;
  }
  return pos - p;
}

/**
 * Counts a TCP segment (standing for `w` packets, with `held` earlier
 * segments of its flow) once: decoded when it completed a message, else
 * malformed when a message in it was bad. Returns false when it did neither.
 */
function settleSegment(
  counters: CaptureCounters,
  emitted: boolean,
  w: number,
  held: number,
): boolean {
  if (emitted) {
    counters.decoded += w + held;
    if (tcpBadCount > 0) {
      counters.malformedMessages = (counters.malformedMessages ?? 0) + tcpBadCount;
    }
    return true;
  }
  if (tcpBadCount > 0) {
    countMalformed(counters, tcpBadReason, w + held);
    return true;
  }
  return false;
}

/** Forgets the flow `key`; the segments it held are ignored under `reason`. */
function dropFlow(tcp: TcpReassembler, key: string, counters: CaptureCounters, reason: string) {
  const held = tcp.drop(key);
  if (held === 0) return;
  counters.pending -= held;
  countIgnored(counters, reason, held);
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
  const w = fWeight;
  const tcp = ctx.tcp;
  const before = out.length;
  if (tcp === undefined || truncated) {
    // No stream state: decode what is whole in this segment.
    if (end === p) return countIgnored(counters, IGNORED.tcpNoPayload, w);
    const used = tcpMessages(buf, view, p, end, out, counters);
    if (used >= 0 && p + used < end) {
      if (truncated && end - (p + used) >= 14) {
        const m = p + used + 2;
        const dns = decodeDns(buf, view, m, end, true, tcpScratch);
        counters.truncated = (counters.truncated ?? 0) + (tcpScratch.truncated ?? 0);
        tcpScratch.truncated = 0;
        if (dns !== null) {
          counters.dns++;
          out.push({ kind: "dns", meta: meta(view.getUint16(m - 2)), dns });
        } else {
          if (tcpBadReason === "") { for (const k in tcpScratch.malformed) tcpBadReason = k; }
          tcpBadCount++;
          tcpScratch.malformed = {};
        }
      } else if (out.length === before) {
        counters.tcpPending = (counters.tcpPending ?? 0) + 1;
      }
    }
    if (!settleSegment(counters, out.length > before, w, 0)) {
      countIgnored(counters, IGNORED.tcpIncomplete, w);
    }
    return;
  }
  const ipText = (off: number) => fIpv === 4 ? ipv4At(buf, off) : ipv6At(buf, off);
  const key = ipText(fSrcIp) + " " + fSport + " " + ipText(fDstIp) + " " + fDport;
  if ((flags & (TCP_SYN | TCP_RST)) !== 0) {
    dropFlow(tcp, key, counters, IGNORED.tcpIncomplete);
    if ((flags & TCP_SYN) !== 0) seq = (seq + 1) >>> 0;
  }
  if (end === p || (flags & TCP_RST) !== 0) {
    if ((flags & TCP_FIN) !== 0) dropFlow(tcp, key, counters, IGNORED.tcpIncomplete);
    countIgnored(counters, IGNORED.tcpNoPayload, w);
    return;
  }
  let flow = tcp.get(key);
  if (flow !== undefined) {
    const d = (seq - flow.nextSeq) | 0;
    if (d > 0) {
      // Bytes are missing: the buffered partial message can never complete.
      const held = tcp.drop(key);
      counters.pending -= held;
      countMalformed(counters, "dns-tcp-gap", held);
      flow = undefined;
    } else if (d < 0) {
      // Retransmission overlapping what is buffered: keep only the new bytes.
      if (p - d >= end) return countIgnored(counters, IGNORED.tcpRetransmission, w);
      p -= d;
      seq = flow.nextSeq;
    }
  }
  if (flow === undefined) {
    const used = tcpMessages(buf, view, p, end, out, counters);
    const emitted = out.length > before;
    if (used >= 0 && p + used < end && (flags & TCP_FIN) === 0) {
      const f = tcp.append(key, buf, p + used, end, (seq + used) >>> 0, fTs);
      if (settleSegment(counters, emitted, w, 0)) {
        // Counted with the message it completed; the bytes after wait for the next segment.
      } else if (f === undefined) {
        countMalformed(counters, "dns-tcp-overflow", w);
      } else {
        f.segments += w;
        counters.pending += w;
        counters.tcpPending = (counters.tcpPending ?? 0) + 1;
      }
    } else if (!settleSegment(counters, emitted, w, 0)) {
      countIgnored(counters, IGNORED.tcpIncomplete, w); // FIN with a partial message
    }
  } else {
    const held = flow.segments;
    const f = tcp.append(key, buf, p, end, seq, fTs);
    if (f === undefined) {
      counters.pending -= held;
      countMalformed(counters, "dns-tcp-overflow", w + held);
    } else {
      const used = tcpMessages(f.buf, f.view, 0, f.len, out, counters);
      if (settleSegment(counters, out.length > before, w, held)) {
        counters.pending -= held;
        f.segments = 0;
      } else {
        f.segments += w;
        counters.pending += w;
        counters.tcpPending = (counters.tcpPending ?? 0) + 1;
      }
      if (used < 0 || (flags & TCP_FIN) !== 0) dropFlow(tcp, key, counters, IGNORED.tcpIncomplete);
      else tcp.consume(f, used);
    }
  }
  if ((flags & TCP_FIN) !== 0) dropFlow(tcp, key, counters, IGNORED.tcpIncomplete);
  if (tcp.evicted > 0) {
    counters.tcpFlowsEvicted = (counters.tcpFlowsEvicted ?? 0) + tcp.evicted;
    tcp.evicted = 0;
    const lost = tcp.evictedSegments;
    tcp.evictedSegments = 0;
    if (lost > 0) {
      counters.pending -= lost;
      countIgnored(counters, IGNORED.tcpFlowEvicted, lost);
    }
  }
}

/** Options of {@linkcode decodeFrame}. */
export interface DecodeFrameOptions {
  /** DNS-over-TCP reassembly state, kept by the caller across frames of one capture. */
  tcp?: TcpReassembler;
  /** IP fragment reassembly state, kept by the caller across frames of one capture; without it a first fragment is decoded as far as it goes and later ones are ignored. */
  fragments?: IpReassembler;
  /** Length of the frame on the wire when the capture cut it (snap length). @default frame.length */
  wireLength?: number;
  /** Ports carrying DNS; pass the same array on every call (a new array rebuilds a 64 KiB table). @default [53] */
  dnsPorts?: readonly number[];
}

const publicCtx: DecodeContext = { ports: DEFAULT_PORTS, tcp: undefined, fragments: undefined };
let lastPorts: readonly number[] | undefined;
let lastPortTable = DEFAULT_PORTS;
let viewBuffer: ArrayBufferLike | undefined;
let viewBytes: Uint8Array = new Uint8Array(0);
let viewData: DataView = new DataView(viewBytes.buffer);

/**
 * Decodes one link-layer frame of `linkType` (a LINKTYPE_ value: 1
 * Ethernet (with PPPoE sessions), 0/108 BSD loopback, 12/14/101/228/229 raw
 * IP, 113 Linux SLL, 276 SLL2, 9 PPP, 50 PPP in HDLC framing or Cisco HDLC,
 * 51 PPPoE, 104 Cisco HDLC, 204 PPP with direction) captured at `ts` (ms since the epoch): appends 0..n events to
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
  publicCtx.fragments = options?.fragments;
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
