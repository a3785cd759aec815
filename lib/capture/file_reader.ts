/**
 * Offline reading of pcap and pcapng files, in large chunks (no syscall per
 * packet), decoding every frame with the same code as the live capture.
 *
 * @module
 */

import { countMalformed, newCounters } from "./counters.ts";
import { CaptureError } from "./errors.ts";
import {
  decodeAt,
  type DecodeContext,
  DEFAULT_PORTS,
  endCapture,
  portTable,
} from "./frame_decode.ts";
import { IpReassembler, type ReassemblyOptions } from "./reassembly.ts";
import { TcpReassembler, type TcpReassemblerOptions } from "./tcp_reassembler.ts";
import type { CaptureCounters, SniffedEvent } from "./types.ts";

/** Options of {@linkcode readCaptureFile}. */
export interface ReadCaptureOptions {
  /** Receives the events in order, `batchSize` at a time (the last batch may be smaller). Awaited. */
  onBatch(events: SniffedEvent[]): void | Promise<void>;
  /** Events per batch. @default 4096 */
  batchSize?: number;
  /** Ports carrying DNS (UDP and TCP). @default [53] */
  dnsPorts?: readonly number[];
  /** Bounds of the DNS-over-TCP reassembly. */
  tcp?: TcpReassemblerOptions;
  /** Bounds of the IP fragment reassembly; `false` turns it off (first fragments are decoded as far as they go). */
  fragments?: ReassemblyOptions | false;
  /**
   * Sees every byte read from the file, once, in file order (to hash the
   * file in the same pass). A corrupt or cut record ends the read early:
   * the bytes after it are not read.
   */
  onRead?(bytes: Uint8Array): void;
}

const CHUNK = 4 * 1024 * 1024;
/** Larger records than this are taken as corruption, not data. */
const MAX_RECORD = 64 * 1024 * 1024;

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAP_KUZNETZOV = 0xa1b2cd34;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

/** Chunked reader over a file: a window `[start, end)` of `buf`. */
class Chunks {
  buf = new Uint8Array(CHUNK);
  view = new DataView(this.buf.buffer);
  start = 0;
  end = 0;
  eof = false;
  constructor(readonly file: Deno.FsFile, readonly onRead?: (bytes: Uint8Array) => void) {}

  get available(): number {
    return this.end - this.start;
  }

  /** Makes at least `n` bytes available from `start` if the file has them; false at end of file. */
  async need(n: number): Promise<boolean> {
    if (this.end - this.start >= n) return true;
    if (n > this.buf.length) {
      const grown = new Uint8Array(Math.max(n, this.buf.length * 2));
      grown.set(this.buf.subarray(this.start, this.end));
      this.end -= this.start;
      this.start = 0;
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    } else if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    while (this.end - this.start < n && !this.eof) {
      const got = await this.file.read(this.buf.subarray(this.end));
      if (got === null) this.eof = true;
      else {
        this.onRead?.(this.buf.subarray(this.end, this.end + got));
        this.end += got;
      }
    }
    return this.end - this.start >= n;
  }
}

/**
 * Counts a record vigia could not read (cut or corrupt) as one malformed
 * packet, so that the packets still add up: what follows it is unknown.
 */
function unreadable(counters: CaptureCounters, reason: string): void {
  counters.packets++;
  countMalformed(counters, reason);
}

/** Per-interface facts of a pcapng section. */
interface Iface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per millisecond. */
  unitsPerMs: number;
  /** Offset added to timestamps, ms. */
  offsetMs: number;
}

/**
 * Reads a pcap (either byte order, µs or ns timestamps) or pcapng file
 * (SHB/IDB/EPB/SPB/OPB, several sections and interfaces, each with its own
 * link type and timestamp resolution) and decodes every frame. Resolves with
 * the counters once the last batch has been handled.
 *
 * Throws {@linkcode CaptureError} when the file cannot be opened or is
 * neither pcap nor pcapng. A corrupt or cut record ends the read and is
 * counted (`file-truncated`, `file-bad-record`), keeping what came before.
 *
 * @example
 * ```ts
 * const counters = await readCaptureFile("dns.pcap", {
 *   onBatch(events) { for (const e of events) if (e.kind === "dns") console.log(e.dns.query); },
 * });
 * console.log(counters.packets, counters.dns);
 * ```
 */
