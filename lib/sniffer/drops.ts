/**
 * Packet drops of a live capture, by stage, raised as a `packet-drops`
 * alert: a sensor that loses traffic must say so where its operators look,
 * not only in a counter.
 *
 * Stages: `kernel` (the capture ring of the kernel was full, or the
 * interface dropped: libpcap's `ps_drop` + `ps_ifdrop`), `capture` (the
 * thread decoding frames and running the pipeline fell behind the capture
 * worker: frames shed by the worker) and `store` (the events database fell
 * more than `max_queued_rows` behind: rows not stored, lines still logged).
 *
 * Checked every {@linkcode DROP_CHECK_MS}; the first drops raise an alert at
 * the next check, later ones at most once per {@linkcode DROP_ALERT_EVERY_MS},
 * each alert carrying the drops since the previous one and the totals.
 *
 * @module
 */

import type { AlertPublisher } from "../alerts/mod.ts";

/** Drops so far, by stage (totals since the capture started). */
export interface DropCounts {
  /** Dropped by the kernel or the interface. */
  kernel: number;
  /** Shed by the capture worker because the decoding thread fell behind. */
  capture: number;
  /** Rows not stored because the events database fell behind. */
  store: number;
}

/** How often the counters are compared, ms. */
export const DROP_CHECK_MS = 5_000;
/** At most one `packet-drops` alert this often, ms. */
export const DROP_ALERT_EVERY_MS = 60_000;

/** Options of {@linkcode DropWatch}. */
export interface DropWatchOptions {
  /** The drops so far. */
  read(): DropCounts;
  /** Interfaces captured on (named in the alert). */
  interfaces: readonly string[];
  /** Minimum time between two alerts, ms. @default DROP_ALERT_EVERY_MS */
  alertEvery?: number;
}

/** Watches the drop counters of a live capture and raises `packet-drops` alerts. */
export class DropWatch {
  readonly #alerts: AlertPublisher;
  readonly #read: () => DropCounts;
  readonly #interfaces: string;
  readonly #alertEvery: number;
  #reported: DropCounts = { kernel: 0, capture: 0, store: 0 };
  #lastAlert = -Infinity;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** `packet-drops` alerts raised. */
  alerts = 0;

  /** A watch publishing to `alerts`; call {@linkcode DropWatch.start} or {@linkcode DropWatch.check}. */
  constructor(alerts: AlertPublisher, options: DropWatchOptions) {
    this.#alerts = alerts;
    this.#read = options.read;
    this.#interfaces = options.interfaces.join(",");
    this.#alertEvery = options.alertEvery ?? DROP_ALERT_EVERY_MS;
  }

  /** Checks every {@linkcode DROP_CHECK_MS} until {@linkcode DropWatch.stop}. */
  start(): void {
    this.#timer ??= setInterval(() => this.check(), DROP_CHECK_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops the checks, raising a last alert for drops not reported yet. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.check(Infinity);
  }

  /** Compares the counters now; raises an alert when there are new drops and the last is old enough. */
  check(now: number = Date.now()): boolean {
    const c = this.#read(), r = this.#reported;
    const kernel = c.kernel - r.kernel, capture = c.capture - r.capture, store = c.store - r.store;
    const n = kernel + capture + store;
    if (n <= 0 || now - this.#lastAlert < this.#alertEvery) return false;
    const stages = [["kernel", kernel], ["capture", capture], ["store", store]]
      .filter(([, v]) => (v as number) > 0).map(([k, v]) => `${k} ${v}`).join(", ");
    const published = this.#alerts.publish({
      kind: "packet-drops",
      severity: "error",
      subject: `${n} packets dropped on ${this.#interfaces} (${stages})`,
      details: {
        interfaces: this.#interfaces,
        dropped: n,
        kernel,
        capture,
        store,
        total_kernel: c.kernel,
        total_capture: c.capture,
        total_store: c.store,
      },
    });
    this.#reported = { ...c };
    this.#lastAlert = now === Infinity ? Date.now() : now;
    if (published) this.alerts++;
    return published;
  }
}
