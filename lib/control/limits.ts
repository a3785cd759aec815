/**
 * Small rate limiters for the remote control listener: a token bucket per
 * connection and a per-address failure counter that bans an address after
 * too many failures in a window. Both are bounded in memory.
 *
 * @module
 */

/** A token bucket: `rate` per second, holding at most `burst`. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(readonly rate: number, readonly burst: number, now = Date.now()) {
    this.#tokens = burst;
    this.#last = now;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Limits of a {@linkcode FailureTracker}. */
export interface FailureLimits {
  /** Failures within `windowMs` that trigger a ban. */
  failures: number;
  /** Window of `failures`. */
  windowMs: number;
  /** Ban length. */
  banMs: number;
}

/** Addresses tracked at most; beyond this the oldest entries are dropped first. */
const MAX_TRACKED = 10_000;

/**
 * Counts failures per address; after `failures` within `windowMs` the address
 * is banned for `banMs`.
 */
export class FailureTracker {
  #limits: FailureLimits;
  #entries = new Map<string, { times: number[]; bannedUntil: number }>();

  constructor(limits: FailureLimits) {
    this.#limits = limits;
  }

  /** Applies new limits; existing bans keep their end time. */
  setLimits(limits: FailureLimits): void {
    this.#limits = limits;
  }

  /** Milliseconds left of a ban on `address`, 0 when it is not banned. */
  bannedFor(address: string, now = Date.now()): number {
    const e = this.#entries.get(address);
    return e && e.bannedUntil > now ? e.bannedUntil - now : 0;
  }

  /** Records a failure; returns true when this failure started a ban. */
  fail(address: string, now = Date.now()): boolean {
    let e = this.#entries.get(address);
    if (!e) {
      if (this.#entries.size >= MAX_TRACKED) this.#prune(now);
      e = { times: [], bannedUntil: 0 };
      this.#entries.set(address, e);
    }
    const { failures, windowMs, banMs } = this.#limits;
    e.times = e.times.filter((t) => t > now - windowMs);
    e.times.push(now);
    if (e.times.length > failures) e.times.splice(0, e.times.length - failures);
    if (e.times.length >= failures && e.bannedUntil <= now) {
      e.bannedUntil = now + banMs;
      e.times = [];
      return true;
    }
    return false;
  }

  /** Addresses banned right now. */
  banned(now = Date.now()): string[] {
    return [...this.#entries].filter(([, e]) => e.bannedUntil > now).map(([a]) => a);
  }

  #prune(now: number): void {
    const { windowMs } = this.#limits;
    for (const [a, e] of this.#entries) {
      if (e.bannedUntil <= now && e.times.every((t) => t <= now - windowMs)) {
        this.#entries.delete(a);
      }
    }
    // Still full (a flood of distinct addresses): drop the oldest insertions.
    for (const a of this.#entries.keys()) {
      if (this.#entries.size < MAX_TRACKED) break;
      this.#entries.delete(a);
    }
  }
}
