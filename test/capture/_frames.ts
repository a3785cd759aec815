/**
 * Builders of real frames (Ethernet/VLAN, SLL, SLL2, BSD loopback, raw IP;
 * IPv4/IPv6 with correct checksums; UDP/TCP; DNS, DHCPv4, DHCPv6) and
 * writers of pcap and pcapng files, so the capture tests and the benchmark
 * need no captured data.
 *
 * @module
 */

import { parseIp } from "../../lib/net/mod.ts";

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Big-endian u16. */
export function u16(n: number): Uint8Array {
  return new Uint8Array([(n >> 8) & 0xff, n & 0xff]);
}

/** Big-endian u32. */
export function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** Bytes of an IP address (v4 or v6) in text. */
export function ip(text: string): Uint8Array {
  const b = parseIp(text);
  if (!b) throw new Error(`bad IP ${text}`);
  return b;
}

/** Bytes of a MAC in text. */
export function mac(text: string): Uint8Array {
  return new Uint8Array(text.split(":").map((h) => parseInt(h, 16)));
}

/** Bytes of ASCII text. */
export function ascii(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    // Each part here has even length except possibly the last.
    for (let i = 0; i + 1 < p.length; i += 2) sum += (p[i] << 8) | p[i + 1];
    if (p.length % 2) sum += p[p.length - 1] << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// ---- DNS ---------------------------------------------------------------

/** Uncompressed wire form of a name ("" or "." is the root). */
export function dnsName(name: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const label of name.replace(/\.$/, "").split(".")) {
    if (label === "") continue;
    const b = ascii(label);
    parts.push(new Uint8Array([b.length]), b);
  }
  parts.push(new Uint8Array([0]));
  return concat(...parts);
}

/** A resource record for {@linkcode dnsMessage}. */
export interface Rr {
  name?: string; // default: pointer to the question name
  type: number;
  ttl?: number;
  data: Uint8Array;
}

/** Options of {@linkcode dnsMessage}. */
export interface DnsMessageOptions {
  id: number;
  response?: boolean;
  opcode?: number;
  rcode?: number;
  aa?: boolean;
  tc?: boolean;
  rd?: boolean;
  ra?: boolean;
  qname: string;
  qtype: number;
  answers?: Rr[];
  authority?: Rr[];
  additional?: Rr[];
}

function rr(r: Rr): Uint8Array {
  const owner = r.name === undefined ? new Uint8Array([0xc0, 12]) : dnsName(r.name);
  return concat(owner, u16(r.type), u16(1), u32(r.ttl ?? 300), u16(r.data.length), r.data);
}

/** A DNS message with one question. */
export function dnsMessage(o: DnsMessageOptions): Uint8Array {
  const flags = (o.response ? 0x8000 : 0) | ((o.opcode ?? 0) << 11) | (o.aa ? 0x400 : 0) |
    (o.tc ? 0x200 : 0) | ((o.rd ?? true) ? 0x100 : 0) | (o.ra ? 0x80 : 0) | ((o.rcode ?? 0) & 15);
  const an = o.answers ?? [];
  const ns = o.authority ?? [];
  const ar = o.additional ?? [];
  return concat(
    u16(o.id),
    u16(flags),
    u16(1),
    u16(an.length),
    u16(ns.length),
    u16(ar.length),
    dnsName(o.qname),
    u16(o.qtype),
    u16(1),
    ...an.map(rr),
    ...ns.map(rr),
    ...ar.map(rr),
  );
}

/** An EDNS OPT record carrying the upper bits of an extended rcode. */
export function optRr(extRcode = 0): Rr {
  return { name: "", type: 41, ttl: (extRcode << 24) >>> 0, data: new Uint8Array(0) };
}

// ---- DHCP --------------------------------------------------------------

/** Options of {@linkcode dhcp4}. */
export interface Dhcp4Options {
  op: 1 | 2;
  xid: number;
  chaddr: string;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  giaddr?: string;
  /** [code, value] pairs; omitted → plain BOOTP (no magic cookie). */
  options?: [number, Uint8Array][];
}

