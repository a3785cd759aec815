/**
 * Offline decode benchmark of the capture layer: `readCaptureFile` over a
 * 1M-packet DNS pcap (queries and answers, varied names), decode only (the
 * batches are dropped), against references measured in the same run:
 *
 * - `walk`: the same chunked file read walking the record headers only
 *   (the ceiling for any decoder reading this file this way);
 * - `dns-packet`: Ethernet/IPv4/UDP offsets plus `npm:dns-packet` decode of
 *   each message (the path the project notes measured at ~350–400k pkt/s);
 * - `tcpdump -nn -r FILE` to /dev/null, when installed (a C decoder printing
 *   every packet).
 *
 * Fragment reassembly, on the same packets: `readCaptureFile` with IP
 * reassembly turned off (`fragments: false`) against the default (on), on
 * the unfragmented file (what reassembly costs traffic that has no
 * fragments), and a second file with the same messages where every
 * `--fragment-every`th answer (default 100) carries 3600 bytes of EDNS
 * padding (RFC 7830) and is sent as three IPv4 fragments of up to 1480 bytes.
 *
 * The capture is generated into `.bench/` (gitignored) once and reused.
 *
 * Usage: deno run -A scripts/bench/capture_decode.ts [--packets 1000000] [--names 200000]
 *        [--rounds 3] [--regen] [--no-tcpdump] [--fragment-every 100]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import { Buffer } from "node:buffer";
import dnsPacket from "dns-packet";
import {
  decodeFrame,
  IpReassembler,
  newCounters,
  readCaptureFile,
  type SniffedEvent,
} from "../../lib/capture/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    packets: { type: "string", default: "1000000" },
    names: { type: "string", default: "200000" },
    rounds: { type: "string", default: "3" },
    regen: { type: "boolean", default: false },
    "no-tcpdump": { type: "boolean", default: false },
    "fragment-every": { type: "string", default: "100" },
  },
});
const PACKETS = Number(values.packets);
const NAMES = Number(values.names);
const ROUNDS = Number(values.rounds);
const root = new URL("../..", import.meta.url).pathname;
const FRAGMENT_EVERY = Number(values["fragment-every"]);
const file = `${root}.bench/capture_decode_${PACKETS}_${NAMES}.pcap`;
const fragFile = `${root}.bench/capture_decode_${PACKETS}_${NAMES}_frag${FRAGMENT_EVERY}.pcap`;

// ---- capture generation ---------------------------------------------------

/** xorshift32: the same file on every machine. */
let seed = 0x2545f491;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)];

function nameWire(name: string): Uint8Array {
  const out: number[] = [];
  for (const label of name.split(".")) {
    out.push(label.length);
    for (let i = 0; i < label.length; i++) out.push(label.charCodeAt(i));
  }
  out.push(0);
  return new Uint8Array(out);
}

