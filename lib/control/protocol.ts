/**
 * The control protocol: JSON lines over a stream (the Unix socket, or TLS
 * for remote access). One request per line, one response line per request,
 * answered in order; a connection may carry many requests.
 *
 * ```
 * → {"id":1,"verb":"deny dns add","args":{"value":"203.0.113.9"}}
 * ← {"id":1,"ok":true,"result":{"added":"203.0.113.9"}}
 * ← {"id":2,"ok":false,"error":"unknown verb \"nope\""}
 * ← {"id":3,"ok":false,"error":"--limit must be ...","usage":true}
 * ```
 *
 * Remote connections add `"token"` to each request.
 *
 * @module
 */

/** A request line. */
export interface ControlRequest {
  /** Echoed in the response. */
  id?: number | string;
  /** Verb such as `status` or `deny dns add`. */
  verb: string;
  /** Verb arguments. */
  args?: Record<string, unknown>;
  /** Bearer token (remote access only). */
  token?: string;
}

/** A response line. */
export type ControlResponse =
  | { id?: number | string; ok: true; result: unknown }
  | { id?: number | string; ok: false; error: string; usage?: boolean };

/**
 * Reads newline-terminated lines from a stream with a hard cap on line
 * length, so a client cannot make the daemon buffer without bound.
 */
export class LineReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #maxBytes: number;
  #buffer = new Uint8Array(0);
  #decoder = new TextDecoder();

  /** Reads lines from `stream`; {@linkcode LineReader.next} throws on a line over `maxBytes`. */
  constructor(stream: ReadableStream<Uint8Array>, maxBytes: number) {
    this.#reader = stream.getReader();
    this.#maxBytes = maxBytes;
  }

  /** The next line without its newline; null at end of stream; throws when a line exceeds the cap. */
  async next(): Promise<string | null> {
    for (;;) {
      const nl = this.#buffer.indexOf(10);
      if (nl >= 0) {
        const line = this.#decoder.decode(this.#buffer.subarray(0, nl));
        this.#buffer = this.#buffer.slice(nl + 1);
        return line;
      }
      if (this.#buffer.length > this.#maxBytes) {
        throw new Error(`request larger than ${this.#maxBytes} bytes`);
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        if (this.#buffer.length === 0) return null;
        const line = this.#decoder.decode(this.#buffer);
        this.#buffer = new Uint8Array(0);
        return line;
      }
      const merged = new Uint8Array(this.#buffer.length + value.length);
      merged.set(this.#buffer);
      merged.set(value, this.#buffer.length);
      this.#buffer = merged;
    }
  }

  /** Releases the stream. */
  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}
