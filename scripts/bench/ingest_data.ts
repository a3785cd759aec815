/**
 * Synthetic DNS traffic for the sniffer benchmarks: a LAN of `clients`
 * stations (real makers' OUIs and some randomised MACs) asking two
 * resolvers, each query followed by its answer, spread evenly over
 * `spanMs`. Written straight into a classic pcap file (Ethernet), from
 * per-packet templates patched in place, so a million packets take a few
 * seconds.
 *
 * @module
 */

/** Options of {@linkcode writeDnsCapture}. */
export interface DnsCaptureOptions {
  /** Packets (queries + answers). */
  packets: number;
  /** Client stations. @default 500 */
  clients?: number;
  /** Distinct query names. @default 10000 */
  names?: number;
  /** Time of the first packet, ms. @default 2026-11-21T08:00:00Z */
  start?: number;
  /** Time covered, ms. @default 2 h */
  spanMs?: number;
}

const OUIS = [0x3c22fb, 0xf0d1a9, 0x00163e, 0x001b63, 0x8c8590, 0x5c5f67, 0xb827eb, 0x001a11];

/** A deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Client `i`: MAC bytes and IPv4 10.1.x.y. */
export function client(i: number): { mac: number[]; ip: number[] } {
  const oui = i % 10 === 9 ? 0xdaa119 : OUIS[i % OUIS.length];
  return {
    mac: [oui >> 16, (oui >> 8) & 255, oui & 255, 0x10, (i >> 8) & 255, i & 255],
    ip: [10, 1, (i >> 8) & 255, (i & 255) || 1],
  };
}

function checksum16(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[off + i] << 8) | b[off + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function name(wire: number[], text: string): void {
  for (const label of text.split(".")) {
    wire.push(label.length);
    for (let i = 0; i < label.length; i++) wire.push(label.charCodeAt(i));
  }
  wire.push(0);
}

/** Writes the capture to `path`; returns the packets written. */
export async function writeDnsCapture(path: string, o: DnsCaptureOptions): Promise<number> {
  const {
    packets,
    clients = 500,
    names = 10000,
    start = Date.parse("2026-11-21T08:00:00Z"),
    spanMs = 7_200_000,
  } = o;
  const rnd = prng(42);
  const qnames = Array.from(
    { length: names },
    (_, i) => `host${i}.${["example.com", "example.net", "corp.lan", "cdn.example.org"][i % 4]}`,
  );
  const servers = [[10, 1, 0, 53], [10, 1, 0, 54]];
  const serverMac = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const buf = new Uint8Array(8 << 20);
  const view = new DataView(buf.buffer);
  let p = 0;
  const flushIfFull = async (need: number) => {
    if (p + need <= buf.length) return;
    let off = 0;
    while (off < p) off += await file.write(buf.subarray(off, p));
    p = 0;
  };
  // pcap global header, little endian, µs, Ethernet.
  view.setUint32(0, 0xa1b2c3d4, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, 65535, true);
  view.setUint32(20, 1, true);
  p = 24;
  const step = spanMs / packets;
  let written = 0;
  for (let i = 0; i + 1 < packets + 1 && written < packets; i += 2) {
    const c = client(Math.floor(rnd() * clients));
    const server = servers[rnd() < 0.8 ? 0 : 1];
    const qname = qnames[Math.floor(rnd() ** 2 * names)];
    const qtype = rnd() < 0.7 ? 1 : 28;
    const id = Math.floor(rnd() * 65536);
    const port = 1024 + Math.floor(rnd() * 64000);
    const question: number[] = [];
    name(question, qname);
    question.push(0, qtype, 0, 1);
    for (const response of [false, true]) {
      if (written >= packets) break;
      const dns: number[] = [
        id >> 8,
        id & 255,
        response ? 0x81 : 0x01,
        response ? 0x80 : 0x00,
        0,
        1,
        0,
        response ? 1 : 0,
        0,
        0,
        0,
        0,
        ...question,
      ];
      if (response) {
        dns.push(0xc0, 12, 0, qtype, 0, 1, 0, 0, 0x0e, 0x10);
        if (qtype === 1) dns.push(0, 4, 93, 184, (id >> 8) & 255, id & 255);
        else {dns.push(
            0,
            16,
            0x20,
            0x01,
            0x0d,
            0xb8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            id >> 8,
            id & 255,
          );}
      }
      const ipLen = 20 + 8 + dns.length;
      const frameLen = 14 + ipLen;
      await flushIfFull(16 + frameLen);
      const ts = start + written * step;
      const sec = Math.floor(ts / 1000);
      view.setUint32(p, sec, true);
      view.setUint32(p + 4, Math.round((ts - sec * 1000) * 1000) % 1_000_000, true);
      view.setUint32(p + 8, frameLen, true);
      view.setUint32(p + 12, frameLen, true);
      const f = p + 16;
      const [smac, dmac] = response ? [serverMac, c.mac] : [c.mac, serverMac];
      buf.set(dmac, f);
      buf.set(smac, f + 6);
      buf[f + 12] = 0x08;
      buf[f + 13] = 0x00;
      const ipo = f + 14;
      buf.set([0x45, 0, ipLen >> 8, ipLen & 255, 0, 1, 0, 0, 64, 17, 0, 0], ipo);
      buf.set(response ? server : c.ip, ipo + 12);
      buf.set(response ? c.ip : server, ipo + 16);
      view.setUint16(ipo + 10, checksum16(buf, ipo, 20));
      const u = ipo + 20;
      view.setUint16(u, response ? 53 : port);
      view.setUint16(u + 2, response ? port : 53);
      view.setUint16(u + 4, 8 + dns.length);
      view.setUint16(u + 6, 0); // UDP checksum 0: "not computed", valid for IPv4
      buf.set(dns, u + 8);
      p = f + frameLen;
      written++;
    }
  }
  let off = 0;
  while (off < p) off += await file.write(buf.subarray(off, p));
  file.close();
  return written;
}
