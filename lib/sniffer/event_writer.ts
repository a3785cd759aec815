/**
 * Where event rows go: a writer worker with its own SQLite connection to the
 * events database, so that inserting and indexing never hold the main
 * thread.
 *
 * The pipeline sets each row's values by column on `dnsRows` / `dhcpRows`
 * (packed {@linkcode RowBuffer}s, no per-row allocation; slots from
 * `schema.ts`, generated from the columns declared in `fields.ts`) and calls
 * {@linkcode EventWriter.rowsAdded} after each batch.
 *
 * @module
 */

import type { Store } from "../store/mod.ts";
import { eventsDbPath, type PruneCutoffs } from "./events_db.ts";
import type { Logger } from "../log/mod.ts";
import { DHCP_ROW_WIDTH, DNS_ROW_WIDTH, type Slot } from "./schema.ts";
import type { WriterReply, WriterRequest } from "./event_writer_worker.ts";

const DNS_WIDTH = DNS_ROW_WIDTH;
const DHCP_WIDTH = DHCP_ROW_WIDTH;

/**
 * Rows as they cross to the worker: every number in a Float64Array (moved,
 * not copied, and moved back for reuse once inserted), and in `others`, in order, each value that is not a number
 * (text, blob, null) or is NaN, whose slot in `numbers` holds NaN. Cloning
 * a few hundred thousand mixed values one by one costs about a microsecond
 * a row over both threads; this costs a tenth of it.
 */
export interface PackedRows {
  /** Values per row. */
  width: number;
  /** One slot per value (a view of the start of a larger buffer that is moved along). */
  numbers: Float64Array<ArrayBuffer>;
  /** The values of the NaN slots, in order. */
  others: unknown[];
}

/**
 * Row values buffered on the capture thread, already packed: numbers go
 * straight into a Float64Array (no boxed number per value), anything else
 * into `others` with NaN in its slot. A row is written by slot
 * ({@linkcode RowBuffer.begin}, {@linkcode RowBuffer.set} per column in any
 * order, {@linkcode RowBuffer.end}); slots not set are NULL, and a row not
 * ended (an exception half-way) is discarded by the next `begin`.
 * {@linkcode RowBuffer.take} hands the buffer itself over (moved to the
 * worker, no copy) and continues in one the worker gave back
 * ({@linkcode RowBuffer.recycle}), or a new one: allocating and copying tens
 * of megabytes a second cost a few percent of the capture thread and made
 * the garbage collector run for external memory.
 */
export class RowBuffer<K extends "dns" | "dhcp" = "dns" | "dhcp"> {
  /** Values per row. */
  readonly width: number;
  #numbers: Float64Array<ArrayBuffer>;
  #others: unknown[] = [];
  readonly #rowOthers: unknown[];
  #length = 0;
  /** A row was begun and not ended (its values in `#rowOthers` are stale). */
  #open = false;
  /** Buffers back from the worker, ready for reuse. */
  readonly #spare: ArrayBuffer[] = [];

  /** A buffer of `width` values a row with room for `rows` rows before it grows. */
  constructor(width: number, rows = 1024) {
    this.width = width;
    this.#numbers = new Float64Array(Math.max(1, rows) * width);
    this.#rowOthers = new Array(width).fill(null);
  }

  /** Rows buffered (ended). */
  get rows(): number {
    return this.#length / this.width;
  }

