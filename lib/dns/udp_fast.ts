/**
 * Main-thread side of the UDP fast path: starts `udp_worker.ts` workers for
 * one listen address, hands them zone updates, reads their counters and
 * stops them (stop flag, then `shutdown(SHUT_RD)` to wake a blocked
 * `recvmmsg`; `worker.terminate()` alone would leave the socket answering).
 *
 * @module
 */

import { COUNTER_COUNT } from "./engine.ts";
import { C, type Libc, openLibc } from "./libc.ts";
import type { RrlOptions } from "./rrl.ts";
import { CONTROL, type WorkerInit, type WorkerZones } from "./udp_protocol.ts";
import type { TransferPolicyInit } from "./xfr_out.ts";

/** Options for {@linkcode FastUdpListener.start}. */
export interface FastUdpOptions {
  /** Address to bind, 4 or 16 bytes. */
  ip: Uint8Array;
  /** Port. */
  port: number;
  /** Number of workers (each with its own SO_REUSEPORT socket). */
  workers: number;
  /** Largest UDP response. */
  maxUdpPayload: number;
  /** Pre-encoded answers per worker. */
  cacheEntries: number;
  /** Rate limiting, or undefined when off. */
  rrl?: RrlOptions;
  /** Count the metric regions of the counters. */
  metrics: boolean;
  /** Initial zone data. */
  zones: Omit<WorkerZones, "kind">;
  /** TSIG keys and transfer rules, when any are configured. */
  xfr?: TransferPolicyInit;
  /** A worker answered a NOTIFY from a primary of this secondary zone. */
  onNotify?: (zone: string) => void;
}

interface Running {
  worker: Worker;
  fd: number;
  counters: Float64Array;
  stopped: Promise<void>;
  closed: boolean;
}

/** UDP workers serving one address. */
export class FastUdpListener {
  readonly #libc: Libc;
  readonly #control: Int32Array;
  readonly #workers: Running[] = [];
  #failed!: (e: Error) => void;
  /** Rejects when a worker dies on its own. */
  readonly done: Promise<void>;
  #stopping = false;

  private constructor(libc: Libc) {
    this.#libc = libc;
    this.#control = new Int32Array(new SharedArrayBuffer(8));
    this.done = new Promise<void>((_, reject) => (this.#failed = reject));
    this.done.catch(() => {});
  }

  /** Starts the workers; throws when FFI is unavailable or a socket cannot be bound. */
  static async start(options: FastUdpOptions): Promise<FastUdpListener> {
    const libc = openLibc();
    if (typeof libc === "string") throw new Error(libc);
    const self = new FastUdpListener(libc);
    Atomics.store(self.#control, CONTROL.GENERATION, options.zones.generation);
    try {
      for (let i = 0; i < options.workers; i++) await self.#spawn(options);
    } catch (e) {
      await self.stop();
      throw e;
    }
    return self;
  }

  async #spawn(options: FastUdpOptions): Promise<void> {
    // This literal URL form is what `deno compile` recognises and embeds.
    const worker = new Worker(new URL("./udp_worker.ts", import.meta.url), { type: "module" });
    const counters = new SharedArrayBuffer(COUNTER_COUNT * 8);
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => (resolveStopped = r));
    const running: Running = {
      worker,
      fd: -1,
      counters: new Float64Array(counters),
      stopped,
      closed: false,
    };
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("UDP worker did not start within 10 s")),
        10_000,
      );
      worker.onmessage = (event) => {
        const m = event.data;
        if (m.kind === "ready") {
          running.fd = m.fd;
          clearTimeout(timer);
          resolve();
        } else if (m.kind === "error") {
          clearTimeout(timer);
          reject(new Error(m.message));
          if (running.fd >= 0) this.#die(new Error(m.message));
        } else if (m.kind === "notify") {
          options.onNotify?.(m.zone);
        } else if (m.kind === "stopped") {
          running.closed = true;
          resolveStopped();
          if (!this.#stopping) this.#die(new Error("UDP worker stopped on its own"));
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        clearTimeout(timer);
        const error = new Error(`UDP worker crashed: ${event.message}`);
        reject(error);
        resolveStopped();
        this.#die(error);
      };
    });
    this.#workers.push(running);
    const init: WorkerInit = {
      kind: "init",
      ip: options.ip,
      port: options.port,
      reusePort: options.workers > 1,
      maxUdpPayload: options.maxUdpPayload,
      cacheEntries: options.cacheEntries,
      rrl: options.rrl,
      metrics: options.metrics,
      xfr: options.xfr,
      batch: 64,
      control: this.#control.buffer as SharedArrayBuffer,
      counters,
      zones: { kind: "zones", ...options.zones },
    };
    worker.postMessage(init);
    await ready;
  }

  #die(error: Error): void {
    if (!this.#stopping) this.#failed(error);
  }

  /** Hands new zone data to every worker; they switch between two batches. */
  update(zones: Omit<WorkerZones, "kind">): void {
    for (const w of this.#workers) w.worker.postMessage({ kind: "zones", ...zones });
    Atomics.store(this.#control, CONTROL.GENERATION, zones.generation);
  }

  /** Each worker's live counters. */
  counters(): Float64Array[] {
    return this.#workers.map((w) => w.counters);
  }

  /** Stops every worker and closes their sockets. */
  async stop(): Promise<void> {
    this.#stopping = true;
    Atomics.store(this.#control, CONTROL.STOP, 1);
    for (const w of this.#workers) if (w.fd >= 0) this.#libc.shutdown(w.fd, C.SHUT_RD);
    await Promise.all(this.#workers.map(async (w) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        w.stopped,
        new Promise<void>((r) => (timer = setTimeout(r, 2000))),
      ]);
      clearTimeout(timer);
      w.worker.terminate();
      // A worker that never reported closing (crashed or stuck) leaves its socket to us.
      if (!w.closed && w.fd >= 0) this.#libc.close(w.fd);
    }));
    this.#workers.length = 0;
  }
}