/** A DHCPv4/BOOTP message. */
export function dhcp4(o: Dhcp4Options): Uint8Array {
  const fixed = new Uint8Array(236);
  fixed[0] = o.op;
  fixed[1] = 1;
  fixed[2] = 6;
  fixed.set(u32(o.xid), 4);
  fixed.set(ip(o.ciaddr ?? "0.0.0.0"), 12);
  fixed.set(ip(o.yiaddr ?? "0.0.0.0"), 16);
  fixed.set(ip(o.siaddr ?? "0.0.0.0"), 20);
  fixed.set(ip(o.giaddr ?? "0.0.0.0"), 24);
  fixed.set(mac(o.chaddr), 28);
  if (!o.options) return concat(fixed, new Uint8Array(64)); // BOOTP vendor area
  const opts = o.options.map(([code, v]) => concat(new Uint8Array([code, v.length]), v));
  return concat(fixed, u32(0x63825363), ...opts, new Uint8Array([255]));
}

/** A DHCPv6 option. */
export function dhcp6Option(code: number, value: Uint8Array): Uint8Array {
  return concat(u16(code), u16(value.length), value);
}

/** A DHCPv6 client/server message. */
export function dhcp6(type: number, xid: number, options: Uint8Array[]): Uint8Array {
  return concat(
    new Uint8Array([type, (xid >> 16) & 0xff, (xid >> 8) & 0xff, xid & 0xff]),
    ...options,
  );
}

/** A DHCPv6 Relay-Forward (12) or Relay-Reply (13) around `inner`. */
export function dhcp6Relay(
  type: 12 | 13,
  link: string,
  peer: string,
  inner: Uint8Array,
): Uint8Array {
  return concat(new Uint8Array([type, 0]), ip(link), ip(peer), dhcp6Option(9, inner));
}

// ---- transport and IP --------------------------------------------------

/** An IP packet description for {@linkcode udp}/{@linkcode tcp}. */
export interface IpAddrs {
  src: string;
  dst: string;
}

function pseudo(a: IpAddrs, proto: number, len: number): Uint8Array {
  const s = ip(a.src);
  const d = ip(a.dst);
  return s.length === 4
    ? concat(s, d, new Uint8Array([0, proto]), u16(len))
    : concat(s, d, u32(len), new Uint8Array([0, 0, 0, proto]));
}

/** A UDP datagram with its checksum. */
export function udp(a: IpAddrs, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const h = concat(u16(sport), u16(dport), u16(8 + payload.length), u16(0));
  const sum = checksum(pseudo(a, 17, 8 + payload.length), h, payload) || 0xffff;
  h.set(u16(sum), 6);
  return concat(h, payload);
}

/** TCP flag bits. */
export const FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16;

/** A TCP segment with its checksum. */
export function tcp(
  a: IpAddrs,
  sport: number,
  dport: number,
  seq: number,
  flags: number,
  payload: Uint8Array,
): Uint8Array {
  const h = concat(
    u16(sport),
    u16(dport),
    u32(seq),
    u32(flags & ACK ? 1 : 0),
    new Uint8Array([5 << 4, flags]),
    u16(65535),
    u16(0),
    u16(0),
  );
  h.set(u16(checksum(pseudo(a, 6, h.length + payload.length), h, payload)), 16);
  return concat(h, payload);
}

/** Options of {@linkcode ipv4}. */
export interface Ipv4Options {
  id?: number;
  /** More-fragments flag. */
  mf?: boolean;
  /** Fragment offset in 8-byte units. */
  fragOffset?: number;
  /** Raw option bytes (multiple of 4). */
  options?: Uint8Array;
  /** Overrides the total length field. */
  totalLength?: number;
}

/** An IPv4 packet with header checksum. */
export function ipv4(
  a: IpAddrs,
  proto: number,
  payload: Uint8Array,
  o: Ipv4Options = {},
): Uint8Array {
  const opts = o.options ?? new Uint8Array(0);
  const ihl = 20 + opts.length;
  const h = concat(
    new Uint8Array([0x40 | (ihl / 4), 0]),
    u16(o.totalLength ?? ihl + payload.length),
    u16(o.id ?? 1),
    u16((o.mf ? 0x2000 : 0) | (o.fragOffset ?? 0)),
    new Uint8Array([64, proto]),
    u16(0),
    ip(a.src),
    ip(a.dst),
    opts,
  );
  h.set(u16(checksum(h)), 10);
  return concat(h, payload);
}

