/**
 * IPv4 and IPv6 fragment reassembly, one decoder for the live capture and
 * the file reader. A large DNS answer (DNSSEC, EDNS 4096) arrives in
 * fragments; only the first carries the UDP header, so without this the
 * message is lost or decoded from its first fragment only.
 *
 * Memory is bounded in datagrams, in bytes and in time (capture time, from
 * the first fragment of a datagram: RFC 791 and RFC 8200 §4.5 give up after
 * 60 s; 30 s by default here). Overlapping fragments drop the whole datagram,
 * including fragments still to come (RFC 5722), which stops overlap attacks
 * from choosing what the decoder sees.
 *
 * Only the fragment path allocates; unfragmented packets never reach this
 * file (the decoder checks one deadline number per packet).
 *
 * @module
 */

import { countIgnored, countMalformed, IGNORED } from "./counters.ts";
import type { CaptureCounters } from "./types.ts";

/** Bounds of an {@linkcode IpReassembler}. */
export interface ReassemblyOptions {
  /** Milliseconds (capture time) a datagram may take to complete from its first fragment. @default 30000 */
  timeoutMs?: number;
  /** Datagrams being reassembled at once; the oldest is dropped for a new one. @default 1024 */
  maxDatagrams?: number;
  /** Fragment bytes held over all datagrams; the oldest are dropped to make room. @default 8388608 */
  maxBytes?: number;
}

/** Where the link and IP facts sit in {@linkcode Reassembled.buf} (offsets, -1 when absent). @internal */
export interface FragmentHeader {
  /** Bytes from the frame start to the end of the IP header of the fragment at offset 0. */
  prefix: Uint8Array;
  /** Source MAC offset in `prefix`, -1 when the link has none. */
  srcMac: number;
  /** Destination MAC offset, -1 when the link has none. */
  dstMac: number;
  /** Outer VLAN id. */
  vlan: number;
  /** Source IP offset. */
  srcIp: number;
  /** Destination IP offset. */
  dstIp: number;
}

/** One fragment handed to {@linkcode IpReassembler.add}. @internal */
export interface Fragment {
  /** Which datagram (source, destination, identification, IPv4 protocol). */
  key: string;
  /** Capture time, ms. */
  ts: number;
  /** Where its payload goes in the datagram, bytes. */
  offset: number;
  /** More fragments follow (MF / M flag). */
  more: boolean;
  /** The captured bytes; the payload is `src[from..to)`. */
  src: Uint8Array;
  /** Start of the payload in `src`. */
  from: number;
  /** End of the payload in `src`. */
  to: number;
  /** Upper-layer protocol (IPv4 protocol, or the next header after the IPv6 Fragment header). */
  proto: number;
  /** The headers, for the fragment at offset 0. */
  header: FragmentHeader | undefined;
}

/** A whole datagram: the first fragment's headers followed by the reassembled payload. @internal */
export interface Reassembled extends FragmentHeader {
  /** `prefix` then the payload. */
  buf: Uint8Array;
  /** View over `buf`. */
  view: DataView;
  /** Offset of the payload in `buf` (the prefix length). */
  start: number;
  /** End of the payload in `buf`. */
  end: number;
  /** Upper-layer protocol (IPv4 protocol, or the next header after the IPv6 fragment header). */
  proto: number;
  /** Fragments it was made of (every one a captured packet). */
  packets: number;
}

interface Piece {
  off: number;
  end: number;
  data: Uint8Array;
}

interface Datagram {
  key: string;
  deadline: number;
  pieces: Piece[];
  /** Payload length once the last fragment (MF=0) was seen, else -1. */
  total: number;
  /** Payload bytes held. */
  bytes: number;
  /** Fragments held (packets pending). */
  packets: number;
  proto: number;
  header: FragmentHeader | undefined;
  /** After an overlap or a cut fragment: later fragments are dropped under this reason until the deadline. */
  dead: string;
}

/** Largest IP payload a datagram can reassemble to (the 16-bit total length). */
const MAX_PAYLOAD = 65535;

/**
 * Reassembles IPv4 and IPv6 fragments in bounded memory. The file reader
 * and the live capture each keep one; pass one to `decodeFrame`
 * (`options.fragments`) to reassemble across calls.
 *
 * Fragments are keyed as RFC 791 / RFC 8200 say (source, destination,
 * identification, and protocol for IPv4). Every fragment is a packet that is
 * accounted for: held (`pending`), then decoded with its datagram, or
 * ignored as `fragment-timeout`, `fragment-overlap`, `fragment-evicted`,
 * `fragment-cut`, or malformed as `fragment-too-big`, `fragment-bad-length`.
 *
 * @example
 * ```ts
 * const fragments = new IpReassembler({ timeoutMs: 30_000 });
 * for (const frame of frames) decodeFrame(1, frame, ts, events, counters, { fragments });
 * ```
 */