export async function readCaptureFile(
  path: string,
  options: ReadCaptureOptions,
): Promise<CaptureCounters> {
  const { onBatch, batchSize = 4096, dnsPorts, tcp, fragments, onRead } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `Cannot read ${path}: batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new CaptureError(`Cannot read capture file ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const counters = newCounters();
  const ctx: DecodeContext = {
    ports: dnsPorts ? portTable(dnsPorts) : DEFAULT_PORTS,
    tcp: new TcpReassembler(tcp),
    fragments: fragments === false ? undefined : new IpReassembler(fragments),
  };
  let out: SniffedEvent[] = [];
  const flush = async () => {
    const batch = out;
    out = [];
    const r = onBatch(batch);
    if (r) await r;
  };
  try {
    const c = new Chunks(file, onRead);
    if (!(await c.need(4))) {
      throw new CaptureError(`Cannot read capture file ${path}: too short to be pcap or pcapng`);
    }
    const magicLe = c.view.getUint32(0, true);
    if (magicLe === PCAPNG_SHB) {
      await readPcapng(c, ctx, counters, () => out, batchSize, flush, path);
    } else {
      const magicBe = c.view.getUint32(0, false);
      const le = magicLe === PCAP_US || magicLe === PCAP_NS || magicLe === PCAP_KUZNETZOV;
      const magic = le ? magicLe : magicBe;
      if (magic !== PCAP_US && magic !== PCAP_NS && magic !== PCAP_KUZNETZOV) {
        throw new CaptureError(
          `Cannot read capture file ${path}: not pcap or pcapng (magic 0x${
            magicBe.toString(16).padStart(8, "0")
          })`,
        );
      }
      await readPcap(c, ctx, counters, () => out, batchSize, flush, le, magic);
    }
    endCapture(ctx, counters);
    if (out.length > 0) await flush();
  } finally {
    file.close();
  }
  return counters;
}

async function readPcap(
  c: Chunks,
  ctx: DecodeContext,
  counters: CaptureCounters,
  batch: () => SniffedEvent[],
  batchSize: number,
  flush: () => Promise<void>,
  le: boolean,
  magic: number,
): Promise<void> {
  if (!(await c.need(24))) {
    unreadable(counters, "file-truncated");
    return;
  }
  // The top bits of the link type field carry FCS information (pcap format draft, 'LinkType').
  const linkType = c.view.getUint32(c.start + 20, le) & 0x03ffffff;
  const nsRes = magic === PCAP_NS;
  const hdrLen = magic === PCAP_KUZNETZOV ? 24 : 16;
  c.start += 24;
  let out = batch();
  for (;;) {
    let buf = c.buf;
    let view = c.view;
    let pos = c.start;
    const end = c.end;
    while (end - pos >= hdrLen) {
      const caplen = view.getUint32(pos + 8, le);
      if (caplen > MAX_RECORD) {
        c.start = pos;
        unreadable(counters, "file-bad-record");
        return;
      }
      if (end - pos < hdrLen + caplen) break;
      const sec = view.getUint32(pos, le);
      const frac = view.getUint32(pos + 4, le);
      const ts = sec * 1000 + (nsRes ? frac / 1e6 : frac / 1e3);
      const wirelen = view.getUint32(pos + 12, le);
      decodeAt(ctx, linkType, buf, view, pos + hdrLen, caplen, wirelen, ts, out, counters);
      pos += hdrLen + caplen;
      if (out.length >= batchSize) {
        c.start = pos;
        await flush();
        out = batch();
        buf = c.buf;
        view = c.view;
      }
    }
    c.start = pos;
    if (c.available === 0 && c.eof) return;
    const need = c.available >= hdrLen ? hdrLen + c.view.getUint32(c.start + 8, le) : hdrLen;
    if (!(await c.need(need))) {
      if (c.available > 0) unreadable(counters, "file-truncated");
      return;
    }
  }
}

async function readPcapng(
  c: Chunks,
  ctx: DecodeContext,
  counters: CaptureCounters,
  batch: () => SniffedEvent[],
  batchSize: number,
  flush: () => Promise<void>,
  path: string,
): Promise<void> {
  const st: PcapngState = { le: true, ifaces: [], lastTs: 0 };
  let out = batch();
  for (;;) {
    const r = pcapngBlocks(c, st, ctx, counters, out, batchSize, path);
    if (r === STOP) return;
    if (r === FLUSH) {
      await flush();
      out = batch();
      continue;
    }
    // MORE: the next block is not whole in the buffer.
    if (c.available === 0 && c.eof) return;
    let need = 12;
    if (c.available >= 12) {
      const type = c.view.getUint32(c.start, st.le);
      let le = st.le;
      if (type === PCAPNG_SHB) le = c.view.getUint32(c.start + 8, true) === PCAPNG_BOM;
      need = c.view.getUint32(c.start + 4, le);
      if (need < 12 || need > MAX_RECORD) {
        unreadable(counters, "file-bad-record");
        return;
      }
    }
    if (!(await c.need(need))) {
      if (c.available > 0) unreadable(counters, "file-truncated");
      return;
    }
  }
}

