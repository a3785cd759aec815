/**
 * Per-flow buffers for DNS over TCP (RFC 7766: each message has a 2-byte
 * length prefix and may span segments). Memory is bounded three ways: a cap
 * on flows, on bytes per flow and on bytes in all; the least recently used
 * flow goes first, and flows idle longer than `idleMs` are dropped.
 *
 * Only the unfinished tail of a stream is ever buffered: segments holding
 * whole messages are decoded straight from the packet, so most flows never
 * get an entry.
 *
 * @module
 */

/** Bounds of a {@linkcode TcpReassembler}. */
export interface TcpReassemblerOptions {
  /** Flows holding a partial message at once. @default 4096 */
  maxFlows?: number;
  /** Bytes buffered for one flow (a DNS message is at most 65537 with its prefix). @default 131072 */
  maxBytesPerFlow?: number;
  /** Bytes buffered over all flows. @default 16777216 */
  maxTotalBytes?: number;
  /** A flow with no segment for this long (capture time) is dropped. @default 60000 */
  idleMs?: number;
}

/** One direction of a TCP connection with a partial message buffered. @internal */
export interface TcpFlow {
  /** Flow key. */
  key: string;
  /** Buffered stream bytes, [0, len). */
  buf: Uint8Array;
  /** View over `buf`. */
  view: DataView;
  /** Bytes buffered. */
  len: number;
  /** Sequence number of the byte after the buffered ones. */
  nextSeq: number;
  /** Capture time of the last segment, ms. */
  lastTs: number;
  /** Captured segments whose bytes are buffered and not yet part of a decoded message (packets pending). */
  segments: number;
}

/**
 * Reassembles DNS messages that span TCP segments, per flow, in bounded
 * memory. Pass one to `decodeFrame` (`options.tcp`) for every frame of a
 * capture; the file reader and the live capture make their own.
 *
 * @example
 * ```ts
 * const tcp = new TcpReassembler({ maxFlows: 1024 });
 * for (const frame of frames) decodeFrame(1, frame, ts, events, counters, { tcp });
 * ```
 */
export class TcpReassembler {
  readonly #flows = new Map<string, TcpFlow>();
  readonly #maxFlows: number;
  readonly #maxBytesPerFlow: number;
  readonly #maxTotalBytes: number;
  readonly #idleMs: number;
  #total = 0;
  /** Flows dropped to stay in bounds or for idleness since the last read. @internal */
  evicted = 0;
  /** Segments those evicted flows held (packets no longer pending) since the last read. @internal */
  evictedSegments = 0;

  /** Creates an empty reassembler with the given bounds. */
  constructor(options: TcpReassemblerOptions = {}) {
    const {
      maxFlows = 4096,
      maxBytesPerFlow = 131072,
      maxTotalBytes = 16 * 1024 * 1024,
      idleMs = 60_000,
    } = options;
    if (!(maxFlows >= 1) || !(maxBytesPerFlow >= 2) || !(maxTotalBytes >= maxBytesPerFlow)) {
      throw new RangeError(
        `Cannot create TcpReassembler: need maxFlows >= 1 and maxTotalBytes >= maxBytesPerFlow >= 2, got ${maxFlows}, ${maxTotalBytes}, ${maxBytesPerFlow}`,
      );
    }
    this.#maxFlows = maxFlows;
    this.#maxBytesPerFlow = maxBytesPerFlow;
    this.#maxTotalBytes = maxTotalBytes;
    this.#idleMs = idleMs;
  }

  /** Flows currently holding a partial message. */
  get flowCount(): number {
    return this.#flows.size;
  }

  /** Bytes currently buffered over all flows. */
  get bufferedBytes(): number {
    return this.#total;
  }

  /** Drops every flow. */
  clear(): void {
    this.#flows.clear();
    this.#total = 0;
  }

  /** Drops every flow and returns how many segments they held (the capture ended). @internal */
  drain(): number {
    let n = 0;
    for (const f of this.#flows.values()) n += f.segments;
    this.clear();
    return n;
  }

  /** The flow under `key`, if it has buffered bytes. @internal */
  get(key: string): TcpFlow | undefined {
    return this.#flows.get(key);
  }

  /** Forgets the flow under `key`; returns the segments it held (0 when there was none). @internal */
  drop(key: string): number {
    const f = this.#flows.get(key);
    if (f === undefined) return 0;
    this.#total -= f.len;
    this.#flows.delete(key);
    return f.segments;
  }

  /**
   * Appends `src[from..to)` (stream bytes starting at sequence `seq`) to the
   * flow under `key`, creating it when needed. Returns the flow, or
   * undefined when the bytes do not fit the bounds (the flow is dropped).
   * @internal
   */
  append(
    key: string,
    src: Uint8Array,
    from: number,
    to: number,
    seq: number,
    ts: number,
  ): TcpFlow | undefined {
    const n = to - from;
    let f = this.#flows.get(key);
    if (f !== undefined) {
      this.#flows.delete(key); // re-inserted below: Map order is recency order
    } else {
      this.#expire(ts);
      while (this.#flows.size >= this.#maxFlows) this.#evictOldest();
      f = {
        key,
        buf: new Uint8Array(0),
        view: new DataView(new ArrayBuffer(0)),
        len: 0,
        nextSeq: seq,
        lastTs: ts,
        segments: 0,
      };
    }
    if (f.len + n > this.#maxBytesPerFlow) {
      this.#total -= f.len;
      this.evicted++;
      return undefined;
    }
    while (this.#total + n > this.#maxTotalBytes && this.#flows.size > 0) this.#evictOldest();
    if (f.len + n > f.buf.length) {
      let cap = Math.max(2048, f.buf.length);
      while (cap < f.len + n) cap *= 2;
      const grown = new Uint8Array(Math.min(cap, this.#maxBytesPerFlow));
      grown.set(f.buf.subarray(0, f.len));
      f.buf = grown;
      f.view = new DataView(grown.buffer);
    }
    f.buf.set(src.subarray(from, to), f.len);
    f.len += n;
    f.nextSeq = (seq + n) >>> 0;
    f.lastTs = ts;
    this.#total += n;
    this.#flows.set(key, f);
    return f;
  }

  /** Removes the first `n` buffered bytes of `f` (messages decoded); drops it when empty. @internal */
  consume(f: TcpFlow, n: number): void {
    if (n <= 0) return;
    this.#total -= n;
    if (n >= f.len) {
      f.len = 0;
      this.#flows.delete(f.key);
      return;
    }
    f.buf.copyWithin(0, n, f.len);
    f.len -= n;
  }

  #evictOldest(): void {
    const first = this.#flows.values().next();
    if (first.done) return;
    this.#total -= first.value.len;
    this.#flows.delete(first.value.key);
    this.evicted++;
    this.evictedSegments += first.value.segments;
  }

  #expire(now: number): void {
    for (const f of this.#flows.values()) {
      if (now - f.lastTs <= this.#idleMs) break;
      this.#total -= f.len;
      this.#flows.delete(f.key);
      this.evicted++;
      this.evictedSegments += f.segments;
    }
  }
}