/** Writes the capture to `path`; every `fragmentEvery`th answer (0: none) is large and fragmented. */
async function generate(path: string, fragmentEvery: number): Promise<void> {
  seed = 0x2545f491;
  const words = [
    "www",
    "mail",
    "api",
    "cdn",
    "static",
    "img",
    "login",
    "auth",
    "portal",
    "app",
    "m",
    "news",
    "video",
    "edge",
    "sync",
    "update",
    "telemetry",
    "ads",
    "tracker",
    "files",
    "docs",
    "shop",
  ];
  const domains = [
    "example",
    "gov",
    "policia",
    "banco",
    "noticias",
    "streaming",
    "social",
    "cloud",
    "search",
    "mapas",
    "saude",
    "escola",
    "loja",
    "jogos",
    "radio",
    "tv",
    "weather",
    "music",
    "pay",
    "chat",
  ];
  const tlds = ["com", "com.br", "gov.br", "net", "org", "br", "io", "pe.gov.br", "ma.gov.br"];
  const names: Uint8Array[] = [];
  for (let i = 0; i < NAMES; i++) {
    names.push(
      nameWire(`${pick(words)}${i % 7 === 0 ? "" : i}.${pick(domains)}${i % 13}.${pick(tlds)}`),
    );
  }
  const clients = 1000;
  const resolvers = [0x0a000001, 0x0a000002, 0x08080808, 0x01010101];
  const out = await Deno.open(path, { write: true, create: true, truncate: true });
  const buf = new Uint8Array(8 * 1024 * 1024);
  const datagram = new Uint8Array(65536);
  const headers = new Uint8Array(34);
  const v = new DataView(buf.buffer);
  let p = 0;
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 262144, true);
  v.setUint32(20, 1, true);
  p = 24;
  let ts = 1_718_000_000_000_000; // µs
  for (let i = 0; i < PACKETS; i += 2) {
    if (p > buf.length - 16384) {
      await out.write(buf.subarray(0, p));
      p = 0;
    }
    const name = names[Math.floor(rand() * NAMES)];
    const client = Math.floor(rand() * clients);
    const resolver = resolvers[client % resolvers.length];
    const sport = 1024 + Math.floor(rand() * 60000);
    const id = Math.floor(rand() * 65536);
    const qtype = rand() < 0.7 ? 1 : 28;
    const answers = qtype === 1 ? 1 + Math.floor(rand() * 3) : 1;
    const cname = rand() < 0.2;
    for (let dir = 0; dir < 2 && i + dir < PACKETS; dir++) {
      const big = dir === 1 && fragmentEvery > 0 && (i / 2) % fragmentEvery === 0;
      const rec = p;
      p += 16;
      const frame = p;
      // Ethernet
      buf.set([0x52, 0x54, 0, (client >> 8) & 0xff, client & 0xff, 1], frame + (dir ? 0 : 6));
      buf.set([0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc], frame + (dir ? 6 : 0));
      v.setUint16(frame + 12, 0x0800);
      const ipOff = frame + 14;
      const udpOff = ipOff + 20;
      const dns = udpOff + 8;
      let d = dns;
      v.setUint16(d, id);
      v.setUint16(d + 2, dir ? 0x8180 : 0x0100);
      v.setUint16(d + 4, 1);
      v.setUint16(d + 6, dir ? answers + (cname ? 1 : 0) : 0);
      v.setUint16(d + 8, 0);
      v.setUint16(d + 10, 1);
      d += 12;
      buf.set(name, d);
      d += name.length;
      v.setUint16(d, qtype);
      v.setUint16(d + 2, 1);
      d += 4;
      if (dir) {
        let owner = 12;
        if (cname) {
          v.setUint16(d, 0xc000 | 12);
          v.setUint16(d + 2, 5);
          v.setUint16(d + 4, 1);
          v.setUint32(d + 6, 300);
          v.setUint16(d + 10, 6);
          // "cdn." + the question name minus its first label
          buf.set([3, 0x63, 0x64, 0x6e, 0xc0, 12 + name[0] + 1], d + 12);
          owner = d + 12 - dns;
          d += 18;
        }
        for (let a = 0; a < answers; a++) {
          v.setUint16(d, 0xc000 | owner);
          v.setUint16(d + 2, qtype);
          v.setUint16(d + 4, 1);
          v.setUint32(d + 6, 60 + a);
          const len = qtype === 1 ? 4 : 16;
          v.setUint16(d + 10, len);
          for (let k = 0; k < len; k++) buf[d + 12 + k] = Math.floor(rand() * 256);
          d += 12 + len;
        }
      }
      // OPT; a fragmented answer carries EDNS padding (RFC 7830) that makes it 3 fragments long
      buf.set([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0], d);
      if (big) {
        v.setUint16(d + 9, 4 + 3600);
        v.setUint16(d + 11, 12);
        v.setUint16(d + 13, 3600);
        buf.fill(0, d + 15, d + 15 + 3600);
        d += 4 + 3600;
      }
      d += 11;
      const dnsLen = d - dns;
      // IPv4 (checksum left 0: decoders here do not check it)
      v.setUint16(ipOff, 0x4500);
      v.setUint16(ipOff + 2, 20 + 8 + dnsLen);
      v.setUint32(ipOff + 4, 0);
      v.setUint16(ipOff + 8, 0x4011);
      v.setUint16(ipOff + 10, 0);
      const cip = 0xc0a80000 | (client & 0xffff);
      v.setUint32(ipOff + 12, dir ? resolver : cip);
      v.setUint32(ipOff + 16, dir ? cip : resolver);
      v.setUint16(udpOff, dir ? 53 : sport);
      v.setUint16(udpOff + 2, dir ? sport : 53);
      v.setUint16(udpOff + 4, 8 + dnsLen);
      v.setUint16(udpOff + 6, 0);
      ts += dir ? 800 + Math.floor(rand() * 20000) : Math.floor(rand() * 200);
      if (big) {
        // Rewrite the datagram as IPv4 fragments of 1480 payload bytes each.
        const udpLen = d - udpOff;
        datagram.set(buf.subarray(udpOff, d));
        headers.set(buf.subarray(frame, udpOff));
        p = rec;
        for (let off = 0; off < udpLen; off += 1480) {
          const n = Math.min(1480, udpLen - off);
          const f = p + 16;
          buf.set(headers, f);
          v.setUint16(f + 14 + 2, 20 + n);
          v.setUint16(f + 14 + 4, id);
          v.setUint16(f + 14 + 6, (off + n < udpLen ? 0x2000 : 0) | (off / 8));
          buf.set(datagram.subarray(off, off + n), f + 34);
          const fts = ts + off / 1480;
          v.setUint32(p, Math.floor(fts / 1e6), true);
          v.setUint32(p + 4, fts % 1e6, true);
          v.setUint32(p + 8, 34 + n, true);
          v.setUint32(p + 12, 34 + n, true);
          p = f + 34 + n;
        }
        continue;
      }
      const caplen = d - frame;
      v.setUint32(rec, Math.floor(ts / 1e6), true);
      v.setUint32(rec + 4, ts % 1e6, true);
      v.setUint32(rec + 8, caplen, true);
      v.setUint32(rec + 12, caplen, true);
      p = d;
    }
  }
  await out.write(buf.subarray(0, p));
  out.close();
}

