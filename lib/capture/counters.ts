/**
 * Counter helpers shared by the file reader, the live worker and the decoder.
 *
 * @module
 */

import type { CaptureCounters } from "./types.ts";

/**
 * A fresh set of counters, every field zero.
 *
 * @example
 * ```ts
 * const counters = newCounters();
 * decodeFrame(1, frame, Date.now(), events, counters);
 * console.log(counters.dns, counters.malformed);
 * ```
 */
export function newCounters(): CaptureCounters {
  return {
    packets: 0,
    dns: 0,
    dhcp: 0,
    ignored: 0,
    malformed: {},
    kernelDrops: 0,
    ifDrops: 0,
    vigiaDrops: 0,
    fragments: 0,
    truncated: 0,
    tcpPending: 0,
    tcpFlowsEvicted: 0,
  };
}

/** Counts one malformed packet under `reason`. */
export function countMalformed(counters: CaptureCounters, reason: string): void {
  const m = counters.malformed;
  m[reason] = (m[reason] ?? 0) + 1;
}

/** A deep copy of `counters` (a snapshot safe to hand out). */
export function copyCounters(counters: CaptureCounters): CaptureCounters {
  return { ...counters, malformed: { ...counters.malformed } };
}

/** Adds `b` into `a` (per-field sums; malformed reasons merged). */
export function addCounters(a: CaptureCounters, b: CaptureCounters): void {
  a.packets += b.packets;
  a.dns += b.dns;
  a.dhcp += b.dhcp;
  a.ignored += b.ignored;
  a.kernelDrops += b.kernelDrops;
  a.ifDrops += b.ifDrops;
  a.vigiaDrops += b.vigiaDrops;
  a.fragments = (a.fragments ?? 0) + (b.fragments ?? 0);
  a.truncated = (a.truncated ?? 0) + (b.truncated ?? 0);
  a.tcpPending = (a.tcpPending ?? 0) + (b.tcpPending ?? 0);
  a.tcpFlowsEvicted = (a.tcpFlowsEvicted ?? 0) + (b.tcpFlowsEvicted ?? 0);
  for (const [k, v] of Object.entries(b.malformed)) a.malformed[k] = (a.malformed[k] ?? 0) + v;
}
