/**
 * The main-thread side of the shipper's event reading: batches of events
 * as binary COPY data, read and encoded by a worker (`events_worker.ts`).
 * After a full batch the worker already reads the one that follows, so
 * the next batch is ready while this one is in PostgreSQL.
 *
 * @module
 */

import type { EventsWorkerReply, EventsWorkerRequest } from "./events_worker.ts";
import type { EventBinaryPlan } from "./encode.ts";

/** One batch of events as one binary COPY's data (what the worker replies, less its envelope). */
export type EventBatch = Omit<Extract<EventsWorkerReply, { type: "batch" }>, "type" | "id">;

type Waiter = { resolve: (b: EventBatch) => void; reject: (e: Error) => void };

/** Reads events after a position as binary COPY batches, one ahead. */
export class EventBatchReader {
  readonly #path: string;
  readonly #plan: EventBinaryPlan;
  #worker: Worker | undefined;
  #seq = 0;
  readonly #waiting = new Map<number, Waiter>();
  #ahead: { from: number; limit: number; batch: Promise<EventBatch> } | undefined;

  /** A reader of the events database at `path`; the worker starts at the first read. */
  constructor(path: string, plan: EventBinaryPlan) {
    this.#path = path;
    this.#plan = plan;
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./events_worker.ts", import.meta.url).href, {
      type: "module",
      name: "vigia-central-reader",
    });
    worker.onmessage = (e: MessageEvent<EventsWorkerReply>) => {
      const m = e.data;
      const w = this.#waiting.get(m.id);
      if (!w) return;
      this.#waiting.delete(m.id);
      if (m.type === "error") w.reject(new Error(`reading events to ship: ${m.message}`));
      else {
        const { bytes, n, last, lastTime, days, invalid } = m;
        w.resolve({ bytes, n, last, lastTime, days, invalid });
      }
    };
    worker.onerror = (e) => {
      e.preventDefault();
      this.#fail(new Error(`the central reading worker failed: ${e.message}`));
    };
    worker.postMessage(
      { type: "open", path: this.#path, ...this.#plan } satisfies EventsWorkerRequest,
    );
    this.#worker = worker;
    return worker;
  }

  #fail(e: Error): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#ahead = undefined;
    for (const w of this.#waiting.values()) w.reject(e);
    this.#waiting.clear();
  }

  #request(from: number, limit: number): Promise<EventBatch> {
    const worker = this.#start();
    const id = ++this.#seq;
    const batch = new Promise<EventBatch>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
    });
    worker.postMessage({ type: "read", id, from, limit } satisfies EventsWorkerRequest);
    return batch;
  }

  /**
   * The events after `from`, at most `limit`. When the batch is full the
   * one after it is read ahead (used if the next call asks for it).
   */
  async read(from: number, limit: number): Promise<EventBatch> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    const batch = ahead && ahead.from === from && ahead.limit === limit
      ? await ahead.batch
      : await this.#request(from, limit);
    if (batch.n === limit) {
      const next = this.#request(batch.last, limit);
      // Not awaited unless asked for: a failure is seen by the read that uses it.
      next.catch(() => {});
      this.#ahead = { from: batch.last, limit, batch: next };
    }
    return batch;
  }

  /** Stops the worker. */
  close(): void {
    this.#fail(new Error("the event reader was closed"));
  }
}
