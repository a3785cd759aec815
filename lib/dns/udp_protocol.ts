/**
 * What the main thread and the UDP workers (`udp_worker.ts`) say to each
 * other. Messages in: `init` ({@linkcode WorkerInit}), `zones`
 * ({@linkcode WorkerZones}). Messages out: `ready` {fd}, `error` {message},
 * `stopped`, `notify` {zone} (a NOTIFY from a primary of a secondary zone,
 * already answered).
 *
 * @module
 */

import type { RrlOptions } from "./rrl.ts";
import type { TransferPolicyInit } from "./xfr_out.ts";

/** Control words in the shared Int32Array. */
export const CONTROL = { STOP: 0, GENERATION: 1 } as const;

/** The zone data a worker serves. */
export interface WorkerZones {
  kind: "zones";
  /** Every record of every source, packed (see pack.ts). */
  records: Uint8Array;
  /** Stats slot of each zone, by presentation name. */
  slots: Record<string, number>;
  /** Generation this data belongs to. */
  generation: number;
  /** Zones answered SERVFAIL (expired secondary zones), absolute, lower case. */
  servfail: string[];
}

/** First message to a worker. */
export interface WorkerInit {
  kind: "init";
  /** Address to bind, 4 or 16 bytes. */
  ip: Uint8Array;
  /** Port to bind. */
  port: number;
  /** Share the port with other workers. */
  reusePort: boolean;
  /** Largest UDP response. */
  maxUdpPayload: number;
  /** Pre-encoded answers kept at most. */
  cacheEntries: number;
  /** Rate limiting, or undefined when off. */
  rrl?: RrlOptions;
  /** Count the metric regions of the counters (see engine.ts METRIC). */
  metrics: boolean;
  /** TSIG keys and transfer rules (signed queries, IXFR over UDP), when configured. */
  xfr?: TransferPolicyInit;
  /** Datagrams per system call. */
  batch: number;
  /** Shared control words ({@linkcode CONTROL}). */
  control: SharedArrayBuffer;
  /** Shared counters (see engine.ts COUNTER). */
  counters: SharedArrayBuffer;
  /** Initial zone data. */
  zones: WorkerZones;
}