/** An IPv6 packet; `ext` are extension headers as [type, body] where body excludes next/len bytes. */
export function ipv6(
  a: IpAddrs,
  proto: number,
  payload: Uint8Array,
  ext: [number, Uint8Array][] = [],
): Uint8Array {
  const chain: Uint8Array[] = [];
  let first = proto;
  for (let i = ext.length - 1; i >= 0; i--) {
    const [type, body] = ext[i];
    const total = 2 + body.length;
    if (total % 8 !== 0) throw new Error("extension header length must be a multiple of 8");
    chain.unshift(concat(new Uint8Array([first, total / 8 - 1]), body));
    first = type;
  }
  const rest = concat(...chain, payload);
  return concat(
    new Uint8Array([0x60, 0, 0, 0]),
    u16(rest.length),
    new Uint8Array([first, 64]),
    ip(a.src),
    ip(a.dst),
    rest,
  );
}

/** UDP in IPv4 or IPv6 (by address family). */
export function udpIp(a: IpAddrs, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const seg = udp(a, sport, dport, payload);
  return a.src.includes(":") ? ipv6(a, 17, seg) : ipv4(a, 17, seg);
}

/** TCP in IPv4 or IPv6. */
export function tcpIp(
  a: IpAddrs,
  sport: number,
  dport: number,
  seq: number,
  flags: number,
  payload: Uint8Array,
): Uint8Array {
  const seg = tcp(a, sport, dport, seq, flags, payload);
  return a.src.includes(":") ? ipv6(a, 6, seg) : ipv4(a, 6, seg);
}

// ---- link layers -------------------------------------------------------

/** An Ethernet frame; `vlans` are 802.1Q tags, outermost first (QinQ uses 0x88a8 for the outer). */
export function ethernet(
  src: string,
  dst: string,
  packet: Uint8Array,
  vlans: number[] = [],
): Uint8Array {
  const type = (packet[0] >> 4) === 6 ? 0x86dd : 0x0800;
  const tags = vlans.map((v, i) =>
    concat(u16(i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100), u16(v))
  );
  const parts: Uint8Array[] = [mac(dst), mac(src)];
  for (const t of tags) parts.push(t);
  parts.push(u16(type), packet);
  return concat(...parts);
}

/** A Linux cooked (SLL, LINKTYPE 113) frame. */
export function sll(src: string, packet: Uint8Array, pkttype = 0): Uint8Array {
  const addr = new Uint8Array(8);
  addr.set(mac(src));
  const type = (packet[0] >> 4) === 6 ? 0x86dd : 0x0800;
  return concat(u16(pkttype), u16(1), u16(6), addr, u16(type), packet);
}

/** A Linux cooked v2 (SLL2, LINKTYPE 276) frame. */
export function sll2(src: string, packet: Uint8Array, ifindex = 2, pkttype = 0): Uint8Array {
  const addr = new Uint8Array(8);
  addr.set(mac(src));
  const type = (packet[0] >> 4) === 6 ? 0x86dd : 0x0800;
  return concat(
    u16(type),
    u16(0),
    u32(ifindex),
    u16(1),
    new Uint8Array([pkttype, 6]),
    addr,
    packet,
  );
}

/** A BSD loopback (LINKTYPE_NULL, host byte order = little endian here) frame. */
export function nullLoop(packet: Uint8Array): Uint8Array {
  const family = (packet[0] >> 4) === 6 ? 30 : 2;
  return concat(new Uint8Array([family, 0, 0, 0]), packet);
}

// ---- capture files -----------------------------------------------------

/** One record of a capture file. */
export interface Record {
  /** ms since the epoch (fractional). */
  ts: number;
  data: Uint8Array;
  /** On-the-wire length when larger than `data` (snap length). */
  wirelen?: number;
  /** pcapng interface index. */
  iface?: number;
}

/** Options of {@linkcode pcapBytes}. */
export interface PcapOptions {
  bigEndian?: boolean;
  nano?: boolean;
  snaplen?: number;
}

