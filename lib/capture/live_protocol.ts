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
/** Int32 slots in the shared control buffer. */
export const CTL_SIZE = 4;
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
  /** decodeIn "main": the frame ring, `slots` × `slotBytes`. */
  ring: SharedArrayBuffer;
  /** One Int32 per ring slot: SLOT_FREE or SLOT_FULL. */
  slotStates: SharedArrayBuffer;
  /** Ring slots. */
  slots: number;
  /** Bytes per ring slot. */
  slotBytes: number;
}

/** A ring slot the worker may fill. */
export const SLOT_FREE = 0;
/** A ring slot posted to the main thread and not yet decoded. */
export const SLOT_FULL = 1;

/** Messages the worker posts. */
export type WorkerMessage =
  | { type: "ready"; pcap: bigint | number; linkType: number }
  | { type: "error"; message: string; code: "perm" | "iface" | "down" | "filter" | "lib" | "other" }
  | { type: "batch"; events: SniffedEvent[]; counters: CaptureCounters }
  | {
    type: "frames";
    /** Ring slot holding the records: f64 ts (ms), u32 caplen, u32 wire length, caplen bytes (LE). */
    slot: number;
    count: number;
    counters: CaptureCounters;
  }
  | { type: "counters"; counters: CaptureCounters }
  | { type: "stopped"; counters: CaptureCounters }
  | { type: "failed"; message: string; counters: CaptureCounters };