// ---- measured paths ---------------------------------------------------------

/** Decodes `path` (reassembly on or off); every message must come out whole. Returns the packets. */
async function vigiaOn(path: string, reassembly: boolean): Promise<number> {
  let events = 0;
  let records = 0;
  const c = await readCaptureFile(path, {
    fragments: reassembly ? undefined : false,
    onBatch(batch) {
      events += batch.length;
      for (const e of batch) if (e.kind === "dns") records += e.dns.answers.length;
    },
  });
  const fragmented = path === fragFile;
  if (events !== PACKETS || (!fragmented && c.packets !== PACKETS)) {
    throw new Error(`decoded ${events} of ${c.packets} packets: ${JSON.stringify(c.malformed)}`);
  }
  if (fragmented && reassembly && (c.reassembled ?? 0) !== bigAnswers) {
    throw new Error(`reassembled ${c.reassembled} of ${bigAnswers} fragmented answers`);
  }
  if (records === 0) throw new Error("no answer records decoded");
  return events;
}

const bigAnswers = FRAGMENT_EVERY > 0 ? Math.ceil(PACKETS / 2 / FRAGMENT_EVERY) : 0;
const vigia = () => vigiaOn(file, true);

/** Reads the file in 4 MiB chunks and hands each record to `each`. */
async function walk(each: (buf: Uint8Array, off: number, caplen: number) => void): Promise<number> {
  const f = await Deno.open(file);
  let buf = new Uint8Array(4 * 1024 * 1024);
  let v = new DataView(buf.buffer);
  let start = 24;
  let end = 0;
  let n = 0;
  for (;;) {
    const got = await f.read(buf.subarray(end));
    if (got === null) break;
    end += got;
    while (end - start >= 16) {
      const caplen = v.getUint32(start + 8, true);
      if (end - start < 16 + caplen) break;
      each(buf, start + 16, caplen);
      n++;
      start += 16 + caplen;
    }
    buf.copyWithin(0, start, end);
    end -= start;
    start = 0;
    if (end === buf.length) {
      const grown = new Uint8Array(buf.length * 2);
      grown.set(buf);
      buf = grown;
      v = new DataView(buf.buffer);
    }
  }
  f.close();
  return n;
}

