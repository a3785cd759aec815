/**
 * The VeriDNS TLS server shell: listeners, per-connection frame decoding,
 * limits (connections in total and per client address, handshake, idle and
 * mid-frame timeouts, requests per second) and answer writing. What to answer
 * is decided by a {@linkcode FrameHandler}; this module only moves frames.
 *
 * Built on `node:net` + `node:tls` (server-side `TLSSocket` over an accepted
 * TCP socket) rather than `Deno.listenTls`: Deno's TLS connection defers its
 * close until the handshake finishes, so a client that connects and never
 * sends a ClientHello would hold its file descriptor forever (measured on
 * Deno 2.9.6). Here the raw socket is destroyed at once when a limit or the
 * handshake timeout says so. The TLS engine underneath is still rustls, which
 * speaks TLS 1.2 and 1.3 only, so TLS 1.0/1.1 clients are refused during the
 * handshake; `minVersion` says the same explicitly.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { Logger } from "../log/mod.ts";
import { parseHostPort } from "../net/mod.ts";
import {
  type BadFrameReason,
  type Frame,
  FrameDecoder,
  FrameError,
  type VerifyRequestFrame,
} from "./codec.ts";
import { plainClientAddress } from "./branches.ts";

/** Decides the answers; the server calls it for each good frame. */
export interface FrameHandler {
  /** Answer to a Branch Server Address Query. */
  branch(client: string, seq: number): Uint8Array;
  /**
   * Answer to a VeriDNS Request, now or later; a {@linkcode FrameError} closes
   * the connection as a bad frame (a domain that cannot be a DNS name).
   */
  verify(client: string, frame: VerifyRequestFrame): Uint8Array | Promise<Uint8Array> | FrameError;
}

/** Limits of {@linkcode VeridnsServer}, all from `[veridns]`. */
export interface ServerLimits {
  maxFrameLength: number;
  maxAddresses: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  frameTimeoutMs: number;
  /** Frames per connection per second; 0 for no limit. */
  requestsPerSecond: number;
}

/** Options for {@linkcode VeridnsServer}. */
export interface ServerOptions {
  /** `IP:PORT` listeners. */
  listen: string[];
  /** PEM certificate chain. */
  certPem: string;
  /** PEM private key. */
  keyPem: string;
  /** Limits. */
  limits: ServerLimits;
  /** Answers. */
  handler: FrameHandler;
  /** Daemon log. */
  log: Logger;
}

interface Connection {
  raw: net.Socket;
  socket: tls.TLSSocket;
  client: string;
  decoder: FrameDecoder;
  opened: number;
  lastFrame: number;
  midFrameSince: number;
  handshaken: boolean;
  /** Waiting on a verification or the rate limit: the sweeper leaves it alone. */
  busy: boolean;
  pumping: boolean;
  closed: boolean;
  backlog: Uint8Array[];
  tokens: number;
  tokensAt: number;
}

/** Counters of the server shell. */
export interface ServerStats {
  connections_open: number;
  connections_total: number;
  refused_total_limit: number;
  refused_per_ip_limit: number;
  handshake_failures: number;
  handshake_timeouts: number;
  idle_timeouts: number;
  frames_in: { branch_query: number; verify_request: number };
  frames_out: { branch_answer: number; verify_response: number };
  bad_frames: Partial<Record<BadFrameReason, number>>;
  throttled: number;
}

