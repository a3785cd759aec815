/**
 * Live capture: the main-thread side of the libpcap worker. Measured on lo
 * at 150k DNS packets/s (scripts/bench/capture_live.ts): 0 drops either way,
 * 16% of a core decoding here against 54% decoding in the worker, where each
 * event then pays a structured clone on both sides.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { copyCounters, newCounters } from "./counters.ts";
import { CaptureError } from "./errors.ts";
import {
  decodeAt,
  type DecodeContext,
  DEFAULT_PORTS,
  endCapture,
  portTable,
} from "./frame_decode.ts";
import { type Libpcap, openLibpcap } from "./libpcap.ts";
import {
  CTL_ACKED,
  CTL_LOCK,
  CTL_READ,
  CTL_SIZE,
  CTL_STOP,
  CTL_WAITING,
  CTL_WRITE,
  LOCK_BREAKING,
  LOCK_BROKEN,
  LOCK_OPEN,
  RECORD_HEADER,
  RECORD_WRAP,
  type StartRequest,
  STAT_IF_DROPS,
  STAT_KERNEL_DROPS,
  STAT_PACKETS,
  STAT_SIZE,
  STAT_VIGIA_DROPS,
  type WorkerMessage,
} from "./live_protocol.ts";
import { IpReassembler, type ReassemblyOptions } from "./reassembly.ts";
import { TcpReassembler, type TcpReassemblerOptions } from "./tcp_reassembler.ts";
import type { CaptureCounters, SniffedEvent } from "./types.ts";

/**
 * BPF filter used when none is configured: DNS (UDP and TCP), DHCPv4 and
 * DHCPv6, and IP fragments. Fragments other than the first carry no ports,
 * and BPF's `port` does not look past an IPv6 Fragment header, so they are
 * let through by their fragment fields and the reassembler sorts them out.
 */
export const DEFAULT_FILTER: string =
  "port 53 or udp port 67 or udp port 68 or udp port 546 or udp port 547" +
  " or (ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)";

/** Options of {@linkcode startLiveCapture}. */
export interface LiveCaptureOptions {
  /** BPF filter ("" captures everything). @default DEFAULT_FILTER */
  filter?: string;
  /** Kernel ring buffer size. @default 33554432 (32 MiB) */
  bufferBytes?: number;
  /** Bytes kept of each frame. @default 65535 */
  snaplen?: number;
  /** libpcap read timeout: how long the kernel may hold a partly filled block. @default 50 */
  timeoutMs?: number;
  /** Promiscuous mode (see traffic of other hosts on the segment). @default true */
  promisc?: boolean;
  /** Events per batch at most; a batch is also posted after every `pcap_dispatch` return. @default 1024 */
  batchSize?: number;
  /** Events posted but not yet handed to `onBatch` beyond which batches are dropped (`vigiaDrops`). @default 262144 */
  maxPendingEvents?: number;
  /**
   * decodeIn "main": bytes of the ring the frames wait in for this thread;
   * frames that find it full are dropped (`vigiaDrops`). @default 33554432 (32 MiB)
   */
  ringBytes?: number;
  /** Ports carrying DNS (keep the filter in step). @default [53] */
  dnsPorts?: number[];
  /** Bounds of the DNS-over-TCP reassembly. */
  tcp?: TcpReassemblerOptions;
  /** Bounds of the IP fragment reassembly. */
  fragments?: ReassemblyOptions;
  /**
   * Where frames are decoded. "main" (default): the worker only drains
   * libpcap and posts the raw frames in transferable buffers; this thread
   * decodes them. "worker": the worker decodes and posts events, which then
   * cost a structured clone each way (≈1.3 µs to send and ≈1.6 µs to receive
   * per event, against ≈0.7 µs to decode), so "main" uses less CPU in total
   * and on this thread. @default "main"
   */
  decodeIn?: "main" | "worker";
  /** Receives each batch on the main thread. Exceptions are counted (`consumerErrors`), not rethrown. */
  onBatch(events: SniffedEvent[]): void;
}

/** A running live capture. */
export interface LiveCapture {
  /** The interface captured. */
  readonly iface: string;
  /** Its link type (LINKTYPE_/DLT_ value). */
  readonly linkType: number;
  /** Counters so far, including `kernelDrops`/`ifDrops` from pcap_stats and `vigiaDrops`. */
  counters(): CaptureCounters;
  /**
   * Stops the capture, delivers the last batch and joins the worker, in < 1 s: the worker ends
   * at its next `pcap_dispatch` return (≤ 2 read timeouts while packets flow), or, when the
   * interface is idle, this thread breaks the blocked dispatch with `pcap_breakloop`.
   */
  stop(): Promise<void>;
  /** Resolves when the capture ends after `stop()`; rejects with CaptureError if the worker dies or libpcap fails. */
  done: Promise<void>;
}

const STOP_GRACE_MS = 900;
/** Frames decoded per event loop turn at most (a few ms of work)... */
const FRAMES_PER_TURN = 2048;
/** ...or fewer when their batches took this long, ms. */
const TURN_MS = 8;