  /** Starts a row: every slot NULL. */
  begin(): void {
    const width = this.width, base = this.#length;
    if (base + width > this.#numbers.length) this.#grow();
    // Plain loops: TypedArray/Array fill calls cost more than these few stores.
    const numbers = this.#numbers;
    for (let k = 0; k < width; k++) numbers[base + k] = NaN;
    // `end` clears the slots it takes; only a row left unended leaves values behind.
    if (this.#open) {
      const rowOthers = this.#rowOthers;
      for (let k = 0; k < width; k++) rowOthers[k] = null;
    }
    this.#open = true;
  }

  /** Sets one value of the current row. */
  set(slot: Slot<K>, v: unknown): void {
    if (typeof v === "number" && v === v) this.#numbers[this.#length + slot] = v;
    else {
      this.#numbers[this.#length + slot] = NaN;
      this.#rowOthers[slot] = v;
    }
  }

  /** Ends the current row: it is buffered. */
  end(): void {
    const numbers = this.#numbers, base = this.#length, width = this.width;
    const rowOthers = this.#rowOthers, others = this.#others;
    for (let k = 0; k < width; k++) {
      const v = numbers[base + k];
      if (v !== v) others.push(rowOthers[k]);
      rowOthers[k] = null;
    }
    this.#length += width;
    this.#open = false;
  }

  #grow(): void {
    const bigger = new Float64Array(this.#numbers.length * 2);
    bigger.set(this.#numbers);
    this.#numbers = bigger;
  }

  /**
   * The buffered values, packed, in the buffer itself (to be transferred);
   * this buffer continues empty in a spare or a new buffer.
   */
  take(): PackedRows {
    if (this.#length === 0) return { width: this.width, numbers: new Float64Array(0), others: [] };
    const packed = {
      width: this.width,
      numbers: this.#numbers.subarray(0, this.#length),
      others: this.#others,
    };
    const size = this.#numbers.length;
    let spare = this.#spare.pop();
    while (spare !== undefined && spare.byteLength < size * 8) spare = this.#spare.pop();
    this.#numbers = spare ? new Float64Array(spare) : new Float64Array(size);
    this.#length = 0;
    this.#others = [];
    return packed;
  }

  /** Takes back a buffer of an earlier {@linkcode RowBuffer.take} that is no longer used. */
  recycle(buffer: ArrayBuffer): void {
    if (this.#spare.length < 2 && buffer.byteLength >= this.#numbers.byteLength) {
      this.#spare.push(buffer);
    }
  }
}

/** The flat row values of a {@linkcode RowBuffer.take} result (on the worker). */
export function unpackRows(packed: PackedRows): unknown[] {
  const { numbers, others } = packed;
  const n = numbers.length;
  const values = new Array(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const v = numbers[i];
    values[i] = v === v ? v : others[j++];
  }
  return values;
}

/** Counters of the event writer, for `ctl stats`. */
export interface EventWriterStats {
  /** Rows committed. */
  rows_written: number;
  /** Rows that could not be written (logged). */
  rows_failed: number;
  /** Rows handed over but not committed yet. */
  rows_pending: number;
  /** Write transactions committed. */
  transactions: number;
  /** Milliseconds the last transaction took. */
  last_commit_ms: number;
  /** Where rows go: "worker". */
  mode: string;
}

/** Options of {@linkcode openEventWriter}. */
export interface EventWriterOptions {
  /**
   * Rows buffered before they are handed to the writer (one transaction).
   * @default 32768, 131072 with `bulk` (fewer index pages written per row)
   */
  postRows?: number;
  /** Milliseconds a buffered row waits at most. @default 100 */
  postInterval?: number;
  /** Busy timeout of the worker's connection, ms. @default 60000 */
  busyTimeout?: number;
  /**
   * Bulk load (`vigia ingest`): commits skip their fsync (`synchronous =
   * OFF`); {@linkcode EventWriter.close} restores it, checkpoints and syncs
   * the files, so everything written is durable once it resolves.
   * @default false
   */
  bulk?: boolean;
  /** The component log. */
  log: Logger;
}

/** Buffers rows and hands them to SQLite in large transactions. */
export abstract class EventWriter {
  /** DNS rows waiting to be handed over (slots: `DNS_ROW`). */
  readonly dnsRows: RowBuffer<"dns">;
  /** DHCP rows waiting (slots: `DHCP_ROW`). */
  readonly dhcpRows: RowBuffer<"dhcp">;
  /** Called once if the writer dies; the component reports it through `done`. */
  onFatal: (error: Error) => void = () => {};
  protected readonly log: Logger;
  protected stats_ = {
    rows_written: 0,
    rows_failed: 0,
    rows_pending: 0,
    transactions: 0,
    last_commit_ms: 0,
  };
  readonly #postRows: number;
  readonly #postInterval: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #waiters: { below: number; resolve: () => void }[] = [];
  #flushers: { upTo: number; resolve: () => void }[] = [];
  /** Rows handed over since the start, and rows settled (written or failed). */
  #handed = 0;
  #settled = 0;
  protected closed = false;

  constructor(options: EventWriterOptions) {
    this.#postRows = options.postRows ?? (options.bulk ? 131072 : 32768);
    this.dnsRows = new RowBuffer(DNS_WIDTH, this.#postRows + 4096);
    this.dhcpRows = new RowBuffer(DHCP_WIDTH, 1024);
    this.#postInterval = options.postInterval ?? 100;
    this.log = options.log;
  }

  /** Rows handed over and not yet committed, plus rows still buffered here. */
  get backlog(): number {
    return this.stats_.rows_pending + this.buffered;
  }

  /** Rows buffered on this thread. */
  get buffered(): number {
    return this.dnsRows.rows + this.dhcpRows.rows;
  }

  /**
   * Hands the buffer over when it is large, or already at a sixteenth of
   * that when the writer has nothing to do (so it never sits idle while
   * rows pile up here, and transactions grow only when it falls behind);
   * else makes sure the rows go out within the interval.
   */
  rowsAdded(): void {
    const buffered = this.buffered;
    if (
      buffered >= this.#postRows ||
      (this.stats_.rows_pending === 0 && buffered >= this.#postRows >> 4)
    ) this.post();
    else if (this.#timer === undefined && buffered > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.post();
      }, this.#postInterval);
    }
  }

  /** Hands every buffered row to the writer now. */
  post(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.buffered === 0 || this.closed) return;
    const dns = this.dnsRows.take(), dhcp = this.dhcpRows.take();
    const n = dns.numbers.length / DNS_WIDTH + dhcp.numbers.length / DHCP_WIDTH;
    this.stats_.rows_pending += n;
    this.#handed += n;
    this.deliver(dns, dhcp);
  }

  /** Resolves once at most `rows` rows are pending. */
  waitBelow(rows: number): Promise<void> {
    if (this.stats_.rows_pending <= rows || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ below: rows, resolve }));
  }

  /**
   * Hands over and waits until every row added so far is committed (rows
   * added meanwhile do not make it wait longer, so it returns under
   * continuous traffic too).
   */
  flush(): Promise<void> {
    this.post();
    const upTo = this.#handed;
    if (this.#settled >= upTo || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.#flushers.push({ upTo, resolve }));
  }

  /** Counters. */
  stats(): EventWriterStats {
    return { ...this.stats_, mode: this.mode };
  }

  /** Flushes and releases the writer. */
  abstract close(): Promise<void>;

  /** Prunes (see `pruneEventsDb`) between two write transactions; resolves with the events deleted. */
  abstract prune(cutoffs: PruneCutoffs): Promise<number>;

  /**
   * Deletes one ingested capture's events and record between two write
   * transactions; resolves with the events deleted, -1 for an unknown id.
   */
  abstract deleteCapture(id: number): Promise<number>;

  protected abstract deliver(dns: PackedRows, dhcp: PackedRows): void;
  protected abstract get mode(): string;

  protected settled(rows: number, failed: number, ms: number, error?: string): void {
    this.stats_.rows_pending -= rows + failed;
    this.#settled += rows + failed;
    this.stats_.rows_written += rows;
    this.stats_.rows_failed += failed;
    this.stats_.transactions++;
    this.stats_.last_commit_ms = Math.round(ms * 10) / 10;
    if (error) this.log.error("event rows not stored", { rows: failed, error });
    this.wake();
  }

  protected wake(): void {
    if (this.#flushers.length > 0) {
      const keep = [];
      for (const f of this.#flushers) {
        if (this.#settled >= f.upTo || this.closed) f.resolve();
        else keep.push(f);
      }
      this.#flushers = keep;
    }
    if (this.#waiters.length === 0) return;
    const keep = [];
    for (const w of this.#waiters) {
      if (this.stats_.rows_pending <= w.below || this.closed) w.resolve();
      else keep.push(w);
    }
    this.#waiters = keep;
  }
}

class WorkerEventWriter extends EventWriter {
  readonly #worker: Worker;
  #seq = 0;
  #closedSignal: (() => void) | undefined;
  #pruned: ((n: number) => void)[] = [];
  #dead = false;

  constructor(worker: Worker, options: EventWriterOptions) {
    super(options);
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<WriterReply>) => {
      const m = e.data;
      if (m.type === "written") {
        if (m.dnsBuffer) this.dnsRows.recycle(m.dnsBuffer);
        if (m.dhcpBuffer) this.dhcpRows.recycle(m.dhcpBuffer);
        this.settled(m.rows, m.failed, m.ms, m.error);
      } else if (m.type === "pruned") {
        if (m.error) this.log.error("prune failed", { error: m.error });
        this.#pruned.shift()?.(m.deleted);
      } else if (m.type === "closed") this.#closedSignal?.();
      else if (m.type === "fatal") this.#die(new Error(`event writer failed: ${m.message}`));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      this.#die(new Error(`event writer worker crashed: ${e.message}`));
    };
  }

  protected get mode(): string {
    return "worker";
  }

  prune(cutoffs: PruneCutoffs): Promise<number> {
    return this.#ask({ type: "prune", cutoffs });
  }

  deleteCapture(id: number): Promise<number> {
    return this.#ask({ type: "delete-capture", id });
  }

  #ask(request: WriterRequest): Promise<number> {
    if (this.closed || this.#dead) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.#pruned.push(resolve);
      this.#worker.postMessage(request);
    });
  }

  #die(error: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    for (const r of this.#pruned.splice(0)) r(0);
    this.log.error("event writer stopped", { error });
    this.stats_.rows_failed += this.stats_.rows_pending;
    this.stats_.rows_pending = 0;
    this.closed = true;
    this.wake();
    this.#closedSignal?.();
    this.#worker.terminate();
    this.onFatal(error);
  }

