/**
 * What the live capture's main thread and its libpcap worker share: the
 * layout of the control buffer, ring slot states, the start request and the
 * messages the worker posts. A module of its own so that the main thread
 * never loads the worker's code.
 *
 * @module
 */

import type { ReassemblyOptions } from "./reassembly.ts";
import type { TcpReassemblerOptions } from "./tcp_reassembler.ts";
import type { CaptureCounters, SniffedEvent } from "./types.ts";

/** Indexes into the shared Int32Array. */
export const CTL_LOCK = 0;
/** Set to 1 by the main thread to ask the worker to stop. */
export const CTL_STOP = 1;
/** Events the main thread has handed to its consumer (wraps at 2^32). */
export const CTL_ACKED = 2;
/**
 * 1 while the main thread has found the ring empty and waits for a `wake`
 * message; the worker swaps it to 0 and posts one after publishing frames.
 */
export const CTL_WAITING = 3;
/** Ring byte offset up to which the main thread has read (0..ring size). */
export const CTL_READ = 4;
/** Ring byte offset up to which the worker has written, published after each dispatch. */
export const CTL_WRITE = 5;
/** Int32 slots in the shared control buffer. */
export const CTL_SIZE = 6;

/** Indexes into the shared BigInt64Array of counters the worker publishes after every dispatch. */
export const STAT_PACKETS = 0;
/** libpcap's ps_drop. */
export const STAT_KERNEL_DROPS = 1;
/** libpcap's ps_ifdrop. */
export const STAT_IF_DROPS = 2;
/** Frames or events the worker shed because the main thread fell behind. */
export const STAT_VIGIA_DROPS = 3;
/** BigInt64 slots in the shared counters buffer. */
export const STAT_SIZE = 4;

/** Bytes of a frame record's header in the ring: f64 ts (ms), u32 caplen, u32 wire length (LE). */
export const RECORD_HEADER = 16;
/** A caplen that means "the rest of the ring is unused: continue at offset 0". */
export const RECORD_WRAP = 0xffffffff;
/** Lock states around pcap_breakloop / pcap_close. */
export const LOCK_OPEN = 0;
/** The main thread is calling pcap_breakloop. */
export const LOCK_BREAKING = 1;
/** The worker is closing the handle: pcap_breakloop must not be called any more. */
export const LOCK_CLOSING = 2;
/** The main thread's pcap_breakloop call has returned. */
export const LOCK_BROKEN = 3;

/** The start request the main thread posts. */
export interface StartRequest {
  /** Interface name. */
  iface: string;
  /** BPF filter. */
  filter: string;
  /** Kernel buffer bytes. */
  bufferBytes: number;
  /** Snap length. */
  snaplen: number;
  /** Read timeout. */
  timeoutMs: number;
  /** Promiscuous mode. */
  promisc: boolean;
  /** Events per posted batch at most. */
  batchSize: number;
  /** Undelivered events tolerated before batches are dropped. */
  maxPendingEvents: number;
  /** DNS ports. */
  dnsPorts?: number[];
  /** TCP reassembly bounds. */
  tcp?: TcpReassemblerOptions;
  /** IP fragment reassembly bounds. */
  fragments?: ReassemblyOptions;
  /** "worker": decode here and post events; "main": post the raw frames, the main thread decodes. */
  decodeIn: "worker" | "main";
  /** The control buffer (CTL_SIZE Int32 slots). */
  control: SharedArrayBuffer;
  /** The counters buffer (STAT_SIZE BigInt64 slots). */
  stats: SharedArrayBuffer;
  /**
   * decodeIn "main": the frame ring, one producer (the worker) and one
   * consumer (the main thread). Records of RECORD_HEADER bytes and the
   * frame's bytes follow each other; one that does not fit before the end
   * starts at 0, after a RECORD_WRAP caplen when RECORD_HEADER bytes are
   * left. The worker writes only between CTL_WRITE and CTL_READ, so
   * CTL_READ === CTL_WRITE is empty and the worker never overtakes.
   */
  ring: SharedArrayBuffer;
}

/** Messages the worker posts. */
export type WorkerMessage =
  | { type: "ready"; pcap: bigint | number; linkType: number }
  | { type: "error"; message: string; code: "perm" | "iface" | "down" | "filter" | "lib" | "other" }
  | { type: "batch"; events: SniffedEvent[]; counters: CaptureCounters }
  /** Frames were published while the main thread waited (CTL_WAITING). */
  | { type: "wake" }
  | { type: "counters"; counters: CaptureCounters }
  | { type: "stopped"; counters: CaptureCounters }
  | { type: "failed"; message: string; counters: CaptureCounters };
