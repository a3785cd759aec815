/**
 * Server-side TLS connections for the remote control listener, shaped like
 * the part of `Deno.Conn` that `serveConnections` uses.
 *
 * Built on `node:net` + `node:tls` (a server `TLSSocket` over the accepted
 * TCP socket) rather than `Deno.listenTls`: Deno 2.9.6 defers closing a TLS
 * connection until its handshake finishes, so a client that connects and
 * stalls before or inside the ClientHello would keep its file descriptor
 * open for as long as it likes, whatever the server's timeout (measured:
 * `conn.close()` mid-handshake leaves the TCP connection up). Here the raw
 * socket is destroyed at once. rustls is still the engine underneath (TLS
 * 1.2 and 1.3 only); `minVersion` says so explicitly.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";

/** Strips the `::ffff:` of an IPv4-mapped address. */
export function plainIp(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** A TLS secure context for a server: TLS 1.2 minimum. Throws for bad PEM or a key that does not match. */
export function serverContext(certPem: string, keyPem: string): tls.SecureContext {
  return tls.createSecureContext({ cert: certPem, key: keyPem, minVersion: "TLSv1.2" });
}

/** Limits of one {@linkcode TlsStreamConn}. */
export interface StreamConnLimits {
  /** The handshake must finish within this (from accept). */
  handshakeTimeoutMs: number;
  /** A write not flushed within this drops the connection (a client that stopped reading). */
  writeTimeoutMs: number;
  /** A graceful close waits at most this long for the client to hang up. */
  lingerMs: number;
}

/**
 * One accepted TLS connection. Reading is a `ReadableStream` with
 * backpressure (the socket pauses while the stream is full); `close()` is
 * graceful (close_notify + FIN, then draining what the client still sends,
 * so the last answer is not lost to a TCP reset), bounded by `lingerMs`.
 */
export class TlsStreamConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly readable: ReadableStream<Uint8Array>;
  /** Resolves once both sockets are closed. */
  readonly closed: Promise<void>;
  readonly #raw: net.Socket;
  readonly #socket: tls.TLSSocket;
  readonly #limits: StreamConnLimits;
  readonly #secure: Promise<void>;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #timedOut = false;
  #isSecure = false;
  #closing = false;

  constructor(raw: net.Socket, context: tls.SecureContext, limits: StreamConnLimits) {
    this.#raw = raw;
    this.#limits = limits;
    raw.on("error", () => {}); // resets are normal; the TLS socket reports what matters
    raw.setNoDelay(true);
    this.remoteAddr = {
      transport: "tcp",
      hostname: plainIp(raw.remoteAddress ?? "?"),
      port: raw.remotePort ?? 0,
    };
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    this.#socket = socket;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    this.#secure = new Promise<void>((resolve, reject) => {
      socket.once("secure", () => {
        this.#isSecure = true;
        resolve();
      });
      socket.once("error", (e: Error) => reject(e));
      socket.once("close", () => reject(new Error("the client went away")));
    });
    this.#secure.catch(() => {});
    this.#handshakeTimer = setTimeout(() => {
      this.#timedOut = true;
      this.destroy();
    }, limits.handshakeTimeoutMs);
    this.#secure.finally(() => clearTimeout(this.#handshakeTimer)).catch(() => {});
    this.closed.then(() => clearTimeout(this.#handshakeTimer));
    let done = false;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        socket.on("data", (chunk: Uint8Array) => {
          if (this.#closing || done) return;
          controller.enqueue(new Uint8Array(chunk));
          if ((controller.desiredSize ?? 1) <= 0) socket.pause();
        });
        const end = () => {
          if (done) return;
          done = true;
          controller.close();
        };
        socket.on("end", end);
        socket.on("close", end);
        socket.on("error", (e: Error) => {
          if (done) return;
          done = true;
          controller.error(e);
        });
      },
      pull: () => {
        if (!done) socket.resume();
      },
      cancel: () => {
        done = true;
      },
    });
  }

  /** Resolves when the handshake is done; rejects when it failed or timed out (the connection is then gone). */
  async handshake(): Promise<void> {
    try {
      await this.#secure;
    } catch (e) {
      this.destroy();
      throw new Error(
        this.#timedOut
          ? `TLS handshake not finished within ${this.#limits.handshakeTimeoutMs} ms`
          : `TLS handshake failed: ${(e as Error).message}`,
      );
    }
  }

  /** Writes all of `bytes`; drops the connection when the client does not take them in time. */
  write(bytes: Uint8Array): Promise<number> {
    if (this.#socket.destroyed) return Promise.reject(new Deno.errors.BadResource("closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.destroy();
        reject(new Error(`write not taken within ${this.#limits.writeTimeoutMs} ms`));
      }, this.#limits.writeTimeoutMs);
      this.#socket.write(bytes, (err?: Error | null) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(bytes.length);
      });
    });
  }

  /** Graceful close (bounded); a connection that never finished its handshake is destroyed at once. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (!this.#isSecure || this.#socket.destroyed) {
      this.destroy();
      return;
    }
    const timer = setTimeout(() => this.destroy(), this.#limits.lingerMs);
    this.closed.then(() => clearTimeout(timer));
    this.#socket.resume(); // drain: unread input at close would make the kernel reset
    this.#socket.end();
  }

  /** Closes both sockets at once. */
  destroy(): void {
    this.#closing = true;
    this.#socket.destroy();
    this.#raw.destroy();
  }
}

/**
 * An async-iterable queue of connections, standing in for a `Deno.Listener`
 * (`serveConnections` only iterates it). Ending it ends the iteration.
 */
export class ConnQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #waiter: ((r: IteratorResult<T>) => void) | undefined;
  #ended = false;

  /** Hands a connection to the consumer. */
  push(item: T): void {
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w({ value: item, done: false });
    } else this.#items.push(item);
  }

  /** Ends the iteration; returns connections that were never taken. */
  end(): T[] {
    this.#ended = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.({ value: undefined, done: true });
    return this.#items.splice(0);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.#items.length) {
          return Promise.resolve({ value: this.#items.shift()!, done: false });
        }
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.#waiter = resolve));
      },
    };
  }
}

/** Listens on TCP `host:port`; resolves once bound (rejects when it cannot bind). */
export function listenTcp(
  host: string,
  port: number,
  onConnection: (raw: net.Socket) => void,
): Promise<net.Server> {
  const server = net.createServer(onConnection);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, backlog: 511 }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
