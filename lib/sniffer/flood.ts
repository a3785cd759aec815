/**
 * DNS flood detection over sliding windows: the count of DNS packets in the
 * last `window` milliseconds, globally, per source IP and per destination
 * IP, compared with thresholds (the original rule: 50 packets in 1 s).
 *
 * Each counter splits the window into {@linkcode SLOTS} slots (a ring of
 * counts), so the count covers between (SLOTS-1)/SLOTS of the window and the
 * whole window: within 5%, with one increment and an occasional slot reset
 * per packet and no per-packet allocation. Time is the packets' own capture
 * time, so a capture file replays its floods as they happened.
 *
 * @module
 */

/** Sub-windows per window. */
export const SLOTS = 20;

/** Idle counters are looked for this often (ms of capture time) while the tables are not half full. */
const SWEEP_MS = 10_000;

/** Thresholds and limits, as in `[sniffer.flood]` (durations in ms). */
export interface FloodOptions {
  /** Window length, ms. */
  window: number;
  /** Packets from one source within the window that make a flood; 0 disables. */
  per_source: number;
  /** Packets to one destination within the window; 0 disables. */
  per_destination: number;
  /** Packets overall within the window; 0 disables. */
  global: number;
  /** Quiet time after an alert for the same scope and address, ms. */
  cooldown: number;
  /** Entries in the top-talker lists. */
  top_talkers: number;
  /** Sources and destinations tracked at most. */
  max_tracked: number;
}

/** A flood found: what crossed which threshold. */
export interface FloodReport {
  /** "source", "destination" or "global". */
  scope: "source" | "destination" | "global";
  /** The address for source/destination scope, "" for global. */
  ip: string;
  /** MAC last seen with that source (sources only), or "". */
  mac: string;
  /** Packets counted in the window. */
  count: number;
  /** The threshold crossed. */
  threshold: number;
  /** Busiest sources now: `IP (MAC) COUNT`. */
  topSources: string[];
  /** Busiest destinations now: `IP COUNT`. */
  topDestinations: string[];
  /** Capture time of the packet that crossed, ms. */
  time: number;
}

class Counter {
  readonly ring = new Uint32Array(SLOTS);
  slot = -1;
  total = 0;
  coolUntil = 0;
  ip: string;
  mac = "";
  constructor(ip: string) {
    this.ip = ip;
  }

  /** Moves to `slot`, clearing the slots that fell out of the window. */
  advance(slot: number): void {
    if (slot <= this.slot) return;
    if (slot - this.slot >= SLOTS || this.slot < 0) {
      this.ring.fill(0);
      this.total = 0;
    } else {
      for (let s = this.slot + 1; s <= slot; s++) {
        const i = s % SLOTS;
        this.total -= this.ring[i];
        this.ring[i] = 0;
      }
    }
    this.slot = slot;
  }

  add(slot: number): number {
    // A packet stamped a little earlier than the last one counts in the current slot.
    if (slot < this.slot) slot = this.slot;
    this.advance(slot);
    this.ring[slot % SLOTS]++;
    return ++this.total;
  }
}

/** Sliding-window DNS packet counters with thresholds. */
export class FloodDetector {
  readonly #o: FloodOptions;
  readonly #slotMs: number;
  readonly #global = new Counter("");
  readonly #sources = new Map<string | number, Counter>();
  readonly #dests = new Map<string | number, Counter>();
  #nextSweep = 0;
  #sweptAt = 0;
  /** Packets whose source or destination was not tracked because the tables were full. */
  untracked = 0;
  /** Floods reported. */
  reported = 0;

  constructor(options: FloodOptions) {
    this.#o = options;
    this.#slotMs = options.window / SLOTS;
  }

  /** Sources and destinations tracked now. */
  get tracked(): number {
    return this.#sources.size + this.#dests.size;
  }