interface PcapngState {
  le: boolean;
  ifaces: Iface[];
  lastTs: number;
}

const MORE = 0;
const FLUSH = 1;
const STOP = 2;

/** Decodes the blocks whole in the buffer; says why it stopped. */
function pcapngBlocks(
  c: Chunks,
  st: PcapngState,
  ctx: DecodeContext,
  counters: CaptureCounters,
  out: SniffedEvent[],
  batchSize: number,
  path: string,
): number {
  const buf = c.buf;
  const v = c.view;
  const end = c.end;
  for (;;) {
    const b = c.start;
    if (end - b < 12) return MORE;
    const type = v.getUint32(b, st.le);
    if (type === PCAPNG_SHB) {
      // A new section: its byte-order magic decides the order of everything up to the next SHB.
      if (v.getUint32(b + 8, true) === PCAPNG_BOM) st.le = true;
      else if (v.getUint32(b + 8, false) === PCAPNG_BOM) st.le = false;
      else throw new CaptureError(`Cannot read capture file ${path}: bad pcapng byte-order magic`);
      st.ifaces = [];
    }
    const le = st.le;
    const blockLen = v.getUint32(b + 4, le);
    if (blockLen < 12 || blockLen % 4 !== 0 || blockLen > MAX_RECORD) {
      unreadable(counters, "file-bad-record");
      return STOP;
    }
    if (end - b < blockLen) return MORE;
    const bodyEnd = b + blockLen - 4;
    switch (type) {
      case 1: { // Interface Description Block
        if (blockLen < 20) {
          unreadable(counters, "file-bad-record");
          return STOP;
        }
        const iface: Iface = {
          linkType: v.getUint16(b + 8, le),
          snaplen: v.getUint32(b + 12, le),
          unitsPerMs: 1000,
          offsetMs: 0,
        };
        for (let o = b + 16; o + 4 <= bodyEnd;) {
          const code = v.getUint16(o, le);
          const len = v.getUint16(o + 2, le);
          if (code === 0 || o + 4 + len > bodyEnd) break;
          if (code === 9 && len >= 1) {
            // if_tsresol: high bit set → negative power of 2, else of 10.
            const r = buf[o + 4];
            const perSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
            iface.unitsPerMs = perSec / 1000;
          } else if (code === 14 && len >= 8) {
            iface.offsetMs = Number(v.getBigInt64(o + 4, le)) * 1000;
          }
          o += 4 + ((len + 3) & ~3);
        }
        st.ifaces.push(iface);
        break;
      }
      case 6: // Enhanced Packet Block
      case 2: { // Packet Block (obsolete)
        if (blockLen < 32) {
          unreadable(counters, "file-bad-record");
          return STOP;
        }
        const id = type === 6 ? v.getUint32(b + 8, le) : v.getUint16(b + 8, le);
        const iface = st.ifaces[id];
        const caplen = v.getUint32(b + 20, le);
        if (iface === undefined || 28 + caplen > blockLen - 4) {
          counters.packets++;
          countMalformed(
            counters,
            iface === undefined ? "file-unknown-interface" : "file-bad-record",
          );
          break;
        }
        const units = v.getUint32(b + 12, le) * 4294967296 + v.getUint32(b + 16, le);
        const ts = units / iface.unitsPerMs + iface.offsetMs;
        st.lastTs = ts;
        const wirelen = v.getUint32(b + 24, le);
        decodeAt(ctx, iface.linkType, buf, v, b + 28, caplen, wirelen, ts, out, counters);
        break;
      }
      case 3: { // Simple Packet Block: interface 0, no timestamp (the previous one is used)
        const iface = st.ifaces[0];
        if (iface === undefined || blockLen < 16) {
          counters.packets++;
          countMalformed(counters, "file-unknown-interface");
          break;
        }
        const wirelen = v.getUint32(b + 8, le);
        let caplen = Math.min(wirelen, blockLen - 16);
        if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
        decodeAt(ctx, iface.linkType, buf, v, b + 12, caplen, wirelen, st.lastTs, out, counters);
        break;
      }
      default:
        break; // name resolution, statistics, custom blocks: nothing vigia logs
    }
    c.start = b + blockLen;
    if (out.length >= batchSize) return FLUSH;
  }
}