let mainLib: Libpcap | undefined;

function validate(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CaptureError(
      `Cannot start live capture: ${name} must be an integer in ${min}..${max}, got ${value}`,
    );
  }
}

/**
 * Starts capturing on `iface` with libpcap in a Web Worker that only drains
 * the kernel ring (`pcap_dispatch`, non-immediate, 32 MiB buffer, 50 ms read
 * timeout by default) and hands the frames over through shared memory; they
 * are decoded on this thread (or in the worker with `decodeIn: "worker"`) and
 * delivered in batches to `options.onBatch`. Resolves once the interface is
 * open and the filter set.
 *
 * Throws {@linkcode CaptureError} with a message naming what is missing:
 * the CAP_NET_RAW capability, the interface, libpcap, or `--allow-ffi`; or
 * saying why the filter is invalid.
 *
 * @example
 * ```ts
 * const capture = await startLiveCapture("eth0", {
 *   onBatch(events) { for (const e of events) console.log(e.kind, e.meta.srcMac); },
 * });
 * capture.done.catch((e) => console.error(e.message));
 * // ...
 * await capture.stop();
 * ```
 */
export async function startLiveCapture(
  iface: string,
  options: LiveCaptureOptions,
): Promise<LiveCapture> {
  const {
    filter = DEFAULT_FILTER,
    bufferBytes = 32 * 1024 * 1024,
    snaplen = 65535,
    timeoutMs = 50,
    promisc = true,
    batchSize = 1024,
    maxPendingEvents = 262144,
    ringBytes = 32 * 1024 * 1024,
    dnsPorts,
    tcp,
    fragments,
    decodeIn = "main",
    onBatch,
  } = options;
  if (typeof iface !== "string" || iface === "" || iface.length > 64) {
    throw new CaptureError(
      `Cannot start live capture: bad interface name ${JSON.stringify(iface)}`,
    );
  }
  validate("bufferBytes", bufferBytes, 65536, 2 ** 31 - 1);
  validate("snaplen", snaplen, 128, 262144);
  validate("timeoutMs", timeoutMs, 1, 10_000);
  validate("batchSize", batchSize, 1, 1 << 20);
  validate("maxPendingEvents", maxPendingEvents, batchSize, 2 ** 30);
  validate("ringBytes", ringBytes, Math.max(1 << 16, 4 * (RECORD_HEADER + snaplen)), 1 << 30);
  if (decodeIn !== "main" && decodeIn !== "worker") {
    throw new CaptureError(
      `Cannot start live capture: decodeIn must be "main" or "worker", got ${decodeIn}`,
    );
  }
  // This thread needs its own handle on the library for pcap_breakloop.
  mainLib ??= openLibpcap();
  const lib = mainLib;

  const control = new SharedArrayBuffer(CTL_SIZE * 4);
  const statsBuffer = new SharedArrayBuffer(STAT_SIZE * 8);
  const shared = new BigInt64Array(statsBuffer);
  // The frame ring (decodeIn "main"): 1.7 s of backlog at 150k DNS packets/s of 130 bytes.
  const ring = new SharedArrayBuffer(decodeIn === "main" ? ringBytes : RECORD_HEADER);
  const ringSize = ring.byteLength;
  const bytes = new Uint8Array(ring);
  const view = new DataView(ring);
  const ctl = new Int32Array(control);
  // The main thread starts idle: the first frames published wake it.
  ctl[CTL_WAITING] = 1;
  let latest = newCounters();
  let consumerErrors = 0;
  // Decode state of this thread (decodeIn "main").
  const decoded = newCounters();
  const ctx: DecodeContext = {
    ports: dnsPorts ? portTable(dnsPorts) : DEFAULT_PORTS,
    tcp: new TcpReassembler(tcp),
    fragments: new IpReassembler(fragments),
  };
  const deliver = (events: SniffedEvent[]) => {
    try {
      onBatch(events);
    } catch {
      consumerErrors++;
    }
  };
  let pcapAddr: bigint | number = 0;
  let linkType = -1;
  let settled = false;

  let resolveReady!: () => void;
  let rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  // Nobody may be listening yet; a death is still reported through `done` to whoever awaits it.
  done.catch(() => {});

  const worker = new Worker(new URL("./live_worker.ts", import.meta.url).href, {
    type: "module",
    name: `vigia-capture-${iface}`,
  });

  const finish = (error?: Error) => {
    if (settled) return;
    settled = true;
    worker.terminate();
    // The frames the worker had published are still decoded and delivered.
    try {
      while (readFrames(FRAMES_PER_TURN) > 0);
    } catch (e) {
      error ??= new CaptureError(`Capture on "${iface}" failed: ${(e as Error).message}`);
    }
    // What the reassemblers still hold can never complete now: count it.
    endCapture(ctx, decoded);
    if (error) {
      rejectReady(error);
      rejectDone(error);
    } else {
      resolveReady();
      resolveDone();
    }
  };

  // decodeIn "main": frames are read from the ring in the order the worker wrote them, for
  // at most TURN_MS (or FRAMES_PER_TURN) per event loop turn, so that timers, sockets and
  // other messages are served in between even while this thread is behind.
  let r = 0;
  /** Decodes and delivers up to `max` frames, or what `turnMs` allows; returns how many there were. */
  const readFrames = (max: number, turnMs = Infinity): number => {
    const end = Atomics.load(ctl, CTL_WRITE);
    const t0 = turnMs === Infinity ? 0 : performance.now();
    let n = 0;
    let out: SniffedEvent[] = [];
    while (r !== end && n < max) {
      if (ringSize - r < RECORD_HEADER) {
        r = 0;
        continue;
      }
      const caplen = view.getUint32(r + 8, true);
      if (caplen === RECORD_WRAP) {
        r = 0;
        continue;
      }
      decodeAt(
        ctx,
        linkType,
        bytes,
        view,
        r + RECORD_HEADER,
        caplen,
        view.getUint32(r + 12, true),
        view.getFloat64(r, true),
        out,
        decoded,
      );
      r += RECORD_HEADER + caplen;
      n++;
      if (out.length >= batchSize) {
        // The frames decoded so far are free for the worker again.
        Atomics.store(ctl, CTL_READ, r);
        deliver(out);
        out = [];
        if (performance.now() - t0 > turnMs) break;
      }
    }
    Atomics.store(ctl, CTL_READ, r);
    if (out.length > 0) deliver(out);
    if (n > 0) Atomics.add(ctl, CTL_ACKED, n);
    return n;
  };
  let draining = false;
  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      while (!settled) {
        if (readFrames(FRAMES_PER_TURN, TURN_MS) === 0) {
          // Empty: ask for a wake-up, unless frames were published meanwhile.
          Atomics.store(ctl, CTL_WAITING, 1);
          if (Atomics.load(ctl, CTL_WRITE) === r) break;
          Atomics.store(ctl, CTL_WAITING, 0);
          continue;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      // decodeAt and the consumer never throw here; anything else ends the capture, reported.
      finish(new CaptureError(`Capture on "${iface}" failed: ${(e as Error).message}`));
    } finally {
      draining = false;
    }
  };

  worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
    const m = e.data;
    switch (m.type) {
      case "ready":
        pcapAddr = m.pcap;
        linkType = m.linkType;
        resolveReady();
        break;
      case "error":
        finish(new CaptureError(m.message));
        break;
      case "batch":
        latest = m.counters;
        deliver(m.events);
        Atomics.add(ctl, CTL_ACKED, m.events.length);
        break;
      case "wake":
        void drain();
        break;
      case "counters":
        latest = m.counters;
        break;
      case "stopped":
        latest = m.counters;
        finish();
        break;
      case "failed":
        latest = m.counters;
        finish(new CaptureError(m.message));
        break;
    }
  };
  worker.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    finish(new CaptureError(`Capture worker on "${iface}" died: ${e.message}`));
  };

  const request: StartRequest = {
    iface,
    filter,
    bufferBytes,
    snaplen,
    timeoutMs,
    promisc,
    batchSize,
    maxPendingEvents,
    dnsPorts,
    tcp,
    fragments,
    decodeIn,
    control,
    stats: statsBuffer,
    ring,
  };
  worker.postMessage(request);
  await ready;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const settledWithin = async (ms: number) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          done.catch(() => {}),
          new Promise<void>((res) => timer = setTimeout(res, ms)),
        ]);
        clearTimeout(timer);
        return settled;
      };
      Atomics.store(ctl, CTL_STOP, 1);
      // While packets flow, the next dispatch return (at most one read timeout away) ends the
      // loop with the last kernel block delivered. An idle interface blocks pcap_dispatch for
      // good, so then break it, unless the worker is already closing the handle.
      if (!(await settledWithin(2 * timeoutMs + 20))) {
        if (Atomics.compareExchange(ctl, CTL_LOCK, LOCK_OPEN, LOCK_BREAKING) === LOCK_OPEN) {
          lib.symbols.pcap_breakloop(Deno.UnsafePointer.create(BigInt(pcapAddr)));
          Atomics.store(ctl, CTL_LOCK, LOCK_BROKEN);
          Atomics.notify(ctl, CTL_LOCK);
        }
        await settledWithin(STOP_GRACE_MS);
      }
      finish();
    })();
    return stopping;
  };

  return {
    iface,
    linkType,
    counters(): CaptureCounters {
      // With decodeIn "main" the worker counts packets and drops, this thread the rest.
      const c = copyCounters(decodeIn === "main" ? decoded : latest);
      c.packets = Number(Atomics.load(shared, STAT_PACKETS));
      c.kernelDrops = Number(Atomics.load(shared, STAT_KERNEL_DROPS));
      c.ifDrops = Number(Atomics.load(shared, STAT_IF_DROPS));
      c.vigiaDrops = Number(Atomics.load(shared, STAT_VIGIA_DROPS));
      if (consumerErrors > 0) c.consumerErrors = consumerErrors;
      return c;
    },
    stop,
    done,
  };
}