  protected deliver(dns: PackedRows, dhcp: PackedRows): void {
    if (this.#dead) {
      this.stats_.rows_failed += dns.numbers.length / DNS_WIDTH +
        dhcp.numbers.length / DHCP_WIDTH;
      this.stats_.rows_pending = 0;
      return;
    }
    this.#worker.postMessage(
      { type: "rows", seq: ++this.#seq, dns, dhcp } satisfies WriterRequest,
      [dns.numbers.buffer, dhcp.numbers.buffer],
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    for (const r of this.#pruned.splice(0)) r(0);
    if (this.#dead) return;
    const done = new Promise<void>((resolve) => (this.#closedSignal = resolve));
    this.#worker.postMessage({ type: "close" } satisfies WriterRequest);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    this.#worker.terminate();
  }
}

/**
 * Opens the writer of the events database that goes with `store` (see
 * `events_db.ts`): a worker with its own connection, creating and migrating
 * the file when needed.
 */
export async function openEventWriter(
  store: Store,
  options: EventWriterOptions,
): Promise<EventWriter> {
  const path = eventsDbPath(store);
  const worker = new Worker(new URL("./event_writer_worker.ts", import.meta.url).href, {
    type: "module",
    name: "vigia-sniffer-writer",
  });
  const opened = new Promise<void>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<WriterReply>) => {
      if (e.data.type === "opened") resolve();
      else if (e.data.type === "fatal") reject(new Error(e.data.message));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
  worker.postMessage(
    {
      type: "open",
      path,
      busyTimeout: options.busyTimeout ?? 60_000,
      bulk: options.bulk ?? false,
    } satisfies WriterRequest,
  );
  try {
    await opened;
  } catch (e) {
    worker.terminate();
    throw new Error(`cannot open the events database ${path}: ${(e as Error).message}`);
  }
  return new WorkerEventWriter(worker, options);
}