function headersOnly(): Promise<number> {
  return walk(() => {});
}

async function dnsPacketPath(): Promise<number> {
  let ok = 0;
  let sink = 0;
  const n = await walk((buf, off, caplen) => {
    const ihl = (buf[off + 14] & 15) * 4;
    const udp = off + 14 + ihl;
    const dns = udp + 8;
    const msg = dnsPacket.decode(Buffer.from(buf.buffer, buf.byteOffset + dns, off + caplen - dns));
    sink += msg.questions?.[0]?.name.length ?? 0;
    // The fields an event needs, as the prototype built them.
    const mac = Array.from(buf.subarray(off + 6, off + 12), (b) => b.toString(16).padStart(2, "0"))
      .join(":");
    const src = `${buf[off + 26]}.${buf[off + 27]}.${buf[off + 28]}.${buf[off + 29]}`;
    sink += mac.length + src.length;
    ok++;
  });
  if (ok !== n || sink === 0) throw new Error("dns-packet path failed");
  return n;
}

async function tcpdumpPath(): Promise<number> {
  const out = await new Deno.Command("tcpdump", {
    args: ["-nn", "-r", file],
    stdout: "null",
    stderr: "null",
  })
    .output();
  if (!out.success) throw new Error("tcpdump failed");
  return PACKETS;
}

async function time(label: string, fn: () => Promise<number>): Promise<number> {
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const n = await fn();
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  const best = rates[rates.length - 1];
  const median = rates[Math.floor(rates.length / 2)];
  console.log(
    `${label.padEnd(22)} best ${
      Math.round(best).toLocaleString("en").padStart(11)
    } pkt/s   median ${Math.round(median).toLocaleString("en").padStart(11)} pkt/s`,
  );
  return median;
}

// ---- main ---------------------------------------------------------------------