/** A classic pcap file. */
export function pcapBytes(linkType: number, records: Record[], o: PcapOptions = {}): Uint8Array {
  const le = !o.bigEndian;
  let size = 24;
  for (const r of records) size += 16 + r.data.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, o.nano ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, o.snaplen ?? 262144, le);
  v.setUint32(20, linkType, le);
  let p = 24;
  for (const r of records) {
    const sec = Math.floor(r.ts / 1000);
    const frac = o.nano
      ? Math.round((r.ts - sec * 1000) * 1e6)
      : Math.round((r.ts - sec * 1000) * 1e3);
    v.setUint32(p, sec, le);
    v.setUint32(p + 4, frac, le);
    v.setUint32(p + 8, r.data.length, le);
    v.setUint32(p + 12, r.wirelen ?? r.data.length, le);
    out.set(r.data, p + 16);
    p += 16 + r.data.length;
  }
  return out;
}

/** A pcapng interface. */
export interface NgIface {
  linkType: number;
  /** if_tsresol byte (6 = µs, 9 = ns, 0x80|n = 2^-n); omitted → default µs. */
  tsresol?: number;
  snaplen?: number;
}

/** Options of {@linkcode pcapngBytes}. */
export interface PcapngOptions {
  bigEndian?: boolean;
  /** Write Simple Packet Blocks (interface 0, no timestamp) instead of EPBs. */
  simple?: boolean;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** A pcapng file with one section. */
export function pcapngBytes(
  ifaces: NgIface[],
  records: Record[],
  o: PcapngOptions = {},
): Uint8Array {
  const le = !o.bigEndian;
  const blocks: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array) => {
    const len = 12 + pad4(body.length);
    const b = new Uint8Array(len);
    const v = new DataView(b.buffer);
    v.setUint32(0, type, le);
    v.setUint32(4, len, le);
    b.set(body, 8);
    v.setUint32(len - 4, len, le);
    blocks.push(b);
  };
  const shb = new Uint8Array(16);
  const sv = new DataView(shb.buffer);
  sv.setUint32(0, 0x1a2b3c4d, le);
  sv.setUint16(4, 1, le);
  sv.setUint16(6, 0, le);
  sv.setBigInt64(8, -1n, le);
  block(0x0a0d0d0a, shb);
  for (const i of ifaces) {
    const body = new Uint8Array(8 + (i.tsresol !== undefined ? 8 : 0) + 4);
    const bv = new DataView(body.buffer);
    bv.setUint16(0, i.linkType, le);
    bv.setUint32(4, i.snaplen ?? 0, le);
    let p = 8;
    if (i.tsresol !== undefined) {
      bv.setUint16(p, 9, le);
      bv.setUint16(p + 2, 1, le);
      body[p + 4] = i.tsresol;
      p += 8;
    }
    bv.setUint16(p, 0, le); // opt_endofopt
    block(1, body);
  }
  for (const r of records) {
    if (o.simple) {
      const body = new Uint8Array(4 + pad4(r.data.length));
      new DataView(body.buffer).setUint32(0, r.wirelen ?? r.data.length, le);
      body.set(r.data, 4);
      block(3, body);
      continue;
    }
    const iface = ifaces[r.iface ?? 0];
    const res = iface.tsresol ?? 6;
    // Times are whole microseconds; convert exactly to the interface's units.
    const us = BigInt(Math.round(r.ts * 1000));
    const units = res & 0x80
      ? (us * (1n << BigInt(res & 0x7f)) + 500000n) / 1000000n
      : res >= 6
      ? us * 10n ** BigInt(res - 6)
      : us / 10n ** BigInt(6 - res);
    const body = new Uint8Array(20 + pad4(r.data.length));
    const bv = new DataView(body.buffer);
    bv.setUint32(0, r.iface ?? 0, le);
    bv.setUint32(4, Number(units >> 32n), le);
    bv.setUint32(8, Number(units & 0xffffffffn), le);
    bv.setUint32(12, r.data.length, le);
    bv.setUint32(16, r.wirelen ?? r.data.length, le);
    body.set(r.data, 20);
    block(6, body);
  }
  return concat(...blocks);
}
