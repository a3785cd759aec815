/**
 * Response rate limiting (RRL), the defence NSD, Knot and BIND use against
 * reflection attacks: responses are counted per (client network, kind of
 * answer) and past `rate` per second they are dropped, except every
 * `slip`-th one, which is sent as an empty truncated answer (TC) so that a
 * real client behind a spoofed network still gets through over TCP.
 *
 * A fixed-size table of token buckets, indexed by a hash of the client's
 * /24 (IPv4) or /64 (IPv6) by default and the answer's class; a collision just shares
 * or resets a bucket, as in NSD. No allocation per query.
 *
 * @module
 */

/** RRL settings. */
export interface RrlOptions {
  /** Responses per second per bucket before limiting. */
  rate: number;
  /** Every `slip`-th limited response is sent truncated; 0 drops all, 1 truncates all. */
  slip: number;
  /** IPv4 prefix length grouping clients. */
  ipv4Prefix: number;
  /** IPv6 prefix length grouping clients. */
  ipv6Prefix: number;
  /** Number of buckets (rounded up to a power of two). */
  size: number;
}

/** What to do with a response. */
export const RrlVerdict = { SEND: 0, DROP: 1, SLIP: 2 } as const;

/** The rate limiter. */
export class RateLimiter {
  readonly #rate: number;
  readonly #slip: number;
  readonly #mask: number;
  readonly #keys: Int32Array;
  readonly #tokens: Float64Array;
  readonly #stamp: Float64Array;
  readonly #v4Mask: number;
  readonly #v6Bytes: number;
  readonly #v6LastMask: number;
  #slipCounter = 0;
  #now = 0;

  constructor(options: RrlOptions) {
    this.#rate = options.rate;
    this.#slip = options.slip;
    let size = 1024;
    while (size < options.size) size *= 2;
    this.#mask = size - 1;
    this.#keys = new Int32Array(size);
    this.#tokens = new Float64Array(size);
    this.#stamp = new Float64Array(size).fill(-1);
    this.#v4Mask = options.ipv4Prefix === 0 ? 0 : (0xffffffff << (32 - options.ipv4Prefix)) | 0;
    this.#v6Bytes = Math.ceil(options.ipv6Prefix / 8);
    const rem = options.ipv6Prefix % 8;
    this.#v6LastMask = rem === 0 ? 0xff : (0xff << (8 - rem)) & 0xff;
  }

  /** Sets the time (monotonic milliseconds) of the next checks; once per batch is enough. */
  tick(nowMs: number): void {
    this.#now = nowMs;
  }

  /** Hash of the client network of an address (4 bytes, or 16 when `v6`) at the start of `addr`. */
  network(addr: Uint8Array, v6: boolean): number {
    if (!v6) {
      const ip = (addr[0] << 24) | (addr[1] << 16) | (addr[2] << 8) | addr[3];
      return Math.imul((ip & this.#v4Mask) ^ 0x5bd1e995, 0x27d4eb2d);
    }
    let h = 0x6b43a9b5;
    const n = this.#v6Bytes;
    for (let i = 0; i < n; i++) {
      const b = i === n - 1 ? addr[i] & this.#v6LastMask : addr[i];
      h = Math.imul(h ^ b, 0x01000193);
    }
    return h;
  }

  /**
   * Accounts one response of class `classHash` to network `network` at the
   * last {@linkcode RateLimiter.tick} and says whether to send it, drop it
   * or send it truncated.
   */
  check(network: number, classHash: number): number {
    const nowMs = this.#now;
    const key = (Math.imul(network ^ classHash, 0x9e3779b1) ^ (network >>> 15)) | 1;
    const i = (key ^ (key >>> 16)) & this.#mask;
    const rate = this.#rate;
    if (this.#keys[i] !== key || this.#stamp[i] < 0) {
      this.#keys[i] = key;
      this.#tokens[i] = rate - 1;
      this.#stamp[i] = nowMs;
      return RrlVerdict.SEND;
    }
    let tokens = this.#tokens[i] + ((nowMs - this.#stamp[i]) * rate) / 1000;
    if (tokens > rate) tokens = rate;
    this.#stamp[i] = nowMs;
    if (tokens >= 1) {
      this.#tokens[i] = tokens - 1;
      return RrlVerdict.SEND;
    }
    this.#tokens[i] = tokens;
    if (this.#slip > 0 && ++this.#slipCounter >= this.#slip) {
      this.#slipCounter = 0;
      return RrlVerdict.SLIP;
    }
    return RrlVerdict.DROP;
  }
}