/** The TLS listeners and their connections. */
export class VeridnsServer {
  readonly #options: ServerOptions;
  readonly #servers: net.Server[] = [];
  readonly #conns = new Set<Connection>();
  readonly #perIp = new Map<string, number>();
  readonly #closed = new Set<Promise<void>>();
  #context: tls.SecureContext | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  readonly #stats: ServerStats = {
    connections_open: 0,
    connections_total: 0,
    refused_total_limit: 0,
    refused_per_ip_limit: 0,
    handshake_failures: 0,
    handshake_timeouts: 0,
    idle_timeouts: 0,
    frames_in: { branch_query: 0, verify_request: 0 },
    frames_out: { branch_answer: 0, verify_response: 0 },
    bad_frames: {},
    throttled: 0,
  };

  constructor(options: ServerOptions) {
    this.#options = options;
  }

  /** Bound addresses (`IP:PORT`, with the real port when 0 was asked). */
  get addresses(): string[] {
    return this.#servers.map((srv) => {
      const a = srv.address() as net.AddressInfo;
      return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    });
  }

  /** Binds every listener (all or none) and starts accepting. */
  async start(): Promise<void> {
    // Throws here, at start, for a key that does not match the certificate or bad PEM.
    this.#context = tls.createSecureContext({
      cert: this.#options.certPem,
      key: this.#options.keyPem,
      minVersion: "TLSv1.2",
    });
    try {
      for (const text of this.#options.listen) {
        const hp = parseHostPort(text, 4433);
        if (typeof hp === "string") throw new Error(hp);
        // Half-open: a client may send its request and close its side (the original Java
        // client does, through try-with-resources on the output stream); it still gets the answer.
        const srv = net.createServer({ allowHalfOpen: true }, (raw) => this.#accept(raw));
        await new Promise<void>((resolve, reject) => {
          srv.once("error", reject);
          srv.listen({ host: hp.host, port: hp.port, backlog: 1024 }, () => {
            srv.off("error", reject);
            resolve();
          });
        });
        srv.on("error", (e: Error) => this.#options.log.error("listener error", { error: e }));
        this.#servers.push(srv);
      }
    } catch (e) {
      await this.#closeServers();
      throw e;
    }
    const { handshakeTimeoutMs, idleTimeoutMs, frameTimeoutMs } = this.#options.limits;
    const tick = Math.max(
      20,
      Math.min(1000, Math.min(handshakeTimeoutMs, idleTimeoutMs, frameTimeoutMs) / 4),
    );
    this.#sweeper = setInterval(() => this.#sweep(), tick);
  }

  async #closeServers(): Promise<void> {
    await Promise.all(this.#servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))));
    this.#servers.length = 0;
  }

  /** Closes the listeners and every connection; resolves when all are closed. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#sweeper);
    const closing = this.#closeServers();
    for (const c of this.#conns) this.#close(c);
    await Promise.allSettled([closing, ...this.#closed]);
  }

  /** Counters (a copy). */
  stats(): ServerStats {
    return structuredClone({ ...this.#stats, connections_open: this.#conns.size });
  }

  #accept(raw: net.Socket): void {
    raw.on("error", () => {}); // resets are normal; the TLS socket reports what matters
    const { maxConnections, maxConnectionsPerIp, requestsPerSecond } = this.#options.limits;
    if (this.#stopping) {
      raw.destroy();
      return;
    }
    const client = plainClientAddress(raw.remoteAddress ?? "");
    const perIp = this.#perIp.get(client) ?? 0;
    // Refused before the handshake: an over-limit client costs no TLS work.
    if (this.#conns.size >= maxConnections) {
      this.#stats.refused_total_limit++;
      raw.destroy();
      return;
    }
    if (perIp >= maxConnectionsPerIp) {
      this.#stats.refused_per_ip_limit++;
      raw.destroy();
      return;
    }
    this.#perIp.set(client, perIp + 1);
    raw.setNoDelay(true);
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: this.#context });
    const now = performance.now();
    const { maxFrameLength, maxAddresses } = this.#options.limits;
    const c: Connection = {
      raw,
      socket,
      client,
      decoder: new FrameDecoder({ role: "server", maxFrameLength, maxAddresses }),
      opened: now,
      lastFrame: now,
      midFrameSince: 0,
      handshaken: false,
      busy: false,
      pumping: false,
      closed: false,
      backlog: [],
      tokens: requestsPerSecond,
      tokensAt: now,
    };
    this.#conns.add(c);
    this.#stats.connections_total++;
    let gone!: () => void;
    const closed = new Promise<void>((r) => (gone = r));
    this.#closed.add(closed);
    socket.on("secure", () => {
      c.handshaken = true;
      c.lastFrame = performance.now();
    });
    socket.on("data", (chunk: Uint8Array) => {
      if (c.closed) return;
      c.backlog.push(chunk);
      if (!c.pumping) this.#pump(c);
    });
    socket.on("end", () => {
      c.backlog.push(END);
      if (!c.pumping) this.#pump(c);
    });
    socket.on("error", (e: Error) => {
      if (!c.closed && !c.handshaken) {
        this.#stats.handshake_failures++;
        this.#options.log.debug("TLS handshake failed", { client, error: e });
      }
      this.#close(c);
    });
    socket.on("close", () => {
      this.#close(c);
      this.#conns.delete(c);
      const left = (this.#perIp.get(client) ?? 1) - 1;
      if (left <= 0) this.#perIp.delete(client);
      else this.#perIp.set(client, left);
      this.#closed.delete(closed);
      gone();
    });
  }

  #close(c: Connection): void {
    if (c.closed) return;
    c.closed = true;
    c.backlog.length = 0;
    c.socket.destroy();
    c.raw.destroy();
  }

  #badFrame(c: Connection, err: FrameError): void {
    if (c.closed) return;
    this.#stats.bad_frames[err.reason] = (this.#stats.bad_frames[err.reason] ?? 0) + 1;
    this.#options.log.warn("bad frame; closing the connection", {
      client: c.client,
      reason: err.reason,
      detail: err.message,
    });
    this.#close(c);
  }

  #sweep(): void {
    const now = performance.now();
    const { handshakeTimeoutMs, idleTimeoutMs, frameTimeoutMs } = this.#options.limits;
    for (const c of this.#conns) {
      if (c.closed) continue;
      if (!c.handshaken) {
        if (now - c.opened > handshakeTimeoutMs) {
          this.#stats.handshake_timeouts++;
          this.#close(c);
        }
      } else if (c.busy) continue;
      else if (c.midFrameSince > 0 && now - c.midFrameSince > frameTimeoutMs) {
        this.#badFrame(
          c,
          new FrameError(
            "stalled",
            `frame incomplete after ${Math.round(now - c.midFrameSince)} ms`,
          ),
        );
      } else if (now - c.lastFrame > idleTimeoutMs) {
        this.#stats.idle_timeouts++;
        this.#close(c);
      }
    }
  }

  /** Milliseconds to wait before the connection may handle one more frame (token bucket). */
  #throttleWait(c: Connection): number {
    const rate = this.#options.limits.requestsPerSecond;
    if (rate === 0) return 0;
    const now = performance.now();
    c.tokens = Math.min(rate, c.tokens + ((now - c.tokensAt) * rate) / 1000);
    c.tokensAt = now;
    if (c.tokens >= 1) {
      c.tokens -= 1;
      return 0;
    }
    const wait = ((1 - c.tokens) * 1000) / rate;
    c.tokens -= 1; // goes negative: the refill pays it back during the wait
    this.#stats.throttled++;
    return wait;
  }

  /**
   * Decodes and answers everything received, in order. Runs synchronously
   * while answers are immediate (cache hits, branch queries); when one must
   * wait (resolvers, rate limit) the socket is paused so that at most one
   * request per connection is in progress and order is kept.
   */
  async #pump(c: Connection): Promise<void> {
    c.pumping = true;
    const handler = this.#options.handler;
    const frames: Frame[] = [];
    const out: Uint8Array[] = [];
    try {
      while (c.backlog.length > 0 && !c.closed) {
        const chunk = c.backlog.shift()!;
        if (chunk === END) {
          if (c.decoder.pendingBytes > 0) {
            this.#badFrame(
              c,
              new FrameError(
                "truncated",
                `connection closed after ${c.decoder.pendingBytes} bytes of a frame`,
              ),
            );
          } else {
            // Every answer is written; end our side too (close_notify, FIN) once they are out.
            c.socket.end();
          }
          break;
        }
        const wasMidFrame = c.decoder.pendingBytes > 0;
        const err = c.decoder.feed(chunk, frames);
        const completed = frames.length;
        for (let i = 0; i < frames.length && !c.closed; i++) {
          const f = frames[i];
          const wait = this.#throttleWait(c);
          if (wait > 0) {
            this.#flush(c, out);
            c.busy = true;
            c.socket.pause();
            await new Promise((r) => setTimeout(r, wait));
            if (c.closed) break;
          }
          if (f.type === 0) {
            this.#stats.frames_in.branch_query++;
            out.push(handler.branch(c.client, f.seq));
            this.#stats.frames_out.branch_answer++;
            continue;
          }
          this.#stats.frames_in.verify_request++;
          let answer = handler.verify(c.client, f as VerifyRequestFrame);
          if (answer instanceof FrameError) {
            this.#flush(c, out);
            this.#badFrame(c, answer);
            break;
          }
          if (answer instanceof Promise) {
            // Answers already made go out before waiting on the resolvers.
            this.#flush(c, out);
            c.busy = true;
            c.socket.pause();
            answer = await answer;
            if (c.closed) break;
          }
          out.push(answer);
          this.#stats.frames_out.verify_response++;
        }
        frames.length = 0;
        this.#flush(c, out);
        if (completed > 0) c.lastFrame = performance.now();
        if (err) {
          this.#badFrame(c, err);
          break;
        }
        if (c.decoder.pendingBytes === 0) c.midFrameSince = 0;
        else if (!wasMidFrame || completed > 0 || c.midFrameSince === 0) {
          c.midFrameSince = performance.now();
        }
      }
    } catch (e) {
      this.#options.log.error("connection handling failed", { client: c.client, error: e });
      this.#close(c);
    } finally {
      c.pumping = false;
      if (c.busy && !c.closed) {
        c.busy = false;
        c.lastFrame = performance.now();
        c.socket.resume();
      }
    }
  }

  /**
   * Writes the answers made so far as one write, so each frame travels in one
   * TLS record: the original Java client reads each field with a single
   * `InputStream.read` and would misparse a frame split across records.
   */
  #flush(c: Connection, out: Uint8Array[]): void {
    if (out.length === 0 || c.closed) {
      out.length = 0;
      return;
    }
    let data: Uint8Array;
    if (out.length === 1) data = out[0];
    else {
      data = new Uint8Array(out.reduce((n, p) => n + p.length, 0));
      let off = 0;
      for (const p of out) {
        data.set(p, off);
        off += p.length;
      }
    }
    out.length = 0;
    // A client that sends without reading fills our buffer: stop reading it until it drains.
    if (!c.socket.write(data)) {
      c.socket.pause();
      c.socket.once("drain", () => {
        if (!c.closed && !c.pumping) c.socket.resume();
      });
    }
  }
}

/** Marks the end of the client's data in a connection's backlog. */
const END = new Uint8Array(0);