export class IpReassembler {
  readonly #datagrams = new Map<string, Datagram>();
  readonly #timeoutMs: number;
  readonly #maxDatagrams: number;
  readonly #maxBytes: number;
  #bytes = 0;
  #held = 0;
  /**
   * Capture time after which the oldest datagram has expired (Infinity when
   * none): the decoder compares each packet's time with it. @internal
   */
  nextDeadline: number = Infinity;

  /** Creates an empty reassembler with the given bounds. */
  constructor(options: ReassemblyOptions = {}) {
    const { timeoutMs = 30_000, maxDatagrams = 1024, maxBytes = 8 * 1024 * 1024 } = options;
    if (!(timeoutMs > 0) || !(maxDatagrams >= 1) || !(maxBytes >= 2 * MAX_PAYLOAD)) {
      throw new RangeError(
        `Cannot create IpReassembler: need timeoutMs > 0, maxDatagrams >= 1 and maxBytes >= ${
          2 * MAX_PAYLOAD
        }, got ${timeoutMs}, ${maxDatagrams}, ${maxBytes}`,
      );
    }
    this.#timeoutMs = timeoutMs;
    this.#maxDatagrams = maxDatagrams;
    this.#maxBytes = maxBytes;
  }

  /** Datagrams being reassembled (or remembered as dropped until their deadline). */
  get datagramCount(): number {
    return this.#datagrams.size;
  }

  /** Fragment payload bytes held. */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  /** Fragments (packets) held. */
  get heldPackets(): number {
    return this.#held;
  }