  #counter(
    map: Map<string | number, Counter>,
    key: string | number,
    ip: string,
  ): Counter | undefined {
    let c = map.get(key);
    if (c === undefined) {
      if (map.size >= this.#o.max_tracked) {
        this.untracked++;
        // A full table is swept every window again (see #sweep).
        this.#nextSweep = Math.min(this.#nextSweep, this.#sweptAt + this.#o.window);
        return undefined;
      }
      c = new Counter(ip);
      map.set(key, c);
    }
    return c;
  }

  /**
   * Counts one DNS packet. `srcKey`/`dstKey` identify the addresses cheaply
   * (an IPv4 integer or the text); `srcIp`/`dstIp` are the texts. Calls
   * `report` for each threshold crossed outside its cooldown.
   */
  add(
    time: number,
    srcKey: string | number,
    srcIp: string,
    srcMac: string,
    dstKey: string | number,
    dstIp: string,
    report: (r: FloodReport) => void,
  ): void {
    const o = this.#o;
    const slot = Math.floor(time / this.#slotMs);
    if (time >= this.#nextSweep) this.#sweep(slot, time);
    // Every table counts first (even with its threshold off: they name the top talkers),
    // then the thresholds are checked, so a report includes the packet that crossed.
    const g = this.#global.add(slot);
    const sc = this.#counter(this.#sources, srcKey, srcIp);
    let sn = 0;
    if (sc) {
      sc.mac = srcMac;
      sn = sc.add(slot);
    }
    const dc = this.#counter(this.#dests, dstKey, dstIp);
    const dn = dc ? dc.add(slot) : 0;
    if (o.per_source > 0 && sn >= o.per_source && time >= sc!.coolUntil) {
      sc!.coolUntil = time + o.cooldown;
      report(this.#report("source", sc!, o.per_source, time));
    }
    if (o.per_destination > 0 && dn >= o.per_destination && time >= dc!.coolUntil) {
      dc!.coolUntil = time + o.cooldown;
      report(this.#report("destination", dc!, o.per_destination, time));
    }
    if (o.global > 0 && g >= o.global && time >= this.#global.coolUntil) {
      this.#global.coolUntil = time + o.cooldown;
      report(this.#report("global", this.#global, o.global, time));
    }
  }

  #report(scope: FloodReport["scope"], c: Counter, threshold: number, time: number): FloodReport {
    this.reported++;
    return {
      scope,
      ip: c.ip,
      mac: scope === "source" ? c.mac : "",
      count: c.total,
      threshold,
      topSources: this.#top(this.#sources, true),
      topDestinations: this.#top(this.#dests, false),
      time,
    };
  }

  #top(map: Map<string | number, Counter>, withMac: boolean): string[] {
    const n = this.#o.top_talkers;
    const best: Counter[] = [];
    for (const c of map.values()) {
      if (c.total === 0) continue;
      if (best.length < n) {
        best.push(c);
        best.sort((a, b) => b.total - a.total);
      } else if (c.total > best[n - 1].total) {
        best[n - 1] = c;
        best.sort((a, b) => b.total - a.total);
      }
    }
    return best.map((c) =>
      withMac && c.mac ? `${c.ip} (${c.mac}) ${c.total}` : `${c.ip} ${c.total}`
    );
  }

  /**
   * Drops counters idle for a minute (nothing in the window, no cooldown
   * running), checked every {@linkcode SWEEP_MS} (a pass over every counter
   * once per window was 3% of an ingest); when the tables are nearly full,
   * every idle counter goes, checked once per window. Keeping them a while
   * spares an allocation per packet for hosts that ask every few seconds.
   */
  #sweep(slot: number, time: number): void {
    const o = this.#o;
    const full = o.max_tracked * 0.9;
    const busy = this.#sources.size > full * 0.5 || this.#dests.size > full * 0.5;
    this.#sweptAt = time;
    this.#nextSweep = time + (busy ? o.window : Math.max(o.window, SWEEP_MS));
    const keepSlots = Math.ceil(Math.max(60_000, o.window) / this.#slotMs);
    for (const map of [this.#sources, this.#dests]) {
      const crowded = map.size > full;
      for (const [k, c] of map) {
        if (c.coolUntil > time) continue;
        if (crowded) {
          c.advance(slot);
          if (c.total === 0) map.delete(k);
        } else if (slot - c.slot > keepSlots) map.delete(k);
      }
    }
  }
}