await Deno.mkdir(`${root}.bench`, { recursive: true });
for (const [path, every] of [[file, 0], [fragFile, FRAGMENT_EVERY]] as const) {
  let there = false;
  try {
    there = (await Deno.stat(path)).size > 0;
  } catch { /* generated below */ }
  if (!there || values.regen) {
    const t0 = performance.now();
    await generate(path, every);
    console.log(`generated ${path} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}
const size = (await Deno.stat(file)).size;
console.log(
  `file: ${PACKETS.toLocaleString("en")} packets (DNS queries + answers, ${
    NAMES.toLocaleString("en")
  } names), ${(size / 1e6).toFixed(0)} MB; ${ROUNDS} rounds each, median and best`,
);
await vigia(); // warm the page cache and the JIT
const walkRate = await time("walk (headers only)", headersOnly);
const vigiaRate = await time("vigia readCaptureFile", vigia);
const dnsPacketRate = await time("dns-packet decode", dnsPacketPath);
let tcpdumpRate = 0;
if (!values["no-tcpdump"]) {
  try {
    tcpdumpRate = await time("tcpdump -nn -r", tcpdumpPath);
  } catch {
    console.log("tcpdump: not run (not installed?)");
  }
}
console.log(
  `ratios (median): vigia/dns-packet ${(vigiaRate / dnsPacketRate).toFixed(2)}x, vigia/walk ${
    (vigiaRate / walkRate).toFixed(2)
  }${tcpdumpRate ? `, vigia/tcpdump ${(vigiaRate / tcpdumpRate).toFixed(2)}x` : ""}`,
);

// Reassembly on and off, rounds interleaved so that machine noise hits both alike.
const variants: [string, () => Promise<number>][] = [
  ["unfragmented, reassembly off", () => vigiaOn(file, false)],
  ["unfragmented, reassembly on", () => vigiaOn(file, true)],
  ["unfragmented, reassembly off again", () => vigiaOn(file, false)],
  [`1 in ${FRAGMENT_EVERY} answers fragmented, on`, () => vigiaOn(fragFile, true)],
];
const rates: number[][] = variants.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  // Each round starts with another variant, so that none always runs first or last.
  for (let k = 0; k < variants.length; k++) {
    const i = (r + k) % variants.length;
    const t0 = performance.now();
    const n = await variants[i][1]();
    rates[i].push(n / ((performance.now() - t0) / 1000));
  }
}
const medians = rates.map((list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]);
console.log(`reassembly (messages/s, ${ROUNDS} interleaved rounds in rotating order, median):`);
variants.forEach(([label], i) =>
  console.log(
    `  ${label.padEnd(36)} ${Math.round(medians[i]).toLocaleString("en").padStart(11)} msg/s  ${
      (medians[i] / medians[0]).toFixed(3)
    }x of off`,
  )
);

// Decode only, from memory, reassembly off and on in ABBA quartets.
const bytes = await Deno.readFile(file);
const dv = new DataView(bytes.buffer);
const frames: Uint8Array[] = [];
for (let p = 24; p + 16 <= bytes.length;) {
  const caplen = dv.getUint32(p + 8, true);
  frames.push(bytes.subarray(p + 16, p + 16 + caplen));
  p += 16 + caplen;
}
const sink: SniffedEvent[] = [];
function decodeAll(reassembly: boolean): number {
  const counters = newCounters();
  const options = reassembly ? { fragments: new IpReassembler() } : {};
  // CPU time of this process, not wall time: being descheduled on a shared machine does not count.
  const c0 = cpuUsage();
  for (let i = 0; i < frames.length; i++) {
    decodeFrame(1, frames[i], 1_718_000_000_000 + i, sink, counters, options);
    if (sink.length >= 4096) sink.length = 0;
  }
  const c = cpuUsage(c0);
  const ms = (c.user + c.system) / 1000;
  if (counters.dns !== frames.length) {
    throw new Error(`decoded ${counters.dns} of ${frames.length}`);
  }
  return ms;
}
decodeAll(false);
decodeAll(true);
const quartets = Math.max(ROUNDS * 2, 10);
const ratios: number[] = [];
let offMs = 0;
let onMs = 0;
for (let q = 0; q < quartets; q++) {
  const a1 = decodeAll(false);
  const b1 = decodeAll(true);
  const b2 = decodeAll(true);
  const a2 = decodeAll(false);
  ratios.push((b1 + b2) / (a1 + a2));
  offMs += a1 + a2;
  onMs += b1 + b2;
}
ratios.sort((a, b) => a - b);
const median = ratios[Math.floor(ratios.length / 2)];
console.log(
  `decode only, in memory, ${
    frames.length.toLocaleString("en")
  } unfragmented frames, ${quartets} ABBA quartets:`,
);
console.log(
  `  reassembly off ${
    Math.round(frames.length * 2 * quartets / (offMs / 1000)).toLocaleString("en")
  } pkt/s, on ${
    Math.round(frames.length * 2 * quartets / (onMs / 1000)).toLocaleString("en")
  } pkt/s of CPU; CPU time on/off per quartet: median ${median.toFixed(3)}, range ${
    ratios[0].toFixed(3)
  }..${ratios[ratios.length - 1].toFixed(3)}`,
);