  /**
   * Takes one fragment. Counts it into `counters` (pending, or ignored or
   * malformed with the rest of its datagram) and returns the datagram once
   * whole. @internal
   */
  add(counters: CaptureCounters, fragment: Fragment): Reassembled | undefined {
    const { key, ts, offset, more, src, from, to, proto, header } = fragment;
    const len = to - from;
    const end = offset + len;
    if ((more && (len % 8 !== 0 || len === 0)) || (!more && len === 0 && offset === 0)) {
      // RFC 8200 §4.5: a non-last fragment must be a multiple of 8 bytes long.
      countMalformed(counters, "fragment-bad-length");
      return undefined;
    }
    let d = this.#datagrams.get(key);
    if (d !== undefined && d.dead !== "") {
      countIgnored(counters, d.dead);
      return undefined;
    }
    if (end > MAX_PAYLOAD) {
      this.#drop(d, counters, "fragment-too-big", true);
      countMalformed(counters, "fragment-too-big");
      return undefined;
    }
    d ??= this.#create(key, ts, proto, counters);
    // Overlaps, and fragments that disagree on where the datagram ends, drop it whole (RFC 5722).
    let at = 0;
    for (const piece of d.pieces) {
      if (piece.off < end && offset < piece.end) {
        this.#kill(d, counters, IGNORED.fragmentOverlap);
        countIgnored(counters, IGNORED.fragmentOverlap);
        return undefined;
      }
      if (piece.off < offset) at++;
    }
    if (
      (d.total >= 0 && (end > d.total || (!more && end !== d.total))) || (!more && d.bytes > 0 &&
        d.pieces[d.pieces.length - 1].end > end)
    ) {
      this.#drop(d, counters, "fragment-bad-length", true);
      countMalformed(counters, "fragment-bad-length");
      return undefined;
    }
    if (!more) d.total = end;
    if (offset === 0) {
      d.header = header;
      d.proto = proto;
    }
    if (d.total >= 0 && d.bytes + len === d.total && d.header !== undefined) {
      return this.#complete(d, counters, offset, src, from, to);
    }
    while (this.#bytes + len > this.#maxBytes && this.#datagrams.size > 1) {
      if (this.#evictOldest(counters, d) === false) break;
    }
    d.pieces.splice(at, 0, { off: offset, end, data: src.slice(from, to) });
    d.bytes += len;
    d.packets++;
    this.#bytes += len;
    this.#held++;
    counters.pending++;
    return undefined;
  }

  /**
   * Gives up on the datagram `key` because the snap length cut one of its
   * fragments: what it holds, and its fragments still to come, are ignored
   * as `fragment-cut`. The cut fragment itself is the caller's to count.
   * @internal
   */
  refuse(counters: CaptureCounters, key: string, ts: number): void {
    const d = this.#datagrams.get(key) ?? this.#create(key, ts, 0, counters);
    if (d.dead === "") this.#kill(d, counters, IGNORED.fragmentCut);
  }

  #create(key: string, ts: number, proto: number, counters: CaptureCounters): Datagram {
    this.#expire(ts, counters);
    while (this.#datagrams.size >= this.#maxDatagrams) this.#evictOldest(counters);
    const d: Datagram = {
      key,
      deadline: ts + this.#timeoutMs,
      pieces: [],
      total: -1,
      bytes: 0,
      packets: 0,
      proto,
      header: undefined,
      dead: "",
    };
    this.#datagrams.set(key, d);
    if (this.#datagrams.size === 1) this.nextDeadline = d.deadline;
    return d;
  }

  /** Drops the datagrams whose deadline is before `now`, counting their fragments as `fragment-timeout`. */
  expire(now: number, counters: CaptureCounters): void {
    this.#expire(now, counters);
  }

  /** Drops every datagram (the capture ended), counting held fragments as `fragment-timeout`. */
  flush(counters: CaptureCounters): void {
    for (const d of this.#datagrams.values()) this.#release(d, counters, IGNORED.fragmentTimeout);
    this.#datagrams.clear();
    this.nextDeadline = Infinity;
  }

  #complete(
    d: Datagram,
    counters: CaptureCounters,
    offset: number,
    src: Uint8Array,
    from: number,
    to: number,
  ): Reassembled {
    const h = d.header!;
    const start = h.prefix.length;
    const buf = new Uint8Array(start + d.total);
    buf.set(h.prefix);
    for (const piece of d.pieces) buf.set(piece.data, start + piece.off);
    buf.set(src.subarray(from, to), start + offset);
    const packets = d.packets + 1;
    this.#bytes -= d.bytes;
    this.#held -= d.packets;
    counters.pending -= d.packets;
    this.#remove(d);
    counters.reassembled = (counters.reassembled ?? 0) + 1;
    return {
      ...h,
      buf,
      view: new DataView(buf.buffer),
      start,
      end: start + d.total,
      proto: d.proto,
      packets,
    };
  }

  #remove(d: Datagram): void {
    this.#datagrams.delete(d.key);
    if (this.#datagrams.size === 0) this.nextDeadline = Infinity;
    else this.nextDeadline = this.#datagrams.values().next().value!.deadline;
  }

  /** Frees what `d` holds, counting its fragments as ignored under `reason`. */
  #release(d: Datagram, counters: CaptureCounters, reason: string): void {
    if (d.packets > 0) countIgnored(counters, reason, d.packets);
    this.#forget(d, counters);
  }

  #forget(d: Datagram, counters: CaptureCounters): void {
    this.#bytes -= d.bytes;
    this.#held -= d.packets;
    counters.pending -= d.packets;
    d.pieces = [];
    d.bytes = 0;
    d.packets = 0;
  }

  /** Keeps `d` as a tombstone until its deadline: its held and later fragments are ignored under `reason`. */
  #kill(d: Datagram, counters: CaptureCounters, reason: string): void {
    this.#release(d, counters, reason);
    d.dead = reason;
  }

  /** Drops `d` (if any) entirely, its held fragments counted malformed or ignored under `reason`. */
  #drop(
    d: Datagram | undefined,
    counters: CaptureCounters,
    reason: string,
    malformed: boolean,
  ): void {
    if (d === undefined) return;
    if (malformed && d.packets > 0) countMalformed(counters, reason, d.packets);
    if (malformed) this.#forget(d, counters);
    else this.#release(d, counters, reason);
    this.#remove(d);
  }

  /** Drops the oldest datagram other than `keep`; false when there is none. */
  #evictOldest(counters: CaptureCounters, keep?: Datagram): boolean {
    for (const d of this.#datagrams.values()) {
      if (d === keep) continue;
      this.#drop(d, counters, IGNORED.fragmentEvicted, false);
      return true;
    }
    return false;
  }

  #expire(now: number, counters: CaptureCounters): void {
    if (!(now > this.nextDeadline)) return;
    for (const d of this.#datagrams.values()) {
      if (d.deadline >= now) break;
      this.#release(d, counters, IGNORED.fragmentTimeout);
      this.#datagrams.delete(d.key);
    }
    const first = this.#datagrams.values().next();
    this.nextDeadline = first.done ? Infinity : first.value.deadline;
  }
}
